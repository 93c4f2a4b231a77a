/* Push deliveries of the event source, the Subscribe's side: a push
 * Subscribe's Delivery read into the stored form, and that form read back
 * (DSP0226 10.2.9, MS-WSMV 3.1.4.1.30; docs/internals/eventlog.md "Push
 * deliveries"). The sending is evpushsend.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/tree.h>

#include "evpush.h"
#include "ns.h"

#define SEP '\x1f' /* between the stored fields: never in XML text */

#define DEFAULT_MAX_ELEMENTS 1000 /* Events mode, when the Subscribe says none */
#define DEFAULT_MAX_TIME_MS 30000 /* Windows' "Normal" MaxTime is 15 min; 30 s is kinder */
#define DEFAULT_MAX_ENVELOPE 512000
#define DEFAULT_RETRY_TOTAL 5 /* Windows' defaults: Total=5, PT60S */
#define DEFAULT_RETRY_MS 60000

/* ---- the Subscribe's Delivery ------------------------------------------ */

int wsmd__evpush_mode(const char *mode)
{
    return mode && (!strcmp(mode, WSMD_EV_MODE_EVENTS) || !strcmp(mode, WSMD_EV_MODE_PUSHACK) ||
                    !strcmp(mode, WSMD_EV_MODE_PUSH));
}

/* The children of an EPR's ReferenceParameters (or ReferenceProperties),
 * each serialised with its own namespace declarations: they are echoed as
 * headers of every message to that EPR (WS-Addressing). */
static char *ref_params(xmlNodePtr epr)
{
    xmlNodePtr rp = wsm__xml_child(epr, WSM_NS_WSA, "ReferenceParameters");
    if (!rp)
        rp = wsm__xml_child(epr, WSM_NS_WSA, "ReferenceProperties");
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    wsm__buf_puts(&b, "");
    xmlDocPtr d = xmlNewDoc((const xmlChar *)"1.0");
    xmlBufferPtr x = xmlBufferCreate();
    int bad = !d || !x;
    for (xmlNodePtr c = rp ? rp->children : NULL; c && !bad; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        xmlNodePtr copy = xmlDocCopyNode(c, d, 1);
        xmlBufferEmpty(x);
        bad = !copy || xmlNodeDump(x, d, copy, 0, 0) < 0 ||
              wsm__buf_add(&b, xmlBufferContent(x), (size_t)xmlBufferLength(x)) != WSM_OK;
        xmlFreeNode(copy);
    }
    if (x)
        xmlBufferFree(x);
    if (d)
        xmlFreeDoc(d);
    char *out = bad ? NULL : wsm__buf_steal(&b, NULL);
    wsm__buf_free(&b);
    return out;
}

static enum wsm_err say(struct wsmd_call *call, enum wsm_err e, const char *msg)
{
    call->fault_message = msg;
    return e;
}

/* Above a year a MaxTime or retry interval means nothing; the stored form
 * (cfg_parse, read at start) holds no more either. */
#define MAX_INTERVAL_MS (86400000L * 365)

static int positive_duration(struct wsmd_call *call, xmlNodePtr n, long *ms)
{
    const char *t = wsm__xml_text(&call->env->arena, n, 1);
    return t && wsm__duration_ms(t, ms) == WSM_OK && *ms > 0 && *ms <= MAX_INTERVAL_MS;
}

static int count_of(struct wsmd_call *call, xmlNodePtr n, unsigned long max, unsigned long *v)
{
    const char *t = n ? wsm__xml_text(&call->env->arena, n, 1) : NULL;
    if (!t || *t < '0' || *t > '9')
        return 0;
    char *end;
    *v = strtoul(t, &end, 10);
    return !*end && *v > 0 && *v <= max;
}

static int has_sep(const char *s)
{
    return s && strchr(s, SEP) != NULL;
}

