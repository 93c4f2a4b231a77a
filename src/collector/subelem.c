/* Subscription files: the elements of one file that are more than a text
 * (docs/internals/subscriptions.md): Delivery (its Mode, Batching and
 * PushSettings' Heartbeat), AllowedSourceNonDomainComputers (the issuer
 * and subject lists) and wsmd's own extension elements (wsmd:Allowed- and
 * DeniedPrincipals, wsmd:Outputs).
 *
 * Apart from subscription.c, which walks the file, reads the simple text
 * elements and checks the whole once read (finish): each reader here
 * takes one element and fills its part of the subscription, or says in
 * err why the file is refused. */
#include "sub_priv.h"

#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>

int wsmd__sub_read_nondomain(struct wsmd_sub *s, const xmlNode *n, char *err, size_t errlen)
{
    for (const xmlNode *c = n->children; c; c = c->next) {
        int rc = 0;
        if (wsmd__sub_is_el(c, WSMD_NS_SUBFILE, "AllowedIssuerCAList"))
            rc = wsmd__sub_read_list(c, "IssuerCA", 1, &s->issuer_cas, err, errlen);
        else if (wsmd__sub_is_el(c, WSMD_NS_SUBFILE, "AllowedSubjectList"))
            rc = wsmd__sub_read_list(c, "Subject", 0, &s->allowed_subjects, err, errlen);
        else if (wsmd__sub_is_el(c, WSMD_NS_SUBFILE, "DeniedSubjectList"))
            rc = wsmd__sub_read_list(c, "Subject", 0, &s->denied_subjects, err, errlen);
        if (rc) {
            if (err && !*err)
                wsmd__sub_seterr(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

int wsmd__sub_read_delivery(struct wsmd_sub *s, const xmlNode *n, struct delivery *d, char *err,
                            size_t errlen)
{
    char *mode = wsmd__sub_attr_text(n, "Mode");
    if (mode) {
        if (strcasecmp(mode, "Push") == 0 || strcasecmp(mode, "Pull") == 0) {
            s->delivery_mode = strdup(strcasecmp(mode, "Push") == 0 ? "Push" : "Pull");
        } else {
            wsmd__sub_seterr(err, errlen, "Delivery Mode \"%.32s\": expected Push or Pull", mode);
            free(mode);
            return -1;
        }
        free(mode);
    }
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (wsmd__sub_is_el(c, WSMD_NS_SUBFILE, "Batching")) {
            for (const xmlNode *b = c->children; b; b = b->next) {
                int items = wsmd__sub_is_el(b, WSMD_NS_SUBFILE, "MaxItems");
                if (!items && !wsmd__sub_is_el(b, WSMD_NS_SUBFILE, "MaxLatencyTime"))
                    continue;
                char *t = wsmd__sub_node_text(b);
                unsigned long v;
                int bad = !t || wsmd__sub_parse_num(t, 1, items ? 0xFFFFFFFFul : 0x7FFFFFFFul, &v);
                if (bad) {
                    wsmd__sub_seterr(err, errlen, "%s \"%.32s\" is not a number in range", b->name,
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
        } else if (wsmd__sub_is_el(c, WSMD_NS_SUBFILE, "PushSettings")) {
            for (const xmlNode *h = c->children; h; h = h->next) {
                if (!wsmd__sub_is_el(h, WSMD_NS_SUBFILE, "Heartbeat"))
                    continue;
                char *t = wsmd__sub_attr_text(h, "Interval");
                if (!t || wsmd__sub_parse_num(t, 1, 0x7FFFFFFFul, &d->hb)) {
                    wsmd__sub_seterr(err, errlen,
                                     "Heartbeat Interval \"%.32s\" is not a number in range",
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

int wsmd__sub_read_ext(struct wsmd_sub *s, const xmlNode *n, char *err, size_t errlen)
{
    const char *nm = (const char *)n->name;
    char *t = wsmd__sub_node_text(n);
    int rc = -1;
    if (!t)
        return -1;
    if (strcmp(nm, "AllowedPrincipals") == 0 || strcmp(nm, "DeniedPrincipals") == 0) {
        int allow = nm[0] == 'A';
        size_t first = allow ? s->nallow : s->ndeny;
        rc = wsmd__sub_add_tokens(allow ? &s->allow : &s->deny, allow ? &s->nallow : &s->ndeny, t);
        for (size_t i = first; !rc && i < (allow ? s->nallow : s->ndeny); i++)
            if (!valid_glob((allow ? s->allow : s->deny)[i])) {
                wsmd__sub_seterr(err, errlen,
                                 "wsmd:%s \"%.64s\": a glob of at most %d characters and "
                                 "%d '*'",
                                 nm, (allow ? s->allow : s->deny)[i], MAX_GLOB, MAX_GLOB_STARS);
                rc = -1;
            }
    } else if (strcmp(nm, "Outputs") == 0) {
        char **v = NULL;
        size_t k = 0;
        rc = wsmd__sub_add_tokens(&v, &k, t);
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
                wsmd__sub_seterr(err, errlen,
                                 "wsmd:Outputs \"%.32s\": expected jsonl, xml or syslog", v[i]);
                rc = -1;
            }
            free(v[i]);
        }
        free(v);
        if (!rc && !o) {
            wsmd__sub_seterr(err, errlen, "wsmd:Outputs names no output");
            rc = -1;
        }
        s->outputs |= o;
    } else {
        wsmd__sub_seterr(err, errlen, "unknown element wsmd:%.64s (namespace %s)", nm,
                         WSMD_NS_SUBEXT);
    }
    free(t);
    return rc;
}
