/* The event source's insides (docs/internals/evsrc.md): what the reader,
 * the channel map, the query matcher and the renderer share. Nothing here
 * knows sd-journal: an entry is a list of fields, so the matcher and the
 * renderer are tested (and fuzzed) without a journal. */
#ifndef WSMD_EVSRC_PRIV_H
#define WSMD_EVSRC_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "evsrc.h"

/* One journal field, NAME=value split at the first '='. The value may hold
 * any bytes (binary fields, NULs, invalid UTF-8). */
struct wsmd_evfield {
    const char *name;
    size_t nlen;
    const char *val;
    size_t vlen;
};

enum wsmd_evchan {
    WSMD_EVCHAN_APPLICATION,
    WSMD_EVCHAN_SYSTEM,
    WSMD_EVCHAN_SECURITY,
    WSMD_EVCHAN__COUNT
};

/* Channel names as Windows spells them (index: enum wsmd_evchan), and the
 * prefix of the per-unit channels ("Unit/ssh.service"). */
extern const char *const wsmd__evchan_names[WSMD_EVCHAN__COUNT];
#define WSMD_EVCHAN_UNIT_PREFIX "Unit/"
#define WSMD_EVCHAN_UNIT_PREFIX_LEN 5
/* A unit name's limit (systemd's UNIT_NAME_MAX is 256 with the NUL). */
#define WSMD_EVUNIT_MAX 255

/* One entry with what the System element, the channel map and the query
 * need, derived once by wsmd__evin_derive. Pointers borrow the fields. */
struct wsmd_evin {
    const struct wsmd_evfield *f;
    size_t n;
    uint64_t realtime_usec; /* __REALTIME_TIMESTAMP */
    uint64_t seqnum;        /* the journal's sequence number: EventRecordID */

    /* derived */
    const char *provider; /* SYSLOG_IDENTIFIER, else _SYSTEMD_UNIT, else _COMM, else "journal" */
    size_t provider_len;
    const char *unit; /* _SYSTEMD_UNIT or NULL: the entry is also in channel Unit/<unit> */
    size_t unit_len;
    const char *message; /* MESSAGE or NULL */
    size_t message_len;
    int level;               /* 1..5 (PRIORITY mapped); 4 without PRIORITY */
    unsigned eventid;        /* EVENT_ID=, else from MESSAGE_ID, else 0 */
    long long pid, tid, uid; /* _PID, TID/_TID, _UID; -1 if absent */
    const char *hostname;    /* _HOSTNAME or NULL */
    size_t hostname_len;
    enum wsmd_evchan chan;
};

/* Finds a field (the first of that name) or NULL. */
const struct wsmd_evfield *wsmd__evin_field(const struct wsmd_evin *e, const char *name);
/* Fills the derived members from f/n (channel.c). */
void wsmd__evin_derive(struct wsmd_evin *e);

/* The query's verdict on one entry (query.c): 1 and the channel it was
 * selected through (a Windows name or "Unit/x", NUL-terminated, in the
 * caller's chan[WSMD_EVCHAN_NAME_MAX]); 0 when no Select takes it or a
 * Suppress drops it. now_usec is the time timediff() counts from. */
#define WSMD_EVCHAN_NAME_MAX (WSMD_EVCHAN_UNIT_PREFIX_LEN + WSMD_EVUNIT_MAX + 1)
int wsmd__evq_match(const struct wsmd_evq *q, const struct wsmd_evin *e, uint64_t now_usec,
                    char *chan);
/* Whether the query compares EventRecordID (the reader then reads the
 * sequence number before matching, not only for the events it renders). */
int wsmd__evq_needs_seqnum(const struct wsmd_evq *q);
/* The channel of the query's first Select (for a bookmark before any event). */
const char *wsmd__evq_first_path(const struct wsmd_evq *q);

/* Appends one <Event> (render.c). computer: the host name when the entry
 * has no _HOSTNAME. rendered: add <RenderingInfo>. */
enum wsm_err wsmd__ev_render(const struct wsmd_evin *e, const char *chan, const char *computer,
                             int rendered, struct wsm_buf *out);
/* Appends bytes as XML text: &<>"' escaped, CR, LF, tab as &#13; &#10; &#9;
 * (safe in attributes too, and an event stays one line), other characters
 * that XML 1.0 forbids as \u00XX (\uFFFE, \uFFFF), bytes that are not UTF-8
 * as \xHH: the forms the collector's evprep.c uses. Never fails on content. */
enum wsm_err wsmd__ev_xml_text(struct wsm_buf *out, const char *s, size_t n);
/* "2026-12-07T10:08:16.4982630Z" (28 characters and a NUL). */
void wsmd__ev_systemtime(uint64_t usec, char out[32]);

#endif
