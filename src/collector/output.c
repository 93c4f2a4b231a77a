/* The collector's file outputs and the dispatch of a batch to every output
 * (docs/internals/collector-store.md).
 *
 * Group commit: a batch is appended under the file's lock, which gives it a
 * sequence number; it is durable once an fdatasync that started after the
 * append has returned. One thread at a time runs fdatasync for everything
 * appended so far (the "leader"); batches appended meanwhile wait for the
 * next round, which one of their threads leads. So N threads writing at
 * once cost about one fdatasync per round, not N. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output.h"
#ifdef WSMD_HAVE_NATS
#include "natsout.h"
#endif
#include "server.h"

struct ofile {
    struct ofile *next;
    char *path;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fd;           /* -1: opened at the next append (first use, after a reopen) */
    uint64_t written; /* sequence number of the last batch appended */
    uint64_t covered; /* every batch <= this has been through an fdatasync */
    /* Batches in (fail_lo, fail_hi] had a failed fdatasync. Sticky: a later
     * batch in between may be reported failed too, which only costs a
     * retry (a duplicate), never a loss. */
    uint64_t fail_lo, fail_hi;
    int fail_errno;
    int syncing; /* a leader is in fdatasync, without the lock */
};

struct wsmd_outputs {
    char *dir;
    pthread_mutex_t mu; /* the list of files */
    struct ofile *files;
    struct wsmd_syslog *syslog;
    struct wsmd_nats *nats; /* NatsOutput: every batch, whatever the subscription's outputs */
    struct wsmd_lograte lograte;
};

int wsmd__output_name_ok(const char *name)
{
    if (!name)
        return 0;
    size_t n = strlen(name);
    if (n == 0 || n > 128 || name[0] == '.' || name[0] == ' ' || name[n - 1] == ' ' ||
        strstr(name, ".."))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("._@+- ", c)))
            return 0;
    }
    return 1;
}

/* A parser reads CR LF, and a CR alone, as one LF: count them so. */
static size_t newline_at(const char *x, size_t i, size_t len)
{
    if (x[i] == '\n')
        return 1;
    if (x[i] == '\r')
        return i + 1 < len && x[i + 1] == '\n' ? 2 : 1;
    return 0;
}

enum wsm_err wsmd__output_xml_line(struct wsm_buf *out, const char *x, size_t len)
{
    enum { TEXT, TAG, COMMENT, CDATA, PI } st = TEXT;
    char quote = 0, kind = 0, prev = 0; /* kind: x[1] of the tag: '/' end tag, '!' declaration */
    size_t depth = 0; /* open elements: outside the root, only whitespace may stand */
    enum wsm_err err = wsm__buf_reserve(out, len + 16);
    size_t i = 0, plain = 0; /* x[plain..i) is still to be copied */
    while (err == WSM_OK && i < len) {
        size_t nl = newline_at(x, i, len);
        if (nl) {
            err = wsm__buf_add(out, x + plain, i - plain);
            /* In text a character reference keeps the newline; in markup,
             * comments and PIs a newline is only a separator (and in an
             * attribute value the parser makes it a space anyway); before
             * and after the root element it is ignorable whitespace, where
             * a reference would not be allowed. */
            const char *rep = st == TEXT && depth ? "&#10;"
                              : st == CDATA       ? "]]>&#10;<![CDATA["
                                                  : " ";
            if (err == WSM_OK)
                err = wsm__buf_puts(out, rep);
            i += nl;
            plain = i;
            continue;
        }
        char c = x[i];
        switch (st) {
        case TEXT:
            if (c == '<') {
                if (len - i >= 4 && memcmp(x + i, "<!--", 4) == 0) {
                    st = COMMENT;
                    i += 4;
                    continue;
                }
                if (len - i >= 9 && memcmp(x + i, "<![CDATA[", 9) == 0) {
                    st = CDATA;
                    i += 9;
                    continue;
                }
                st = len - i >= 2 && x[i + 1] == '?' ? PI : TAG;
                quote = 0;
                kind = len - i >= 2 ? x[i + 1] : 0;
                prev = 0;
            }
            break;
        case TAG:
            if (quote) {
                if (c == quote)
                    quote = 0;
            } else if (c == '"' || c == '\'') {
                quote = c;
            } else if (c == '>') {
                st = TEXT;
                if (kind == '/')
                    depth -= depth > 0;
                else if (kind != '!' && prev != '/')
                    depth++;
            }
            prev = c;
            break;
        case COMMENT:
            if (len - i >= 3 && memcmp(x + i, "-->", 3) == 0) {
                st = TEXT;
                i += 3;
                continue;
            }
            break;
        case CDATA:
            if (len - i >= 3 && memcmp(x + i, "]]>", 3) == 0) {
                st = TEXT;
                i += 3;
                continue;
            }
            break;
        case PI:
            if (len - i >= 2 && memcmp(x + i, "?>", 2) == 0) {
                st = TEXT;
                i += 2;
                continue;
            }
            break;
        }
        i++;
    }
    if (err == WSM_OK)
        err = wsm__buf_add(out, x + plain, len - plain);
    return err;
}

