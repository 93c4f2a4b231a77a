#include "userfile.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <nettle/md4.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server.h"

int wsmd__username_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= WSMD_MAX_USER)
        return 0;
    if (name[0] == '#')
        return 0; /* would read back as a comment */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == ':')
            return 0;
    return 1;
}

void wsmd__userfile_clear(struct wsmd_userfile *uf)
{
    for (size_t i = 0; i < uf->n; i++) {
        free(uf->users[i].name);
        free(uf->users[i].hash);
        free(uf->users[i].rest);
    }
    free(uf->users);
    uf->users = NULL;
    uf->n = 0;
}

static enum wsm_err push(struct wsmd_userfile *uf, const char *name, const char *hash,
                         const char *rest)
{
    struct wsmd_user *u = realloc(uf->users, (uf->n + 1) * sizeof(*u));
    if (!u)
        return WSM_ERR_NOMEM;
    uf->users = u;
    u = &uf->users[uf->n];
    u->name = strdup(name);
    u->hash = strdup(hash);
    u->rest = rest ? strdup(rest) : NULL;
    if (!u->name || !u->hash || (rest && !u->rest)) {
        free(u->name);
        free(u->hash);
        free(u->rest);
        return WSM_ERR_NOMEM;
    }
    uf->n++;
    return WSM_OK;
}

/* Whether the file is safe to trust: fstat of the open file, so that what
 * is checked is what is read. */
static enum wsm_err mode_ok(int fd, const char *path, char *why, size_t whylen)
{
    struct stat st;
    const char *bad = NULL;
    if (fstat(fd, &st) != 0)
        bad = "cannot be examined (fstat)";
    else if (!S_ISREG(st.st_mode))
        bad = "is not a regular file";
    else if (st.st_uid != geteuid() && st.st_uid != 0)
        bad = "is owned by another user than wsmd's or root";
    else if (st.st_mode & (S_IWGRP | S_IWOTH))
        bad = "is writable by other users (chmod 600)";
    else if (st.st_mode & S_IROTH)
        bad = "is readable by everyone: it holds NT hashes (chmod 600)";
    if (!bad)
        return WSM_OK;
    if (why && whylen)
        snprintf(why, whylen, "%s %s", path, bad);
    return WSM_ERR_ACCESS_DENIED;
}

enum wsm_err wsmd__userfile_read(const char *path, unsigned flags, struct wsmd_userfile *uf,
                                 char *why, size_t whylen)
{
    struct wsmd_userfile tmp = {0};
    if (why && whylen)
        why[0] = '\0';
    FILE *f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT) {
            *uf = tmp;
            return WSM_OK;
        }
        if (why && whylen)
            snprintf(why, whylen, "%s cannot be opened: %s", path, strerror(errno));
        return WSM_ERR_IO;
    }
    if (flags & WSMD_UF_MODE) {
        enum wsm_err me = mode_ok(fileno(f), path, why, whylen);
        if (me) {
            fclose(f);
            return me;
        }
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned long lineno = 0;
    enum wsm_err e = WSM_OK;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0 || line[0] == '#')
            continue;
        char *c1 = strchr(line, ':');
        const char *bad = NULL;
        char *hash = NULL, *rest = NULL;
        if (!c1) {
            bad = "no ':' after the user name";
        } else {
            *c1 = '\0';
            hash = c1 + 1;
            char *c2 = strchr(hash, ':');
            if (c2) {
                *c2 = '\0';
                rest = c2 + 1;
            }
            if (!wsmd__username_ok(line))
                bad = "invalid user name";
            else if (!*hash)
                bad = "empty password hash";
            else if (wsmd__userfile_find(&tmp, line))
                bad = "the user is on an earlier line already"; /* the first one wins */
        }
        if (bad) {
            /* One bad line must not lock every user out: the daemon skips
             * it, and says which line (never its text: it may hold a hash
             * or a password pasted by mistake). */
            if (!(flags & WSMD_UF_SKIP_BAD)) {
                if (why && whylen)
                    snprintf(why, whylen, "%s line %lu: %s", path, lineno, bad);
                e = WSM_ERR_INVALID_ARG;
                break;
            }
            if (flags & WSMD_UF_LOG)
                wsmd__log("event=userfile-skip file=%s line=%lu reason=\"%s\"", path, lineno, bad);
            continue;
        }
        if ((e = push(&tmp, line, hash, rest)))
            break;
    }
    if (!e && ferror(f))
        e = WSM_ERR_IO;
    if (line)
        explicit_bzero(line, cap);
    free(line);
    fclose(f);
    if (e) {
        wsmd__userfile_clear(&tmp);
        return e;
    }
    *uf = tmp;
    return WSM_OK;
}

