/* The configuration file editor behind winrm/config writes (cfgfile.h).
 * The file is the administrator's: what the service writes must leave
 * their comments, order and other settings alone, and a crash or a full
 * disk mid-write must leave either the old file or the new one, never a
 * half (temp file + fsync + rename + fsync of the directory). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfgfile.h"

/* The keys winrm/config writes may set (docs/internals/winrm-config.md).
 * MaxEnvelopeSize is here only to be removed when MaxEnvelopeSizekb is set
 * (both set the same limit). */
const char *const wsmd__cfgfile_managed[] = {
    "MaxEnvelopeSizekb",
    "MaxEnvelopeSize",
    "EnumerationTimeoutms",
    "MaxConnections",
    "AllowUnencrypted",
    "AuthBasic",
    "CbtHardeningLevel",
    "MaxShellsPerUser",
    "MaxProcessesPerShell",
    "MaxMemoryPerShellMB",
    "IdleTimeout",
    "MaxTimeoutms",
    NULL,
};

/* Files larger than this are not the configuration file. */
#define CFGFILE_MAX (1024 * 1024)

int wsmd__cfgfile_key_managed(const char *key)
{
    for (size_t i = 0; key && wsmd__cfgfile_managed[i]; i++)
        if (!strcasecmp(key, wsmd__cfgfile_managed[i]))
            return 1;
    return 0;
}

int wsmd__cfgfile_value_ok(const char *v)
{
    size_t n = v ? strlen(v) : 0;
    if (!v || n > WSMD_CFGFILE_MAX_VALUE)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f || v[i] == '#')
            return 0;
    return n == 0 || (v[0] != ' ' && v[n - 1] != ' ');
}

/* The key a line sets: [*ks, *ke) in line (its n bytes, without the
 * newline); 0 if it sets none (blank, comment, no '='). *cmt: where its
 * comment starts ('#'), or n. */
static int line_key(const char *line, size_t n, size_t *ks, size_t *ke, size_t *cmt)
{
    const char *h = memchr(line, '#', n);
    *cmt = h ? (size_t)(h - line) : n;
    size_t i = 0;
    while (i < *cmt && (line[i] == ' ' || line[i] == '\t'))
        i++;
    const char *eq = memchr(line + i, '=', *cmt - i);
    if (!eq)
        return 0;
    size_t e = (size_t)(eq - line);
    while (e > i && (line[e - 1] == ' ' || line[e - 1] == '\t'))
        e--;
    if (e == i)
        return 0;
    *ks = i;
    *ke = e;
    return 1;
}

enum wsm_err wsmd__cfgfile_rewrite(const char *text, size_t len, const struct wsmd_cfgedit *ed,
                                   size_t n, struct wsm_buf *out)
{
    int done[WSMD_CFGFILE_MAX_EDITS] = {0};
    if (n > WSMD_CFGFILE_MAX_EDITS)
        return WSM_ERR_INVALID_ARG;
    for (size_t k = 0; k < n; k++)
        if (!wsmd__cfgfile_key_managed(ed[k].key) ||
            (ed[k].value && !wsmd__cfgfile_value_ok(ed[k].value)))
            return WSM_ERR_INVALID_ARG;
    enum wsm_err e = WSM_OK;
    size_t pos = 0;
    while (pos < len && !e) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ln = nl ? (size_t)(nl - line) : len - pos; /* without the newline */
        size_t whole = nl ? ln + 1 : ln;
        pos += whole;
        size_t ks, ke, cmt;
        size_t hit = n;
        if (line_key(line, ln, &ks, &ke, &cmt))
            for (size_t k = 0; k < n && hit == n; k++)
                if (strlen(ed[k].key) == ke - ks && !strncasecmp(line + ks, ed[k].key, ke - ks))
                    hit = k;
        if (hit == n) {
            e = wsm__buf_add(out, line, whole);
            continue;
        }
        if (done[hit] || !ed[hit].value)
            continue; /* a later duplicate, or a removal: the line goes */
        done[hit] = 1;
        /* Indentation and key as written, the new value, the comment. */
        e = wsm__buf_add(out, line, ke);
        if (!e)
            e = wsm__buf_printf(out, " = %s", ed[hit].value);
        if (!e && cmt < ln)
            e = wsm__buf_printf(out, " %.*s", (int)(ln - cmt), line + cmt);
        if (!e)
            e = wsm__buf_puts(out, "\n");
    }
    for (size_t k = 0; k < n && !e; k++) {
        if (done[k] || !ed[k].value)
            continue;
        if (out->len && out->data[out->len - 1] != '\n')
            e = wsm__buf_puts(out, "\n");
        if (!e)
            e = wsm__buf_printf(out, "%s = %s\n", ed[k].key, ed[k].value);
        done[k] = 1;
    }
    return e;
}

static enum wsm_err read_all(const char *path, struct wsm_buf *b, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return errno == ENOENT ? WSM_ERR_NOT_FOUND : WSM_ERR_IO;
    enum wsm_err e = WSM_OK;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode) || st->st_size > CFGFILE_MAX)
        e = WSM_ERR_IO;
    char chunk[8192];
    while (!e) {
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            e = WSM_ERR_IO;
        if (r <= 0)
            break;
        e = b->len + (size_t)r > CFGFILE_MAX ? WSM_ERR_IO : wsm__buf_add(b, chunk, (size_t)r);
    }
    close(fd);
    return e;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

enum wsm_err wsmd__cfgfile_edit(const char *path, const struct wsmd_cfgedit *ed, size_t n)
{
    char real[PATH_MAX];
    if (!path || !realpath(path, real))
        return WSM_ERR_NOT_FOUND;
    struct wsm_buf old, neu;
    wsm__buf_init(&old, 0);
    wsm__buf_init(&neu, 0);
    struct stat st;
    enum wsm_err e = read_all(real, &old, &st);
    if (!e)
        e = wsmd__cfgfile_rewrite(old.data ? old.data : "", old.len, ed, n, &neu);
    char tmp[PATH_MAX + 16];
    int fd = -1;
    if (!e && snprintf(tmp, sizeof(tmp), "%s.XXXXXX", real) >= (int)sizeof(tmp))
        e = WSM_ERR_IO;
    if (!e && (fd = mkostemp(tmp, O_CLOEXEC)) < 0)
        e = WSM_ERR_IO;
    if (!e) {
        /* The owner and mode of the old file: it may hold nothing secret,
         * but its owner decides who may edit it. */
        if ((fchown(fd, st.st_uid, st.st_gid) != 0 && geteuid() == 0) ||
            fchmod(fd, st.st_mode & 07777) != 0 ||
            write_all(fd, neu.data ? neu.data : "", neu.len) != 0 || fsync(fd) != 0)
            e = WSM_ERR_IO;
        if (close(fd) != 0)
            e = WSM_ERR_IO;
        if (!e && rename(tmp, real) != 0)
            e = WSM_ERR_IO;
        if (e)
            unlink(tmp);
    }
    if (!e) {
        /* The rename itself must reach the disk. */
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", real);
        int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    wsm__buf_free(&old);
    wsm__buf_free(&neu);
    return e;
}
