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
#include "cgroup.h"

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

struct wsmd_create_limits wsmd__create_limits = {100, 0};

struct hier {
    char parent[PATH_MAX - 64]; /* the daemon's cgroup directory: wsmd-<pid> goes here */
    char own[PATH_MAX - 64];    /* the same as /proc/<pid>/cgroup shows it */
    char ctl[16];               /* "" for v2, else the v1 controller named in /proc/pid/cgroup */
    int v2;
    int pids, mem, kill, freeze;
};

struct wsmd_cg {
    char rel[128];
};

static struct {
    int nh;
    struct hier h[WSMD_CG_MAXH];
    char inst[32];
} G;

/* Groups killed whose directories could not be removed yet. */
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

static char *slurp(const char *path, size_t *len)
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

static int write_str(const char *path, const char *s)
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

static int read_small(const char *path, char *buf, size_t n)
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
static int join(char *out, size_t n, const char *a, const char *b)
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
static int gpath(char *buf, size_t n, int i, const char *inst, const char *rel, const char *file)
{
    int r = snprintf(buf, n, "%s/%s%s%s%s%s", G.h[i].parent, inst, rel && rel[0] ? "/" : "",
                     rel ? rel : "", file ? "/" : "", file ? file : "");
    return r < 0 || (size_t)r >= n ? -1 : 0;
}

static int has_word(const char *list, const char *w, const char *seps)
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

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- detection ---- */

int wsmd__cg_own_path(const char *text, const char *ctl, char *out, size_t outlen)
{
    for (const char *p = text; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t l = eol ? (size_t)(eol - p) : strlen(p);
        const char *c1 = memchr(p, ':', l);
        const char *c2 = c1 ? memchr(c1 + 1, ':', l - (size_t)(c1 + 1 - p)) : NULL;
        if (c2) {
            char ctrls[256];
            size_t cl = (size_t)(c2 - c1 - 1);
            if (cl < sizeof(ctrls)) {
                memcpy(ctrls, c1 + 1, cl);
                ctrls[cl] = '\0';
                int hit = ctl[0] ? has_word(ctrls, ctl, ",")
                                 : (cl == 0 && c1 - p == 1 && p[0] == '0');
                size_t pl = l - (size_t)(c2 + 1 - p);
                if (hit && pl > 0 && pl < outlen && c2[1] == '/') {
                    memcpy(out, c2 + 1, pl);
                    out[pl] = '\0';
                    return 0;
                }
            }
        }
        p = eol ? eol + 1 : NULL;
    }
    return -1;
}

struct mnt {
    char point[PATH_MAX / 2];
    char root[PATH_MAX / 2];
    int found;
};

/* The mounts of cgroup2 and of the v1 hierarchies holding pids, memory,
 * freezer (fields: id parent dev root point opts [optional...] - type
 * source superopts). */
static void find_mounts(const char *mi, struct mnt *v2, struct mnt *pids, struct mnt *mem,
                        struct mnt *frz)
{
    for (const char *p = mi; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t l = eol ? (size_t)(eol - p) : strlen(p);
        char line[2048];
        if (l < sizeof(line)) {
            memcpy(line, p, l);
            line[l] = '\0';
            /* Fields before " - ": f[3] root, f[4] mount point. */
            char *sep = strstr(line, " - ");
            char *f[5] = {NULL};
            int nf = 0;
            if (sep) {
                *sep = '\0';
                char *save = NULL;
                for (char *t = strtok_r(line, " ", &save); t && nf < 5; t = strtok_r(NULL, " ", &save))
                    f[nf++] = t;
            }
            struct mnt *m = NULL, *m2 = NULL, *m3 = NULL;
            if (nf == 5) {
                char *type = sep + 3, *src = strchr(type, ' ');
                char *sopts = src ? strchr(src + 1, ' ') : NULL;
                if (src)
                    *src = '\0';
                if (!strcmp(type, "cgroup2"))
                    m = v2;
                else if (!strcmp(type, "cgroup") && sopts) {
                    sopts++;
                    if (has_word(sopts, "pids", ","))
                        m = pids;
                    if (has_word(sopts, "memory", ","))
                        m2 = mem;
                    if (has_word(sopts, "freezer", ","))
                        m3 = frz;
                }
            }
            {
                struct mnt *all[3] = {m, m2, m3};
                for (int k = 0; k < 3; k++) {
                    if (!all[k] || all[k]->found || strlen(f[4]) >= sizeof(all[k]->point) ||
                        strlen(f[3]) >= sizeof(all[k]->root))
                        continue;
                    strcpy(all[k]->point, f[4]);
                    strcpy(all[k]->root, f[3]);
                    all[k]->found = 1;
                }
            }
        }
        p = eol ? eol + 1 : NULL;
    }
}

