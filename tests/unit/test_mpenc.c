/* Unit tests for the WinRM encrypted body framing (src/lib/mpenc.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpenc.h"

#define PYWINRM_CT                                                                                 \
    "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\";boundary="         \
    "\"Encrypted Boundary\""

/* ---- helpers ----------------------------------------------------------- */

/* A stand-in for gss_wrap: XOR with a key byte, a 16-byte signature
 * holding the length and a checksum. */
static void fake_wrap(const unsigned char *in, size_t n, unsigned char *sig, unsigned char *out)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = in[i] ^ 0x5a;
        sum = sum * 31 + in[i];
    }
    memset(sig, 0xee, 16);
    memcpy(sig, &sum, 4);
    memcpy(sig + 4, &n, sizeof(uint32_t));
}

static int fake_unwrap(const struct wsm_mpenc_part *p, unsigned char *out)
{
    uint32_t sum = 0, n;
    if (p->sig_len != 16 || p->sealed_len != p->orig_len)
        return -1;
    for (size_t i = 0; i < p->sealed_len; i++) {
        out[i] = p->sealed[i] ^ 0x5a;
        sum = sum * 31 + out[i];
    }
    memcpy(&n, p->sig + 4, 4);
    return memcmp(p->sig, &sum, 4) == 0 && n == p->sealed_len ? 0 : -1;
}

/* Builds a body for msg cut into chunks of at most chunk bytes. */
static char *build(const char *msg, size_t n, size_t chunk, enum wsm_mpenc_proto proto, size_t *len)
{
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    unsigned char sig[16];
    unsigned char *sealed = malloc(n + 1);
    assert_non_null(sealed);
    size_t off = 0;
    do {
        size_t k = n - off < chunk ? n - off : chunk;
        fake_wrap((const unsigned char *)msg + off, k, sig, sealed);
        assert_int_equal(wsm__mpenc_build_part(&b, proto, k, sig, 16, sealed, k), WSM_OK);
        off += k;
    } while (off < n);
    assert_int_equal(wsm__mpenc_build_end(&b), WSM_OK);
    free(sealed);
    return wsm__buf_steal(&b, len);
}

static size_t unwrap_all(const struct wsm_mpenc_part *parts, size_t np, unsigned char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < np; i++) {
        assert_int_equal(fake_unwrap(&parts[i], out + o), 0);
        o += parts[i].orig_len;
    }
    return o;
}

/* The fuzz corpus holds the bodies of the pywinrm captures. */
static unsigned char *read_seed(const char *name, size_t *len)
{
    char path[1024], here[512];
    const char *root = getenv("WSMD_SOURCE_ROOT");
    FILE *f = NULL;
    if (root && *root) {
        snprintf(path, sizeof(path), "%s/fuzz/corpus/mpenc/%s", root, name);
        f = fopen(path, "rb");
    }
    /* __FILE__ is relative to the build directory; the test may run in it
     * or in a subdirectory of it. */
    static const char *const up[] = {"", "../", "../../", "../../../"};
    for (size_t i = 0; !f && i < sizeof(up) / sizeof(up[0]); i++) {
        snprintf(here, sizeof(here), "%s", __FILE__);
        snprintf(path, sizeof(path), "%s%s/../../fuzz/corpus/mpenc/%s", up[i], dirname(here), name);
        f = fopen(path, "rb");
    }
    if (!f) {
        print_error("cannot find fuzz/corpus/mpenc/%s (set WSMD_SOURCE_ROOT)\n", name);
        return NULL;
    }
    unsigned char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, 1 << 20, f) : 0;
    fclose(f);
    *len = n;
    return buf;
}

/* ---- Content-Type ------------------------------------------------------ */