enum wsm_err wsmd__userfile_load(const char *path, struct wsmd_userfile *uf)
{
    return wsmd__userfile_read(path, 0, uf, NULL, 0);
}

enum wsm_err wsmd__userfile_save(const char *path, const struct wsmd_userfile *uf)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp)
        return WSM_ERR_NOMEM;
    snprintf(tmp, plen + 16, "%s.tmpXXXXXX", path);
    mode_t old = umask(077);
    int fd = mkstemp(tmp);
    umask(old);
    if (fd < 0) {
        free(tmp);
        return WSM_ERR_IO;
    }
    enum wsm_err e = WSM_OK;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        e = WSM_ERR_IO;
        goto out;
    }
    if (fchmod(fd, 0600) != 0)
        e = WSM_ERR_IO;
    for (size_t i = 0; !e && i < uf->n; i++) {
        const struct wsmd_user *u = &uf->users[i];
        if (fprintf(f, "%s:%s%s%s\n", u->name, u->hash, u->rest ? ":" : "",
                    u->rest ? u->rest : "") < 0)
            e = WSM_ERR_IO;
    }
    if (!e && fflush(f) != 0)
        e = WSM_ERR_IO;
    if (!e && fsync(fd) != 0)
        e = WSM_ERR_IO;
    if (fclose(f) != 0 && !e)
        e = WSM_ERR_IO;
    if (!e && rename(tmp, path) != 0)
        e = WSM_ERR_IO;
    if (!e) {
        /* Make the rename itself durable. */
        char *dir = strdup(path);
        if (dir) {
            char *slash = strrchr(dir, '/');
            const char *d = slash ? (slash == dir ? "/" : (*slash = '\0', dir)) : ".";
            int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
            }
            free(dir);
        }
    }
out:
    if (e)
        unlink(tmp);
    free(tmp);
    return e;
}

const struct wsmd_user *wsmd__userfile_find(const struct wsmd_userfile *uf, const char *name)
{
    for (size_t i = 0; i < uf->n; i++)
        if (strcmp(uf->users[i].name, name) == 0)
            return &uf->users[i];
    return NULL;
}

/* UTF-8 to UTF-16LE, as NTLM hashes passwords. 0 on invalid UTF-8. */
static size_t utf16le(const char *s, unsigned char *out, size_t cap)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    while (*p) {
        uint32_t c;
        int n;
        if (p[0] < 0x80) {
            c = p[0];
            n = 0;
        } else if ((p[0] & 0xe0) == 0xc0) {
            c = p[0] & 0x1fu;
            n = 1;
        } else if ((p[0] & 0xf0) == 0xe0) {
            c = p[0] & 0x0fu;
            n = 2;
        } else if ((p[0] & 0xf8) == 0xf0) {
            c = p[0] & 0x07u;
            n = 3;
        } else {
            return 0;
        }
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            c = c << 6 | (p[i] & 0x3fu);
        }
        static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
        if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return 0; /* overlong, out of range, or a surrogate */
        p += n + 1;
        if (c >= 0x10000) {
            if (cap - o < 4)
                return 0;
            c -= 0x10000;
            uint32_t hi = 0xd800 | (c >> 10), lo = 0xdc00 | (c & 0x3ff);
            out[o++] = (unsigned char)hi;
            out[o++] = (unsigned char)(hi >> 8);
            out[o++] = (unsigned char)lo;
            out[o++] = (unsigned char)(lo >> 8);
        } else {
            if (cap - o < 2)
                return 0;
            out[o++] = (unsigned char)c;
            out[o++] = (unsigned char)(c >> 8);
        }
    }
    return o;
}

int wsmd__nthash_hex(const char *password, char out[33])
{
    unsigned char u16[4 * WSMD_MAX_PASSWORD], digest[MD4_DIGEST_SIZE];
    size_t n = strlen(password) < WSMD_MAX_PASSWORD ? utf16le(password, u16, sizeof(u16)) : 0;
    if (n == 0)
        return 0;
    struct md4_ctx ctx;
    md4_init(&ctx);
    md4_update(&ctx, n, u16);
    md4_digest(&ctx, sizeof(digest), digest);
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < sizeof(digest); i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[32] = '\0';
    explicit_bzero(u16, sizeof(u16));
    explicit_bzero(digest, sizeof(digest));
    explicit_bzero(&ctx, sizeof(ctx));
    return 1;
}

