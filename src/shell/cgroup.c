/* Control groups for shells and created processes (cgroup.h,
 * docs/internals/cgroups.md).
 *
 * Layout: in every hierarchy used, under the daemon's own cgroup,
 *   wsmd-<pid>/shell-<shell id>     one per shell: pids.max, memory limit
 *   wsmd-<pid>/user-<uid>           Win32_Process.Create of one user: pids.max
 *   wsmd-<pid>/user-<uid>/p-<n>     one created process: memory limit
 * The directory is per daemon (several may run, as the tests do), so a
 * starting daemon removes only those whose daemon is gone.
 *
 * Hierarchies, chosen once at startup:
 *  - cgroup v2 with the pids controller (pure v2, systemd-delegated or
 *    not): that one alone; memory.max if the memory controller is there
 *    too; cgroup.kill (5.14+) or cgroup.freeze to kill.
 *  - otherwise (hybrid layouts: v1 controllers and an empty v2 mount) the
 *    v1 pids hierarchy, the v1 memory one, and the v2 mount without
 *    controllers for its cgroup.kill (else the v1 freezer).
 * A child joins every hierarchy (raw writes of "0" into fds opened here),
 * so all of them hold the same processes; members of one are listed from
 * the first. An unprivileged user cannot leave: the directories are
 * root's, and moving a process needs write access to the destination. */

#include "cgroup_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct cg_state wsmd__cg_state;

struct wsmd_create_limits wsmd__create_limits = {100, 0};

struct wsmd_cg {
    char rel[128];
};

struct grave {
    struct grave *next;
    char rel[128];
};
static struct grave *graves;
static pthread_mutex_t graves_lock = PTHREAD_MUTEX_INITIALIZER;

int wsmd__cg_active(void)
{
    return G.nh > 0;
}

int wsmd__cg_has_pids(void)
{
    for (int i = 0; i < G.nh; i++)
        if (G.h[i].pids)
            return 1;
    return 0;
}

int wsmd__cg_has_memory(void)
{
    for (int i = 0; i < G.nh; i++)
        if (G.h[i].mem)
            return 1;
    return 0;
}

/* ---- small file helpers ---- */

char *wsmd__cg_slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    while (b) {
        if (n + 1 >= cap) {
            char *nb = cap < ((size_t)1 << 24) ? realloc(b, cap * 2) : NULL;
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, b + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r < 0) {
                free(b);
                b = NULL;
            }
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    if (b) {
        b[n] = '\0';
        if (len)
            *len = n;
    }
    return b;
}

int wsmd__cg_write(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t w = write(fd, s, strlen(s));
    int e = errno;
    close(fd);
    errno = e;
    return w == (ssize_t)strlen(s) ? 0 : -1;
}

int wsmd__cg_read(const char *path, char *buf, size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t r = read(fd, buf, n - 1);
    close(fd);
    if (r < 0)
        return -1;
    buf[r] = '\0';
    return 0;
}

/* a/b; -1 if it does not fit. */
int wsmd__cg_join(char *out, size_t n, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la + 1 + lb >= n)
        return -1;
    memcpy(out, a, la);
    out[la] = '/';
    memcpy(out + la + 1, b, lb + 1);
    return 0;
}

/* parent/inst[/rel][/file] of hierarchy i. */
int wsmd__cg_path(char *buf, size_t n, int i, const char *inst, const char *rel, const char *file)
{
    int r = snprintf(buf, n, "%s/%s%s%s%s%s", G.h[i].parent, inst, rel && rel[0] ? "/" : "",
                     rel ? rel : "", file ? "/" : "", file ? file : "");
    return r < 0 || (size_t)r >= n ? -1 : 0;
}

int wsmd__cg_has_word(const char *list, const char *w, const char *seps)
{
    size_t wl = strlen(w);
    for (const char *p = list; *p;) {
        size_t l = strcspn(p, seps);
        if (l == wl && !strncmp(p, w, wl))
            return 1;
        p += l;
        p += strspn(p, seps);
    }
    return 0;
}

long long wsmd__cg_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void wsmd__cg_test_degrade(int level)
{
    for (int i = 0; i < G.nh; i++) {
        if (level >= 1)
            G.h[i].kill = 0;
        if (level >= 2)
            G.h[i].freeze = 0;
    }
}

