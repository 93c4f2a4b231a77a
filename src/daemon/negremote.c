/* HTTP Negotiate under privilege separation: the handshake runs in the
 * monitor (which holds the keytab and the NT hashes); the network process
 * sends each leg and imports the completed context it is handed back
 * (export/import below, a fixed, checked layout). */
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

/* ---- privilege separation: the handshake in the monitor ---------------- */

#define EXPORT_MAGIC 0x77736e31u /* "wsn1" */

/* What the network process needs of an established context besides the
 * GSSAPI export token. */
struct export_hdr {
    uint32_t magic;
    uint32_t kind, mech_ntlm, can_seal, cb_bound, gss_only;
    uint32_t have_chal, have_auth, chal_flags, auth_flags;
    char scheme[16];
    char user[WSMD_MAX_USER];
    char principal[WSMD_MAX_PRINCIPAL];
    uint32_t toklen;
};

void wsmd__nego_set_remote(struct wsmd_nego *n, wsmd_nego_remote_step_fn step,
                           void (*free_fn)(uint64_t conn))
{
    n->remote_step = step;
    n->remote_free = free_fn;
}

enum wsm_err wsmd__nego_export(struct wsmd_nego_conn *c, unsigned char **out, size_t *len)
{
    OM_uint32 maj, min;
    if (c->state != ST_DONE || c->ctx == GSS_C_NO_CONTEXT)
        return WSM_ERR_INVALID_ARG;
    gss_buffer_desc tok = GSS_C_EMPTY_BUFFER;
    maj = wsm__gss.export_sec_context(&min, &c->ctx, &tok);
    if (GSS_ERROR(maj)) {
        wsmd__nego_log_gss("export", maj, min);
        return WSM_ERR_INTERNAL;
    }
    c->ctx = GSS_C_NO_CONTEXT; /* the export deleted it */
    struct export_hdr h;
    memset(&h, 0, sizeof(h));
    h.magic = EXPORT_MAGIC;
    h.kind = (uint32_t)c->kind;
    h.mech_ntlm = (uint32_t)c->mech_ntlm;
    h.can_seal = (uint32_t)c->can_seal;
    h.cb_bound = (uint32_t)c->cb_bound;
    h.gss_only = (uint32_t)c->gss_only;
    h.have_chal = (uint32_t)c->have_chal;
    h.have_auth = (uint32_t)c->have_auth;
    h.chal_flags = c->chal_flags;
    h.auth_flags = c->auth_flags;
    snprintf(h.scheme, sizeof(h.scheme), "%s", c->scheme);
    snprintf(h.user, sizeof(h.user), "%s", c->user);
    snprintf(h.principal, sizeof(h.principal), "%s", c->principal);
    h.toklen = (uint32_t)tok.length;
    unsigned char *p = malloc(sizeof(h) + tok.length);
    if (!p) {
        wsm__gss.release_buffer(&min, &tok);
        return WSM_ERR_NOMEM;
    }
    memcpy(p, &h, sizeof(h));
    memcpy(p + sizeof(h), tok.value, tok.length);
    explicit_bzero(tok.value, tok.length); /* it holds the session keys */
    wsm__gss.release_buffer(&min, &tok);
    *out = p;
    *len = sizeof(h) + h.toklen;
    return WSM_OK;
}

const char *wsmd__nego_user_of_export(const unsigned char *p, size_t len)
{
    static const char none[] = "";
    if (len < sizeof(struct export_hdr))
        return none;
    const struct export_hdr *h = (const void *)p;
    return memchr(h->user, '\0', sizeof(h->user)) ? h->user : none;
}

enum wsm_err wsmd__nego_import(struct wsmd_nego_conn *c, const unsigned char *p, size_t len)
{
    OM_uint32 maj, min;
    struct export_hdr h;
    if (len < sizeof(h))
        return WSM_ERR_AUTH;
    memcpy(&h, p, sizeof(h));
    if (h.magic != EXPORT_MAGIC || h.toklen != len - sizeof(h) || h.kind > K_KRB5 ||
        !memchr(h.user, '\0', sizeof(h.user)) || !memchr(h.scheme, '\0', sizeof(h.scheme)) ||
        !memchr(h.principal, '\0', sizeof(h.principal)) ||
        (!h.user[0] && !(c->n->allow_unmapped && h.principal[0])))
        return WSM_ERR_AUTH;
    if (!wsm__gss_load())
        return WSM_ERR_INTERNAL;
    wsmd__nego_reset(c);
    gss_buffer_desc tok = {h.toklen, (void *)(p + sizeof(h))};
    maj = wsm__gss.import_sec_context(&min, &tok, &c->ctx);
    if (GSS_ERROR(maj)) {
        wsmd__nego_log_gss("import", maj, min);
        c->ctx = GSS_C_NO_CONTEXT;
        return WSM_ERR_AUTH;
    }
    c->kind = (enum conn_kind)h.kind;
    c->mech_ntlm = h.mech_ntlm != 0;
    c->can_seal = h.can_seal != 0;
    c->cb_bound = h.cb_bound != 0;
    c->gss_only = c->gss_only || h.gss_only;
    c->have_chal = h.have_chal != 0;
    c->have_auth = h.have_auth != 0;
    c->chal_flags = h.chal_flags;
    c->auth_flags = h.auth_flags;
    snprintf(c->scheme, sizeof(c->scheme), "%s", h.scheme);
    snprintf(c->user, sizeof(c->user), "%s", h.user);
    snprintf(c->principal, sizeof(c->principal), "%s", h.principal);
    c->state = ST_DONE;
    if (c->mech_ntlm && c->can_seal && c->kind == K_NTLM && !c->gss_only)
        wsmd__nego_fast_setup(c);
    return WSM_OK;
}

/* One leg in a separated daemon: checked here (the header and the token's
 * kind: the parsers with fuzz targets), run by the monitor, and the
 * finished context imported. */
enum wsm_err wsmd__nego_remote_step(struct wsmd_nego_conn *c, const char *authz, char **www,
                                    int *done)
{
    char scheme[16];
    unsigned char *tok = NULL;
    size_t toklen = 0;
    enum wsm_err e = wsmd__nego_parse_header(authz, scheme, sizeof(scheme), &tok, &toklen);
    if (e == WSM_OK && wsmd__nego_token_kind(tok, toklen) == WSMD_TOKEN_BAD)
        e = WSM_ERR_AUTH;
    free(tok);
    if (c->state == ST_DONE)
        wsmd__nego_reset(c); /* a new handshake on this connection */
    if (e) {
        wsmd__nego_reset(c);
        return e;
    }
    unsigned char *ctx = NULL;
    size_t ctx_len = 0;
    e = c->n->remote_step(c->id, c->tls, authz, www, done, &ctx, &ctx_len);
    if (e) {
        c->state = ST_NONE; /* the monitor dropped its half */
        wsmd__nego_reset(c);
        return e;
    }
    if (!*done) {
        c->state = ST_PROGRESS;
        return WSM_OK;
    }
    c->state = ST_NONE;
    e = wsmd__nego_import(c, ctx, ctx_len);
    if (ctx) {
        explicit_bzero(ctx, ctx_len);
        free(ctx);
    }
    if (e) {
        free(*www);
        *www = NULL;
        *done = 0;
        wsmd__nego_reset(c);
        return WSM_ERR_AUTH;
    }
    return WSM_OK;
}
