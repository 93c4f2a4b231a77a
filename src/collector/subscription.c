/* Subscription files: reading, checking, allow/deny, the Version GUID.
 * The writers (file format back, Subscribe envelope) are in subwrite.c. */
#include "subscription.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <nettle/sha1.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server.h"
#include "throttle.h" /* wsmd__log_escape */

#define PARSE_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

/* Batching and heartbeat of each ConfigurationMode (milliseconds), as a
 * Windows collector hands them to sources (docs/internals/subscriptions.md
 * gives the sources). max_items 0: no MaxElements. */
static const struct mode {
    const char *name;
    unsigned max_items;
    long latency_ms, heartbeat_ms;
} modes[] = {
    {"Normal", 5, 900000, 900000},
    {"MinLatency", 0, 30000, 3600000},
    {"MinBandwidth", 0, 21600000, 21600000},
    {"Custom", 0, 900000, 900000}, /* what a Custom file leaves out */
};

static void seterr(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t n, const char *fmt, ...)
{
    if (!err || !n)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
    /* One line whatever the text quoted from the file holds. */
    for (char *p = err; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
}

static char *trimdup(const char *s)
{
    if (!s)
        s = "";
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    return strndup(s, n);
}

static char *node_text(const xmlNode *n)
{
    xmlChar *c = xmlNodeGetContent(n);
    char *r = trimdup((const char *)c);
    xmlFree(c);
    return r;
}

static char *attr_text(const xmlNode *n, const char *name)
{
    xmlChar *c = xmlGetNoNsProp(n, (const xmlChar *)name);
    if (!c)
        return NULL;
    char *r = trimdup((const char *)c);
    xmlFree(c);
    return r;
}

static int is_el(const xmlNode *n, const char *ns, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
           strcmp((const char *)n->ns->href, ns) == 0 &&
           (!name || strcmp((const char *)n->name, name) == 0);
}

static int parse_bool(const char *t, int *out)
{
    if (strcasecmp(t, "true") == 0)
        *out = 1;
    else if (strcasecmp(t, "false") == 0)
        *out = 0;
    else
        return -1;
    return 0;
}

/* Decimal digits only (no sign, no spaces inside), min..max. */
static int parse_num(const char *t, unsigned long min, unsigned long max, unsigned long *out)
{
    unsigned long v = 0;
    if (!*t)
        return -1;
    for (const char *p = t; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned d = (unsigned)(*p - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v < min)
        return -1;
    *out = v;
    return 0;
}

/* Appends the tokens of text (separated by white space or commas) to *v. */
static int add_tokens(char ***v, size_t *n, const char *text)
{
    const char *p = text;
    while (*p) {
        while (*p && (isspace((unsigned char)*p) || *p == ','))
            p++;
        const char *b = p;
        while (*p && !isspace((unsigned char)*p) && *p != ',')
            p++;
        if (p == b)
            break;
        char **nv = realloc(*v, (*n + 1) * sizeof(**v));
        if (!nv)
            return -1;
        *v = nv;
        if (!(nv[*n] = strndup(b, (size_t)(p - b))))
            return -1;
        (*n)++;
    }
    return 0;
}

/* "a b" + " " + "c" into *dst (space-joined list). */
static int join_token(char **dst, const char *tok)
{
    size_t a = *dst ? strlen(*dst) : 0, b = strlen(tok);
    char *r = realloc(*dst, a + b + 2);
    if (!r)
        return -1;
    if (a)
        r[a++] = ' ';
    memcpy(r + a, tok, b + 1);
    *dst = r;
    return 0;
}

void wsmd__sub_free(struct wsmd_sub *s)
{
    if (!s)
        return;
    char **strs[] = {&s->id, &s->file, &s->description, &s->uri, &s->query,
                     &s->content_format, &s->log_file, &s->locale, &s->config_mode,
                     &s->transport, &s->delivery_mode, &s->expires, &s->publisher_name,
                     &s->domain_sddl, &s->issuer_cas, &s->allowed_subjects,
                     &s->denied_subjects, &s->query_xml};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        free(*strs[i]);
    for (size_t i = 0; i < s->nallow; i++)
        free(s->allow[i]);
    for (size_t i = 0; i < s->ndeny; i++)
        free(s->deny[i]);
    free(s->allow);
    free(s->deny);
    free(s);
}

void wsmd__sub_free_all(struct wsmd_sub **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        wsmd__sub_free(v[i]);
    free(v);
}

/* ---- UTF-16 files (wecutil gs /uni:true) --------------------------------- */

static int put_utf8(struct wsm_buf *b, unsigned long c)
{
    unsigned char o[4];
    size_t n;
    if (c < 0x80) {
        o[0] = (unsigned char)c;
        n = 1;
    } else if (c < 0x800) {
        o[0] = (unsigned char)(0xC0 | (c >> 6));
        o[1] = (unsigned char)(0x80 | (c & 0x3F));
        n = 2;
    } else if (c < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (c >> 12));
        o[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (c & 0x3F));
        n = 3;
    } else {
        o[0] = (unsigned char)(0xF0 | (c >> 18));
        o[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
        o[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        o[3] = (unsigned char)(0x80 | (c & 0x3F));
        n = 4;
    }
    return wsm__buf_add(b, o, n) ? -1 : 0;
}

/* UTF-16 (after its BOM) to UTF-8; -1 on an odd length or a lone surrogate. */
static int utf16_to_utf8(const unsigned char *p, size_t len, int le, struct wsm_buf *out)
{
    if (len % 2)
        return -1;
    for (size_t i = 0; i < len; i += 2) {
        unsigned long c = le ? (unsigned long)(p[i] | p[i + 1] << 8)
                             : (unsigned long)(p[i] << 8 | p[i + 1]);
        if (c >= 0xDC00 && c <= 0xDFFF)
            return -1;
        if (c >= 0xD800 && c <= 0xDBFF) {
            if (i + 3 >= len)
                return -1;
            unsigned long d = le ? (unsigned long)(p[i + 2] | p[i + 3] << 8)
                                 : (unsigned long)(p[i + 2] << 8 | p[i + 3]);
            if (d < 0xDC00 || d > 0xDFFF)
                return -1;
            c = 0x10000 + ((c - 0xD800) << 10) + (d - 0xDC00);
            i += 2;
        }
        if (put_utf8(out, c))
            return -1;
    }
    return 0;
}

static int contains(const char *buf, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (buf[i] == needle[0] && memcmp(buf + i, needle, n) == 0)
            return 1;
    return 0;
}

static void silent_error(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

static void silent_structured(void *ctx, xmlErrorPtr e)
{
    (void)ctx;
    (void)e;
}

/* A document type declaration stops the parser where it starts (the text
 * scan in wsmd__sub_parse misses one written in an encoding libxml2 found
 * on its own). */
static void on_dtd(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
    (void)name;
    (void)ext;
    (void)sys;
    xmlParserCtxtPtr c = ctx;
    *(int *)c->_private = 1;
    xmlStopParser(c);
}

/* Reads an XML document; NULL with err set when it is not well-formed or
 * has a DOCTYPE (*dtd then 1). */
static xmlDocPtr read_doc(const char *buf, size_t len, const char *enc, const char *what,
                          int *dtd, char *err, size_t errlen)
{
    xmlParserCtxtPtr c = xmlNewParserCtxt();
    if (!c) {
        seterr(err, errlen, "out of memory");
        return NULL;
    }
    /* The reason goes to err, not to stderr. */
    c->sax->error = silent_error;
    c->sax->warning = silent_error;
    c->sax->serror = silent_structured;
    c->sax->internalSubset = on_dtd;
    c->sax->externalSubset = on_dtd;
    c->_private = dtd;
    *dtd = 0;
    xmlDocPtr doc = xmlCtxtReadMemory(c, buf, (int)len, NULL, enc, PARSE_OPTIONS);
    if (*dtd || (doc && (doc->intSubset || doc->extSubset))) {
        *dtd = 1;
        seterr(err, errlen, "%s has a DOCTYPE: refused", what);
        if (doc)
            xmlFreeDoc(doc);
        doc = NULL;
    } else if (!doc || !c->wellFormed || !c->nsWellFormed) {
        const xmlError *e = xmlCtxtGetLastError(c);
        seterr(err, errlen, "%s is not well-formed XML (line %d: %s)", what, e ? e->line : 0,
               e && e->message ? e->message : "unexpected end");
        if (doc)
            xmlFreeDoc(doc);
        doc = NULL;
    }
    c->_private = NULL;
    xmlFreeParserCtxt(c);
    return doc;
}

/* ---- the query ------------------------------------------------------------- */

struct chans {
    const char *name[WSMD_SUB_MAX_CHANNELS + 1];
    size_t n;
};

static int add_channel(struct chans *c, const char *path)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcasecmp(c->name[i], path) == 0)
            return 0;
    if (c->n == WSMD_SUB_MAX_CHANNELS)
        return -1;
    c->name[c->n++] = path;
    return 0;
}

/* Checks the QueryList (well-formed, Query/Select shape, at most 256
 * channels) and keeps it re-serialized for the Filter: whatever the CDATA
 * held around the root (an XML declaration, comments) stays out of the
 * envelope. */
static int check_query(struct wsmd_sub *s, char *err, size_t errlen)
{
    int rc = -1;
    struct chans ch = {.n = 0};
    xmlBufferPtr xb = NULL;
    int dtd;
    xmlDocPtr doc =
        read_doc(s->query, strlen(s->query), "UTF-8", "the QueryList", &dtd, err, errlen);
    if (!doc)
        return -1;
    xmlDictPtr names = xmlDictCreate();
    if (!names) {
        xmlFreeDoc(doc);
        seterr(err, errlen, "out of memory");
        return -1;
    }
    xmlNodePtr root = xmlDocGetRootElement(doc);
    if (!root || strcmp((const char *)root->name, "QueryList") != 0) {
        seterr(err, errlen, "Query: the root element is not QueryList");
        goto out;
    }
    size_t nselect = 0;
    for (xmlNodePtr q = root->children; q; q = q->next) {
        if (q->type != XML_ELEMENT_NODE)
            continue;
        if (strcmp((const char *)q->name, "Query") != 0) {
            seterr(err, errlen, "Query: unexpected element %.64s in QueryList", q->name);
            goto out;
        }
        xmlChar *qpath = xmlGetNoNsProp(q, (const xmlChar *)"Path");
        for (xmlNodePtr e = q->children; e; e = e->next) {
            if (e->type != XML_ELEMENT_NODE)
                continue;
            int sel = strcmp((const char *)e->name, "Select") == 0;
            if (!sel && strcmp((const char *)e->name, "Suppress") != 0) {
                xmlFree(qpath);
                seterr(err, errlen, "Query: unexpected element %.64s in Query", e->name);
                goto out;
            }
            nselect += sel;
            xmlChar *p = xmlGetNoNsProp(e, (const xmlChar *)"Path");
            const char *path = p ? (const char *)p : (const char *)qpath;
            if (!path || !*path) {
                xmlFree(p);
                xmlFree(qpath);
                seterr(err, errlen, "Query: a %s has no Path (and its Query none)", e->name);
                goto out;
            }
            /* xmlGetNoNsProp copies: the dictionary keeps one copy per name. */
            const char *keep = (const char *)xmlDictLookup(names, (const xmlChar *)path, -1);
            int over = keep ? add_channel(&ch, keep) : -2;
            xmlFree(p);
            if (over) {
                xmlFree(qpath);
                if (over == -2)
                    seterr(err, errlen, "out of memory");
                else
                    seterr(err, errlen, "Query names more than %d channels (Windows refuses it)",
                           WSMD_SUB_MAX_CHANNELS);
                goto out;
            }
        }
        xmlFree(qpath);
    }
    if (!nselect) {
        seterr(err, errlen, "Query: the QueryList has no Select");
        goto out;
    }
    s->nchannels = ch.n;
    if (!(xb = xmlBufferCreate()) || xmlNodeDump(xb, doc, root, 0, 0) < 0 ||
        !(s->query_xml = strdup((const char *)xmlBufferContent(xb)))) {
        seterr(err, errlen, "out of memory");
        goto out;
    }
    rc = 0;
out:
    if (xb)
        xmlBufferFree(xb);
    xmlDictFree(names);
    xmlFreeDoc(doc);
    return rc;
}

/* ---- the file ---------------------------------------------------------------- */

static int valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 255 || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return 0;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '/' || *p == '\\')
            return 0;
    return 1;
}

