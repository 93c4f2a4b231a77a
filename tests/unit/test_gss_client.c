/* Unit tests for the client side of Negotiate (src/lib/gss_client.c)
 * against wsmd's acceptor (src/daemon/negotiate.c) in one process: the
 * handshake through the Authorization and WWW-Authenticate values exactly
 * as they cross HTTP, then sealed bodies both ways. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gss_client.h"
#include "mpenc.h"
#include "negotiate.h"
#include "userfile.h"
#include "wwwauth.h"
#include "tmpdir.h"

#define PASSWORD "Secret123!"

struct fixture {
    char dir[256];
    char path[300];
    struct wsmd_nego *nego;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    if (test_tmpdir_make(f->dir, sizeof(f->dir), "gssc")) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/users", f->dir);
    struct wsmd_userfile uf = {0};
    if (wsmd__userfile_set(&uf, "alice", PASSWORD) || wsmd__userfile_save(f->path, &uf))
        return -1;
    wsmd__userfile_clear(&uf);
    struct wsmd_nego_config cfg = {.users_path = f->path, .service = "HTTP@localhost"};
    if (wsmd__nego_new(&cfg, &f->nego)) {
        fprintf(stderr, "wsmd__nego_new failed (is gss-ntlmssp installed?)\n");
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    wsmd__nego_free(f->nego);
    test_tmpdir_remove(f->dir);
    free(f);
    return 0;
}

/* The handshake: 0 when both sides are done, -1 when the server refused. */
static int handshake(struct wsmd_nego_conn *sc, struct wsm_gss_ctx *x)
{
    unsigned char *in = NULL;
    size_t inlen = 0;
    char err[300] = "";
    for (int i = 0; i < 8; i++) {
        char *authz = NULL;
        int cdone = 0;
        enum wsm_err e = wsm__gss_step(x, in, inlen, &authz, &cdone, err, sizeof(err));
        free(in);
        in = NULL;
        inlen = 0;
        assert_int_equal(e, WSM_OK);
        if (!authz)
            return cdone ? 0 : -1;
        /* "Authorization: VALUE\r\n" */
        assert_true(strncmp(authz, "Authorization: ", 15) == 0);
        size_t l = strlen(authz);
        assert_true(l > 17 && authz[l - 2] == '\r' && authz[l - 1] == '\n');
        authz[l - 2] = '\0';
        char *www = NULL;
        int sdone = 0;
        e = wsmd__nego_step(sc, authz + 15, &www, &sdone);
        free(authz);
        if (e) {
            free(www);
            return -1;
        }
        if (www) {
            char line[70000];
            snprintf(line, sizeof(line), "%s\n", www);
            free(www);
            assert_int_equal(wsm__www_token(line, wsm__gss_scheme_of_ctx(x), &in, &inlen), WSM_OK);
        }
        if (sdone && !in) {
            e = wsm__gss_step(x, NULL, 0, &authz, &cdone, err, sizeof(err));
            assert_null(authz);
            return cdone ? 0 : -1;
        }
    }
    return -1;
}

static void roundtrip(struct wsmd_nego_conn *sc, struct wsm_gss_ctx *x, size_t len)
{
    char err[300] = "";
    char *plain = malloc(len + 1);
    assert_non_null(plain);
    for (size_t i = 0; i < len; i++)
        plain[i] = (char)('a' + (i * 7 + len) % 26);
    plain[len] = '\0';
    /* Client -> server. */
    struct wsm_buf body;
    wsm__buf_init(&body, 0);
    const char *ct = NULL;
    assert_int_equal(wsm__gss_seal(x, plain, len, &body, &ct, err, sizeof(err)), WSM_OK);
    assert_non_null(ct);
    /* The plaintext is not in the body (checked where a chance match of
     * random ciphertext is negligible: 8 bytes or more). */
    if (len >= 8)
        assert_null(memmem(body.data, body.len, plain, len < 64 ? len : 64));
    char *got = NULL;
    size_t glen = 0;
    assert_int_equal(
        wsmd__nego_unwrap(sc, ct, (unsigned char *)body.data, body.len, len + 16, &got, &glen),
        WSM_OK);
    assert_int_equal(glen, len);
    assert_memory_equal(got, plain, len);
    free(got);
    wsm__buf_free(&body);
    /* Server -> client. */
    char *sealed = NULL;
    size_t slen = 0;
    const char *sct = NULL;
    assert_int_equal(wsmd__nego_wrap(sc, plain, len, &sealed, &slen, &sct), WSM_OK);
    struct wsm_buf out;
    wsm__buf_init(&out, len + 16);
    assert_int_equal(wsm__gss_unseal(x, sct, (unsigned char *)sealed, slen, &out, err, sizeof(err)),
                     WSM_OK);
    assert_int_equal(out.len, len);
    assert_memory_equal(out.data, plain, len);
    wsm__buf_free(&out);
    free(sealed);
    free(plain);
}

/* GSSAPI-only sides: 1 the client, 2 the server (wsmd), 3 both. Raw NTLM
 * seals with ntlmseal.c elsewhere; so every pairing of ntlmseal.c with
 * gss-ntlmssp's gss_wrap/gss_unwrap is run. */
