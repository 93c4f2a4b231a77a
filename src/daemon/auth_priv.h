/* Between auth.c (Basic, PAM, the credential cache, root) and authwatch.c
 * (the user file read, watched and reloaded; users removed from it). */
#ifndef WSMD_AUTH_PRIV_H
#define WSMD_AUTH_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>

#include "auth.h"
#include "userfile.h"

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

atomic_ulong *wsmd__auth_changes_of(struct wsmd_auth *a);
/* Called without the lock: the callback may take locks of its own (the
 * shell engine's) and must never run under ours. */
void wsmd__auth_gone_fire(struct wsmd_auth *a, struct gone *g);
/* Called with lock held: reload when the sources changed. The first load
 * fails on a file that cannot be trusted or read; a later one keeps the
 * last good users instead (and says why once), so that a bad edit does not
 * lock everyone out. Names that disappeared go to *g. */
enum wsm_err wsmd__auth_refresh(struct wsmd_auth *a, struct gone *g);

#endif
