/* HTTP Negotiate over GSSAPI (MIT krb5 + gss-ntlmssp) and WinRM message
 * encryption. See negotiate.h and docs/internals/negotiate.md. This file
 * holds the Authorization header and its tokens, the per-connection state
 * and one leg of a handshake (wsmd__nego_step); the credentials are in
 * negcred.c, a completed handshake's names in negfinish.c, the monitor's
 * side in negremote.c and sealing in negwrap.c (negotiate_priv.h). */
#include "negotiate.h"

#include <dirent.h>
#include <dlfcn.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <pthread.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64.h"
#include "buf.h"
#include "gssload.h"
#include "krb5hint.h"
#include "ntlmseal.h"
#include "server.h"
#include "userfile.h"
#include "negotiate_priv.h"

#if defined(__SANITIZE_ADDRESS__)
#define WSMD_LSAN_HOOK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WSMD_LSAN_HOOK 1
#endif
#endif
#ifdef WSMD_LSAN_HOOK
/* gss-ntlmssp and MIT krb5 leak small objects of their own (OpenSSL
 * digests fetched for each NT hash, a principal when a keytab is missing):
 * not ours to fix. LeakSanitizer reads this hook at startup. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:gssntlmssp.so\nleak:libgssapi_krb5.so\nleak:libkrb5.so\nleak:libk5crypto.so\n"
           "leak:libcrypto.so\n";
}
#endif

/* ---- logging ---------------------------------------------------------- */

static void status_text(OM_uint32 code, int type, char *out, size_t n)
{
    OM_uint32 min, more = 0;
    size_t o = 0;
    out[0] = '\0';
    do {
        gss_buffer_desc b = GSS_C_EMPTY_BUFFER;
        if (GSS_ERROR(wsm__gss.display_status(&min, code, type, GSS_C_NO_OID, &more, &b)))
            break;
        for (size_t i = 0; i < b.length && o + 2 < n; i++) {
            char ch = ((const char *)b.value)[i];
            out[o++] = (ch < 0x20 || ch == '"' || ch == 0x7f) ? '_' : ch;
        }
        if (more && o + 2 < n)
            out[o++] = ';';
        out[o] = '\0';
        wsm__gss.release_buffer(&min, &b);
    } while (more);
}

void wsmd__nego_log_gss(const char *what, OM_uint32 maj, OM_uint32 min)
{
    char a[200], b[200];
    status_text(maj, GSS_C_GSS_CODE, a, sizeof(a));
    status_text(min, GSS_C_MECH_CODE, b, sizeof(b));
    const char *hint = wsmd__krb5_hint(min);
    wsmd__log("event=negotiate-error step=%s major=\"%s\" minor=\"%s\"%s%s%s", what, a, b,
              hint ? " hint=\"" : "", hint ? hint : "", hint ? "\"" : "");
}

/* ---- tokens and headers ------------------------------------------------ */

static int der_len(const unsigned char *t, size_t n, size_t *pos, size_t *len)
{
    if (*pos >= n)
        return 0;
    unsigned char b = t[(*pos)++];
    if (b < 0x80) {
        *len = b;
        return 1;
    }
    unsigned k = b & 0x7fu;
    if (k == 0 || k > 4)
        return 0;
    size_t v = 0;
    for (unsigned i = 0; i < k; i++) {
        if (*pos >= n)
            return 0;
        v = v << 8 | t[(*pos)++];
    }
    *len = v;
    return 1;
}

enum wsmd_nego_token wsmd__nego_token_kind(const unsigned char *t, size_t n)
{
    size_t pos = 0, len;
    if (!t || n < 2)
        return WSMD_TOKEN_BAD;
    if (n >= 12 && memcmp(t, "NTLMSSP\0", 8) == 0) {
        uint32_t type =
            (uint32_t)t[8] | (uint32_t)t[9] << 8 | (uint32_t)t[10] << 16 | (uint32_t)t[11] << 24;
        return type == 1 ? WSMD_TOKEN_NTLM_NEGOTIATE : WSMD_TOKEN_NTLM_OTHER;
    }
    if (t[0] == 0x60) { /* [APPLICATION 0] IMPLICIT: thisMech, innerToken */
        pos = 1;
        if (!der_len(t, n, &pos, &len) || len != n - pos)
            return WSMD_TOKEN_BAD;
        if (pos + 2 > n || t[pos] != 0x06)
            return WSMD_TOKEN_BAD;
        size_t olen = t[pos + 1];
        pos += 2;
        if (olen > n - pos)
            return WSMD_TOKEN_BAD;
        if (olen == wsm__oid_spnego.length && memcmp(t + pos, wsm__oid_spnego.elements, olen) == 0)
            return WSMD_TOKEN_SPNEGO_INIT;
        if (olen == wsm__oid_krb5.length && memcmp(t + pos, wsm__oid_krb5.elements, olen) == 0)
            return WSMD_TOKEN_KRB5;
        return WSMD_TOKEN_BAD;
    }
    if (t[0] == 0xa1) { /* NegotiationToken: negTokenResp [1] */
        pos = 1;
        if (!der_len(t, n, &pos, &len) || len != n - pos || len == 0)
            return WSMD_TOKEN_BAD;
        return WSMD_TOKEN_SPNEGO_CONTINUE;
    }
    return WSMD_TOKEN_BAD;
}

