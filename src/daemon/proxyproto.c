/* The PROXY protocol header parser (proxyproto.h). It sees bytes a peer
 * sent before anything is authenticated: every length is checked before it
 * is used, and a header is never longer than its version's bound. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "proxyproto.h"

static const unsigned char v2sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                        0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

static int prefix_of(const unsigned char *buf, size_t n, const void *pat, size_t plen)
{
    return memcmp(buf, pat, n < plen ? n : plen) == 0;
}

int wsmd__proxy_looks_like(const unsigned char *buf, size_t n)
{
    return n > 0 && (prefix_of(buf, n, "PROXY ", 6) || prefix_of(buf, n, v2sig, sizeof(v2sig)));
}

/* A port as v1 writes it: 1 to 5 digits, at most 65535. */
static int v1_port(const char *s, size_t len, unsigned *out)
{
    if (len == 0 || len > 5)
        return 0;
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return 0;
    *out = v;
    return 1;
}

static enum wsmd_proxy_res parse_v1(const unsigned char *buf, size_t n, struct wsmd_proxy_hdr *out)
{
    size_t lim = n < WSMD_PROXY_V1_MAX ? n : WSMD_PROXY_V1_MAX;
    size_t eol = 0;
    for (size_t i = 0; i < lim; i++) {
        /* Printable ASCII and the final CR LF only. */
        if (buf[i] == '\r') {
            if (i + 1 >= n)
                return WSMD_PROXY_MORE;
            if (buf[i + 1] != '\n' || i + 1 >= WSMD_PROXY_V1_MAX)
                return WSMD_PROXY_BAD;
            eol = i;
            break;
        }
        if (buf[i] < ' ' || buf[i] > '~')
            return WSMD_PROXY_BAD;
    }
    if (!eol)
        return n < WSMD_PROXY_V1_MAX ? WSMD_PROXY_MORE : WSMD_PROXY_BAD;
    /* The words, split on single spaces: PROXY PROTO SRC DST SPORT DPORT. */
    char line[WSMD_PROXY_V1_MAX + 1];
    memcpy(line, buf, eol);
    line[eol] = '\0';
    const char *w[7];
    size_t wl[7], nw = 0;
    const char *p = line;
    while (nw < 7) {
        const char *sp = strchr(p, ' ');
        size_t len = sp ? (size_t)(sp - p) : strlen(p);
        w[nw] = p;
        wl[nw++] = len;
        if (!sp)
            break;
        p = sp + 1;
    }
    memset(out, 0, sizeof(*out));
    out->len = eol + 2;
    out->version = 1;
    if (nw >= 2 && wl[1] == 7 && !memcmp(w[1], "UNKNOWN", 7))
        return WSMD_PROXY_OK; /* anything may follow; the peer's address stays */
    if (nw != 6 || wl[1] != 4 || (memcmp(w[1], "TCP4", 4) && memcmp(w[1], "TCP6", 4)))
        return WSMD_PROXY_BAD;
    int six = w[1][3] == '6';
    char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
    if (wl[2] == 0 || wl[2] >= sizeof(a) || wl[3] == 0 || wl[3] >= sizeof(b))
        return WSMD_PROXY_BAD;
    memcpy(a, w[2], wl[2]);
    a[wl[2]] = '\0';
    memcpy(b, w[3], wl[3]);
    b[wl[3]] = '\0';
    unsigned sport, dport;
    if (!v1_port(w[4], wl[4], &sport) || !v1_port(w[5], wl[5], &dport))
        return WSMD_PROXY_BAD;
    if (six) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->src;
        struct in6_addr dst;
        if (inet_pton(AF_INET6, a, &s6->sin6_addr) != 1 || inet_pton(AF_INET6, b, &dst) != 1)
            return WSMD_PROXY_BAD;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((unsigned short)sport);
        out->src_len = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&out->src;
        struct in_addr dst;
        if (inet_pton(AF_INET, a, &s4->sin_addr) != 1 || inet_pton(AF_INET, b, &dst) != 1)
            return WSMD_PROXY_BAD;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((unsigned short)sport);
        out->src_len = sizeof(*s4);
    }
    out->has_addr = 1;
    return WSMD_PROXY_OK;
}

static enum wsmd_proxy_res parse_v2(const unsigned char *buf, size_t n, struct wsmd_proxy_hdr *out)
{
    if (n < 16)
        return n > 12 && (buf[12] >> 4) != 2 ? WSMD_PROXY_BAD : WSMD_PROXY_MORE;
    unsigned ver = buf[12] >> 4, cmd = buf[12] & 0xf, fam = buf[13];
    size_t alen = ((size_t)buf[14] << 8) | buf[15];
    if (ver != 2 || cmd > 1 || 16 + alen > WSMD_PROXY_V2_MAX)
        return WSMD_PROXY_BAD;
    if (n < 16 + alen)
        return WSMD_PROXY_MORE;
    memset(out, 0, sizeof(*out));
    out->len = 16 + alen;
    out->version = 2;
    const unsigned char *a = buf + 16;
    switch (fam) {
    case 0x00: /* UNSPEC */
        return WSMD_PROXY_OK;
    case 0x11: /* TCP over IPv4: src, dst, sport, dport */
        if (alen < 12)
            return WSMD_PROXY_BAD;
        if (cmd == 1) {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&out->src;
            s4->sin_family = AF_INET;
            memcpy(&s4->sin_addr, a, 4);
            memcpy(&s4->sin_port, a + 8, 2);
            out->src_len = sizeof(*s4);
            out->has_addr = 1;
        }
        return WSMD_PROXY_OK;
    case 0x21: /* TCP over IPv6 */
        if (alen < 36)
            return WSMD_PROXY_BAD;
        if (cmd == 1) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->src;
            s6->sin6_family = AF_INET6;
            memcpy(&s6->sin6_addr, a, 16);
            memcpy(&s6->sin6_port, a + 32, 2);
            out->src_len = sizeof(*s6);
            out->has_addr = 1;
        }
        return WSMD_PROXY_OK;
    case 0x12: /* UDP, and AF_UNIX streams and datagrams: valid, but no
                  address of ours to use; the peer's stays */
    case 0x22:
    case 0x31:
    case 0x32:
        return WSMD_PROXY_OK;
    default:
        return WSMD_PROXY_BAD;
    }
}

enum wsmd_proxy_res wsmd__proxy_parse(const unsigned char *buf, size_t n,
                                      struct wsmd_proxy_hdr *out)
{
    if (n == 0)
        return WSMD_PROXY_MORE;
    if (buf[0] == 'P') {
        if (!prefix_of(buf, n, "PROXY ", 6))
            return WSMD_PROXY_BAD;
        return n < 6 ? WSMD_PROXY_MORE : parse_v1(buf, n, out);
    }
    if (!prefix_of(buf, n, v2sig, sizeof(v2sig)))
        return WSMD_PROXY_BAD;
    return n < sizeof(v2sig) ? WSMD_PROXY_MORE : parse_v2(buf, n, out);
}
