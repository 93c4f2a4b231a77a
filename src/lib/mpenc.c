#include "mpenc.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#define BOUNDARY_LINE "--" WSM_MPENC_BOUNDARY "\r\n"
#define BOUNDARY_DASH "--" WSM_MPENC_BOUNDARY
#define FINAL_LINE "--" WSM_MPENC_BOUNDARY "--\r\n"
#define PROTO_SPNEGO "application/HTTP-SPNEGO-session-encrypted"
#define PROTO_KERBEROS "application/HTTP-Kerberos-session-encrypted"
#define OCTET_STREAM "application/octet-stream"
#define SOAP_TYPE "application/soap+xml"
/* A header line of a part, CRLF included. */
#define MAX_HEADER_LINE 512

const char *wsm__mpenc_proto_str(enum wsm_mpenc_proto p)
{
    switch (p) {
    case WSM_MPENC_SPNEGO:
        return PROTO_SPNEGO;
    case WSM_MPENC_KERBEROS:
        return PROTO_KERBEROS;
    default:
        return NULL;
    }
}

const char *wsm__mpenc_content_type_str(enum wsm_mpenc_proto p)
{
    switch (p) {
    case WSM_MPENC_SPNEGO:
        return "multipart/encrypted;protocol=\"" PROTO_SPNEGO "\";boundary=\"" WSM_MPENC_BOUNDARY
               "\"";
    case WSM_MPENC_KERBEROS:
        return "multipart/encrypted;protocol=\"" PROTO_KERBEROS "\";boundary=\"" WSM_MPENC_BOUNDARY
               "\"";
    default:
        return NULL;
    }
}

static enum wsm_mpenc_proto proto_of(const char *s, size_t n)
{
    if (n == strlen(PROTO_SPNEGO) && strncasecmp(s, PROTO_SPNEGO, n) == 0)
        return WSM_MPENC_SPNEGO;
    if (n == strlen(PROTO_KERBEROS) && strncasecmp(s, PROTO_KERBEROS, n) == 0)
        return WSM_MPENC_KERBEROS;
    return WSM_MPENC_NONE;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t';
}

/* Next ';'-separated parameter of a header value: name [= value]. Values
 * may be quoted (no escapes). Returns 0 at the end, -1 on a syntax error. */
static int next_param(const char **pp, const char **name, size_t *nlen, const char **val,
                      size_t *vlen)
{
    const char *p = *pp;
    while (is_ws(*p))
        p++;
    if (!*p)
        return 0;
    *name = p;
    while (*p && *p != '=' && *p != ';' && !is_ws(*p))
        p++;
    *nlen = (size_t)(p - *name);
    while (is_ws(*p))
        p++;
    *val = NULL;
    *vlen = 0;
    if (*p == '=') {
        p++;
        while (is_ws(*p))
            p++;
        if (*p == '"') {
            *val = ++p;
            while (*p && *p != '"')
                p++;
            if (*p != '"')
                return -1;
            *vlen = (size_t)(p - *val);
            p++;
        } else {
            *val = p;
            while (*p && *p != ';')
                p++;
            *vlen = (size_t)(p - *val);
            while (*vlen && is_ws((*val)[*vlen - 1]))
                (*vlen)--;
        }
        while (is_ws(*p))
            p++;
    }
    if (*p == ';')
        p++;
    else if (*p)
        return -1;
    *pp = p;
    return *nlen ? 1 : -1;
}