static void test_content_type(void **state)
{
    (void)state;
    enum wsm_mpenc_proto p = WSM_MPENC_NONE;
    int multi = -1;
    assert_int_equal(wsm__mpenc_content_type(PYWINRM_CT, &p, &multi), WSM_OK);
    assert_int_equal(p, WSM_MPENC_SPNEGO);
    assert_int_equal(multi, 0);
    assert_int_equal(
        wsm__mpenc_content_type("Multipart/X-Multi-Encrypted; boundary=\"Encrypted Boundary\"; "
                                "protocol=\"application/HTTP-Kerberos-session-encrypted\"",
                                &p, &multi),
        WSM_OK);
    assert_int_equal(p, WSM_MPENC_KERBEROS);
    assert_int_equal(multi, 1);
    /* What we send is what we accept. */
    assert_int_equal(
        wsm__mpenc_content_type(wsm__mpenc_content_type_str(WSM_MPENC_SPNEGO), &p, &multi), WSM_OK);
    assert_int_equal(p, WSM_MPENC_SPNEGO);
    assert_string_equal(wsm__mpenc_content_type_str(WSM_MPENC_SPNEGO), PYWINRM_CT);

    /* Plain bodies. */
    assert_int_equal(wsm__mpenc_content_type("application/soap+xml;charset=UTF-8", &p, &multi),
                     WSM_ERR_NOT_FOUND);
    assert_int_equal(wsm__mpenc_content_type(NULL, &p, &multi), WSM_ERR_NOT_FOUND);
    assert_int_equal(wsm__mpenc_content_type("multipart/encryptedx", &p, &multi),
                     WSM_ERR_NOT_FOUND);
    /* Encrypted, but not something we can read. */
    assert_int_equal(wsm__mpenc_content_type("multipart/encrypted", &p, &multi),
                     WSM_ERR_UNSUPPORTED_MEDIA);
    assert_int_equal(
        wsm__mpenc_content_type("multipart/encrypted;protocol=\"application/"
                                "HTTP-CredSSP-session-encrypted\";boundary=\"Encrypted Boundary\"",
                                &p, &multi),
        WSM_ERR_UNSUPPORTED_MEDIA);
    assert_int_equal(wsm__mpenc_content_type("multipart/encrypted;protocol=\"application/"
                                             "HTTP-SPNEGO-session-encrypted\";boundary=\"Other\"",
                                             &p, &multi),
                     WSM_ERR_UNSUPPORTED_MEDIA);
    assert_int_equal(wsm__mpenc_content_type("multipart/encrypted;protocol=\"application/"
                                             "HTTP-SPNEGO-session-encrypted",
                                             &p, &multi),
                     WSM_ERR_UNSUPPORTED_MEDIA); /* no boundary, unterminated quote */
    assert_int_equal(wsm__mpenc_content_type(PYWINRM_CT ";protocol=\"application/"
                                                        "HTTP-SPNEGO-session-encrypted\"",
                                             &p, &multi),
                     WSM_ERR_UNSUPPORTED_MEDIA); /* twice */
}

/* ---- the captures ------------------------------------------------------ */

static void test_captures(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        size_t len;
    } caps[] = {
        {"pywinrm-command", 1803},      {"pywinrm-create-shell", 1683},
        {"pywinrm-delete-shell", 1551}, {"pywinrm-receive", 1689},
        {"pywinrm-send", 81677},        {"pywinrm-signal-terminate", 1727},
    };
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        size_t len = 0, np = 0;
        unsigned char *b = read_seed(caps[i].name, &len);
        assert_non_null(b);
        struct wsm_mpenc_part parts[2];
        assert_int_equal(wsm__mpenc_parse(b, len, WSM_MPENC_SPNEGO, 0, 512000, parts, 2, &np),
                         WSM_OK);
        assert_int_equal(np, 1);
        assert_int_equal(parts[0].orig_len, caps[i].len);
        /* NTLM: a 16-byte signature, RC4 seals to the same length. */
        assert_int_equal(parts[0].sig_len, 16);
        assert_int_equal(parts[0].sealed_len, caps[i].len);
        assert_ptr_equal(parts[0].sealed + parts[0].sealed_len,
                         b + len - strlen("--Encrypted Boundary--\r\n"));
        /* The same body is a one-part multi body too. */
        assert_int_equal(wsm__mpenc_parse(b, len, WSM_MPENC_SPNEGO, 1, 512000, parts, 2, &np),
                         WSM_OK);
        assert_int_equal(np, 1);
        assert_int_equal(parts[0].sealed_len, caps[i].len);
        /* Not Kerberos; not under a small cap. */
        assert_int_equal(wsm__mpenc_parse(b, len, WSM_MPENC_KERBEROS, 0, 512000, parts, 2, &np),
                         WSM_ERR_UNSUPPORTED_MEDIA);
        assert_int_equal(
            wsm__mpenc_parse(b, len, WSM_MPENC_SPNEGO, 0, caps[i].len - 1, parts, 2, &np),
            WSM_ERR_ENVELOPE_TOO_LARGE);
        assert_true(len <= wsm__mpenc_max_body(caps[i].len));
        free(b);
    }
}

