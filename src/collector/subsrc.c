/* Subscription files: what a CollectorInitiated subscription adds, the
 * event sources the collector dials (docs/internals/subscriptions.md,
 * "CollectorInitiated"). The elements are Windows' own, as `wecutil gs
 * /f:xml` prints them:
 *
 *   <CredentialsType>Default|Negotiate|Basic|Digest|Local</CredentialsType>
 *   <CommonUserName>u</CommonUserName> <CommonPassword>p</CommonPassword>
 *   <EventSources>
 *     <EventSource Enabled="true"><Address>host</Address>
 *       <UserName>u</UserName><Password>p</Password></EventSource>
 *   </EventSources>
 *
 * Passwords live only in memory and are never written back or logged:
 * wsmd__sub_write_xml writes the user names and leaves the passwords out. */
#include "sub_priv.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_SOURCES 1000 /* Windows advises at most 500 per collector */
#define MAX_ADDRESS 255
#define MAX_USER 256
#define MAX_PASSWORD 512

static const char *const cred_types[] = {"Default", "Negotiate", "Basic", "Digest", "Local"};

static void source_clear(struct wsmd_sub_source *e)
{
    free(e->address);
    free(e->user);
    if (e->password) {
        /* volatile: the wipe must not be optimized away before free */
        for (volatile char *p = e->password; *p; p++)
            *p = 0;
        free(e->password);
    }
}

void wsmd__sub_sources_free(struct wsmd_sub *s)
{
    for (size_t i = 0; i < s->nsources; i++)
        source_clear(&s->sources[i]);
    free(s->sources);
    free(s->common_user);
    if (s->common_password) {
        for (volatile char *p = s->common_password; *p; p++)
            *p = 0;
        free(s->common_password);
    }
    free(s->credentials_type);
}

/* A host name, [v6], host:port or an http(s):// URL, of URL characters
 * that need no escaping in XML or a log line: it becomes the URL the
 * collector dials and a key of the state database. */
static int valid_address(const char *a)
{
    size_t n = strlen(a);
    int url = strstr(a, "://") != NULL;
    if (n == 0 || n > MAX_ADDRESS)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = a[i];
        int host = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   strchr(".-_:[]%", c);
        if (!c || !(host || (url && strchr("/?=+,~", c))))
            return 0;
    }
    if (url)
        return !strncasecmp(a, "http://", 7) || !strncasecmp(a, "https://", 8);
    return 1;
}

static int no_controls(const char *t)
{
    for (; *t; t++)
        if ((unsigned char)*t < 0x20 || *t == 0x7f)
            return 0;
    return 1;
}

static int read_user(const xmlNode *n, const char *what, char **dst, size_t max, char *err,
                     size_t errlen)
{
    if (*dst) {
        wsmd__sub_seterr(err, errlen, "element %s given twice", what);
        return -1;
    }
    /* Not trimmed for a password: spaces may be part of it. */
    char *t;
    if (strstr(what, "Password")) {
        xmlChar *c = xmlNodeGetContent(n);
        t = strdup(c ? (const char *)c : "");
        xmlFree(c);
    } else {
        t = wsmd__sub_node_text(n);
    }
    if (!t)
        return -1;
    if (strlen(t) > max || !no_controls(t)) {
        /* never echo a password */
        wsmd__sub_seterr(err, errlen, "%s: at most %zu characters, no control characters", what,
                         max);
        free(t);
        return -1;
    }
    *dst = t;
    return 0;
}

static int read_source(struct wsmd_sub *s, const xmlNode *n, char *err, size_t errlen)
{
    if (s->nsources >= MAX_SOURCES) {
        wsmd__sub_seterr(err, errlen, "more than %d EventSource elements", MAX_SOURCES);
        return -1;
    }
    struct wsmd_sub_source *v = realloc(s->sources, (s->nsources + 1) * sizeof(*v));
    if (!v)
        return -1;
    s->sources = v;
    struct wsmd_sub_source *e = &v[s->nsources++];
    memset(e, 0, sizeof(*e));
    e->enabled = 1;
    char *en = wsmd__sub_attr_text(n, "Enabled");
    if (en && wsmd__sub_parse_bool(en, &e->enabled)) {
        wsmd__sub_seterr(err, errlen, "EventSource Enabled \"%.32s\": expected true or false", en);
        free(en);
        return -1;
    }
    free(en);
    for (const xmlNode *c = n->children; c; c = c->next) {
        int rc = 0;
        if (wsmd__sub_is_el(c, WSMD_NS_SUBFILE, "Address")) {
            if (e->address) {
                wsmd__sub_seterr(err, errlen, "element Address given twice");
                return -1;
            }
            if (!(e->address = wsmd__sub_node_text(c)))
                return -1;
            if (!valid_address(e->address)) {
                wsmd__sub_seterr(err, errlen,
                                 "EventSource Address \"%.64s\": a host name, [IPv6], host:port "
                                 "or an http(s):// URL",
                                 e->address);
                return -1;
            }
        } else if (wsmd__sub_is_el(c, WSMD_NS_SUBFILE, "UserName")) {
            rc = read_user(c, "UserName", &e->user, MAX_USER, err, errlen);
        } else if (wsmd__sub_is_el(c, WSMD_NS_SUBFILE, "Password")) {
            rc = read_user(c, "Password", &e->password, MAX_PASSWORD, err, errlen);
        }
        if (rc)
            return -1;
    }
    if (!e->address) {
        wsmd__sub_seterr(err, errlen, "EventSource without Address");
        return -1;
    }
    for (size_t i = 0; i + 1 < s->nsources; i++)
        if (!strcasecmp(s->sources[i].address, e->address)) {
            wsmd__sub_seterr(err, errlen, "EventSource Address \"%.64s\" given twice", e->address);
            return -1;
        }
    return 0;
}

