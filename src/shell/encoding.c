/* Code pages (WINRS_CODEPAGE) and Xpress compression (CompressionType) of
 * a shell's streams: see encoding.h and docs/internals/shell-encoding.md. */
#include "encoding.h"

#include <errno.h>
#include <iconv.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "ns.h"
#include "xmlctxt.h"
#include "xpress.h"

/* ---- code pages ------------------------------------------------------ */

const char *wsmd__codepage_name(unsigned cp, char *buf, size_t len)
{
    switch (cp) {
    case 65001:
        return "UTF-8";
    case 1200:
    case 1201:
    case 12000:
    case 12001: /* UTF-16/32: not a console's */
    case 65000: /* UTF-7 */
    case 50220:
    case 50221:
    case 50222:
    case 50225:
    case 50227:
    case 50229:
        return NULL; /* ISO-2022: shift states across Receives */
    case 20127:
        return "ASCII";
    case 20866:
        return "KOI8-R";
    case 21866:
        return "KOI8-U";
    case 54936:
        return "GB18030";
    case 51932:
        return "EUC-JP";
    case 51949:
        return "EUC-KR";
    case 936:
        return "GBK";
    }
    if (cp >= 28591 && cp <= 28599)
        snprintf(buf, len, "ISO-8859-%u", cp - 28590);
    else if (cp == 28603 || cp == 28605)
        snprintf(buf, len, "ISO-8859-%u", cp - 28590);
    else if ((cp >= 1140 && cp <= 1149) || cp == 37 || cp == 500 || cp == 875 || cp == 1026 ||
             cp == 1047 || (cp >= 273 && cp <= 297) || cp == 870 || cp == 871)
        snprintf(buf, len, "IBM%03u", cp); /* EBCDIC: glibc names them so */
    else
        snprintf(buf, len, "CP%u", cp);
    return buf;
}

/* The length of the UTF-8 character at p (1-4), or 0 when the bytes are
 * not one (or not all of one: n too short). */
static size_t utf8_char(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t k = c < 0x80                 ? 1
               : c >= 0xc2 && c <= 0xdf ? 2
               : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4
                                        : 0;
    if (!k || k > n)
        return 0;
    for (size_t i = 1; i < k; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0) || (c == 0xf0 && p[1] < 0x90) ||
        (c == 0xf4 && p[1] >= 0x90))
        return 0; /* overlong, surrogate, past U+10FFFF */
    return k;
}

/* iconv over the whole input; at a sequence it cannot convert, unconv()
 * says how many bytes to skip and what to write instead. */
static enum wsm_err convert(const char *to, const char *from, const unsigned char *in, size_t n,
                            struct wsm_buf *out, int from_utf8)
{
    iconv_t cd = iconv_open(to, from);
    if (cd == (iconv_t)-1)
        return WSM_ERR_INVALID_OPTIONS;
    size_t start = out->len;
    enum wsm_err e = WSM_OK;
    char *ip = (char *)in;
    size_t il = n;
    while (il && !e) {
        if ((e = wsm__buf_reserve(out, il * 2 + 16)))
            break;
        char *op = out->data + out->len;
        size_t ol = out->alloc - out->len - 1;
        size_t before = ol;
        size_t r = iconv(cd, &ip, &il, &op, &ol);
        out->len += before - ol;
        if (r != (size_t)-1 || errno == E2BIG)
            continue;
        /* EILSEQ or EINVAL (cut short at the end) */
        const unsigned char *u = (const unsigned char *)ip;
        size_t skip = 1;
        const char *put = "?";
        size_t k;
        if (from_utf8) {
            if ((k = utf8_char(u, il)))
                skip = k; /* a character the code page lacks: '?' as Windows */
            else
                put = NULL; /* not UTF-8: the byte goes through as it is */
        }
        if ((e = wsm__buf_add(out, put ? put : (const char *)u, 1)))
            break;
        ip += skip;
        il -= skip;
        iconv(cd, NULL, NULL, NULL, NULL);
    }
    iconv_close(cd);
    if (e)
        out->len = start;
    if (out->data)
        out->data[out->len] = '\0';
    return e;
}