/* ---- round trips ------------------------------------------------------- */

static void test_round_trip_single(void **state)
{
    (void)state;
    const char *msg = "<s:Envelope>hello, sealed world</s:Envelope>";
    size_t n = strlen(msg), len, np;
    char *body = build(msg, n, n, WSM_MPENC_SPNEGO, &len);
    /* The framing pywinrm writes, byte for byte. */
    const char *head = "--Encrypted Boundary\r\n"
                       "\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n"
                       "\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=44\r\n"
                       "--Encrypted Boundary\r\n"
                       "\tContent-Type: application/octet-stream\r\n"
                       "\x10\0\0\0";
    /* strlen stops before the three NULs of the length word. */
    assert_memory_equal(body, head, strlen(head) + 3);
    assert_int_equal(len, strlen(head) + 3 + 16 + n + strlen("--Encrypted Boundary--\r\n"));
    struct wsm_mpenc_part parts[1];
    assert_int_equal(
        wsm__mpenc_parse((unsigned char *)body, len, WSM_MPENC_SPNEGO, 0, 1000, parts, 1, &np),
        WSM_OK);
    unsigned char out[100];
    assert_int_equal(unwrap_all(parts, np, out), n);
    assert_memory_equal(out, msg, n);
    free(body);

    /* An empty message frames too. */
    body = build("", 0, 1, WSM_MPENC_KERBEROS, &len);
    assert_int_equal(
        wsm__mpenc_parse((unsigned char *)body, len, WSM_MPENC_KERBEROS, 0, 1000, parts, 1, &np),
        WSM_OK);
    assert_int_equal(parts[0].orig_len, 0);
    assert_int_equal(parts[0].sealed_len, 0);
    free(body);
}

static void test_round_trip_multi(void **state)
{
    (void)state;
    size_t n = 3 * WSM_MPENC_CHUNK + 123, len, np;
    char *msg = malloc(n);
    assert_non_null(msg);
    for (size_t i = 0; i < n; i++)
        msg[i] = (char)('a' + i % 26);
    /* Sealed bytes that contain the boundary itself must not confuse the
     * parser: the Length tells where a part ends. */
    memcpy(msg + 100, "--Encrypted Boundary\r\n", 22);
    for (size_t i = 0; i < 22; i++)
        msg[100 + i] ^= 0x5a; /* so that the sealed text holds it */
    char *body = build(msg, n, WSM_MPENC_CHUNK, WSM_MPENC_SPNEGO, &len);
    struct wsm_mpenc_part parts[8];
    assert_int_equal(
        wsm__mpenc_parse((unsigned char *)body, len, WSM_MPENC_SPNEGO, 1, n, parts, 8, &np),
        WSM_OK);
    assert_int_equal(np, 4);
    unsigned char *out = malloc(n);
    assert_int_equal(unwrap_all(parts, np, out), n);
    assert_memory_equal(out, msg, n);
    /* Four parts: not a single-part body; not within 3 parts; not over the cap. */
    assert_int_not_equal(
        wsm__mpenc_parse((unsigned char *)body, len, WSM_MPENC_SPNEGO, 0, n, parts, 8, &np),
        WSM_OK);
    assert_int_equal(
        wsm__mpenc_parse((unsigned char *)body, len, WSM_MPENC_SPNEGO, 1, n, parts, 3, &np),
        WSM_ERR_UNSUPPORTED_MEDIA);
    assert_int_equal(
        wsm__mpenc_parse((unsigned char *)body, len, WSM_MPENC_SPNEGO, 1, n - 1, parts, 8, &np),
        WSM_ERR_ENVELOPE_TOO_LARGE);
    assert_true(len <= wsm__mpenc_max_body(n));
    free(out);
    free(body);
    free(msg);
}

