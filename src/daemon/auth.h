/* The authentication gate: Basic credentials checked against the user
 * file or PAM, behind a short-lived cache of verified credentials. */
#ifndef WSMD_AUTH_H
#define WSMD_AUTH_H

#include <stddef.h>

#include "wsm/wsm.h"

struct wsmd_auth;

/* users_path NULL: PAM with pam_service (default "wsmd"). */
enum wsm_err wsmd__auth_new(const char *users_path, const char *pam_service,
                            struct wsmd_auth **out);
void wsmd__auth_free(struct wsmd_auth *a);

/* Parses an Authorization header value "Basic <base64(user:password)>".
 * WSM_ERR_AUTH if it is not Basic or is malformed or too long. */
enum wsm_err wsmd__auth_parse_basic(const char *hdr, char *user, size_t usz, char *pass,
                                    size_t psz);

/* WSM_OK if user/password are valid, WSM_ERR_AUTH if not, another error
 * if the check itself failed. Thread-safe. */
enum wsm_err wsmd__auth_check(struct wsmd_auth *a, const char *user, const char *pass);

/* Privilege separation: every check goes to fn (the monitor), which
 * keeps the user file, PAM and the cache. */
void wsmd__auth_set_remote(struct wsmd_auth *a,
                           enum wsm_err (*fn)(void *arg, const char *user, const char *pass,
                                              const char **why),
                           void *arg);

/* Before the split: the counter of changes seen by the watcher thread
 * moves to memory shared with the network process, whose cache of the
 * monitor's answers it invalidates. */
enum wsm_err wsmd__auth_share_changes(struct wsmd_auth *a);
/* In the network process (a fork): the watcher thread and its descriptors
 * are the monitor's; this copy neither stops nor joins it. */
void wsmd__auth_detach_watcher(struct wsmd_auth *a);
/* Before wsmd__auth_new, in a daemon that will fork: the watcher thread
 * waits for wsmd__auth_start_watcher (after the fork, in the process that
 * keeps it). */
void wsmd__auth_defer_watcher(void);
void wsmd__auth_start_watcher(struct wsmd_auth *a);

/* As wsmd__auth_check; on WSM_ERR_AUTH *why (may be NULL) says why for
 * the log: bad-password, unknown-user, malformed, uid0-without-AllowRoot. */
enum wsm_err wsmd__auth_verify(struct wsmd_auth *a, const char *user, const char *pass,
                               const char **why);

/* 1 if user/pass are in the cache of verified credentials (a check
 * would take a microsecond), 0 if a check would have to hash or ask PAM. */
int wsmd__auth_cached(struct wsmd_auth *a, const char *user, const char *pass);

/* uid 0 from any authentication path needs AllowRoot (config): without it
 * a user named root (or, when wsmd runs as root, any account of uid 0) is
 * refused before its password is checked. Default: refused. */
void wsmd__auth_set_root_policy(struct wsmd_auth *a, int allow_root, int is_root);
/* 1 if user is root: named "root", or (is_root: sessions run as the named
 * account) an account of uid 0 in /etc/passwd, or, with use_nss (PAM, where
 * the accounts are NSS's anyway), of uid 0 by getpwnam. */
int wsmd__auth_is_root(const char *user, int is_root, int use_nss);

/* fn(arg, name) is called for each name that disappears from the user file
 * when it is reloaded (on the watcher thread, or the thread of the login
 * that noticed the change; never under the auth lock). Every cached
 * credential is dropped at any reload, so a removed user's cached password
 * stops working at once. */
void wsmd__auth_set_removed_cb(struct wsmd_auth *a, void (*fn)(void *arg, const char *user),
                               void *arg);
/* Rereads the sources now if they changed (tests; the watcher does it). */
void wsmd__auth_reload(struct wsmd_auth *a);

/* For tests and logs: cache hits and misses so far. */
void wsmd__auth_stats(struct wsmd_auth *a, unsigned long *hits, unsigned long *misses);

#endif