enum wsm_err wsm__mpenc_content_type(const char *ct, enum wsm_mpenc_proto *proto, int *multi)
{
    static const char t1[] = "multipart/encrypted", t2[] = "multipart/x-multi-encrypted";
    if (!ct)
        return WSM_ERR_NOT_FOUND;
    while (is_ws(*ct))
        ct++;
    const char *p;
    if (strncasecmp(ct, t1, sizeof(t1) - 1) == 0) {
        *multi = 0;
        p = ct + sizeof(t1) - 1;
    } else if (strncasecmp(ct, t2, sizeof(t2) - 1) == 0) {
        *multi = 1;
        p = ct + sizeof(t2) - 1;
    } else {
        return WSM_ERR_NOT_FOUND;
    }
    while (is_ws(*p))
        p++;
    if (*p && *p != ';')
        return WSM_ERR_NOT_FOUND; /* "multipart/encryptedfoo" */
    if (*p)
        p++;
    enum wsm_mpenc_proto pr = WSM_MPENC_NONE;
    int have_proto = 0, have_boundary = 0, r;
    const char *name, *val;
    size_t nlen, vlen;
    while ((r = next_param(&p, &name, &nlen, &val, &vlen)) > 0) {
        if (nlen == 8 && strncasecmp(name, "protocol", 8) == 0) {
            if (have_proto++ || !val)
                return WSM_ERR_UNSUPPORTED_MEDIA;
            pr = proto_of(val, vlen);
        } else if (nlen == 8 && strncasecmp(name, "boundary", 8) == 0) {
            if (have_boundary++ || !val || vlen != strlen(WSM_MPENC_BOUNDARY) ||
                memcmp(val, WSM_MPENC_BOUNDARY, vlen) != 0)
                return WSM_ERR_UNSUPPORTED_MEDIA;
        }
        /* Other parameters (charset...) are ignored. */
    }
    if (r < 0 || pr == WSM_MPENC_NONE || !have_boundary)
        return WSM_ERR_UNSUPPORTED_MEDIA;
    *proto = pr;
    return WSM_OK;
}

/* Reads the literal s at *pos. */
static int expect(const unsigned char *b, size_t len, size_t *pos, const char *s)
{
    size_t n = strlen(s);
    if (len - *pos < n || memcmp(b + *pos, s, n) != 0)
        return 0;
    *pos += n;
    return 1;
}

/* Reads one header line "[ws]Name:[ws]value[ws]\r\n" at *pos. */
static int header_line(const unsigned char *b, size_t len, size_t *pos, const char **name,
                       size_t *nlen, const char **val, size_t *vlen)
{
    size_t p = *pos, end;
    size_t lim = len - p < MAX_HEADER_LINE ? len : p + MAX_HEADER_LINE;
    for (end = p; end + 1 < lim; end++) {
        if (b[end] == '\r' && b[end + 1] == '\n')
            break;
        if (b[end] == '\0' || b[end] == '\n' || b[end] == '\r')
            return 0;
    }
    if (end + 1 >= lim)
        return 0;
    while (p < end && is_ws((char)b[p]))
        p++;
    const char *n = (const char *)b + p;
    while (p < end && b[p] != ':' && !is_ws((char)b[p]))
        p++;
    if (p == end || b[p] != ':' || (const char *)b + p == n)
        return 0;
    *name = n;
    *nlen = (size_t)((const char *)b + p - n);
    p++;
    while (p < end && is_ws((char)b[p]))
        p++;
    size_t ve = end;
    while (ve > p && is_ws((char)b[ve - 1]))
        ve--;
    *val = (const char *)b + p;
    *vlen = ve - p;
    *pos = end + 2;
    return 1;
}

static int name_is(const char *name, size_t nlen, const char *want)
{
    return nlen == strlen(want) && strncasecmp(name, want, nlen) == 0;
}

/* "type=application/soap+xml;charset=UTF-8;Length=N" */
static enum wsm_err original_content(const char *v, size_t vlen, size_t max_plain, size_t *out)
{
    char tmp[MAX_HEADER_LINE];
    if (vlen >= sizeof(tmp))
        return WSM_ERR_UNSUPPORTED_MEDIA;
    memcpy(tmp, v, vlen);
    tmp[vlen] = '\0';
    const char *p = tmp, *name, *val;
    size_t nlen, l;
    int r, have_type = 0, have_len = 0;
    size_t n = 0;
    while ((r = next_param(&p, &name, &nlen, &val, &l)) > 0) {
        if (name_is(name, nlen, "type")) {
            if (have_type++ || !val || l != strlen(SOAP_TYPE) || strncasecmp(val, SOAP_TYPE, l))
                return WSM_ERR_UNSUPPORTED_MEDIA;
        } else if (name_is(name, nlen, "Length")) {
            if (have_len++ || !val || l == 0 || l > 12)
                return WSM_ERR_UNSUPPORTED_MEDIA;
            for (size_t i = 0; i < l; i++) {
                if (val[i] < '0' || val[i] > '9')
                    return WSM_ERR_UNSUPPORTED_MEDIA;
                n = n * 10 + (size_t)(val[i] - '0');
            }
        } else if (!name_is(name, nlen, "charset")) {
            return WSM_ERR_UNSUPPORTED_MEDIA;
        }
    }
    if (r < 0 || !have_type || !have_len)
        return WSM_ERR_UNSUPPORTED_MEDIA;
    if (n > max_plain)
        return WSM_ERR_ENVELOPE_TOO_LARGE;
    *out = n;
    return WSM_OK;
}