/* LogFile names a file of the outputs (DIR/<LogFile>.jsonl): no path. */
static int valid_log_file(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 200 || t[0] == '.')
        return 0;
    for (const char *p = t; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr(" ._-", *p))
            return 0;
    return 1;
}

static int valid_locale(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 35)
        return 0;
    for (const char *p = t; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-')
            return 0;
    return 1;
}

/* An IssuerCA thumbprint: SHA-1 hex, spaces (as the certificate dialog
 * shows them) removed, upper-cased. */
static char *thumbprint(const char *t)
{
    char out[41];
    size_t n = 0;
    for (const char *p = t; *p; p++) {
        if (isspace((unsigned char)*p) || *p == ':')
            continue;
        if (!isxdigit((unsigned char)*p) || n == 40)
            return NULL;
        out[n++] = (char)toupper((unsigned char)*p);
    }
    if (n != 40)
        return NULL;
    out[n] = '\0';
    return strdup(out);
}

/* AllowedIssuerCAList / AllowedSubjectList / DeniedSubjectList: their item
 * elements' texts, or the list's own text when it has none. */
static int read_list(const xmlNode *list, const char *item, int thumbs, char **dst, char *err,
                     size_t errlen)
{
    int items = 0;
    for (const xmlNode *c = list->children; c; c = c->next) {
        if (!is_el(c, WSMD_NS_SUBFILE, item))
            continue;
        items = 1;
        char *t = node_text(c);
        if (!t)
            return -1;
        int rc = 0;
        if (*t && thumbs) {
            char *tp = thumbprint(t);
            if (!tp) {
                seterr(err, errlen, "IssuerCA \"%.64s\" is not a SHA-1 thumbprint (40 hex digits)",
                       t);
                rc = -1;
            } else {
                rc = join_token(dst, tp);
                free(tp);
            }
        } else if (*t) {
            rc = join_token(dst, t);
        }
        free(t);
        if (rc)
            return -1;
    }
    if (!items) {
        char *t = node_text(list);
        char **v = NULL;
        size_t n = 0;
        int rc = t ? add_tokens(&v, &n, t) : -1;
        for (size_t i = 0; i < n; i++) {
            if (!rc) {
                char *tp = thumbs ? thumbprint(v[i]) : strdup(v[i]);
                if (!tp && thumbs)
                    seterr(err, errlen, "IssuerCA \"%.64s\" is not a SHA-1 thumbprint", v[i]);
                rc = tp ? join_token(dst, tp) : -1;
                free(tp);
            }
            free(v[i]);
        }
        free(v);
        free(t);
        return rc;
    }
    return 0;
}

