/* NTLM session security with nettle and OpenSSL's RC4. See ntlmseal.h; the rules are
 * [MS-NLMP] 3.4.3 (SEAL), 3.4.4.2 (the signature with extended session
 * security) and 3.4.5 (key derivation). */
#include "ntlmseal.h"

#include <dlfcn.h>
#include <nettle/md5.h>
#include <nettle/memops.h>
#include <pthread.h>
#include <string.h>

/* Messages are checksummed and encrypted in pieces of this size, so that
 * the second pass over a piece finds it in the cache. */
#define PIECE (32 * 1024)

/* ---- RC4: OpenSSL's when it can be loaded --------------------------- */

int wsm__ntlm_rc4_nettle_only;

static struct {
    void (*set_key)(RC4_KEY *key, int len, const unsigned char *data);
    void (*crypt)(RC4_KEY *key, size_t len, const unsigned char *in, unsigned char *out);
} ossl;
static pthread_once_t ossl_once = PTHREAD_ONCE_INIT;

static void ossl_load(void)
{
    void *h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return;
    void *k = dlsym(h, "RC4_set_key"), *c = dlsym(h, "RC4");
    if (!k || !c) { /* OpenSSL built without RC4 */
        dlclose(h);
        return;
    }
    /* POSIX: a function pointer survives the trip through void *. The
     * handle stays open for the life of the process. */
    memcpy(&ossl.set_key, &k, sizeof(k));
    memcpy(&ossl.crypt, &c, sizeof(c));
}

static int use_ossl(void)
{
    pthread_once(&ossl_once, ossl_load);
    return ossl.crypt && !__atomic_load_n(&wsm__ntlm_rc4_nettle_only, __ATOMIC_RELAXED);
}

const char *wsm__ntlm_rc4_impl(void)
{
    return use_ossl() ? "openssl" : "nettle";
}

static void rc4_set_key(struct wsm_ntlm_dir *d, const unsigned char k[16])
{
    d->ossl = use_ossl();
    if (d->ossl)
        ossl.set_key(&d->rc4.ossl, 16, k);
    else
        arcfour_set_key(&d->rc4.nettle, 16, k);
}

static void rc4(struct wsm_ntlm_dir *d, size_t n, unsigned char *out, const unsigned char *in)
{
    if (d->ossl)
        ossl.crypt(&d->rc4.ossl, n, in, out);
    else
        arcfour_crypt(&d->rc4.nettle, n, out, in);
}

/* [MS-NLMP] 3.4.5.2 and 3.4.5.3: the constants are hashed with their
 * terminating NUL. */
static const char sign_c2s[] = "session key to client-to-server signing key magic constant";
static const char sign_s2c[] = "session key to server-to-client signing key magic constant";
static const char seal_c2s[] = "session key to client-to-server sealing key magic constant";
static const char seal_s2c[] = "session key to server-to-client sealing key magic constant";

int wsm__ntlm_flags_ok(uint32_t flags)
{
    uint32_t need = WSM_NTLM_SIGN | WSM_NTLM_SEAL | WSM_NTLM_ESS;
    return (flags & need) == need && !(flags & WSM_NTLM_DATAGRAM);
}

static void md5_of(const unsigned char *key, size_t klen, const char *magic, size_t mlen,
                   unsigned char out[16])
{
    struct md5_ctx m;
    md5_init(&m);
    md5_update(&m, klen, key);
    md5_update(&m, mlen, (const uint8_t *)magic);
    md5_digest(&m, MD5_DIGEST_SIZE, out);
    explicit_bzero(&m, sizeof(m));
}

void wsm__ntlm_sign_key(const unsigned char session_key[WSM_NTLM_KEY_LEN], int client_to_server,
                        unsigned char out[16])
{
    if (client_to_server)
        md5_of(session_key, WSM_NTLM_KEY_LEN, sign_c2s, sizeof(sign_c2s), out);
    else
        md5_of(session_key, WSM_NTLM_KEY_LEN, sign_s2c, sizeof(sign_s2c), out);
}

