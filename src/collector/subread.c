/* Subscription files: the small readers the element parser
 * (subscription.c) uses: trimmed texts, numbers, booleans, token lists, the
 * checks of ids, LogFile and Locale, thumbprints and the issuer/subject
 * lists. */
#include "sub_priv.h"

#include <ctype.h>
#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

char *wsmd__sub_trimdup(const char *s)
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

char *wsmd__sub_node_text(const xmlNode *n)
{
    xmlChar *c = xmlNodeGetContent(n);
    char *r = wsmd__sub_trimdup((const char *)c);
    xmlFree(c);
    return r;
}

char *wsmd__sub_attr_text(const xmlNode *n, const char *name)
{
    xmlChar *c = xmlGetNoNsProp(n, (const xmlChar *)name);
    if (!c)
        return NULL;
    char *r = wsmd__sub_trimdup((const char *)c);
    xmlFree(c);
    return r;
}

int wsmd__sub_is_el(const xmlNode *n, const char *ns, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
           strcmp((const char *)n->ns->href, ns) == 0 &&
           (!name || strcmp((const char *)n->name, name) == 0);
}

int wsmd__sub_parse_bool(const char *t, int *out)
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
int wsmd__sub_parse_num(const char *t, unsigned long min, unsigned long max, unsigned long *out)
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
int wsmd__sub_add_tokens(char ***v, size_t *n, const char *text)
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
int wsmd__sub_join_token(char **dst, const char *tok)
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

int wsmd__sub_valid_id(const char *id)
{
    size_t n = strlen(id);
    /* 200: "/wsman/subscriptions/" + the id fits the request path wsmd keeps. */
    if (n == 0 || n > 200 || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return 0;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        if (*p < 0x20 || *p == 0x7f || strchr("/\\?#", *p))
            return 0;
    return 1;
}

/* LogFile names a file of the outputs (DIR/<LogFile>.jsonl): no path. */
int wsmd__sub_valid_log_file(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 200 || t[0] == '.')
        return 0;
    for (const char *p = t; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr(" ._-", *p))
            return 0;
    return 1;
}

int wsmd__sub_valid_locale(const char *t)
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
char *wsmd__sub_thumbprint(const char *t)
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
int wsmd__sub_read_list(const xmlNode *list, const char *item, int thumbs, char **dst, char *err,
                        size_t errlen)
{
    int items = 0;
    for (const xmlNode *c = list->children; c; c = c->next) {
        if (!wsmd__sub_is_el(c, WSMD_NS_SUBFILE, item))
            continue;
        items = 1;
        char *t = wsmd__sub_node_text(c);
        if (!t)
            return -1;
        int rc = 0;
        if (*t && thumbs) {
            char *tp = wsmd__sub_thumbprint(t);
            if (!tp) {
                wsmd__sub_seterr(err, errlen,
                                 "IssuerCA \"%.64s\" is not a SHA-1 thumbprint (40 hex digits)", t);
                rc = -1;
            } else {
                rc = wsmd__sub_join_token(dst, tp);
                free(tp);
            }
        } else if (*t) {
            rc = wsmd__sub_join_token(dst, t);
        }
        free(t);
        if (rc)
            return -1;
    }
    if (!items) {
        char *t = wsmd__sub_node_text(list);
        char **v = NULL;
        size_t n = 0;
        int rc = t ? wsmd__sub_add_tokens(&v, &n, t) : -1;
        for (size_t i = 0; i < n; i++) {
            if (!rc) {
                char *tp = thumbs ? wsmd__sub_thumbprint(v[i]) : strdup(v[i]);
                if (!tp && thumbs)
                    wsmd__sub_seterr(err, errlen, "IssuerCA \"%.64s\" is not a SHA-1 thumbprint",
                                     v[i]);
                rc = tp ? wsmd__sub_join_token(dst, tp) : -1;
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
