/* Unit tests for NTLM session security (src/lib/ntlmseal.c): the
 * known-answer values of [MS-NLMP] 4.2.4 (NTLMv2 with extended session
 * security), round trips in both directions, refusal of anything altered,
 * and the flags of handshake tokens. The interoperability with
 * gss-ntlmssp's gss_wrap/gss_unwrap over real handshakes is in
 * test_negotiate.c and test_gss_client.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "ntlmseal.h"

/* [MS-NLMP] 4.2.4: the challenge flags 0xe28a8233 (KEY_EXCH, 56, 128,
 * VERSION, TARGET_INFO, ESS, TARGET_TYPE_SERVER, ALWAYS_SIGN, NTLM, SEAL,
 * SIGN, OEM, UNICODE) and 4.2.1's RandomSessionKey, the exported session
 * key under KEY_EXCH. */
#define SPEC_FLAGS 0xe28a8233u
static const unsigned char spec_key[16] = {0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55,
                                           0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55};
/* 4.2.4.4: "Plaintext" in UTF-16LE, sealed by the client with SeqNum 0. */
static const unsigned char spec_plain[18] = {0x50, 0x00, 0x6c, 0x00, 0x61, 0x00, 0x69, 0x00, 0x6e,
                                             0x00, 0x74, 0x00, 0x65, 0x00, 0x78, 0x00, 0x74, 0x00};
static const unsigned char spec_seal_c2s[16] = {0x59, 0xf6, 0x00, 0x97, 0x3c, 0xc4, 0x96, 0x0a,
                                                0x25, 0x48, 0x0a, 0x7c, 0x19, 0x6e, 0x4c, 0x58};
static const unsigned char spec_sign_c2s[16] = {0x47, 0x88, 0xdc, 0x86, 0x1b, 0x47, 0x82, 0xf3,
                                                0x5d, 0x43, 0xfd, 0x98, 0xfe, 0x1a, 0x2d, 0x39};
static const unsigned char spec_sealed[18] = {0x54, 0xe5, 0x01, 0x65, 0xbf, 0x19, 0x36, 0xdc, 0x99,
                                              0x60, 0x20, 0xc1, 0x81, 0x1b, 0x0f, 0x06, 0xfb, 0x5f};
static const unsigned char spec_sig[16] = {0x01, 0x00, 0x00, 0x00, 0x7f, 0xb3, 0x8e, 0xc5,
                                           0xc5, 0x5d, 0x49, 0x76, 0x00, 0x00, 0x00, 0x00};

static void test_spec_keys(void **state)
{
    (void)state;
    unsigned char k[16];
    wsm__ntlm_seal_key(spec_key, SPEC_FLAGS, 1, k);
    assert_memory_equal(k, spec_seal_c2s, 16);
    wsm__ntlm_sign_key(spec_key, 1, k);
    assert_memory_equal(k, spec_sign_c2s, 16);
    /* The other direction differs from this one. */
    wsm__ntlm_seal_key(spec_key, SPEC_FLAGS, 0, k);
    assert_memory_not_equal(k, spec_seal_c2s, 16);
    wsm__ntlm_sign_key(spec_key, 0, k);
    assert_memory_not_equal(k, spec_sign_c2s, 16);
    /* 56 and 40 bits: the key is cut before hashing (the 0x55 key gives
     * other digests for 7 and 5 bytes, and they differ from each other). */
    unsigned char k56[16], k40[16];
    wsm__ntlm_seal_key(spec_key, SPEC_FLAGS & ~WSM_NTLM_128, 1, k56);
    wsm__ntlm_seal_key(spec_key, SPEC_FLAGS & ~(WSM_NTLM_128 | WSM_NTLM_56), 1, k40);
    assert_memory_not_equal(k56, spec_seal_c2s, 16);
    assert_memory_not_equal(k40, spec_seal_c2s, 16);
    assert_memory_not_equal(k40, k56, 16);
    /* A key that differs only after byte 7 gives the same 56-bit key. */
    unsigned char other[16], k2[16];
    memcpy(other, spec_key, 16);
    other[10] ^= 0xff;
    wsm__ntlm_seal_key(other, SPEC_FLAGS & ~WSM_NTLM_128, 1, k2);
    assert_memory_equal(k2, k56, 16);
    other[6] ^= 0xff;
    wsm__ntlm_seal_key(other, SPEC_FLAGS & ~WSM_NTLM_128, 1, k2);
    assert_memory_not_equal(k2, k56, 16);
}