/* The directory of cgroup path own in mount m (own is relative to the
 * hierarchy's root, the mount shows the subtree m->root). */
static int resolve(const struct mnt *m, const char *own, char *out, size_t n)
{
    const char *rest = own;
    if (strcmp(m->root, "/") != 0) {
        size_t rl = strlen(m->root);
        if (strncmp(own, m->root, rl) || (own[rl] && own[rl] != '/'))
            return -1;
        rest = own + rl;
    }
    if (!strcmp(rest, "/"))
        rest = "";
    int r = snprintf(out, n, "%s%s", m->point, rest);
    return r < 0 || (size_t)r >= n ? -1 : 0;
}

/* Enables the controllers wanted ("pids", "memory") that dir offers to
 * its children; returns a bit set of those enabled (1 pids, 2 memory). */
static int enable_ctrls(const char *dir)
{
    char path[PATH_MAX], ctrls[512] = "", sub[512] = "";
    int got = 0;
    (void)join(path, sizeof(path), dir, "cgroup.controllers");
    if (read_small(path, ctrls, sizeof(ctrls)) < 0)
        return 0;
    const char *names[2] = {"pids", "memory"};
    (void)join(path, sizeof(path), dir, "cgroup.subtree_control");
    for (int i = 0; i < 2; i++) {
        if (!has_word(ctrls, names[i], " \n"))
            continue;
        char w[16];
        snprintf(w, sizeof(w), "+%s", names[i]);
        (void)write_str(path, w);
    }
    if (read_small(path, sub, sizeof(sub)) == 0) {
        if (has_word(sub, "pids", " \n"))
            got |= 1;
        if (has_word(sub, "memory", " \n"))
            got |= 2;
    }
    return got;
}

static int exists(const char *dir, const char *file)
{
    char path[PATH_MAX];
    if (join(path, sizeof(path), dir, file) < 0)
        return 0;
    return access(path, F_OK) == 0;
}

/* Adds a hierarchy whose daemon directory is dir/own (made here).
 * Returns its index or -1. */
static int add_hier(const char *dir, const char *own, const char *ctl, int v2)
{
    if (G.nh >= WSMD_CG_MAXH || strlen(dir) >= sizeof(G.h[0].parent) ||
        strlen(own) >= sizeof(G.h[0].own))
        return -1;
    char inst[PATH_MAX];
    if (join(inst, sizeof(inst), dir, G.inst) < 0)
        return -1;
    if (mkdir(inst, 0755) < 0 && errno != EEXIST)
        return -1;
    struct hier *h = &G.h[G.nh];
    memset(h, 0, sizeof(*h));
    strcpy(h->parent, dir);
    strcpy(h->own, own);
    snprintf(h->ctl, sizeof(h->ctl), "%s", ctl);
    h->v2 = v2;
    return G.nh++;
}

static void clean_stale(void);

