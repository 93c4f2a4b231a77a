/* Which cgroup hierarchies wsmd uses (docs/internals/cgroups.md): read
 * from mountinfo and the daemon's own /proc/self/cgroup at startup, the
 * daemon's directory made in each, and the directories of daemons that
 * are gone removed. */

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
                int hit = ctl[0] ? wsmd__cg_has_word(ctrls, ctl, ",")
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
                for (char *t = strtok_r(line, " ", &save); t && nf < 5;
                     t = strtok_r(NULL, " ", &save))
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
                    if (wsmd__cg_has_word(sopts, "pids", ","))
                        m = pids;
                    if (wsmd__cg_has_word(sopts, "memory", ","))
                        m2 = mem;
                    if (wsmd__cg_has_word(sopts, "freezer", ","))
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
    (void)wsmd__cg_join(path, sizeof(path), dir, "cgroup.controllers");
    if (wsmd__cg_read(path, ctrls, sizeof(ctrls)) < 0)
        return 0;
    const char *names[2] = {"pids", "memory"};
    (void)wsmd__cg_join(path, sizeof(path), dir, "cgroup.subtree_control");
    for (int i = 0; i < 2; i++) {
        if (!wsmd__cg_has_word(ctrls, names[i], " \n"))
            continue;
        char w[16];
        snprintf(w, sizeof(w), "+%s", names[i]);
        (void)wsmd__cg_write(path, w);
    }
    if (wsmd__cg_read(path, sub, sizeof(sub)) == 0) {
        if (wsmd__cg_has_word(sub, "pids", " \n"))
            got |= 1;
        if (wsmd__cg_has_word(sub, "memory", " \n"))
            got |= 2;
    }
    return got;
}

static int exists(const char *dir, const char *file)
{
    char path[PATH_MAX];
    if (wsmd__cg_join(path, sizeof(path), dir, file) < 0)
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
    if (wsmd__cg_join(inst, sizeof(inst), dir, G.inst) < 0)
        return -1;
    if (mkdir(inst, 0755) < 0 && errno != EEXIST)
        return -1;
    struct cg_hier *h = &G.h[G.nh];
    memset(h, 0, sizeof(*h));
    strcpy(h->parent, dir);
    strcpy(h->own, own);
    snprintf(h->ctl, sizeof(h->ctl), "%s", ctl);
    h->v2 = v2;
    return G.nh++;
}

int wsmd__cg_init(const char *mountinfo, const char *self_cgroup, char *desc, size_t desclen)
{
    memset(&G, 0, sizeof(G));
    snprintf(G.inst, sizeof(G.inst), "wsmd-%d", (int)getpid());
    if (desc && desclen)
        snprintf(desc, desclen, "cgroups=none reason=unreadable");
    char *mi = wsmd__cg_slurp(mountinfo ? mountinfo : "/proc/self/mountinfo", NULL);
    char *sc = wsmd__cg_slurp(self_cgroup ? self_cgroup : "/proc/self/cgroup", NULL);
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
        (void)wsmd__cg_join(path, sizeof(path), dir, "cgroup.controllers");
        if (wsmd__cg_read(path, ctrls, sizeof(ctrls)) == 0 &&
            wsmd__cg_has_word(ctrls, "pids", " \n")) {
            v2got = enable_ctrls(dir);
            if (!(v2got & 1)) {
                /* A delegated cgroup holding the daemon (or the root of a
                 * cgroup namespace, which is not exempt): the
                 * no-internal-process rule wants the daemon in a leaf
                 * before controllers go to the children. */
                char leaf[PATH_MAX];
                (void)wsmd__cg_join(leaf, sizeof(leaf), dir, "wsmd-daemon");
                if ((mkdir(leaf, 0755) == 0 || errno == EEXIST)) {
                    (void)wsmd__cg_join(path, sizeof(path), leaf, "cgroup.procs");
                    if (wsmd__cg_write(path, "0") == 0)
                        v2got = enable_ctrls(dir);
                }
            }
        }
    }
    if (v2got & 1) {
        int i = add_hier(dir, own, "", 1);
        if (i >= 0) {
            char inst[PATH_MAX];
            (void)wsmd__cg_join(inst, sizeof(inst), dir, G.inst);
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
            (void)wsmd__cg_join(inst, sizeof(inst), dir, G.inst);
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
        wsmd__cg_clean_stale();
    if (desc && desclen) {
        int kill = 0, frz_ok = 0;
        for (int i = 0; i < G.nh; i++) {
            kill |= G.h[i].kill;
            frz_ok |= G.h[i].freeze;
        }
        snprintf(desc, desclen, "cgroups=%s pids=%s memory=%s kill=%s dir=%s%s%s", mode,
                 wsmd__cg_has_pids() ? "yes" : "no", wsmd__cg_has_memory() ? "yes" : "no",
                 G.nh == 0 ? "process-group"
                 : kill    ? "cgroup.kill"
                 : frz_ok  ? "freeze+sigkill"
                           : "sigkill-each",
                 G.nh ? G.h[0].parent : "-", G.nh ? "/" : "", G.nh ? G.inst : "");
    }
    return G.nh > 0;
}

/* Directories of daemons that are gone: their shells' processes are
 * killed (as Delete would have), their created processes left running
 * (as at a normal stop), and every empty directory removed. */
void wsmd__cg_clean_stale(void)
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
            if (wsmd__cg_path(path, sizeof(path), i, inst, NULL, NULL) < 0)
                continue;
            DIR *sd = opendir(path);
            if (sd) {
                struct dirent *s;
                while ((s = readdir(sd))) {
                    if (s->d_type != DT_DIR || s->d_name[0] == '.')
                        continue;
                    if (!strncmp(s->d_name, "shell-", 6))
                        (void)wsmd__cg_kill_group(inst, s->d_name);
                    else
                        wsmd__cg_prune_in(inst, s->d_name);
                }
                closedir(sd);
            }
            /* Killed ones may take a moment to exit. */
            long long stop = wsmd__cg_mono_ms() + 1000;
            for (;;) {
                wsmd__cg_prune_in(inst, "");
                int busy = 0;
                wsmd__cg_rm_group(inst, "", &busy);
                if (!busy || wsmd__cg_mono_ms() >= stop)
                    break;
                usleep(5000);
            }
        }
        closedir(d);
    }
}
