/* The embedded user file: one "name:hash" line per user, where hash is a
 * crypt(3) string (yescrypt by default, sha512-crypt accepted). Further
 * colon-separated fields are kept as they are (reserved for NTLM). */
#ifndef WSMD_USERFILE_H
#define WSMD_USERFILE_H

#include <stddef.h>

#include "wsm/wsm.h"

#define WSMD_MAX_USER 256
#define WSMD_MAX_PASSWORD 512

struct wsmd_user {
    char *name;
    char *hash;
    char *rest; /* the fields after the hash, or NULL */
};

struct wsmd_userfile {
    struct wsmd_user *users;
    size_t n;
};

/* A missing file loads as empty. Malformed lines are an error. */
enum wsm_err wsmd__userfile_load(const char *path, struct wsmd_userfile *uf);
/* Written to a temporary file in the same directory (mode 0600), synced,
 * then renamed over path. */
enum wsm_err wsmd__userfile_save(const char *path, const struct wsmd_userfile *uf);
void wsmd__userfile_clear(struct wsmd_userfile *uf);
const struct wsmd_user *wsmd__userfile_find(const struct wsmd_userfile *uf, const char *name);
/* Adds or replaces name with a fresh yescrypt hash of password. */
enum wsm_err wsmd__userfile_set(struct wsmd_userfile *uf, const char *name, const char *password);
/* WSM_ERR_NOT_FOUND if absent. */
enum wsm_err wsmd__userfile_del(struct wsmd_userfile *uf, const char *name);
/* 1 if password matches hash (constant-time compare of the results). */
int wsmd__password_check(const char *password, const char *hash);
/* 1 if name is acceptable as a user name (no ':', no control chars). */
int wsmd__username_ok(const char *name);

#endif
