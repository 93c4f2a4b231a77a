/* Unit tests for Negotiate authentication and message encryption
 * (src/daemon/negotiate.c): a GSSAPI initiator (gss-ntlmssp with a user
 * name and password, as pywinrm's NTLM) and the wsmd acceptor in one
 * process, through the Authorization / WWW-Authenticate values and the
 * multipart/encrypted bodies exactly as they would cross HTTP. */
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
#include "negotiate.h"
#include "userfile.h"
#include "tmpdir.h"

static gss_OID_desc ntlm_oid = {10, (void *)"\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a"};
static gss_OID_desc spnego_oid = {6, (void *)"\x2b\x06\x01\x05\x05\x02"};

#define PASSWORD "Secret123!"

struct fixture {
    char dir[256];
    char path[300];
    struct wsmd_nego *nego;
};

static void write_users(struct fixture *f, const char *const *names, const char *const *pws,
                        size_t n)
{
    struct wsmd_userfile uf = {0};
    for (size_t i = 0; i < n; i++)
        assert_int_equal(wsmd__userfile_set(&uf, names[i], pws[i]), WSM_OK);
    assert_int_equal(wsmd__userfile_save(f->path, &uf), WSM_OK);
    wsmd__userfile_clear(&uf);
}

static void append_line(struct fixture *f, const char *line)
{
    FILE *fp = fopen(f->path, "a");
    assert_non_null(fp);
    fprintf(fp, "%s\n", line);
    fclose(fp);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    if (test_tmpdir_make(f->dir, sizeof(f->dir), "nego")) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/users", f->dir);
    static const char *const names[] = {"alice", "bob"};
    static const char *const pws[] = {PASSWORD, "builder"};
    write_users(f, names, pws, 2);
    append_line(f, "carol:$y$j9T$legacy$nontlmfield"); /* no NT hash */
    struct wsmd_nego_config cfg = {.users_path = f->path, .service = "HTTP@localhost"};
    enum wsm_err e = wsmd__nego_new(&cfg, &f->nego);
    if (e) {
        fprintf(stderr, "wsmd__nego_new: %s (is gss-ntlmssp installed?)\n", wsm_strerror(e));
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

/* ---- the client side: what pywinrm (or a GSSAPI client) does ----------- */

struct client {
    gss_cred_id_t cred;
    gss_name_t target;
    gss_ctx_id_t ctx;
    gss_OID mech;
    const char *scheme;
    OM_uint32 maj; /* of the last init call */
};

static void client_init(struct client *cl, const char *user, const char *pw, int spnego)
{
    OM_uint32 maj, min;
    memset(cl, 0, sizeof(*cl));
    cl->ctx = GSS_C_NO_CONTEXT;
    cl->mech = spnego ? &spnego_oid : &ntlm_oid;
    cl->scheme = "Negotiate";
    gss_buffer_desc tb = {strlen("HTTP@localhost"), (void *)"HTTP@localhost"};
    maj = gss_import_name(&min, &tb, GSS_C_NT_HOSTBASED_SERVICE, &cl->target);
    assert_int_equal(maj, GSS_S_COMPLETE);
    gss_name_t un;
    gss_buffer_desc ub = {strlen(user), (void *)user}, pb = {strlen(pw), (void *)pw};
    maj = gss_import_name(&min, &ub, GSS_C_NT_USER_NAME, &un);
    assert_int_equal(maj, GSS_S_COMPLETE);
    gss_OID_set_desc mechs = {1, cl->mech};
    maj = gss_acquire_cred_with_password(&min, un, &pb, GSS_C_INDEFINITE, &mechs, GSS_C_INITIATE,
                                         &cl->cred, NULL, NULL);
    assert_int_equal(maj, GSS_S_COMPLETE);
    gss_release_name(&min, &un);
    if (spnego) {
        gss_OID_set_desc neg = {1, &ntlm_oid};
        assert_int_equal(gss_set_neg_mechs(&min, cl->cred, &neg), GSS_S_COMPLETE);
    }
}

static void client_free(struct client *cl)
{
    OM_uint32 min;
    gss_delete_sec_context(&min, &cl->ctx, GSS_C_NO_BUFFER);
    gss_release_cred(&min, &cl->cred);
    gss_release_name(&min, &cl->target);
}

/* Feeds the server's WWW-Authenticate (NULL at first); returns the next
 * Authorization value (malloc'd) or NULL when the client has nothing to
 * send. */
static char *client_step(struct client *cl, const char *www)
{
    OM_uint32 min;
    gss_buffer_desc in = GSS_C_EMPTY_BUFFER, out = GSS_C_EMPTY_BUFFER;
    unsigned char raw[65536];
    if (www) {
        size_t sl = strlen(cl->scheme), n;
        assert_int_equal(strncmp(www, cl->scheme, sl), 0);
        assert_int_equal(www[sl], ' ');
        assert_int_equal(
            wsm__base64_decode(www + sl + 1, strlen(www + sl + 1), raw, sizeof(raw), &n), WSM_OK);
        in.value = raw;
        in.length = n;
    }
    cl->maj = gss_init_sec_context(&min, cl->cred, &cl->ctx, cl->target, cl->mech,
                                   GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG | GSS_C_MUTUAL_FLAG |
                                       GSS_C_SEQUENCE_FLAG,
                                   0, GSS_C_NO_CHANNEL_BINDINGS, &in, NULL, &out, NULL, NULL);
    assert_false(GSS_ERROR(cl->maj));
    if (out.length == 0) {
        gss_release_buffer(&min, &out);
        return NULL;
    }
    size_t sl = strlen(cl->scheme);
    char *h = malloc(sl + 2 + wsm__base64_enclen(out.length));
    assert_non_null(h);
    memcpy(h, cl->scheme, sl);
    h[sl] = ' ';
    wsm__base64_encode(out.value, out.length, h + sl + 1);
    gss_release_buffer(&min, &out);
    return h;
}

/* Runs the handshake; returns the result of the last server step. */
static enum wsm_err handshake(struct client *cl, struct wsmd_nego_conn *c)
{
    char *www = NULL;
    enum wsm_err e = WSM_OK;
    for (int leg = 0; leg < 4; leg++) {
        char *authz = client_step(cl, www);
        free(www);
        www = NULL;
        if (!authz)
            break;
        int done = 0;
        e = wsmd__nego_step(c, authz, &www, &done);
        free(authz);
        if (e)
            break;
        if (done) {
            if (www) /* SPNEGO's final token: the client must see it */
                assert_null(client_step(cl, www));
            break;
        }
        /* A challenge goes out with a 401 and always carries a token. */
        assert_non_null(www);
    }
    free(www);
    return e;
}

/* The client seals msg as pywinrm does (signature first); returns the body. */
static char *client_seal(struct client *cl, const char *msg, size_t n, size_t chunk, size_t *len)
{
    OM_uint32 maj, min;
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    size_t off = 0;
    do {
        size_t k = n - off < chunk ? n - off : chunk;
        gss_buffer_desc in = {k, (void *)(msg + off)}, w = GSS_C_EMPTY_BUFFER;
        int conf = 0;
        maj = gss_wrap(&min, cl->ctx, 1, GSS_C_QOP_DEFAULT, &in, &conf, &w);
        assert_int_equal(maj, GSS_S_COMPLETE);
        assert_true(conf);
        assert_int_equal(w.length, k + 16);
        const unsigned char *wv = w.value;
        assert_int_equal(wsm__mpenc_build_part(&b, WSM_MPENC_SPNEGO, k, wv, 16, wv + 16, k),
                         WSM_OK);
        gss_release_buffer(&min, &w);
        off += k;
    } while (off < n);
    assert_int_equal(wsm__mpenc_build_end(&b), WSM_OK);
    return wsm__buf_steal(&b, len);
}

/* The client opens a reply as pywinrm's _decrypt_ntlm_message does. */
static char *client_open(struct client *cl, const char *ct, const char *body, size_t len, size_t *n)
{
    OM_uint32 maj, min;
    enum wsm_mpenc_proto p;
    int multi;
    assert_int_equal(wsm__mpenc_content_type(ct, &p, &multi), WSM_OK);
    assert_int_equal(p, WSM_MPENC_SPNEGO);
    assert_int_equal(multi, 0);
    struct wsm_mpenc_part part;
    size_t np;
    assert_int_equal(
        wsm__mpenc_parse((const unsigned char *)body, len, p, 0, 1 << 20, &part, 1, &np), WSM_OK);
    assert_int_equal(part.sig_len, 16);
    unsigned char *t = malloc(part.sig_len + part.sealed_len);
    memcpy(t, part.sig, part.sig_len);
    memcpy(t + part.sig_len, part.sealed, part.sealed_len);
    gss_buffer_desc in = {part.sig_len + part.sealed_len, t}, out = GSS_C_EMPTY_BUFFER;
    int conf = 0;
    maj = gss_unwrap(&min, cl->ctx, &in, &out, &conf, NULL);
    assert_int_equal(maj, GSS_S_COMPLETE);
    assert_true(conf);
    assert_int_equal(out.length, part.orig_len);
    char *r = malloc(out.length + 1);
    memcpy(r, out.value, out.length);
    r[out.length] = '\0';
    *n = out.length;
    gss_release_buffer(&min, &out);
    free(t);
    return r;
}

/* Request and reply, both sealed, n times over. */
static void exchange(struct client *cl, struct wsmd_nego_conn *c, int rounds, size_t size,
                     size_t chunk)
{
    char *msg = malloc(size + 1);
    for (int r = 0; r < rounds; r++) {
        for (size_t i = 0; i < size; i++)
            msg[i] = (char)('A' + (i + (size_t)r) % 26);
        msg[size] = '\0';
        size_t len, plen, blen, n;
        char *body = client_seal(cl, msg, size, chunk, &len);
        const char *ct = chunk < size ? "multipart/x-multi-encrypted;protocol=\"application/"
                                        "HTTP-SPNEGO-session-encrypted\";boundary=\"Encrypted "
                                        "Boundary\""
                                      : wsm__mpenc_content_type_str(WSM_MPENC_SPNEGO);
        assert_true(wsmd__nego_body_encrypted(ct));
        char *plain = NULL;
        assert_int_equal(
            wsmd__nego_unwrap(c, ct, (unsigned char *)body, len, 1 << 20, &plain, &plen), WSM_OK);
        assert_int_equal(plen, size);
        assert_memory_equal(plain, msg, size);
        assert_int_equal(plain[plen], '\0');
        free(body);
        /* The reply: the same text backwards. */
        for (size_t i = 0; i < plen / 2; i++) {
            char t = plain[i];
            plain[i] = plain[plen - 1 - i];
            plain[plen - 1 - i] = t;
        }
        char *rbody;
        const char *rct;
        assert_int_equal(wsmd__nego_wrap(c, plain, plen, &rbody, &blen, &rct), WSM_OK);
        assert_string_equal(rct, wsm__mpenc_content_type_str(WSM_MPENC_SPNEGO));
        char *back = client_open(cl, rct, rbody, blen, &n);
        assert_int_equal(n, plen);
        assert_memory_equal(back, plain, n);
        free(back);
        free(rbody);
        free(plain);
    }
    free(msg);
}

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
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_ntlm_raw),
        T(test_ntlm_spnego),
        T(test_ntlm_long),
        T(test_ntlm_names),
        T(test_ntlm_refused),
        T(test_ntlm_connection_bound),
        T(test_pywinrm_capture),
        T(test_tampered),
        T(test_ambiguous),
        T(test_headers),
        T(test_config),
        T(test_nthash),
        T(test_ntlm_user_of_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
