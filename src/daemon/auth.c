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

/* Verified credentials are remembered for a short while so that clients
 * are not re-hashed on every request (one yescrypt check costs
 * milliseconds). Entries are keyed by HMAC-SHA256(secret, user NUL
 * password): the password itself is never stored, and the secret is
 * random per process. Any change to the user file (or to /etc/passwd and
 * /etc/shadow under PAM) bumps the generation and drops every entry. */
#define CACHE_SLOTS 1024
#define CACHE_TTL_SEC 60

struct centry {
    unsigned char key[32];
    unsigned long gen;
    time_t expires;
    int used;
};

struct fstamp {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    mode_t mode; /* a chmod or chown alone changes whether the file is trusted */
    uid_t uid;
    int exists;
};

/* Names that left the user file at a reload, for the removed callback. */
struct gone {
    char **names;
    size_t n;
};

struct wsmd_auth {
    char *users_path; /* NULL: PAM */
    char *pam_service;
    unsigned char secret[32];
    char *dummy_hash;

    /* Changes to the watched files are noticed by a thread on inotify,
     * so that a request does not stat() them: it compares this counter
     * with the one it saw last. Without inotify, every request checks. */
    atomic_ulong changes;
    /* &changes, or a page shared with the network process of a
     * privilege-separated daemon (wsmd__auth_share_changes). */
    atomic_ulong *changes_p;
    unsigned long changes_seen; /* under lock (write) */
    int watch_fd;               /* inotify, or -1 */
    int stop_fd;                /* eventfd that stops the watcher */
    pthread_t watcher;
    int have_watcher;
    int watcher_elsewhere;    /* a forked copy: the thread is the parent's */
    int watcher_pending;      /* set up, the thread not started yet (deferred) */
    char watch_names[2][256]; /* base names of the files watched */

    pthread_rwlock_t lock; /* guards everything below */
    unsigned long gen;
    struct fstamp stamp[2];
    struct wsmd_userfile uf;
    struct centry cache[CACHE_SLOTS];
    atomic_ulong hits, misses;

    enum wsm_err (*remote)(void *arg, const char *user, const char *pass, const char **why);
    void *remote_arg;
    /* uid 0 from any authentication path needs AllowRoot. */
    int allow_root;
    int is_root;

    void (*removed_cb)(void *arg, const char *user);
    void *removed_arg;
};