static void run_kind_sides(struct fixture *f, enum wsm_gss_kind kind, int ntlm_expected,
                           int gss_only)
{
    struct wsm_gss_cred *cr = NULL;
    struct wsm_gss_ctx *x = NULL;
    char err[300] = "";
    assert_int_equal(wsm__gss_cred_new(kind, "alice", PASSWORD, "localhost", NULL, &cr), WSM_OK);
    assert_int_equal(wsm__gss_ctx_new(cr, &x, err, sizeof(err)), WSM_OK);
    struct wsmd_nego_conn *sc = wsmd__nego_conn_new(f->nego);
    if (gss_only & 1)
        wsm__gss_ctx_gss_only(x);
    if (gss_only & 2)
        wsmd__nego_conn_gss_only(sc);
    assert_int_equal(handshake(sc, x), 0);
    assert_string_equal(wsmd__nego_user(sc), "alice");
    assert_true(wsm__gss_can_seal(x));
    assert_int_equal(wsm__gss_is_ntlm(x), ntlm_expected);
    int raw = kind == WSM_GSS_NTLM;
    assert_int_equal(wsm__gss_ntlm_fast(x), raw && !(gss_only & 1));
    assert_int_equal(wsmd__nego_ntlm_fast(sc), raw && !(gss_only & 2));
    /* Many small ones: the sequence numbers stay in step. */
    for (int i = 0; i < 200; i++)
        roundtrip(sc, x, (size_t)(64 + i * 13 % 500)); /* >= 64: checked not in the clear */
    roundtrip(sc, x, 1803);
    roundtrip(sc, x, 1);
    roundtrip(sc, x, 1 << 20);
    roundtrip(sc, x, 81677);

    /* A flipped bit in a sealed reply: refused. */
    char *sealed = NULL;
    size_t slen = 0;
    const char *sct = NULL;
    assert_int_equal(wsmd__nego_wrap(sc, "<x/>", 4, &sealed, &slen, &sct), WSM_OK);
    sealed[slen - strlen("--Encrypted Boundary--\r\n") - 1] ^= 1;
    struct wsm_buf out;
    wsm__buf_init(&out, 100);
    assert_int_equal(wsm__gss_unseal(x, sct, (unsigned char *)sealed, slen, &out, err, sizeof(err)),
                     WSM_ERR_AUTH);
    wsm__buf_free(&out);
    free(sealed);
    /* A plain reply is not an encrypted one. */
    wsm__buf_init(&out, 100);
    assert_int_equal(wsm__gss_unseal(x, "application/soap+xml;charset=UTF-8",
                                     (const unsigned char *)"<x/>", 4, &out, err, sizeof(err)),
                     WSM_ERR_NOT_FOUND);
    wsm__buf_free(&out);
    wsmd__nego_conn_free(sc);
    wsm__gss_ctx_free(x);
    wsm__gss_cred_free(cr);
}

static void run_kind(struct fixture *f, enum wsm_gss_kind kind, int ntlm_expected)
{
    for (int gss_only = 0; gss_only < 4; gss_only++)
        run_kind_sides(f, kind, ntlm_expected, gss_only);
}

static void test_ntlm(void **state)
{
    run_kind(*state, WSM_GSS_NTLM, 1);
}

static void test_spnego_ntlm(void **state)
{
    run_kind(*state, WSM_GSS_SPNEGO, 1);
}

static void test_wrong_password(void **state)
{
    struct fixture *f = *state;
    struct wsm_gss_cred *cr = NULL;
    struct wsm_gss_ctx *x = NULL;
    char err[300] = "";
    assert_int_equal(wsm__gss_cred_new(WSM_GSS_NTLM, "alice", "wrong", "localhost", NULL, &cr),
                     WSM_OK);
    assert_int_equal(wsm__gss_ctx_new(cr, &x, err, sizeof(err)), WSM_OK);
    struct wsmd_nego_conn *sc = wsmd__nego_conn_new(f->nego);
    assert_int_equal(handshake(sc, x), -1);
    assert_null(wsmd__nego_user(sc));
    wsmd__nego_conn_free(sc);
    wsm__gss_ctx_free(x);
    wsm__gss_cred_free(cr);
}

static void test_target_name_checked(void **state)
{
    /* gss-ntlmssp compares the target host with the name in the server's
     * challenge: another name fails on our side, and -spn: fixes it. */
    struct fixture *f = *state;
    struct wsm_gss_cred *cr = NULL;
    struct wsm_gss_ctx *x = NULL;
    char err[300] = "";
    assert_int_equal(wsm__gss_cred_new(WSM_GSS_NTLM, "alice", PASSWORD, "127.0.0.1", NULL, &cr),
                     WSM_OK);
    assert_int_equal(wsm__gss_cred_set_spn(cr, "HTTP@localhost"), WSM_OK);
    assert_int_equal(wsm__gss_ctx_new(cr, &x, err, sizeof(err)), WSM_OK);
    /* Too late once a context exists. */
    assert_int_equal(wsm__gss_cred_set_spn(cr, "HTTP@other"), WSM_ERR_INVALID_ARG);
    struct wsmd_nego_conn *sc = wsmd__nego_conn_new(f->nego);
    assert_int_equal(handshake(sc, x), 0);
    wsmd__nego_conn_free(sc);
    wsm__gss_ctx_free(x);
    wsm__gss_cred_free(cr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ntlm),
        cmocka_unit_test(test_spnego_ntlm),
        cmocka_unit_test(test_wrong_password),
        cmocka_unit_test(test_target_name_checked),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
