/* wsmd's one configuration-file editor (cfgfile.h). The file is the
 * administrator's: what wsmd and winrm write must leave their comments,
 * order and other settings alone, and a crash or a full disk mid-write
 * must leave either the old file or the new one, never a half (temp file
 * + fsync + rename + fsync of the directory). Lines are read exactly as
 * config.c's loader reads them, so that the line changed is the line
 * that takes effect. */
#include <ctype.h>
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
    "MaxConcurrentUsers",
    "MaxShellRunTime",
    "MaxConcurrentCommandsPerShell",
    "MaxConcurrentOperationsPerUser",
    "MaxProcessesPerShell",
    "MaxMemoryPerShellMB",
    "IdleTimeout",
    "MaxTimeoutms",
    NULL,
};

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

/* ---- the line scanner ----------------------------------------------------- */

static int blank(char c)
{
    return isspace((unsigned char)c);
}

int wsmd__cfgfile_scan(const char *line, size_t n, struct wsmd_cfgline *o)
{
    /* The loader stops at a NUL (fgets, then strchr) and at '#'. */
    const char *z = memchr(line, '\0', n);
    size_t end = z ? (size_t)(z - line) : n;
    const char *h = memchr(line, '#', end);
    o->cmt = h ? (size_t)(h - line) : n;
    if (h)
        end = o->cmt;
    size_t i = 0;
    while (i < end && blank(line[i]))
        i++;
    const char *eq = memchr(line + i, '=', end - i);
    if (!eq)
        return 0;
    size_t e = (size_t)(eq - line);
    while (e > i && blank(line[e - 1]))
        e--;
    if (e == i)
        return 0;
    o->ks = i;
    o->ke = e;
    size_t vs = (size_t)(eq - line) + 1, ve = end;
    while (vs < ve && blank(line[vs]))
        vs++;
    while (ve > vs && blank(line[ve - 1]))
        ve--;
    o->vs = vs;
    o->ve = ve;
    return 1;
}

/* Calls fn for each line of text: its start, its length without the
 * newline, its length with it. Stops at fn's error. */
typedef enum wsm_err (*line_fn)(const char *line, size_t n, size_t whole, void *arg);
static enum wsm_err each_line(const char *text, size_t len, line_fn fn, void *arg)
{
    enum wsm_err e = WSM_OK;
    for (size_t pos = 0; pos < len && !e;) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        size_t whole = nl ? n + 1 : n;
        pos += whole;
        e = fn(line, n, whole, arg);
    }
    return e;
}

static int key_is(const char *line, const struct wsmd_cfgline *l, const char *key)
{
    return strlen(key) == l->ke - l->ks && !strncasecmp(line + l->ks, key, l->ke - l->ks);
}

/* "key = value" on a line of its own at the end of out. */
static enum wsm_err append_setting(struct wsm_buf *out, const char *key, const char *value)
{
    enum wsm_err e = WSM_OK;
    if (out->len && out->data[out->len - 1] != '\n')
        e = wsm__buf_puts(out, "\n");
    return e ? e : wsm__buf_printf(out, "%s = %s\n", key, value);
}

/* ---- key = value, in place ------------------------------------------------ */

struct set_ctx {
    const struct wsmd_cfgedit *ed;
    size_t n;
    int done[WSMD_CFGFILE_MAX_EDITS];
    struct wsm_buf *out;
};

static enum wsm_err set_line(const char *line, size_t ln, size_t whole, void *arg)
{
    struct set_ctx *c = arg;
    struct wsmd_cfgline l;
    size_t hit = c->n;
    if (wsmd__cfgfile_scan(line, ln, &l))
        for (size_t k = 0; k < c->n && hit == c->n; k++)
            if (key_is(line, &l, c->ed[k].key))
                hit = k;
    if (hit == c->n)
        return wsm__buf_add(c->out, line, whole);
    if (c->done[hit] || !c->ed[hit].value)
        return WSM_OK; /* a later duplicate, or a removal: the line goes */
    c->done[hit] = 1;
    /* Indentation and key as written, the new value, the comment. */
    enum wsm_err e = wsm__buf_add(c->out, line, l.ke);
    if (!e)
        e = wsm__buf_printf(c->out, " = %s", c->ed[hit].value);
    if (!e && l.cmt < ln)
        e = wsm__buf_printf(c->out, " %.*s", (int)(ln - l.cmt), line + l.cmt);
    return e ? e : wsm__buf_puts(c->out, "\n");
}

enum wsm_err wsmd__cfgfile_set_text(const char *text, size_t len, const struct wsmd_cfgedit *ed,
                                    size_t n, struct wsm_buf *out)
{
    struct set_ctx c = {.ed = ed, .n = n, .out = out};
    if (n > WSMD_CFGFILE_MAX_EDITS)
        return WSM_ERR_INVALID_ARG;
    for (size_t k = 0; k < n; k++)
        if (!ed[k].key || !*ed[k].key || (ed[k].value && !wsmd__cfgfile_value_ok(ed[k].value)))
            return WSM_ERR_INVALID_ARG;
    enum wsm_err e = each_line(text, len, set_line, &c);
    for (size_t k = 0; k < n && !e; k++)
        if (!c.done[k] && ed[k].value) {
            e = append_setting(out, ed[k].key, ed[k].value);
            c.done[k] = 1;
        }
    return e;
}

