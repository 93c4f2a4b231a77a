/* libwsm client: management data. WS-Transfer Get, Put, Create and
 * Delete, custom-action Invoke, and WS-Enumeration with a pull iterator
 * (DSP0226 chapters 7, 8 and 6; the CIM binding of DSP0227 for Invoke and
 * the filter dialects).
 *
 * Requests are written as text with the wsm__buf_ helpers; replies are
 * parsed by wsm__post. What goes back to the caller is one element of the
 * reply, copied into a document of its own so that every namespace it
 * uses is declared on it, then serialized.
 *
 * This file: resource URIs, writing requests, Transfer and Invoke; the
 * rest in cim_xml.c, cim_enum.c and cim_fast.c (cim_client_priv.h).
 */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "client_internal.h"
#include "envelope.h"
#include "xmlctxt.h"
#include "ns.h"
#include "uuid.h"
#include "wsm/wsm.h"
#include "cim_client_priv.h"

/* ---- resource URIs ------------------------------------------------ */

static const struct {
    const char *alias; /* without the slash */
    const char *uri;   /* without the slash */
} aliases[] = {
    {"wmi", "http://schemas.microsoft.com/wbem/wsman/1/wmi"},
    {"wmicimv2", "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2"},
    {"cimv2", "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2"},
    {"winrm", "http://schemas.microsoft.com/wbem/wsman/1"},
    {"wsman", "http://schemas.microsoft.com/wbem/wsman/1"},
    {"shell", "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"},
};

const char *wsm_resource_expand(const char *in, char *buf, size_t n)
{
    const char *head = "", *tail = in;
    if (!in || !buf)
        return NULL;
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
        size_t l = strlen(aliases[i].alias);
        if (strncasecmp(in, aliases[i].alias, l) == 0 && (in[l] == '/' || in[l] == '\0')) {
            head = aliases[i].uri;
            tail = in + l;
            break;
        }
    }
    int w = snprintf(buf, n, "%s%s", head, tail);
    return w >= 0 && (size_t)w < n ? buf : NULL;
}

/* ---- writing requests --------------------------------------------- */

int wsm__cim_pairs_ok(const struct wsm_selector *p, size_t n, int values_required)
{
    if (n && !p)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!p[i].name || !*p[i].name || (values_required && !p[i].value))
            return 0;
    return 1;
}

