/* A subscription's position in the journal (docs/internals/evsrc.md,
 * "Reading"): sd-journal's read pointer, moved forward one entry at a time;
 * each entry is copied out of the journal's mapping, matched in C against
 * the compiled query and rendered when it matches.
 *
 * The read pointer is in one of three states:
 *   NONE    before the first entry (an empty journal, or the head);
 *   PENDING on an entry not yet examined (a bookmark whose own entry was
 *           vacuumed: the entry found there is the first one not seen);
 *   DONE    on an entry already examined (returned or not matching).
 * A bookmark is the cursor of the DONE entry: entries examined and not
 * matching are not examined again after a resume. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "evsrc_priv.h"
#include "sdj_dl.h"

#define MAX_FIELDS 1024            /* per entry; journald's own limit is 1024 too */
#define MAX_CURSOR 512             /* a cursor is about 130 characters */
#define DATA_THRESHOLD (64 * 1024) /* a field's bytes read (sd-journal's default) */

enum pos { POS_NONE, POS_PENDING, POS_DONE };

struct wsmd_evreader {
    const struct wsmd_sdj *sd;
    sd_journal *j;
    const struct wsmd_evq *q;
    int rendered;
    enum pos pos;
    char *start_bm; /* the bookmark for "nothing examined yet" */
    char computer[256];
    struct wsm_buf data; /* the current entry's fields, copied */
    size_t *offs;        /* start of each field in data */
    size_t *lens;
    struct wsmd_evfield *f;
    char last_chan[WSMD_EVCHAN_NAME_MAX];
};

static uint64_t now_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

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
 * 0 for a list with no Bookmark (made when the journal was empty), -1 for
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
    }
    const struct wsmd_sdj *sd = wsmd__sdj();
    if (!sd)
        return WSM_ERR_IO;
    struct wsmd_evreader *r = calloc(1, sizeof(*r));
    if (!r)
        return WSM_ERR_NOMEM;
    r->sd = sd;
    r->q = o->query;
    r->rendered = o->rendered;
    wsm__buf_init(&r->data, 0);
    if (gethostname(r->computer, sizeof(r->computer) - 1) < 0)
        strcpy(r->computer, "localhost");
    int e = o->journal_dir ? sd->open_directory(&r->j, o->journal_dir, 0)
                           : sd->open(&r->j, SD_JOURNAL_LOCAL_ONLY);
    if (e < 0) {
        r->j = NULL;
        wsmd__evr_close(r);
        return WSM_ERR_IO;
    }
    sd->set_data_threshold(r->j, DATA_THRESHOLD);
    /* The inotify watches exist from here on: nothing written after the
     * seek below can be missed. */
    if (sd->get_fd(r->j) < 0) {
        wsmd__evr_close(r);
        return WSM_ERR_IO;
    }
    switch (o->start) {
    case WSMD_EV_FROM_OLDEST:
        e = sd->seek_head(r->j);
        r->pos = POS_NONE;
        break;
    case WSMD_EV_FROM_NOW:
        e = sd->seek_tail(r->j);
        if (e >= 0) {
            /* On the last entry, as if it had been examined; in an empty
             * journal, the head is "now". */
            e = sd->previous(r->j);
            if (e > 0)
                r->pos = POS_DONE;
            else if (e == 0)
                e = sd->seek_head(r->j);
        }
        break;
    case WSMD_EV_FROM_BOOKMARK:
        if (!has_cursor) {
            e = sd->seek_head(r->j);
            break;
        }
        e = sd->seek_cursor(r->j, cursor);
        if (e >= 0 && (e = sd->next(r->j)) > 0)
            r->pos = sd->test_cursor(r->j, cursor) > 0 ? POS_DONE : POS_PENDING;
        break;
    default:
        e = -1;
    }
    if (e < 0) {
        wsmd__evr_close(r);
        return WSM_ERR_IO;
    }
    struct wsm_buf bm;
    wsm__buf_init(&bm, 0);
    if (has_cursor && wsm__buf_add(&bm, o->bookmark, o->bookmark_len) == WSM_OK)
        r->start_bm = wsm__buf_steal(&bm, NULL);
    else if (!has_cursor)
        r->start_bm = strdup("<BookmarkList/>");
    wsm__buf_free(&bm);
    if (!r->start_bm) {
        wsmd__evr_close(r);
        return WSM_ERR_NOMEM;
    }
    snprintf(r->last_chan, sizeof(r->last_chan), "%s", wsmd__evq_first_path(r->q));
    *out = r;
    return WSM_OK;
}