/* The fields after the crypt hash: smbpasswd's LM hash (none), NT hash
 * and account flags, so that gss-ntlmssp reads the line as
 * NAME:UID:LM:NT:FLAGS: (the crypt hash stands in the UID field). */
#define NT_REST_FMT "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:%s:[U          ]:"

int wsmd__userfile_has_nthash(const struct wsmd_user *u)
{
    /* As gss-ntlmssp splits the line: LM ':' NT ':' ... */
    const char *r = u->rest;
    if (!r)
        return 0;
    const char *c1 = strchr(r, ':');
    if (!c1)
        return 0;
    const char *nt = c1 + 1, *c2 = strchr(nt, ':');
    if (!c2 || c2 - nt != 32)
        return 0;
    for (const char *p = nt; p < c2; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'F') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

enum wsm_err wsmd__userfile_set(struct wsmd_userfile *uf, const char *name, const char *password)
{
    if (!wsmd__username_ok(name))
        return WSM_ERR_INVALID_ARG;
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    if (!crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof(setting)))
        return WSM_ERR_INTERNAL;
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    if (!cd)
        return WSM_ERR_NOMEM;
    const char *h = crypt_rn(password, setting, cd, sizeof(*cd));
    enum wsm_err e = WSM_OK;
    if (!h || h[0] == '*') {
        e = WSM_ERR_INTERNAL;
        goto out;
    }
    /* What NTLM needs: the NT hash (MD4 of the UTF-16LE password). A
     * password that is not valid UTF-8 has none: NTLM is then refused
     * for the user, Basic still works. */
    char nt[33], rest[sizeof(NT_REST_FMT) + 32];
    int have_nt = wsmd__nthash_hex(password, nt);
    if (have_nt)
        snprintf(rest, sizeof(rest), NT_REST_FMT, nt);
    for (size_t i = 0; i < uf->n; i++) {
        struct wsmd_user *u = &uf->users[i];
        if (strcmp(u->name, name) == 0) {
            char *nh = strdup(h), *nr = NULL;
            /* Fields of another layout are kept as they are (then there is
             * no NTLM for the user); ours get the new NT hash, keeping what
             * follows the flags field. */
            int ours = !u->rest || !*u->rest || wsmd__userfile_has_nthash(u);
            if (ours && have_nt) {
                const char *tail = "";
                if (u->rest) {
                    const char *f = strchr(u->rest, ':'); /* after LM */
                    f = strchr(f + 1, ':');               /* after NT */
                    const char *fl = strchr(f + 1, ':');  /* after the flags */
                    tail = fl ? fl + 1 : "";
                }
                size_t rl = strlen(rest), tl = strlen(tail);
                nr = malloc(rl + tl + 1);
                if (nr) {
                    memcpy(nr, rest, rl);
                    memcpy(nr + rl, tail, tl + 1);
                }
            } else if (!ours) {
                nr = strdup(u->rest);
            }
            if (!nh || (((ours && have_nt) || !ours) && !nr)) {
                free(nh);
                free(nr);
                e = WSM_ERR_NOMEM;
                goto out;
            }
            free(u->hash);
            u->hash = nh;
            if (u->rest)
                explicit_bzero(u->rest, strlen(u->rest));
            free(u->rest);
            u->rest = nr;
            goto out;
        }
    }
    e = push(uf, name, h, have_nt ? rest : NULL);
out:
    explicit_bzero(nt, sizeof(nt));
    explicit_bzero(rest, sizeof(rest));
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    return e;
}

enum wsm_err wsmd__userfile_del(struct wsmd_userfile *uf, const char *name)
{
    for (size_t i = 0; i < uf->n; i++) {
        if (strcmp(uf->users[i].name, name) == 0) {
            free(uf->users[i].name);
            free(uf->users[i].hash);
            free(uf->users[i].rest);
            memmove(&uf->users[i], &uf->users[i + 1], (uf->n - i - 1) * sizeof(uf->users[0]));
            uf->n--;
            return WSM_OK;
        }
    }
    return WSM_ERR_NOT_FOUND;
}

int wsmd__password_check(const char *password, const char *hash)
{
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    if (!cd)
        return 0;
    const char *h = crypt_rn(password, hash, cd, sizeof(*cd));
    int ok = 0;
    if (h && h[0] != '*') {
        size_t a = strlen(h), b = strlen(hash);
        unsigned char diff = (unsigned char)(a != b);
        size_t n = a < b ? a : b;
        for (size_t i = 0; i < n; i++)
            diff |= (unsigned char)(h[i] ^ hash[i]);
        ok = diff == 0;
    }
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    return ok;
}
