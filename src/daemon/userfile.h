/* The embedded user file: one "name:hash" line per user, where hash is a
 * crypt(3) string (yescrypt by default, sha512-crypt accepted). Further
 * colon-separated fields are kept as they are. wsmd user add writes what
 * NTLM needs there, in smbpasswd's places, so that gss-ntlmssp reads the
 * same file (cred store key ntlmssp_keyfile) as NAME:UID:LM:NT:FLAGS:
 *   name:$y$...:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:<NT hash, 32 hex>:[U          ]:
 * (the crypt hash stands in smbpasswd's UID field; no LM hash). */
#ifndef WSMD_USERFILE_H
#define WSMD_USERFILE_H

#include <stddef.h>

#include "wsm/wsm.h"

#define WSMD_MAX_USER 256
/* An authenticated name that need not be a local account (collector). */
#define WSMD_MAX_PRINCIPAL 256
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

/* A missing file loads as empty. Malformed lines are an error (the CLI,
 * which rewrites the file, must not drop them). */
enum wsm_err wsmd__userfile_load(const char *path, struct wsmd_userfile *uf);

/* Flags of wsmd__userfile_read. */
#define WSMD_UF_SKIP_BAD 1u /* skip a malformed line (or a user twice) instead of failing */
#define WSMD_UF_LOG 2u      /* log each skipped line (number, never its text) */
#define WSMD_UF_MODE 4u     /* refuse a file others may write or read (see below) */
/* What the daemon reads. With WSMD_UF_MODE the file (it holds NT hashes,
 * which are password-equivalent) must be owned by the daemon's euid or
 * root, and not be group-writable nor world-readable or -writable:
 * otherwise WSM_ERR_ACCESS_DENIED, said in why[] (may be NULL). */
enum wsm_err wsmd__userfile_read(const char *path, unsigned flags, struct wsmd_userfile *uf,
                                 char *why, size_t whylen);
/* Written to a temporary file in the same directory (mode 0600), synced,
 * then renamed over path. */
enum wsm_err wsmd__userfile_save(const char *path, const struct wsmd_userfile *uf);
void wsmd__userfile_clear(struct wsmd_userfile *uf);
const struct wsmd_user *wsmd__userfile_find(const struct wsmd_userfile *uf, const char *name);
/* Adds or replaces name with a fresh yescrypt hash of password, and the
 * NT hash fields when password is valid UTF-8 (else no NTLM for name). */
enum wsm_err wsmd__userfile_set(struct wsmd_userfile *uf, const char *name, const char *password);
/* WSM_ERR_NOT_FOUND if absent. */
enum wsm_err wsmd__userfile_del(struct wsmd_userfile *uf, const char *name);
/* 1 if password matches hash (constant-time compare of the results). */
int wsmd__password_check(const char *password, const char *hash);
/* The NT hash of password (MD4 of its UTF-16LE form) as 32 upper-case hex
 * digits: 1, or 0 if password is not valid UTF-8 or too long. */
int wsmd__nthash_hex(const char *password, char out[33]);
/* 1 if u's line carries an NT hash where gss-ntlmssp reads it. */
int wsmd__userfile_has_nthash(const struct wsmd_user *u);
/* 1 if name is acceptable as a user name (no ':', no control chars). */
int wsmd__username_ok(const char *name);

#endif
