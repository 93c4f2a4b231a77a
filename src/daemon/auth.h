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
                           enum wsm_err (*fn)(void *arg, const char *user, const char *pass),
                           void *arg);

/* Before the split: the counter of changes seen by the watcher thread
 * moves to memory shared with the network process, whose cache of the
 * monitor's answers it invalidates. */
enum wsm_err wsmd__auth_share_changes(struct wsmd_auth *a);

/* For tests and logs: cache hits and misses so far. */
void wsmd__auth_stats(struct wsmd_auth *a, unsigned long *hits, unsigned long *misses);

#endif