enum wsm_err wsmd__outputs_open(const struct wsmd_output_cfg *cfg, struct wsmd_outputs **out)
{
    if (!cfg || !out)
        return WSM_ERR_INVALID_ARG;
    struct wsmd_outputs *o = calloc(1, sizeof(*o));
    if (!o)
        return WSM_ERR_NOMEM;
    pthread_mutex_init(&o->mu, NULL);
    pthread_mutex_init(&o->lograte.lock, NULL);
    enum wsm_err err = WSM_OK;
    if (cfg->event_log_dir && !(o->dir = strdup(cfg->event_log_dir)))
        err = WSM_ERR_NOMEM;
    /* Made when missing; a path that is not a directory is a configuration
     * error to report at start, not at the first batch. */
    struct stat sb;
    if (err == WSM_OK && o->dir &&
        ((mkdir(o->dir, 0750) != 0 && errno != EEXIST) || stat(o->dir, &sb) != 0 ||
         !S_ISDIR(sb.st_mode))) {
        wsmd__log("event=outputs_open_failed dir=\"%s\" error=\"%s\"", o->dir,
                  errno == EEXIST ? "not a directory" : strerror(errno));
        err = WSM_ERR_IO;
    }
    if (err == WSM_OK && cfg->syslog_target && *cfg->syslog_target)
        err = wsmd__syslog_open(cfg->syslog_target,
                                cfg->syslog_app && *cfg->syslog_app ? cfg->syslog_app : "wsmd",
                                &o->syslog);
#ifdef WSMD_HAVE_NATS
    if (err == WSM_OK && cfg->nats_output && *cfg->nats_output)
        err = wsmd__nats_open(cfg->nats_output, &o->nats);
#else
    if (err == WSM_OK && cfg->nats_output && *cfg->nats_output)
        err = WSM_ERR_UNSUPPORTED_FEATURE;
#endif
    if (err != WSM_OK) {
        wsmd__outputs_close(o);
        return err;
    }
    /* Past RLIMIT_FSIZE, write() fails with EFBIG, and the kernel also sends
     * SIGXFSZ, whose default is to kill the process. */
    struct sigaction sa;
    if (sigaction(SIGXFSZ, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
        signal(SIGXFSZ, SIG_IGN);
    *out = o;
    return WSM_OK;
}

/* Makes every batch appended so far durable, or records why not. Called
 * with f->mu held and no round running; returns with it held. */
static void sync_round(struct ofile *f, int keep_lock)
{
    uint64_t lo = f->covered, hi = f->written;
    int fd = f->fd, r = 0, e = 0;
    if (fd >= 0) {
        f->syncing = 1;
        if (!keep_lock)
            pthread_mutex_unlock(&f->mu);
        r = fdatasync(fd);
        e = errno;
        if (!keep_lock)
            pthread_mutex_lock(&f->mu);
        f->syncing = 0;
    }
    f->covered = hi;
    if (r != 0) {
        if (f->fail_hi == 0)
            f->fail_lo = lo;
        f->fail_hi = hi;
        f->fail_errno = e;
        wsmd__log("event=output_sync_failed path=\"%s\" error=\"%s\"", f->path, strerror(e));
    }
    pthread_cond_broadcast(&f->cv);
}

static void ofile_close(struct ofile *f)
{
    pthread_mutex_lock(&f->mu);
    while (f->syncing)
        pthread_cond_wait(&f->cv, &f->mu);
    /* Batches appended to the old file are made durable on it: a later
     * fdatasync on the new file would not cover them. */
    if (f->covered < f->written)
        sync_round(f, 1);
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    pthread_mutex_unlock(&f->mu);
}

void wsmd__outputs_close(struct wsmd_outputs *o)
{
    if (!o)
        return;
    for (struct ofile *f = o->files, *next; f; f = next) {
        next = f->next;
        ofile_close(f);
        pthread_mutex_destroy(&f->mu);
        pthread_cond_destroy(&f->cv);
        free(f->path);
        free(f);
    }
    wsmd__syslog_close(o->syslog);
#ifdef WSMD_HAVE_NATS
    wsmd__nats_close(o->nats);
#endif
    pthread_mutex_destroy(&o->mu);
    pthread_mutex_destroy(&o->lograte.lock);
    free(o->dir);
    free(o);
}

void wsmd__outputs_reopen(struct wsmd_outputs *o)
{
    if (!o)
        return;
    pthread_mutex_lock(&o->mu);
    for (struct ofile *f = o->files; f; f = f->next)
        ofile_close(f); /* opened again by the next append */
    pthread_mutex_unlock(&o->mu);
    if (o->syslog)
        wsmd__syslog_reset(o->syslog);
    wsmd__log("event=outputs_reopened");
}

static struct ofile *ofile_get(struct wsmd_outputs *o, const char *log_file, const char *ext)
{
    char *path = NULL;
    if (asprintf(&path, "%s/%s.%s", o->dir, log_file, ext) < 0)
        return NULL;
    pthread_mutex_lock(&o->mu);
    struct ofile *f = o->files;
    while (f && strcmp(f->path, path) != 0)
        f = f->next;
    if (!f && (f = calloc(1, sizeof(*f)))) {
        f->path = path;
        path = NULL;
        f->fd = -1;
        pthread_mutex_init(&f->mu, NULL);
        pthread_cond_init(&f->cv, NULL);
        f->next = o->files;
        o->files = f;
    }
    pthread_mutex_unlock(&o->mu);
    free(path);
    return f;
}

/* With f->mu held. A file made here is made durable in its directory too. */
static int ofile_open(struct ofile *f)
{
    int flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW;
    int fd = open(f->path, flags | O_CREAT | O_EXCL, 0640);
    if (fd >= 0) {
        char *copy = strdup(f->path);
        int dfd = copy ? open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        int r = dfd >= 0 ? fsync(dfd) : -1;
        int e = errno;
        if (dfd >= 0)
            close(dfd);
        free(copy);
        if (r != 0) {
            close(fd);
            errno = e;
            return -1;
        }
    } else if (errno == EEXIST) {
        fd = open(f->path, flags);
    }
    if (fd < 0)
        return -1;
    f->fd = fd;
    return 0;
}

/* Appends data to f; *seq gets its batch's number. On failure the file is
 * cut back to where the batch began, so that no half line stays for the
 * next batch to continue. */
static enum wsm_err ofile_append(struct wsmd_outputs *o, struct ofile *f, const char *data,
                                 size_t len, uint64_t *seq)
{
    enum wsm_err err = WSM_OK;
    pthread_mutex_lock(&f->mu);
    struct stat sb;
    if (f->fd < 0 && ofile_open(f) != 0) {
        wsmd__log_limited(&o->lograte, 10, "event=output_open_failed path=\"%s\" error=\"%s\"",
                          f->path, strerror(errno));
        err = WSM_ERR_IO;
        goto out;
    }
    if (fstat(f->fd, &sb) != 0) {
        err = WSM_ERR_IO;
        goto out;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(f->fd, data + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            int t = ftruncate(f->fd, sb.st_size);
            wsmd__log_limited(&o->lograte, 10,
                              "event=output_write_failed path=\"%s\" error=\"%s\" truncated=%s",
                              f->path, strerror(e), t == 0 ? "yes" : strerror(errno));
            err = WSM_ERR_IO;
            goto out;
        }
        done += (size_t)w;
    }
    *seq = ++f->written;
out:
    pthread_mutex_unlock(&f->mu);
    return err;
}

static enum wsm_err ofile_wait(struct ofile *f, uint64_t seq)
{
    pthread_mutex_lock(&f->mu);
    while (f->covered < seq) {
        if (f->syncing)
            pthread_cond_wait(&f->cv, &f->mu);
        else
            sync_round(f, 0);
    }
    int failed = seq > f->fail_lo && seq <= f->fail_hi;
    pthread_mutex_unlock(&f->mu);
    return failed ? WSM_ERR_IO : WSM_OK;
}

/* The JSON of every event, one per line; off[i] is where event i's JSON
 * starts, off[n] the end (the newlines lie between). */
static enum wsm_err json_lines(struct wsm_buf *b, size_t *off, const struct wsmd_event *ev,
                               size_t n, const struct wsmd_event_meta *m)
{
    for (size_t i = 0; i < n; i++) {
        size_t start = b->len;
        off[i] = start;
        enum wsm_err err = wsmd__event_json(b, &ev[i], m);
        if (err != WSM_OK)
            return err;
        /* JSON has no raw line break; should one slip through, it must not
         * split the line (readers split on CR too). */
        for (char *p = b->data + start, *end = b->data + b->len; p < end; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        if ((err = wsm__buf_add(b, "\n", 1)) != WSM_OK)
            return err;
    }
    off[n] = b->len;
    return WSM_OK;
}

enum wsm_err wsmd__outputs_write(struct wsmd_outputs *o, unsigned outputs, const char *log_file,
                                 const struct wsmd_event *ev, size_t n,
                                 const struct wsmd_event_meta *m)
{
    if (!o || (n && !ev) || !m)
        return WSM_ERR_INVALID_ARG;
    if (n == 0 || (outputs == 0 && !o->nats))
        return WSM_OK;
    int files = outputs & (WSMD_OUT_JSONL | WSMD_OUT_XML);
    if (files && (!o->dir || !wsmd__output_name_ok(log_file))) {
        wsmd__log_limited(&o->lograte, 10, "event=output_refused log_file=\"%s\" reason=%s",
                          log_file && wsmd__output_name_ok(log_file) ? log_file : "(invalid)",
                          o->dir ? "bad LogFile name" : "no EventLogDir");
        return WSM_ERR_INVALID_ARG;
    }
    if ((outputs & WSMD_OUT_SYSLOG) && !o->syslog) {
        wsmd__log_limited(&o->lograte, 10, "event=output_refused reason=\"no SyslogTarget\"");
        return WSM_ERR_INVALID_ARG;
    }
    struct wsm_buf json, xml;
    wsm__buf_init(&json, 0);
    wsm__buf_init(&xml, 0);
    size_t *off = calloc(n + 1, sizeof(*off));
    enum wsm_err err = off ? WSM_OK : WSM_ERR_NOMEM;
    if (err == WSM_OK && ((outputs & (WSMD_OUT_JSONL | WSMD_OUT_SYSLOG)) || o->nats))
        err = json_lines(&json, off, ev, n, m);
    for (size_t i = 0; err == WSM_OK && (outputs & WSMD_OUT_XML) && i < n; i++) {
        err =
            wsmd__output_xml_line(&xml, ev[i].xml ? ev[i].xml : "", ev[i].xml ? ev[i].xml_len : 0);
        if (err == WSM_OK)
            err = wsm__buf_add(&xml, "\n", 1);
    }
    /* Append everywhere first, then wait for the syncs, so that the files'
     * fdatasyncs and the syslog sends overlap. */
    struct ofile *fj = NULL, *fx = NULL;
    uint64_t sj = 0, sx = 0;
    if (err == WSM_OK && (outputs & WSMD_OUT_JSONL)) {
        fj = ofile_get(o, log_file, "jsonl");
        err = fj ? ofile_append(o, fj, json.data, json.len, &sj) : WSM_ERR_NOMEM;
    }
    if (err == WSM_OK && (outputs & WSMD_OUT_XML)) {
        fx = ofile_get(o, log_file, "xml");
        err = fx ? ofile_append(o, fx, xml.data, xml.len, &sx) : WSM_ERR_NOMEM;
    }
    if (err == WSM_OK && (outputs & WSMD_OUT_SYSLOG)) {
        err = wsmd__syslog_send(o->syslog, ev, n, m, json.data, off);
    }
#ifdef WSMD_HAVE_NATS
    /* Acknowledged by JetStream before the source's Ack: the files' syncs
     * run meanwhile. */
    if (err == WSM_OK && o->nats)
        err = wsmd__nats_publish(o->nats, ev, n, m, json.data, off);
#endif
    if (err == WSM_OK && sj)
        err = ofile_wait(fj, sj);
    if (err == WSM_OK && sx)
        err = ofile_wait(fx, sx);
    free(off);
    wsm__buf_free(&json);
    wsm__buf_free(&xml);
    return err;
}
