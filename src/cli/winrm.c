/* winrm: the WinRM command-line tool, with the syntax of winrm.cmd:
 *
 *   winrm get|set|create|delete|enumerate|invoke|identify ... [-SWITCH:VALUE ...]
 *         [@{KEY="VALUE"[;KEY="VALUE"]}]
 *
 * Exit status: 0 success, 1 a fault or another failure of the operation,
 * 2 a usage error. */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "switches.h"
#include "args.h"
#include "prompt.h"
#include "clientcfg.h"
#include "faultfmt.h"
#include "format.h"
#include "winrm_sub.h"
#include "help.h"
#include "quickconfig.h"
#include "wsm/wsm.h"

#define NS_XSI "http://www.w3.org/2001/XMLSchema-instance"
#define NS_WSA "http://schemas.xmlsoap.org/ws/2004/08/addressing"
#define NS_WSMAN "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
#define NS_CIMBINDING "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd"
#define NS_CIMBASE "http://schemas.dmtf.org/wbem/wsman/1/base"
#define ADDR_ANONYMOUS "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
#define E_FAIL 0x80004005UL
#define ERROR_WSMAN_CANNOT_CONNECT 0x80338012UL
#define ERROR_ACCESS_DENIED 5UL
#define MAX_URI 4096

enum verb {
    V_NONE,
    V_GET,
    V_SET,
    V_CREATE,
    V_DELETE,
    V_ENUMERATE,
    V_INVOKE,
    V_IDENTIFY,
    V_SUBSCRIBE
};

static const struct {
    const char *name;
    enum verb verb;
} verbs[] = {
    {"get", V_GET},
    {"g", V_GET},
    {"set", V_SET},
    {"s", V_SET},
    {"put", V_SET},
    {"p", V_SET},
    {"create", V_CREATE},
    {"c", V_CREATE},
    {"delete", V_DELETE},
    {"d", V_DELETE},
    {"enumerate", V_ENUMERATE},
    {"e", V_ENUMERATE},
    {"enum", V_ENUMERATE},
    {"invoke", V_INVOKE},
    {"i", V_INVOKE},
    {"identify", V_IDENTIFY},
    {"id", V_IDENTIFY},
    {"subscribe", V_SUBSCRIBE}, /* ours: winrm_sub.c */
    {"sub", V_SUBSCRIBE},
};

static int usage(FILE *f)
{
    winrm_print_usage(f); /* help.c, from man/winrm.txt */
    return f == stderr ? 2 : 0;
}

static int usage_error(const char *fmt, const char *arg)
{
    fputs("winrm: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nType \"winrm -?\" for help.\n", stderr);
    return 2;
}

/* ---- key/value lists: @{...}, {...} and URI?k=v+k=v ---------------- */

struct kv {
    char *store; /* the strings the pairs point into */
    struct wsm_selector *v;
    size_t n;
};

static void kv_free(struct kv *k)
{
    free(k->store);
    free(k->v);
    memset(k, 0, sizeof(*k));
}

static int kv_add(struct kv *k, const char *name, const char *value)
{
    struct wsm_selector *v = realloc(k->v, (k->n + 1) * sizeof(*v));
    if (!v)
        return -1;
    k->v = v;
    v[k->n].name = name;
    v[k->n].value = value;
    k->n++;
    return 0;
}

static int is_key_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == ':';
}

static char *skip_ws(char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* {KEY="VALUE";KEY=$null;...} as winrm reads it. Keys are unique. A value
 * may also come unquoted, up to the next ';' (a shell took the quotes).
 * Returns 0, or prints why and returns -1. */
static int parse_hash(const char *text, struct kv *out)
{
    static const char syntax[] =
        "Syntax Error: input must be of the form {KEY=\"VALUE\"[;KEY=\"VALUE\"]}";
    size_t len = strlen(text);
    memset(out, 0, sizeof(*out));
    if (len < 2 || text[0] != '{' || text[len - 1] != '}') {
        fprintf(stderr, "winrm: %s\n", syntax);
        return -1;
    }
    out->store = strdup(text + 1);
    if (!out->store)
        return -1;
    out->store[len - 2] = '\0';
    char *p = skip_ws(out->store);
    while (*p) {
        char *key = p;
        while (is_key_char(*p))
            p++;
        char *key_end = p;
        p = skip_ws(p);
        if (key_end == key || *p != '=')
            goto bad;
        *key_end = '\0';
        p = skip_ws(p + 1);
        char *value, *end;
        if (*p == '"') {
            value = ++p;
            if (!(p = strchr(p, '"')))
                goto bad;
            end = p++;
        } else if (!strncasecmp(p, "$null", 5) && strchr(" \t;", p[5])) {
            value = NULL;
            end = NULL;
            p += 5;
        } else {
            value = p;
            p += strcspn(p, ";");
            end = p;
            while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
        }
        p = skip_ws(p);
        char sep = *p;
        if (end)
            *end = '\0'; /* may be the separator itself: it is in sep */
        if (sep == ';') {
            p = skip_ws(p + 1);
            if (!*p)
                goto bad; /* a trailing ';' */
        } else if (sep) {
            goto bad;
        }
        for (size_t i = 0; i < out->n; i++) {
            if (!strcmp(out->v[i].name, key)) {
                fprintf(
                    stderr,
                    "winrm: Error: Multiple matching parameter names not allowed in @{...}: %s\n",
                    key);
                kv_free(out);
                return -1;
            }
        }
        if (kv_add(out, key, value) != 0) {
            kv_free(out);
            return -1;
        }
    }
    return 0;
bad:
    fprintf(stderr, "winrm: %s\n", syntax);
    kv_free(out);
    return -1;
}

/* Splits RESOURCE?k=v+k2=v2 into the URI (alias expanded, into uri) and
 * the selectors. */
static int parse_resource(const char *arg, char *uri, size_t n, struct kv *sel)
{
    memset(sel, 0, sizeof(*sel));
    size_t base = strcspn(arg, "?");
    char *head = strndup(arg, base);
    if (!head)
        return -1;
    const char *full = wsm_resource_expand(head, uri, n);
    free(head);
    if (!full || !*uri) {
        usage_error("invalid resource URI: %s", arg);
        return -1;
    }
    if (!arg[base])
        return 0;
    if (!(sel->store = strdup(arg + base + 1)))
        return -1;
    for (char *p = sel->store, *next; p && *p; p = next) {
        next = strchr(p, '+');
        if (next)
            *next++ = '\0';
        char *eq = strchr(p, '=');
        if (!eq || eq == p) {
            usage_error("invalid selector in %s (KEY=VALUE[+KEY=VALUE] expected)", arg);
            kv_free(sel);
            return -1;
        }
        *eq = '\0';
        if (kv_add(sel, p, eq + 1) != 0) {
            kv_free(sel);
            return -1;
        }
    }
    return 0;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "winrm: Error: File does not exist: '%s'\n", path);
        return NULL;
    }
    char *data = NULL;
    size_t len = 0, cap = 0, r;
    char chunk[8192];
    while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (len + r + 1 > cap) {
            cap = (len + r + 1) * 2;
            char *p = realloc(data, cap);
            if (!p) {
                free(data);
                fclose(f);
                return NULL;
            }
            data = p;
        }
        memcpy(data + len, chunk, r);
        len += r;
    }
    fclose(f);
    if (!data)
        data = calloc(1, 1);
    else
        data[len] = '\0';
    return data;
}