void wsm__ntlm_seal_key(const unsigned char session_key[WSM_NTLM_KEY_LEN], uint32_t flags,
                        int client_to_server, unsigned char out[16])
{
    /* With ESS: all 128 bits, or the first 56 or 40 of them, then hashed
     * with the direction's constant. */
    size_t klen = (flags & WSM_NTLM_128) ? 16 : (flags & WSM_NTLM_56) ? 7 : 5;
    if (client_to_server)
        md5_of(session_key, klen, seal_c2s, sizeof(seal_c2s), out);
    else
        md5_of(session_key, klen, seal_s2c, sizeof(seal_s2c), out);
}

static void dir_init(struct wsm_ntlm_dir *d, const unsigned char *sk, uint32_t flags, int c2s)
{
    unsigned char k[16];
    wsm__ntlm_seal_key(sk, flags, c2s, k);
    rc4_set_key(d, k);
    wsm__ntlm_sign_key(sk, c2s, k);
    hmac_md5_set_key(&d->mac, sizeof(k), k);
    explicit_bzero(k, sizeof(k));
    d->seq = 0;
}

int wsm__ntlm_seal_init(struct wsm_ntlm_seal *s, const unsigned char session_key[WSM_NTLM_KEY_LEN],
                        uint32_t flags, int client)
{
    memset(s, 0, sizeof(*s));
    if (!wsm__ntlm_flags_ok(flags))
        return -1;
    /* The client sends with the client-to-server keys, the server
     * receives with them. */
    dir_init(&s->send, session_key, flags, client);
    dir_init(&s->recv, session_key, flags, !client);
    s->key_exch = (flags & WSM_NTLM_KEY_EXCH) != 0;
    return 0;
}

void wsm__ntlm_seal_clear(struct wsm_ntlm_seal *s)
{
    explicit_bzero(s, sizeof(*s));
}

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* [MS-NLMP] 3.4.4.2, with ESS: HMAC_MD5(SigningKey, SeqNum || Message)
 * over the plain text, truncated to 8 bytes later. The message goes in
 * through hmac_md5_update between these two. */
static void checksum_begin(struct wsm_ntlm_dir *d)
{
    unsigned char seq[4];
    put_le32(seq, d->seq);
    hmac_md5_update(&d->mac, sizeof(seq), seq);
}

static void checksum_end(struct wsm_ntlm_dir *d, unsigned char mac[MD5_DIGEST_SIZE])
{
    hmac_md5_digest(&d->mac, MD5_DIGEST_SIZE, mac); /* also resets d->mac for the next one */
}

/* The signature: version 1, the checksum (RC4-encrypted with KEY_EXCH,
 * with the direction's handle after the message went through it: 3.4.3
 * seals the message, then the checksum), SeqNum. Advances SeqNum. */
static void signature(struct wsm_ntlm_dir *d, int key_exch, unsigned char mac[MD5_DIGEST_SIZE],
                      unsigned char sig[WSM_NTLM_SIG_LEN])
{
    put_le32(sig, 1);
    if (key_exch)
        rc4(d, 8, sig + 4, mac);
    else
        memcpy(sig + 4, mac, 8);
    put_le32(sig + 12, d->seq);
    explicit_bzero(mac, MD5_DIGEST_SIZE);
    d->seq++;
}

void wsm__ntlm_seal(struct wsm_ntlm_seal *s, const unsigned char *in, size_t len,
                    unsigned char *out, unsigned char sig[WSM_NTLM_SIG_LEN])
{
    unsigned char mac[MD5_DIGEST_SIZE];
    checksum_begin(&s->send);
    for (size_t off = 0; off < len; off += PIECE) {
        size_t n = len - off < PIECE ? len - off : PIECE;
        /* The plain text first: out may be in. */
        hmac_md5_update(&s->send.mac, n, in + off);
        rc4(&s->send, n, out + off, in + off);
    }
    checksum_end(&s->send, mac);
    signature(&s->send, s->key_exch, mac, sig);
}

