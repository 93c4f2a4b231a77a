/* Helpers of the Negotiate unit tests (test_negotiate*.c; nego_helpers.h):
 * the fixture (a user file, wsmd's acceptor) and the client side, what
 * pywinrm (or a GSSAPI client) does. */
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
#include "tmpdir.h"
#include "userfile.h"

static gss_OID_desc ntlm_oid = {10, (void *)"\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a"};
static gss_OID_desc spnego_oid = {6, (void *)"\x2b\x06\x01\x05\x05\x02"};

void write_users(struct fixture *f, const char *const *names, const char *const *pws, size_t n)
{
    struct wsmd_userfile uf = {0};
    for (size_t i = 0; i < n; i++)
        assert_int_equal(wsmd__userfile_set(&uf, names[i], pws[i]), WSM_OK);
    assert_int_equal(wsmd__userfile_save(f->path, &uf), WSM_OK);
    wsmd__userfile_clear(&uf);
}

void append_line(struct fixture *f, const char *line)
{
    FILE *fp = fopen(f->path, "a");
    assert_non_null(fp);
    fprintf(fp, "%s\n", line);
    fclose(fp);
}

int setup(void **state)
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

int teardown(void **state)
{
    struct fixture *f = *state;
    wsmd__nego_free(f->nego);
    test_tmpdir_remove(f->dir);
    free(f);
    return 0;
}

/* ---- the client side: what pywinrm (or a GSSAPI client) does ----------- */

void client_init(struct client *cl, const char *user, const char *pw, int spnego)
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

void client_free(struct client *cl)
{
    OM_uint32 min;
    gss_delete_sec_context(&min, &cl->ctx, GSS_C_NO_BUFFER);
    gss_release_cred(&min, &cl->cred);
    gss_release_name(&min, &cl->target);
}

/* Feeds the server's WWW-Authenticate (NULL at first); returns the next
 * Authorization value (malloc'd) or NULL when the client has nothing to
 * send. */
char *client_step(struct client *cl, const char *www)
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
enum wsm_err handshake(struct client *cl, struct wsmd_nego_conn *c)
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
char *client_seal(struct client *cl, const char *msg, size_t n, size_t chunk, size_t *len)
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
char *client_open(struct client *cl, const char *ct, const char *body, size_t len, size_t *n)
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
void exchange(struct client *cl, struct wsmd_nego_conn *c, int rounds, size_t size, size_t chunk)
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