static void test_spec_seal(void **state)
{
    (void)state;
    struct wsm_ntlm_seal cli, srv;
    assert_int_equal(wsm__ntlm_seal_init(&cli, spec_key, SPEC_FLAGS, 1), 0);
    assert_int_equal(wsm__ntlm_seal_init(&srv, spec_key, SPEC_FLAGS, 0), 0);
    unsigned char out[18], sig[16], back[18];
    wsm__ntlm_seal(&cli, spec_plain, sizeof(spec_plain), out, sig);
    assert_memory_equal(out, spec_sealed, sizeof(spec_sealed));
    assert_memory_equal(sig, spec_sig, sizeof(spec_sig));
    /* The server opens the spec's bytes. */
    assert_int_equal(wsm__ntlm_unseal(&srv, spec_sig, spec_sealed, sizeof(spec_sealed), back), 0);
    assert_memory_equal(back, spec_plain, sizeof(spec_plain));
    /* In place gives the same. */
    struct wsm_ntlm_seal cli2;
    assert_int_equal(wsm__ntlm_seal_init(&cli2, spec_key, SPEC_FLAGS, 1), 0);
    memcpy(out, spec_plain, sizeof(out));
    wsm__ntlm_seal(&cli2, out, sizeof(out), out, sig);
    assert_memory_equal(out, spec_sealed, sizeof(spec_sealed));
    assert_memory_equal(sig, spec_sig, sizeof(spec_sig));
    wsm__ntlm_seal_clear(&cli);
    wsm__ntlm_seal_clear(&cli2);
    wsm__ntlm_seal_clear(&srv);
}

static void test_flags(void **state)
{
    (void)state;
    assert_true(wsm__ntlm_flags_ok(SPEC_FLAGS));
    assert_false(wsm__ntlm_flags_ok(SPEC_FLAGS & ~WSM_NTLM_ESS));
    assert_false(wsm__ntlm_flags_ok(SPEC_FLAGS & ~WSM_NTLM_SEAL));
    assert_false(wsm__ntlm_flags_ok(SPEC_FLAGS & ~WSM_NTLM_SIGN));
    assert_false(wsm__ntlm_flags_ok(SPEC_FLAGS | WSM_NTLM_DATAGRAM));
    struct wsm_ntlm_seal s;
    assert_int_equal(wsm__ntlm_seal_init(&s, spec_key, SPEC_FLAGS & ~WSM_NTLM_ESS, 1), -1);
}

/* n messages each way, interleaved, of assorted sizes. */
static void roundtrips(uint32_t flags, int n)
{
    struct wsm_ntlm_seal cli, srv;
    unsigned char key[16];
    for (int i = 0; i < 16; i++)
        key[i] = (unsigned char)(i * 37 + 11);
    assert_int_equal(wsm__ntlm_seal_init(&cli, key, flags, 1), 0);
    assert_int_equal(wsm__ntlm_seal_init(&srv, key, flags, 0), 0);
    size_t max = 70000;
    unsigned char *plain = malloc(max), *sealed = malloc(max), *back = malloc(max);
    assert_non_null(plain);
    assert_non_null(sealed);
    assert_non_null(back);
    unsigned char sig[16];
    for (int r = 0; r < n; r++) {
        size_t len = (size_t)(r * 7919) % max;
        for (size_t i = 0; i < len; i++)
            plain[i] = (unsigned char)(i * 31 + (size_t)r);
        struct wsm_ntlm_seal *from = r % 3 == 1 ? &srv : &cli, *to = from == &cli ? &srv : &cli;
        wsm__ntlm_seal(from, plain, len, sealed, sig);
        assert_int_equal(sig[0], 1);
        if (len > 16)
            assert_memory_not_equal(sealed, plain, 16);
        assert_int_equal(wsm__ntlm_unseal(to, sig, sealed, len, back), 0);
        if (len)
            assert_memory_equal(back, plain, len);
    }
    /* Sequence numbers went up on each side. */
    assert_true(cli.send.seq > 0 && srv.send.seq > 0);
    assert_int_equal(cli.send.seq, srv.recv.seq);
    assert_int_equal(srv.send.seq, cli.recv.seq);
    free(plain);
    free(sealed);
    free(back);
    wsm__ntlm_seal_clear(&cli);
    wsm__ntlm_seal_clear(&srv);
}

static void test_roundtrip(void **state)
{
    (void)state;
    roundtrips(SPEC_FLAGS, 300);
    roundtrips(SPEC_FLAGS & ~WSM_NTLM_KEY_EXCH, 50);            /* checksum in the clear */
    roundtrips(SPEC_FLAGS & ~WSM_NTLM_128, 50);                 /* 56 bits */
    roundtrips(SPEC_FLAGS & ~(WSM_NTLM_128 | WSM_NTLM_56), 50); /* 40 bits */
}

