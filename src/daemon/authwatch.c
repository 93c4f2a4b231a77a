/* The user file behind Basic and NTLM: read, watched (inotify) and
 * reloaded when it changes, the credential cache dropped, and the users
 * removed from it reported (their processes are ended, main.c). */
#include "auth.h"

#include <crypt.h>
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>
#include <dlfcn.h>
#include <gnutls/crypto.h>
#include <pthread.h>
#include <pwd.h>
#include <security/pam_appl.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "base64.h"
#include "server.h"
#include "throttle.h"
#include "userfile.h"
#include "uuid.h"
#include "auth_priv.h"

atomic_ulong *wsmd__auth_changes_of(struct wsmd_auth *a)
{
    atomic_ulong *p = __atomic_load_n(&a->changes_p, __ATOMIC_ACQUIRE);
    return p ? p : &a->changes;
}

static void stamp_of(const char *path, struct fstamp *s)
{
    struct stat st;
    memset(s, 0, sizeof(*s));
    if (stat(path, &st) == 0) {
        s->exists = 1;
        s->dev = st.st_dev;
        s->ino = st.st_ino;
        s->size = st.st_size;
        s->mtime = st.st_mtim;
        s->mode = st.st_mode;
        s->uid = st.st_uid;
    }
}

static int stamp_eq(const struct fstamp *a, const struct fstamp *b)
{
    return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
           a->mode == b->mode && a->uid == b->uid;
}

static void gone_free(struct gone *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->names[i]);
    free(g->names);
    g->names = NULL;
    g->n = 0;
}

/* Called without the lock: the callback may take locks of its own (the
 * shell engine's) and must never run under ours. */
void wsmd__auth_gone_fire(struct wsmd_auth *a, struct gone *g)
{
    for (size_t i = 0; i < g->n; i++) {
        char esc[3 * WSMD_MAX_USER];
        wsmd__log_escape(esc, sizeof(esc), g->names[i]);
        wsmd__log("event=user-removed user=%s", esc);
        if (a->removed_cb)
            a->removed_cb(a->removed_arg, g->names[i]);
    }
    gone_free(g);
}

/* Who is in old and not in new. Best effort under memory pressure: a name
 * that cannot be recorded is only not reported (its credentials are
 * dropped all the same, by the generation). */
static void gone_diff(const struct wsmd_userfile *old, const struct wsmd_userfile *new,
                      struct gone *g)
{
    for (size_t i = 0; i < old->n; i++) {
        if (wsmd__userfile_find(new, old->users[i].name))
            continue;
        char **v = realloc(g->names, (g->n + 1) * sizeof(*v));
        if (!v)
            return;
        g->names = v;
        if ((v[g->n] = strdup(old->users[i].name)))
            g->n++;
    }
}

/* Called with lock held: reload when the sources changed. The first load
 * fails on a file that cannot be trusted or read; a later one keeps the
 * last good users instead (and says why once), so that a bad edit does not
 * lock everyone out. Names that disappeared go to *g. */
enum wsm_err wsmd__auth_refresh(struct wsmd_auth *a, struct gone *g)
{
    struct fstamp now[2];
    if (a->users_path) {
        stamp_of(a->users_path, &now[0]);
        memset(&now[1], 0, sizeof(now[1]));
    } else {
        stamp_of("/etc/passwd", &now[0]);
        stamp_of("/etc/shadow", &now[1]);
    }
    if (a->gen && stamp_eq(&now[0], &a->stamp[0]) && stamp_eq(&now[1], &a->stamp[1]))
        return WSM_OK;
    if (a->users_path) {
        struct wsmd_userfile uf;
        char why[512];
        enum wsm_err e = wsmd__userfile_read(
            a->users_path, WSMD_UF_SKIP_BAD | WSMD_UF_LOG | WSMD_UF_MODE, &uf, why, sizeof(why));
        if (e) {
            wsmd__log("event=userfile-refused message=\"%s\"%s", why[0] ? why : wsm_strerror(e),
                      a->gen ? " action=keep-last-good" : "");
            if (!a->gen)
                return e;
            a->stamp[0] = now[0]; /* not again until the file changes */
            return WSM_OK;
        }
        if (!a->gen && uf.n == 0 && access(a->users_path, F_OK) != 0 && errno == ENOENT)
            /* Read as empty (and watched): say so, or a typo in --users
             * looks like a wrong password. */
            wsmd__log("event=notice message=\"the user file %s does not exist: no password "
                      "login works until a user is added (wsmd user add NAME --users %s)\"",
                      a->users_path, a->users_path);
        if (a->gen && g)
            gone_diff(&a->uf, &uf, g);
        wsmd__userfile_clear(&a->uf);
        a->uf = uf;
    }
    a->stamp[0] = now[0];
    a->stamp[1] = now[1];
    a->gen++; /* drops every cached credential, a removed user's too */
    return WSM_OK;
}