enum wsm_err wsmd__codepage_from_utf8(unsigned cp, const unsigned char *in, size_t n,
                                      struct wsm_buf *out)
{
    char buf[32];
    const char *name = wsmd__codepage_name(cp, buf, sizeof(buf));
    if (!name)
        return WSM_ERR_INVALID_OPTIONS;
    if (cp == 65001)
        return wsm__buf_add(out, in, n);
    return convert(name, "UTF-8", in, n, out, 1);
}

enum wsm_err wsmd__codepage_to_utf8(unsigned cp, const unsigned char *in, size_t n,
                                    struct wsm_buf *out)
{
    char buf[32];
    const char *name = wsmd__codepage_name(cp, buf, sizeof(buf));
    if (!name)
        return WSM_ERR_INVALID_OPTIONS;
    if (cp == 65001)
        return wsm__buf_add(out, in, n);
    return convert("UTF-8", name, in, n, out, 0);
}

/* Output is text (converted) when it is UTF-8, a character cut by the end
 * of the Receive aside; anything else is binary and goes as it is, as a
 * Windows program's bytes do whatever the console's code page. */
static int is_utf8_text(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_char(p + i, n - i);
        if (!k) {
            /* only the start of a character, cut by the end */
            unsigned c = p[i];
            size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
            if (c < 0xc2 || c > 0xf4 || n - i >= need)
                return 0;
            for (size_t j = i + 1; j < n; j++)
                if ((p[j] & 0xc0) != 0x80)
                    return 0;
            return 1;
        }
        i += k;
    }
    return 1;
}

/* stdin is text in the code page (converted) unless it holds control
 * bytes text does not (NUL, and C0 other than BEL BS HT LF VT FF CR ESC):
 * piped binary data goes to the command as it is. */
static int is_cp_text(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 && !((1u << p[i]) & 0x08003f80u))
            return 0;
    return 1;
}

static int all_ascii(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] & 0x80)
            return 0;
    return 1;
}

/* ---- Create ------------------------------------------------------------ */

enum wsm_err wsmd__shell_enc_parse(struct wsmd_call *call, struct shell_enc *enc)
{
    enc->codepage = 65001;
    enc->xpress = 0;
    enc->ascii = 1;
    const char *cp = wsm__envelope_option(call->env, "WINRS_CODEPAGE");
    if (cp) {
        char *end;
        unsigned long v = strtoul(cp, &end, 10);
        char buf[32];
        const char *name = NULL;
        if (end != cp && !*end && *cp != '-' && v > 0 && v <= 65535)
            name = wsmd__codepage_name((unsigned)v, buf, sizeof(buf));
        iconv_t a = name ? iconv_open(name, "UTF-8") : (iconv_t)-1;
        iconv_t b = name ? iconv_open("UTF-8", name) : (iconv_t)-1;
        if (a != (iconv_t)-1)
            iconv_close(a);
        if (b != (iconv_t)-1)
            iconv_close(b);
        if (a == (iconv_t)-1 || b == (iconv_t)-1) {
            call->fault_message = "The WINRS_CODEPAGE option names a code page that is not "
                                  "supported.";
            return WSM_ERR_INVALID_OPTIONS;
        }
        enc->codepage = (unsigned)v;
        /* EBCDIC code pages change even ASCII: no shortcut for them. */
        struct wsm_buf t;
        wsm__buf_init(&t, 0);
        enc->ascii =
            !wsmd__codepage_from_utf8(enc->codepage, (const unsigned char *)"Az09 \n", 6, &t) &&
            t.len == 6 && !memcmp(t.data, "Az09 \n", 6);
        wsm__buf_free(&t);
    }
    /* MS-WSMV 3.2.4.1.19: h:CompressionType in the shell's namespace. */
    xmlNodePtr h = wsm__xml_child(call->env->header, WSM_NS_SHELL, "CompressionType");
    if (h) {
        const char *v = wsm__xml_text(&call->env->arena, h, 1);
        if (!v)
            return WSM_ERR_NOMEM;
        if (strcasecmp(v, "xpress") != 0) {
            call->fault_message = "The CompressionType is not supported: the only compression "
                                  "is xpress.";
            return WSM_ERR_UNSUPPORTED_FEATURE;
        }
        enc->xpress = 1;
    }
    return WSM_OK;
}