/* OpenSSL's RC4 is the one in use, nettle's gives the same bytes, and a
 * side with each can talk, over messages of many pieces. */
static void test_rc4_backends(void **state)
{
    assert_string_equal(wsm__ntlm_rc4_impl(), "openssl");
    wsm__ntlm_rc4_nettle_only = 1;
    assert_string_equal(wsm__ntlm_rc4_impl(), "nettle");
    test_spec_seal(state);
    roundtrips(SPEC_FLAGS, 60);
    struct wsm_ntlm_seal cli, srv;
    assert_int_equal(wsm__ntlm_seal_init(&srv, spec_key, SPEC_FLAGS, 0), 0);
    wsm__ntlm_rc4_nettle_only = 0;
    assert_int_equal(wsm__ntlm_seal_init(&cli, spec_key, SPEC_FLAGS, 1), 0);
    assert_true(cli.send.ossl && cli.recv.ossl);
    assert_false(srv.send.ossl || srv.recv.ossl);
    size_t len = 300001;
    unsigned char *plain = malloc(len), *sealed = malloc(len), *back = malloc(len), sig[16];
    assert_non_null(plain);
    assert_non_null(sealed);
    assert_non_null(back);
    for (int r = 0; r < 4; r++) {
        for (size_t i = 0; i < len; i++)
            plain[i] = (unsigned char)(i * 7 + (size_t)r);
        struct wsm_ntlm_seal *from = r % 2 ? &srv : &cli, *to = from == &cli ? &srv : &cli;
        wsm__ntlm_seal(from, plain, len - (size_t)r, sealed, sig);
        assert_int_equal(wsm__ntlm_unseal(to, sig, sealed, len - (size_t)r, back), 0);
        assert_memory_equal(back, plain, len - (size_t)r);
    }
    free(plain);
    free(sealed);
    free(back);
    wsm__ntlm_seal_clear(&cli);
    wsm__ntlm_seal_clear(&srv);
}

/* A fresh pair and one sealed message from the client. */
struct pair {
    struct wsm_ntlm_seal cli, srv;
    unsigned char msg[64], sealed[64], sig[16], back[64];
};

static void pair_init(struct pair *p)
{
    assert_int_equal(wsm__ntlm_seal_init(&p->cli, spec_key, SPEC_FLAGS, 1), 0);
    assert_int_equal(wsm__ntlm_seal_init(&p->srv, spec_key, SPEC_FLAGS, 0), 0);
    for (size_t i = 0; i < sizeof(p->msg); i++)
        p->msg[i] = (unsigned char)('a' + i % 26);
    wsm__ntlm_seal(&p->cli, p->msg, sizeof(p->msg), p->sealed, p->sig);
}

