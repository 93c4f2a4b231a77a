/* libwsm: management data (Get, Put, Create, Delete, Invoke, Enumerate)
 * and WS-Eventing subscriptions. Part of the public API: programs include
 * <wsm/wsm.h>, which includes this header (included alone, it includes
 * wsm.h). */
#ifndef WSM_DATA_H
#define WSM_DATA_H

#include "wsm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- management data: Get, Put, Create, Delete, Invoke, Enumerate --- */

/* The resource URI for winrm.cmd's aliases (matched without case):
 *   wmi/      http://schemas.microsoft.com/wbem/wsman/1/wmi/
 *   wmicimv2/ http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/
 *   cimv2/    http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/
 *   winrm/    http://schemas.microsoft.com/wbem/wsman/1/
 *   wsman/    http://schemas.microsoft.com/wbem/wsman/1/
 *   shell/    http://schemas.microsoft.com/wbem/wsman/1/windows/shell/
 * "wmicimv2/Win32_Service" becomes the full URI written into buf; a bare
 * alias ("wmicimv2") becomes its URI without the final slash; anything
 * else is copied as it is. Returns buf, or NULL if the result and its NUL
 * do not fit in n bytes. */
const char *wsm_resource_expand(const char *alias_or_uri, char *buf, size_t n);

/* A name and a value: a selector (w:SelectorSet, the instance's keys) or
 * an option (w:OptionSet). An option's value may be NULL (sent as
 * xsi:nil, winrm's $null); a selector's may not. */
struct wsm_selector {
    const char *name;
    const char *value;
};

/* An input parameter of a method; value NULL is sent as xsi:nil. The
 * name must be an XML name (letters, digits, '_', '-', '.'). */
struct wsm_param {
    const char *name;
    const char *value;
};

/* Every call below addresses resource_uri (a full URI: see
 * wsm_resource_expand) with nsel selectors and noptions options (either
 * array may be NULL when its count is 0). Payloads come back as one
 * standalone element, its namespaces declared on it, in a malloc'd
 * string the caller frees. A fault is WSM_ERR_FAULT with the text in
 * wsm_session_error() and the Windows code in wsm_session_fault_code();
 * WSM_ERR_INVALID_ARG (nothing sent) says why in wsm_session_error(). */

/* Transfer Get. fragment (may be NULL) is a w:FragmentTransfer
 * expression such as "Name" or "Name/text()"; the reply is then the
 * w:XmlFragment element. *xml_out: the instance element. */
enum wsm_err wsm_get(wsm_session *s, const char *resource_uri, const struct wsm_selector *sel,
                     size_t nsel, const struct wsm_selector *options, size_t noptions,
                     const char *fragment, char **xml_out);

/* Transfer Put of body_xml: the whole instance element or, with a
 * fragment, the fragment's content as XML (a property element, or escaped
 * text for "Prop/text()"; a w:XmlFragment element is sent as it is).
 * Caller XML (here, in Create and in Invoke) must be well-formed and
 * without a DTD, else WSM_ERR_INVALID_ARG; an XML declaration is dropped.
 * *xml_out (may be NULL if not wanted) receives the updated resource as
 * the service returns it, or NULL if the reply body is empty. */
enum wsm_err wsm_put(wsm_session *s, const char *resource_uri, const struct wsm_selector *sel,
                     size_t nsel, const struct wsm_selector *options, size_t noptions,
                     const char *fragment, const char *body_xml, char **xml_out);

/* Transfer Create of body_xml (the new resource's element). *xml_out (may
 * be NULL if not wanted): the reply's payload, usually x:ResourceCreated
 * (an endpoint reference), or NULL if the reply body is empty. */
enum wsm_err wsm_create(wsm_session *s, const char *resource_uri, const struct wsm_selector *sel,
                        size_t nsel, const struct wsm_selector *options, size_t noptions,
                        const char *body_xml, char **xml_out);

/* Transfer Delete. */
enum wsm_err wsm_delete(wsm_session *s, const char *resource_uri, const struct wsm_selector *sel,
                        size_t nsel, const struct wsm_selector *options, size_t noptions);

