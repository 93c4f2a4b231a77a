/* Push deliveries of the event source: how they authenticate to the
 * subscriber, as its Subscribe asks (DSP0226 10.2.2 and annex C, MS-WSMV
 * 2.2.4.1; docs/internals/eventlog.md "Authenticating to the subscriber").
 *
 * The NotifyTo names a security profile, in a w:Auth element or, as
 * Windows' collectors write it, a WS-Policy ExactlyOne of
 * auth:Authentication alternatives:
 *
 *   …/secprofile/http/basic, …/https/basic    the Subscribe's UsernameToken
 *   …/http/spnego-kerberos, …/https/…         Negotiate (Kerberos) with the
 *                                             forwarder's keytab, bodies
 *                                             sealed over http://
 *   …/https/mutual + ClientCertificate/Thumbprint   the forwarder's client
 *                                             certificate, when it (or its
 *                                             issuer, Role="issuer") matches
 *
 * The first alternative this host can honour is taken. When none can be,
 * the Subscribe fails with the first one's reason: a subscriber that asked
 * for Kerberos never gets Basic or nothing instead. */
#include <string.h>
#include <strings.h>

#include <libxml/tree.h>

#include "evpush.h"
#include "forwarder.h"
#include "ns.h"

#define MAX_ALTERNATIVES 8

static int ends(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcasecmp(s + a - b, suffix);
}

/* The elements named name (any namespace) under n, in document order. */
static void collect(xmlNodePtr n, const char *name, int depth, xmlNodePtr *out, int *count, int max)
{
    for (xmlNodePtr c = n ? n->children : NULL; c && depth > 0 && *count < max; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (!strcmp((const char *)c->name, name))
            out[(*count)++] = c;
        else
            collect(c, name, depth - 1, out, count, max);
    }
}

static xmlNodePtr find_local(xmlNodePtr n, const char *name, int depth)
{
    xmlNodePtr f = NULL;
    int k = 0;
    collect(n, name, depth, &f, &k, 1);
    return f;
}

struct verdict {
    enum wsm_err err;
    const char *why;
};

static int refuse(struct verdict *v, enum wsm_err e, const char *why)
{
    v->err = e;
    v->why = why;
    return 0;
}

/* One alternative: 1 when this host can honour it (*auth and the
 * credentials set), else 0 with the reason in v. */
static int honour(struct wsmd_call *call, xmlNodePtr au, const char *url, int *auth,
                  const char **user, const char **password, struct verdict *v)
{
    const char *profile = wsm__xml_attr(au, "Profile");
    int https = !strncasecmp(url, "https://", 8);
    if (!profile || ends(profile, "/standard")) {
        *auth = WSMD_EVPUSH_AUTH_NONE;
        return 1;
    }
    if (strstr(profile, "/https/") && !https)
        return refuse(v, WSM_ERR_INVALID_OPTIONS,
                      "An https security profile needs an https:// NotifyTo address.");
    if (strstr(profile, "/mutual/")) /* https/mutual/basic and the like */
        return refuse(v, WSM_ERR_UNSUPPORTED_FEATURE,
                      "This event source does not combine a client certificate with another "
                      "authentication; it delivers with http(s)/basic, http(s)/spnego-kerberos "
                      "or https/mutual.");
    /* The forwarder's keytab and certificate are copied into this process
     * only when a Subscribe asks for them. */
    const struct wsmd_config *cfg = call->srv ? &call->srv->cfg : NULL;
    if (ends(profile, "/basic")) {
        /* Credentials for the subscriber: a UsernameToken in the
         * Subscribe's header (wst:IssuedTokens, DSP0226 10.2.2). */
        xmlNodePtr tok = find_local(call->env->header, "UsernameToken", 6);
        xmlNodePtr un = find_local(tok, "Username", 1), pw = find_local(tok, "Password", 1);
        const char *u = un ? wsm__xml_text(&call->env->arena, un, 1) : NULL;
        const char *p = pw ? wsm__xml_text(&call->env->arena, pw, 0) : NULL;
        if (!u || !*u || !p || strchr(u, ':'))
            return refuse(v, WSM_ERR_INVALID_OPTIONS,
                          "The Basic profile needs a UsernameToken (Username, Password) in "
                          "the Subscribe's header.");
        *auth = WSMD_EVPUSH_AUTH_BASIC;
        *user = u;
        *password = p;
        return 1;
    }
    if (ends(profile, "/spnego-kerberos")) {
        if (!wsmd__fwd_lent(cfg)->keytab[0])
            return refuse(v, WSM_ERR_UNSUPPORTED_FEATURE,
                          "Kerberos deliveries need this host's keytab, and none is "
                          "configured (ForwarderKeytab, ForwarderPrincipal).");
        *auth = WSMD_EVPUSH_AUTH_KERBEROS;
        return 1;
    }
    if (ends(profile, "/https/mutual")) {
        const struct wsmd_fwd_lent *lent = wsmd__fwd_lent(cfg);
        if (!lent->cert[0])
            return refuse(v, WSM_ERR_UNSUPPORTED_FEATURE,
                          "Client certificate deliveries need a certificate, and none is "
                          "configured (ForwarderCertificate, ForwarderKey).");
        xmlNodePtr th[16];
        int n = 0;
        collect(au, "Thumbprint", 3, th, &n, 16);
        if (n == 0)
            return refuse(v, WSM_ERR_INVALID_OPTIONS,
                          "The https/mutual profile needs a ClientCertificate with a "
                          "Thumbprint (MS-WSMV 2.2.4.1).");
        for (int i = 0; i < n; i++) {
            const char *role = wsm__xml_attr(th[i], "Role");
            const char *t = wsm__xml_text(&call->env->arena, th[i], 1);
            if (wsmd__fwd_lent_matches(lent, t, role && !strcasecmp(role, "issuer"))) {
                *auth = WSMD_EVPUSH_AUTH_CERT;
                *user = lent->thumb;
                return 1;
            }
        }
        return refuse(v, WSM_ERR_UNSUPPORTED_FEATURE,
                      "The configured client certificate (ForwarderCertificate) matches none "
                      "of the Subscribe's Thumbprints, neither itself nor its issuer.");
    }
    return refuse(v, WSM_ERR_UNSUPPORTED_FEATURE,
                  "This event source delivers with http(s)/basic, http(s)/spnego-kerberos or "
                  "https/mutual (a client certificate); the Subscribe asks for another "
                  "security profile.");
}

enum wsm_err wsmd__evpush_auth(struct wsmd_call *call, xmlNodePtr nt, xmlNodePtr d, const char *url,
                               int *auth, const char **user, const char **password)
{
    *auth = WSMD_EVPUSH_AUTH_NONE;
    *user = *password = NULL;
    xmlNodePtr alt[MAX_ALTERNATIVES];
    int n = 0;
    collect(nt, "Auth", 8, alt, &n, MAX_ALTERNATIVES);
    collect(nt, "Authentication", 8, alt, &n, MAX_ALTERNATIVES);
    if (n == 0)
        collect(d, "Auth", 1, alt, &n, MAX_ALTERNATIVES);
    if (n == 0)
        return WSM_OK; /* none asked */
    struct verdict first = {WSM_OK, NULL};
    for (int i = 0; i < n; i++) {
        struct verdict v = {WSM_OK, NULL};
        if (honour(call, alt[i], url, auth, user, password, &v))
            return WSM_OK;
        if (!first.err)
            first = v;
    }
    *auth = WSMD_EVPUSH_AUTH_NONE;
    *user = *password = NULL;
    call->fault_message = first.why;
    return first.err;
}