static void *watch_main(void *arg)
{
    struct wsmd_auth *a = arg;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    struct pollfd p[2] = {{a->watch_fd, POLLIN, 0}, {a->stop_fd, POLLIN, 0}};
    for (;;) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents)
            break;
        ssize_t n = read(a->watch_fd, buf, sizeof(buf));
        int any = n <= 0; /* overflow or error: recheck */
        if (n <= 0)
            atomic_fetch_add(wsmd__auth_changes_of(a), 1);
        for (char *q = buf; n > 0 && q < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)q;
            int ours = (ev->mask & IN_Q_OVERFLOW) || !ev->len;
            for (int i = 0; i < 2 && !ours; i++)
                ours = a->watch_names[i][0] && !strcmp(ev->name, a->watch_names[i]);
            if (ours) {
                atomic_fetch_add(wsmd__auth_changes_of(a), 1);
                any = 1;
            }
            q += sizeof(*ev) + ev->len;
        }
        if (any && a->users_path) {
            /* Reload now rather than at the next login: a removed user's
             * shells and processes must not wait for someone to log in. */
            struct gone g = {0};
            pthread_rwlock_wrlock(&a->lock);
            wsmd__auth_refresh(a, &g);
            pthread_rwlock_unlock(&a->lock);
            wsmd__auth_gone_fire(a, &g);
        }
    }
    return NULL;
}

/* Watches the directories of the credential files (editors and our own
 * user file writer replace files by rename, which a watch on the file
 * itself would miss). */
/* Set by a daemon that forks after making its wsmd_auth (privilege
 * separation): a fork must happen with no other thread in the process
 * (one in the middle of an allocation leaves its locks held in the child;
 * ASan's allocator deadlocked so), so the watcher thread starts later. */
static int defer_watcher;

void wsmd__auth_defer_watcher(void)
{
    defer_watcher = 1;
}

void wsmd__auth_start_watcher(struct wsmd_auth *a)
{
    if (!a->watcher_pending)
        return;
    a->watcher_pending = 0;
    if (pthread_create(&a->watcher, NULL, watch_main, a) != 0) {
        /* Every check then looks at the files itself. */
        a->have_watcher = 0;
        close(a->watch_fd);
        close(a->stop_fd);
        a->watch_fd = a->stop_fd = -1;
    }
}