int wsmd__sub_source_element(struct wsmd_sub *s, const xmlNode *n, char *err, size_t errlen)
{
    if (wsmd__sub_is_el(n, WSMD_NS_SUBFILE, "EventSources")) {
        if (s->have_sources) {
            wsmd__sub_seterr(err, errlen, "element EventSources given twice");
            return -1;
        }
        s->have_sources = 1;
        for (const xmlNode *c = n->children; c; c = c->next)
            if (wsmd__sub_is_el(c, WSMD_NS_SUBFILE, "EventSource") &&
                read_source(s, c, err, errlen))
                return -1;
        return 1;
    }
    if (wsmd__sub_is_el(n, WSMD_NS_SUBFILE, "CommonUserName"))
        return read_user(n, "CommonUserName", &s->common_user, MAX_USER, err, errlen) ? -1 : 1;
    if (wsmd__sub_is_el(n, WSMD_NS_SUBFILE, "CommonPassword"))
        return read_user(n, "CommonPassword", &s->common_password, MAX_PASSWORD, err, errlen) ? -1
                                                                                              : 1;
    if (wsmd__sub_is_el(n, WSMD_NS_SUBFILE, "CredentialsType")) {
        if (s->credentials_type) {
            wsmd__sub_seterr(err, errlen, "element CredentialsType given twice");
            return -1;
        }
        char *t = wsmd__sub_node_text(n);
        if (!t)
            return -1;
        for (size_t i = 0; i < sizeof(cred_types) / sizeof(cred_types[0]); i++)
            if (!strcasecmp(t, cred_types[i])) {
                free(t);
                return (s->credentials_type = strdup(cred_types[i])) ? 1 : -1;
            }
        wsmd__sub_seterr(err, errlen,
                         "CredentialsType \"%.32s\": expected Default, Negotiate, Basic, Digest "
                         "or Local",
                         t);
        free(t);
        return -1;
    }
    return 0;
}

int wsmd__sub_has_password(const struct wsmd_sub *s)
{
    if (s->common_password)
        return 1;
    for (size_t i = 0; i < s->nsources; i++)
        if (s->sources[i].password)
            return 1;
    return 0;
}

enum wsm_err wsmd__sub_write_sources(struct wsm_buf *b, const struct wsmd_sub *s)
{
    enum wsm_err e = WSM_OK;
#define PUT(x)                                                                                     \
    do {                                                                                           \
        if (!e)                                                                                    \
            e = (x);                                                                               \
    } while (0)
    if (s->credentials_type) {
        PUT(wsm__buf_puts(b, "\t<CredentialsType>"));
        PUT(wsm__buf_xml(b, s->credentials_type));
        PUT(wsm__buf_puts(b, "</CredentialsType>\n"));
    }
    if (s->common_user) {
        PUT(wsm__buf_puts(b, "\t<CommonUserName>"));
        PUT(wsm__buf_xml(b, s->common_user));
        PUT(wsm__buf_puts(b, "</CommonUserName>\n"));
    }
    if (!s->have_sources)
        return e;
    PUT(wsm__buf_puts(b, "\t<EventSources>\n"));
    for (size_t i = 0; i < s->nsources; i++) {
        const struct wsmd_sub_source *src = &s->sources[i];
        PUT(wsm__buf_printf(b, "\t\t<EventSource Enabled=\"%s\">\n\t\t\t<Address>",
                            src->enabled ? "true" : "false"));
        PUT(wsm__buf_xml(b, src->address));
        PUT(wsm__buf_puts(b, "</Address>\n"));
        if (src->user) {
            PUT(wsm__buf_puts(b, "\t\t\t<UserName>"));
            PUT(wsm__buf_xml(b, src->user));
            PUT(wsm__buf_puts(b, "</UserName>\n"));
        }
        PUT(wsm__buf_puts(b, "\t\t</EventSource>\n"));
    }
    PUT(wsm__buf_puts(b, "\t</EventSources>\n"));
#undef PUT
    return e;
}