int wsmd__cg_init(const char *mountinfo, const char *self_cgroup, char *desc, size_t desclen)
{
    memset(&G, 0, sizeof(G));
    snprintf(G.inst, sizeof(G.inst), "wsmd-%d", (int)getpid());
    if (desc && desclen)
        snprintf(desc, desclen, "cgroups=none reason=unreadable");
    char *mi = slurp(mountinfo ? mountinfo : "/proc/self/mountinfo", NULL);
    char *sc = slurp(self_cgroup ? self_cgroup : "/proc/self/cgroup", NULL);
    if (!mi || !sc) {
        free(mi);
        free(sc);
        return 0;
    }
    static struct mnt v2, pids, mem, frz;
    memset(&v2, 0, sizeof(v2));
    memset(&pids, 0, sizeof(pids));
    memset(&mem, 0, sizeof(mem));
    memset(&frz, 0, sizeof(frz));
    find_mounts(mi, &v2, &pids, &mem, &frz);
    char own[PATH_MAX / 2], dir[PATH_MAX - 64];
    const char *mode = "none";

    /* cgroup v2 with the pids controller: that hierarchy alone. */
    int v2dir_ok = v2.found && wsmd__cg_own_path(sc, "", own, sizeof(own)) == 0 &&
                   resolve(&v2, own, dir, sizeof(dir)) == 0;
    int v2got = 0;
    if (v2dir_ok) {
        char ctrls[512] = "", path[PATH_MAX];
        (void)join(path, sizeof(path), dir, "cgroup.controllers");
        if (read_small(path, ctrls, sizeof(ctrls)) == 0 && has_word(ctrls, "pids", " \n")) {
            v2got = enable_ctrls(dir);
            if (!(v2got & 1)) {
                /* A delegated cgroup holding the daemon (or the root of a
                 * cgroup namespace, which is not exempt): the
                 * no-internal-process rule wants the daemon in a leaf
                 * before controllers go to the children. */
                char leaf[PATH_MAX];
                (void)join(leaf, sizeof(leaf), dir, "wsmd-daemon");
                if ((mkdir(leaf, 0755) == 0 || errno == EEXIST)) {
                    (void)join(path, sizeof(path), leaf, "cgroup.procs");
                    if (write_str(path, "0") == 0)
                        v2got = enable_ctrls(dir);
                }
            }
        }
    }
    if (v2got & 1) {
        int i = add_hier(dir, own, "", 1);
        if (i >= 0) {
            char inst[PATH_MAX];
            (void)join(inst, sizeof(inst), dir, G.inst);
            int got = enable_ctrls(inst);
            G.h[i].pids = (got & 1) != 0;
            G.h[i].mem = (got & 2) != 0;
            G.h[i].kill = exists(inst, "cgroup.kill");
            G.h[i].freeze = exists(inst, "cgroup.freeze");
            if (!G.h[i].pids) {
                rmdir(inst);
                G.nh = 0;
            } else {
                mode = "v2";
            }
        }
    }
    if (G.nh == 0) {
        /* v1 controllers (hybrid layout or pure v1). */
        if (pids.found && wsmd__cg_own_path(sc, "pids", own, sizeof(own)) == 0 &&
            resolve(&pids, own, dir, sizeof(dir)) == 0) {
            int i = add_hier(dir, own, "pids", 0);
            if (i >= 0) {
                G.h[i].pids = 1;
                mode = "v1";
            }
        }
        if (mem.found && wsmd__cg_own_path(sc, "memory", own, sizeof(own)) == 0 &&
            resolve(&mem, own, dir, sizeof(dir)) == 0) {
            int i = add_hier(dir, own, "memory", 0);
            if (i >= 0)
                G.h[i].mem = 1;
        }
        int have_kill = 0;
        if (v2dir_ok && wsmd__cg_own_path(sc, "", own, sizeof(own)) == 0 &&
            resolve(&v2, own, dir, sizeof(dir)) == 0) {
            /* The v2 mount without controllers: membership, and
             * cgroup.kill / cgroup.freeze where the kernel has them. */
            char inst[PATH_MAX];
            (void)join(inst, sizeof(inst), dir, G.inst);
            int i = add_hier(dir, own, "", 1);
            if (i >= 0) {
                G.h[i].kill = exists(inst, "cgroup.kill");
                G.h[i].freeze = exists(inst, "cgroup.freeze");
                have_kill = G.h[i].kill;
                if (G.nh == 1)
                    mode = "v2-nocontrollers";
            }
        }
        if (!have_kill && frz.found && wsmd__cg_own_path(sc, "freezer", own, sizeof(own)) == 0 &&
            resolve(&frz, own, dir, sizeof(dir)) == 0) {
            int i = add_hier(dir, own, "freezer", 0);
            if (i >= 0)
                G.h[i].freeze = 1;
        }
    }
    free(mi);
    free(sc);
    if (G.nh > 0)
        clean_stale();
    if (desc && desclen) {
        int kill = 0, frz_ok = 0;
        for (int i = 0; i < G.nh; i++) {
            kill |= G.h[i].kill;
            frz_ok |= G.h[i].freeze;
        }
        snprintf(desc, desclen, "cgroups=%s pids=%s memory=%s kill=%s dir=%s/%s", mode,
                 wsmd__cg_has_pids() ? "yes" : "no", wsmd__cg_has_memory() ? "yes" : "no",
                 G.nh == 0  ? "process-group"
                 : kill     ? "cgroup.kill"
                 : frz_ok   ? "freeze+sigkill"
                            : "sigkill-each",
                 G.nh ? G.h[0].parent : "-", G.nh ? G.inst : "-");
    }
    return G.nh > 0;
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

static void rm_group(const char *inst, const char *rel, int *busy)
{
    char path[PATH_MAX];
    for (int i = G.nh - 1; i >= 0; i--)
        if (gpath(path, sizeof(path), i, inst, rel, NULL) == 0 && rmdir(path) < 0 &&
            errno != ENOENT && busy)
            *busy = 1;
}

static int set_limits(int i, const char *rel, unsigned long pids_max, unsigned long long mem_max)
{
    char path[PATH_MAX], v[32];
    const struct hier *h = &G.h[i];
    if (h->pids && pids_max) {
        snprintf(v, sizeof(v), "%lu", pids_max);
        if (gpath(path, sizeof(path), i, G.inst, rel, "pids.max") < 0 || write_str(path, v) < 0)
            return -1;
    }
    if (h->mem && mem_max) {
        snprintf(v, sizeof(v), "%llu", mem_max);
        if (gpath(path, sizeof(path), i, G.inst, rel,
                  h->v2 ? "memory.max" : "memory.limit_in_bytes") < 0 ||
            write_str(path, v) < 0)
            return -1;
    }
    return 0;
}

static void gc_graves(void);

struct wsmd_cg *wsmd__cg_create(const char *rel, unsigned long pids_max,
                                unsigned long long mem_max)
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
        if (gpath(path, sizeof(path), i, G.inst, rel, NULL) < 0 ||
            (mkdir(path, 0755) < 0 && errno != EEXIST) || set_limits(i, rel, pids_max, mem_max) < 0) {
            rm_group(G.inst, rel, NULL);
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
        if (gpath(path, sizeof(path), i, G.inst, g->rel, "cgroup.procs") == 0)
            fds[i] = above2(open(path, O_WRONLY | O_CLOEXEC));
        if (fds[i] < 0) {
            wsmd__cg_close_fds(fds, i);
            return -1;
        }
    }
    return G.nh;
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
            if (gpath(path, sizeof(path), i, G.inst, g->rel, "pids.current") < 0 ||
                read_small(path, v, sizeof(v)) < 0)
                return -1;
            return strtol(v, NULL, 10);
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
            if (gpath(path, sizeof(path), i, G.inst, g->rel, "pids.max") < 0 ||
                read_small(path, v, sizeof(v)) < 0 || !isdigit((unsigned char)v[0]))
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
    char *t = slurp(path, NULL);
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
    if (gpath(path, sizeof(path), 0, inst, rel, "cgroup.procs") < 0)
        return 0;
    char *t = slurp(path, NULL);
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
        if (gpath(path, sizeof(path), i, inst, rel, G.h[i].v2 ? "cgroup.freeze" : "freezer.state") < 0)
            return 0;
        if (write_str(path, G.h[i].v2 ? (on ? "1" : "0") : (on ? "FROZEN" : "THAWED")) < 0)
            return 0;
        if (!on)
            return 1;
        /* Wait (briefly) until the whole group is frozen. */
        const char *file = G.h[i].v2 ? "cgroup.events" : "freezer.state";
        long long end = mono_ms() + 200;
        while (mono_ms() < end) {
            char v[256];
            if (gpath(path, sizeof(path), i, inst, rel, file) < 0 ||
                read_small(path, v, sizeof(v)) < 0)
                break;
            if (G.h[i].v2 ? strstr(v, "frozen 1") != NULL : strncmp(v, "FROZEN", 6) == 0)
                break;
            usleep(1000);
        }
        return 1;
    }
    return 0;
}

