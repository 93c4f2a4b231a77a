/* The client's reading of a SOAP fault, whoever wrote it: Windows and wsmd
 * put a f:WSManFault with a Code in the detail, OMI an OMI_Error instance
 * (a CIM status code and message), OpenWSMAN only a subcode and a reason.
 * Everything found is kept in the session (wsm_session_fault), and a
 * fault without a WSManFault code gets the Windows number its subcode
 * stands for, as Windows' own client reports it. Also keeps the raw body
 * of the last reply that could not be used (wsm_session_reply), so that a
 * tool can show what it could not read. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client_internal.h"
#include "ns.h"

/* The most of a failed reply kept for the caller to show. */
#define KEEP_REPLY_MAX (1024 * 1024)

struct wsm__fault_rec {
    struct wsm_fault pub;
    char *strs[9]; /* what pub's strings point into */
};

/* WS-Management, WS-Addressing, WS-Enumeration and WS-Eventing subcodes
 * (and SOAP's own codes) and the ERROR_WSMAN_* number (or Win32 code)
 * Windows' client reports for each; the same numbers as the service's
 * table in fault.c. Matched by local name: the namespaces' prefixes vary
 * (wsa:, a:, wsman:, w:) and the names do not collide. */
static const struct {
    const char *name;
    unsigned long code;
} subcodes[] = {
    {"DestinationUnreachable", 2150858770UL}, /* 0x80338012 */
    {"ActionNotSupported", 2150858771UL},
    {"EndpointUnavailable", 2150858772UL},
    {"InvalidMessageInformationHeader", 2150858767UL},
    {"MessageInformationHeaderRequired", 2150858769UL},
    {"AccessDenied", 5UL}, /* ERROR_ACCESS_DENIED, shown as 0x80070005 */
    {"InvalidSelectors", 2150858813UL},
    {"TimedOut", 2150858793UL},
    {"InternalError", 2150858755UL},
    {"SchemaValidationError", 2150858817UL},
    {"EncodingLimit", 2150858805UL},
    {"InvalidOptions", 2150858809UL},
    {"InvalidParameter", 2150858810UL},
    {"QuotaLimit", 2150858815UL},
    {"UnsupportedFeature", 2150858818UL},
    {"InvalidEnumerationContext", 2150858779UL},
    {"FilterDialectRequestedUnavailable", 2150858777UL},
    {"CannotProcessFilter", 2150859042UL},
    {"InvalidRepresentation", 2150858773UL},
    {"AlreadyExists", 2147942583UL},
    {"DeliveryModeRequestedUnavailable", 2150858782UL},
    {"InvalidExpirationTime", 2150858783UL},
    {"FilteringRequestedUnavailable", 2150858786UL},
    {"UnableToRenew", 2150858788UL},
    {"InvalidBookmark", 2150858808UL},
    /* s:Code values that stand alone. */
    {"MustUnderstand", 2150858768UL},
    {"VersionMismatch", 2150858765UL},
};

/* DSP0004's CIM status codes, by number. */
static const char *const cim_names[] = {
    NULL,
    "CIM_ERR_FAILED",
    "CIM_ERR_ACCESS_DENIED",
    "CIM_ERR_INVALID_NAMESPACE",
    "CIM_ERR_INVALID_PARAMETER",
    "CIM_ERR_INVALID_CLASS",
    "CIM_ERR_NOT_FOUND",
    "CIM_ERR_NOT_SUPPORTED",
    "CIM_ERR_CLASS_HAS_CHILDREN",
    "CIM_ERR_CLASS_HAS_INSTANCES",
    "CIM_ERR_INVALID_SUPERCLASS",
    "CIM_ERR_ALREADY_EXISTS",
    "CIM_ERR_NO_SUCH_PROPERTY",
    "CIM_ERR_TYPE_MISMATCH",
    "CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED",
    "CIM_ERR_INVALID_QUERY",
    "CIM_ERR_METHOD_NOT_AVAILABLE",
    "CIM_ERR_METHOD_NOT_FOUND",
    NULL,
    NULL,
    "CIM_ERR_NAMESPACE_NOT_EMPTY",
    "CIM_ERR_INVALID_ENUMERATION_CONTEXT",
    "CIM_ERR_INVALID_OPERATION_TIMEOUT",
    "CIM_ERR_PULL_HAS_BEEN_ABANDONED",
    "CIM_ERR_PULL_CANNOT_BE_ABANDONED",
    "CIM_ERR_FILTERED_ENUMERATION_NOT_SUPPORTED",
    "CIM_ERR_CONTINUATION_ON_ERROR_NOT_SUPPORTED",
    "CIM_ERR_SERVER_LIMITS_EXCEEDED",
    "CIM_ERR_SERVER_IS_SHUTTING_DOWN",
};

static const char *local_name(const char *qname)
{
    const char *colon = qname ? strrchr(qname, ':') : NULL;
    return colon ? colon + 1 : qname;
}

unsigned long wsm__fault_subcode_code(const char *qname)
{
    const char *l = local_name(qname);
    for (size_t i = 0; l && i < sizeof(subcodes) / sizeof(subcodes[0]); i++)
        if (!strcmp(subcodes[i].name, l))
            return subcodes[i].code;
    return 0;
}

const char *wsm__cim_status_name(long code)
{
    if (code <= 0 || (size_t)code >= sizeof(cim_names) / sizeof(cim_names[0]))
        return NULL;
    return cim_names[code];
}

static int named(const xmlNode *n, const char *local)
{
    return n && n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, local);
}

/* The first element child of n with this local name, in any namespace. */
static xmlNodePtr child_local(const xmlNode *n, const char *local)
{
    for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
        if (named(c, local))
            return c;
    return NULL;
}