/* An XML name we are willing to write as an element name. */
static int xml_name_ok(const char *s)
{
    if (!s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return 0;
    return 1;
}

enum wsm_err wsm__cim_put_set(struct wsm_buf *b, const char *set, const char *item,
                              const struct wsm_selector *p, size_t n)
{
    enum wsm_err e = WSM_OK;
    if (!n)
        return WSM_OK;
    PUT(wsm__buf_printf(b, "<w:%s>", set));
    for (size_t i = 0; i < n; i++) {
        PUT(wsm__buf_printf(b, "<w:%s Name=\"", item));
        PUT(wsm__buf_xml(b, p[i].name));
        if (!p[i].value) {
            PUT(wsm__buf_puts(b, "\" xsi:nil=\"true\"/>"));
            continue;
        }
        PUT(wsm__buf_puts(b, "\">"));
        PUT(wsm__buf_xml(b, p[i].value));
        PUT(wsm__buf_printf(b, "</w:%s>", item));
    }
    PUT(wsm__buf_printf(b, "</w:%s>", set));
    return e;
}

/* The envelope up to and including the opening Body tag. */
enum wsm_err wsm__cim_begin(struct wsm_buf *b, const wsm_session *s, const char *action,
                            const char *msgid, const struct target *t)
{
    enum wsm_err e = WSM_OK;
    long ms = s->operation_timeout_ms;
    PUT(wsm__buf_puts(b, "<s:Envelope xmlns:s=\"" WSM_NS_SOAP "\" xmlns:a=\"" WSM_NS_WSA
                         "\" xmlns:w=\"" WSM_NS_WSMAN "\" xmlns:p=\"" WSM_NS_MSWSMAN
                         "\" xmlns:n=\"" WSM_NS_WSEN "\" xmlns:xsi=\"" WSM_NS_XSI
                         "\"><s:Header><a:To>"));
    PUT(wsm__buf_xml(b, s->url));
    PUT(wsm__buf_puts(b, "</a:To><w:ResourceURI s:mustUnderstand=\"true\">"));
    PUT(wsm__buf_xml(b, t->uri));
    PUT(wsm__buf_puts(
        b, "</w:ResourceURI><a:ReplyTo><a:Address s:mustUnderstand=\"true\">" WSM_ADDR_ANONYMOUS
           "</a:Address></a:ReplyTo><a:Action s:mustUnderstand=\"true\">"));
    PUT(wsm__buf_xml(b, action));
    PUT(wsm__buf_puts(b, "</a:Action><w:MaxEnvelopeSize s:mustUnderstand=\"true\">"));
    PUT(wsm__buf_printf(b, "%zu", s->max_envelope));
    PUT(wsm__buf_puts(b, "</w:MaxEnvelopeSize><a:MessageID>"));
    PUT(wsm__buf_xml(b, msgid));
    PUT(wsm__buf_puts(b, "</a:MessageID>"
                         "<w:Locale xml:lang=\"en-US\" s:mustUnderstand=\"false\"/>"
                         "<p:DataLocale xml:lang=\"en-US\" s:mustUnderstand=\"false\"/>"
                         "<w:OperationTimeout>"));
    PUT(wsm__buf_printf(b, "PT%ld.%03ldS", ms / 1000, ms % 1000));
    PUT(wsm__buf_puts(b, "</w:OperationTimeout>"));
    PUT(wsm__cim_put_set(b, "SelectorSet", "Selector", t->sel, t->nsel));
    PUT(wsm__cim_put_set(b, "OptionSet", "Option", t->opt, t->nopt));
    if (t->extra)
        PUT(wsm__buf_puts(b, t->extra));
    if (t->fragment) {
        PUT(wsm__buf_puts(b, "<w:FragmentTransfer s:mustUnderstand=\"true\">"));
        PUT(wsm__buf_xml(b, t->fragment));
        PUT(wsm__buf_puts(b, "</w:FragmentTransfer>"));
    }
    PUT(wsm__buf_puts(b, "</s:Header><s:Body>"));
    return e;
}

/* ---- Transfer ----------------------------------------------------- */

enum wsm_err wsm_get(wsm_session *s, const char *resource_uri, const struct wsm_selector *sel,
                     size_t nsel, const struct wsm_selector *options, size_t noptions,
                     const char *fragment, char **xml_out)
{
    if (!s || !xml_out || !wsm__cim_target_ok(resource_uri, sel, nsel, options, noptions) ||
        (fragment && !*fragment))
        return wsm__cim_invalid(s, "resource URI, selectors, options or fragment");
    struct target t = {resource_uri, sel, nsel, options, noptions, fragment, NULL};
    return wsm__cim_transfer(s, ACTION_GET, &t, NULL, 0, xml_out);
}

enum wsm_err wsm_put(wsm_session *s, const char *resource_uri, const struct wsm_selector *sel,
                     size_t nsel, const struct wsm_selector *options, size_t noptions,
                     const char *fragment, const char *body_xml, char **xml_out)
{
    if (!s || !body_xml || !wsm__cim_target_ok(resource_uri, sel, nsel, options, noptions) ||
        (fragment && !*fragment))
        return wsm__cim_invalid(s, "resource URI, selectors, options, fragment or body");
    char *body = NULL;
    enum wsm_err e = wsm__cim_normalize(s, body_xml, fragment != NULL, &body);
    if (e)
        return e;
    struct target t = {resource_uri, sel, nsel, options, noptions, fragment, NULL};
    e = wsm__cim_transfer(s, ACTION_PUT, &t, body, 1, xml_out);
    free(body);
    return e;
}

enum wsm_err wsm_create(wsm_session *s, const char *resource_uri, const struct wsm_selector *sel,
                        size_t nsel, const struct wsm_selector *options, size_t noptions,
                        const char *body_xml, char **xml_out)
{
    if (!s || !body_xml || !wsm__cim_target_ok(resource_uri, sel, nsel, options, noptions))
        return wsm__cim_invalid(s, "resource URI, selectors, options or body");
    char *body = NULL;
    enum wsm_err e = wsm__cim_normalize(s, body_xml, 0, &body);
    if (e)
        return e;
    struct target t = {resource_uri, sel, nsel, options, noptions, NULL, NULL};
    e = wsm__cim_transfer(s, ACTION_CREATE, &t, body, 1, xml_out);
    free(body);
    return e;
}

enum wsm_err wsm_delete(wsm_session *s, const char *resource_uri, const struct wsm_selector *sel,
                        size_t nsel, const struct wsm_selector *options, size_t noptions)
{
    if (!s || !wsm__cim_target_ok(resource_uri, sel, nsel, options, noptions))
        return wsm__cim_invalid(s, "resource URI, selectors or options");
    struct target t = {resource_uri, sel, nsel, options, noptions, NULL, NULL};
    return wsm__cim_transfer(s, ACTION_DELETE, &t, NULL, 1, NULL);
}

/* ---- Invoke ------------------------------------------------------- */

/* <p:METHOD_INPUT xmlns:p="URI"> with the parameters, as winrm writes it. */
static enum wsm_err write_input(struct wsm_buf *b, const char *uri, const char *method,
                                const struct wsm_param *p, size_t n)
{
    enum wsm_err e = WSM_OK;
    PUT(wsm__buf_printf(b, "<p:%s_INPUT xmlns:p=\"", method));
    PUT(wsm__buf_xml(b, uri));
    PUT(wsm__buf_puts(b, "\">"));
    for (size_t i = 0; i < n; i++) {
        if (!p[i].value) {
            PUT(wsm__buf_printf(b, "<p:%s xsi:nil=\"true\"/>", p[i].name));
            continue;
        }
        PUT(wsm__buf_printf(b, "<p:%s>", p[i].name));
        PUT(wsm__buf_xml(b, p[i].value));
        PUT(wsm__buf_printf(b, "</p:%s>", p[i].name));
    }
    PUT(wsm__buf_printf(b, "</p:%s_INPUT>", method));
    return e;
}

enum wsm_err wsm_invoke(wsm_session *s, const char *resource_uri, const char *method,
                        const struct wsm_selector *sel, size_t nsel,
                        const struct wsm_selector *options, size_t noptions, const char *input_xml,
                        const struct wsm_param *params, size_t nparams, char **xml_out)
{
    if (!s || !xml_out || !method ||
        !wsm__cim_target_ok(resource_uri, sel, nsel, options, noptions) || (input_xml && nparams) ||
        (nparams && !params))
        return wsm__cim_invalid(s, "resource URI, method, selectors, options or input");
    /* A full action URI names the method by its last segment. */
    const char *name = strstr(method, "://") ? strrchr(method, '/') + 1 : method;
    if (!xml_name_ok(name))
        return wsm__cim_invalid(s, "the method name is not an XML name");
    for (size_t i = 0; i < nparams; i++)
        if (!xml_name_ok(params[i].name))
            return wsm__cim_invalid(s, "a parameter name is not an XML name");

    struct wsm_buf action;
    enum wsm_err e = WSM_OK;
    wsm__buf_init(&action, 0);
    if (name == method)
        PUT(wsm__buf_printf(&action, "%s/%s", resource_uri, method));
    else
        PUT(wsm__buf_puts(&action, method));
    char *body = NULL;
    if (!e && input_xml)
        e = wsm__cim_normalize(s, input_xml, 0, &body);
    if (e) {
        wsm__buf_free(&action);
        return e;
    }

    char msgid[WSM_UUID_STRLEN];
    struct wsm_buf b;
    struct wsm_envelope *env = NULL;
    struct target t = {resource_uri, sel, nsel, options, noptions, NULL, NULL};
    wsm__uuid_urn(msgid);
    wsm__buf_init(&b, 0);
    e = wsm__cim_begin(&b, s, action.data, msgid, &t);
    if (body)
        PUT(wsm__buf_puts(&b, body));
    else
        PUT(write_input(&b, resource_uri, name, params, nparams));
    PUT(wsm__buf_puts(&b, "</s:Body></s:Envelope>"));
    free(body);
    wsm__buf_free(&action);
    if ((e = wsm__post_built(s, &b, e, msgid, &env)))
        return e;
    char *x = NULL;
    e = wsm__cim_take_payload(s, env, 1, &x);
    wsm__envelope_free(env);
    if (!e)
        *xml_out = x;
    return e;
}
