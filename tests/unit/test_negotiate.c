/* Unit tests for Negotiate authentication and message encryption
 * (src/daemon/negotiate.c): a GSSAPI initiator (nego_helpers.c) and the
 * wsmd acceptor in one process: NTLM raw and in SPNEGO, long sealed
 * exchanges, user names, refusals, handshakes bound to their connection,
 * pywinrm's captured messages. Tampering, ambiguous users, headers, the
 * configuration and NT hashes are in test_negotiate_checks.c. */
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

/* ---- tests ------------------------------------------------------------- */

static void test_ntlm_raw(void **state)
{
    struct fixture *f = *state;
    assert_true(wsmd__nego_has_ntlm(f->nego));
    struct wsmd_nego_conn *c = wsmd__nego_conn_new(f->nego);
    struct client cl;
    client_init(&cl, "alice", PASSWORD, 0);
    assert_null(wsmd__nego_user(c));
    assert_int_equal(handshake(&cl, c), WSM_OK);
    assert_int_equal(cl.maj, GSS_S_COMPLETE);
    assert_string_equal(wsmd__nego_user(c), "alice");
    assert_string_equal(wsmd__nego_mech(c), "NTLM");
    assert_true(wsmd__nego_can_seal(c));
    /* Raw NTLM with extended session security: sealed by ntlmseal.c,
     * opened by gss-ntlmssp's gss_unwrap on the client and vice versa. */
    assert_true(wsmd__nego_ntlm_fast(c));
    exchange(&cl, c, 5, 1803, 1 << 20);
    exchange(&cl, c, 1, 81677, 1 << 20); /* pywinrm's big Send, in one part */
    exchange(&cl, c, 1, 40000, 16384);   /* x-multi-encrypted, three parts */
    /* An empty reply is not sealed. */
    char *body;
    size_t blen;
    const char *ct;
    assert_int_equal(wsmd__nego_wrap(c, "", 0, &body, &blen, &ct), WSM_ERR_INVALID_ARG);
    exchange(&cl, c, 1, 10, 1 << 20);
    client_free(&cl);
    wsmd__nego_conn_free(c);
}

static void test_ntlm_spnego(void **state)
{
    struct fixture *f = *state;
    struct wsmd_nego_conn *c = wsmd__nego_conn_new(f->nego);
    struct client cl;
    client_init(&cl, "bob", "builder", 1);
    char *authz = client_step(&cl, NULL);
    unsigned char *tok;
    size_t tl;
    char scheme[16];
    assert_int_equal(wsmd__nego_parse_header(authz, scheme, sizeof(scheme), &tok, &tl), WSM_OK);
    assert_int_equal(wsmd__nego_token_kind(tok, tl), WSMD_TOKEN_SPNEGO_INIT);
    free(tok);
    free(authz);
    gss_delete_sec_context(&(OM_uint32){0}, &cl.ctx, GSS_C_NO_BUFFER);
    assert_int_equal(handshake(&cl, c), WSM_OK);
    assert_int_equal(cl.maj, GSS_S_COMPLETE);
    assert_string_equal(wsmd__nego_user(c), "bob");
    assert_string_equal(wsmd__nego_mech(c), "NTLM");
    /* SPNEGO's mechListMIC used the context already: GSSAPI seals. */
    assert_false(wsmd__nego_ntlm_fast(c));
    exchange(&cl, c, 3, 1500, 1 << 20);
    client_free(&cl);
    wsmd__nego_conn_free(c);
}

/* Hundreds of sealed messages each way on one context: the sequence
 * numbers and RC4 states of ntlmseal.c and gss-ntlmssp stay in step; and
 * the same through GSSAPI on both sides (gss_only). */
static void test_ntlm_long(void **state)
{
    struct fixture *f = *state;
    for (int gss_only = 0; gss_only < 2; gss_only++) {
        struct wsmd_nego_conn *c = wsmd__nego_conn_new(f->nego);
        if (gss_only)
            wsmd__nego_conn_gss_only(c);
        struct client cl;
        client_init(&cl, "alice", PASSWORD, 0);
        assert_int_equal(handshake(&cl, c), WSM_OK);
        assert_int_equal(wsmd__nego_ntlm_fast(c), !gss_only);
        for (size_t size = 1; size < 4000; size = size * 3 + 1)
            exchange(&cl, c, 40, size, 1 << 20);
        exchange(&cl, c, 2, 40000, 16384); /* x-multi-encrypted parts in between */
        exchange(&cl, c, 100, 700, 1 << 20);
        client_free(&cl);
        wsmd__nego_conn_free(c);
    }
}

static void test_ntlm_names(void **state)
{
    struct fixture *f = *state;
    /* NTLM names are case-insensitive; a domain is ignored for users of
     * the file (they have none). */
    static const char *const ok[] = {"ALICE", "Alice", "WORKGROUP\\alice", ".\\alice"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct wsmd_nego_conn *c = wsmd__nego_conn_new(f->nego);
        struct client cl;
        client_init(&cl, ok[i], PASSWORD, 0);
        assert_int_equal(handshake(&cl, c), WSM_OK);
        assert_string_equal(wsmd__nego_user(c), "alice");
        exchange(&cl, c, 1, 100, 1 << 20);
        client_free(&cl);
        wsmd__nego_conn_free(c);
    }
}

