/* Subscriptions' positions in the journal (docs/internals/evsrc.md,
 * "Reading").
 *
 * All readers of one journal (the system journal, or one JournalDirectory)
 * share one sd_journal, its mappings and its inotify instance: a "hub".
 * A reader of its own per subscription would cost about 1.2 MB of mapped
 * journal and an inotify instance each, and Linux allows a user 128 inotify
 * instances by default: wsmd could not hold more than ~127 subscriptions.
 * Shared, a reader is its position (a journal cursor), an eventfd and a
 * few hundred bytes.
 *
 * The hub's read pointer belongs to one reader at a time (the "owner").
 * A reader that finds another owner saves that one's position as a cursor
 * and seeks to its own: a bisection, once per call, not per entry. Each
 * entry examined is copied out of the mapping into the hub's scratch
 * buffers (sd-journal's pointers live only until its next call), matched
 * in C against the reader's query and rendered when it matches.
 *
 * A thread per hub waits on the inotify descriptor, lets sd-journal read
 * its events (new files after a rotation) and wakes every reader through
 * its eventfd, which is what wsmd__evr_fd returns. The hubs and their
 * threads are hub.c; the structures both files use, reader_priv.h.
 *
 * The position of a reader that does not own the hub is `done`: the cursor
 * of the last entry it examined (returned, or not matching), or NULL for
 * "before the first entry". While it owns the hub, the read pointer is in
 * one of three states:
 *   NONE    before the next entry (the head, or a cursor with nothing after
 *           it yet);
 *   PENDING on an entry not yet examined (its `done` entry was vacuumed:
 *           the entry found there is the first one not seen);
 *   DONE    on an entry examined.
 * A bookmark is `done` (read live while owning, in state DONE). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "reader_priv.h"

#define MAX_CURSOR 512 /* a cursor is about 130 characters */
/* Entries one call examines at most without a match (about 10 ms): a
 * subscription reading a large journal with a query that takes little must
 * not hold every other reader of that journal back (they share its lock). */
#define SCAN_BUDGET 4096

static uint64_t now_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- cursors and bookmarks ------------------------------------------------ */

/* A cursor is s=<seqnum id>;i=<seqnum, hex>;b=...: the sequence number is
 * what Windows calls the EventRecordID. (sd_journal_get_seqnum() came
 * only with systemd 254.) */
static uint64_t seqnum_of(const char *cursor)
{
    const char *p = strstr(cursor, ";i=");
    if (!p && strncmp(cursor, "i=", 2) == 0)
        p = cursor - 1;
    if (!p)
        return 0;
    return strtoull(p + 3, NULL, 16);
}