/* ---- what each shell asked ---------------------------------------------- */

struct ent {
    char sid[37];
    struct shell_enc enc;
};

static pthread_mutex_t tlock = PTHREAD_MUTEX_INITIALIZER;
static struct ent *tab;
static size_t ntab, captab, prune_at = 256;

static struct ent *find(const char *sid)
{
    for (size_t i = 0; i < ntab; i++)
        if (!strcasecmp(tab[i].sid, sid))
            return &tab[i];
    return NULL;
}

/* Shells that the engine closed without a Delete (idle, their owner
 * removed) are dropped once the table has grown. */
static void prune(struct shell_mgr *m)
{
    struct shell_info *v = NULL;
    size_t n = 0;
    if (shell_list(m, NULL, NULL, &v, &n) != WSM_OK)
        return;
    size_t k = 0;
    for (size_t i = 0; i < ntab; i++) {
        int live = 0;
        for (size_t j = 0; j < n && !live; j++)
            live = !strcasecmp(v[j].id, tab[i].sid);
        if (live)
            tab[k++] = tab[i];
    }
    ntab = k;
    shell_info_free(v, n);
    prune_at = 2 * ntab + 256;
}

enum wsm_err wsmd__shell_enc_remember(struct shell_mgr *m, const char *sid,
                                      const struct shell_enc *enc)
{
    if (enc->codepage == 65001 && !enc->xpress) {
        wsmd__shell_enc_forget(sid);
        return WSM_OK;
    }
    /* Lock order: ours, then the engine's (shell_list); the engine never
     * calls back here. */
    pthread_mutex_lock(&tlock);
    if (ntab >= prune_at)
        prune(m);
    enum wsm_err e = WSM_OK;
    struct ent *x = find(sid);
    if (!x) {
        if (ntab == captab) {
            size_t c = captab ? captab * 2 : 64;
            struct ent *t = realloc(tab, c * sizeof(*t));
            if (!t) {
                e = WSM_ERR_NOMEM;
                goto out;
            }
            tab = t;
            captab = c;
        }
        x = &tab[ntab++];
        snprintf(x->sid, sizeof(x->sid), "%s", sid);
    }
    x->enc = *enc;
out:
    pthread_mutex_unlock(&tlock);
    return e;
}

void wsmd__shell_enc_forget(const char *sid)
{
    pthread_mutex_lock(&tlock);
    struct ent *x = find(sid);
    if (x)
        *x = tab[--ntab];
    pthread_mutex_unlock(&tlock);
}

struct shell_enc wsmd__shell_enc_get(const char *sid)
{
    struct shell_enc r = {65001, 0, 1};
    pthread_mutex_lock(&tlock);
    struct ent *x = sid ? find(sid) : NULL;
    if (x)
        r = x->enc;
    pthread_mutex_unlock(&tlock);
    return r;
}

/* ---- Receive and Send ----------------------------------------------------- */

/* Per rsp:Stream element of a block: its tags and base64 padding. */
#define BLOCK_ELEMENT 160

size_t wsmd__shell_enc_room(const struct shell_enc *enc, size_t max)
{
    if (enc->codepage == 54936)
        max /= 2; /* GB18030 takes 4 bytes for some 2-byte UTF-8 characters */
    if (!enc->xpress)
        return max;
    size_t over = (4 + BLOCK_ELEMENT) * (max / WSM_XPRESS_BLOCK + 2);
    return max > over ? max - over : 0;
}

