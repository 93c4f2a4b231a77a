/* One journal entry as one <Event> of the Windows event schema
 * (http://schemas.microsoft.com/win/2004/08/events/event;
 * docs/internals/evsrc.md, "The System element").
 *
 * The element order is the schema's (a sequence: Provider, EventID,
 * Version, Level, Task, Opcode, Keywords, TimeCreated, EventRecordID,
 * Correlation, Execution, Channel, Computer, Security); collectors that
 * validate, or parse by position, need it. Attributes are single-quoted
 * as Windows writes them. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "evsrc_priv.h"

/* Classic (0x80000000000000): what Windows gives events of classic event
 * sources, the kind `eventcreate` writes. */
#define KEYWORDS_CLASSIC "0x80000000000000"

static const char *const level_names[6] = {"LogAlways", "Critical",    "Error",
                                           "Warning",   "Information", "Verbose"};

void wsmd__ev_systemtime(uint64_t usec, char out[32])
{
    /* gmtime_r and the formatting of the date are per second; a batch of
     * events mostly shares its second. */
    static __thread uint64_t last_sec = UINT64_MAX;
    static __thread char last[24];
    uint64_t sec = usec / 1000000;
    if (sec != last_sec) {
        time_t ts = (time_t)sec;
        struct tm tm;
        char t[96];
        if (!gmtime_r(&ts, &tm))
            memset(&tm, 0, sizeof(tm)), tm.tm_year = 70, tm.tm_mday = 1;
        snprintf(t, sizeof(t), "%04d-%02d-%02dT%02d:%02d:%02d.", (tm.tm_year + 1900) % 10000,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        memcpy(last, t, 20); /* always 20 characters for years 0..9999 */
        last_sec = sec;
    }
    memcpy(out, last, 20);
    /* Windows writes 100-ns units: seven digits, the last always 0 here. */
    unsigned frac = (unsigned)(usec % 1000000);
    for (int i = 25; i >= 20; i--, frac /= 10)
        out[i] = (char)('0' + frac % 10);
    memcpy(out + 26, "0Z", 3);
}

/* The length of the well-formed UTF-8 sequence at s (1..4) or 0: overlong
 * forms, surrogates and code points past U+10FFFF are not well-formed. */
static size_t utf8_len(const unsigned char *s, size_t n, unsigned *cp)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        min = 0x80;
        c &= 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        min = 0x800;
        c &= 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        min = 0x10000;
        c &= 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

/* Bytes that can be copied as they are: printable ASCII but the five that
 * XML escapes, and DEL (allowed by XML). Everything else takes a look. */
static const unsigned char plain[256] = {
    [' '] = 1, ['!'] = 1, ['#' ... '%'] = 1, ['(' ... ';'] = 1, ['='] = 1, ['?' ... 0x7F] = 1,
};

static const char hexd[] = "0123456789ABCDEF";

/* The replacement for the byte(s) at p (len set to how many it stands for),
 * or 0 when they are well-formed UTF-8 that stays as it is. */
static size_t escape_at(const unsigned char *p, size_t left, size_t *len, char rep[8])
{
    unsigned c = p[0], cp;
    *len = 1;
    switch (c) {
    case '&':
        memcpy(rep, "&amp;", 5);
        return 5;
    case '<':
        memcpy(rep, "&lt;", 4);
        return 4;
    case '>':
        memcpy(rep, "&gt;", 4);
        return 4;
    case '"':
        memcpy(rep, "&quot;", 6);
        return 6;
    case '\'':
        memcpy(rep, "&apos;", 6);
        return 6;
    case '\r': /* a raw CR would come back as LF from any XML parser */
        memcpy(rep, "&#13;", 5);
        return 5;
    case '\n':                   /* attribute values would turn LF and tab into spaces; as */
        memcpy(rep, "&#10;", 5); /* references they survive, and each */
        return 5;                /* event stays one line */
    case '\t':
        memcpy(rep, "&#9;", 4);
        return 4;
    }
    if (c < 0x20) {
        memcpy(rep, "\\u00", 4);
        rep[4] = hexd[c >> 4];
        rep[5] = hexd[c & 15];
        return 6;
    }
    size_t l = utf8_len(p, left, &cp);
    if (l == 0) {
        rep[0] = '\\';
        rep[1] = 'x';
        rep[2] = hexd[c >> 4];
        rep[3] = hexd[c & 15];
        return 4;
    }
    *len = l;
    if (cp == 0xFFFE || cp == 0xFFFF) {
        memcpy(rep, cp == 0xFFFE ? "\\uFFFE" : "\\uFFFF", 6);
        return 6;
    }
    return 0;
}

enum wsm_err wsmd__ev_xml_text(struct wsm_buf *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    /* Room for the worst case (every byte a 6-byte escape) when the cap
     * allows, so the loop never checks; else byte-wise appends. */
    int roomy = n <= (SIZE_MAX - 16) / 6 && wsm__buf_reserve(out, n * 6) == WSM_OK;
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (i < n && plain[p[i]])
            i++;
        while (i < n && p[i] >= 0x80) {
            /* Well-formed UTF-8 continues the run. */
            unsigned cp;
            size_t l = utf8_len(p + i, n - i, &cp);
            if (l == 0 || cp == 0xFFFE || cp == 0xFFFF)
                break;
            i += l;
            while (i < n && plain[p[i]])
                i++;
        }
        if (i > run) {
            if (roomy) {
                memcpy(out->data + out->len, s + run, i - run);
                out->len += i - run;
            } else if (wsm__buf_add(out, s + run, i - run) != WSM_OK) {
                return WSM_ERR_QUOTA;
            }
        }
        if (i >= n)
            break;
        char rep[8];
        size_t len;
        size_t rl = escape_at(p + i, n - i, &len, rep);
        if (rl == 0) {
            if (roomy) {
                memcpy(out->data + out->len, s + i, len);
                out->len += len;
            } else if (wsm__buf_add(out, s + i, len) != WSM_OK) {
                return WSM_ERR_QUOTA;
            }
        } else if (roomy) {
            memcpy(out->data + out->len, rep, rl);
            out->len += rl;
        } else if (wsm__buf_add(out, rep, rl) != WSM_OK) {
            return WSM_ERR_QUOTA;
        }
        i += len;
    }
    if (out->data)
        out->data[out->len] = '\0';
    return WSM_OK;
}

