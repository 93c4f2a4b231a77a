#include "base64.h"

static const char enc_tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t wsm__base64_enclen(size_t n)
{
    return (n + 2) / 3 * 4;
}

void wsm__base64_encode(const unsigned char *in, size_t n, char *out)
{
    size_t i = 0, o = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = enc_tab[v >> 18];
        out[o++] = enc_tab[(v >> 12) & 63];
        out[o++] = enc_tab[(v >> 6) & 63];
        out[o++] = enc_tab[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        out[o++] = enc_tab[v >> 18];
        out[o++] = enc_tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? enc_tab[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
}

static int dec_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

enum wsm_err wsm__base64_decode(const char *in, size_t n, unsigned char *out, size_t outcap,
                                size_t *outlen)
{
    unsigned acc = 0;
    int bits = 0, pad = 0;
    size_t o = 0, chars = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = dec_val(c);
        if (v < 0 || pad)
            return WSM_ERR_ENCODING; /* bad character, or data after padding */
        chars++;
        acc = (acc << 6 | (unsigned)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= outcap)
                return WSM_ERR_ENVELOPE_TOO_LARGE;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    /* 6 leftover bits can never come from a valid encoding; neither can
     * more than two pad characters or nonzero leftover bits. */
    if (bits >= 6 || pad > 2 || (acc & ((1u << bits) - 1)) != 0)
        return WSM_ERR_ENCODING;
    /* Padding, when present, completes the last quantum exactly. */
    if (pad && (chars + (size_t)pad) % 4 != 0)
        return WSM_ERR_ENCODING;
    *outlen = o;
    return WSM_OK;
}
