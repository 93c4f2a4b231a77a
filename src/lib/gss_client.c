/* The client side of HTTP Negotiate over GSSAPI. See gss_client.h.
 *
 * libgssapi_krb5 is loaded with dlopen at the first handshake, never at
 * start: a program that speaks Basic never maps it (nor gss-ntlmssp and
 * the OpenSSL it pulls in). The sealing mirrors what wsmd's
 * src/daemon/negotiate.c accepts and writes: NTLM with gss_wrap (16-byte
 * signature, then the sealed bytes), Kerberos with gss_wrap_iov (the
 * HEADER is the signature; DATA sealed in place; PADDING after it); that
 * code (wsm__gss_seal, wsm__gss_unseal) is in gss_seal.c. */
#include "gss_client.h"

#include <dlfcn.h>
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "gss_client_priv.h"
#include "gssload.h"
#include "mpenc.h"
#include "ntlmseal.h"

/* Legs of one handshake we go along with (NTLM: 2, SPNEGO: 2 or 3). */
#define MAX_STEPS 8

/* GSSAPI's words for maj/min, appended to err after what. */
void wsm__gss_error(char *err, size_t errlen, const char *what, OM_uint32 maj, OM_uint32 min)
{
    size_t o = 0;
    if (!err || !errlen)
        return;
    int n = snprintf(err, errlen, "%s", what);
    o = n > 0 && (size_t)n < errlen ? (size_t)n : errlen - 1;
    for (int pass = 0; pass < 2; pass++) {
        OM_uint32 code = pass ? min : maj, more = 0, m2;
        int type = pass ? GSS_C_MECH_CODE : GSS_C_GSS_CODE;
        if (pass && !min)
            break;
        do {
            gss_buffer_desc b = GSS_C_EMPTY_BUFFER;
            if (GSS_ERROR(wsm__gss.display_status(&m2, code, type, GSS_C_NO_OID, &more, &b)))
                break;
            if (o + 3 < errlen) {
                err[o++] = ':';
                err[o++] = ' ';
            }
            for (size_t i = 0; i < b.length && o + 1 < errlen; i++) {
                char ch = ((const char *)b.value)[i];
                err[o++] = (ch < 0x20 || ch == 0x7f) ? '?' : ch;
            }
            err[o] = '\0';
            wsm__gss.release_buffer(&m2, &b);
        } while (more);
    }
}

struct wsm_gss_cred;
static void kinit_hint(const struct wsm_gss_cred *c, OM_uint32 maj, char *err, size_t errlen);

void wsm__gss_ctx_set_no_tab(struct wsm_gss_ctx *x, int no_tab)
{
    x->no_tab = no_tab;
}

static char *dup_or_null(const char *s, int *fail)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *fail = 1;
    return d;
}

enum wsm_err wsm__gss_cred_new(enum wsm_gss_kind kind, const char *user, const char *password,
                               const char *host, const char *spn, struct wsm_gss_cred **out)
{
    if (!host && !spn)
        return WSM_ERR_INVALID_ARG;
    struct wsm_gss_cred *c = calloc(1, sizeof(*c));
    if (!c)
        return WSM_ERR_NOMEM;
    int fail = 0;
    c->kind = kind;
    c->user = dup_or_null(user && *user ? user : NULL, &fail);
    c->password = dup_or_null(password, &fail);
    if (spn) {
        c->target = dup_or_null(spn, &fail);
    } else if ((c->target = malloc(strlen(host) + 6))) {
        strcpy(c->target, "HTTP@");
        strcat(c->target, host);
    } else {
        fail = 1;
    }
    pthread_mutex_init(&c->mu, NULL);
    c->cred = GSS_C_NO_CREDENTIAL;
    c->target_name = GSS_C_NO_NAME;
    if (fail) {
        wsm__gss_cred_free(c);
        return WSM_ERR_NOMEM;
    }
    *out = c;
    return WSM_OK;
}

enum wsm_err wsm__gss_cred_set_spn(struct wsm_gss_cred *c, const char *spn)
{
    char *t = spn ? strdup(spn) : NULL;
    if (!t)
        return spn ? WSM_ERR_NOMEM : WSM_ERR_INVALID_ARG;
    pthread_mutex_lock(&c->mu);
    if (c->acquired) {
        pthread_mutex_unlock(&c->mu);
        free(t);
        return WSM_ERR_INVALID_ARG; /* too late: contexts were made */
    }
    free(c->target);
    c->target = t;
    pthread_mutex_unlock(&c->mu);
    return WSM_OK;
}

