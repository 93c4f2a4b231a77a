/* Control groups for the processes wsmd starts: a cgroup per shell and
 * per user of Win32_Process.Create, so that a process count (pids.max),
 * a memory limit (memory.max / memory.limit_in_bytes) and "kill all of
 * them" (cgroup.kill, or freeze + SIGKILL each member) hold for every
 * descendant, including those that left the session with setsid.
 * See docs/internals/cgroups.md.
 *
 * One set of hierarchies is chosen at startup (wsmd__cg_init) and read
 * only afterwards. Everything works without cgroups: wsmd__cg_create then
 * returns NULL and callers fall back to process groups and rlimits. */
#ifndef WSMD_SHELL_CGROUP_H
#define WSMD_SHELL_CGROUP_H

#include <stddef.h>
#include <sys/types.h>

#define WSMD_CG_MAXH 4 /* hierarchies a process joins at most */

struct wsmd_cg;

/* Detects the cgroup layout from mountinfo and the daemon's own
 * /proc/self/cgroup (NULL: the real files; tests pass others), makes this
 * daemon's directory (wsmd-<pid>) in each usable hierarchy and removes the
 * directories of daemons that are gone (killing what is left in their
 * shell groups). desc receives one log-ready "key=value ..." summary.
 * Returns 1 if cgroups are in use, 0 if not (never an error). */
int wsmd__cg_init(const char *mountinfo, const char *self_cgroup, char *desc, size_t desclen);

int wsmd__cg_active(void);   /* some hierarchy is in use */
int wsmd__cg_has_pids(void); /* pids.max can be set */
int wsmd__cg_has_memory(void);

/* Makes (or reuses) the group rel ("shell-<id>", "user-1000", or
 * "user-1000/p-7": parents must exist) in every hierarchy and sets its
 * limits (0: leave unlimited). NULL without cgroups or on failure. */
struct wsmd_cg *wsmd__cg_create(const char *rel, unsigned long pids_max,
                                unsigned long long mem_max);

/* Opens each hierarchy's cgroup.procs of g for writing (close-on-exec,
 * above fd 2): a child started afterwards writes "0" into each to join
 * (as root, before it drops its privileges). Returns the count (0 for a
 * NULL g), -1 on failure (nothing left open). */
int wsmd__cg_open_procs(const struct wsmd_cg *g, int fds[WSMD_CG_MAXH]);
void wsmd__cg_close_fds(int *fds, int n);

/* 1 when the group holds pids.max processes or more (a new process would
 * not be allowed), 0 otherwise or when unknown. */
int wsmd__cg_pids_full(const struct wsmd_cg *g);
/* pids.current, or -1. */
long wsmd__cg_pids_current(const struct wsmd_cg *g);
/* Bytes charged to the group (memory.current; v1 memory.usage_in_bytes),
 * or -1 without a memory controller. */
long long wsmd__cg_memory_current(const struct wsmd_cg *g);

/* SIGKILL to every process of the group (and its subgroups). 0 when the
 * group was seen empty afterwards (or at once with cgroup.kill), -1 if
 * some still ran after the retries. */
int wsmd__cg_kill(const struct wsmd_cg *g);

/* Frees g; with kill, kills its processes first. Its directory is removed
 * now or, while killed processes still exit, by a later call of any
 * wsmd__cg_* function that makes or releases a group (or at shutdown).
 * Without kill, only the handle goes: the directory stays for the
 * processes in it (wsmd__cg_prune removes it once empty). NULL: no-op. */
void wsmd__cg_release(struct wsmd_cg *g, int kill);

/* Removes the empty subgroups of rel (e.g. "user-1000": its p-N). */
void wsmd__cg_prune(const char *rel);

/* At daemon stop, after the shells were released: waits up to wait_ms for
 * killed groups to empty, removes them and this daemon's directory if it
 * is empty (groups of Win32_Process.Create processes that still run stay
 * until a later start finds them empty). */
void wsmd__cg_shutdown(long wait_ms);
/* Privilege separation: wsmd's directories (and their files) are handed
 * to the network process's account, which then makes and kills the
 * groups itself. 0, or -1 if something could not be handed over. */
int wsmd__cg_delegate(uid_t uid, gid_t gid);
/* A group's name (its directory under wsmd's), and the cgroup.procs files
 * of the group of that name: the monitor opens them itself (cgroup v2
 * checks the opener's right to move a process out of the monitor's own
 * group, which the network process's account does not have). A name is
 * letters, digits and '-' only. */
const char *wsmd__cg_name(const struct wsmd_cg *g);
int wsmd__cg_open_procs_name(const char *rel, int fds[WSMD_CG_MAXH]);

/* Limits of Win32_Process.Create (set at startup from the configuration:
 * MaxProcessesPerUser, MaxMemoryPerShellMB). */
struct wsmd_create_limits {
    unsigned max_processes_per_user; /* 0: no limit */
    unsigned max_memory_mb;          /* 0: no limit */
};
extern struct wsmd_create_limits wsmd__create_limits;

/* Parsing helpers, for the unit tests: the path of the daemon's cgroup in
 * the hierarchy that has controller ctl ("" for the v2 one) from the text
 * of /proc/self/cgroup; 0 on success. */
int wsmd__cg_own_path(const char *self_cgroup_text, const char *ctl, char *out, size_t outlen);

/* Tests only: act as an older kernel would: 1 without cgroup.kill
 * (freeze + SIGKILL each), 2 without a freezer either (SIGKILL each). */
void wsmd__cg_test_degrade(int level);

#endif
