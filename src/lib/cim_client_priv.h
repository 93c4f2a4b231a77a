/* Between the files of libwsm's management-data client: cim_client.c
 * (resource URIs, requests, Transfer and Invoke), cim_xml.c (reply
 * elements copied out with their namespaces, normalized XML), cim_enum.c
 * (WS-Enumeration and its pull iterator) and cim_fast.c (Pull replies
 * read without a tree). */
#ifndef WSM_CIM_CLIENT_PRIV_H
#define WSM_CIM_CLIENT_PRIV_H

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "buf.h"
#include "client_internal.h"
#include "envelope.h"
#include "wsm/wsm.h"

#define ACTION_GET WSM_NS_WSXF "/Get"
#define ACTION_PUT WSM_NS_WSXF "/Put"
#define ACTION_CREATE WSM_NS_WSXF "/Create"
#define ACTION_DELETE WSM_NS_WSXF "/Delete"
#define ACTION_ENUMERATE WSM_NS_WSEN "/Enumerate"
#define ACTION_PULL WSM_NS_WSEN "/Pull"
#define ACTION_RELEASE WSM_NS_WSEN "/Release"
/* WSManFault code of an unknown or expired enumeration context. */
#define FAULT_INVALID_CONTEXT 2150858779UL
/* Pulls in a row that may bring no item before we give up (a service
 * that never ends the sequence and never sends anything). */
#define MAX_EMPTY_PULLS 1000
#define DEFAULT_MAX_ELEMENTS 100

/* Appends to a buffer; the first error sticks in e and later calls do
 * nothing, so a message is written as a plain sequence of calls. */
#define PUT(x)                                                                                     \
    do {                                                                                           \
        if (!e)                                                                                    \
            e = (x);                                                                               \
    } while (0)

struct target {
    const char *uri;
    const struct wsm_selector *sel;
    size_t nsel;
    const struct wsm_selector *opt;
    size_t nopt;
    const char *fragment;
    const char *extra; /* more header XML (may be NULL) */
};

/* An item of a reply read by fast_reply. */
struct raw_item {
    size_t start, end;         /* its text in wsm_enum.raw */
    size_t decl_off, decl_len; /* its inherited declarations in wsm_enum.rdecl */
};

/* One inherited declaration of the items of a reply. */
struct inherited {
    const xmlNs *ns;
    size_t off, len; /* its attribute text in wsm_enum.decl */
};

struct wsm_enum {
    wsm_session *s;
    char *uri;
    char *headers;              /* SelectorSet and OptionSet, written once for every request */
    char *context;              /* the service's EnumerationContext; NULL once gone */
    unsigned max;               /* MaxElements per Pull */
    int end;                    /* EndOfSequence seen: nothing more on the service */
    struct wsm_envelope *batch; /* the last reply; next points into it */
    xmlNodePtr next;            /* the next item to hand out */
    /* The inherited namespace declarations of the items of decl_parent
     * (items that declare no namespace of their own share them). */
    const xmlNode *decl_parent;
    struct wsm_buf decl;   /* all of them, one after the other */
    struct inherited *inh; /* each of them: its namespace and its text in decl */
    size_t ninh, inh_alloc;
    struct wsm_buf item_decl; /* those an item does not redeclare */
    xmlBufferPtr dump;        /* scratch for serializing items */
    /* A reply read without a tree (fast_reply): its text, and each item
     * as a byte range of it with the declarations it inherits. */
    char *raw;
    struct raw_item *ritems;
    size_t nritems, ritems_alloc, rnext;
    struct wsm_buf rdecl; /* the items' inherited declarations */
    xmlParserCtxtPtr sax; /* parser for fast_reply, kept between replies */
};

int wsm__cim_pairs_ok(const struct wsm_selector *p, size_t n, int values_required);
enum wsm_err wsm__cim_put_set(struct wsm_buf *b, const char *set, const char *item,
                              const struct wsm_selector *p, size_t n);
enum wsm_err wsm__cim_begin(struct wsm_buf *b, const wsm_session *s, const char *action,
                            const char *msgid, const struct target *t);
enum wsm_err wsm__cim_invalid(wsm_session *s, const char *why);
int wsm__cim_declared_in(const xmlNs *list, const xmlNs *ns);
enum wsm_err wsm__cim_for_inherited(const xmlNode *n, enum wsm_err (*fn)(void *, const xmlNs *),
                                    void *arg);
enum wsm_err wsm__cim_put_decl(struct wsm_buf *decl, const xmlNs *ns);
enum wsm_err wsm__cim_dump_with(const xmlNode *n, const char *decl, size_t decl_len,
                                xmlBufferPtr buf, char **out);
xmlNodePtr wsm__cim_first_element(const xmlNode *n);
xmlNodePtr wsm__cim_next_element(const xmlNode *n);
const char *wsm__cim_skip_prolog(const char *x);
enum wsm_err wsm__cim_normalize(wsm_session *s, const char *xml, int fragment, char **out);
enum wsm_err wsm__cim_take_payload(wsm_session *s, struct wsm_envelope *env, int empty_ok,
                                   char **out);
int wsm__cim_target_ok(const char *uri, const struct wsm_selector *sel, size_t nsel,
                       const struct wsm_selector *opt, size_t nopt);
enum wsm_err wsm__cim_transfer(wsm_session *s, const char *action, const struct target *t,
                               const char *body, int empty_ok, char **xml_out);
int wsm__cim_fast_reply(wsm_enum *en, struct wsm_buf *resp, const char *msgid, const char *op);
/* An enumeration of session s with no request made yet (its buffers
 * ready, the default MaxElements); NULL without memory. */
wsm_enum *wsm__cim_enum_alloc(wsm_session *s);
/* Takes over a checked reply env (an op: "EnumerateResponse" or
 * "PullResponse"): its context, items and end of sequence. env is taken
 * either way (kept as the batch, or freed on an error). */
enum wsm_err wsm__cim_take_batch(wsm_enum *en, struct wsm_envelope *env, const char *op);

#endif
