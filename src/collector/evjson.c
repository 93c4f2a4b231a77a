/* One JSON object per event (the JSON Lines and syslog outputs), and the
 * rule that says whether an event's Computer is the machine that sent it. */
#include "events.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* 1 for bytes that a JSON string cannot hold as they are: control
 * characters, '"', '\\', and every non-ASCII byte (its UTF-8 is checked). */
/* clang-format off */
static const unsigned char jstop[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x00 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10 */
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x30 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* 0x50 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x60 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x70 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x80 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x90 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xa0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xb0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xc0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xd0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xe0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xf0 */
};
/* clang-format on */

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlongs,
 * no surrogates, nothing past U+10FFFF), 0 if there is none. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    size_t avail = (size_t)(end - p);
    unsigned c = p[0];
    if (c >= 0xC2 && c < 0xE0)
        return avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c < 0xF0) {
        if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0))
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c < 0xF5) {
        if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))
            return 0;
        return 4;
    }
    return 0;
}

enum wsm_err wsmd__json_str(struct wsm_buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    enum wsm_err e;
    /* Escapes grow a byte to six at most: one reservation up front is the
     * common case (few escapes), the loop reserves again when needed. */
    (void)wsm__buf_reserve(out, len + len / 8 + 2); /* a hint: the adds check the cap */
    if ((e = wsm__buf_add(out, "\"", 1)))
        return e;
    while (p < end) {
        const unsigned char *q = p;
        for (;;) {
            while (q < end && !jstop[*q])
                q++;
            if (q < end && *q >= 0x80) {
                size_t n = utf8_len(q, end);
                if (n) {
                    q += n;
                    continue;
                }
            }
            break;
        }
        if (q > p && (e = wsm__buf_add(out, p, (size_t)(q - p))))
            return e;
        if (q == end)
            break;
        char esc[8];
        size_t el = 2;
        esc[0] = '\\';
        switch (*q) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            if (*q >= 0x80) { /* not UTF-8: U+FFFD */
                memcpy(esc, "\\ufffd", 6);
            } else {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[*q >> 4];
                esc[5] = hex[*q & 15];
            }
            el = 6;
        }
        if ((e = wsm__buf_add(out, esc, el)))
            return e;
        p = q + 1;
    }
    return wsm__buf_add(out, "\"", 1);
}

/* ,"k": (keys are ours: plain ASCII, nothing to escape) */
static enum wsm_err key(struct wsm_buf *out, const char *k)
{
    enum wsm_err e = wsm__buf_add(out, ",\"", 2);
    if (!e)
        e = wsm__buf_puts(out, k);
    return e ? e : wsm__buf_add(out, "\":", 2);
}

static enum wsm_err str_or_null(struct wsm_buf *out, const char *k, const char *v)
{
    enum wsm_err e = key(out, k);
    if (e)
        return e;
    return v ? wsmd__json_str(out, v, strlen(v)) : wsm__buf_add(out, "null", 4);
}

static enum wsm_err ll_or_null(struct wsm_buf *out, const char *k, long long v)
{
    enum wsm_err e = key(out, k);
    if (e)
        return e;
    return v < 0 ? wsm__buf_add(out, "null", 4) : wsm__buf_printf(out, "%lld", v);
}

/* Level, Task, Opcode: numbers in the schema (UInt8/UInt16), written as
 * JSON numbers; anything else a source put there stays a string. */
static enum wsm_err num_text(struct wsm_buf *out, const char *k, const char *v)
{
    size_t n = v ? strlen(v) : 0;
    int digits = n > 0 && n <= 15 && strspn(v, "0123456789") == n && (v[0] != '0' || n == 1);
    if (!digits)
        return str_or_null(out, k, v);
    enum wsm_err e = key(out, k);
    return e ? e : wsm__buf_add(out, v, n);
}