enum wsm_err wsmd__evpush_parse(struct wsmd_call *call, const char *mode, xmlNodePtr d,
                                struct wsmd_evs *s)
{
    struct wsmd_evpush_cfg c = {.mode = !strcmp(mode, WSMD_EV_MODE_EVENTS)    ? 0
                                        : !strcmp(mode, WSMD_EV_MODE_PUSHACK) ? 1
                                                                              : 2,
                                .max_elements = DEFAULT_MAX_ELEMENTS,
                                .max_time_ms = DEFAULT_MAX_TIME_MS,
                                .max_envelope = DEFAULT_MAX_ENVELOPE,
                                .retry_total = DEFAULT_RETRY_TOTAL,
                                .retry_ms = DEFAULT_RETRY_MS};
    xmlNodePtr nt = wsm__xml_child(d, WSM_NS_WSEV, "NotifyTo");
    xmlNodePtr addr = wsm__xml_child(nt, WSM_NS_WSA, "Address");
    const char *url = addr ? wsm__xml_text(&call->env->arena, addr, 1) : NULL;
    if (!url || (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0))
        return say(call, WSM_ERR_INVALID_SUBSCRIPTION,
                   "A push delivery needs a NotifyTo with an http:// or https:// Address.");
    xmlNodePtr n;
    if ((n = wsm__xml_child(d, WSM_NS_WSMAN, "MaxElements")) &&
        !count_of(call, n, 10000, &c.max_elements))
        return say(call, WSM_ERR_INVALID_OPTIONS, "MaxElements is not a count from 1 to 10000.");
    if (c.mode != 0)
        c.max_elements = 1; /* one event a message */
    if ((n = wsm__xml_child(d, WSM_NS_WSMAN, "MaxTime")) &&
        !positive_duration(call, n, &c.max_time_ms))
        return say(call, WSM_ERR_INVALID_OPTIONS, "MaxTime is not a positive duration.");
    if ((n = wsm__xml_child(d, WSM_NS_WSMAN, "MaxEnvelopeSize")) &&
        (!count_of(call, n, 64ul << 20, &c.max_envelope) || c.max_envelope < 8192))
        return say(call, WSM_ERR_INVALID_OPTIONS,
                   "MaxEnvelopeSize is not a size from 8192 bytes to 64 MB.");
    if ((n = wsm__xml_child(d, WSM_NS_WSMAN, "ConnectionRetry"))) {
        const char *tot = wsm__xml_attr(n, "Total");
        char *end = NULL;
        c.retry_total = tot ? strtoul(tot, &end, 10) : DEFAULT_RETRY_TOTAL;
        if ((tot && (*end || *tot < '0' || *tot > '9' || c.retry_total > 1000)) ||
            !positive_duration(call, n, &c.retry_ms))
            return say(call, WSM_ERR_INVALID_OPTIONS,
                       "ConnectionRetry needs a positive duration and a Total from 0 to 1000.");
    }
    /* How deliveries authenticate to the subscriber (evpushauth.c). */
    const char *user = NULL, *password = NULL;
    enum wsm_err ae = wsmd__evpush_auth(call, nt, d, url, &c.auth, &user, &password);
    if (ae)
        return ae;
    xmlNodePtr et = wsm__xml_child(wsm__xml_child(call->env->body, WSM_NS_WSEV, "Subscribe"),
                                   WSM_NS_WSEV, "EndTo");
    xmlNodePtr eta = wsm__xml_child(et, WSM_NS_WSA, "Address");
    const char *end_to = eta ? wsm__xml_text(&call->env->arena, eta, 1) : NULL;
    char *refs = ref_params(nt), *end_refs = end_to ? ref_params(et) : NULL;
    if (!refs || (end_to && !end_refs)) {
        free(refs);
        free(end_refs);
        return WSM_ERR_NOMEM;
    }
    if (has_sep(url) || has_sep(end_to) || has_sep(user) || has_sep(password)) {
        free(refs);
        free(end_refs);
        return say(call, WSM_ERR_INVALID_OPTIONS, "A control character in the delivery.");
    }
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    enum wsm_err e = wsm__buf_printf(
        &b, "1%c%d%c%s%c%s%c%s%c%s%c%lu%c%ld%c%lu%c%lu%c%ld%c%d%c%s%c%s", SEP, c.mode, SEP, url,
        SEP, refs, SEP, end_to ? end_to : "", SEP, end_refs ? end_refs : "", SEP, c.max_elements,
        SEP, c.max_time_ms, SEP, c.max_envelope, SEP, c.retry_total, SEP, c.retry_ms, SEP, c.auth,
        SEP, user ? user : "", SEP, password ? password : "");
    free(refs);
    free(end_refs);
    if (!e && !(s->push = wsm__buf_steal(&b, NULL)))
        e = WSM_ERR_NOMEM;
    if (b.data)
        explicit_bzero(b.data, b.len);
    wsm__buf_free(&b);
    return e;
}