static int read_nondomain(struct wsmd_sub *s, const xmlNode *n, char *err, size_t errlen)
{
    for (const xmlNode *c = n->children; c; c = c->next) {
        int rc = 0;
        if (is_el(c, WSMD_NS_SUBFILE, "AllowedIssuerCAList"))
            rc = read_list(c, "IssuerCA", 1, &s->issuer_cas, err, errlen);
        else if (is_el(c, WSMD_NS_SUBFILE, "AllowedSubjectList"))
            rc = read_list(c, "Subject", 0, &s->allowed_subjects, err, errlen);
        else if (is_el(c, WSMD_NS_SUBFILE, "DeniedSubjectList"))
            rc = read_list(c, "Subject", 0, &s->denied_subjects, err, errlen);
        if (rc) {
            if (err && !*err)
                seterr(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

struct delivery {
    int have_items, have_latency, have_hb;
    unsigned long items, latency, hb;
};

static int read_delivery(struct wsmd_sub *s, const xmlNode *n, struct delivery *d, char *err,
                         size_t errlen)
{
    char *mode = attr_text(n, "Mode");
    if (mode) {
        if (strcasecmp(mode, "Push") == 0 || strcasecmp(mode, "Pull") == 0) {
            s->delivery_mode = strdup(strcasecmp(mode, "Push") == 0 ? "Push" : "Pull");
        } else {
            seterr(err, errlen, "Delivery Mode \"%.32s\": expected Push or Pull", mode);
            free(mode);
            return -1;
        }
        free(mode);
    }
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (is_el(c, WSMD_NS_SUBFILE, "Batching")) {
            for (const xmlNode *b = c->children; b; b = b->next) {
                int items = is_el(b, WSMD_NS_SUBFILE, "MaxItems");
                if (!items && !is_el(b, WSMD_NS_SUBFILE, "MaxLatencyTime"))
                    continue;
                char *t = node_text(b);
                unsigned long v;
                int bad = !t || parse_num(t, 1, items ? 0xFFFFFFFFul : 0x7FFFFFFFul, &v);
                if (bad) {
                    seterr(err, errlen, "%s \"%.32s\" is not a number in range", b->name,
                           t ? t : "");
                    free(t);
                    return -1;
                }
                free(t);
                if (items) {
                    d->have_items = 1;
                    d->items = v;
                } else {
                    d->have_latency = 1;
                    d->latency = v;
                }
            }
        } else if (is_el(c, WSMD_NS_SUBFILE, "PushSettings")) {
            for (const xmlNode *h = c->children; h; h = h->next) {
                if (!is_el(h, WSMD_NS_SUBFILE, "Heartbeat"))
                    continue;
                char *t = attr_text(h, "Interval");
                if (!t || parse_num(t, 1, 0x7FFFFFFFul, &d->hb)) {
                    seterr(err, errlen, "Heartbeat Interval \"%.32s\" is not a number in range",
                           t ? t : "");
                    free(t);
                    return -1;
                }
                free(t);
                d->have_hb = 1;
            }
        }
    }
    return 0;
}

/* Simple text elements: name, where it goes. */
enum { T_ID, T_TYPE, T_DESC, T_ENABLED, T_URI, T_MODE, T_EXPIRES, T_QUERY, T_READEX,
       T_TRANSPORT, T_PORT, T_FORMAT, T_LOGFILE, T_PUBLISHER, T_SDDL, T__N };
static const char *const text_names[T__N] = {
    "SubscriptionId", "SubscriptionType", "Description", "Enabled", "Uri", "ConfigurationMode",
    "Expires", "Query", "ReadExistingEvents", "TransportName", "TransportPort",
    "ContentFormat", "LogFile", "PublisherName", "AllowedSourceDomainComputers"};

static int apply_text(struct wsmd_sub *s, int k, char *t, char *err, size_t errlen)
{
    unsigned long v;
    if (!*t && (k == T_EXPIRES || k == T_PUBLISHER || k == T_SDDL)) {
        free(t); /* an empty optional element is an absent one */
        return 0;
    }
    switch (k) {
    case T_ID:
        if (!valid_id(t)) {
            seterr(err, errlen, "SubscriptionId \"%.64s\": 1 to 255 characters, no control "
                                "characters, no / or \\", t);
            break;
        }
        s->id = t;
        return 0;
    case T_TYPE:
        if (strcasecmp(t, "SourceInitiated") == 0)
            s->source_initiated = 1;
        else if (strcasecmp(t, "CollectorInitiated") == 0)
            s->source_initiated = 0;
        else {
            seterr(err, errlen, "SubscriptionType \"%.64s\": expected SourceInitiated or "
                                "CollectorInitiated", t);
            break;
        }
        free(t);
        return 0;
    case T_DESC:
        s->description = t;
        return 0;
    case T_ENABLED:
    case T_READEX:
        if (parse_bool(t, k == T_ENABLED ? &s->enabled : &s->read_existing)) {
            seterr(err, errlen, "%s \"%.32s\": expected true or false", text_names[k], t);
            break;
        }
        free(t);
        return 0;
    case T_URI:
        if (!*t) {
            seterr(err, errlen, "Uri is empty");
            break;
        }
        s->uri = t;
        return 0;
    case T_MODE:
        for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
            if (strcasecmp(t, modes[i].name) == 0) {
                free(t);
                return (s->config_mode = strdup(modes[i].name)) ? 0 : -1;
            }
        seterr(err, errlen, "ConfigurationMode \"%.32s\": expected Normal, MinLatency, "
                            "MinBandwidth or Custom", t);
        break;
    case T_EXPIRES:
        s->expires = t;
        return 0;
    case T_QUERY:
        if (!*t) {
            seterr(err, errlen, "Query is empty");
            break;
        }
        s->query = t;
        return 0;
    case T_TRANSPORT:
        if (strcasecmp(t, "HTTP") != 0 && strcasecmp(t, "HTTPS") != 0) {
            seterr(err, errlen, "TransportName \"%.32s\": expected HTTP or HTTPS", t);
            break;
        }
        for (char *p = t; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        s->transport = t;
        return 0;
    case T_PORT:
        if (parse_num(t, 1, 65535, &v)) {
            seterr(err, errlen, "TransportPort \"%.32s\" is not a port number", t);
            break;
        }
        s->transport_port = (unsigned)v;
        free(t);
        return 0;
    case T_FORMAT:
        if (strcasecmp(t, "Events") == 0 || strcasecmp(t, "RenderedText") == 0) {
            int ev = strcasecmp(t, "Events") == 0;
            free(t);
            return (s->content_format = strdup(ev ? "Events" : "RenderedText")) ? 0 : -1;
        }
        seterr(err, errlen, "ContentFormat \"%.32s\": expected Events or RenderedText", t);
        break;
    case T_LOGFILE:
        if (!valid_log_file(t)) {
            seterr(err, errlen, "LogFile \"%.64s\": letters, digits, space, . _ - only (it "
                                "names an output file)", t);
            break;
        }
        s->log_file = t;
        return 0;
    case T_PUBLISHER:
        s->publisher_name = t;
        return 0;
    case T_SDDL:
        s->domain_sddl = t;
        return 0;
    }
    free(t);
    return -1;
}

/* fnmatch backtracks: a glob with many '*' against a long name costs
 * exponential time. Principals are short; so are sensible globs. */
#define MAX_GLOB 256
#define MAX_GLOB_STARS 8

static int valid_glob(const char *g)
{
    int stars = 0;
    for (const char *p = g; *p; p++)
        stars += *p == '*';
    return strlen(g) <= MAX_GLOB && stars <= MAX_GLOB_STARS;
}

static int read_ext(struct wsmd_sub *s, const xmlNode *n, char *err, size_t errlen)
{
    const char *nm = (const char *)n->name;
    char *t = node_text(n);
    int rc = -1;
    if (!t)
        return -1;
    if (strcmp(nm, "AllowedPrincipals") == 0 || strcmp(nm, "DeniedPrincipals") == 0) {
        int allow = nm[0] == 'A';
        size_t first = allow ? s->nallow : s->ndeny;
        rc = add_tokens(allow ? &s->allow : &s->deny, allow ? &s->nallow : &s->ndeny, t);
        for (size_t i = first; !rc && i < (allow ? s->nallow : s->ndeny); i++)
            if (!valid_glob((allow ? s->allow : s->deny)[i])) {
                seterr(err, errlen, "wsmd:%s \"%.64s\": a glob of at most %d characters and "
                                    "%d '*'", nm, (allow ? s->allow : s->deny)[i], MAX_GLOB,
                       MAX_GLOB_STARS);
                rc = -1;
            }
    } else if (strcmp(nm, "Outputs") == 0) {
        char **v = NULL;
        size_t k = 0;
        rc = add_tokens(&v, &k, t);
        unsigned o = 0;
        for (size_t i = 0; i < k; i++) {
            if (rc)
                ;
            else if (strcasecmp(v[i], "jsonl") == 0)
                o |= WSMD_OUT_JSONL;
            else if (strcasecmp(v[i], "xml") == 0)
                o |= WSMD_OUT_XML;
            else if (strcasecmp(v[i], "syslog") == 0)
                o |= WSMD_OUT_SYSLOG;
            else {
                seterr(err, errlen, "wsmd:Outputs \"%.32s\": expected jsonl, xml or syslog",
                       v[i]);
                rc = -1;
            }
            free(v[i]);
        }
        free(v);
        if (!rc && !o) {
            seterr(err, errlen, "wsmd:Outputs names no output");
            rc = -1;
        }
        s->outputs |= o;
    } else {
        seterr(err, errlen, "unknown element wsmd:%.64s (namespace %s)", nm, WSMD_NS_SUBEXT);
    }
    free(t);
    return rc;
}

static int set_default(char **f, const char *v)
{
    return *f || (*f = strdup(v)) ? 0 : -1;
}

/* Fills what the file left out, applies the ConfigurationMode. */
static int finish(struct wsmd_sub *s, const struct delivery *d, char *err, size_t errlen)
{
    if (!s->id) {
        seterr(err, errlen, "no SubscriptionId");
        return -1;
    }
    if (!s->query) {
        seterr(err, errlen, "no Query");
        return -1;
    }
    if (set_default(&s->config_mode, "Normal") || set_default(&s->uri, WSMD_URI_EVENTLOG) ||
        set_default(&s->content_format, "RenderedText") ||
        set_default(&s->log_file, "ForwardedEvents") || set_default(&s->transport, "HTTP") ||
        set_default(&s->delivery_mode, "Push") || set_default(&s->description, "")) {
        seterr(err, errlen, "out of memory");
        return -1;
    }
    if (s->source_initiated && strcmp(s->delivery_mode, "Push") != 0) {
        seterr(err, errlen, "Delivery Mode Pull: a SourceInitiated subscription pushes");
        return -1;
    }
    const struct mode *m = &modes[0];
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
        if (strcmp(modes[i].name, s->config_mode) == 0)
            m = &modes[i];
    /* Outside Custom the mode decides, as on Windows (wecutil ss /cm:). */
    int custom = strcmp(s->config_mode, "Custom") == 0;
    s->max_items = custom && d->have_items ? (unsigned)d->items : m->max_items;
    s->max_latency_ms = custom && d->have_latency ? (long)d->latency : m->latency_ms;
    s->heartbeat_ms = custom && d->have_hb ? (long)d->hb : m->heartbeat_ms;
    if (!s->outputs)
        s->outputs = WSMD_OUT_JSONL;
    return check_query(s, err, errlen);
}

static void compute_version(struct wsmd_sub *s);

static char *dump_node(xmlDocPtr doc, xmlNodePtr n)
{
    xmlBufferPtr xb = xmlBufferCreate();
    char *r = NULL;
    if (xb && xmlNodeDump(xb, doc, n, 0, 0) >= 0)
        r = strdup((const char *)xmlBufferContent(xb));
    if (xb)
        xmlBufferFree(xb);
    return r;
}

enum wsm_err wsmd__sub_parse(const char *xml, size_t len, struct wsmd_sub **out, char *err,
                             size_t errlen)
{
    struct wsm_buf conv;
    struct wsmd_sub *s = NULL;
    xmlDocPtr doc = NULL;
    const char *enc = NULL;
    enum wsm_err rc = WSM_ERR_INVALID_REPRESENTATION;
    const unsigned char *u = (const unsigned char *)xml;

    wsm__buf_init(&conv, (size_t)WSMD_SUB_MAX_FILE * 2);
    if (err && errlen)
        err[0] = '\0';
    if (!xml || !out) {
        seterr(err, errlen, "no text");
        return WSM_ERR_INVALID_ARG;
    }
    if (len > WSMD_SUB_MAX_FILE) {
        seterr(err, errlen, "file larger than %u bytes", WSMD_SUB_MAX_FILE);
        return WSM_ERR_QUOTA;
    }
    /* wecutil gs /uni:true writes UTF-16 with a BOM: read it as UTF-8, so
     * that the DOCTYPE check below sees the text. */
    if (len >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF))) {
        if (utf16_to_utf8(u + 2, len - 2, u[0] == 0xFF, &conv) || !conv.data) {
            seterr(err, errlen, "bad UTF-16 text");
            rc = WSM_ERR_ENCODING;
            goto out;
        }
        xml = conv.data;
        len = conv.len;
        enc = "UTF-8";
    }
    /* No DTD, no entities (as the SOAP envelope parser): refused before the
     * parser sees them. */
    if (contains(xml, len, "<!DOCTYPE") || contains(xml, len, "<!ENTITY")) {
        seterr(err, errlen, "DOCTYPE or ENTITY declaration: refused");
        rc = WSM_ERR_XML_DTD;
        goto out;
    }
    /* A file saved as 8-bit text that kept wecutil's UTF-16 declaration:
     * UTF-16 text of XML has NUL bytes, this has none. */
    if (!enc && !memchr(xml, 0, len) && len > 5 && memcmp(xml, "<?xml", 5) == 0) {
        const char *end = memchr(xml, '>', len < 200 ? len : 200);
        if (end && (memmem(xml, (size_t)(end - xml), "UTF-16", 6) ||
                    memmem(xml, (size_t)(end - xml), "utf-16", 6)))
            enc = "UTF-8";
    }
    int dtd;
    if (!(doc = read_doc(xml, len, enc, "the file", &dtd, err, errlen))) {
        rc = dtd ? WSM_ERR_XML_DTD : WSM_ERR_XML_MALFORMED;
        goto out;
    }
    xmlNodePtr root = xmlDocGetRootElement(doc);
    if (!is_el(root, WSMD_NS_SUBFILE, "Subscription")) {
        seterr(err, errlen, "the root element is not Subscription in namespace %s",
               WSMD_NS_SUBFILE);
        goto out;
    }
    if (!(s = calloc(1, sizeof(*s)))) {
        rc = WSM_ERR_NOMEM;
        goto out;
    }
    s->enabled = 1;
    struct delivery d = {0};
    unsigned seen = 0;
    for (xmlNodePtr n = root->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (is_el(n, WSMD_NS_SUBEXT, NULL)) {
            if (read_ext(s, n, err, errlen))
                goto fail;
            continue;
        }
        if (!is_el(n, WSMD_NS_SUBFILE, NULL))
            continue; /* someone else's extension */
        const char *nm = (const char *)n->name;
        int k = -1;
        for (int i = 0; i < T__N; i++)
            if (strcmp(nm, text_names[i]) == 0)
                k = i;
        unsigned bit = 0;
        if (k >= 0)
            bit = 1u << k;
        else if (strcmp(nm, "Delivery") == 0)
            bit = 1u << T__N;
        else if (strcmp(nm, "Locale") == 0)
            bit = 1u << (T__N + 1);
        else if (strcmp(nm, "AllowedSourceNonDomainComputers") == 0)
            bit = 1u << (T__N + 2);
        else
            continue; /* e.g. EventSources of a CollectorInitiated file */
        if (seen & bit) {
            seterr(err, errlen, "element %s given twice", nm);
            goto fail;
        }
        seen |= bit;
        if (k >= 0) {
            /* A hand-written Query may hold the QueryList as markup rather
             * than in CDATA: take it as text all the same. */
            xmlNodePtr qe = k == T_QUERY ? xmlFirstElementChild(n) : NULL;
            char *t = qe ? dump_node(doc, qe) : node_text(n);
            if (!t || apply_text(s, k, t, err, errlen))
                goto fail;
        } else if (strcmp(nm, "Delivery") == 0) {
            if (read_delivery(s, n, &d, err, errlen))
                goto fail;
        } else if (strcmp(nm, "Locale") == 0) {
            char *l = attr_text(n, "Language");
            if (l && *l && !valid_locale(l)) {
                seterr(err, errlen, "Locale Language \"%.32s\" is not a language tag", l);
                free(l);
                goto fail;
            }
            if (l && !*l) {
                free(l);
                l = NULL;
            }
            s->locale = l;
        } else if (read_nondomain(s, n, err, errlen)) {
            goto fail;
        }
    }
    if (finish(s, &d, err, errlen))
        goto fail;
    compute_version(s);
    *out = s;
    s = NULL;
    rc = WSM_OK;
    goto out;
fail:
    if (err && !*err)
        seterr(err, errlen, "out of memory");
    rc = WSM_ERR_INVALID_REPRESENTATION;
out:
    wsmd__sub_free(s);
    if (doc)
        xmlFreeDoc(doc);
    wsm__buf_free(&conv);
    return rc;
}

/* ---- Version ------------------------------------------------------------------ */

static void hash_field(struct sha1_ctx *h, char tag, const char *v)
{
    unsigned char hdr[9];
    size_t n = v ? strlen(v) : 0;
    hdr[0] = (unsigned char)tag;
    for (int i = 0; i < 8; i++)
        hdr[1 + i] = (unsigned char)((unsigned long long)n >> (8 * i));
    sha1_update(h, sizeof(hdr), hdr);
    if (n)
        sha1_update(h, n, (const uint8_t *)v);
}

static void hash_num(struct sha1_ctx *h, char tag, long long v)
{
    char t[32];
    snprintf(t, sizeof(t), "%lld", v);
    hash_field(h, tag, t);
}

/* A name-based (version 5) UUID over every parameter that reaches the
 * source through the Subscribe envelope, and nothing else: the same file
 * gives the same Version on every start and every node, a change a source
 * must see changes it (the source then subscribes again), and editing the
 * Description, the allow/deny lists or the outputs does not. The collector's
 * address, the bookmark and the source's identity are per request and not
 * part of it. */
static void compute_version(struct wsmd_sub *s)
{
    /* Our namespace UUID for subscription versions (RFC 4122 4.3). */
    static const uint8_t ns[16] = {0x6b, 0x1e, 0x4c, 0x52, 0x2f, 0x0a, 0x4d, 0x37,
                                   0x9c, 0x51, 0x3e, 0x77, 0xa4, 0x08, 0xd2, 0x6f};
    static const char hex[] = "0123456789ABCDEF";
    struct sha1_ctx h;
    uint8_t d[SHA1_DIGEST_SIZE];

    sha1_init(&h);
    sha1_update(&h, sizeof(ns), ns);
    hash_field(&h, 'I', s->id);
    hash_field(&h, 'U', s->uri);
    hash_field(&h, 'Q', s->query);
    hash_field(&h, 'F', s->content_format);
    hash_num(&h, 'R', s->read_existing);
    hash_field(&h, 'L', s->locale);
    hash_num(&h, 'M', s->max_items);
    hash_num(&h, 'T', s->max_latency_ms);
    hash_num(&h, 'H', s->heartbeat_ms);
    hash_field(&h, 'D', s->delivery_mode);
    hash_field(&h, 'C', s->issuer_cas);
    sha1_digest(&h, sizeof(d), d);
    d[6] = (uint8_t)((d[6] & 0x0f) | 0x50);
    d[8] = (uint8_t)((d[8] & 0x3f) | 0x80);
    int o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            s->version[o++] = '-';
        s->version[o++] = hex[d[i] >> 4];
        s->version[o++] = hex[d[i] & 15];
    }
    s->version[o] = '\0';
}

/* ---- who may use it ------------------------------------------------------------- */

static int glob_any(char *const *v, size_t n, const char *principal)
{
    /* FNM_NOESCAPE: a backslash is a character of "DOMAIN\user", not an escape. */
    for (size_t i = 0; i < n; i++)
        if (fnmatch(v[i], principal, FNM_CASEFOLD | FNM_NOESCAPE) == 0)
            return 1;
    return 0;
}

int wsmd__sub_allows(const struct wsmd_sub *s, const char *principal)
{
    if (!s || !principal || !*principal)
        return 0;
    if (glob_any(s->deny, s->ndeny, principal))
        return 0;
    return s->nallow == 0 || glob_any(s->allow, s->nallow, principal);
}

int wsmd__sub_served(const struct wsmd_sub *s)
{
    return s && s->enabled && s->source_initiated;
}

/* ---- a folder of files -------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_file(const char *path, char **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -EISDIR; /* (or any other not regular file) */
    }
    if ((unsigned long long)st.st_size > WSMD_SUB_MAX_FILE) {
        close(fd);
        return -EFBIG;
    }
    size_t cap = (size_t)st.st_size, n = 0;
    char *b = malloc(cap + 1);
    if (!b) {
        close(fd);
        return -ENOMEM;
    }
    while (n < cap) {
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    b[n] = '\0';
    *data = b;
    *len = n;
    return 0;
}