/* ---- groups ---- */

void wsmd__cg_rm_group(const char *inst, const char *rel, int *busy)
{
    char path[PATH_MAX];
    for (int i = G.nh - 1; i >= 0; i--)
        if (wsmd__cg_path(path, sizeof(path), i, inst, rel, NULL) == 0 && rmdir(path) < 0 &&
            errno != ENOENT && busy)
            *busy = 1;
}

static int set_limits(int i, const char *rel, unsigned long pids_max, unsigned long long mem_max)
{
    char path[PATH_MAX], v[32];
    const struct cg_hier *h = &G.h[i];
    if (h->pids && pids_max) {
        snprintf(v, sizeof(v), "%lu", pids_max);
        if (wsmd__cg_path(path, sizeof(path), i, G.inst, rel, "pids.max") < 0 ||
            wsmd__cg_write(path, v) < 0)
            return -1;
    }
    if (h->mem && mem_max) {
        snprintf(v, sizeof(v), "%llu", mem_max);
        if (wsmd__cg_path(path, sizeof(path), i, G.inst, rel,
                          h->v2 ? "memory.max" : "memory.limit_in_bytes") < 0 ||
            wsmd__cg_write(path, v) < 0)
            return -1;
    }
    return 0;
}

static void gc_graves(void);

struct wsmd_cg *wsmd__cg_create(const char *rel, unsigned long pids_max, unsigned long long mem_max)
{
    if (G.nh == 0 || !rel || !rel[0] || strlen(rel) >= sizeof(((struct wsmd_cg *)0)->rel))
        return NULL;
    gc_graves();
    struct wsmd_cg *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    strcpy(g->rel, rel);
    char path[PATH_MAX];
    for (int i = 0; i < G.nh; i++) {
        if (wsmd__cg_path(path, sizeof(path), i, G.inst, rel, NULL) < 0 ||
            (mkdir(path, 0755) < 0 && errno != EEXIST) ||
            set_limits(i, rel, pids_max, mem_max) < 0) {
            wsmd__cg_rm_group(G.inst, rel, NULL);
            free(g);
            return NULL;
        }
    }
    return g;
}

/* An fd above 2 (a child dup3s onto 0-2 later). */
static int above2(int fd)
{
    if (fd < 0 || fd > 2)
        return fd;
    int n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return n;
}

int wsmd__cg_open_procs(const struct wsmd_cg *g, int fds[WSMD_CG_MAXH])
{
    if (!g)
        return 0;
    char path[PATH_MAX];
    for (int i = 0; i < G.nh; i++) {
        fds[i] = -1;
        if (wsmd__cg_path(path, sizeof(path), i, G.inst, g->rel, "cgroup.procs") == 0)
            fds[i] = above2(open(path, O_WRONLY | O_CLOEXEC));
        if (fds[i] < 0) {
            wsmd__cg_close_fds(fds, i);
            return -1;
        }
    }
    return G.nh;
}

const char *wsmd__cg_name(const struct wsmd_cg *g)
{
    return g ? g->rel : NULL;
}

int wsmd__cg_open_procs_name(const char *rel, int fds[WSMD_CG_MAXH])
{
    struct wsmd_cg g;
    size_t n = strlen(rel);
    if (n == 0 || n >= sizeof(g.rel) ||
        strspn(rel, "abcdefghijklmnopqrstuvwxyz"
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != n)
        return -1;
    memcpy(g.rel, rel, n + 1);
    return wsmd__cg_open_procs(&g, fds);
}

void wsmd__cg_close_fds(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0) {
            close(fds[i]);
            fds[i] = -1;
        }
}

long wsmd__cg_pids_current(const struct wsmd_cg *g)
{
    if (!g)
        return -1;
    char path[PATH_MAX], v[32];
    for (int i = 0; i < G.nh; i++)
        if (G.h[i].pids) {
            if (wsmd__cg_path(path, sizeof(path), i, G.inst, g->rel, "pids.current") < 0 ||
                wsmd__cg_read(path, v, sizeof(v)) < 0)
                return -1;
            return strtol(v, NULL, 10);
        }
    return -1;
}

