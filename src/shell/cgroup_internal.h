/* Private to src/shell/cgroup.c and cgroup_detect.c: the hierarchies in
 * use (set once by wsmd__cg_init, read-only afterwards) and the helpers
 * both files use. */
#ifndef WSMD_SHELL_CGROUP_INTERNAL_H
#define WSMD_SHELL_CGROUP_INTERNAL_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "cgroup.h"

struct cg_hier {
    char parent[PATH_MAX - 64]; /* the daemon's cgroup directory: wsmd-<pid> goes here */
    char own[PATH_MAX - 64];    /* the same as /proc/<pid>/cgroup shows it */
    char ctl[16];               /* "" for v2, else the v1 controller named in /proc/pid/cgroup */
    int v2;
    int pids, mem, kill, freeze;
};

struct cg_state {
    int nh;
    struct cg_hier h[WSMD_CG_MAXH];
    char inst[32]; /* wsmd-<pid> */
};
extern struct cg_state wsmd__cg_state;
#define G wsmd__cg_state

/* The file's text (NUL-terminated, malloc'd), or NULL. */
char *wsmd__cg_slurp(const char *path, size_t *len);
int wsmd__cg_write(const char *path, const char *s); /* 0 or -1 (errno) */
int wsmd__cg_read(const char *path, char *buf, size_t n);
int wsmd__cg_join(char *out, size_t n, const char *a, const char *b); /* a/b */
/* parent/inst[/rel][/file] of hierarchy i; -1 if it does not fit. */
int wsmd__cg_path(char *buf, size_t n, int i, const char *inst, const char *rel, const char *file);
int wsmd__cg_has_word(const char *list, const char *w, const char *seps);
long long wsmd__cg_mono_ms(void);
/* SIGKILL to everything in inst/rel (of any daemon's directory inst). */
int wsmd__cg_kill_group(const char *inst, const char *rel);
/* rmdir of inst/rel in every hierarchy; *busy set if one stays. */
void wsmd__cg_rm_group(const char *inst, const char *rel, int *busy);
/* rmdir of the empty subgroups of inst/rel ("" for inst itself). */
void wsmd__cg_prune_in(const char *inst, const char *rel);
/* Removes the directories of daemons that are gone (cgroup_detect.c). */
void wsmd__cg_clean_stale(void);

#endif