static void watch_start(struct wsmd_auth *a)
{
    const char *files[2] = {a->users_path, NULL};
    if (!a->users_path) {
        files[0] = "/etc/passwd";
        files[1] = "/etc/shadow";
    }
    a->watch_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    a->stop_fd = eventfd(0, EFD_CLOEXEC);
    if (a->watch_fd < 0 || a->stop_fd < 0)
        goto fail;
    for (int i = 0; i < 2 && files[i]; i++) {
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s", files[i]);
        char *slash = strrchr(dir, '/');
        const char *base = slash ? slash + 1 : dir;
        if (strlen(base) >= sizeof(a->watch_names[i]))
            goto fail;
        memcpy(a->watch_names[i], base, strlen(base) + 1);
        if (!slash)
            strcpy(dir, ".");
        else if (slash == dir)
            dir[1] = '\0';
        else
            *slash = '\0';
        if (inotify_add_watch(a->watch_fd, dir,
                              /* Not IN_MODIFY: it fires on every write to any file
                               * in the directory (a log file beside the users
                               * file); writers that close or rename are seen. */
                              IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                                  IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF) < 0)
            goto fail;
    }
    a->have_watcher = 1;
    if (defer_watcher) {
        /* wsmd__auth_start_watcher starts it, once the process has split. */
        a->watcher_pending = 1;
        return;
    }
    if (pthread_create(&a->watcher, NULL, watch_main, a) != 0) {
        a->have_watcher = 0;
        goto fail;
    }
    return;
fail:
    if (a->watch_fd >= 0)
        close(a->watch_fd);
    if (a->stop_fd >= 0)
        close(a->stop_fd);
    a->watch_fd = a->stop_fd = -1;
}

enum wsm_err wsmd__auth_new(const char *users_path, const char *pam_service, struct wsmd_auth **out)
{
    struct wsmd_auth *a = calloc(1, sizeof(*a));
    if (!a)
        return WSM_ERR_NOMEM;
    pthread_rwlock_init(&a->lock, NULL);
    a->watch_fd = a->stop_fd = -1;
    wsm__random(a->secret, sizeof(a->secret));
    a->users_path = users_path ? strdup(users_path) : NULL;
    a->pam_service = strdup(pam_service ? pam_service : "wsmd");
    enum wsm_err e = WSM_ERR_NOMEM;
    if ((users_path && !a->users_path) || !a->pam_service)
        goto fail;

    /* A hash to check unknown users against, so that they take as long
     * as known ones. */
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    char pw[37];
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    if (!cd)
        goto fail;
    wsm__uuid_str(pw);
    const char *h = NULL;
    if (crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof(setting)))
        h = crypt_rn(pw, setting, cd, sizeof(*cd));
    a->dummy_hash = h && h[0] != '*' ? strdup(h) : NULL;
    free(cd);
    if (!a->dummy_hash) {
        e = WSM_ERR_INTERNAL;
        goto fail;
    }
    pthread_rwlock_wrlock(&a->lock);
    e = wsmd__auth_refresh(a, NULL);
    pthread_rwlock_unlock(&a->lock);
    if (e)
        goto fail;
    watch_start(a);
    *out = a;
    return WSM_OK;
fail:
    wsmd__auth_free(a);
    return e;
}

void wsmd__auth_detach_watcher(struct wsmd_auth *a)
{
    a->watcher_elsewhere = 1;
    a->have_watcher = 1; /* the monitor's, through the shared counter */
    /* Forked while another thread may have held it: made anew (no other
     * thread of this process exists yet). */
    pthread_rwlock_init(&a->lock, NULL);
    /* What the monitor's copy had verified is not this process's to
     * trust: the monitor must see each name authenticate again. */
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        a->cache[i].used = 0;
    if (a->watch_fd >= 0)
        close(a->watch_fd);
    if (a->stop_fd >= 0)
        close(a->stop_fd);
    a->watch_fd = a->stop_fd = -1;
}

void wsmd__auth_free(struct wsmd_auth *a)
{
    if (!a)
        return;
    if (a->have_watcher && !a->watcher_elsewhere && !a->watcher_pending) {
        uint64_t one = 1;
        ssize_t w = write(a->stop_fd, &one, sizeof(one));
        (void)w;
        pthread_join(a->watcher, NULL);
    }
    if (a->watch_fd >= 0)
        close(a->watch_fd);
    if (a->stop_fd >= 0)
        close(a->stop_fd);
    wsmd__userfile_clear(&a->uf);
    free(a->users_path);
    free(a->pam_service);
    free(a->dummy_hash);
    pthread_rwlock_destroy(&a->lock);
    explicit_bzero(a, sizeof(*a));
    free(a);
}