long long wsmd__cg_memory_current(const struct wsmd_cg *g)
{
    if (!g)
        return -1;
    char path[PATH_MAX], v[32];
    for (int i = 0; i < G.nh; i++)
        if (G.h[i].mem) {
            if (wsmd__cg_path(path, sizeof(path), i, G.inst, g->rel,
                              G.h[i].v2 ? "memory.current" : "memory.usage_in_bytes") < 0 ||
                wsmd__cg_read(path, v, sizeof(v)) < 0 || !isdigit((unsigned char)v[0]))
                return -1;
            return strtoll(v, NULL, 10);
        }
    return -1;
}

int wsmd__cg_pids_full(const struct wsmd_cg *g)
{
    if (!g)
        return 0;
    char path[PATH_MAX], v[32];
    for (int i = 0; i < G.nh; i++)
        if (G.h[i].pids) {
            if (wsmd__cg_path(path, sizeof(path), i, G.inst, g->rel, "pids.max") < 0 ||
                wsmd__cg_read(path, v, sizeof(v)) < 0 || !isdigit((unsigned char)v[0]))
                return 0;
            long max = strtol(v, NULL, 10);
            long cur = wsmd__cg_pids_current(g);
            return cur >= 0 && cur >= max;
        }
    return 0;
}

/* ---- killing ---- */

/* Is pid (pinned by a pidfd the caller holds) in inst/rel of hierarchy
 * i? Guards against a pid that was reused between the listing and the
 * pidfd_open. */
static int member(pid_t pid, int i, const char *inst, const char *rel)
{
    char path[64], own[PATH_MAX], want[PATH_MAX];
    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
    char *t = wsmd__cg_slurp(path, NULL);
    if (!t)
        return 0;
    int ok = wsmd__cg_own_path(t, G.h[i].ctl, own, sizeof(own)) == 0;
    free(t);
    if (!ok)
        return 0;
    const char *base = strcmp(G.h[i].own, "/") ? G.h[i].own : "";
    snprintf(want, sizeof(want), "%s/%s/%s", base, inst, rel);
    return strcmp(own, want) == 0;
}

/* SIGKILL to each process listed in inst/rel; the number listed. */
static int kill_listed(const char *inst, const char *rel)
{
    char path[PATH_MAX];
    if (wsmd__cg_path(path, sizeof(path), 0, inst, rel, "cgroup.procs") < 0)
        return 0;
    char *t = wsmd__cg_slurp(path, NULL);
    if (!t)
        return 0;
    int n = 0;
    for (char *p = t; *p;) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        p = end + strspn(end, "\n");
        if (pid <= 0)
            continue;
        n++;
        int pfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
        if (pfd < 0)
            continue;
        if (member((pid_t)pid, 0, inst, rel))
            syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0);
        close(pfd);
    }
    free(t);
    return n;
}

static int set_frozen(const char *inst, const char *rel, int on)
{
    char path[PATH_MAX];
    for (int i = 0; i < G.nh; i++) {
        if (!G.h[i].freeze)
            continue;
        if (wsmd__cg_path(path, sizeof(path), i, inst, rel,
                          G.h[i].v2 ? "cgroup.freeze" : "freezer.state") < 0)
            return 0;
        if (wsmd__cg_write(path, G.h[i].v2 ? (on ? "1" : "0") : (on ? "FROZEN" : "THAWED")) < 0)
            return 0;
        if (!on)
            return 1;
        /* Wait (briefly) until the whole group is frozen. */
        const char *file = G.h[i].v2 ? "cgroup.events" : "freezer.state";
        long long end = wsmd__cg_mono_ms() + 200;
        while (wsmd__cg_mono_ms() < end) {
            char v[256];
            if (wsmd__cg_path(path, sizeof(path), i, inst, rel, file) < 0 ||
                wsmd__cg_read(path, v, sizeof(v)) < 0)
                break;
            if (G.h[i].v2 ? strstr(v, "frozen 1") != NULL : strncmp(v, "FROZEN", 6) == 0)
                break;
            usleep(1000);
        }
        return 1;
    }
    return 0;
}