static int kill_group(const char *inst, const char *rel)
{
    char path[PATH_MAX];
    for (int i = 0; i < G.nh; i++)
        if (G.h[i].kill && gpath(path, sizeof(path), i, inst, rel, "cgroup.kill") == 0 &&
            write_str(path, "1") == 0)
            return 0; /* every member, and no fork in flight escapes */
    /* Frozen, nobody forks or exits meanwhile: one listing gets all. */
    int frozen = set_frozen(inst, rel, 1);
    long long end = mono_ms() + 1000;
    for (;;) {
        int n = kill_listed(inst, rel);
        if (frozen) {
            set_frozen(inst, rel, 0);
            frozen = 0;
        }
        if (n == 0)
            return 0;
        if (mono_ms() >= end)
            return -1;
        usleep(1000);
    }
}

int wsmd__cg_kill(const struct wsmd_cg *g)
{
    return g ? kill_group(G.inst, g->rel) : 0;
}

static void gc_graves(void)
{
    pthread_mutex_lock(&graves_lock);
    struct grave **pp = &graves;
    while (*pp) {
        struct grave *gr = *pp;
        int busy = 0;
        rm_group(G.inst, gr->rel, &busy);
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
    (void)kill_group(G.inst, g->rel);
    int busy = 0;
    rm_group(G.inst, g->rel, &busy);
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
static void prune_in(const char *inst, const char *rel)
{
    char path[PATH_MAX];
    for (int i = 0; i < G.nh; i++) {
        if (gpath(path, sizeof(path), i, inst, rel, NULL) < 0)
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
        prune_in(G.inst, rel);
}

/* Directories of daemons that are gone: their shells' processes are
 * killed (as Delete would have), their created processes left running
 * (as at a normal stop), and every empty directory removed. */
static void clean_stale(void)
{
    for (int i = 0; i < G.nh; i++) {
        DIR *d = opendir(G.h[i].parent);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            const char *n = e->d_name;
            if (e->d_type != DT_DIR || strncmp(n, "wsmd-", 5) || !isdigit((unsigned char)n[5]))
                continue;
            char *end;
            long pid = strtol(n + 5, &end, 10);
            if (*end || pid <= 0 || pid == (long)getpid() ||
                (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
                continue;
            char inst[64];
            if (strlen(n) >= sizeof(inst))
                continue;
            strcpy(inst, n);
            char path[PATH_MAX];
            if (gpath(path, sizeof(path), i, inst, NULL, NULL) < 0)
                continue;
            DIR *sd = opendir(path);
            if (sd) {
                struct dirent *s;
                while ((s = readdir(sd))) {
                    if (s->d_type != DT_DIR || s->d_name[0] == '.')
                        continue;
                    if (!strncmp(s->d_name, "shell-", 6))
                        (void)kill_group(inst, s->d_name);
                    else
                        prune_in(inst, s->d_name);
                }
                closedir(sd);
            }
            /* Killed ones may take a moment to exit. */
            long long stop = mono_ms() + 1000;
            for (;;) {
                prune_in(inst, "");
                int busy = 0;
                rm_group(inst, "", &busy);
                if (!busy || mono_ms() >= stop)
                    break;
                usleep(5000);
            }
        }
        closedir(d);
    }
}

void wsmd__cg_shutdown(long wait_ms)
{
    if (G.nh == 0)
        return;
    long long stop = mono_ms() + wait_ms;
    for (;;) {
        gc_graves();
        pthread_mutex_lock(&graves_lock);
        int left = graves != NULL;
        pthread_mutex_unlock(&graves_lock);
        if (!left || mono_ms() >= stop)
            break;
        usleep(5000);
    }
    prune_in(G.inst, "");
    rm_group(G.inst, "", NULL);
}