/* ---- refusals ---------------------------------------------------------- */

static enum wsm_err parse1(const char *b, size_t len, int multi)
{
    struct wsm_mpenc_part parts[4];
    size_t np;
    return wsm__mpenc_parse((const unsigned char *)b, len, WSM_MPENC_SPNEGO, multi, 4096, parts, 4,
                            &np);
}

static void test_truncated(void **state)
{
    (void)state;
    const char *msg = "<s:Envelope/>";
    size_t len;
    char *body = build(msg, strlen(msg), 64, WSM_MPENC_SPNEGO, &len);
    assert_int_equal(parse1(body, len, 0), WSM_OK);
    for (size_t k = 0; k < len; k++) {
        assert_int_not_equal(parse1(body, k, 0), WSM_OK);
        assert_int_not_equal(parse1(body, k, 1), WSM_OK);
        /* And every suffix. */
        assert_int_not_equal(parse1(body + len - k, k, 0), WSM_OK);
    }
    free(body);
}

static char *edit(const char *body, size_t len, const char *from, const char *to, size_t *nlen)
{
    const char *at = memmem(body, len, from, strlen(from));
    assert_non_null(at);
    size_t pre = (size_t)(at - body), fl = strlen(from), tl = strlen(to);
    char *r = malloc(len - fl + tl);
    memcpy(r, body, pre);
    memcpy(r + pre, to, tl);
    memcpy(r + pre + tl, at + fl, len - pre - fl);
    *nlen = len - fl + tl;
    return r;
}

static void test_garbage(void **state)
{
    (void)state;
    const char *msg = "<s:Envelope/>";
    size_t len, nl;
    char *body = build(msg, strlen(msg), 64, WSM_MPENC_SPNEGO, &len);
    static const char *const edits[][2] = {
        {"Length=13", "Length=-13"},
        {"Length=13", "Length=1x3"},
        {"Length=13", "Length="},
        {"Length=13", "Length=4097"}, /* over the cap */
        {"Length=13", "Length=13;Length=13"},
        {"type=application/soap+xml", "type=text/plain"},
        {"\tOriginalContent", "\tX-Other: 1\r\n\tOriginalContent"},
        {"session-encrypted\r\n", "session-encrypted\r\n\tContent-Type: application/"
                                  "HTTP-SPNEGO-session-encrypted\r\n"},
        {"SPNEGO", "Kerberos"},
        {"octet-stream", "octet-streams"},
        {"\tContent-Type: application/octet-stream\r\n",
         "\tContent-Type: application/octet-stream\r\n\r\n"},
        {"Boundary\r\n", "Boundary \r\n"},
        {"--Encrypted Boundary--\r\n", "--Encrypted Boundary--"},
        {"--Encrypted Boundary--\r\n", "--Encrypted Boundary--\r\n\r\n"},
        {"--Encrypted Boundary--\r\n", "--Encrypted Boundary\r\n"},
        {"\x10\0\0\0", "\0\0\0\0"},         /* no signature */
        {"\x10\0\0\0", "\x01\x04\0\0"},     /* 1025: over the cap */
        {"\x10\0\0\0", "\xff\xff\xff\xff"}, /* past the end */
    };
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        char *b = edit(body, len, edits[i][0], edits[i][1], &nl);
        enum wsm_err e0 = parse1(b, nl, 0), e1 = parse1(b, nl, 1);
        if (e0 == WSM_OK || e1 == WSM_OK)
            print_error("edit %zu accepted\n", i);
        assert_int_not_equal(e0, WSM_OK);
        assert_int_not_equal(e1, WSM_OK);
        free(b);
    }
    /* A NUL in a header line. */
    char *nul = malloc(len);
    memcpy(nul, body, len);
    nul[(size_t)((const char *)memmem(body, len, "HTTP-SPNEGO", 11) - body)] = '\0';
    assert_int_not_equal(parse1(nul, len, 0), WSM_OK);
    free(nul);
    /* A second part is refused in a single-part body. */
    char *two = build("0123456789", 10, 5, WSM_MPENC_SPNEGO, &nl);
    assert_int_equal(parse1(two, nl, 1), WSM_OK);
    assert_int_not_equal(parse1(two, nl, 0), WSM_OK);
    free(two);
    /* Random bytes and header-only bodies. */
    char junk[600];
    srand(7);
    for (int round = 0; round < 2000; round++) {
        size_t jl = (size_t)rand() % sizeof(junk);
        for (size_t i = 0; i < jl; i++)
            junk[i] = (char)rand();
        if (round % 2 && jl > 40)
            memcpy(junk, body, 40);
        assert_int_not_equal(parse1(junk, jl, round % 3 == 0), WSM_OK);
    }
    /* Bit flips in the framing (not in the sealed bytes or signature). */
    const char *sealed = memmem(body, len, "\x10\0\0\0", 4);
    size_t frame = (size_t)(sealed - body);
    const char *lax = memmem(body, len, "charset=UTF-8;Length=13", 23);
    size_t lax0 = (size_t)(lax - body), lax1 = lax0 + 23;
    for (size_t i = 0; i < frame; i++) {
        char *b = malloc(len);
        memcpy(b, body, len);
        b[i] ^= 0x01;
        /* Only the charset (ignored) and the Length digits (checked after
         * unsealing) may change without the parser noticing. */
        enum wsm_err e = parse1(b, len, 0);
        if (e == WSM_OK && (i < lax0 || i >= lax1))
            print_error("flip at %zu ('%c') accepted\n", i, body[i]);
        assert_true(e != WSM_OK || (i >= lax0 && i < lax1));
        free(b);
    }
    free(body);
    /* Build refuses nonsense. */
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    assert_int_equal(wsm__mpenc_build_part(&b, WSM_MPENC_SPNEGO, 1, (unsigned char *)"", 0,
                                           (unsigned char *)"x", 1),
                     WSM_ERR_INVALID_ARG);
    assert_int_equal(wsm__mpenc_build_part(&b, WSM_MPENC_NONE, 1, (unsigned char *)"s", 1,
                                           (unsigned char *)"x", 1),
                     WSM_ERR_INVALID_ARG);
    wsm__buf_free(&b);
}