static int cursor_ok(const char *c, size_t n)
{
    if (n == 0 || n > MAX_CURSOR)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = c[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              ch == '=' || ch == ';' || ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

/* The Cursor attribute of our <BookmarkList>: 1 and the cursor in out,
 * 0 for a list with no Bookmark (made when nothing had been read), -1 for
 * anything else (another source's bookmark, or garbage). Read by hand: it
 * is one attribute of a document wsmd wrote itself. */
static int bookmark_cursor(const char *bm, size_t len, char out[MAX_CURSOR + 1])
{
    if (!bm || !len || !memmem(bm, len, "BookmarkList", 12))
        return -1;
    const char *a = memmem(bm, len, "Cursor=", 7);
    if (!a)
        return memmem(bm, len, "<Bookmark ", 10) ? -1 : 0;
    a += 7;
    const char *end = bm + len;
    if (a >= end || (*a != '\'' && *a != '"'))
        return -1;
    char q = *a++;
    const char *e = memchr(a, q, (size_t)(end - a));
    if (!e || !cursor_ok(a, (size_t)(e - a)))
        return -1;
    memcpy(out, a, (size_t)(e - a));
    out[e - a] = '\0';
    return 1;
}

/* ---- positions (hub locked) ----------------------------------------------- */

/* The owner's position kept as a cursor before another reader moves the
 * read pointer. */
enum wsm_err wsmd__evr_save_owner(struct hub *h)
{
    struct wsmd_evreader *o = h->owner;
    if (!o || o->pos != POS_DONE) {
        if (o) {
            free(o->cur);
            o->cur = NULL;
        }
        h->owner = NULL;
        return WSM_OK; /* NONE and PENDING: `done` still says where it is */
    }
    char *cur = o->cur;
    o->cur = NULL;
    if (!cur && (h->sd->get_cursor(h->j, &cur) < 0 || !cur))
        return WSM_ERR_IO; /* the owner keeps the read pointer */
    free(o->done);
    o->done = cur;
    h->owner = NULL;
    return WSM_OK;
}

static enum wsm_err take(struct wsmd_evreader *r)
{
    struct hub *h = r->h;
    if (h->owner == r)
        return WSM_OK;
    enum wsm_err err = wsmd__evr_save_owner(h);
    if (err)
        return err;
    const struct wsmd_sdj *sd = h->sd;
    int e;
    r->pos = POS_NONE;
    free(r->cur);
    r->cur = NULL;
    if (!r->done) {
        e = sd->seek_head(h->j);
    } else if ((e = sd->seek_cursor(h->j, r->done)) >= 0 && (e = sd->next(h->j)) > 0) {
        /* On the done entry itself, or, when it was vacuumed, on the first
         * entry after where it was: not yet seen. */
        r->pos = sd->test_cursor(h->j, r->done) > 0 ? POS_DONE : POS_PENDING;
    }
    if (e < 0)
        return WSM_ERR_IO;
    h->owner = r;
    return WSM_OK;
}

/* ---- the interface ---------------------------------------------------------- */

enum wsm_err wsmd__evr_open(const struct wsmd_evreader_opts *o, struct wsmd_evreader **out)
{
    *out = NULL;
    if (!o || !o->query)
        return WSM_ERR_INVALID_ARG;
    char cursor[MAX_CURSOR + 1];
    int has_cursor = 0;
    if (o->start == WSMD_EV_FROM_BOOKMARK) {
        has_cursor = bookmark_cursor(o->bookmark, o->bookmark_len, cursor);
        if (has_cursor < 0)
            return WSM_ERR_INVALID_ARG;
    } else if (o->start != WSMD_EV_FROM_NOW && o->start != WSMD_EV_FROM_OLDEST) {
        return WSM_ERR_INVALID_ARG;
    }
    struct wsmd_evreader *r = calloc(1, sizeof(*r));
    if (!r)
        return WSM_ERR_NOMEM;
    r->efd = -1;
    r->q = o->query;
    r->rendered = o->rendered;
    r->seqnum_first = wsmd__evq_needs_seqnum(o->query);
    if (gethostname(r->computer, sizeof(r->computer) - 1) < 0)
        strcpy(r->computer, "localhost");
    snprintf(r->last_chan, sizeof(r->last_chan), "%s", wsmd__evq_first_path(r->q));
    if (has_cursor && !(r->done = strdup(cursor))) {
        free(r);
        return WSM_ERR_NOMEM;
    }
    /* Ready at once: entries may be there already (oldest, bookmark). */
    if ((r->efd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
        free(r->done);
        free(r);
        return WSM_ERR_IO;
    }
    enum wsm_err err = wsmd__evr_hub_get(o->journal_dir, &r->h);
    if (err) {
        close(r->efd);
        free(r->done);
        free(r);
        return err;
    }
    struct hub *h = r->h;
    pthread_mutex_lock(&h->mu);
    if (has_cursor) {
        /* A cursor sd-journal cannot parse would fail every next(): the
         * bookmark is refused now instead. */
        if ((err = wsmd__evr_save_owner(h)) == WSM_OK && h->sd->seek_cursor(h->j, r->done) < 0)
            err = WSM_ERR_INVALID_ARG;
    }
    if (o->start == WSMD_EV_FROM_NOW) {
        /* On the last entry, as if it had been examined; in an empty
         * journal, the head is "now". */
        if ((err = wsmd__evr_save_owner(h)) == WSM_OK) {
            int e = h->sd->seek_tail(h->j);
            if (e >= 0 && (e = h->sd->previous(h->j)) > 0 && h->sd->get_cursor(h->j, &r->done) < 0)
                e = -1;
            if (e < 0)
                err = WSM_ERR_IO;
        }
    }
    if (!err) {
        r->next = h->readers;
        if (h->readers)
            h->readers->prev = r;
        h->readers = r;
    }
    pthread_mutex_unlock(&h->mu);
    if (err) {
        r->h = NULL;
        wsmd__evr_hub_put(h);
        close(r->efd);
        free(r->done);
        free(r);
        return err;
    }
    *out = r;
    return WSM_OK;
}

int wsmd__evr_fd(struct wsmd_evreader *r)
{
    return r ? r->efd : -1;
}

/* Copies the current entry's fields out of the mapping. */
static enum wsm_err load_entry(struct hub *h, struct wsmd_evin *ev)
{
    const struct wsmd_sdj *sd = h->sd;
    memset(ev, 0, sizeof(*ev));
    if (sd->get_realtime_usec(h->j, &ev->realtime_usec) < 0)
        ev->realtime_usec = 0;
    wsm__buf_reset(&h->data);
    size_t n = 0;
    const void *d;
    size_t l;
    sd->restart_data(h->j);
    while (n < MAX_FIELDS && sd->enumerate_data(h->j, &d, &l) > 0) {
        h->offs[n] = h->data.len;
        h->lens[n] = l;
        if (wsm__buf_add(&h->data, d, l) != WSM_OK)
            return WSM_ERR_NOMEM;
        n++;
    }
    for (size_t i = 0; i < n; i++) {
        const char *s = h->data.data + h->offs[i];
        const char *eq = memchr(s, '=', h->lens[i]);
        size_t nl = eq ? (size_t)(eq - s) : h->lens[i];
        h->f[i] = (struct wsmd_evfield){s, nl, eq ? eq + 1 : s + nl, eq ? h->lens[i] - nl - 1 : 0};
    }
    ev->f = h->f;
    ev->n = n;
    wsmd__evin_derive(ev);
    return WSM_OK;
}

/* The current entry's sequence number (a cursor costs an allocation and a
 * formatting: only for entries that need it); the cursor is kept in r->cur
 * for the bookmark. */
static uint64_t current_seqnum(struct wsmd_evreader *r)
{
    if (!r->cur && (r->h->sd->get_cursor(r->h->j, &r->cur) < 0 || !r->cur)) {
        r->cur = NULL;
        return 0;
    }
    return seqnum_of(r->cur);
}

static enum wsm_err next_locked(struct wsmd_evreader *r, struct wsm_buf *out)
{
    struct hub *h = r->h;
    enum wsm_err err = take(r);
    if (err)
        return err;
    uint64_t now = now_usec();
    for (unsigned examined = 0;; examined++) {
        if (examined == SCAN_BUDGET) {
            /* More may be there: the fd says so, the caller comes back. */
            wsmd__evr_wake(r->efd);
            return WSM_ERR_TIMED_OUT;
        }
        free(r->cur); /* the read pointer moves on */
        r->cur = NULL;
        if (r->pos == POS_PENDING) {
            r->pos = POS_DONE;
        } else {
            /* New entries in open files are seen here; new files come with
             * the hub thread's sd_journal_process and a wake-up. */
            int e = h->sd->next(h->j);
            if (e < 0)
                return WSM_ERR_IO;
            if (e == 0)
                return WSM_ERR_TIMED_OUT;
            r->pos = POS_DONE;
        }
        struct wsmd_evin ev;
        if ((err = load_entry(h, &ev)))
            return err;
        if (r->seqnum_first)
            ev.seqnum = current_seqnum(r);
        char chan[WSMD_EVCHAN_NAME_MAX];
        if (!wsmd__evq_match(r->q, &ev, now, chan))
            continue;
        if (!r->seqnum_first)
            ev.seqnum = current_seqnum(r);
        if ((err = wsmd__ev_render(&ev, chan, r->computer, r->rendered, out)))
            return err;
        memcpy(r->last_chan, chan, sizeof(chan));
        return WSM_OK;
    }
}

enum wsm_err wsmd__evr_next(struct wsmd_evreader *r, struct wsm_buf *out)
{
    /* The wake-up is consumed before looking, so that one arriving while
     * we look stays set. */
    /* Only when the last call found nothing: a caller taking a backlog
     * would otherwise pay a system call per event. A wake-up left set
     * meanwhile costs that caller one look that finds nothing. */
    uint64_t v;
    if (!r->streak && read(r->efd, &v, sizeof(v)) < 0) {
        /* EAGAIN: not woken, looking anyway */
    }
    pthread_mutex_lock(&r->h->mu);
    enum wsm_err err = next_locked(r, out);
    pthread_mutex_unlock(&r->h->mu);
    r->streak = err == WSM_OK;
    return err;
}

enum wsm_err wsmd__evr_bookmark(struct wsmd_evreader *r, struct wsm_buf *out)
{
    struct hub *h = r->h;
    pthread_mutex_lock(&h->mu);
    char *live = NULL;
    const char *cur = r->done;
    enum wsm_err e = WSM_OK;
    if (h->owner == r && r->pos == POS_DONE) {
        if (r->cur)
            cur = r->cur;
        else if (h->sd->get_cursor(h->j, &live) < 0 || !live)
            e = WSM_ERR_IO;
        else
            cur = live;
    }
    if (!e && !cur) {
        e = wsm__buf_puts(out, "<BookmarkList/>");
    } else if (!e) {
        e = wsm__buf_puts(out, "<BookmarkList><Bookmark Channel='");
        if (!e)
            e = wsmd__ev_xml_text(out, r->last_chan, strlen(r->last_chan));
        /* By hand, not printf: the push deliveries write one per event. */
        char num[24];
        size_t k = sizeof(num);
        uint64_t v = seqnum_of(cur);
        do
            num[--k] = (char)('0' + v % 10);
        while ((v /= 10) && k);
        if (!e)
            e = wsm__buf_puts(out, "' RecordId='");
        if (!e)
            e = wsm__buf_add(out, num + k, sizeof(num) - k);
        if (!e)
            e = wsm__buf_puts(out, "' IsCurrent='true' Cursor='");
        size_t cl = strlen(cur);
        if (!e) /* sd-journal's cursors are hex, '=' and ';': nothing to escape */
            e = cursor_ok(cur, cl) ? wsm__buf_add(out, cur, cl) : wsmd__ev_xml_text(out, cur, cl);
        if (!e)
            e = wsm__buf_puts(out, "'/></BookmarkList>");
    }
    pthread_mutex_unlock(&h->mu);
    free(live);
    return e;
}

void wsmd__evr_close(struct wsmd_evreader *r)
{
    if (!r)
        return;
    struct hub *h = r->h;
    if (h) {
        pthread_mutex_lock(&h->mu);
        if (h->owner == r)
            h->owner = NULL;
        if (r->prev)
            r->prev->next = r->next;
        else
            h->readers = r->next;
        if (r->next)
            r->next->prev = r->prev;
        pthread_mutex_unlock(&h->mu);
        wsmd__evr_hub_put(h);
    }
    if (r->efd >= 0)
        close(r->efd);
    free(r->done);
    free(r->cur);
    free(r);
}
