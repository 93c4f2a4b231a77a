/* Private to the process provider: what its files share. process.c has
 * the classes, host facts, enumeration and get; procread.c reads one
 * process; procmethods.c has the methods; process_create.c
 * Win32_Process.Create's spawn. */
#ifndef WSMD_PROVIDERS_PROCESS_PRIV_H
#define WSMD_PROVIDERS_PROCESS_PRIV_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "cim.h"

/* WMI's return codes for Win32_Process methods. */
enum {
    RV_OK = 0,
    RV_ACCESS_DENIED = 2,
    RV_UNKNOWN = 8,
    RV_PATH_NOT_FOUND = 9,
    RV_INVALID_PARAM = 21,
};

/* Not a WMI code: "answer w:QuotaLimit" (MaxProcessesPerUser reached). */
#define RV_QUOTA_FAULT 0x10000u

/* Starts "/bin/sh -c cmd" detached, as the caller, in cwd (NULL or "":
 * the caller's home), in the caller's cgroup with the Create limits
 * (cgroup.h). Returns the WMI return code (or RV_QUOTA_FAULT); *pid_out
 * on success. */
unsigned wsmd__proc_spawn_detached(const struct cim_ctx *ctx, const char *cmd, const char *cwd,
                                   pid_t *pid_out);

#define CMDLINE_MAX 32767 /* Windows' limit for a command line */

/* Set by a privilege-separated daemon (cim.h); NULL otherwise. */
extern const struct cim_proc_ops *wsmd__proc_ops;

/* Host facts, once per enumeration or call (process.c). */
struct host {
    char csname[256];
    char osname[256];
    char release[65]; /* uname -r: WindowsVersion, as Windows gives its version */
    time_t btime;     /* boot time (seconds since the epoch); 0: unknown */
    long tck;         /* clock ticks per second */
    long page;        /* page size in bytes */
    /* A root daemon answering a user who is not root: what the kernel
     * shows only to a process's owner (fd/, io) is left NULL for other
     * users' processes, as a daemon running as that user would see it. */
    int restricted;
    uid_t viewer;
};

/* Buffers for one process, reused from one process to the next. */
struct scratch {
    char stat[1024];
    char status[8192];
    char io[1024];
    char small[64];
    char exe[PATH_MAX];
    char name[PATH_MAX];
    char cmd[CMDLINE_MAX + 2];
};

/* Numeric fields of /proc/<pid>/stat by their number in proc(5). */
enum {
    F_PPID = 4,
    F_PGRP = 5,
    F_SESSION = 6,
    F_TTY = 7,
    F_FLAGS = 9,
    F_MINFLT = 10,
    F_MAJFLT = 12,
    F_UTIME = 14,
    F_STIME = 15,
    F_PRIORITY = 18,
    F_NICE = 19,
    F_THREADS = 20,
    F_START = 22,
    F_VSIZE = 23,
    F_RSS = 24,
    F_RTPRIO = 40,
    F_POLICY = 41,
    F_COUNT = 53,
};

struct pstat {
    char comm[64];
    char state;
    unsigned long long f[F_COUNT]; /* signed fields are cast back */
};

enum kind { K_WIN32, K_CIM, K_UNIX };

/* Which of the three classes c is (process.c). */
enum kind wsmd__proc_kind_of(const struct cim_class *c);
/* The "btime" line of /proc/stat; 0 if unknown (process.c). */
time_t wsmd__proc_boot_time(void);
/* A pid in its canonical decimal form, else -1 (process.c). */
pid_t wsmd__proc_parse_pid(const char *s);
/* The value of the pair called name (any case), or NULL (process.c). */
const char *wsmd__proc_find_pair(const struct wsm_pair *v, size_t n, const char *name);

/* Reading one process (procread.c). */
ssize_t wsmd__proc_read_at(int dfd, const char *name, char *buf, size_t cap);
int wsmd__proc_parse_stat(const char *s, struct pstat *ps);
int wsmd__proc_status_uids(const char *status, unsigned long long *ruid, unsigned long long *euid);
int wsmd__proc_count_fds(int dfd);
/* Fills inst with process pid. WSM_ERR_NOT_FOUND if it is not there (or
 * vanished before its stat could be read). */
enum wsm_err wsmd__proc_fill(const struct host *h, struct scratch *sc, pid_t pid,
                             struct cim_instance *inst);

/* Win32_Process's methods (procmethods.c). */
enum wsm_err wsmd__proc_invoke(const struct cim_ctx *ctx, const struct cim_method *m,
                               const struct cim_instance *target, const struct wsm_pair *in,
                               size_t nin, struct cim_val *out, struct wsm_arena *out_arena);

#endif