/* ---- building input XML ------------------------------------------- */

static char *dump(xmlDocPtr d, xmlNodePtr n)
{
    xmlBufferPtr b = xmlBufferCreate();
    char *s = NULL;
    if (b && xmlNodeDump(b, d, n, 0, 0) >= 0)
        s = strdup((const char *)xmlBufferContent(b));
    xmlBufferFree(b);
    return s;
}

static void set_value(xmlDocPtr d, xmlNodePtr el, const char *value)
{
    xmlNodeSetContent(el, NULL);
    if (!value) {
        xmlNsPtr xsi = xmlSearchNsByHref(d, el, (const xmlChar *)NS_XSI);
        if (!xsi)
            xsi =
                xmlNewNs(xmlDocGetRootElement(d), (const xmlChar *)NS_XSI, (const xmlChar *)"xsi");
        xmlSetNsProp(el, xsi, (const xmlChar *)"nil", (const xmlChar *)"true");
        return;
    }
    xmlUnsetNsProp(el, xmlSearchNsByHref(d, el, (const xmlChar *)NS_XSI), (const xmlChar *)"nil");
    xmlAddChild(el, xmlNewDocText(d, (const xmlChar *)value));
}

/* <p:ROOT xmlns:p="URI"><p:KEY>VALUE</p:KEY>...</p:ROOT>: what winrm
 * sends for create and invoke from @{...}. */
static char *element_from_hash(const char *uri, const char *root, const struct kv *h)
{
    xmlDocPtr d = xmlNewDoc((const xmlChar *)"1.0");
    xmlNodePtr r = d ? xmlNewDocNode(d, NULL, (const xmlChar *)root, NULL) : NULL;
    char *out = NULL;
    if (r) {
        xmlDocSetRootElement(d, r);
        xmlNsPtr p = xmlNewNs(r, (const xmlChar *)uri, (const xmlChar *)"p");
        xmlSetNs(r, p);
        for (size_t i = 0; i < h->n; i++) {
            xmlNodePtr c = xmlNewChild(r, p, (const xmlChar *)h->v[i].name, NULL);
            if (c)
                set_value(d, c, h->v[i].value);
        }
        out = dump(d, r);
    }
    xmlFreeDoc(d);
    return out;
}

/* winrm set with @{...}: the instance from Get with the named properties
 * changed. Each key must name exactly one text-only child element. */
static int apply_hash(const char *xml, const struct kv *h, char **out)
{
    xmlDocPtr d = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlNodePtr root = d ? xmlDocGetRootElement(d) : NULL;
    if (!root) {
        fprintf(stderr, "winrm: Error: Unable to parse XML: the resource as Get returned it\n");
        xmlFreeDoc(d);
        return -1;
    }
    for (size_t i = 0; i < h->n; i++) {
        xmlNodePtr match = NULL;
        int count = 0;
        for (xmlNodePtr c = root->children; c; c = c->next) {
            if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, h->v[i].name))
                continue;
            /* cim:Location is not a property (as winrm). */
            if (c->ns && !strcmp((const char *)c->ns->href, NS_CIMBASE))
                continue;
            match = c;
            count++;
        }
        const char *why = NULL;
        if (!count)
            why = "Parameter name does not match any properties on resource: ";
        else if (count > 1)
            why = "Parameter matches more than one property on resource: ";
        for (xmlNodePtr c = match ? match->children : NULL; c && !why; c = c->next)
            if (c->type != XML_TEXT_NODE)
                why = "Parameter matches a non-text property on resource: ";
        if (why) {
            fprintf(stderr, "winrm: Error: %s%s\n", why, h->v[i].name);
            xmlFreeDoc(d);
            return -1;
        }
        set_value(d, match, h->v[i].value);
    }
    *out = dump(d, root);
    xmlFreeDoc(d);
    return *out ? 0 : -1;
}

