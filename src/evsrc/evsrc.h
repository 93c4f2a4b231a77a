/* The systemd journal as Windows events: the event source's reading side
 * (the event-source issue; docs/internals/evsrc.md).
 *
 * Two halves meet here, built in parallel:
 *   - query: a subscription's Filter (the QueryList of dialect
 *     http://schemas.microsoft.com/win/2004/08/events/eventquery, or a
 *     bare XPath on one channel) compiled once into a matcher;
 *   - reader: a position in the journal, from a bookmark, the oldest entry
 *     (ReadExistingEvents) or now, yielding the entries the query matches,
 *     each rendered as one <Event> element of the Windows event schema
 *     (http://schemas.microsoft.com/win/2004/08/events/event).
 * The WS-Eventing service (Subscribe, Pull, Renew, ..., src/daemon) uses
 * only this header; it never touches sd-journal itself. */
#ifndef WSMD_EVSRC_H
#define WSMD_EVSRC_H

#include <stddef.h>

#include "buf.h"
#include "wsm/wsm.h"

#define WSMD_EVQUERY_DIALECT "http://schemas.microsoft.com/win/2004/08/events/eventquery"

struct wsmd_evq;
struct wsmd_evreader;

/* Compiles a Filter's text (the QueryList element and its content, as the
 * Subscribe carried it). WSM_ERR_INVALID_ARG (malformed, unknown channel)
 * or WSM_ERR_UNSUPPORTED_FEATURE (valid XPath beyond the supported
 * subset) with a one-line reason in why, which becomes the fault's text. */
enum wsm_err wsmd__evq_compile(const char *text, size_t len, struct wsmd_evq **out, char *why,
                               size_t whylen);
void wsmd__evq_free(struct wsmd_evq *q);

/* The same with flags. WSMD_EVQ_IGNORE_CHANNEL_ERROR (the Subscribe's
 * IgnoreChannelError option): a Select or Suppress on a channel this source
 * does not have is kept but takes nothing, instead of refusing the filter;
 * on success why then names the first channel ignored (for a log line), and
 * is empty when none was. Its XPath is still checked. */
#define WSMD_EVQ_IGNORE_CHANNEL_ERROR 1u
enum wsm_err wsmd__evq_compile_ex(const char *text, size_t len, unsigned flags,
                                  struct wsmd_evq **out, char *why, size_t whylen);

enum wsmd_evstart {
    WSMD_EV_FROM_NOW,      /* only entries written after open */
    WSMD_EV_FROM_OLDEST,   /* ReadExistingEvents */
    WSMD_EV_FROM_BOOKMARK, /* exactly after the bookmark */
};

struct wsmd_evreader_opts {
    const struct wsmd_evq *query; /* borrowed; outlives the reader */
    enum wsmd_evstart start;
    const char *bookmark; /* a <BookmarkList> as wsmd__evr_bookmark wrote it */
    size_t bookmark_len;
    int rendered;            /* ContentFormat RenderedText: add <RenderingInfo> */
    const char *journal_dir; /* NULL: the system journal (config JournalDirectory) */
};

/* WSM_ERR_INVALID_ARG: a bookmark that is not ours; WSM_ERR_IO: no journal. */
enum wsm_err wsmd__evr_open(const struct wsmd_evreader_opts *o, struct wsmd_evreader **out);

/* A descriptor to poll for POLLIN: new entries may have been written. After
 * it fires, call wsmd__evr_next until WSM_ERR_TIMED_OUT. */
int wsmd__evr_fd(struct wsmd_evreader *r);

/* Appends the next matching entry's <Event> element to out: WSM_OK, or
 * WSM_ERR_TIMED_OUT when none is there now (nothing appended). A call also
 * stops with WSM_ERR_TIMED_OUT after examining a few thousand entries the
 * query does not take (readers of one journal share it); the fd is then
 * already readable, so a caller that polls it comes back at once. */
enum wsm_err wsmd__evr_next(struct wsmd_evreader *r, struct wsm_buf *out);

/* Appends the position after the last event next returned as a
 * <BookmarkList> element (opaque to callers; given back in opts.bookmark). */
enum wsm_err wsmd__evr_bookmark(struct wsmd_evreader *r, struct wsm_buf *out);

void wsmd__evr_close(struct wsmd_evreader *r);

#endif