int wsmd__cg_kill_group(const char *inst, const char *rel)
{
    char path[PATH_MAX];
    for (int i = 0; i < G.nh; i++)
        if (G.h[i].kill && wsmd__cg_path(path, sizeof(path), i, inst, rel, "cgroup.kill") == 0 &&
            wsmd__cg_write(path, "1") == 0)
            return 0; /* every member, and no fork in flight escapes */
    /* Frozen, nobody forks or exits meanwhile: one listing gets all. */
    int frozen = set_frozen(inst, rel, 1);
    long long end = wsmd__cg_mono_ms() + 1000;
    for (;;) {
        int n = kill_listed(inst, rel);
        if (frozen) {
            set_frozen(inst, rel, 0);
            frozen = 0;
        }
        if (n == 0)
            return 0;
        if (wsmd__cg_mono_ms() >= end)
            return -1;
        usleep(1000);
    }
}

int wsmd__cg_kill(const struct wsmd_cg *g)
{
    return g ? wsmd__cg_kill_group(G.inst, g->rel) : 0;
}

static void gc_graves(void)
{
    pthread_mutex_lock(&graves_lock);
    struct grave **pp = &graves;
    while (*pp) {
        struct grave *gr = *pp;
        int busy = 0;
        wsmd__cg_rm_group(G.inst, gr->rel, &busy);
        if (!busy) {
            *pp = gr->next;
            free(gr);
        } else {
            pp = &gr->next;
        }
    }
    pthread_mutex_unlock(&graves_lock);
}

void wsmd__cg_release(struct wsmd_cg *g, int kill)
{
    if (!g)
        return;
    if (!kill) {
        /* A process may be about to join it (fds already open): the
         * directory stays; wsmd__cg_prune removes it once empty. */
        free(g);
        return;
    }
    (void)wsmd__cg_kill_group(G.inst, g->rel);
    int busy = 0;
    wsmd__cg_rm_group(G.inst, g->rel, &busy);
    if (busy) {
        /* Killed processes are still exiting: removed later. */
        struct grave *gr = calloc(1, sizeof(*gr));
        if (gr) {
            strcpy(gr->rel, g->rel);
            pthread_mutex_lock(&graves_lock);
            gr->next = graves;
            graves = gr;
            pthread_mutex_unlock(&graves_lock);
        }
    }
    free(g);
    gc_graves();
}

/* Empty subgroups of inst/rel ("" for the instance itself) go. */
void wsmd__cg_prune_in(const char *inst, const char *rel)
{
    char path[PATH_MAX];
    for (int i = 0; i < G.nh; i++) {
        if (wsmd__cg_path(path, sizeof(path), i, inst, rel, NULL) < 0)
            continue;
        DIR *d = opendir(path);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_type != DT_DIR || e->d_name[0] == '.')
                continue;
            char sub[PATH_MAX];
            if (snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) < (int)sizeof(sub))
                (void)rmdir(sub);
        }
        closedir(d);
    }
}

void wsmd__cg_prune(const char *rel)
{
    if (G.nh > 0 && rel)
        wsmd__cg_prune_in(G.inst, rel);
}

void wsmd__cg_shutdown(long wait_ms)
{
    if (G.nh == 0)
        return;
    long long stop = wsmd__cg_mono_ms() + wait_ms;
    for (;;) {
        gc_graves();
        pthread_mutex_lock(&graves_lock);
        int left = graves != NULL;
        pthread_mutex_unlock(&graves_lock);
        if (!left || wsmd__cg_mono_ms() >= stop)
            break;
        usleep(5000);
    }
    wsmd__cg_prune_in(G.inst, "");
    wsmd__cg_rm_group(G.inst, "", NULL);
}

int wsmd__cg_delegate(uid_t uid, gid_t gid)
{
    /* cgroup delegation: the owner of a directory may make groups in it,
     * set their limits, move processes it may write cgroup.procs for, and
     * write cgroup.kill. Only wsmd's own directories change hands. */
    int rc = 0;
    for (int i = 0; i < G.nh; i++) {
        char dir[PATH_MAX];
        if (wsmd__cg_path(dir, sizeof(dir), i, G.inst, NULL, NULL) < 0 ||
            chown(dir, uid, gid) < 0) {
            rc = -1;
            continue;
        }
        DIR *d = opendir(dir);
        if (!d) {
            rc = -1;
            continue;
        }
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_type == DT_REG && fchownat(dirfd(d), e->d_name, uid, gid, 0) < 0)
                rc = -1;
        closedir(d);
    }
    return rc;
}