/* The value of key (without case) in h, or NULL. */
static const char *hash_value(const struct kv *h, const char *key)
{
    for (size_t i = 0; i < h->n; i++)
        if (!strcasecmp(h->v[i].name, key))
            return h->v[i].value;
    return NULL;
}

/* -dialect:association -filter:{Object=RESOURCE?k=v;ResultClassName=...}
 * as DSP0227's b:AssociatedInstances (or b:AssociationInstances with
 * -associations). */
static char *association_filter(const char *filter, int association_instances, const char *main_uri)
{
    static const char *const names[] = {"AssociationClassName", "Role", "ResultClassName",
                                        "ResultRole", "IncludeResultProperty"};
    struct kv h, osel;
    char uri[MAX_URI];
    const char *object = NULL;
    if (parse_hash(filter, &h) != 0)
        return NULL;
    for (size_t i = 0; i < h.n; i++) {
        int known = !strcasecmp(h.v[i].name, "Object");
        for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
            known |= !strcasecmp(h.v[i].name, names[k]);
        if (!known || !h.v[i].value) {
            usage_error("unknown or null key in the association filter: %s", h.v[i].name);
            kv_free(&h);
            return NULL;
        }
        if (!strcasecmp(h.v[i].name, "Object"))
            object = h.v[i].value;
    }
    if (!object) {
        usage_error("%s", "the association filter needs Object=RESOURCE_URI?KEY=VALUE");
        kv_free(&h);
        return NULL;
    }
    if (parse_resource(object, uri, sizeof(uri), &osel) != 0) {
        kv_free(&h);
        return NULL;
    }
    if (!strchr(uri, ':')) {
        /* A bare class (Object=CLASS?k=v) would go out as a relative
         * ResourceURI no server resolves: it is taken in the main resource
         * URI's namespace (that of cimv2/X, of wmicimv2/STAR), as its
         * aliases were expanded; DMTF's all-classes URI (wscim/1/STAR) is
         * cimv2's. Else refused. */
        static const char all_dmtf[] = "http://schemas.dmtf.org/wbem/wscim/1/*";
        char cimv2[MAX_URI];
        const char *base = main_uri;
        if (!strcasecmp(main_uri, all_dmtf) && wsm_resource_expand("cimv2/", cimv2, sizeof(cimv2)))
            base = cimv2;
        const char *slash = strrchr(base, '/');
        char full[MAX_URI];
        if (!slash || strchr(uri, '/') ||
            (size_t)snprintf(full, sizeof(full), "%.*s/%s", (int)(slash - base), base, uri) >=
                sizeof(full)) {
            usage_error("the association filter's Object is not a resource URI: %s (write it as "
                        "the resource URI is written: cimv2/CLASS?KEY=VALUE, or a full URI)",
                        object);
            kv_free(&h);
            kv_free(&osel);
            return NULL;
        }
        memcpy(uri, full, strlen(full) + 1);
    }
    const char *el = association_instances ? "AssociationInstances" : "AssociatedInstances";
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    if (!f) {
        kv_free(&h);
        kv_free(&osel);
        return NULL;
    }
    fprintf(f,
            "<b:%s xmlns:b=\"" NS_CIMBINDING "\" xmlns:a=\"" NS_WSA "\" xmlns:w=\"" NS_WSMAN
            "\"><b:Object><a:Address>" ADDR_ANONYMOUS
            "</a:Address><a:ReferenceParameters><w:ResourceURI>",
            el);
    cli_xml_text(f, uri);
    fputs("</w:ResourceURI><w:SelectorSet>", f);
    for (size_t i = 0; i < osel.n; i++) {
        fputs("<w:Selector Name=\"", f);
        cli_xml_text(f, osel.v[i].name);
        fputs("\">", f);
        cli_xml_text(f, osel.v[i].value);
        fputs("</w:Selector>", f);
    }
    fputs("</w:SelectorSet></a:ReferenceParameters></b:Object>", f);
    /* DSP0227's order. AssociationInstances has no AssociationClassName
     * or ResultRole: its ResultClassName is the association's class, which
     * AssociationClassName gives when ResultClassName is not there. */
    static const char *const associated[] = {"AssociationClassName", "Role", "ResultClassName",
                                             "ResultRole", "IncludeResultProperty"};
    static const char *const association[] = {"ResultClassName", "Role", "IncludeResultProperty"};
    const char *const *order = association_instances ? association : associated;
    size_t norder = association_instances ? 3 : 5;
    for (size_t k = 0; k < norder; k++) {
        const char *v = hash_value(&h, order[k]);
        if (!v && association_instances && k == 0)
            v = hash_value(&h, "AssociationClassName");
        if (!v)
            continue;
        fprintf(f, "<b:%s>", order[k]);
        cli_xml_text(f, v);
        fprintf(f, "</b:%s>", order[k]);
    }
    fprintf(f, "</b:%s>", el);
    fclose(f);
    kv_free(&h);
    kv_free(&osel);
    return out;
}

/* ---- errors -------------------------------------------------------- */

/* Prints the failure of an operation as winrm does, with all that the
 * fault said and, for -format:xml and pretty, the reply itself; returns 1. */
