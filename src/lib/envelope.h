/* SOAP 1.2 envelopes: parsing with hard limits, the WS-Addressing and
 * WS-Management headers, and the start and end of reply envelopes. */
#ifndef WSM_ENVELOPE_H
#define WSM_ENVELOPE_H

#include <libxml/tree.h>
#include <stddef.h>

#include "arena.h"
#include "buf.h"
#include "wsm/wsm.h"

#define WSM_DEFAULT_MAX_ENVELOPE 512000
#define WSM_DEFAULT_MAX_DEPTH 64
/* Attributes (namespace declarations included) on one element of a
 * request: WS-Management envelopes carry a handful, and libxml2 checks an
 * element's attributes against each other (quadratic in their number). */
#define WSM_DEFAULT_MAX_ATTRS 64
#define WSM_MAX_SELECTORS 32
#define WSM_MAX_OPTIONS 32

struct wsm_limits {
    size_t max_size; /* bytes; 0: WSM_DEFAULT_MAX_ENVELOPE */
    int max_depth;   /* 0: WSM_DEFAULT_MAX_DEPTH */
    int max_attrs;   /* requests; 0: WSM_DEFAULT_MAX_ATTRS */
    int response;    /* a reply: Action and MessageID are not required */
};

struct wsm_pair {
    const char *name;
    const char *value;
};

struct wsm_envelope {
    xmlDocPtr doc;
    xmlNodePtr header; /* may be NULL */
    xmlNodePtr body;
    xmlNodePtr payload; /* first element child of Body, or NULL */
    struct wsm_arena arena;

    /* Strings live in the arena; NULL when the header is absent. */
    const char *to;
    const char *action;
    const char *message_id;
    const char *reply_to;
    const char *relates_to;
    const char *resource_uri;
    const char *locale;
    const char *fragment;      /* w:FragmentTransfer expression */
    long operation_timeout_ms; /* -1: absent */
    long max_envelope_size;    /* -1: absent */

    size_t nselectors;
    struct wsm_pair selectors[WSM_MAX_SELECTORS];
    size_t noptions;
    struct wsm_pair options[WSM_MAX_OPTIONS];

    int is_identify;         /* the body is wsmid:Identify */
    int want_count_estimate; /* w:RequestTotalItemsCountEstimate (Enumerate, Pull) */
};

/* Parses buf as a SOAP 1.2 envelope. A DOCTYPE is refused before parsing,
 * entities are never expanded, nothing is loaded from the network, and
 * nesting is capped. On success *out owns the document. On a failure
 * after the headers were read, the request's MessageID is copied to msgid
 * (if not NULL and it fits) so that the fault can relate to it. */
enum wsm_err wsm__envelope_parse(const char *buf, size_t len, const struct wsm_limits *lim,
                                 struct wsm_envelope **out, char *msgid, size_t msgid_len);
void wsm__envelope_free(struct wsm_envelope *env);
/* Frees the calling thread's cached parser context (the main thread calls
 * it before exit; other threads free theirs when they end). */
void wsm__envelope_thread_cleanup(void);

/* The value of selector/option name, or NULL. */
const char *wsm__envelope_selector(const struct wsm_envelope *env, const char *name);
const char *wsm__envelope_option(const struct wsm_envelope *env, const char *name);

/* Parses an xs:duration such as PT60.000S into milliseconds. */
enum wsm_err wsm__duration_ms(const char *s, long *ms);

/* Element helpers over libxml2 trees. */
int wsm__xml_is(const xmlNode *n, const char *ns, const char *name);
xmlNodePtr wsm__xml_child(const xmlNode *parent, const char *ns, const char *name);
xmlNodePtr wsm__xml_next(const xmlNode *after, const char *ns, const char *name);
/* Text content copied into the arena (trimmed of surrounding whitespace
 * when trim is set); NULL on allocation failure. */
const char *wsm__xml_text(struct wsm_arena *a, const xmlNode *n, int trim);
const char *wsm__xml_attr(const xmlNode *n, const char *name);

/* Writes the start of a reply: Envelope with the given extra namespace
 * declarations (a string like ' xmlns:rsp="..."', may be NULL), Header
 * with To, Action, MessageID, RelatesTo, then the opening Body tag. */
enum wsm_err wsm__reply_begin(struct wsm_buf *out, const char *action, const char *relates_to,
                              const char *extra_ns);
enum wsm_err wsm__reply_end(struct wsm_buf *out);

#endif