static const unsigned char *find(const unsigned char *h, size_t hlen, const char *needle)
{
    return memmem(h, hlen, needle, strlen(needle));
}

enum wsm_err wsm__mpenc_parse(const unsigned char *body, size_t len, enum wsm_mpenc_proto proto,
                              int multi, size_t max_plain, struct wsm_mpenc_part *parts,
                              size_t maxparts, size_t *nparts)
{
    const char *pstr = wsm__mpenc_proto_str(proto);
    const size_t final_len = strlen(FINAL_LINE);
    size_t pos = 0, np = 0, total = 0;
    *nparts = 0;
    if (!pstr || !body || maxparts == 0)
        return WSM_ERR_INVALID_ARG;
    if (len < final_len || memcmp(body + len - final_len, FINAL_LINE, final_len) != 0)
        return WSM_ERR_UNSUPPORTED_MEDIA;

    for (;;) {
        const char *name, *val;
        size_t nlen, vlen, orig = 0;
        int have_ct = 0, have_oc = 0;
        enum wsm_err e;

        if (np == maxparts || (!multi && np == 1))
            return WSM_ERR_UNSUPPORTED_MEDIA;
        /* First part: the description of the plain text. */
        if (!expect(body, len, &pos, BOUNDARY_LINE))
            return WSM_ERR_UNSUPPORTED_MEDIA;
        while (!expect(body, len, &pos, BOUNDARY_LINE)) {
            if (!header_line(body, len, &pos, &name, &nlen, &val, &vlen))
                return WSM_ERR_UNSUPPORTED_MEDIA;
            if (name_is(name, nlen, "Content-Type")) {
                if (have_ct++ || proto_of(val, vlen) != proto)
                    return WSM_ERR_UNSUPPORTED_MEDIA;
            } else if (name_is(name, nlen, "OriginalContent")) {
                if (have_oc++)
                    return WSM_ERR_UNSUPPORTED_MEDIA;
                if ((e = original_content(val, vlen, max_plain, &orig)))
                    return e;
            } else {
                return WSM_ERR_UNSUPPORTED_MEDIA;
            }
        }
        if (!have_ct || !have_oc)
            return WSM_ERR_UNSUPPORTED_MEDIA;
        if (orig > max_plain - total)
            return WSM_ERR_ENVELOPE_TOO_LARGE;
        total += orig;

        /* Second part: one header, then the binary payload at once. */
        if (!header_line(body, len, &pos, &name, &nlen, &val, &vlen) ||
            !name_is(name, nlen, "Content-Type") || vlen != strlen(OCTET_STREAM) ||
            strncasecmp(val, OCTET_STREAM, vlen) != 0)
            return WSM_ERR_UNSUPPORTED_MEDIA;
        if (len - pos < 4)
            return WSM_ERR_UNSUPPORTED_MEDIA;
        uint32_t sl = (uint32_t)body[pos] | (uint32_t)body[pos + 1] << 8 |
                      (uint32_t)body[pos + 2] << 16 | (uint32_t)body[pos + 3] << 24;
        pos += 4;
        if (sl == 0 || sl > WSM_MPENC_MAX_SIG || sl > len - pos)
            return WSM_ERR_UNSUPPORTED_MEDIA;
        struct wsm_mpenc_part *pt = &parts[np];
        pt->orig_len = orig;
        pt->sig = body + pos;
        pt->sig_len = sl;
        pos += sl;
        pt->sealed = body + pos;

        /* Where the sealed bytes end: the final boundary, or (multi) the
         * next part's boundary. The stream ciphers (NTLM's RC4, Kerberos
         * CFX) seal to exactly the plain length: try there first. */
        size_t end;
        if (pos > len - final_len)
            return WSM_ERR_UNSUPPORTED_MEDIA;
        if (!multi) {
            end = len - final_len;
            /* Exactly one part: no second one hidden in the sealed bytes. */
            if (find(body + pos, end - pos, BOUNDARY_LINE))
                return WSM_ERR_UNSUPPORTED_MEDIA;
        } else {
            size_t bl = strlen(BOUNDARY_LINE);
            if (orig <= len - pos && len - pos - orig >= bl &&
                (memcmp(body + pos + orig, BOUNDARY_LINE, bl) == 0 ||
                 pos + orig == len - final_len)) {
                end = pos + orig;
            } else {
                const unsigned char *b = find(body + pos, len - pos, BOUNDARY_DASH);
                end = b ? (size_t)(b - body) : len - final_len;
                if (end != len - final_len && memcmp(body + end, BOUNDARY_LINE, bl) != 0)
                    return WSM_ERR_UNSUPPORTED_MEDIA;
            }
        }
        pt->sealed_len = end - pos;
        np++;
        pos = end;
        if (pos == len - final_len)
            break;
    }
    *nparts = np;
    return WSM_OK;
}