enum wsm_err wsmd__event_json(struct wsm_buf *out, const struct wsmd_event *ev,
                              const struct wsmd_event_meta *m)
{
    static const struct wsmd_event_meta none;
    size_t start = out->len;
    enum wsm_err e;
    if (!ev)
        return WSM_ERR_INVALID_ARG;
    if (!m)
        m = &none;
    /* The mismatch is only claimed when both sides are known. */
    int mismatch =
        ev->computer && m->client && !wsmd__event_computer_matches(ev->computer, m->client);
    if ((e = wsm__buf_add(out, "{\"Xml\":", 7)) ||
        (e = wsmd__json_str(out, ev->xml ? ev->xml : "", ev->xml_len)) ||
        (e = str_or_null(out, "Computer", ev->computer)) ||
        (e = str_or_null(out, "Channel", ev->channel)) ||
        (e = ll_or_null(out, "EventID", ev->event_id)) ||
        (ev->qualifiers > 0 && (e = ll_or_null(out, "Qualifiers", ev->qualifiers))) ||
        (e = ll_or_null(out, "EventRecordID", ev->record_id)) ||
        (e = str_or_null(out, "TimeCreated", ev->time_created)) ||
        (e = str_or_null(out, "Provider", ev->provider)) ||
        (e = num_text(out, "Level", ev->level)) || (e = num_text(out, "Task", ev->task)) ||
        (e = num_text(out, "Opcode", ev->opcode)) ||
        (e = str_or_null(out, "Keywords", ev->keywords)) ||
        (ev->rendered_message && (e = str_or_null(out, "Message", ev->rendered_message))) ||
        (e = str_or_null(out, "Subscription", m->subscription)) ||
        (e = str_or_null(out, "Client", m->client)) ||
        (e = str_or_null(out, "SourceAddress", m->source_addr)) ||
        (e = str_or_null(out, "Received", m->received)) || (e = key(out, "ComputerMismatch")) ||
        (e = wsm__buf_puts(out, mismatch ? "true" : "false")) || (e = key(out, "WellFormed")) ||
        (e = wsm__buf_puts(out, ev->well_formed ? "true}" : "false}"))) {
        /* never half an object */
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
        return e;
    }
    return WSM_OK;
}

/* ---- Computer vs principal --------------------------------------------- */

struct name {
    const char *host; /* the machine's name (first label) */
    size_t host_len;
    const char *domain; /* a DNS domain (or Kerberos realm), may be NULL */
    size_t domain_len;
    int netbios; /* host is an account name: 15 characters at most */
};

/* Splits a principal: NAME$@REALM (Kerberos), DOMAIN\NAME$ (NTLM, Basic),
 * host.domain (certificate CN), service/host.domain@REALM, or a bare NAME. A trailing '$' (machine
 * account) is dropped. */
static void split_principal(const char *p, struct name *n)
{
    memset(n, 0, sizeof(*n));
    const char *at = strrchr(p, '@');
    const char *bs = strchr(p, '\\');
    const char *end;
    if (bs && (!at || bs < at)) {
        p = bs + 1; /* the NetBIOS domain says nothing about DNS */
        at = strrchr(p, '@');
    }
    if (at) {
        end = at;
        n->domain = at + 1;
        n->domain_len = strlen(at + 1);
    } else {
        end = p + strlen(p);
    }
    if (end > p && end[-1] == '$') {
        end--;
        n->netbios = 1;
    }
    /* a service principal (host/ws1.example.com@REALM): the host part */
    const char *slash = memrchr(p, '/', (size_t)(end - p));
    int fqdn = !at;
    if (slash) {
        p = slash + 1;
        fqdn = 1;
    }
    const char *dot = memchr(p, '.', (size_t)(end - p));
    if (dot && fqdn) { /* host.domain: its domain is the one to compare */
        n->domain = dot + 1;
        n->domain_len = (size_t)(end - dot - 1);
        end = dot;
    }
    n->host = p;
    n->host_len = (size_t)(end - p);
}

int wsmd__event_computer_matches(const char *computer, const char *principal)
{
    if (!computer || !principal || !*computer || !*principal)
        return 0;
    struct name pr;
    split_principal(principal, &pr);
    size_t clen = strlen(computer);
    if (clen && computer[clen - 1] == '.')
        clen--; /* an absolute FQDN */
    const char *dot = memchr(computer, '.', clen);
    size_t label = dot ? (size_t)(dot - computer) : clen;
    const char *cdom = dot ? dot + 1 : NULL;
    size_t cdom_len = dot ? clen - label - 1 : 0;
    if (pr.domain && pr.domain_len && pr.domain[pr.domain_len - 1] == '.')
        pr.domain_len--;
    if (!pr.host_len || !label)
        return 0;
    /* A machine account name is the host name cut to 15 characters. */
    size_t cmp = label;
    if (pr.netbios && pr.host_len == 15 && label > 15)
        cmp = 15;
    if (cmp != pr.host_len || strncasecmp(computer, pr.host, cmp) != 0)
        return 0;
    /* Both sides name a DNS domain: it must be the same one. */
    if (pr.domain && pr.domain_len && cdom && cdom_len)
        return pr.domain_len == cdom_len && strncasecmp(pr.domain, cdom, cdom_len) == 0;
    return 1;
}