/* A CIM error instance in the detail (OMI's OMI_Error, DSP0227's
 * CIM_Error): the element, at most two levels down, with a CIMStatusCode. */
static xmlNodePtr find_cim_error(const xmlNode *detail, int depth)
{
    for (xmlNodePtr c = detail ? detail->children : NULL; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (child_local(c, "CIMStatusCode"))
            return c;
        if (depth > 0) {
            xmlNodePtr r = find_cim_error(c, depth - 1);
            if (r)
                return r;
        }
    }
    return NULL;
}

static void rec_free(struct wsm__fault_rec *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < sizeof(r->strs) / sizeof(r->strs[0]); i++)
        free(r->strs[i]);
    free(r);
}

void wsm__fault_clear(wsm_session *s)
{
    rec_free(s->fault);
    s->fault = NULL;
    free(s->last_reply);
    s->last_reply = NULL;
    s->last_reply_len = 0;
}

void wsm__session_keep_reply(wsm_session *s, const char *data, size_t len)
{
    free(s->last_reply);
    s->last_reply = NULL;
    s->last_reply_len = 0;
    if (!data || !len)
        return;
    if (len > KEEP_REPLY_MAX)
        len = KEEP_REPLY_MAX;
    if ((s->last_reply = malloc(len + 1))) {
        memcpy(s->last_reply, data, len);
        s->last_reply[len] = '\0';
        s->last_reply_len = len;
    }
}

/* Copies n's trimmed text into slot i of r; returns it (NULL if absent). */
static const char *keep(struct wsm__fault_rec *r, int i, struct wsm_envelope *env, const xmlNode *n)
{
    const char *t = n ? wsm__xml_text(&env->arena, n, 1) : NULL;
    if (!t || !*t)
        return NULL;
    r->strs[i] = strdup(t);
    return r->strs[i];
}

void wsm__fault_read(wsm_session *s, struct wsm_envelope *env, long status)
{
    rec_free(s->fault);
    s->fault = NULL;
    xmlNodePtr f = wsm__xml_child(env->body, WSM_NS_SOAP, "Fault");
    if (!f) {
        wsm__session_errorf(s, "HTTP %ld", status);
        return;
    }
    struct wsm__fault_rec *r = calloc(1, sizeof(*r));
    if (!r) {
        wsm__session_errorf(s, "fault: out of memory");
        return;
    }
    struct wsm_fault *p = &r->pub;
    p->cim_status = -1;
    xmlNodePtr code = wsm__xml_child(f, WSM_NS_SOAP, "Code");
    xmlNodePtr sub = wsm__xml_child(code, WSM_NS_SOAP, "Subcode");
    p->code = keep(r, 0, env, wsm__xml_child(code, WSM_NS_SOAP, "Value"));
    p->subcode = keep(r, 1, env, wsm__xml_child(sub, WSM_NS_SOAP, "Value"));
    if (p->subcode)
        snprintf(s->fault_subcode, sizeof(s->fault_subcode), "%s", local_name(p->subcode));
    xmlNodePtr reason = wsm__xml_child(f, WSM_NS_SOAP, "Reason");
    p->reason = keep(r, 2, env, wsm__xml_child(reason, WSM_NS_SOAP, "Text"));
    xmlNodePtr detail = wsm__xml_child(f, WSM_NS_SOAP, "Detail");
    xmlNodePtr wf = wsm__xml_child(detail, WSM_NS_FAULT, "WSManFault");
    const char *wcode = wf ? wsm__xml_attr(wf, "Code") : NULL;
    if (wcode)
        p->wsman_code = strtoul(wcode, NULL, 10);
    p->message = keep(r, 3, env, wsm__xml_child(wf, WSM_NS_FAULT, "Message"));
    /* w:FaultDetail (DSP0226 14.6), in any of the WS-Management
     * namespaces' spellings. */
    p->fault_detail = keep(r, 4, env, child_local(detail, "FaultDetail"));
    xmlNodePtr cim = find_cim_error(detail, 1);
    if (cim) {
        p->cim_class = r->strs[5] = strdup((const char *)cim->name);
        const char *sc = keep(r, 6, env, child_local(cim, "CIMStatusCode"));
        char *end = NULL;
        long v = sc ? strtol(sc, &end, 10) : -1;
        if (sc && end && !*end && v >= 0)
            p->cim_status = v;
        p->cim_status_name = wsm__cim_status_name(p->cim_status);
        p->cim_message = keep(r, 7, env, child_local(cim, "Message"));
        if (!p->cim_message)
            p->cim_message = keep(r, 7, env, child_local(cim, "OMI_ErrorMessage"));
    }
    /* Windows' number: the WSManFault's, else the subcode's, else the
     * code's own (MustUnderstand). */
    p->win_code = p->wsman_code;
    if (!p->win_code)
        p->win_code = wsm__fault_subcode_code(p->subcode);
    if (!p->win_code)
        p->win_code = wsm__fault_subcode_code(p->code);
    s->fault_code = p->win_code;
    s->fault = r;
    const char *msg = p->reason ? p->reason : p->message ? p->message : p->cim_message;
    if (!msg && p->subcode)
        msg = p->subcode;
    wsm__session_errorf(s, "fault %lu: %s", s->fault_code, msg ? msg : "");
}

const struct wsm_fault *wsm_session_fault(const wsm_session *s)
{
    return s && s->fault ? &s->fault->pub : NULL;
}

const char *wsm_session_reply(const wsm_session *s, size_t *len)
{
    if (len)
        *len = s && s->last_reply ? s->last_reply_len : 0;
    return s ? s->last_reply : NULL;
}