static void test_ntlm_refused(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *user, *pw;
    } bad[] = {
        {"alice", "secret123!"}, /* wrong password */
        {"alice", "builder"},    /* bob's */
        {"bob", PASSWORD},       /* alice's */
        {"mallory", PASSWORD},   /* unknown */
        {"carol", "anything"},   /* no NT hash in the file */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct wsmd_nego_conn *c = wsmd__nego_conn_new(f->nego);
        struct client cl;
        client_init(&cl, bad[i].user, bad[i].pw, 0);
        assert_int_equal(handshake(&cl, c), WSM_ERR_AUTH);
        assert_null(wsmd__nego_user(c));
        assert_false(wsmd__nego_can_seal(c));
        char *out = NULL, *body;
        size_t n;
        const char *ct;
        assert_int_equal(wsmd__nego_wrap(c, "x", 1, &body, &n, &ct), WSM_ERR_AUTH);
        assert_int_equal(wsmd__nego_unwrap(c, wsm__mpenc_content_type_str(WSM_MPENC_SPNEGO),
                                           (const unsigned char *)"x", 1, 100, &out, &n),
                         WSM_ERR_AUTH);
        client_free(&cl);
        wsmd__nego_conn_free(c);
    }
}

/* The handshake belongs to its connection: the client's authenticate
 * message on another connection is refused, and so is a replay. */
static void test_ntlm_connection_bound(void **state)
{
    struct fixture *f = *state;
    struct wsmd_nego_conn *c1 = wsmd__nego_conn_new(f->nego), *c2 = wsmd__nego_conn_new(f->nego);
    struct client cl;
    client_init(&cl, "alice", PASSWORD, 0);
    char *www = NULL;
    int done = 0;
    char *type1 = client_step(&cl, NULL);
    assert_int_equal(wsmd__nego_step(c1, type1, &www, &done), WSM_OK);
    assert_false(done);
    assert_non_null(www);
    assert_memory_equal(www, "Negotiate TlRMTVNTUAACAAAA", 26); /* NTLMSSP, type 2 */
    char *type3 = client_step(&cl, www);
    free(www);
    /* On another connection: nothing to continue. */
    assert_int_equal(wsmd__nego_step(c2, type3, &www, &done), WSM_ERR_AUTH);
    assert_null(www);
    /* On its own connection: fine. */
    assert_int_equal(wsmd__nego_step(c1, type3, &www, &done), WSM_OK);
    assert_true(done);
    assert_null(www); /* raw NTLM has no final token */
    assert_string_equal(wsmd__nego_user(c1), "alice");
    /* Replayed on the established connection: refused, and the
     * connection's authentication is dropped. */
    assert_int_equal(wsmd__nego_step(c1, type3, &www, &done), WSM_ERR_AUTH);
    assert_null(wsmd__nego_user(c1));
    /* Replayed after a fresh type 1 (another challenge): refused. */
    assert_int_equal(wsmd__nego_step(c2, type1, &www, &done), WSM_OK);
    free(www);
    assert_int_equal(wsmd__nego_step(c2, type3, &www, &done), WSM_ERR_AUTH);
    assert_null(wsmd__nego_user(c2));
    free(type1);
    free(type3);
    client_free(&cl);
    wsmd__nego_conn_free(c1);
    wsmd__nego_conn_free(c2);
}

/* pywinrm's own messages from the captures: its negotiate message gets a
 * challenge; its authenticate message (made for another server's
 * challenge) is refused. */
static void test_pywinrm_capture(void **state)
{
    struct fixture *f = *state;
    struct wsmd_nego_conn *c = wsmd__nego_conn_new(f->nego);
    char *www = NULL;
    int done = 0;
    assert_int_equal(
        wsmd__nego_step(
            c, "Negotiate TlRMTVNTUAABAAAAMpCI4gAAAAAoAAAAAAAAACgAAAAGAbEdAAAADw==", &www, &done),
        WSM_OK);
    assert_false(done);
    assert_non_null(www);
    assert_memory_equal(www, "Negotiate TlRMTVNTUAACAAAA", 26);
    free(www);
    assert_int_equal(
        wsmd__nego_step(c,
                        "Negotiate "
                        "TlRMTVNTUAADAAAAGAAYAGQAAABoAGgAfAAAAAAAAABYAAAADAAMAFgAAAAAAAAAZAAAABAAEA"
                        "DkAAAAL4KK4gY"
                        "BsR0AAAAPxhkH9DZoCBINHh5sg9SGJ3QAZQBzAHQAZQByAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                        "AAAAGY8wmwZEU"
                        "abyhgrhXE/KSwBAQAAAAAAADDHWNFMfN0BPLx13zOv/"
                        "QMAAAAAAgAIAEYAQQBLAEUAAQAQAEYAQQBLAEUASABPAF"
                        "MAVAAHAAgAMMdY0Ux83QEGAAQAAgAAAAAAAAAAAAAAQ6+TF3GHh5lOR+RKMPtAPw==",
                        &www, &done),
        WSM_ERR_AUTH);
    assert_null(wsmd__nego_user(c));
    wsmd__nego_conn_free(c);
}

int main(void)
{
    /* The user file is the only source of NTLM credentials. */
    unsetenv("NTLM_USER_FILE");
    const struct CMUnitTest tests[] = {
        T(test_ntlm_raw),        T(test_ntlm_spnego),  T(test_ntlm_long),
        T(test_ntlm_names),      T(test_ntlm_refused), T(test_ntlm_connection_bound),
        T(test_pywinrm_capture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
