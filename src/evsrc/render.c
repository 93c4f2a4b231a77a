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
    time_t s = (time_t)(usec / 1000000);
    struct tm tm;
    if (!gmtime_r(&s, &tm)) {
        memcpy(out, "1970-01-01T00:00:00.0000000Z", 29);
        return;
    }
    /* Windows writes 100-ns units: seven digits, the last always 0 here. */
    char t[96];
    snprintf(t, sizeof(t), "%04d-%02d-%02dT%02d:%02d:%02d.%06u0Z", (tm.tm_year + 1900) % 10000,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (unsigned)(usec % 1000000));
    memcpy(out, t, 29); /* always 28 characters and the NUL for years 0..9999 */
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

enum wsm_err wsmd__ev_xml_text(struct wsm_buf *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t run = 0; /* start of the bytes not yet copied */
    enum wsm_err e = WSM_OK;
    for (size_t i = 0; i < n && !e;) {
        unsigned char c = p[i];
        /* Plain printable ASCII that needs nothing: the common case. */
        if (c >= 0x20 && c < 0x7F && c != '&' && c != '<' && c != '>' && c != '"' && c != '\'') {
            i++;
            continue;
        }
        if (c == '\t' || c == '\n') {
            i++;
            continue;
        }
        char rep[16];
        const char *r = NULL;
        size_t len = 1;
        unsigned cp;
        switch (c) {
        case '&':
            r = "&amp;";
            break;
        case '<':
            r = "&lt;";
            break;
        case '>':
            r = "&gt;";
            break;
        case '"':
            r = "&quot;";
            break;
        case '\'':
            r = "&apos;";
            break;
        case '\r':
            /* A raw CR would come back as LF from any XML parser. */
            r = "&#13;";
            break;
        default:
            if (c < 0x20 || c == 0x7F) {
                if (c == 0x7F) { /* allowed by XML; kept */
                    i++;
                    continue;
                }
                snprintf(rep, sizeof(rep), "\\u%04X", c);
                r = rep;
            } else if ((len = utf8_len(p + i, n - i, &cp)) == 0) {
                len = 1;
                snprintf(rep, sizeof(rep), "\\x%02X", c);
                r = rep;
            } else if (cp == 0xFFFE || cp == 0xFFFF) {
                snprintf(rep, sizeof(rep), "\\u%04X", cp);
                r = rep;
            } else {
                i += len; /* well-formed, allowed: part of the run */
                continue;
            }
        }
        e = wsm__buf_add(out, s + run, i - run);
        if (!e)
            e = wsm__buf_puts(out, r);
        i += len;
        run = i;
    }
    if (!e)
        e = wsm__buf_add(out, s + run, n - run);
    return e;
}

/* A Data Name: journal field names are [A-Z0-9_] (journald refuses
 * others), but the renderer is not the place to trust that. */
static enum wsm_err put_field(struct wsm_buf *out, const struct wsmd_evfield *f)
{
    enum wsm_err e = wsm__buf_puts(out, "<Data Name='");
    if (!e)
        e = wsmd__ev_xml_text(out, f->name, f->nlen);
    if (!e)
        e = wsm__buf_puts(out, "'>");
    if (!e)
        e = wsmd__ev_xml_text(out, f->val, f->vlen);
    if (!e)
        e = wsm__buf_puts(out, "</Data>");
    return e;
}

enum wsm_err wsmd__ev_render(const struct wsmd_evin *ev, const char *chan, const char *computer,
                             int rendered, struct wsm_buf *out)
{
    size_t mark = out->len;
    char when[32];
    wsmd__ev_systemtime(ev->realtime_usec, when);
    int level = ev->level >= 0 && ev->level <= 5 ? ev->level : 4;

    enum wsm_err e = wsm__buf_puts(
        out, "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
             "<Provider Name='");
    if (!e)
        e = wsmd__ev_xml_text(out, ev->provider, ev->provider_len);
    if (!e)
        e = wsm__buf_printf(out,
                            "'/><EventID>%u</EventID><Version>0</Version><Level>%d</Level>"
                            "<Task>0</Task><Opcode>0</Opcode><Keywords>" KEYWORDS_CLASSIC
                            "</Keywords><TimeCreated SystemTime='%s'/>"
                            "<EventRecordID>%llu</EventRecordID><Correlation/>"
                            "<Execution ProcessID='%lld' ThreadID='%lld'/><Channel>",
                            ev->eventid, level, when, (unsigned long long)ev->seqnum,
                            ev->pid >= 0 ? ev->pid : 0, ev->tid >= 0 ? ev->tid : 0);
    if (!e)
        e = wsmd__ev_xml_text(out, chan, strlen(chan));
    if (!e)
        e = wsm__buf_puts(out, "</Channel><Computer>");
    if (!e)
        e = ev->hostname
                ? wsmd__ev_xml_text(out, ev->hostname, ev->hostname_len)
                : wsmd__ev_xml_text(out, computer ? computer : "", computer ? strlen(computer) : 0);
    if (!e)
        e = wsm__buf_puts(out, "</Computer>");
    /* Samba's form for Unix accounts (S-1-22-1-<uid>, "Unix User\name"). */
    if (!e)
        e = ev->uid >= 0 ? wsm__buf_printf(out, "<Security UserID='S-1-22-1-%lld'/>", ev->uid)
                         : wsm__buf_puts(out, "<Security/>");
    if (!e)
        e = wsm__buf_puts(out, "</System><EventData>");
    for (size_t i = 0; i < ev->n && !e; i++)
        e = put_field(out, &ev->f[i]);
    if (!e)
        e = wsm__buf_puts(out, "</EventData>");
    if (!e && rendered) {
        e = wsm__buf_puts(out, "<RenderingInfo Culture='en-US'><Message>");
        if (!e && ev->message)
            e = wsmd__ev_xml_text(out, ev->message, ev->message_len);
        if (!e)
            e = wsm__buf_printf(out, "</Message><Level>%s</Level><Channel>", level_names[level]);
        if (!e)
            e = wsmd__ev_xml_text(out, chan, strlen(chan));
        if (!e)
            e = wsm__buf_puts(out, "</Channel><Provider>");
        if (!e)
            e = wsmd__ev_xml_text(out, ev->provider, ev->provider_len);
        if (!e)
            e = wsm__buf_puts(out, "</Provider></RenderingInfo>");
    }
    if (!e)
        e = wsm__buf_puts(out, "</Event>");
    if (e) {
        /* Nothing half-written: the caller's batch stays well-formed. */
        out->len = mark;
        if (out->data)
            out->data[mark] = '\0';
    }
    return e;
}