/* Invokes method (a name such as "Create"; the action is resource_uri +
 * "/" + method, or method itself if it is a full URI). The input is
 * either input_xml, a whole <p:METHOD_INPUT xmlns:p="RESOURCE_URI">
 * element, or the nparams params from which the library writes that
 * element; with neither, an empty METHOD_INPUT is sent (as winrm does).
 * Giving both is WSM_ERR_INVALID_ARG. *xml_out: the METHOD_OUTPUT element
 * (NULL if the reply body is empty). */
enum wsm_err wsm_invoke(wsm_session *s, const char *resource_uri, const char *method,
                        const struct wsm_selector *sel, size_t nsel,
                        const struct wsm_selector *options, size_t noptions, const char *input_xml,
                        const struct wsm_param *params, size_t nparams, char **xml_out);

/* An enumeration in progress: its context on the service and at most one
 * Pull's worth of items. Like the session it uses, one thread at a time;
 * free it before its session. */
typedef struct wsm_enum wsm_enum;

#define WSM_DIALECT_WQL "http://schemas.microsoft.com/wbem/wsman/1/WQL"
#define WSM_DIALECT_SELECTOR "http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter"
#define WSM_DIALECT_ASSOCIATION "http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationFilter"

enum wsm_enum_mode {
    WSM_ENUM_OBJECT = 0,         /* the instances */
    WSM_ENUM_EPR = 1,            /* their endpoint references (a:EndpointReference) */
    WSM_ENUM_OBJECT_AND_EPR = 2, /* both, each pair in a w:Item */
};

/* All fields may be left zero. */
struct wsm_enum_opts {
    /* A filter: WQL text ("select * from Win32_Service where ..."), or for
     * other dialects text or, when it starts with '<', XML inserted as the
     * filter's content (it must be well-formed: an element such as
     * b:AssociatedInstances with its namespaces declared). */
    const char *filter;
    /* NULL: WQL when filter is set. The aliases "WQL", "Selector" and
     * "Association" stand for the WSM_DIALECT_ URIs. */
    const char *dialect;
    /* The SelectorFilter dialect: instances whose properties equal these
     * (instead of filter; dialect NULL or the selector dialect). */
    const struct wsm_selector *filter_selectors;
    size_t nfilter_selectors;
    enum wsm_enum_mode mode;
    unsigned max_elements; /* items per Pull; 0: 100 */
    /* 0 or > 0: the Enumerate itself asks for the first items
     * (w:OptimizeEnumeration); < 0: they all come with Pulls. */
    int optimize;
    const struct wsm_selector *selectors; /* w:SelectorSet of the requests */
    size_t nselectors;
    const struct wsm_selector *options; /* w:OptionSet of the requests */
    size_t noptions;
};

/* Enumerate. o may be NULL for the defaults. On success *out is the
 * enumeration; the items are read with wsm_enum_next. */
enum wsm_err wsm_enumerate(wsm_session *s, const char *resource_uri, const struct wsm_enum_opts *o,
                           wsm_enum **out);
/* The next item in *item_xml (malloc'd; an instance, an
 * a:EndpointReference or a w:Item, with its namespaces declared): WSM_OK.
 * WSM_ERR_NOT_FOUND after the last one. Pulls when the items at hand are
 * used up. */
enum wsm_err wsm_enum_next(wsm_enum *e, char **item_xml);
/* Frees e; if the service still holds the enumeration (the sequence did
 * not end), Releases it first. The session's error text and fault code
 * are kept as they were. NULL is a no-op. */
void wsm_enum_free(wsm_enum *e);

/* ---- WS-Eventing subscriptions (Pull mode) ------------------------- */

/* A subscription to an event source, such as the event log resource
 * http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog (DSP0226
 * chapter 10). Like the session it uses, one thread at a time; free it
 * before its session. Faults of the calls below are returned as the
 * matching code (WSM_ERR_CANNOT_PROCESS_FILTER, WSM_ERR_INVALID_BOOKMARK,
 * WSM_ERR_INVALID_SUBSCRIPTION...; WSM_ERR_FAULT for the others) with the
 * text in wsm_session_error() and the Windows code in
 * wsm_session_fault_code(). */
