/* Unit tests for Negotiate (src/daemon/negotiate.c) against what must be
 * refused or read exactly: tampered sealed messages, two users NTLM cannot
 * tell apart, Authorization headers, the acceptor's configuration, NT
 * hashes of the user file, the user name of an authenticate message. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64.h"
#include "mpenc.h"
#include "nego_helpers.h"
#include "userfile.h"

static void test_tampered(void **state)
{
    struct fixture *f = *state;
    struct wsmd_nego_conn *c = wsmd__nego_conn_new(f->nego);
    struct client cl;
    client_init(&cl, "alice", PASSWORD, 0);
    assert_int_equal(handshake(&cl, c), WSM_OK);
    const char *msg = "<s:Envelope>tamper with me</s:Envelope>";
    const char *ct = wsm__mpenc_content_type_str(WSM_MPENC_SPNEGO);
    size_t len, n;
    char *plain = NULL;

    /* A Length that does not match what was sealed. */
    char *body = client_seal(&cl, msg, strlen(msg), 1 << 20, &len);
    char *p = strstr(body, "Length=39");
    assert_non_null(p);
    p[8] = '8';
    assert_int_equal(wsmd__nego_unwrap(c, ct, (unsigned char *)body, len, 4096, &plain, &n),
                     WSM_ERR_AUTH);
    assert_null(wsmd__nego_user(c)); /* dropped: the sequence is broken */
    free(body);
    client_free(&cl);

    /* One flipped bit of the sealed text. */
    client_init(&cl, "alice", PASSWORD, 0);
    assert_int_equal(handshake(&cl, c), WSM_OK);
    body = client_seal(&cl, msg, strlen(msg), 1 << 20, &len);
    body[len - 30] ^= 1;
    assert_int_equal(wsmd__nego_unwrap(c, ct, (unsigned char *)body, len, 4096, &plain, &n),
                     WSM_ERR_AUTH);
    assert_null(wsmd__nego_user(c));
    free(body);
    client_free(&cl);

    /* Over the cap; bad framing (the context stays). */
    client_init(&cl, "alice", PASSWORD, 0);
    assert_int_equal(handshake(&cl, c), WSM_OK);
    body = client_seal(&cl, msg, strlen(msg), 1 << 20, &len);
    assert_int_equal(wsmd__nego_unwrap(c, ct, (unsigned char *)body, len, 10, &plain, &n),
                     WSM_ERR_ENVELOPE_TOO_LARGE);
    assert_int_equal(wsmd__nego_unwrap(c, ct, (unsigned char *)body, len - 1, 4096, &plain, &n),
                     WSM_ERR_UNSUPPORTED_MEDIA);
    assert_int_equal(
        wsmd__nego_unwrap(c, "application/soap+xml", (unsigned char *)body, len, 4096, &plain, &n),
        WSM_ERR_UNSUPPORTED_MEDIA);
    assert_non_null(wsmd__nego_user(c));
    /* Replayed: the sequence number is not the expected one any more. */
    assert_int_equal(wsmd__nego_unwrap(c, ct, (unsigned char *)body, len, 4096, &plain, &n),
                     WSM_OK);
    free(plain);
    assert_int_equal(wsmd__nego_unwrap(c, ct, (unsigned char *)body, len, 4096, &plain, &n),
                     WSM_ERR_AUTH);
    free(body);
    client_free(&cl);
    wsmd__nego_conn_free(c);
}

/* Two entries that NTLM cannot tell apart: refused even with the right
 * password. */