static atomic_ulong *changes_of(struct wsmd_auth *a)
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
static void gone_fire(struct wsmd_auth *a, struct gone *g)
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
static enum wsm_err refresh(struct wsmd_auth *a, struct gone *g)
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
            atomic_fetch_add(changes_of(a), 1);
        for (char *q = buf; n > 0 && q < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)q;
            int ours = (ev->mask & IN_Q_OVERFLOW) || !ev->len;
            for (int i = 0; i < 2 && !ours; i++)
                ours = a->watch_names[i][0] && !strcmp(ev->name, a->watch_names[i]);
            if (ours) {
                atomic_fetch_add(changes_of(a), 1);
                any = 1;
            }
            q += sizeof(*ev) + ev->len;
        }
        if (any && a->users_path) {
            /* Reload now rather than at the next login: a removed user's
             * shells and processes must not wait for someone to log in. */
            struct gone g = {0};
            pthread_rwlock_wrlock(&a->lock);
            refresh(a, &g);
            pthread_rwlock_unlock(&a->lock);
            gone_fire(a, &g);
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
    e = refresh(a, NULL);
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

enum wsm_err wsmd__auth_parse_basic(const char *hdr, char *user, size_t usz, char *pass, size_t psz)
{
    unsigned char raw[WSMD_MAX_USER + WSMD_MAX_PASSWORD + 2];
    size_t n;
    if (!hdr || strncasecmp(hdr, "Basic", 5) != 0 || (hdr[5] != ' ' && hdr[5] != '\t'))
        return WSM_ERR_AUTH;
    hdr += 6;
    while (*hdr == ' ' || *hdr == '\t')
        hdr++;
    size_t len = strlen(hdr);
    while (len && (hdr[len - 1] == ' ' || hdr[len - 1] == '\t'))
        len--;
    if (len == 0 || len > wsm__base64_enclen(sizeof(raw)))
        return WSM_ERR_AUTH;
    if (wsm__base64_decode(hdr, len, raw, sizeof(raw) - 1, &n) != WSM_OK)
        return WSM_ERR_AUTH;
    raw[n] = '\0';
    if (memchr(raw, '\0', n))
        goto bad;
    unsigned char *colon = memchr(raw, ':', n);
    if (!colon)
        goto bad;
    size_t ul = (size_t)(colon - raw), pl = n - ul - 1;
    if (ul == 0 || ul >= usz || pl >= psz)
        goto bad;
    memcpy(user, raw, ul);
    user[ul] = '\0';
    memcpy(pass, colon + 1, pl);
    pass[pl] = '\0';
    explicit_bzero(raw, sizeof(raw));
    return WSM_OK;
bad:
    explicit_bzero(raw, sizeof(raw));
    return WSM_ERR_AUTH;
}

struct conv_data {
    const char *password;
};

static int pam_conv_fn(int num, const struct pam_message **msg, struct pam_response **resp,
                       void *appdata)
{
    struct conv_data *cd = appdata;
    if (num <= 0 || num > PAM_MAX_NUM_MSG)
        return PAM_CONV_ERR;
    struct pam_response *r = calloc((size_t)num, sizeof(*r));
    if (!r)
        return PAM_BUF_ERR;
    for (int i = 0; i < num; i++) {
        switch (msg[i]->msg_style) {
        case PAM_PROMPT_ECHO_OFF:
            r[i].resp = strdup(cd->password);
            if (!r[i].resp)
                goto fail;
            break;
        case PAM_PROMPT_ECHO_ON:
            goto fail; /* no interactive questions over WinRM */
        default:
            break; /* informational text */
        }
    }
    *resp = r;
    return PAM_SUCCESS;
fail:
    for (int i = 0; i < num; i++) {
        if (r[i].resp) {
            explicit_bzero(r[i].resp, strlen(r[i].resp));
            free(r[i].resp);
        }
    }
    free(r);
    return PAM_CONV_ERR;
}

/* libpam is loaded on first use: a daemon on its user file never maps it
 * (nor libaudit and libcap-ng behind it). */
static struct {
    int (*start)(const char *, const char *, const struct pam_conv *, pam_handle_t **);
    int (*authenticate)(pam_handle_t *, int);
    int (*acct_mgmt)(pam_handle_t *, int);
    int (*end)(pam_handle_t *, int);
    int (*set_item)(pam_handle_t *, int, const void *);
} pam;
static pthread_once_t pam_once = PTHREAD_ONCE_INIT;
static int pam_loaded;

static void pam_load(void)
{
    void *h = dlopen("libpam.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return;
    *(void **)&pam.start = dlsym(h, "pam_start");
    *(void **)&pam.authenticate = dlsym(h, "pam_authenticate");
    *(void **)&pam.acct_mgmt = dlsym(h, "pam_acct_mgmt");
    *(void **)&pam.end = dlsym(h, "pam_end");
    *(void **)&pam.set_item = dlsym(h, "pam_set_item");
    pam_loaded = pam.start && pam.authenticate && pam.acct_mgmt && pam.end && pam.set_item;
}

/* PAM_FAIL_DELAY: libpam calls this instead of sleeping after a failed
 * pam_authenticate (pam_unix asks for ~2 s). A sleep there would hold a
 * worker thread and every connection on it; throttle.c refuses repeated
 * failures at once instead. */
static void no_fail_delay(int retval, unsigned usec_delay, void *appdata)
{
    (void)retval;
    (void)usec_delay;
    (void)appdata;
}

/* No global lock: each call has its own PAM handle, and pam_unix (and
 * libpam) only use reentrant lookups (getpwnam_r, getspnam_r, crypt_r) on
 * per-handle state. Serializing them made one wrong password stall every
 * other login behind its fail delay. */
static int pam_check(struct wsmd_auth *a, const char *user, const char *pass)
{
    struct conv_data cd = {pass};
    struct pam_conv conv = {pam_conv_fn, &cd};
    pam_handle_t *h = NULL;
    int ok = 0;
    (void)a;
    pthread_once(&pam_once, pam_load);
    if (!pam_loaded) {
        wsmd__log("event=auth-error error=\"libpam.so.0 cannot be loaded\"");
        return 0;
    }
    int r = pam.start(a->pam_service, user, &conv, &h);
    if (r == PAM_SUCCESS)
        r = pam.set_item(h, PAM_FAIL_DELAY, (const void *)no_fail_delay);
    if (r == PAM_SUCCESS)
        r = pam.authenticate(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
    if (r == PAM_SUCCESS)
        r = pam.acct_mgmt(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
    ok = r == PAM_SUCCESS;
    if (h)
        pam.end(h, r);
    return ok;
}

void wsmd__auth_set_remote(struct wsmd_auth *a,
                           enum wsm_err (*fn)(void *arg, const char *user, const char *pass,
                                              const char **why),
                           void *arg)
{
    a->remote = fn;
    a->remote_arg = arg;
}

enum wsm_err wsmd__auth_share_changes(struct wsmd_auth *a)
{
    atomic_ulong *p =
        mmap(NULL, sizeof(*p), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return WSM_ERR_NOMEM;
    atomic_store(p, atomic_load(&a->changes) + 1);
    __atomic_store_n(&a->changes_p, p, __ATOMIC_RELEASE);
    return WSM_OK;
}

/* A separated daemon's network process: the monitor checks, this process
 * keeps the answers it got, as long as the monitor's watcher sees no
 * change to the user file (or /etc/passwd, /etc/shadow) and for at most
 * CACHE_TTL_SEC. */
static enum wsm_err remote_check(struct wsmd_auth *a, const unsigned char key[32], size_t slot,
                                 const char *user, const char *pass, const char **why)
{
    time_t now = time(NULL);
    unsigned long ch = atomic_load(changes_of(a));
    if (a->have_watcher) {
        pthread_rwlock_rdlock(&a->lock);
        struct centry *hc = &a->cache[slot];
        int hit =
            ch == a->changes_seen && hc->used && hc->expires > now && memcmp(hc->key, key, 32) == 0;
        pthread_rwlock_unlock(&a->lock);
        if (hit) {
            atomic_fetch_add(&a->hits, 1);
            return WSM_OK;
        }
    }
    atomic_fetch_add(&a->misses, 1);
    enum wsm_err e = a->remote(a->remote_arg, user, pass, why);
    if (e != WSM_OK || !a->have_watcher)
        return e;
    pthread_rwlock_wrlock(&a->lock);
    if (ch != a->changes_seen) {
        /* Something changed: everything cached before goes. */
        for (size_t i = 0; i < CACHE_SLOTS; i++)
            a->cache[i].used = 0;
        a->changes_seen = ch;
    }
    struct centry *c = &a->cache[slot];
    memcpy(c->key, key, 32);
    c->gen = a->gen;
    c->expires = now + CACHE_TTL_SEC;
    c->used = 1;
    pthread_rwlock_unlock(&a->lock);
    return WSM_OK;
}

void wsmd__auth_set_removed_cb(struct wsmd_auth *a, void (*fn)(void *arg, const char *user),
                               void *arg)
{
    pthread_rwlock_wrlock(&a->lock);
    a->removed_cb = fn;
    a->removed_arg = arg;
    pthread_rwlock_unlock(&a->lock);
}

void wsmd__auth_set_root_policy(struct wsmd_auth *a, int allow_root, int is_root)
{
    pthread_rwlock_wrlock(&a->lock);
    a->allow_root = allow_root;
    a->is_root = is_root;
    pthread_rwlock_unlock(&a->lock);
}

int wsmd__auth_is_root(const char *user, int is_root, int use_nss)
{
    if (strcmp(user, "root") == 0)
        return 1;
    if (!is_root)
        return 0; /* every session runs as wsmd's own account */
    /* /etc/passwd first, read as a file: an alias of uid 0 ("toor") lives
     * there, and this loads no NSS module (libnss_systemd and what it pulls
     * in cost some 400 KB of a daemon that otherwise never needs them). */
    struct passwd pw, *res = NULL;
    char buf[4096];
    FILE *f = fopen("/etc/passwd", "re");
    int found = -1;
    if (f) {
        while (found < 0 && fgetpwent_r(f, &pw, buf, sizeof(buf), &res) == 0 && res)
            if (strcmp(res->pw_name, user) == 0)
                found = res->pw_uid == 0;
        fclose(f);
    }
    if (found >= 0)
        return found;
    if (!use_nss)
        return 0;
    return getpwnam_r(user, &pw, buf, sizeof(buf), &res) == 0 && res && res->pw_uid == 0;
}

void wsmd__auth_reload(struct wsmd_auth *a)
{
    struct gone g = {0};
    pthread_rwlock_wrlock(&a->lock);
    refresh(a, &g);
    pthread_rwlock_unlock(&a->lock);
    gone_fire(a, &g);
}

enum wsm_err wsmd__auth_check(struct wsmd_auth *a, const char *user, const char *pass)
{
    return wsmd__auth_verify(a, user, pass, NULL);
}

/* The cache key of user and pass: 0, or -1. */
static int cache_key(struct wsmd_auth *a, const char *user, const char *pass, unsigned char key[32])
{
    size_t ul = strlen(user), pl = strlen(pass);
    unsigned char *msg = malloc(ul + 1 + pl);
    if (!msg)
        return -1;
    memcpy(msg, user, ul + 1);
    memcpy(msg + ul + 1, pass, pl);
    int r =
        gnutls_hmac_fast(GNUTLS_MAC_SHA256, a->secret, sizeof(a->secret), msg, ul + 1 + pl, key);
    explicit_bzero(msg, ul + 1 + pl);
    free(msg);
    return r ? -1 : 0;
}

int wsmd__auth_cached(struct wsmd_auth *a, const char *user, const char *pass)
{
    unsigned char key[32];
    size_t pl = strlen(pass);
    if (!a->have_watcher || !wsmd__username_ok(user) || pl == 0 || pl >= WSMD_MAX_PASSWORD ||
        cache_key(a, user, pass, key))
        return 0;
    size_t slot = ((size_t)key[0] << 8 | key[1]) % CACHE_SLOTS;
    time_t now = time(NULL);
    unsigned long ch = atomic_load(changes_of(a));
    pthread_rwlock_rdlock(&a->lock);
    struct centry *hc = &a->cache[slot];
    int hit = ch == a->changes_seen && hc->used && hc->gen == a->gen && hc->expires > now &&
              memcmp(hc->key, key, 32) == 0;
    pthread_rwlock_unlock(&a->lock);
    explicit_bzero(key, sizeof(key));
    if (hit)
        atomic_fetch_add(&a->hits, 1);
    return hit;
}

enum wsm_err wsmd__auth_verify(struct wsmd_auth *a, const char *user, const char *pass,
                               const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    *why = "bad-password";
    size_t ul = strlen(user), pl = strlen(pass);
    unsigned char key[32];
    enum wsm_err e;

    if (!wsmd__username_ok(user) || pl == 0 || pl >= WSMD_MAX_PASSWORD) {
        *why = "malformed";
        return WSM_ERR_AUTH; /* empty passwords are never accepted */
    }
    (void)ul;
    if (cache_key(a, user, pass, key))
        return WSM_ERR_INTERNAL;

    size_t slot = ((size_t)key[0] << 8 | key[1]) % CACHE_SLOTS;
    if (a->remote) {
        e = remote_check(a, key, slot, user, pass, why);
        explicit_bzero(key, sizeof(key));
        return e;
    }
    time_t now = time(NULL);
    char *hash = NULL;
    unsigned long gen;

    /* Fast path: nothing changed on disk, the credentials are cached. */
    unsigned long ch = atomic_load(changes_of(a));
    if (a->have_watcher) {
        pthread_rwlock_rdlock(&a->lock);
        struct centry *hc = &a->cache[slot];
        int hit = ch == a->changes_seen && hc->used && hc->gen == a->gen && hc->expires > now &&
                  memcmp(hc->key, key, 32) == 0;
        pthread_rwlock_unlock(&a->lock);
        if (hit) {
            atomic_fetch_add(&a->hits, 1);
            explicit_bzero(key, sizeof(key));
            return WSM_OK;
        }
    }

    struct gone g = {0};
    pthread_rwlock_wrlock(&a->lock);
    e = refresh(a, &g);
    if (e) {
        pthread_rwlock_unlock(&a->lock);
        gone_fire(a, &g);
        return e;
    }
    a->changes_seen = ch;
    gen = a->gen;
    int allow_root = a->allow_root, is_root = a->is_root;
    struct centry *c = &a->cache[slot];
    if (c->used && c->gen == gen && c->expires > now && memcmp(c->key, key, 32) == 0) {
        atomic_fetch_add(&a->hits, 1);
        pthread_rwlock_unlock(&a->lock);
        gone_fire(a, &g);
        explicit_bzero(key, sizeof(key));
        return WSM_OK;
    }
    atomic_fetch_add(&a->misses, 1);
    if (!allow_root && wsmd__auth_is_root(user, is_root, !a->users_path)) {
        /* Refused before any password check: guessing root's password
         * here costs nothing and learns nothing. */
        pthread_rwlock_unlock(&a->lock);
        gone_fire(a, &g);
        explicit_bzero(key, sizeof(key));
        *why = "uid0-without-AllowRoot";
        return WSM_ERR_AUTH;
    }
    if (a->users_path) {
        const struct wsmd_user *u = wsmd__userfile_find(&a->uf, user);
        hash = strdup(u ? u->hash : a->dummy_hash);
        if (!hash) {
            pthread_rwlock_unlock(&a->lock);
            gone_fire(a, &g);
            return WSM_ERR_NOMEM;
        }
        if (!u) {
            /* Unknown user: spend the same time, then fail. */
            pthread_rwlock_unlock(&a->lock);
            gone_fire(a, &g);
            *why = "unknown-user";
            wsmd__password_check(pass, hash);
            free(hash);
            explicit_bzero(key, sizeof(key));
            return WSM_ERR_AUTH;
        }
    }
    pthread_rwlock_unlock(&a->lock);
    gone_fire(a, &g);

    /* The expensive part runs without the lock. */
    int ok = hash ? wsmd__password_check(pass, hash) : pam_check(a, user, pass);
    free(hash);
    if (!ok) {
        explicit_bzero(key, sizeof(key));
        return WSM_ERR_AUTH;
    }

    pthread_rwlock_wrlock(&a->lock);
    if (a->gen == gen) {
        c = &a->cache[slot];
        memcpy(c->key, key, 32);
        c->gen = gen;
        c->expires = now + CACHE_TTL_SEC;
        c->used = 1;
    }
    pthread_rwlock_unlock(&a->lock);
    explicit_bzero(key, sizeof(key));
    return WSM_OK;
}

void wsmd__auth_stats(struct wsmd_auth *a, unsigned long *hits, unsigned long *misses)
{
    *hits = atomic_load(&a->hits);
    *misses = atomic_load(&a->misses);
}