enum wsm_err wsmd__sub_load_dir(const char *dir, struct wsmd_sub ***out, size_t *n)
{
    DIR *d = opendir(dir);
    if (!d) {
        wsmd__log("event=subscriptions_dir dir=%s error=\"%s\"", dir, strerror(errno));
        return WSM_ERR_IO;
    }
    char **names = NULL;
    size_t nn = 0;
    enum wsm_err rc = WSM_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || l < 5 || strcasecmp(e->d_name + l - 4, ".xml") != 0)
            continue;
        char **nv = realloc(names, (nn + 1) * sizeof(*names));
        if (!nv || !(nv[nn] = strdup(e->d_name))) {
            names = nv ? nv : names;
            rc = WSM_ERR_NOMEM;
            break;
        }
        names = nv;
        nn++;
    }
    closedir(d);
    if (nn)
        qsort(names, nn, sizeof(*names), cmp_str);

    struct wsmd_sub **v = NULL;
    size_t nv = 0;
    for (size_t i = 0; i < nn && !rc; i++) {
        char path[4096], err[256], lpath[512], lid[256];
        char *data = NULL;
        size_t len = 0;
        struct wsmd_sub *s = NULL;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        wsmd__log_escape(lpath, sizeof(lpath), path);
        int r = read_file(path, &data, &len);
        if (r) {
            wsmd__log("event=subscription_skipped file=%s error=\"%s\"", lpath, strerror(-r));
            continue;
        }
        enum wsm_err pe = wsmd__sub_parse(data, len, &s, err, sizeof(err));
        free(data);
        if (pe == WSM_ERR_NOMEM) {
            rc = pe;
            break;
        }
        if (pe) {
            for (char *p = err; *p; p++)
                if (*p == '"' || (unsigned char)*p < 0x20)
                    *p = '\'';
            wsmd__log("event=subscription_skipped file=%s error=\"%s\"", lpath, err);
            continue;
        }
        int dup = 0;
        for (size_t j = 0; j < nv && !dup; j++)
            dup = strcasecmp(v[j]->id, s->id) == 0;
        if (dup) {
            wsmd__log("event=subscription_skipped file=%s error=\"SubscriptionId already "
                      "loaded from another file\"", lpath);
            wsmd__sub_free(s);
            continue;
        }
        struct wsmd_sub **g = realloc(v, (nv + 1) * sizeof(*v));
        if (!g || !(s->file = strdup(path))) {
            v = g ? g : v;
            wsmd__sub_free(s);
            rc = WSM_ERR_NOMEM;
            break;
        }
        v = g;
        v[nv++] = s;
        wsmd__log_escape(lid, sizeof(lid), s->id);
        wsmd__log("event=subscription_loaded file=%s id=%s version=%s served=%s%s", lpath, lid,
                  s->version, wsmd__sub_served(s) ? "yes" : "no",
                  s->source_initiated ? "" : " reason=CollectorInitiated");
    }
    for (size_t i = 0; i < nn; i++)
        free(names[i]);
    free(names);
    if (rc) {
        wsmd__sub_free_all(v, nv);
        return rc;
    }
    *out = v;
    *n = nv;
    return WSM_OK;
}