static const char *const schemes[] = {"Negotiate", "NTLM", "Kerberos"};

static const char *scheme_of(const char *h, size_t *skip)
{
    if (!h)
        return NULL;
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t l = strlen(schemes[i]);
        if (strncasecmp(h, schemes[i], l) == 0 && (h[l] == ' ' || h[l] == '\t' || !h[l])) {
            *skip = l;
            return schemes[i];
        }
    }
    return NULL;
}

int wsmd__nego_is_scheme(const char *authz)
{
    size_t skip;
    return scheme_of(authz, &skip) != NULL;
}

enum wsm_err wsmd__nego_parse_header(const char *authz, char *scheme, size_t ssz,
                                     unsigned char **tok, size_t *toklen)
{
    size_t skip;
    const char *s = scheme_of(authz, &skip);
    if (!s || strlen(s) >= ssz)
        return WSM_ERR_AUTH;
    const char *p = authz + skip;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t len = strlen(p);
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    if (len == 0 || len > wsm__base64_enclen(MAX_TOKEN))
        return WSM_ERR_AUTH;
    unsigned char *t = malloc(len / 4 * 3 + 3);
    if (!t)
        return WSM_ERR_NOMEM;
    size_t n;
    if (wsm__base64_decode(p, len, t, len / 4 * 3 + 3, &n) != WSM_OK || n == 0) {
        free(t);
        return WSM_ERR_AUTH;
    }
    strcpy(scheme, s);
    *tok = t;
    *toklen = n;
    return WSM_OK;
}

static char *make_www(const char *scheme, const gss_buffer_desc *b)
{
    size_t sl = strlen(scheme);
    size_t n = sl + 1 + (b ? wsm__base64_enclen(b->length) : 0) + 1;
    char *w = malloc(n);
    if (!w)
        return NULL;
    memcpy(w, scheme, sl);
    if (b && b->length) {
        w[sl] = ' ';
        wsm__base64_encode(b->value, b->length, w + sl + 1);
    } else {
        w[sl] = '\0';
    }
    return w;
}

/* ---- connections ------------------------------------------------------- */

struct wsmd_nego_conn *wsmd__nego_conn_new(struct wsmd_nego *n)
{
    struct wsmd_nego_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->n = n;
    c->ctx = GSS_C_NO_CONTEXT;
    c->id = __atomic_add_fetch(&n->next_id, 1, __ATOMIC_RELAXED);
    return c;
}

void wsmd__nego_conn_set_tls(struct wsmd_nego_conn *c)
{
    if (c)
        c->tls = 1;
}

void wsmd__nego_reset(struct wsmd_nego_conn *c)
{
    OM_uint32 min;
    if (c->n->remote_free && c->state == ST_PROGRESS)
        c->n->remote_free(c->id); /* the monitor's half of the handshake */
    if (c->ctx != GSS_C_NO_CONTEXT && wsm__gss_loaded())
        wsm__gss.delete_sec_context(&min, &c->ctx, GSS_C_NO_BUFFER);
    c->ctx = GSS_C_NO_CONTEXT;
    c->state = ST_NONE;
    c->legs = 0;
    c->mech_ntlm = 0;
    c->can_seal = 0;
    c->cb_bound = 0;
    c->user[0] = '\0';
    c->principal[0] = '\0';
    c->have_chal = c->have_auth = 0;
    if (c->fast) {
        wsm__ntlm_seal_clear(c->fast);
        free(c->fast);
        c->fast = NULL;
    }
}

void wsmd__nego_conn_free(struct wsmd_nego_conn *c)
{
    if (!c)
        return;
    wsmd__nego_reset(c);
    free(c);
}

const char *wsmd__nego_user(const struct wsmd_nego_conn *c)
{
    return c && c->state == ST_DONE && c->user[0] ? c->user : NULL;
}

const char *wsmd__nego_principal(const struct wsmd_nego_conn *c)
{
    return c && c->state == ST_DONE && c->principal[0] ? c->principal : NULL;
}