static enum wsm_err encode_stream(const struct shell_enc *enc, struct wsm_buf *b)
{
    if (!b->len)
        return WSM_OK;
    struct wsm_buf t;
    enum wsm_err e = WSM_OK;
    const unsigned char *u = (const unsigned char *)b->data;
    if (enc->codepage != 65001 && !(enc->ascii && all_ascii(u, b->len)) &&
        is_utf8_text(u, b->len)) {
        wsm__buf_init(&t, 0);
        e = wsmd__codepage_from_utf8(enc->codepage, (unsigned char *)b->data, b->len, &t);
        if (e) {
            wsm__buf_free(&t);
            return e;
        }
        wsm__buf_free(b);
        *b = t;
    }
    if (enc->xpress) {
        wsm__buf_init(&t, 0);
        e = wsm__xpress_frame((unsigned char *)b->data, b->len, &t);
        if (e) {
            wsm__buf_free(&t);
            return e;
        }
        wsm__buf_free(b);
        *b = t;
    }
    return WSM_OK;
}

enum wsm_err wsmd__shell_enc_output(const struct shell_enc *enc, struct shell_output *out)
{
    enum wsm_err e = encode_stream(enc, &out->out);
    return e ? e : encode_stream(enc, &out->err);
}

enum wsm_err wsmd__shell_enc_input(const struct shell_enc *enc, const unsigned char *in, size_t n,
                                   struct wsm_buf *out, size_t max_out)
{
    struct wsm_buf t;
    wsm__buf_init(&t, 0);
    enum wsm_err e = WSM_OK;
    if (enc->xpress) {
        if ((e = wsm__xpress_unframe(in, n, &t, max_out)))
            goto done;
        in = (unsigned char *)t.data;
        n = t.len;
    }
    if (enc->codepage != 65001 && !(enc->ascii && all_ascii(in, n)) && is_cp_text(in, n))
        e = wsmd__codepage_to_utf8(enc->codepage, in, n, out);
    else
        e = wsm__buf_add(out, in, n);
done:
    wsm__buf_free(&t);
    return e;
}

static size_t wire_of(const struct wsm_buf *b)
{
    const unsigned char *p = (const unsigned char *)b->data;
    size_t n = 0, blocks = 0;
    for (size_t i = 0; i + 4 <= b->len; blocks++) {
        size_t len = 4 + ((size_t)p[i + 2] | ((size_t)p[i + 3] << 8)) + 1;
        i += len;
    }
    n = b->len + (blocks > 1 ? (blocks - 1) * BLOCK_ELEMENT : 0);
    return n + 3 * blocks; /* base64 padding per element */
}

size_t wsmd__shell_enc_wire(const struct shell_output *out)
{
    return wire_of(&out->out) + wire_of(&out->err);
}

enum wsm_err wsmd__shell_enc_put_blocks(struct wsm_buf *o, const char *name, const char *cid,
                                        const struct wsm_buf *data)
{
    const unsigned char *p = (const unsigned char *)data->data;
    size_t n = data->len, i = 0;
    enum wsm_err e = WSM_OK;
    while (i < n && !e) {
        size_t len = 4;
        if (n - i >= 4)
            len += ((size_t)p[i + 2] | ((size_t)p[i + 3] << 8)) + 1;
        if (len > n - i)
            len = n - i; /* cannot happen: we framed it */
        e = wsm__buf_printf(o, "<rsp:Stream Name=\"%s\" CommandId=\"%s\">", name, cid);
        size_t b64 = wsm__base64_enclen(len);
        if (!e && !(e = wsm__buf_reserve(o, b64))) {
            wsm__base64_encode(p + i, len, o->data + o->len);
            o->len += b64;
            e = wsm__buf_puts(o, "</rsp:Stream>");
        }
        i += len;
    }
    return e;
}