static int report(wsm_session *s, enum wsm_err e, enum cli_format fmt)
{
    char msg[2048];
    const char *detail = wsm_session_error(s);
    unsigned long code = wsm_session_fault_code(s);
    const struct wsm_fault *flt = e == WSM_ERR_FAULT ? wsm_session_fault(s) : NULL;
    /* Not for a call refused before anything was sent. */
    const char *reply =
        e == WSM_ERR_INVALID_ARG || e == WSM_ERR_NOMEM ? NULL : wsm_session_reply(s, NULL);
    if (e == WSM_ERR_FAULT) {
        /* The library writes "fault CODE: TEXT". */
        const char *colon = strncmp(detail, "fault ", 6) == 0 ? strstr(detail, ": ") : NULL;
        cli_fault_message(flt, colon ? colon + 2 : detail, msg, sizeof(msg));
        if (!code)
            code = E_FAIL;
    } else if (e == WSM_ERR_AUTH) {
        code = ERROR_ACCESS_DENIED;
        /* What the client found (no ticket, a scheme the server does not
         * offer...) when it is not just the server's refusal. */
        int own = *detail && ((!strstr(detail, "HTTP 401") && strncmp(detail, "HTTP ", 5)) ||
                              strstr(detail, "does not offer"));
        snprintf(msg, sizeof(msg), "Access is denied.%s%s%s", own ? " (" : "", own ? detail : "",
                 own ? ")" : "");
    } else if (e == WSM_ERR_HTTP && strstr(detail, "dropped the encrypted request")) {
        /* Authenticated, then the connection closed on the sealed
         * request: not a service that is down (gss_post's text). */
        code = ERROR_WSMAN_CANNOT_CONNECT;
        snprintf(msg, sizeof(msg), "%s", detail);
    } else if (e == WSM_ERR_HTTP && strncmp(detail, "HTTP ", 5) != 0) {
        code = ERROR_WSMAN_CANNOT_CONNECT;
        snprintf(msg, sizeof(msg),
                 "The client cannot connect to the destination specified in the request. Verify "
                 "that the service on the destination is running and is accepting requests. (%s)",
                 detail);
    } else {
        code = E_FAIL;
        snprintf(msg, sizeof(msg), "%s%s%s", wsm_strerror(e), *detail ? ": " : "", detail);
    }
    fflush(stdout);
    cli_print_failure(stderr, fmt, code, msg, flt, reply);
    return 1;
}

/* ---- the command line ---------------------------------------------- */

struct cmd {
    enum verb verb;
    const char *method, *resource, *hash;
    const char *remote, *user, *pass, *auth, *timeout, *cert, *key, *cacert, *spn;
    const char *filter, *dialect, *fragment, *options, *return_type, *file;
    int have_filter, associations, skip_ca, skip_cn, usessl, unencrypted;
    unsigned max_elements; /* -maxelements: (ours, not winrm's): items per Pull */
    /* subscribe's (winrm_sub.c) */
    const char *bookmark, *content_format;
    unsigned long count;
    int read_existing, follow;
    enum cli_format fmt;
};

static enum verb find_verb(const char *name)
{
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (!strcasecmp(verbs[i].name, name))
            return verbs[i].verb;
    return V_NONE;
}

