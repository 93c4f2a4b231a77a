/* HTTP Negotiate, WinRM message encryption: multipart/encrypted bodies
 * (mpenc.c) unwrapped and wrapped with the connection's context, by
 * gss_wrap or by ntlmseal.c for NTLM. */
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

/* ---- message encryption ------------------------------------------------ */

int wsmd__nego_body_encrypted(const char *content_type)
{
    enum wsm_mpenc_proto p;
    int multi;
    return wsm__mpenc_content_type(content_type, &p, &multi) != WSM_ERR_NOT_FOUND;
}

size_t wsmd__nego_max_body(size_t max_envelope)
{
    return wsm__mpenc_max_body(max_envelope);
}

/* Unwraps one part into out (appending). */
static enum wsm_err unwrap_part(struct wsmd_nego_conn *c, const struct wsm_mpenc_part *p,
                                struct wsm_buf *out)
{
    OM_uint32 maj, min;
    int conf = 0;
    size_t tl = p->sig_len + p->sealed_len;
    if (c->mech_ntlm && p->sig_len != 16)
        return WSM_ERR_AUTH;
    if (c->fast) /* unsealed straight into out */
        return wsm__ntlm_unseal_append(c->fast, p->sig, p->sealed, p->sealed_len, p->orig_len, out);
    unsigned char *t = malloc(tl ? tl : 1);
    if (!t)
        return WSM_ERR_NOMEM;
    /* NTLM's token and Kerberos' stream are both the signature (header)
     * followed by the sealed bytes. */
    memcpy(t, p->sig, p->sig_len);
    memcpy(t + p->sig_len, p->sealed, p->sealed_len);
    enum wsm_err e = WSM_OK;
    if (c->mech_ntlm) {
        gss_buffer_desc in = {tl, t}, plain = GSS_C_EMPTY_BUFFER;
        maj = wsm__gss.unwrap(&min, c->ctx, &in, &plain, &conf, NULL);
        if (GSS_ERROR(maj)) {
            wsmd__nego_log_gss("unwrap", maj, min);
            e = WSM_ERR_AUTH;
        } else if (!conf || plain.length != p->orig_len) {
            e = WSM_ERR_AUTH;
        } else {
            e = wsm__buf_add(out, plain.value, plain.length);
        }
        if (plain.value)
            explicit_bzero(plain.value, plain.length);
        wsm__gss.release_buffer(&min, &plain);
    } else {
        gss_iov_buffer_desc iov[2] = {
            {GSS_IOV_BUFFER_TYPE_STREAM, {tl, t}},
            {GSS_IOV_BUFFER_TYPE_DATA, {0, NULL}},
        };
        maj = wsm__gss.unwrap_iov(&min, c->ctx, &conf, NULL, iov, 2);
        if (GSS_ERROR(maj)) {
            wsmd__nego_log_gss("unwrap", maj, min);
            e = WSM_ERR_AUTH;
        } else if (!conf || iov[1].buffer.length != p->orig_len) {
            e = WSM_ERR_AUTH;
        } else {
            e = wsm__buf_add(out, iov[1].buffer.value, iov[1].buffer.length);
        }
    }
    explicit_bzero(t, tl);
    free(t);
    return e;
}

enum wsm_err wsmd__nego_unwrap(struct wsmd_nego_conn *c, const char *content_type,
                               const unsigned char *body, size_t len, size_t max_plain,
                               char **plain, size_t *plain_len)
{
    enum wsm_mpenc_proto proto;
    int multi;
    enum wsm_err e = wsm__mpenc_content_type(content_type, &proto, &multi);
    if (e)
        return WSM_ERR_UNSUPPORTED_MEDIA;
    if (!c || c->state != ST_DONE || !c->can_seal)
        return WSM_ERR_AUTH;
    if (len > wsm__mpenc_max_body(max_plain))
        return WSM_ERR_ENVELOPE_TOO_LARGE;
    size_t maxparts = multi ? WSM_MPENC_MAX_PARTS : 1, np = 0;
    struct wsm_mpenc_part *parts = calloc(maxparts, sizeof(*parts));
    if (!parts)
        return WSM_ERR_NOMEM;
    e = wsm__mpenc_parse(body, len, proto, multi, max_plain, parts, maxparts, &np);
    struct wsm_buf out;
    wsm__buf_init(&out, max_plain + 1);
    for (size_t i = 0; !e && i < np; i++) {
        e = unwrap_part(c, &parts[i], &out);
        if (e == WSM_ERR_AUTH)
            wsmd__nego_reset(c); /* the sequence numbers are out of step now */
    }
    free(parts);
    if (!e && wsm__buf_add(&out, "", 1) != WSM_OK) /* the NUL */
        e = WSM_ERR_NOMEM;
    if (e) {
        if (out.data)
            explicit_bzero(out.data, out.len);
        wsm__buf_free(&out);
        return e;
    }
    c->proto = proto;
    *plain = wsm__buf_steal(&out, plain_len);
    (*plain_len)--;
    return WSM_OK;
}

