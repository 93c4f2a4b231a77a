/* Basic authentication: the header parsed, the password checked against
 * the user file or PAM (off the HTTP workers, authq.c), verified
 * credentials cached, uid 0 only with AllowRoot. The user file is watched
 * and reloaded in authwatch.c (auth_priv.h). */
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
    unsigned long ch = atomic_load(wsmd__auth_changes_of(a));
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
    wsmd__auth_refresh(a, &g);
    pthread_rwlock_unlock(&a->lock);
    wsmd__auth_gone_fire(a, &g);
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
    unsigned long ch = atomic_load(wsmd__auth_changes_of(a));
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
    unsigned long ch = atomic_load(wsmd__auth_changes_of(a));
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
    e = wsmd__auth_refresh(a, &g);
    if (e) {
        pthread_rwlock_unlock(&a->lock);
        wsmd__auth_gone_fire(a, &g);
        return e;
    }
    a->changes_seen = ch;
    gen = a->gen;
    int allow_root = a->allow_root, is_root = a->is_root;
    struct centry *c = &a->cache[slot];
    if (c->used && c->gen == gen && c->expires > now && memcmp(c->key, key, 32) == 0) {
        atomic_fetch_add(&a->hits, 1);
        pthread_rwlock_unlock(&a->lock);
        wsmd__auth_gone_fire(a, &g);
        explicit_bzero(key, sizeof(key));
        return WSM_OK;
    }
    atomic_fetch_add(&a->misses, 1);
    if (!allow_root && wsmd__auth_is_root(user, is_root, !a->users_path)) {
        /* Refused before any password check: guessing root's password
         * here costs nothing and learns nothing. */
        pthread_rwlock_unlock(&a->lock);
        wsmd__auth_gone_fire(a, &g);
        explicit_bzero(key, sizeof(key));
        *why = "uid0-without-AllowRoot";
        return WSM_ERR_AUTH;
    }
    if (a->users_path) {
        const struct wsmd_user *u = wsmd__userfile_find(&a->uf, user);
        hash = strdup(u ? u->hash : a->dummy_hash);
        if (!hash) {
            pthread_rwlock_unlock(&a->lock);
            wsmd__auth_gone_fire(a, &g);
            return WSM_ERR_NOMEM;
        }
        if (!u) {
            /* Unknown user: spend the same time, then fail. */
            pthread_rwlock_unlock(&a->lock);
            wsmd__auth_gone_fire(a, &g);
            *why = "unknown-user";
            wsmd__password_check(pass, hash);
            free(hash);
            explicit_bzero(key, sizeof(key));
            return WSM_ERR_AUTH;
        }
    }
    pthread_rwlock_unlock(&a->lock);
    wsmd__auth_gone_fire(a, &g);

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