/* Returns -1 to go on, or the exit status. */
static int parse_args(int argc, char **argv, struct cmd *c)
{
    const char *positional[3] = {NULL, NULL, NULL};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        const char *a = argv[i];
        if (a[0] == '@') {
            if (c->hash)
                return usage_error("more than one @{...}: %s", a);
            c->hash = a + 1;
        } else if (cli_switch(a, "?|h|help", &v)) {
            return usage(stdout);
        } else if (cli_switch(a, "r|remote|machine", &v) && v) {
            c->remote = v;
        } else if (cli_switch(a, "u|username", &v) && v) {
            c->user = v;
        } else if (cli_switch(a, "p|password", &v) && v) {
            c->pass = v;
        } else if (cli_switch(a, "a|auth|authentication", &v) && v) {
            c->auth = v;
        } else if (cli_switch(a, "f|format", &v) && v) {
            if (cli_parse_format(v, &c->fmt) != 0)
                return usage_error("Invalid option for -format: \"%s\"", v);
        } else if (cli_switch(a, "filter", &v)) {
            c->filter = v ? v : "";
            c->have_filter = 1;
        } else if (cli_switch(a, "dialect", &v) && v) {
            c->dialect = v;
        } else if (cli_switch(a, "fragment", &v) && v) {
            c->fragment = v;
        } else if (cli_switch(a, "options", &v) && v) {
            c->options = v;
        } else if (cli_switch(a, "returntype", &v) && v) {
            c->return_type = v;
        } else if (cli_switch(a, "file", &v) && v) {
            c->file = v;
        } else if (cli_switch(a, "maxelements", &v) && v) {
            char *end;
            unsigned long n = strtoul(v, &end, 10);
            if (end == v || *end || n == 0 || n > 32000)
                return usage_error("invalid -maxelements: %s (1 to 32000)", v);
            c->max_elements = (unsigned)n;
        } else if (cli_switch(a, "count", &v) && v) {
            char *end;
            unsigned long n = strtoul(v, &end, 10);
            if (end == v || *end || n == 0)
                return usage_error("invalid -count: %s (1 or more)", v);
            c->count = n;
        } else if (cli_switch(a, "bookmark", &v) && v) {
            c->bookmark = v;
        } else if (cli_switch(a, "contentformat", &v) && v) {
            if (strcasecmp(v, "raw") && strcasecmp(v, "renderedtext"))
                return usage_error("invalid -contentformat: %s (Raw or RenderedText)", v);
            c->content_format = strcasecmp(v, "raw") ? "RenderedText" : "Raw";
        } else if (cli_switch(a, "readexisting", &v) && !v) {
            c->read_existing = 1;
        } else if (cli_switch(a, "follow", &v) && !v) {
            c->follow = 1;
        } else if (cli_switch(a, "timeout", &v) && v) {
            c->timeout = v;
        } else if (cli_switch(a, "associations", &v) && !v) {
            c->associations = 1;
        } else if (cli_switch(a, "skipcacheck", &v) && !v) {
            c->skip_ca = 1;
        } else if (cli_switch(a, "skipcncheck", &v) && !v) {
            c->skip_cn = 1;
        } else if (cli_switch(a, "usessl|ssl", &v) && !v) {
            c->usessl = 1;
        } else if (cli_switch(a, "unencrypted|un", &v) && !v) {
            c->unencrypted = 1;
        } else if (cli_switch(a, "certificate", &v) && v) {
            c->cert = v;
        } else if (cli_switch(a, "key|keyfile", &v) && v) {
            c->key = v;
        } else if (cli_switch(a, "cacert|cafile", &v) && v) {
            c->cacert = v;
        } else if (cli_switch(a, "spn", &v) && v) {
            c->spn = v;
        } else if (cli_switch(a, "skiprevocationcheck|shallow|basepropertiesonly", &v) && !v) {
            /* Accepted; nothing to do here. */
        } else if (cli_switch_accepted("winrm", a)) {
            /* -encoding:utf-8: requests are UTF-8 anyway. */
        } else if (cli_refused_switch("winrm", a)) {
            fprintf(stderr, "winrm: %s: not supported: %s\n", a, cli_refused_switch("winrm", a));
            return 2;
        } else if (((a[0] != '-' && a[0] != '/') ||
                    (npos == 1 && !strcasecmp(positional[0], "helpmsg"))) &&
                   npos < 3) {
            /* helpmsg's code may be negative, as Windows prints HRESULTs. */
            positional[npos++] = a;
        } else {
            return usage_error("Unknown switch or unexpected argument: %s", a);
        }
    }
    if (!npos)
        return usage(stderr);
    if (!strcasecmp(positional[0], "help") || !strcasecmp(positional[0], "helpmsg")) {
        if (npos > 2)
            return usage_error("%s: wrong number of arguments (winrm -? for help)", positional[0]);
        return positional[0][4] ? winrm_helpmsg(positional[1]) : winrm_help(positional[1]);
    }
    c->verb = find_verb(positional[0]);
    if (c->verb == V_NONE)
        return usage_error("Unknown operation name: '%s'", positional[0]);
    int want = c->verb == V_IDENTIFY ? 1 : c->verb == V_INVOKE ? 3 : 2;
    if (npos != want)
        return usage_error("%s: wrong number of arguments (winrm -? for help)", positional[0]);
    if (c->verb == V_INVOKE) {
        c->method = positional[1];
        c->resource = positional[2];
    } else if (want == 2) {
        c->resource = positional[1];
    }
    if ((c->hash || c->file) && c->verb != V_SET && c->verb != V_CREATE && c->verb != V_INVOKE)
        return usage_error("%s", "Input was supplied to an operation that does not accept input.");
    if (c->hash && c->file)
        return usage_error("%s",
                           "Use either @{KEY=VALUE} or input from an XML file, but not both.");
    if (c->verb != V_SUBSCRIBE &&
        (c->count || c->bookmark || c->content_format || c->read_existing || c->follow))
        return usage_error("%s", "-count, -bookmark, -contentFormat, -readExisting and -follow "
                                 "go with subscribe");
    if (c->verb == V_SUBSCRIBE && (!c->have_filter || !*c->filter))
        return usage_error("%s", "subscribe: -filter:QUERYLIST or -filter:CHANNEL is required");
    if (c->verb == V_SUBSCRIBE && (c->return_type || c->associations || c->dialect))
        return usage_error("%s", "-returnType, -associations and -dialect go with enumerate");
    if (c->verb != V_ENUMERATE && c->verb != V_SUBSCRIBE &&
        (c->have_filter || c->return_type || c->associations || c->max_elements))
        return usage_error(
            "%s", "-filter, -returnType, -associations and -maxelements go with enumerate");
    if (c->fragment && c->verb != V_GET && c->verb != V_SET)
        return usage_error("%s", "-fragment goes with get and set");
    return -1;
}

static int brace_depth(const char *s)
{
    int d = 0, quoted = 0;
    for (; *s; s++) {
        if (*s == '"')
            quoted = !quoted;
        else if (!quoted && *s == '{')
            d++;
        else if (!quoted && *s == '}')
            d--;
    }
    return d;
}

/* @{...}, or a switch whose value is {...} (-options:, -filter:). */
static int opens_hash(const char *a)
{
    if (a[0] == '@')
        return a[1] == '{';
    if (a[0] != '-' && a[0] != '/')
        return 0;
    const char *colon = strchr(a, ':');
    return colon && colon[1] == '{';
}

/* winrm reads its command line whole and keeps a {...} together across
 * spaces; here the shell has already split it: join an argument with an
 * open '{' and the ones after it up to the closing '}'. The strings are
 * malloc'd (args[0] is argv[0]); NULL on allocation failure. */
static char **join_braces(int argc, char **argv, int *outc)
{
    char **args = calloc((size_t)argc + 1, sizeof(*args));
    int n = 0;
    if (!args)
        return NULL;
    for (int i = 0; i < argc; i++) {
        char *a = strdup(argv[i]);
        while (a && i > 0 && i + 1 < argc && opens_hash(a) && brace_depth(a) > 0) {
            char *joined = NULL;
            i++;
            if (asprintf(&joined, "%s %s", a, argv[i]) < 0)
                joined = NULL;
            free(a);
            a = joined;
        }
        if (!a)
            goto fail;
        args[n++] = a;
    }
    *outc = n;
    return args;
fail:
    for (int k = 0; k < n; k++)
        free(args[k]);
    free(args);
    return NULL;
}