enum wsm_err wsmd__nego_wrap(struct wsmd_nego_conn *c, const char *plain, size_t len, char **body,
                             size_t *body_len, const char **content_type)
{
    OM_uint32 maj, min;
    int conf = 0;
    if (!c || c->state != ST_DONE || !c->can_seal)
        return WSM_ERR_AUTH;
    if (len == 0)
        return WSM_ERR_INVALID_ARG; /* an empty body goes out as it is */
    struct wsm_buf out;
    wsm__buf_init(&out, 0);
    enum wsm_err e = wsm__buf_reserve(&out, len + 512);
    if (e)
        return e;
    if (c->fast) {
        /* The part with the plain text and a blank signature, then both
         * filled in place: the sealed bytes are the last len of out. */
        static const unsigned char blank[WSM_NTLM_SIG_LEN];
        e = wsm__mpenc_build_part(&out, c->proto, len, blank, sizeof(blank),
                                  (const unsigned char *)plain, len);
        if (!e) {
            unsigned char *sealed = (unsigned char *)out.data + out.len - len;
            wsm__ntlm_seal(c->fast, sealed, len, sealed, sealed - WSM_NTLM_SIG_LEN);
        }
    } else if (c->mech_ntlm) {
        gss_buffer_desc in = {len, (void *)plain}, w = GSS_C_EMPTY_BUFFER;
        maj = wsm__gss.wrap(&min, c->ctx, 1, GSS_C_QOP_DEFAULT, &in, &conf, &w);
        if (GSS_ERROR(maj)) {
            wsmd__nego_log_gss("wrap", maj, min);
            e = WSM_ERR_INTERNAL;
        } else if (!conf || w.length != len + 16) {
            e = WSM_ERR_INTERNAL;
        } else {
            const unsigned char *wv = w.value;
            e = wsm__mpenc_build_part(&out, c->proto, len, wv, 16, wv + 16, len);
        }
        wsm__gss.release_buffer(&min, &w);
    } else {
        char *data = malloc(len ? len : 1);
        if (!data) {
            wsm__buf_free(&out);
            return WSM_ERR_NOMEM;
        }
        memcpy(data, plain, len);
        gss_iov_buffer_desc iov[3] = {
            {GSS_IOV_BUFFER_TYPE_HEADER | GSS_IOV_BUFFER_FLAG_ALLOCATE, {0, NULL}},
            {GSS_IOV_BUFFER_TYPE_DATA, {len, data}},
            {GSS_IOV_BUFFER_TYPE_PADDING | GSS_IOV_BUFFER_FLAG_ALLOCATE, {0, NULL}},
        };
        maj = wsm__gss.wrap_iov(&min, c->ctx, 1, GSS_C_QOP_DEFAULT, &conf, iov, 3);
        if (GSS_ERROR(maj)) {
            wsmd__nego_log_gss("wrap", maj, min);
            e = WSM_ERR_INTERNAL;
        } else if (!conf) {
            e = WSM_ERR_INTERNAL;
        } else {
            /* Any padding goes with the sealed bytes (none with AES). */
            e = wsm__mpenc_build_part(&out, c->proto, len, iov[0].buffer.value,
                                      iov[0].buffer.length, (unsigned char *)data, len);
            if (!e && iov[2].buffer.length)
                e = wsm__buf_add(&out, iov[2].buffer.value, iov[2].buffer.length);
        }
        wsm__gss.release_iov_buffer(&min, iov, 3);
        free(data);
    }
    if (!e)
        e = wsm__mpenc_build_end(&out);
    if (e) {
        wsm__buf_free(&out);
        return e;
    }
    *content_type = wsm__mpenc_content_type_str(c->proto);
    *body = wsm__buf_steal(&out, body_len);
    return *body ? WSM_OK : WSM_ERR_NOMEM;
}