/* Without the tabs (what OMI 1.9.1 takes): the same framing with the
 * part headers at the start of their lines, and wsmd's parser reads it. */
static void test_no_tab(void **state)
{
    (void)state;
    const char *msg = "<s:Envelope>for OMI</s:Envelope>";
    size_t n = strlen(msg), np;
    unsigned char sig[16];
    memset(sig, 0xA5, sizeof(sig));
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    assert_int_equal(wsm__mpenc_build_part_ex(&b, WSM_MPENC_SPNEGO, n, sig, 16,
                                              (const unsigned char *)msg, n, 0),
                     WSM_OK);
    assert_int_equal(wsm__mpenc_build_end(&b), WSM_OK);
    const char *head = "--Encrypted Boundary\r\n"
                       "Content-Type: application/HTTP-SPNEGO-session-encrypted\r\n"
                       "OriginalContent: type=application/soap+xml;charset=UTF-8;Length=32\r\n"
                       "--Encrypted Boundary\r\n"
                       "Content-Type: application/octet-stream\r\n"
                       "\x10\0\0\0";
    assert_memory_equal(b.data, head, strlen(head) + 3);
    assert_null(memchr(b.data, '\t', strlen(head)));
    struct wsm_mpenc_part parts[1];
    assert_int_equal(
        wsm__mpenc_parse((unsigned char *)b.data, b.len, WSM_MPENC_SPNEGO, 0, 1000, parts, 1, &np),
        WSM_OK);
    assert_int_equal(np, 1);
    assert_int_equal(parts[0].orig_len, n);
    assert_memory_equal(parts[0].sealed, msg, n);
    wsm__buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_captures),
        cmocka_unit_test(test_round_trip_single),
        cmocka_unit_test(test_round_trip_multi),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_no_tab),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