/* -r: a URL, or HOST[:PORT] as winrm takes it. */
static char *remote_url(const struct cmd *c, const struct cli_clientcfg *cc)
{
    const char *r = c->remote ? c->remote : "127.0.0.1";
    char *url = NULL;
    if (strstr(r, "://"))
        return strdup(r);
    const char *close = r[0] == '[' ? strchr(r, ']') : NULL;
    int has_port = close ? close[1] == ':' : strchr(r, ':') != NULL;
    const char *scheme = c->usessl ? "https" : "http";
    /* winrm/config/client/DefaultPorts (5985, 5986 unless changed). */
    char port[16] = "";
    if (!has_port)
        snprintf(port, sizeof(port), ":%u", c->usessl ? cc->https_port : cc->http_port);
    if (asprintf(&url, "%s://%s%s/wsman", scheme, r, port) < 0)
        return NULL;
    return url;
}

static int print_result(char *xml, enum cli_format fmt)
{
    if (xml && cli_print_item(stdout, xml, fmt) != 0) {
        fprintf(stderr, "winrm: Unable to reformat message. Raw, unformatted, message:\n%s\n", xml);
        free(xml);
        return 1;
    }
    free(xml);
    return 0;
}

static int do_identify(wsm_session *s, const struct cmd *c)
{
    struct wsm_identity id;
    char *xml = NULL;
    enum wsm_err e = wsm_identify(s, &id, &xml);
    if (e)
        return report(s, e, c->fmt);
    int rc = cli_print(stdout, xml, c->fmt) == 0 ? 0 : 1;
    wsm_identity_clear(&id);
    free(xml);
    return rc;
}

static int do_enumerate(wsm_session *s, const struct cmd *c, const char *uri, const struct kv *sel,
                        const struct kv *opt)
{
    struct wsm_enum_opts o = {
        .selectors = sel->v, .nselectors = sel->n, .options = opt->v, .noptions = opt->n};
    struct kv fsel = {0};
    char *assoc = NULL;
    const char *dialect = c->dialect;
    if (dialect && !strcasecmp(dialect, "selector"))
        dialect = WSM_DIALECT_SELECTOR;
    else if (dialect && !strcasecmp(dialect, "wql"))
        dialect = WSM_DIALECT_WQL;
    else if (dialect && !strcasecmp(dialect, "association"))
        dialect = WSM_DIALECT_ASSOCIATION;
    if (c->associations && !dialect)
        dialect = WSM_DIALECT_ASSOCIATION; /* winrm wants -dialect:association too */
    int is_assoc = dialect && !strcasecmp(dialect, WSM_DIALECT_ASSOCIATION);
    if (c->associations && !is_assoc)
        return usage_error("%s", "-associations is not a valid option for the given dialect");
    if (dialect && !c->have_filter)
        return usage_error("%s", "-filter parameter is required for the given dialect");
    if (c->have_filter && !*c->filter)
        return usage_error("%s", "Argument's value is not provided: filter");
    if (c->return_type) {
        if (!strcasecmp(c->return_type, "object"))
            o.mode = WSM_ENUM_OBJECT;
        else if (!strcasecmp(c->return_type, "epr"))
            o.mode = WSM_ENUM_EPR;
        else if (!strcasecmp(c->return_type, "objectandepr"))
            o.mode = WSM_ENUM_OBJECT_AND_EPR;
        else
            return usage_error("-returnType:%s is not a valid option", c->return_type);
    }
    if (dialect && !strcasecmp(dialect, WSM_DIALECT_SELECTOR)) {
        if (parse_hash(c->filter, &fsel) != 0)
            return 2;
        for (size_t i = 0; i < fsel.n; i++) {
            if (!fsel.v[i].value) {
                kv_free(&fsel);
                return usage_error("$null is no selector value: %s", fsel.v[i].name);
            }
        }
        o.filter_selectors = fsel.v;
        o.nfilter_selectors = fsel.n;
        o.dialect = WSM_DIALECT_SELECTOR;
    } else if (is_assoc) {
        if (!(assoc = association_filter(c->filter, c->associations, uri)))
            return 2;
        o.filter = assoc;
        o.dialect = WSM_DIALECT_ASSOCIATION;
    } else if (c->have_filter) {
        o.filter = c->filter;
        o.dialect = dialect; /* NULL: WQL */
    }
    o.max_elements = c->max_elements;

    wsm_enum *en = NULL;
    enum wsm_err e = wsm_enumerate(s, uri, &o, &en);
    kv_free(&fsel);
    free(assoc);
    if (e == WSM_ERR_INVALID_ARG)
        return usage_error("%s", wsm_session_error(s));
    if (e)
        return report(s, e, c->fmt);
    cli_results_begin(stdout, c->fmt);
    size_t i = 0;
    char *item = NULL;
    int rc = 0;
    while ((e = wsm_enum_next(en, &item)) == WSM_OK) {
        if (cli_results_item(stdout, item, c->fmt, i++) != 0) {
            fprintf(stderr, "winrm: Unable to reformat message. Raw, unformatted, message:\n%s\n",
                    item);
            rc = 1;
        }
        free(item);
    }
    cli_results_end(stdout, c->fmt);
    if (e != WSM_ERR_NOT_FOUND)
        rc = report(s, e, c->fmt);
    wsm_enum_free(en);
    return rc;
}

/* The last segment of a resource URI: the root element winrm writes for
 * create (as winrm, it must match the resource's element name). */