int wsmd__evr_fd(struct wsmd_evreader *r)
{
    return r && r->j ? r->sd->get_fd(r->j) : -1;
}

/* Copies the current entry's fields out of the mapping (the pointers
 * sd-journal gives are valid only until its next call). */
static enum wsm_err load_entry(struct wsmd_evreader *r, struct wsmd_evin *ev)
{
    const struct wsmd_sdj *sd = r->sd;
    memset(ev, 0, sizeof(*ev));
    if (sd->get_realtime_usec(r->j, &ev->realtime_usec) < 0)
        ev->realtime_usec = 0;
    char *cur = NULL;
    if (sd->get_cursor(r->j, &cur) >= 0 && cur) {
        ev->seqnum = seqnum_of(cur);
        free(cur);
    }
    wsm__buf_reset(&r->data);
    if (!r->offs) {
        r->offs = calloc(MAX_FIELDS, sizeof(*r->offs));
        r->lens = calloc(MAX_FIELDS, sizeof(*r->lens));
        r->f = calloc(MAX_FIELDS, sizeof(*r->f));
        if (!r->offs || !r->lens || !r->f)
            return WSM_ERR_NOMEM;
    }
    size_t n = 0;
    const void *d;
    size_t l;
    sd->restart_data(r->j);
    int e;
    while (n < MAX_FIELDS && (e = sd->enumerate_data(r->j, &d, &l)) > 0) {
        r->offs[n] = r->data.len;
        r->lens[n] = l;
        if (wsm__buf_add(&r->data, d, l) != WSM_OK)
            return WSM_ERR_NOMEM;
        n++;
    }
    for (size_t i = 0; i < n; i++) {
        const char *s = r->data.data + r->offs[i];
        const char *eq = memchr(s, '=', r->lens[i]);
        size_t nl = eq ? (size_t)(eq - s) : r->lens[i];
        r->f[i] = (struct wsmd_evfield){s, nl, eq ? eq + 1 : s + nl, eq ? r->lens[i] - nl - 1 : 0};
    }
    ev->f = r->f;
    ev->n = n;
    wsmd__evin_derive(ev);
    return WSM_OK;
}

enum wsm_err wsmd__evr_next(struct wsmd_evreader *r, struct wsm_buf *out)
{
    int processed = 0;
    uint64_t now = now_usec();
    for (;;) {
        if (r->pos == POS_PENDING) {
            r->pos = POS_DONE;
        } else {
            int e = r->sd->next(r->j);
            if (e < 0)
                return WSM_ERR_IO;
            if (e == 0) {
                /* Drained: let sd-journal read its inotify events (new
                 * files after a rotation, the descriptor's readiness),
                 * then look once more. */
                if (processed++)
                    return WSM_ERR_TIMED_OUT;
                if (r->sd->process(r->j) < 0)
                    return WSM_ERR_IO;
                continue;
            }
            r->pos = POS_DONE;
        }
        struct wsmd_evin ev;
        enum wsm_err err = load_entry(r, &ev);
        if (err)
            return err;
        char chan[WSMD_EVCHAN_NAME_MAX];
        if (!wsmd__evq_match(r->q, &ev, now, chan))
            continue;
        err = wsmd__ev_render(&ev, chan, r->computer, r->rendered, out);
        if (err)
            return err;
        memcpy(r->last_chan, chan, sizeof(chan));
        return WSM_OK;
    }
}

enum wsm_err wsmd__evr_bookmark(struct wsmd_evreader *r, struct wsm_buf *out)
{
    if (r->pos != POS_DONE)
        return wsm__buf_puts(out, r->start_bm);
    char *cur = NULL;
    if (r->sd->get_cursor(r->j, &cur) < 0 || !cur)
        return WSM_ERR_IO;
    enum wsm_err e = wsm__buf_puts(out, "<BookmarkList><Bookmark Channel='");
    if (!e)
        e = wsmd__ev_xml_text(out, r->last_chan, strlen(r->last_chan));
    if (!e)
        e = wsm__buf_printf(out, "' RecordId='%llu' IsCurrent='true' Cursor='",
                            (unsigned long long)seqnum_of(cur));
    if (!e)
        e = wsmd__ev_xml_text(out, cur, strlen(cur));
    if (!e)
        e = wsm__buf_puts(out, "'/></BookmarkList>");
    free(cur);
    return e;
}

void wsmd__evr_close(struct wsmd_evreader *r)
{
    if (!r)
        return;
    if (r->j)
        r->sd->close(r->j);
    wsm__buf_free(&r->data);
    free(r->offs);
    free(r->lens);
    free(r->f);
    free(r->start_bm);
    free(r);
}