enum wsm_err wsm__mpenc_build_part_ex(struct wsm_buf *out, enum wsm_mpenc_proto proto,
                                      size_t orig_len, const unsigned char *sig, size_t sig_len,
                                      const unsigned char *sealed, size_t sealed_len, int tab)
{
    const char *pstr = wsm__mpenc_proto_str(proto);
    if (!pstr || sig_len == 0 || sig_len > WSM_MPENC_MAX_SIG)
        return WSM_ERR_INVALID_ARG;
    unsigned char le[4] = {(unsigned char)sig_len, (unsigned char)(sig_len >> 8),
                           (unsigned char)(sig_len >> 16), (unsigned char)(sig_len >> 24)};
    enum wsm_err e;
    /* The tabs are what MS-WSMV's examples, Windows and pywinrm write (and
     * what pywinrm's parser strips); OMI 1.9.1 closes the connection on
     * them, so a client may leave them out (client-transport.md). */
    const char *t = tab ? "\t" : "";
    if ((e = wsm__buf_printf(out,
                             BOUNDARY_LINE "%sContent-Type: %s\r\n"
                                           "%sOriginalContent: type=" SOAP_TYPE
                                           ";charset=UTF-8;Length=%zu\r\n" BOUNDARY_LINE
                                           "%sContent-Type: " OCTET_STREAM "\r\n",
                             t, pstr, t, orig_len, t)))
        return e;
    if ((e = wsm__buf_add(out, le, 4)) || (e = wsm__buf_add(out, sig, sig_len)))
        return e;
    return sealed_len ? wsm__buf_add(out, sealed, sealed_len) : WSM_OK;
}

enum wsm_err wsm__mpenc_build_part(struct wsm_buf *out, enum wsm_mpenc_proto proto, size_t orig_len,
                                   const unsigned char *sig, size_t sig_len,
                                   const unsigned char *sealed, size_t sealed_len)
{
    return wsm__mpenc_build_part_ex(out, proto, orig_len, sig, sig_len, sealed, sealed_len, 1);
}

enum wsm_err wsm__mpenc_build_end(struct wsm_buf *out)
{
    return wsm__buf_puts(out, FINAL_LINE);
}

size_t wsm__mpenc_max_body(size_t max_plain)
{
    /* Per part: two boundaries, three header lines, the length word and
     * the largest signature; parts of at least one chunk each. */
    size_t per = 2 * sizeof(BOUNDARY_LINE) + 3 * MAX_HEADER_LINE + 4 + WSM_MPENC_MAX_SIG;
    return max_plain + (max_plain / WSM_MPENC_CHUNK + 1) * per + sizeof(FINAL_LINE);
}