static const char *last_segment(const char *uri)
{
    const char *slash = strrchr(uri, '/');
    return slash ? slash + 1 : uri;
}

static int run(wsm_session *s, const struct cmd *c)
{
    char uri[MAX_URI];
    struct kv sel = {0}, opt = {0}, hash = {0};
    char *input = NULL, *xml = NULL, *body = NULL;
    enum wsm_err e = WSM_OK;
    int rc = 0;

    if (c->verb == V_IDENTIFY)
        return do_identify(s, c);
    if (parse_resource(c->resource, uri, sizeof(uri), &sel) != 0)
        return 2;
    if (c->options && parse_hash(c->options, &opt) != 0) {
        rc = 2;
        goto out;
    }
    if (c->hash && parse_hash(c->hash, &hash) != 0) {
        rc = 2;
        goto out;
    }
    if (c->file && !(input = read_file(c->file))) {
        rc = 1;
        goto out;
    }
    switch (c->verb) {
    case V_GET:
        e = wsm_get(s, uri, sel.v, sel.n, opt.v, opt.n, c->fragment, &xml);
        break;
    case V_DELETE:
        e = wsm_delete(s, uri, sel.v, sel.n, opt.v, opt.n);
        break;
    case V_SET:
        if (!input && !hash.n) {
            fprintf(stderr, "winrm: Error: No input provided through \"@{...}\" or \"-file:\" "
                            "commandline parameters.\n");
            rc = 2;
            goto out;
        }
        if (!input) {
            /* As winrm: Get, change the named properties, Put it back. */
            char *cur = NULL;
            e = wsm_get(s, uri, sel.v, sel.n, opt.v, opt.n, c->fragment, &cur);
            if (e)
                break;
            int bad = apply_hash(cur, &hash, &body);
            free(cur);
            if (bad) {
                rc = 1;
                goto out;
            }
        }
        e = wsm_put(s, uri, sel.v, sel.n, opt.v, opt.n, c->fragment, input ? input : body, &xml);
        break;
    case V_CREATE:
        if (!input && !(body = element_from_hash(uri, last_segment(uri), &hash))) {
            rc = 1;
            goto out;
        }
        e = wsm_create(s, uri, sel.v, sel.n, opt.v, opt.n, input ? input : body, &xml);
        break;
    case V_INVOKE: {
        /* wsm_param has wsm_selector's layout; copy to be type-correct. */
        struct wsm_param *params = hash.n ? calloc(hash.n, sizeof(*params)) : NULL;
        if (hash.n && !params) {
            rc = 1;
            goto out;
        }
        for (size_t i = 0; i < hash.n; i++) {
            params[i].name = hash.v[i].name;
            params[i].value = hash.v[i].value;
        }
        e = wsm_invoke(s, uri, c->method, sel.v, sel.n, opt.v, opt.n, input, params, hash.n, &xml);
        free(params);
        break;
    }
    case V_ENUMERATE:
        rc = do_enumerate(s, c, uri, &sel, &opt);
        goto out;
    case V_SUBSCRIBE: {
        struct winrm_sub_args sa = {.uri = uri,
                                    .filter = c->filter,
                                    .bookmark_file = c->bookmark,
                                    .content_format = c->content_format,
                                    .count = c->count,
                                    .max_elements = c->max_elements,
                                    .read_existing = c->read_existing,
                                    .follow = c->follow,
                                    .fmt = c->fmt,
                                    .report = report,
                                    /* How long a Pull waits for the first event: without -follow,
                                     * the quiet time that ends the command; with it, how soon an
                                     * interrupt is seen (an idle Pull every 2 s costs little). */
                                    .wait_ms = c->follow ? 2000 : 5000};
        /* Within -timeout (the HTTP exchange's limit too). */
        long t = c->timeout ? strtol(c->timeout, NULL, 10) : 0;
        if (t > 1 && t / 2 < sa.wait_ms)
            sa.wait_ms = t / 2;
        rc = winrm_subscribe(s, &sa);
        goto out;
    }
    default:
        break;
    }
    if (e == WSM_ERR_INVALID_ARG) /* the library refused our input */
        rc = usage_error("%s", wsm_session_error(s));
    else if (e)
        rc = report(s, e, c->fmt);
    else
        rc = print_result(xml, c->fmt);
    xml = NULL;
out:
    free(xml);
    free(body);
    free(input);
    kv_free(&sel);
    kv_free(&opt);
    kv_free(&hash);
    return rc;
}

/* winrm get|set winrm/config/client[/auth|/defaultports]: the per-user
 * file (clientcfg.h), no request, as winrm.cmd changes its registry.
 * Returns -1 when the resource is another one. */
static int local_client_config(const struct cmd *c)
{
    char uri[MAX_URI];
    const char *section = wsm_resource_expand(c->resource, uri, sizeof(uri)) && *uri
                              ? cli_clientcfg_section(uri)
                              : NULL;
    if (!section)
        return -1;
    struct cli_clientcfg cc;
    char err[600];
    struct kv hash = {0};
    int rc = 1;
    if (cli_clientcfg_load(&cc, err, sizeof(err)) != 0) {
        fprintf(stderr, "winrm: Error: client configuration: %s\n", err);
        return 1;
    }
    if (c->verb == V_SET) {
        if (!c->hash) {
            fprintf(stderr, "winrm: Error: No input provided through \"@{...}\" "
                            "commandline parameters.\n");
            return 2;
        }
        if (parse_hash(c->hash, &hash) != 0)
            return 2;
        for (size_t i = 0; i < hash.n; i++)
            if (cli_clientcfg_set(&cc, section, hash.v[i].name, hash.v[i].value, err,
                                  sizeof(err)) != 0) {
                fprintf(stderr, "winrm: Error: %s\n", err);
                goto out;
            }
        if (cli_clientcfg_save(&cc, err, sizeof(err)) != 0) {
            fprintf(stderr, "winrm: Error: %s\n", err);
            goto out;
        }
    }
    rc = print_result(cli_clientcfg_xml(&cc, section), c->fmt);
out:
    kv_free(&hash);
    return rc;
}