typedef struct wsm_subscription wsm_subscription;

#define WSM_DIALECT_EVENTQUERY "http://schemas.microsoft.com/win/2004/08/events/eventquery"
#define WSM_DELIVERY_PULL "http://schemas.dmtf.org/wbem/wsman/1/wsman/Pull"

enum wsm_delivery {
    WSM_DELIVERY_MODE_PULL = 0, /* the only one the client does for now */
    WSM_DELIVERY_MODE_PUSH = 1,
    WSM_DELIVERY_MODE_PUSH_WITH_ACK = 2,
    WSM_DELIVERY_MODE_EVENTS = 3,
};

/* All fields may be left zero except filter (most event sources need one). */
struct wsm_subscribe_opts {
    enum wsm_delivery mode; /* other than Pull: WSM_ERR_UNSUPPORTED_FEATURE */
    /* A QueryList (XML, one well-formed element) or, when it does not
     * start with '<', text sent escaped. */
    const char *filter;
    const char *dialect;        /* NULL: WSM_DIALECT_EVENTQUERY */
    long expires_ms;            /* > 0: e:Expires as a duration; 0: never */
    const char *bookmark;       /* a BookmarkList element from an earlier
                                   subscription: resume right after it */
    int send_bookmarks;         /* w:SendBookmarks: each Pull brings a bookmark */
    int read_existing;          /* ReadExistingEvents: start at the oldest event */
    const char *content_format; /* "Raw" (NULL) or "RenderedText" */
    long heartbeat_ms;          /* > 0: w:Heartbeats */
    unsigned max_elements;      /* events per Pull by default; 0: 100 */
    long max_time_ms;           /* how long a Pull waits by default; 0: 10000 */
};

/* Subscribe to resource_uri (a full URI: see wsm_resource_expand). On
 * success *out is the subscription; its events come with
 * wsm_subscription_pull. */
enum wsm_err wsm_subscribe(wsm_session *s, const char *resource_uri,
                           const struct wsm_subscribe_opts *o, wsm_subscription **out);

/* Called for each event of a Pull, in order: event_xml is one element (an
 * ev:Event, its namespaces declared), valid during the call. bookmark is
 * set on the last event of a reply that carried one (SendBookmarks): the
 * position after that event, to save once the event is handled; NULL
 * otherwise. A nonzero return stops the remaining events of that reply
 * (they are lost: the service counts them as delivered). */
typedef int (*wsm_event_fn)(void *ud, const char *event_xml, const char *bookmark);

/* One Pull: up to max_elements events (0: the subscription's default),
 * waiting up to timeout_ms (0: the default) for the first. No event
 * within that time is not an error: WSM_OK with *nevents 0. nevents may
 * be NULL. The session's timeout must be longer than timeout_ms. */
enum wsm_err wsm_subscription_pull(wsm_subscription *sub, unsigned max_elements, long timeout_ms,
                                   wsm_event_fn fn, void *ud, size_t *nevents);

/* Renew: a new expiry, expires_ms from now (0: never). */
enum wsm_err wsm_subscription_renew(wsm_subscription *sub, long expires_ms);
/* GetStatus: *remaining_ms gets the time left (-1: it never expires). */
enum wsm_err wsm_subscription_status(wsm_subscription *sub, long long *remaining_ms);
/* Unsubscribe. The handle stays valid (for the accessors) until freed. */
enum wsm_err wsm_unsubscribe(wsm_subscription *sub);
/* Frees sub without Unsubscribing (the subscription lives on in the
 * service until it expires: a later wsm_subscribe with the last bookmark
 * resumes it). NULL is a no-op. */
void wsm_subscription_free(wsm_subscription *sub);

/* The subscription's e:Identifier ("uuid:..."). */
const char *wsm_subscription_id(const wsm_subscription *sub);
/* When it expires, in milliseconds since the epoch (as the service's last
 * answer said); 0: never. */
long long wsm_subscription_expires(const wsm_subscription *sub);
/* The last bookmark a Pull brought (a BookmarkList element), or NULL. */
const char *wsm_subscription_bookmark(const wsm_subscription *sub);

#ifdef __cplusplus
}
#endif
#endif
