/* Fuzz target: what a collector answers to the forwarder's Enumerate
 * (src/forwarder/fwdsub.c), and what the forwarder then writes from it
 * (fwdsend.c). Every accepted subscription must give well-formed delivery
 * messages (Events with two events, one holding "]]>", Heartbeat,
 * SubscriptionEnd) that carry the collector's reference parameters only as
 * escaped text, and its encoded body must decompress (SLDC) back to the
 * UTF-16 of the message. The first input byte also picks an EventForwarding
 * value to parse from the rest. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "buf.h"
#include "forwarder.h"
#include "sldc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char EVENTS[] = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>"
                             "<System><EventID>1</EventID></System></Event>"
                             "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>"
                             "<EventData><Data>a]]>b</Data></EventData></Event>";

static void check_xml(const struct wsm_buf *b)
{
    xmlDocPtr d = xmlReadMemory(b->data, (int)b->len, NULL, "UTF-8",
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!d)
        abort(); /* a message we send must be XML whatever the collector said */
    xmlNodePtr root = xmlDocGetRootElement(d);
    /* The body holds one element (w:Events or e:SubscriptionEnd), and the
     * header's children come from us or are the rebuilt reference
     * parameters: no element the collector could have smuggled in. */
    if (!root || !root->children || !root->children->next || root->children->next->next)
        abort();
    xmlFreeDoc(d);
}

/* Whether the UTF-16LE u (n bytes) is exactly the UTF-8 s (len bytes). */
static int utf16_is(const char *u, size_t n, const char *s, size_t len)
{
    char *out = malloc(2 * n + 4);
    size_t o = 0;
    if (!out || n % 2)
        return free(out), 0;
    for (size_t i = 0; i < n; i += 2) {
        unsigned c = (unsigned char)u[i] | (unsigned)(unsigned char)u[i + 1] << 8;
        if (c >= 0xD800 && c < 0xDC00 && i + 3 < n) {
            unsigned d = (unsigned char)u[i + 2] | (unsigned)(unsigned char)u[i + 3] << 8;
            if (d >= 0xDC00 && d < 0xE000) {
                c = 0x10000 + ((c - 0xD800) << 10) + (d - 0xDC00);
                i += 2;
            }
        }
        if (c < 0x80) {
            out[o++] = (char)c;
        } else if (c < 0x800) {
            out[o++] = (char)(0xC0 | c >> 6);
            out[o++] = (char)(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            out[o++] = (char)(0xE0 | c >> 12);
            out[o++] = (char)(0x80 | (c >> 6 & 0x3F));
            out[o++] = (char)(0x80 | (c & 0x3F));
        } else {
            out[o++] = (char)(0xF0 | c >> 18);
            out[o++] = (char)(0x80 | (c >> 12 & 0x3F));
            out[o++] = (char)(0x80 | (c >> 6 & 0x3F));
            out[o++] = (char)(0x80 | (c & 0x3F));
        }
    }
    int same = o == len && memcmp(out, s, len) == 0;
    free(out);
    return same;
}

static void check_sub(const struct wsmd_fwdsub *s)
{
    static const enum wsmd_fwd_kind kinds[] = {WSMD_FWD_EVENTS, WSMD_FWD_HEARTBEAT, WSMD_FWD_END};
    for (size_t k = 0; k < 3; k++) {
        struct wsm_buf b;
        char msgid[64];
        wsm__buf_init(&b, 0);
        if (wsmd__fwd_delivery_msg(&b, s, kinds[k], EVENTS, sizeof(EVENTS) - 1, "<BookmarkList/>",
                                   msgid) != WSM_OK)
            abort();
        check_xml(&b);
        if (k == 0) {
            struct wsmd_fwdsub t = *s;
            t.sldc = 1;
            t.utf16 = 1;
            struct wsm_buf enc, plain;
            wsm__buf_init(&enc, 0);
            wsm__buf_init(&plain, 0);
            if (wsmd__fwd_encode(&t, b.data, b.len, &enc) != WSM_OK ||
                wsm__sldc_decompress((const unsigned char *)enc.data, enc.len, &plain,
                                     4 * b.len + 16) != WSM_OK ||
                plain.len < 2 || (unsigned char)plain.data[0] != 0xFF ||
                (unsigned char)plain.data[1] != 0xFE)
                abort(); /* the BOM, then UTF-16LE */
            /* The collector's strings (Locale, reference parameters) may hold any
             * UTF-8, so compare the UTF-16 turned back into UTF-8 with the message. */
            if (!utf16_is(plain.data + 2, plain.len - 2, b.data, b.len))
                abort();
            wsm__buf_free(&enc);
            wsm__buf_free(&plain);
        }
        wsm__buf_free(&b);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size && data[0] == 'F') {
        char *v = strndup((const char *)data + 1, size - 1);
        struct wsmd_fwd_target t;
        char why[160];
        if (v && wsmd__fwd_target_parse(v, &t, why, sizeof(why)) == WSM_OK) {
            if (!t.url || (t.refresh_s < 1 || t.refresh_s > 86400))
                abort();
            wsmd__fwd_target_clear(&t);
        }
        free(v);
        return 0;
    }
    struct wsmd_fwdsub *v = NULL;
    size_t n = 0, skipped = 0;
    int end = 0;
    char *ctx = NULL;
    if (wsmd__fwdsub_parse((const char *)data, size, &v, &n, &skipped, &end, &ctx) == WSM_OK) {
        for (size_t i = 0; i < n; i++) {
            if (!v[i].version || !v[i].notify_to || !v[i].query || !v[i].notify_ref)
                abort();
            check_sub(&v[i]);
        }
        wsmd__fwdsub_free(v, n);
        free(ctx);
    } else if (v || n || ctx) {
        abort(); /* nothing is handed out on failure */
    }
    return 0;
}