/* Connects as the command line says and runs the operation. */
static int session_main(const struct cmd *cp)
{
    const struct cmd c = *cp;
    int rc;

    struct cli_clientcfg cc;
    char cerr[600];
    if (cli_clientcfg_load(&cc, cerr, sizeof(cerr)) != 0) {
        fprintf(stderr, "winrm: Error: client configuration: %s\n", cerr);
        return 1;
    }
    struct wsm_session_opts o = {.user = c.user, .password = c.pass};
    o.auth = c.cert ? WSM_AUTH_CERTIFICATE : WSM_AUTH_BASIC;
    if (!c.cert && !c.auth && cc.default_auth[0])
        cli_parse_auth(cc.default_auth, &o.auth); /* DefaultAuth: checked when read */
    if (c.auth && cli_parse_auth(c.auth, &o.auth) != 0)
        return usage_error("unknown authentication mechanism: '%s' (basic, negotiate, ntlm, "
                           "kerberos, clientcert, none)",
                           c.auth);
    if (o.auth == WSM_AUTH_NONE && c.verb != V_IDENTIFY)
        return usage_error("%s", "-auth:none is only for identify");
    long timeout_ms = 0;
    if (c.timeout) {
        char *end;
        timeout_ms = strtol(c.timeout, &end, 10);
        if (end == c.timeout || *end || timeout_ms <= 0)
            return usage_error("invalid -timeout: %s", c.timeout);
        o.timeout_ms = timeout_ms;
    }
    char *url = remote_url(&c, &cc);
    if (!url)
        return 1;
    char typed[256]; /* a password asked on the terminal (prompt.h) */
    int pr = cli_want_password(o.auth, c.user, c.pass)
                 ? cli_ask_password("winrm", c.user, url, typed, sizeof(typed))
                 : -1;
    if (pr == -2) {
        free(url);
        return 1;
    }
    if (pr == 0)
        o.password = typed;
    const char *why =
        cli_auth_check(o.auth, c.user, o.password, !strncasecmp(url, "https:", 6), c.cert);
    if (why) {
        free(url);
        return usage_error("%s", why);
    }
    unsigned long code;
    if (o.auth != WSM_AUTH_NONE &&
        (why = cli_clientcfg_check(&cc, o.auth, url, c.unencrypted, &code))) {
        /* As winrm.cmd: refused by the client's own configuration. */
        free(url);
        cli_print_fault(stderr, c.fmt, code, why);
        return 1;
    }
    o.url = url;
    wsm_session *s;
    enum wsm_err e = wsm_session_new(&o, &s);
    explicit_bzero(typed, sizeof(typed));
    free(url);
    if (e) {
        fprintf(stderr, "winrm: %s\n", wsm_strerror(e));
        return 1;
    }
    if (timeout_ms && wsm_session_set(s, "OperationTimeout", timeout_ms) != WSM_OK) {
        wsm_session_free(s);
        return usage_error("invalid -timeout: %s", c.timeout);
    }
    if (c.skip_ca)
        wsm_session_set(s, "SkipCACheck", 1);
    if (c.skip_cn)
        wsm_session_set(s, "SkipCNCheck", 1);
    if (c.unencrypted)
        wsm_session_set(s, "AllowUnencrypted", 1);
    if ((c.cert && wsm_session_set_string(s, "CertificateFile", c.cert) != WSM_OK) ||
        (c.key && wsm_session_set_string(s, "KeyFile", c.key) != WSM_OK) ||
        (c.cacert && wsm_session_set_string(s, "CAFile", c.cacert) != WSM_OK)) {
        wsm_session_free(s);
        fprintf(stderr, "winrm: out of memory\n");
        return 1;
    }
    if (c.spn && wsm_session_set_string(s, "SPN", c.spn) != WSM_OK) {
        wsm_session_free(s);
        return usage_error("-spn:%s goes with negotiate, ntlm and kerberos", c.spn);
    }
    rc = run(s, &c);
    wsm_session_free(s);
    fflush(stdout);
    return rc;
}

/* 1 if the operation (the first argument that is no switch) is
 * quickconfig or qc: a local command with its own switches. */
static int is_quickconfig(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-c") || !strcmp(a, "--config"))
            i++;
        else if (a[0] != '-' && a[0] != '/' && a[0] != '@')
            return !strcasecmp(a, "quickconfig") || !strcasecmp(a, "qc");
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (is_quickconfig(argc, argv))
        return winrm_quickconfig(argc, argv);
    struct cmd c = {.pass = getenv("WSM_PASSWORD"), .fmt = FMT_TEXT};
    int n = 0;
    char **args = join_braces(argc, argv, &n);
    if (!args) {
        fprintf(stderr, "winrm: out of memory\n");
        return 1;
    }
    int rc = parse_args(n, args, &c);
    if (rc < 0 && (c.verb == V_GET || c.verb == V_SET) && c.resource)
        rc = local_client_config(&c);
    if (rc < 0)
        rc = session_main(&c);
    for (int i = 0; i < n; i++)
        free(args[i]);
    free(args);
    return rc;
}