int wsm__ntlm_unseal(struct wsm_ntlm_seal *s, const unsigned char sig[WSM_NTLM_SIG_LEN],
                     const unsigned char *in, size_t len, unsigned char *out)
{
    unsigned char mac[MD5_DIGEST_SIZE], want[WSM_NTLM_SIG_LEN];
    checksum_begin(&s->recv);
    for (size_t off = 0; off < len; off += PIECE) {
        size_t n = len - off < PIECE ? len - off : PIECE;
        rc4(&s->recv, n, out + off, in + off);
        hmac_md5_update(&s->recv.mac, n, out + off);
    }
    checksum_end(&s->recv, mac);
    signature(&s->recv, s->key_exch, mac, want);
    /* Version, checksum and sequence number, in constant time. */
    int ok = memeql_sec(want, sig, sizeof(want));
    explicit_bzero(want, sizeof(want));
    if (!ok) {
        explicit_bzero(out, len);
        return -1;
    }
    return 0;
}

/* ---- handshake tokens -------------------------------------------------- */

/* One DER element at *pos (tag, definite length of at most 4 bytes):
 * *start and *len bound its contents, *pos moves past it. */
static int der_next(const unsigned char *t, size_t n, size_t *pos, unsigned char *tag,
                    size_t *start, size_t *len)
{
    size_t p = *pos, l;
    if (p >= n || n - p < 2)
        return 0;
    *tag = t[p++];
    unsigned char b = t[p++];
    if (b < 0x80) {
        l = b;
    } else {
        unsigned k = b & 0x7fu;
        if (k == 0 || k > 4 || n - p < k)
            return 0;
        l = 0;
        for (unsigned i = 0; i < k; i++)
            l = l << 8 | t[p++];
    }
    if (l > n - p)
        return 0;
    *start = p;
    *len = l;
    *pos = p + l;
    return 1;
}

int wsm__spnego_resp_token(const unsigned char *t, size_t n, const unsigned char **in, size_t *il)
{
    size_t pos = 0, s, l;
    unsigned char tag;
    if (!der_next(t, n, &pos, &tag, &s, &l) || tag != 0xa1 || pos != n)
        return 0;
    pos = s;
    size_t end = s + l;
    if (!der_next(t, end, &pos, &tag, &s, &l) || tag != 0x30)
        return 0;
    pos = s;
    end = s + l;
    while (der_next(t, end, &pos, &tag, &s, &l)) {
        if (tag != 0xa2)
            continue;
        size_t p2 = s;
        if (!der_next(t, s + l, &p2, &tag, &s, &l) || tag != 0x04)
            return 0;
        *in = t + s;
        *il = l;
        return 1;
    }
    return 0;
}

int wsm__ntlm_token_flags(const unsigned char *t, size_t n, unsigned type, uint32_t *flags)
{
    /* NegotiateFlags: after Signature, MessageType and, in a CHALLENGE,
     * TargetNameFields (offset 20); in an AUTHENTICATE, after the six
     * payload fields (offset 60). */
    size_t off = type == 2 ? 20 : type == 3 ? 60 : 0;
    if (!t || !off)
        return -1;
    if (n >= 8 && memcmp(t, "NTLMSSP\0", 8) != 0) {
        const unsigned char *in;
        size_t il;
        if (!wsm__spnego_resp_token(t, n, &in, &il))
            return -1;
        t = in;
        n = il;
    }
    if (n < off + 4 || memcmp(t, "NTLMSSP\0", 8) != 0 || get_le32(t + 8) != type)
        return -1;
    *flags = get_le32(t + off);
    return 0;
}

enum wsm_err wsm__ntlm_unseal_append(struct wsm_ntlm_seal *s,
                                     const unsigned char sig[WSM_NTLM_SIG_LEN],
                                     const unsigned char *in, size_t len, size_t orig_len,
                                     struct wsm_buf *out)
{
    if (len != orig_len)
        return WSM_ERR_AUTH;
    enum wsm_err e = wsm__buf_reserve(out, len);
    if (e)
        return e;
    unsigned char *dst = (unsigned char *)out->data + out->len;
    if (wsm__ntlm_unseal(s, sig, in, len, dst) != 0)
        return WSM_ERR_AUTH;
    out->len += len;
    out->data[out->len] = '\0';
    return WSM_OK;
}