enum wsm_err wsmd__cfgfile_rewrite(const char *text, size_t len, const struct wsmd_cfgedit *ed,
                                   size_t n, struct wsm_buf *out)
{
    for (size_t k = 0; k < n; k++)
        if (!wsmd__cfgfile_key_managed(ed[k].key))
            return WSM_ERR_INVALID_ARG;
    return wsmd__cfgfile_set_text(text, len, ed, n, out);
}

/* ---- repeatable keys: lines added and removed ----------------------------- */

struct lines_ctx {
    const char *key, *remove;
    int (*same)(const char *, const char *);
    unsigned removed;
    struct wsm_buf *out;
};

static enum wsm_err lines_line(const char *line, size_t ln, size_t whole, void *arg)
{
    struct lines_ctx *c = arg;
    struct wsmd_cfgline l;
    if (c->remove && c->same && wsmd__cfgfile_scan(line, ln, &l) && key_is(line, &l, c->key)) {
        char v[1024];
        if (l.ve - l.vs < sizeof(v)) {
            memcpy(v, line + l.vs, l.ve - l.vs);
            v[l.ve - l.vs] = '\0';
            if (c->same(v, c->remove)) {
                c->removed++;
                return WSM_OK;
            }
        }
    }
    return wsm__buf_add(c->out, line, whole);
}

enum wsm_err wsmd__cfgfile_lines_text(const char *text, size_t len, const char *key,
                                      const char *add, const char *remove,
                                      int (*same)(const char *, const char *), struct wsm_buf *out,
                                      unsigned *removed)
{
    struct lines_ctx c = {.key = key, .remove = remove, .same = same, .out = out};
    *removed = 0;
    if (!key || !*key)
        return WSM_ERR_INVALID_ARG;
    enum wsm_err e = each_line(text, len, lines_line, &c);
    if (!e && add)
        e = append_setting(out, key, add);
    *removed = c.removed;
    return e;
}

/* ---- the writer ----------------------------------------------------------- */

static enum wsm_err read_all(const char *path, struct wsm_buf *b, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return errno == ENOENT ? WSM_ERR_NOT_FOUND : WSM_ERR_IO;
    enum wsm_err e = WSM_OK;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode) || st->st_size > WSMD_CFGFILE_MAX_SIZE)
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
        e = b->len + (size_t)r > WSMD_CFGFILE_MAX_SIZE ? WSM_ERR_IO
                                                       : wsm__buf_add(b, chunk, (size_t)r);
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

/* The new text under the old name: temp file beside it, same owner and
 * mode, fsync, rename, fsync of the directory. */
static enum wsm_err replace_file(const char *real, const struct stat *st, const struct wsm_buf *b)
{
    char tmp[PATH_MAX + 16];
    if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", real) >= (int)sizeof(tmp))
        return WSM_ERR_IO;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return WSM_ERR_IO;
    enum wsm_err e = WSM_OK;
    /* The owner and mode of the old file: it may hold nothing secret,
     * but its owner decides who may edit it. */
    if ((fchown(fd, st->st_uid, st->st_gid) != 0 && geteuid() == 0) ||
        fchmod(fd, st->st_mode & 07777) != 0 ||
        write_all(fd, b->data ? b->data : "", b->len) != 0 || fsync(fd) != 0)
        e = WSM_ERR_IO;
    if (close(fd) != 0)
        e = WSM_ERR_IO;
    if (!e && rename(tmp, real) != 0)
        e = WSM_ERR_IO;
    if (e) {
        unlink(tmp);
        return e;
    }
    /* The rename itself must reach the disk. */
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", real);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return WSM_OK;
}

enum wsm_err wsmd__cfgfile_write(const char *path, wsmd_cfgfile_fn fn, void *arg)
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
        e = fn(old.data ? old.data : "", old.len, arg, &neu);
    if (!e && (neu.len != old.len || (neu.len && memcmp(neu.data, old.data, neu.len))))
        e = replace_file(real, &st, &neu);
    wsm__buf_free(&old);
    wsm__buf_free(&neu);
    return e;
}

struct edit_args {
    const struct wsmd_cfgedit *ed;
    size_t n;
};

static enum wsm_err edit_fn(const char *text, size_t len, void *arg, struct wsm_buf *out)
{
    const struct edit_args *a = arg;
    return wsmd__cfgfile_rewrite(text, len, a->ed, a->n, out);
}

enum wsm_err wsmd__cfgfile_edit(const char *path, const struct wsmd_cfgedit *ed, size_t n)
{
    struct edit_args a = {ed, n};
    return wsmd__cfgfile_write(path, edit_fn, &a);
}

struct lines_args {
    const char *key, *add, *remove;
    int (*same)(const char *, const char *);
    unsigned removed;
};

static enum wsm_err lines_fn(const char *text, size_t len, void *arg, struct wsm_buf *out)
{
    struct lines_args *a = arg;
    return wsmd__cfgfile_lines_text(text, len, a->key, a->add, a->remove, a->same, out,
                                    &a->removed);
}

enum wsm_err wsmd__cfgfile_edit_lines(const char *path, const char *key, const char *add,
                                      const char *remove, int (*same)(const char *, const char *),
                                      unsigned *removed)
{
    struct lines_args a = {key, add, remove, same, 0};
    enum wsm_err e = wsmd__cfgfile_write(path, lines_fn, &a);
    *removed = e ? 0 : a.removed;
    return e;
}
