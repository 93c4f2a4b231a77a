/* Subscription files: reading and checking the elements of one file (the
 * small readers it uses are in subread.c, the elements that hold more than
 * a text in subelem.c). The XML underneath and the QueryList are in subxml.c;
 * the Version, allow/deny and loading a folder in subload.c; the writers (file format back,
 * Subscribe envelope) in subwrite.c. */
#include "sub_priv.h"

#include <ctype.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void wsmd__sub_free(struct wsmd_sub *s)
{
    if (!s)
        return;
    char **strs[] = {&s->id,
                     &s->file,
                     &s->description,
                     &s->uri,
                     &s->query,
                     &s->content_format,
                     &s->log_file,
                     &s->locale,
                     &s->config_mode,
                     &s->transport,
                     &s->delivery_mode,
                     &s->expires,
                     &s->publisher_name,
                     &s->domain_sddl,
                     &s->issuer_cas,
                     &s->allowed_subjects,
                     &s->denied_subjects,
                     &s->query_xml};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        free(*strs[i]);
    for (size_t i = 0; i < s->nallow; i++)
        free(s->allow[i]);
    for (size_t i = 0; i < s->ndeny; i++)
        free(s->deny[i]);
    free(s->allow);
    free(s->deny);
    wsmd__sub_sources_free(s);
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

/* ---- the file ---------------------------------------------------------------- */

/* Simple text elements: name, where it goes. */
enum {
    T_ID,
    T_TYPE,
    T_DESC,
    T_ENABLED,
    T_URI,
    T_MODE,
    T_EXPIRES,
    T_QUERY,
    T_READEX,
    T_TRANSPORT,
    T_PORT,
    T_FORMAT,
    T_LOGFILE,
    T_PUBLISHER,
    T_SDDL,
    T__N
};
static const char *const text_names[T__N] = {"SubscriptionId",
                                             "SubscriptionType",
                                             "Description",
                                             "Enabled",
                                             "Uri",
                                             "ConfigurationMode",
                                             "Expires",
                                             "Query",
                                             "ReadExistingEvents",
                                             "TransportName",
                                             "TransportPort",
                                             "ContentFormat",
                                             "LogFile",
                                             "PublisherName",
                                             "AllowedSourceDomainComputers"};

static int apply_text(struct wsmd_sub *s, int k, char *t, char *err, size_t errlen)
{
    unsigned long v;
    if (!*t && (k == T_EXPIRES || k == T_PUBLISHER || k == T_SDDL)) {
        free(t); /* an empty optional element is an absent one */
        return 0;
    }
    switch (k) {
    case T_ID:
        if (!wsmd__sub_valid_id(t)) {
            wsmd__sub_seterr(err, errlen,
                             "SubscriptionId \"%.64s\": 1 to 200 characters, no control "
                             "characters, none of / \\ ? #",
                             t);
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
            wsmd__sub_seterr(err, errlen,
                             "SubscriptionType \"%.64s\": expected SourceInitiated or "
                             "CollectorInitiated",
                             t);
            break;
        }
        free(t);
        return 0;
    case T_DESC:
        s->description = t;
        return 0;
    case T_ENABLED:
    case T_READEX:
        if (wsmd__sub_parse_bool(t, k == T_ENABLED ? &s->enabled : &s->read_existing)) {
            wsmd__sub_seterr(err, errlen, "%s \"%.32s\": expected true or false", text_names[k], t);
            break;
        }
        free(t);
        return 0;
    case T_URI:
        if (!*t) {
            wsmd__sub_seterr(err, errlen, "Uri is empty");
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
        wsmd__sub_seterr(err, errlen,
                         "ConfigurationMode \"%.32s\": expected Normal, MinLatency, "
                         "MinBandwidth or Custom",
                         t);
        break;
    case T_EXPIRES:
        s->expires = t;
        return 0;
    case T_QUERY:
        if (!*t) {
            wsmd__sub_seterr(err, errlen, "Query is empty");
            break;
        }
        s->query = t;
        return 0;
    case T_TRANSPORT:
        if (strcasecmp(t, "HTTP") != 0 && strcasecmp(t, "HTTPS") != 0) {
            wsmd__sub_seterr(err, errlen, "TransportName \"%.32s\": expected HTTP or HTTPS", t);
            break;
        }
        for (char *p = t; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        s->transport = t;
        return 0;
    case T_PORT:
        if (wsmd__sub_parse_num(t, 1, 65535, &v)) {
            wsmd__sub_seterr(err, errlen, "TransportPort \"%.32s\" is not a port number", t);
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
        wsmd__sub_seterr(err, errlen, "ContentFormat \"%.32s\": expected Events or RenderedText",
                         t);
        break;
    case T_LOGFILE:
        if (!wsmd__sub_valid_log_file(t)) {
            wsmd__sub_seterr(err, errlen,
                             "LogFile \"%.64s\": letters, digits, space, . _ - only (it "
                             "names an output file)",
                             t);
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

static int set_default(char **f, const char *v)
{
    return *f || (*f = strdup(v)) ? 0 : -1;
}

/* Fills what the file left out, applies the ConfigurationMode. */
static int finish(struct wsmd_sub *s, const struct delivery *d, char *err, size_t errlen)
{
    if (!s->id) {
        wsmd__sub_seterr(err, errlen, "no SubscriptionId");
        return -1;
    }
    if (!s->query) {
        wsmd__sub_seterr(err, errlen, "no Query");
        return -1;
    }
    if (set_default(&s->config_mode, "Normal") || set_default(&s->uri, WSMD_URI_EVENTLOG) ||
        set_default(&s->content_format, "RenderedText") ||
        set_default(&s->log_file, "ForwardedEvents") || set_default(&s->transport, "HTTP") ||
        /* A collector pulls unless told otherwise (Windows' default for
         * CollectorInitiated); a source-initiated subscription pushes. */
        set_default(&s->delivery_mode, s->source_initiated ? "Push" : "Pull") ||
        set_default(&s->description, "")) {
        wsmd__sub_seterr(err, errlen, "out of memory");
        return -1;
    }
    if (s->source_initiated && strcmp(s->delivery_mode, "Push") != 0) {
        wsmd__sub_seterr(err, errlen, "Delivery Mode Pull: a SourceInitiated subscription pushes");
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
    return wsmd__sub_check_query(s, err, errlen);
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
        wsmd__sub_seterr(err, errlen, "no text");
        return WSM_ERR_INVALID_ARG;
    }
    if (len > WSMD_SUB_MAX_FILE) {
        wsmd__sub_seterr(err, errlen, "file larger than %u bytes", WSMD_SUB_MAX_FILE);
        return WSM_ERR_QUOTA;
    }
    /* wecutil gs /uni:true writes UTF-16 with a BOM: read it as UTF-8, so
     * that the DOCTYPE check below sees the text. */
    if (len >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF))) {
        if (wsmd__sub_utf16(u + 2, len - 2, u[0] == 0xFF, &conv) || !conv.data) {
            wsmd__sub_seterr(err, errlen, "bad UTF-16 text");
            rc = WSM_ERR_ENCODING;
            goto out;
        }
        xml = conv.data;
        len = conv.len;
        enc = "UTF-8";
    }
    /* No DTD, no entities (as the SOAP envelope parser): refused before the
     * parser sees them. */
    if (wsmd__sub_contains(xml, len, "<!DOCTYPE") || wsmd__sub_contains(xml, len, "<!ENTITY")) {
        wsmd__sub_seterr(err, errlen, "DOCTYPE or ENTITY declaration: refused");
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
    if (!(doc = wsmd__sub_read_doc(xml, len, enc, "the file", &dtd, err, errlen))) {
        rc = dtd ? WSM_ERR_XML_DTD : WSM_ERR_XML_MALFORMED;
        goto out;
    }
    xmlNodePtr root = xmlDocGetRootElement(doc);
    if (!wsmd__sub_is_el(root, WSMD_NS_SUBFILE, "Subscription")) {
        wsmd__sub_seterr(err, errlen, "the root element is not Subscription in namespace %s",
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
        if (wsmd__sub_is_el(n, WSMD_NS_SUBEXT, NULL)) {
            if (wsmd__sub_read_ext(s, n, err, errlen))
                goto fail;
            continue;
        }
        if (!wsmd__sub_is_el(n, WSMD_NS_SUBFILE, NULL))
            continue; /* someone else's extension */
        int src = wsmd__sub_source_element(s, n, err, errlen);
        if (src < 0)
            goto fail;
        if (src)
            continue; /* EventSources and credentials (subsrc.c) */
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
            continue; /* an element of a later Windows we do not know */
        if (seen & bit) {
            wsmd__sub_seterr(err, errlen, "element %s given twice", nm);
            goto fail;
        }
        seen |= bit;
        if (k >= 0) {
            /* A hand-written Query may hold the QueryList as markup rather
             * than in CDATA: take it as text all the same. */
            xmlNodePtr qe = k == T_QUERY ? xmlFirstElementChild(n) : NULL;
            char *t = qe ? wsmd__sub_dump(doc, qe) : wsmd__sub_node_text(n);
            if (!t || apply_text(s, k, t, err, errlen))
                goto fail;
        } else if (strcmp(nm, "Delivery") == 0) {
            if (wsmd__sub_read_delivery(s, n, &d, err, errlen))
                goto fail;
        } else if (strcmp(nm, "Locale") == 0) {
            char *l = wsmd__sub_attr_text(n, "Language");
            if (l && *l && !wsmd__sub_valid_locale(l)) {
                wsmd__sub_seterr(err, errlen, "Locale Language \"%.32s\" is not a language tag", l);
                free(l);
                goto fail;
            }
            if (l && !*l) {
                free(l);
                l = NULL;
            }
            s->locale = l;
        } else if (wsmd__sub_read_nondomain(s, n, err, errlen)) {
            goto fail;
        }
    }
    if (finish(s, &d, err, errlen))
        goto fail;
    wsmd__sub_version(s);
    *out = s;
    s = NULL;
    rc = WSM_OK;
    goto out;
fail:
    if (err && !*err)
        wsmd__sub_seterr(err, errlen, "out of memory");
    rc = WSM_ERR_INVALID_REPRESENTATION;
out:
    wsmd__sub_free(s);
    if (doc)
        xmlFreeDoc(doc);
    wsm__buf_free(&conv);
    return rc;
}