enum wsm_err wsm__gss_cred_set_keytab(struct wsm_gss_cred *c, const char *path)
{
    char *t = path ? strdup(path) : NULL;
    if (!t)
        return path ? WSM_ERR_NOMEM : WSM_ERR_INVALID_ARG;
    pthread_mutex_lock(&c->mu);
    if (c->acquired) {
        pthread_mutex_unlock(&c->mu);
        free(t);
        return WSM_ERR_INVALID_ARG;
    }
    free(c->client_keytab);
    c->client_keytab = t;
    pthread_mutex_unlock(&c->mu);
    return WSM_OK;
}

void wsm__gss_cred_free(struct wsm_gss_cred *c)
{
    OM_uint32 min;
    if (!c)
        return;
    if (wsm__gss_loaded()) {
        if (c->cred != GSS_C_NO_CREDENTIAL)
            wsm__gss.release_cred(&min, &c->cred);
        if (c->target_name != GSS_C_NO_NAME)
            wsm__gss.release_name(&min, &c->target_name);
    }
    if (c->password) {
        explicit_bzero(c->password, strlen(c->password));
        free(c->password);
    }
    free(c->user);
    free(c->target);
    free(c->client_keytab);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

const char *wsm__gss_scheme(const struct wsm_gss_cred *c)
{
    return c->kind == WSM_GSS_KERBEROS ? "Kerberos" : "Negotiate";
}

const char *wsm__gss_scheme_of_ctx(const struct wsm_gss_ctx *x)
{
    return wsm__gss_scheme(x->c);
}

static gss_OID mech_of(enum wsm_gss_kind k)
{
    return k == WSM_GSS_NTLM       ? &wsm__oid_ntlm
           : k == WSM_GSS_KERBEROS ? &wsm__oid_krb5
                                   : &wsm__oid_spnego;
}

/* Under c->mu, once. */
static void acquire(struct wsm_gss_cred *c)
{
    OM_uint32 maj, min;
    char *err = c->error;
    size_t errlen = sizeof(c->error);
    c->acquired = 1;
    c->status = WSM_ERR_AUTH;
    if (!wsm__gss_load()) {
        snprintf(err, errlen, "%s", wsm__gss_load_error());
        return;
    }
    gss_buffer_desc tb = {strlen(c->target), c->target};
    maj = wsm__gss.import_name(&min, &tb, &wsm__oid_nt_hostbased, &c->target_name);
    if (GSS_ERROR(maj)) {
        wsm__gss_error(err, errlen, "the target name", maj, min);
        return;
    }
    gss_name_t un = GSS_C_NO_NAME;
    if (c->user) {
        gss_buffer_desc ub = {strlen(c->user), c->user};
        maj = wsm__gss.import_name(&min, &ub, &wsm__oid_nt_user, &un);
        if (GSS_ERROR(maj)) {
            wsm__gss_error(err, errlen, "the user name", maj, min);
            return;
        }
    }
    gss_OID_set_desc mechs = {1, mech_of(c->kind)};
    if (c->password) {
        gss_buffer_desc pb = {strlen(c->password), c->password};
        maj = wsm__gss.acquire_cred_with_password(&min, un, &pb, GSS_C_INDEFINITE, &mechs,
                                                  GSS_C_INITIATE, &c->cred, NULL, NULL);
    } else if (c->client_keytab) {
        /* A service with a keytab (the forwarder's machine principal): the
         * ticket is got from the key, into a cache of this credential's
         * own, without touching the process's environment. */
        snprintf(c->ccache, sizeof(c->ccache), "MEMORY:wsm-%p", (void *)c);
        gss_key_value_element_desc kv[2] = {{"client_keytab", c->client_keytab},
                                            {"ccache", c->ccache}};
        gss_key_value_set_desc store = {2, kv};
        maj = wsm__gss.acquire_cred_from(&min, un, GSS_C_INDEFINITE, &mechs, GSS_C_INITIATE, &store,
                                         &c->cred, NULL, NULL);
    } else if (un != GSS_C_NO_NAME || c->kind == WSM_GSS_SPNEGO) {
        maj = wsm__gss.acquire_cred(&min, un, GSS_C_INDEFINITE, &mechs, GSS_C_INITIATE, &c->cred,
                                    NULL, NULL);
    } else {
        maj = GSS_S_COMPLETE; /* the mechanism's default credentials, at the first step */
    }
    if (un != GSS_C_NO_NAME)
        wsm__gss.release_name(&min, &un);
    if (GSS_ERROR(maj)) {
        const char *what = c->kind == WSM_GSS_KERBEROS ? "no Kerberos credentials"
                           : c->kind == WSM_GSS_NTLM
                               ? "no NTLM credentials (is gss-ntlmssp installed?)"
                               : "no Kerberos or NTLM credentials";
        wsm__gss_error(err, errlen, what, maj, min);
        kinit_hint(c, maj, err, errlen);
        c->cred = GSS_C_NO_CREDENTIAL;
        return;
    }
    if (c->kind == WSM_GSS_SPNEGO && c->cred != GSS_C_NO_CREDENTIAL) {
        /* Kerberos first, as Windows; NTLM when Kerberos has nothing. */
        gss_OID_desc inner[2] = {wsm__oid_krb5, wsm__oid_ntlm};
        gss_OID_set_desc neg = {2, inner};
        wsm__gss.set_neg_mechs(&min, c->cred, &neg);
    }
    c->status = WSM_OK;
    err[0] = '\0';
}

enum wsm_err wsm__gss_ctx_new(struct wsm_gss_cred *c, struct wsm_gss_ctx **out, char *err,
                              size_t errlen)
{
    pthread_mutex_lock(&c->mu);
    if (!c->acquired)
        acquire(c);
    enum wsm_err e = c->status;
    if (e && err && errlen)
        snprintf(err, errlen, "%s", c->error);
    pthread_mutex_unlock(&c->mu);
    if (e)
        return e;
    struct wsm_gss_ctx *x = calloc(1, sizeof(*x));
    if (!x)
        return WSM_ERR_NOMEM;
    x->c = c;
    x->ctx = GSS_C_NO_CONTEXT;
    *out = x;
    return WSM_OK;
}

void wsm__gss_ctx_free(struct wsm_gss_ctx *x)
{
    OM_uint32 min;
    if (!x)
        return;
    if (x->ctx != GSS_C_NO_CONTEXT)
        wsm__gss.delete_sec_context(&min, &x->ctx, GSS_C_NO_BUFFER);
    free(x->cb);
    if (x->fast) {
        wsm__ntlm_seal_clear(x->fast);
        free(x->fast);
    }
    free(x);
}

enum wsm_err wsm__gss_ctx_set_bindings(struct wsm_gss_ctx *x, const unsigned char *data, size_t len)
{
    if (x->steps || !len)
        return WSM_ERR_INVALID_ARG;
    unsigned char *d = malloc(len);
    if (!d)
        return WSM_ERR_NOMEM;
    memcpy(d, data, len);
    free(x->cb);
    x->cb = d;
    x->cb_len = len;
    return WSM_OK;
}

static char *authz_line(const char *scheme, const gss_buffer_desc *b)
{
    static const char pre[] = "Authorization: ";
    size_t n = sizeof(pre) - 1 + strlen(scheme) + 1 + wsm__base64_enclen(b->length) + 3;
    char *h = malloc(n);
    if (!h)
        return NULL;
    int k = snprintf(h, n, "%s%s ", pre, scheme);
    wsm__base64_encode(b->value, b->length, h + k);
    strcat(h, "\r\n");
    return h;
}

/* NTLM sealing without GSSAPI (as wsmd's negotiate.c does, see there):
 * gss-ntlmssp's gss_wrap/gss_unwrap cost tens of microseconds a message in
 * OpenSSL key set-up; ntlmseal.c does the same with nettle. Its initiator
 * derives the keys from the CHALLENGE's flags less those it did not ask
 * for, and sends its own in the AUTHENTICATE message: only when both agree
 * on every flag that matters, and ntlmseal.c implements them, is the
 * exported session key taken; anything else keeps gss_wrap. Raw NTLM
 * only: SPNEGO's mechListMIC has used the context's sequence numbers and
 * RC4 state already. */
static void ntlm_note_flags(struct wsm_gss_ctx *x, const unsigned char *in, size_t inlen,
                            const gss_buffer_desc *ob)
{
    uint32_t f;
    if (inlen && wsm__ntlm_token_flags(in, inlen, 2, &f) == 0) {
        x->chal_flags = f;
        x->have_chal = 1;
    }
    if (ob->length && wsm__ntlm_token_flags(ob->value, ob->length, 3, &f) == 0) {
        x->auth_flags = f;
        x->have_auth = 1;
    }
}

static void ntlm_fast_setup(struct wsm_gss_ctx *x)
{
    OM_uint32 maj, min;
    if (!wsm__gss.inquire_sec_context_by_oid || !x->have_chal || !x->have_auth ||
        ((x->chal_flags ^ x->auth_flags) & WSM_NTLM_CRYPTO_FLAGS) ||
        !wsm__ntlm_flags_ok(x->auth_flags))
        return;
    gss_buffer_set_t set = GSS_C_NO_BUFFER_SET;
    maj = wsm__gss.inquire_sec_context_by_oid(&min, x->ctx, &wsm__oid_inq_session_key, &set);
    if (!GSS_ERROR(maj) && set && set->count >= 1 && set->elements[0].length == WSM_NTLM_KEY_LEN &&
        (x->fast = malloc(sizeof(*x->fast))))
        wsm__ntlm_seal_init(x->fast, set->elements[0].value, x->auth_flags, 1);
    if (set) {
        for (size_t i = 0; i < set->count; i++)
            explicit_bzero(set->elements[i].value, set->elements[i].length);
        wsm__gss.release_buffer_set(&min, &set);
    }
}

enum wsm_err wsm__gss_step(struct wsm_gss_ctx *x, const unsigned char *in, size_t inlen,
                           char **authz, int *done, char *err, size_t errlen)
{
    OM_uint32 maj, min, flags = 0;
    *authz = NULL;
    *done = x->done;
    if (x->done) {
        /* A token after the end: nothing GSSAPI would take. */
        if (inlen) {
            snprintf(err, errlen, "the server sent a token after the handshake ended");
            return WSM_ERR_AUTH;
        }
        return WSM_OK;
    }
    if (++x->steps > MAX_STEPS || (x->steps > 1 && !inlen)) {
        snprintf(err, errlen, "the server %s",
                 inlen ? "drew the handshake out too long" : "sent no token to go on with");
        return WSM_ERR_AUTH;
    }
    gss_buffer_desc ib = {inlen, (void *)in}, ob = GSS_C_EMPTY_BUFFER;
    gss_OID actual = GSS_C_NO_OID;
    OM_uint32 want = GSS_C_MUTUAL_FLAG | GSS_C_SEQUENCE_FLAG | GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG;
    /* Channel bindings (https): the same at every step, addresses unset. */
    struct gss_channel_bindings_struct cbs;
    memset(&cbs, 0, sizeof(cbs));
    cbs.application_data.length = x->cb_len;
    cbs.application_data.value = x->cb;
    maj =
        wsm__gss.init_sec_context(&min, x->c->cred, &x->ctx, x->c->target_name, mech_of(x->c->kind),
                                  want, 0, x->cb ? &cbs : GSS_C_NO_CHANNEL_BINDINGS,
                                  inlen ? &ib : GSS_C_NO_BUFFER, &actual, &ob, &flags, NULL);
    if (GSS_ERROR(maj)) {
        wsm__gss_error(err, errlen, "authentication failed", maj, min);
        kinit_hint(x->c, maj, err, errlen);
        wsm__gss.release_buffer(&min, &ob);
        return WSM_ERR_AUTH;
    }
    ntlm_note_flags(x, in, inlen, &ob);
    if (ob.length) {
        *authz = authz_line(wsm__gss_scheme(x->c), &ob);
        wsm__gss.release_buffer(&min, &ob);
        if (!*authz)
            return WSM_ERR_NOMEM;
    } else {
        wsm__gss.release_buffer(&min, &ob);
        if (maj & GSS_S_CONTINUE_NEEDED) {
            snprintf(err, errlen, "GSSAPI wants to go on but has nothing to send");
            return WSM_ERR_AUTH;
        }
    }
    if (!(maj & GSS_S_CONTINUE_NEEDED)) {
        x->done = *done = 1;
        x->ntlm = wsm__gss_oid_eq(actual, &wsm__oid_ntlm);
        x->can_seal = (flags & GSS_C_CONF_FLAG) && (flags & GSS_C_INTEG_FLAG);
        if (x->ntlm && x->can_seal && x->c->kind == WSM_GSS_NTLM && !x->gss_only)
            ntlm_fast_setup(x);
    }
    return WSM_OK;
}

int wsm__gss_ntlm_fast(const struct wsm_gss_ctx *x)
{
    return x && x->done && x->fast != NULL;
}

void wsm__gss_ctx_gss_only(struct wsm_gss_ctx *x)
{
    x->gss_only = 1;
}

int wsm__gss_can_seal(const struct wsm_gss_ctx *x)
{
    return x && x->done && x->can_seal;
}

int wsm__gss_is_ntlm(const struct wsm_gss_ctx *x)
{
    return x && x->ntlm;
}

/* Kerberos (or SPNEGO) from the ticket cache, and no ticket there: the
 * fix is kinit, and the message says so. */
static void kinit_hint(const struct wsm_gss_cred *c, OM_uint32 maj, char *err, size_t errlen)
{
    if (!err || !errlen || c->password || c->kind == WSM_GSS_NTLM)
        return;
    if (GSS_ROUTINE_ERROR(maj) != GSS_S_NO_CRED && !strstr(err, "No Kerberos credentials") &&
        !strstr(err, "credentials cache") && !strstr(err, "No credentials"))
        return;
    size_t o = strlen(err);
    snprintf(err + o, errlen - o, " (no Kerberos ticket: run kinit%s%s first)", c->user ? " " : "",
             c->user ? c->user : "");
}
