/* Which JSON type a value gets. The replies carry no xsi:type (neither do
 * Windows'); guessing from the text would make a serial number of digits
 * a number, so the type comes from a schema: the providers' class tables
 * (cimtypes.h) for CIM classes, winrm/config's own (its values are
 * booleans, counts and strings) for configuration; an element's xsi:type,
 * when a service sends one, wins. Anything else stays a string. */
#include "jsontype.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cimtypes.h"

#define NS_CONFIG "http://schemas.microsoft.com/wbem/wsman/1/config"
#define NS_XSI "http://www.w3.org/2001/XMLSchema-instance"
#define NS_XML "http://www.w3.org/XML/1998/namespace"

void cli_jtype_init(struct cli_jtype *t, const xmlNode *root)
{
    t->cls = NULL;
    t->config = root->ns && root->ns->href &&
                !strncmp((const char *)root->ns->href, NS_CONFIG, strlen(NS_CONFIG));
    for (const struct cli_cim_prop *p = cli_cim_props; p->cls; p++)
        if (!strcasecmp(p->cls, (const char *)root->name)) {
            t->cls = p->cls;
            break;
        }
}

/* xsi:type="xs:unsignedInt" and the like. */
static char xsi_kind(const xmlNode *el)
{
    xmlChar *v = xmlGetNsProp(el, (const xmlChar *)"type", (const xmlChar *)NS_XSI);
    if (!v)
        return 0;
    const char *t = strchr((const char *)v, ':');
    t = t ? t + 1 : (const char *)v;
    char k = 0;
    if (!strcmp(t, "boolean"))
        k = 'b';
    else if (strstr(t, "nt") || strstr(t, "hort") || strstr(t, "yte") || strstr(t, "ong") ||
             !strcmp(t, "integer"))
        k = 'i'; /* int, unsignedInt, short, byte, long, unsignedLong... */
    else if (!strcmp(t, "float") || !strcmp(t, "double") || !strcmp(t, "decimal"))
        k = 'r';
    else if (!strcmp(t, "string"))
        k = 's';
    xmlFree(v);
    return k;
}

char cli_jtype_kind(const struct cli_jtype *t, const xmlNode *el, int *array)
{
    *array = 0;
    char k = xsi_kind(el);
    if (k)
        return k;
    if (t->cls) {
        for (const struct cli_cim_prop *p = cli_cim_props; p->cls; p++)
            if (!strcasecmp(p->cls, t->cls) && !strcmp(p->prop, (const char *)el->name)) {
                *array = p->array;
                return p->kind;
            }
        return 0;
    }
    if (t->config) {
        /* Names, thumbprints and addresses may be all digits: strings. */
        static const char *const strings[] = {
            "Hostname", "CertificateThumbprint", "Address", "URLPrefix",
            "Port",     "ListeningOn",           NULL};
        for (size_t i = 0; strings[i]; i++)
            if (!strcmp(strings[i], (const char *)el->name))
                return strcmp(strings[i], "Port") ? 's' : 'i';
        return 'g'; /* by the text: true/false, or a count */
    }
    return 0;
}

static int is_integer(const char *s)
{
    if (*s == '-')
        s++;
    if (!*s || (s[0] == '0' && s[1]))
        return 0; /* "0123" is no JSON number */
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* RFC 8259's number, which strtod's is not ("1.", "-.5", "0x1p3", "inf"). */
static int is_real(const char *s)
{
    if (*s == '-')
        s++;
    if (*s == '0')
        s++;
    else if (*s >= '1' && *s <= '9')
        while (*s >= '0' && *s <= '9')
            s++;
    else
        return 0;
    if (*s == '.') {
        if (!(*++s >= '0' && *s <= '9'))
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!(*s >= '0' && *s <= '9'))
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return !*s;
}

void cli_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

int cli_json_typed_leaf(FILE *f, const xmlNode *n, char kind)
{
    const xmlNode *leaf = n;
    if (kind == 'd') {
        /* <p:X><cim:Datetime>...</cim:Datetime></p:X>: the text alone. */
        for (const xmlNode *c = n->children; c; c = c->next)
            if (c->type == XML_ELEMENT_NODE) {
                leaf = c;
                break;
            }
    }
    for (const xmlNode *c = leaf->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            return 0;
    xmlChar *x = xmlNodeGetContent(leaf);
    const char *t = x ? (const char *)x : "";
    int done = 1;
    if (kind == 'd')
        cli_json_str(f, t);
    else if ((kind == 'b' || kind == 'g') && (!strcmp(t, "true") || !strcmp(t, "false")))
        fputs(t, f);
    else if ((kind == 'i' || kind == 'g') && is_integer(t))
        fputs(t, f);
    else if (kind == 'r' && is_real(t))
        fputs(t, f);
    else
        done = 0; /* a string, printed by the caller as any text */
    xmlFree(x);
    return done;
}

int cli_json_hidden_attr(const xmlAttr *a)
{
    return a->ns && a->ns->href && !strcmp((const char *)a->ns->href, NS_XML) &&
           !strcmp((const char *)a->name, "lang");
}