#define PUT(lit) wsm__buf_add(out, lit, sizeof(lit) - 1)

static enum wsm_err put_num(struct wsm_buf *out, unsigned long long v)
{
    char d[24];
    size_t i = sizeof(d);
    do
        d[--i] = (char)('0' + v % 10);
    while (v /= 10);
    return wsm__buf_add(out, d + i, sizeof(d) - i);
}

/* A Data Name: journal field names are [A-Z0-9_] (journald refuses
 * others), but the renderer is not the place to trust that. */
static enum wsm_err put_field(struct wsm_buf *out, const struct wsmd_evfield *f)
{
    enum wsm_err e = PUT("<Data Name='");
    if (!e)
        e = wsmd__ev_xml_text(out, f->name, f->nlen);
    if (!e)
        e = PUT("'>");
    if (!e)
        e = wsmd__ev_xml_text(out, f->val, f->vlen);
    if (!e)
        e = PUT("</Data>");
    return e;
}

enum wsm_err wsmd__ev_render(const struct wsmd_evin *ev, const char *chan, const char *computer,
                             int rendered, struct wsm_buf *out)
{
    size_t mark = out->len;
    char when[32];
    wsmd__ev_systemtime(ev->realtime_usec, when);
    int level = ev->level >= 0 && ev->level <= 5 ? ev->level : 4;
    size_t chan_len = strlen(chan);

    enum wsm_err e = PUT("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>"
                         "<System><Provider Name='");
    if (!e)
        e = wsmd__ev_xml_text(out, ev->provider, ev->provider_len);
    if (!e)
        e = PUT("'/><EventID>");
    if (!e)
        e = put_num(out, ev->eventid);
    if (!e)
        e = PUT("</EventID><Version>0</Version><Level>");
    if (!e)
        e = put_num(out, (unsigned long long)level);
    if (!e)
        e = PUT("</Level><Task>0</Task><Opcode>0</Opcode><Keywords>" KEYWORDS_CLASSIC
                "</Keywords><TimeCreated SystemTime='");
    if (!e)
        e = wsm__buf_add(out, when, 28);
    if (!e)
        e = PUT("'/><EventRecordID>");
    if (!e)
        e = put_num(out, ev->seqnum);
    if (!e)
        e = PUT("</EventRecordID><Correlation/><Execution ProcessID='");
    if (!e)
        e = put_num(out, ev->pid >= 0 ? (unsigned long long)ev->pid : 0);
    if (!e)
        e = PUT("' ThreadID='");
    if (!e)
        e = put_num(out, ev->tid >= 0 ? (unsigned long long)ev->tid : 0);
    if (!e)
        e = PUT("'/><Channel>");
    if (!e)
        e = wsmd__ev_xml_text(out, chan, chan_len);
    if (!e)
        e = PUT("</Channel><Computer>");
    if (!e)
        e = ev->hostname
                ? wsmd__ev_xml_text(out, ev->hostname, ev->hostname_len)
                : wsmd__ev_xml_text(out, computer ? computer : "", computer ? strlen(computer) : 0);
    if (!e)
        e = PUT("</Computer>");
    /* Samba's form for Unix accounts (S-1-22-1-<uid>, "Unix User\name"). */
    if (!e && ev->uid >= 0) {
        e = PUT("<Security UserID='S-1-22-1-");
        if (!e)
            e = put_num(out, (unsigned long long)ev->uid);
        if (!e)
            e = PUT("'/>");
    } else if (!e) {
        e = PUT("<Security/>");
    }
    if (!e)
        e = PUT("</System><EventData>");
    for (size_t i = 0; i < ev->n && !e; i++)
        e = put_field(out, &ev->f[i]);
    if (!e)
        e = PUT("</EventData>");
    if (!e && rendered) {
        e = PUT("<RenderingInfo Culture='en-US'><Message>");
        if (!e && ev->message)
            e = wsmd__ev_xml_text(out, ev->message, ev->message_len);
        if (!e)
            e = PUT("</Message><Level>");
        if (!e)
            e = wsm__buf_puts(out, level_names[level]);
        if (!e)
            e = PUT("</Level><Channel>");
        if (!e)
            e = wsmd__ev_xml_text(out, chan, chan_len);
        if (!e)
            e = PUT("</Channel><Provider>");
        if (!e)
            e = wsmd__ev_xml_text(out, ev->provider, ev->provider_len);
        if (!e)
            e = PUT("</Provider></RenderingInfo>");
    }
    if (!e)
        e = PUT("</Event>");
    if (e) {
        /* Nothing half-written: the caller's batch stays well-formed. */
        out->len = mark;
        if (out->data)
            out->data[mark] = '\0';
    }
    return e;
}