static void test_ambiguous(void **state)
{
    struct fixture *f = *state;
    static const char *const names[] = {"dave", "Dave"};
    static const char *const pws[] = {PASSWORD, PASSWORD};
    write_users(f, names, pws, 2);
    struct wsmd_nego_conn *c = wsmd__nego_conn_new(f->nego);
    struct client cl;
    client_init(&cl, "dave", PASSWORD, 0);
    assert_int_equal(handshake(&cl, c), WSM_ERR_AUTH);
    client_free(&cl);
    /* The file is read at each handshake: a new password counts at once. */
    static const char *const names2[] = {"dave"};
    static const char *const pws2[] = {"n3w"};
    write_users(f, names2, pws2, 1);
    client_init(&cl, "dave", PASSWORD, 0);
    assert_int_equal(handshake(&cl, c), WSM_ERR_AUTH);
    client_free(&cl);
    client_init(&cl, "dave", "n3w", 0);
    assert_int_equal(handshake(&cl, c), WSM_OK);
    assert_string_equal(wsmd__nego_user(c), "dave");
    client_free(&cl);
    wsmd__nego_conn_free(c);
}

static void test_headers(void **state)
{
    (void)state;
    unsigned char *tok;
    size_t tl;
    char scheme[16];
    assert_true(wsmd__nego_is_scheme("Negotiate TlRMTVNTUAABAAAA"));
    assert_true(wsmd__nego_is_scheme("ntlm TlRMTVNTUAABAAAA"));
    assert_true(wsmd__nego_is_scheme("Kerberos YIIB"));
    assert_false(wsmd__nego_is_scheme("Basic YWxpY2U6eA=="));
    assert_false(wsmd__nego_is_scheme("NegotiateX abc"));
    assert_false(wsmd__nego_is_scheme(NULL));
    assert_int_equal(
        wsmd__nego_parse_header("NTLM  TlRMTVNTUAABAAAA  ", scheme, sizeof(scheme), &tok, &tl),
        WSM_OK);
    assert_string_equal(scheme, "NTLM");
    assert_int_equal(tl, 12);
    free(tok);
    static const char *const bad[] = {"Negotiate", "Negotiate ", "Negotiate !!!!",
                                      "Negotiate TlRMT", "Basic TlRMTVNTUAABAAAA"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(wsmd__nego_parse_header(bad[i], scheme, sizeof(scheme), &tok, &tl),
                         WSM_ERR_AUTH);
    /* Over 64 KiB. */
    size_t big = 90000;
    char *h = malloc(big + 11);
    memcpy(h, "Negotiate ", 10);
    memset(h + 10, 'A', big);
    h[10 + big] = '\0';
    assert_int_equal(wsmd__nego_parse_header(h, scheme, sizeof(scheme), &tok, &tl), WSM_ERR_AUTH);
    free(h);

    /* Token kinds. */
    static const unsigned char t1[] = "NTLMSSP\0\x01\0\0\0xxxx", t3[] = "NTLMSSP\0\x03\0\0\0xxxx";
    assert_int_equal(wsmd__nego_token_kind(t1, sizeof(t1) - 1), WSMD_TOKEN_NTLM_NEGOTIATE);
    assert_int_equal(wsmd__nego_token_kind(t3, sizeof(t3) - 1), WSMD_TOKEN_NTLM_OTHER);
    assert_int_equal(wsmd__nego_token_kind(t1, 11), WSMD_TOKEN_BAD);
    static const unsigned char sp[] = {0x60, 0x0a, 0x06, 0x06, 0x2b, 0x06,
                                       0x01, 0x05, 0x05, 0x02, 0xa0, 0x00};
    assert_int_equal(wsmd__nego_token_kind(sp, sizeof(sp)), WSMD_TOKEN_SPNEGO_INIT);
    assert_int_equal(wsmd__nego_token_kind(sp, sizeof(sp) - 1), WSMD_TOKEN_BAD);
    static const unsigned char kr[] = {0x60, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                       0xf7, 0x12, 0x01, 0x02, 0x02, 0x01, 0x00};
    assert_int_equal(wsmd__nego_token_kind(kr, sizeof(kr)), WSMD_TOKEN_KRB5);
    static const unsigned char rs[] = {0xa1, 0x03, 0x30, 0x01, 0x00};
    assert_int_equal(wsmd__nego_token_kind(rs, sizeof(rs)), WSMD_TOKEN_SPNEGO_CONTINUE);
    static const unsigned char lf[] = {0x60, 0x84, 0xff, 0xff, 0xff, 0xff, 0x06};
    assert_int_equal(wsmd__nego_token_kind(lf, sizeof(lf)), WSMD_TOKEN_BAD);
    assert_int_equal(wsmd__nego_token_kind((const unsigned char *)"\x60", 1), WSMD_TOKEN_BAD);

    /* Body kinds. */
    assert_false(wsmd__nego_body_encrypted("application/soap+xml;charset=UTF-8"));
    assert_false(wsmd__nego_body_encrypted(NULL));
    assert_true(wsmd__nego_body_encrypted(wsm__mpenc_content_type_str(WSM_MPENC_SPNEGO)));
    assert_true(wsmd__nego_body_encrypted("multipart/encrypted;protocol=\"application/"
                                          "HTTP-CredSSP-session-encrypted\""));
    assert_true(wsmd__nego_max_body(512000) > 512000);
}

static void test_config(void **state)
{
    struct fixture *f = *state;
    struct wsmd_nego *n = NULL;
    /* Nothing to offer: no user file, no Kerberos. */
    struct wsmd_nego_config none = {0};
    assert_int_equal(wsmd__nego_new(&none, &n), WSM_ERR_UNSUPPORTED_FEATURE);
    /* Kerberos without a keytab. */
    struct wsmd_nego_config krb = {.kerberos = 1, .keytab = "/nonexistent/krb5.keytab"};
    assert_int_equal(wsmd__nego_new(&krb, &n), WSM_ERR_UNSUPPORTED_FEATURE);
    /* NTLM is offered before anything is loaded (the fixture's acceptor has
     * been loaded by earlier tests or not: the answer is the same). */
    struct wsmd_nego_config ntlm = {.users_path = f->path};
    assert_int_equal(wsmd__nego_new(&ntlm, &n), WSM_OK);
    assert_true(wsmd__nego_has_ntlm(n));
    assert_false(wsmd__nego_has_kerberos(n));
    /* The default acceptor name (HTTP@ this host) works for NTLM clients
     * that do not check it (pywinrm, Go, curl --ntlm). */
    assert_true(wsmd__nego_load(n));
    struct wsmd_nego_conn *c = wsmd__nego_conn_new(n);
    char *www = NULL;
    int done = 0;
    assert_int_equal(
        wsmd__nego_step(
            c, "Negotiate TlRMTVNTUAABAAAAMpCI4gAAAAAoAAAAAAAAACgAAAAGAbEdAAAADw==", &www, &done),
        WSM_OK);
    assert_non_null(www);
    free(www);
    wsmd__nego_conn_free(c);
    wsmd__nego_free(n);
}

static void test_nthash(void **state)
{
    struct fixture *f = *state;
    char h[33];
    /* Values from Python: MD4(password.encode('utf-16-le')). */
    assert_true(wsmd__nthash_hex("Secret123!", h));
    assert_string_equal(h, "59C33A2751C7DAD20DE6FC7E03891BDB");
    assert_true(wsmd__nthash_hex("p\xc3\xa4ssw\xc3\xb6rd", h));
    assert_string_equal(h, "0553152250AC01ADB4213CB9938663E4");
    assert_true(wsmd__nthash_hex("\xf0\x9f\x98\x80x", h)); /* a surrogate pair */
    assert_string_equal(h, "4239D4DCD7148A5EA8F750B376CFDBD6");
    assert_false(wsmd__nthash_hex("\xc3", h));         /* truncated */
    assert_false(wsmd__nthash_hex("\xc0\xaf", h));     /* overlong */
    assert_false(wsmd__nthash_hex("\xed\xa0\x80", h)); /* a surrogate */
    assert_false(wsmd__nthash_hex("\xff", h));

    /* The file as written: 0600, smbpasswd fields after the crypt hash. */
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    struct wsmd_userfile uf = {0};
    assert_int_equal(wsmd__userfile_load(f->path, &uf), WSM_OK);
    const struct wsmd_user *a = wsmd__userfile_find(&uf, "alice");
    assert_non_null(a);
    assert_true(wsmd__userfile_has_nthash(a));
    assert_string_equal(a->rest,
                        "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:59C33A2751C7DAD20DE6FC7E03891BDB:[U  "
                        "        ]:");
    assert_false(wsmd__userfile_has_nthash(wsmd__userfile_find(&uf, "carol")));
    /* A new password replaces the NT hash; one that is not UTF-8 removes it
     * (Basic still works, NTLM does not). */
    assert_int_equal(wsmd__userfile_set(&uf, "alice", "builder"), WSM_OK);
    a = wsmd__userfile_find(&uf, "alice");
    assert_string_equal(a->rest,
                        "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:46FB959F16DB7AE7466BB1D00A79E894:["
                        "U          ]:");
    assert_int_equal(wsmd__userfile_set(&uf, "alice", "\xff\xfe"), WSM_OK);
    a = wsmd__userfile_find(&uf, "alice");
    assert_null(a->rest);
    assert_true(wsmd__password_check("\xff\xfe", a->hash));
    wsmd__userfile_clear(&uf);
}

/* The user name of an authenticate message, for throttling by name. */
static char *ntlm_header(const char *scheme, const unsigned char *msg, size_t n)
{
    char *h = malloc(strlen(scheme) + 1 + wsm__base64_enclen(n) + 1);
    assert_non_null(h);
    size_t sl = strlen(scheme);
    memcpy(h, scheme, sl);
    h[sl] = ' ';
    wsm__base64_encode(msg, n, h + sl + 1);
    return h;
}

static void test_ntlm_user_of_header(void **state)
{
    (void)state;
    unsigned char m[96] = "NTLMSSP";
    m[8] = 3;
    /* UserName: 12 bytes at 64 ("ALice\xe9" in UTF-16LE); flags: unicode. */
    const unsigned char name[] = {'A', 0, 'L', 0, 'i', 0, 'c', 0, 'e', 0, 0xe9, 0};
    m[36] = sizeof(name);
    m[38] = sizeof(name);
    m[40] = 64;
    m[60] = 1;
    memcpy(m + 64, name, sizeof(name));
    char out[64];
    char *h = ntlm_header("NTLM", m, 64 + sizeof(name));
    assert_int_equal(wsmd__nego_ntlm_user(h, out, sizeof(out)), 1);
    assert_string_equal(out, "alice?");
    free(h);
    /* OEM (8-bit) names. */
    m[60] = 0;
    memcpy(m + 64, "BOB", 3);
    m[36] = 3;
    h = ntlm_header("Negotiate", m, 67);
    assert_int_equal(wsmd__nego_ntlm_user(h, out, sizeof(out)), 1);
    assert_string_equal(out, "bob");
    free(h);
    /* Out of the message, empty, odd UTF-16, another message type: none. */
    m[36] = 200;
    h = ntlm_header("NTLM", m, 67);
    assert_int_equal(wsmd__nego_ntlm_user(h, out, sizeof(out)), 0);
    free(h);
    m[36] = 0;
    h = ntlm_header("NTLM", m, 67);
    assert_int_equal(wsmd__nego_ntlm_user(h, out, sizeof(out)), 0);
    free(h);
    m[36] = 3;
    m[60] = 1;
    h = ntlm_header("NTLM", m, 67);
    assert_int_equal(wsmd__nego_ntlm_user(h, out, sizeof(out)), 0);
    free(h);
    m[8] = 1;
    m[60] = 0;
    h = ntlm_header("NTLM", m, 67);
    assert_int_equal(wsmd__nego_ntlm_user(h, out, sizeof(out)), 0);
    free(h);
    assert_int_equal(wsmd__nego_ntlm_user("Basic Zm9vOmJhcg==", out, sizeof(out)), 0);
    assert_int_equal(wsmd__nego_ntlm_user("NTLM !!!", out, sizeof(out)), 0);
}

int main(void)
{
    /* The user file is the only source of NTLM credentials. */
    unsetenv("NTLM_USER_FILE");
    const struct CMUnitTest tests[] = {
        T(test_tampered), T(test_ambiguous), T(test_headers),
        T(test_config),   T(test_nthash),    T(test_ntlm_user_of_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