const char *wsmd__nego_mech(const struct wsmd_nego_conn *c)
{
    if (!c || c->state != ST_DONE)
        return NULL;
    return c->mech_ntlm ? "NTLM" : "Kerberos";
}

int wsmd__nego_can_seal(const struct wsmd_nego_conn *c)
{
    return c && c->state == ST_DONE && c->can_seal;
}

int wsmd__nego_ntlm_fast(const struct wsmd_nego_conn *c)
{
    return c && c->state == ST_DONE && c->fast != NULL;
}

void wsmd__nego_conn_gss_only(struct wsmd_nego_conn *c)
{
    if (c)
        c->gss_only = 1;
}

enum wsm_err wsmd__nego_step(struct wsmd_nego_conn *c, const char *authz, char **www, int *done)
{
    OM_uint32 maj, min, flags = 0;
    char scheme[16];
    unsigned char *tok = NULL;
    size_t toklen = 0;
    *www = NULL;
    *done = 0;
    if (c->n->remote_step)
        return wsmd__nego_remote_step(c, authz, www, done);

    enum wsm_err e = wsmd__nego_parse_header(authz, scheme, sizeof(scheme), &tok, &toklen);
    if (e) {
        wsmd__nego_reset(c);
        return e;
    }
    if (!wsmd__nego_acquire_all(c->n)) {
        free(tok);
        wsmd__nego_reset(c);
        return WSM_ERR_AUTH;
    }
    enum wsmd_nego_token kind = wsmd__nego_token_kind(tok, toklen);
    gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
    enum conn_kind ck = K_NTLM;
    int fresh = 1;
    switch (kind) {
    case WSMD_TOKEN_NTLM_NEGOTIATE:
        cred = c->n->cred_ntlm;
        break;
    case WSMD_TOKEN_SPNEGO_INIT:
        cred = c->n->cred_spnego;
        ck = K_SPNEGO;
        break;
    case WSMD_TOKEN_KRB5:
        cred = c->n->cred_krb5;
        ck = K_KRB5;
        break;
    case WSMD_TOKEN_NTLM_OTHER:
    case WSMD_TOKEN_SPNEGO_CONTINUE:
        /* Only the connection that started the handshake may go on. */
        ck = kind == WSMD_TOKEN_NTLM_OTHER ? K_NTLM : K_SPNEGO;
        if (c->state != ST_PROGRESS || c->kind != ck || strcmp(c->scheme, scheme) != 0)
            goto refuse;
        fresh = 0;
        cred = ck == K_NTLM ? c->n->cred_ntlm : c->n->cred_spnego;
        break;
    default:
        goto refuse;
    }
    if (cred == GSS_C_NO_CREDENTIAL)
        goto refuse;
    if (kind == WSMD_TOKEN_NTLM_NEGOTIATE && toklen < NTLM_NEGOTIATE_MIN) {
        /* A negotiate message without the optional version field (curl's
         * is 32 bytes): gss-ntlmssp 1.2 wants 40. Zeros are appended, so
         * that the offsets of any payload stay right; the version field is
         * only read when the client sets NEGOTIATE_VERSION, and a client
         * that signs the message with a MIC is not helped (nor harmed: the
         * MIC then fails). */
        unsigned char *t = realloc(tok, NTLM_NEGOTIATE_MIN);
        if (!t)
            goto refuse;
        memset(t + toklen, 0, NTLM_NEGOTIATE_MIN - toklen);
        tok = t;
        toklen = NTLM_NEGOTIATE_MIN;
    }
    if (kind == WSMD_TOKEN_NTLM_NEGOTIATE) {
        /* A client that neither signs nor seals nor sends the version
         * (curl) writes its authenticate message without the version
         * field; gss-ntlmssp then insists on one (it asks for the version
         * whenever ALWAYS_SIGN is negotiated) and cannot read the message.
         * ALWAYS_SIGN means nothing without SIGN: it is dropped. */
        uint32_t fl = (uint32_t)tok[12] | (uint32_t)tok[13] << 8 | (uint32_t)tok[14] << 16 |
                      (uint32_t)tok[15] << 24;
        if (!(fl & (NTLM_FL_VERSION | NTLM_FL_SIGN | NTLM_FL_SEAL)) && (fl & NTLM_FL_ALWAYS_SIGN))
            tok[13] &= (unsigned char)~(NTLM_FL_ALWAYS_SIGN >> 8);
    }
    if (fresh) {
        wsmd__nego_reset(c);
        c->kind = ck;
        snprintf(c->scheme, sizeof(c->scheme), "%s", scheme);
        c->proto = strcmp(scheme, "Kerberos") == 0 ? WSM_MPENC_KERBEROS : WSM_MPENC_SPNEGO;
    }
    if (++c->legs > MAX_LEGS)
        goto refuse;