static void test_tampered(void **state)
{
    (void)state;
    struct pair p;
    /* Every bit of the sealed bytes and of the signature. */
    for (size_t bit = 0; bit < (sizeof(p.sealed) + sizeof(p.sig)) * 8; bit++) {
        pair_init(&p);
        if (bit < sizeof(p.sealed) * 8)
            p.sealed[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        else
            p.sig[bit / 8 - sizeof(p.sealed)] ^= (unsigned char)(1u << (bit % 8));
        memset(p.back, 0xaa, sizeof(p.back));
        assert_int_equal(wsm__ntlm_unseal(&p.srv, p.sig, p.sealed, sizeof(p.sealed), p.back), -1);
        /* Nothing of the plain text is left. */
        for (size_t i = 0; i < sizeof(p.back); i++)
            assert_int_equal(p.back[i], 0);
    }
    /* Cut short. */
    pair_init(&p);
    assert_int_equal(wsm__ntlm_unseal(&p.srv, p.sig, p.sealed, sizeof(p.sealed) - 1, p.back), -1);
    /* Replayed: the second copy has the old sequence number. */
    pair_init(&p);
    assert_int_equal(wsm__ntlm_unseal(&p.srv, p.sig, p.sealed, sizeof(p.sealed), p.back), 0);
    assert_int_equal(wsm__ntlm_unseal(&p.srv, p.sig, p.sealed, sizeof(p.sealed), p.back), -1);
    /* Out of order: the second message first. */
    pair_init(&p);
    unsigned char s2[64], g2[16];
    wsm__ntlm_seal(&p.cli, p.msg, sizeof(p.msg), s2, g2);
    assert_int_equal(wsm__ntlm_unseal(&p.srv, g2, s2, sizeof(s2), p.back), -1);
    /* Reflected: the client's own message back to it. */
    pair_init(&p);
    assert_int_equal(wsm__ntlm_unseal(&p.cli, p.sig, p.sealed, sizeof(p.sealed), p.back), -1);
    /* Another session key. */
    pair_init(&p);
    unsigned char k2[16];
    memcpy(k2, spec_key, 16);
    k2[15] ^= 1;
    struct wsm_ntlm_seal other;
    assert_int_equal(wsm__ntlm_seal_init(&other, k2, SPEC_FLAGS, 0), 0);
    assert_int_equal(wsm__ntlm_unseal(&other, p.sig, p.sealed, sizeof(p.sealed), p.back), -1);
    /* A sequence number that is right but a version that is not. */
    pair_init(&p);
    p.sig[0] = 2;
    assert_int_equal(wsm__ntlm_unseal(&p.srv, p.sig, p.sealed, sizeof(p.sealed), p.back), -1);
}

static void test_token_flags(void **state)
{
    (void)state;
    unsigned char chal[48] = "NTLMSSP\0\x02\0\0\0";
    unsigned char auth[88] = "NTLMSSP\0\x03\0\0\0";
    chal[20] = 0x33, chal[21] = 0x82, chal[22] = 0x8a, chal[23] = 0xe2;
    auth[60] = 0x35, auth[61] = 0x82, auth[62] = 0x88, auth[63] = 0xe2;
    uint32_t f = 0;
    assert_int_equal(wsm__ntlm_token_flags(chal, sizeof(chal), 2, &f), 0);
    assert_int_equal(f, 0xe28a8233u);
    assert_int_equal(wsm__ntlm_token_flags(auth, sizeof(auth), 3, &f), 0);
    assert_int_equal(f, 0xe2888235u);
    /* The wrong type, too short, not NTLM, no type asked. */
    assert_int_equal(wsm__ntlm_token_flags(chal, sizeof(chal), 3, &f), -1);
    assert_int_equal(wsm__ntlm_token_flags(auth, sizeof(auth), 2, &f), -1);
    assert_int_equal(wsm__ntlm_token_flags(chal, 23, 2, &f), -1);
    assert_int_equal(wsm__ntlm_token_flags(auth, 63, 3, &f), -1);
    assert_int_equal(wsm__ntlm_token_flags(auth, sizeof(auth), 1, &f), -1);
    assert_int_equal(wsm__ntlm_token_flags(NULL, 0, 2, &f), -1);
    assert_int_equal(wsm__ntlm_token_flags((const unsigned char *)"NTLMSSP", 7, 2, &f), -1);

    /* Inside SPNEGO: NegTokenResp { negState [0], supportedMech [1],
     * responseToken [2] } with long-form lengths. */
    unsigned char sp[200];
    size_t n = 0, inner = sizeof(chal);
    size_t seq_len = 5 + 14 + (4 + inner);
    sp[n++] = 0xa1;
    sp[n++] = 0x81;
    sp[n++] = (unsigned char)(seq_len + 3);
    sp[n++] = 0x30;
    sp[n++] = 0x81;
    sp[n++] = (unsigned char)seq_len;
    static const unsigned char neg[] = {0xa0, 0x03, 0x0a, 0x01, 0x01};
    memcpy(sp + n, neg, sizeof(neg));
    n += sizeof(neg);
    static const unsigned char mech[] = {0xa1, 0x0c, 0x06, 0x0a, 0x2b, 0x06, 0x01,
                                         0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a};
    memcpy(sp + n, mech, sizeof(mech));
    n += sizeof(mech);
    sp[n++] = 0xa2;
    sp[n++] = (unsigned char)(inner + 2);
    sp[n++] = 0x04;
    sp[n++] = (unsigned char)inner;
    memcpy(sp + n, chal, inner);
    n += inner;
    f = 0;
    assert_int_equal(wsm__ntlm_token_flags(sp, n, 2, &f), 0);
    assert_int_equal(f, 0xe28a8233u);
    assert_int_equal(wsm__ntlm_token_flags(sp, n, 3, &f), -1);
    /* Every truncation, and trailing bytes, are refused. */
    for (size_t k = 0; k < n; k++)
        assert_int_equal(wsm__ntlm_token_flags(sp, k, 2, &f), -1);
    sp[n] = 0;
    assert_int_equal(wsm__ntlm_token_flags(sp, n + 1, 2, &f), -1);
    /* No responseToken. */
    unsigned char none[] = {0xa1, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x0a, 0x01, 0x00};
    assert_int_equal(wsm__ntlm_token_flags(none, sizeof(none), 2, &f), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_keys),    cmocka_unit_test(test_spec_seal),
        cmocka_unit_test(test_flags),        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_tampered),     cmocka_unit_test(test_token_flags),
        cmocka_unit_test(test_rc4_backends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
