/* The subscription manager: a source enumerates the GPO's path and gets
 * the Subscribe of every subscription it may use, then says End. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "collector_priv.h"
#include "envelope.h"
#include "ns.h"
#include "server.h"
#include "throttle.h"

#define EN_ENUMERATE_RESPONSE WSM_NS_WSEN "/EnumerateResponse"
#define NS_SUBSCRIPTION "http://schemas.microsoft.com/wbem/wsman/1/subscription"

/* A Host header fit to write back into NotifyTo: a name or address, an
 * optional port; nothing that could break out of the URL. */
static int host_ok(const char *h)
{
    size_t n = h ? strlen(h) : 0;
    if (n == 0 || n > 255)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = h[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '-' || ch == ':' || ch == '[' || ch == ']' || ch == '_'))
            return 0;
    }
    return 1;
}

/* "http(s)://host:port" of the listener the source used, by the name it
 * used (the Host header: the name its Kerberos ticket is for). */
static void notify_base(const struct wsmd_call *call, char *out, size_t n)
{
    const char *scheme = call->lis && call->lis->https ? "https" : "http";
    /* CollectorAddress: the balancer's, so that every node hands out the
     * same NotifyTo whatever name the source used to reach this one. */
    if (call->srv->cfg.collector_address) {
        snprintf(out, n, "%s://%s", scheme, call->srv->cfg.collector_address);
        return;
    }
    const char *host =
        call->conn ? MHD_lookup_connection_value(call->conn, MHD_HEADER_KIND, "Host") : NULL;
    if (host_ok(host))
        snprintf(out, n, "%s://%s", scheme, host);
    else if (call->lis)
        snprintf(out, n, "%s://%s:%d", scheme, call->lis->host, call->lis->port);
    else
        snprintf(out, n, "%s://localhost", scheme);
}

/* The source's claimed name (MachineID header), for logs only. */
static const char *machine_id(const struct wsmd_call *call)
{
    xmlNodePtr h = call->env->header ? call->env->header->children : NULL;
    for (; h; h = h->next)
        if (h->type == XML_ELEMENT_NODE && !strcmp((const char *)h->name, "MachineID"))
            return wsm__xml_text(&call->env->arena, h, 1);
    return NULL;
}

enum wsm_err wsmd__col_enumerate(struct wsmd_call *call)
{
    struct wsmd_collector *col = call->srv->collector;
    const char *res = call->env->resource_uri;
    if (!res || strcasecmp(res, WSMD_SUBSCRIPTION_URI) != 0)
        return WSM_ERR_DESTINATION_UNREACHABLE;
    if (!call->principal)
        return WSM_ERR_ACCESS_DENIED;
    atomic_fetch_add(&col->m.enumerations, 1);
    char base[300];
    notify_base(call, base, sizeof(base));
    const char *mid = machine_id(call);

    struct col_subs *subs = wsmd__col_subs_get(col);
    enum wsm_err e =
        wsm__reply_begin(call->out, EN_ENUMERATE_RESPONSE, call->env->message_id,
                         " xmlns:n=\"" WSM_NS_WSEN "\" xmlns:m=\"" NS_SUBSCRIPTION "\"");
    if (!e)
        e = wsm__buf_puts(call->out, "<n:EnumerateResponse><n:EnumerationContext/><w:Items>");
    size_t given = 0;
    for (size_t i = 0; i < subs->n && !e; i++) {
        const struct wsmd_sub *s = subs->v[i];
        /* Enabled and SourceInitiated: a CollectorInitiated file loads but is
         * never handed out. */
        if (!wsmd__sub_served(s) || !wsmd__sub_allows(s, call->principal))
            continue;
        char *bookmark = NULL;
        if (wsmd__state_bookmark(col->state, s->id, call->principal, &bookmark) != WSM_OK) {
            atomic_fetch_add(&col->m.state_failures, 1);
            e = WSM_ERR_INTERNAL; /* a source must not restart from scratch */
            break;
        }
        struct wsmd_sub_ctx ctx = {
            .notify_base = base,
            .bookmark_xml = bookmark,
            .issuer_thumbprints = call->lis && call->lis->https ? col->issuer_thumbprints : NULL,
            .machine_id = mid,
        };
        e = wsm__buf_printf(call->out, "<m:Subscription><m:Version>uuid:%s</m:Version>",
                            s->version);
        if (!e)
            e = wsmd__sub_write_subscribe(call->out, s, &ctx);
        if (!e)
            e = wsm__buf_puts(call->out, "</m:Subscription>");
        free(bookmark);
        given++;
    }
    wsmd__col_subs_put(subs);
    if (!e)
        e = wsm__buf_puts(call->out, "</w:Items><w:EndOfSequence/></n:EnumerateResponse>");
    if (!e)
        e = wsm__reply_end(call->out);
    char who[256];
    wsmd__log_escape(who, sizeof(who), call->principal);
    char claimed[128];
    wsmd__log_escape(claimed, sizeof(claimed), mid ? mid : "-");
    wsmd__log("event=collector-enumerate principal=%s machine_id=%s subscriptions=%zu", who,
              claimed, given);
    return e;
}

enum wsm_err wsmd__col_end(struct wsmd_call *call)
{
    /* The source is done with the manager for this round (Windows: 204). */
    call->http_status = MHD_HTTP_NO_CONTENT;
    return WSM_OK;
}