/* ---- the stored form ---------------------------------------------------- */

void wsmd__evpush_cfg_clear(struct wsmd_evpush_cfg *c)
{
    free(c->notify);
    free(c->notify_refs);
    free(c->end_to);
    free(c->end_refs);
    free(c->user);
    if (c->password) {
        explicit_bzero(c->password, strlen(c->password));
        free(c->password);
    }
    memset(c, 0, sizeof(*c));
}

int wsmd__evpush_cfg_parse(const char *text, struct wsmd_evpush_cfg *c)
{
    memset(c, 0, sizeof(*c));
    const char *f[14];
    size_t fl[14], n = 0;
    const char *p = text;
    for (; n < 14; n++) {
        const char *q = strchr(p, SEP);
        f[n] = p;
        fl[n] = q ? (size_t)(q - p) : strlen(p);
        if (!q) {
            n++;
            break;
        }
        p = q + 1;
    }
    if (n != 14 || fl[0] != 1 || f[0][0] != '1' || strchr(f[13], SEP))
        return -1;
    char num[32];
    unsigned long v[7];
    for (int i = 0; i < 7; i++) {
        size_t k = (size_t)(i == 0 ? 1 : i + 5);
        if (fl[k] == 0 || fl[k] >= sizeof(num))
            return -1;
        memcpy(num, f[k], fl[k]);
        num[fl[k]] = '\0';
        char *end;
        if (num[0] < '0' || num[0] > '9')
            return -1;
        v[i] = strtoul(num, &end, 10);
        if (*end)
            return -1;
    }
    if (v[0] > 2 || v[1] == 0 || v[1] > 10000 || v[2] == 0 ||
        v[2] > (unsigned long)MAX_INTERVAL_MS || v[3] < 8192 || v[3] > (64ul << 20) ||
        v[4] > 1000 || v[5] == 0 || v[5] > (unsigned long)MAX_INTERVAL_MS || v[6] > 3 || fl[2] == 0)
        return -1;
    c->mode = (int)v[0];
    c->max_elements = v[1];
    c->max_time_ms = (long)v[2];
    c->max_envelope = v[3];
    c->retry_total = v[4];
    c->retry_ms = (long)v[5];
    c->auth = (int)v[6];
    c->notify = strndup(f[2], fl[2]);
    c->notify_refs = strndup(f[3], fl[3]);
    c->end_to = fl[4] ? strndup(f[4], fl[4]) : NULL;
    c->end_refs = strndup(f[5], fl[5]);
    c->user = strndup(f[12], fl[12]);
    c->password = strndup(f[13], fl[13]);
    if (!c->notify || !c->notify_refs || (fl[4] && !c->end_to) || !c->end_refs || !c->user ||
        !c->password || ((c->auth == 1 || c->auth == 3) && !*c->user)) {
        wsmd__evpush_cfg_clear(c);
        return -1;
    }
    return 0;
}