    /* Channel binding over TLS. wsmd reads whether an NTLM authenticate
     * message carries MsvAvChannelBindings itself: without them, the
     * bindings are not passed (gss-ntlmssp before 1.2 refused such a
     * client whenever the acceptor passed bindings; 1.2 lets it in) and
     * Strict refuses it. MIT Kerberos itself ignores bindings the client
     * did not send (all zeros); Strict then asks for
     * GSS_C_CHANNEL_BOUND_FLAG below. */
    struct gss_channel_bindings_struct cbs;
    gss_channel_bindings_t cb = GSS_C_NO_CHANNEL_BINDINGS;
    int strict = c->tls && c->n->cbt && c->n->cbt_level == WSMD_CBT_STRICT;
    if (c->tls && c->n->cbt && c->n->cbt_level != WSMD_CBT_NONE) {
        int tb = wsmd__nego_token_bindings(tok, toklen, kind);
        if (tb == 0 && strict) {
            wsmd__log("event=negotiate-error step=channel-binding message=\"NTLM without "
                      "channel bindings (CbtHardeningLevel=Strict)\"");
            goto refuse;
        }
        if (tb != 0) {
            memset(&cbs, 0, sizeof(cbs));
            cbs.application_data.length = c->n->cbt_len;
            cbs.application_data.value = c->n->cbt;
            cb = &cbs;
        }
        if (tb == 1)
            c->cb_bound = 1;
    }

    /* The AUTHENTICATE message's flags, for ntlm_fast_setup. */
    uint32_t fl3;
    if (wsm__ntlm_token_flags(tok, toklen, 3, &fl3) == 0) {
        c->auth_flags = fl3;
        c->have_auth = 1;
    }
    gss_buffer_desc in = {toklen, tok}, out = GSS_C_EMPTY_BUFFER;
    gss_name_t src = GSS_C_NO_NAME;
    gss_OID mech = GSS_C_NO_OID;
    maj = wsm__gss.accept_sec_context(&min, &c->ctx, cred, &in, cb, &src, &mech, &out, &flags, NULL,
                                      NULL);
    free(tok);
    tok = NULL;
    if (GSS_ERROR(maj)) {
        wsmd__nego_log_gss("accept", maj, min);
        wsm__gss.release_buffer(&min, &out);
        wsm__gss.release_name(&min, &src);
        wsmd__nego_reset(c);
        return WSM_ERR_AUTH;
    }
    if (maj & GSS_S_CONTINUE_NEEDED) {
        wsm__gss.release_name(&min, &src);
        if (out.length == 0) {
            wsm__gss.release_buffer(&min, &out);
            wsmd__nego_reset(c);
            return WSM_ERR_AUTH;
        }
        uint32_t fl2; /* the CHALLENGE message's flags, for ntlm_fast_setup */
        if (wsm__ntlm_token_flags(out.value, out.length, 2, &fl2) == 0) {
            c->chal_flags = fl2;
            c->have_chal = 1;
        }
        *www = make_www(c->scheme, &out);
        wsm__gss.release_buffer(&min, &out);
        if (!*www) {
            wsmd__nego_reset(c);
            return WSM_ERR_NOMEM;
        }
        c->state = ST_PROGRESS;
        return WSM_OK;
    }
    e = wsmd__nego_finish(c, src, mech, flags);
    wsm__gss.release_name(&min, &src);
    if (!e && strict && !(c->mech_ntlm ? c->cb_bound : (flags & GSS_C_CHANNEL_BOUND_FLAG) != 0)) {
        wsmd__log("event=negotiate-error step=channel-binding message=\"no channel bindings "
                  "(CbtHardeningLevel=Strict)\"");
        e = WSM_ERR_AUTH;
    }
    if (e) {
        wsm__gss.release_buffer(&min, &out);
        wsmd__nego_reset(c);
        return e;
    }
    if (out.length) {
        *www = make_www(c->scheme, &out);
        if (!*www) {
            wsm__gss.release_buffer(&min, &out);
            wsmd__nego_reset(c);
            return WSM_ERR_NOMEM;
        }
    }
    wsm__gss.release_buffer(&min, &out);
    c->state = ST_DONE;
    if (c->mech_ntlm && c->can_seal && c->kind == K_NTLM && !c->gss_only)
        wsmd__nego_fast_setup(c);
    *done = 1;
    return WSM_OK;

refuse:
    free(tok);
    wsmd__nego_reset(c);
    return WSM_ERR_AUTH;
}
