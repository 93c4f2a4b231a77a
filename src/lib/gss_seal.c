/* The client side of WinRM message encryption: a request body sealed into
 * one multipart/encrypted part, and a sealed reply opened, with an
 * established security context (gss_client.c makes it). NTLM goes through
 * ntlmseal.c when the handshake allows it, else gss_wrap (16-byte
 * signature, then the sealed bytes); Kerberos uses gss_wrap_iov (the
 * HEADER is the signature; DATA sealed in place; PADDING after it), as
 * wsmd's src/daemon/negotiate.c accepts and writes. Separate from the
 * handshake so that each file stays one subject and a readable size; the
 * two share gss_client_priv.h. */
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gss_client.h"
#include "gss_client_priv.h"
#include "gssload.h"
#include "mpenc.h"
#include "ntlmseal.h"

static enum wsm_mpenc_proto proto_of(const struct wsm_gss_ctx *x)
{
    return x->c->kind == WSM_GSS_KERBEROS ? WSM_MPENC_KERBEROS : WSM_MPENC_SPNEGO;
}

enum wsm_err wsm__gss_seal(struct wsm_gss_ctx *x, const char *plain, size_t len,
                           struct wsm_buf *out, const char **content_type, char *err, size_t errlen)
{
    OM_uint32 maj, min;
    int conf = 0;
    enum wsm_err e;
    if (!wsm__gss_can_seal(x) || len == 0)
        return WSM_ERR_INVALID_ARG;
    if ((e = wsm__buf_reserve(out, len + 512)))
        return e;
    enum wsm_mpenc_proto proto = proto_of(x);
    if (x->fast) {
        /* The part with the plain text and a blank signature, both then
         * filled in place: the sealed bytes are the last len of out. */
        static const unsigned char blank[WSM_NTLM_SIG_LEN];
        e = wsm__mpenc_build_part_ex(out, proto, len, blank, sizeof(blank),
                                     (const unsigned char *)plain, len, !x->no_tab);
        if (!e) {
            unsigned char *sealed = (unsigned char *)out->data + out->len - len;
            wsm__ntlm_seal(x->fast, sealed, len, sealed, sealed - WSM_NTLM_SIG_LEN);
        }
    } else if (x->ntlm) {
        gss_buffer_desc ib = {len, (void *)plain}, w = GSS_C_EMPTY_BUFFER;
        maj = wsm__gss.wrap(&min, x->ctx, 1, GSS_C_QOP_DEFAULT, &ib, &conf, &w);
        if (GSS_ERROR(maj)) {
            wsm__gss_error(err, errlen, "cannot seal the request", maj, min);
            e = WSM_ERR_AUTH;
        } else if (!conf || w.length != len + 16) {
            snprintf(err, errlen, "cannot seal the request: NTLM gave no confidentiality");
            e = WSM_ERR_AUTH;
        } else {
            const unsigned char *wv = w.value;
            e = wsm__mpenc_build_part_ex(out, proto, len, wv, 16, wv + 16, len, !x->no_tab);
        }
        wsm__gss.release_buffer(&min, &w);
    } else {
        char *data = malloc(len);
        if (!data)
            return WSM_ERR_NOMEM;
        memcpy(data, plain, len);
        gss_iov_buffer_desc iov[3] = {
            {GSS_IOV_BUFFER_TYPE_HEADER | GSS_IOV_BUFFER_FLAG_ALLOCATE, {0, NULL}},
            {GSS_IOV_BUFFER_TYPE_DATA, {len, data}},
            {GSS_IOV_BUFFER_TYPE_PADDING | GSS_IOV_BUFFER_FLAG_ALLOCATE, {0, NULL}},
        };
        maj = wsm__gss.wrap_iov(&min, x->ctx, 1, GSS_C_QOP_DEFAULT, &conf, iov, 3);
        if (GSS_ERROR(maj)) {
            wsm__gss_error(err, errlen, "cannot seal the request", maj, min);
            e = WSM_ERR_AUTH;
        } else if (!conf) {
            snprintf(err, errlen, "cannot seal the request: no confidentiality");
            e = WSM_ERR_AUTH;
        } else {
            e = wsm__mpenc_build_part_ex(out, proto, len, iov[0].buffer.value, iov[0].buffer.length,
                                         (unsigned char *)data, len, !x->no_tab);
            if (!e && iov[2].buffer.length)
                e = wsm__buf_add(out, iov[2].buffer.value, iov[2].buffer.length);
        }
        wsm__gss.release_iov_buffer(&min, iov, 3);
        explicit_bzero(data, len);
        free(data);
    }
    if (!e)
        e = wsm__mpenc_build_end(out);
    if (!e)
        *content_type = wsm__mpenc_content_type_str(proto);
    return e;
}

/* One part: appended to out. */
static enum wsm_err unseal_part(struct wsm_gss_ctx *x, const struct wsm_mpenc_part *p,
                                struct wsm_buf *out, char *err, size_t errlen)
{
    OM_uint32 maj, min;
    int conf = 0;
    size_t tl = p->sig_len + p->sealed_len;
    if (x->ntlm && p->sig_len != 16) {
        snprintf(err, errlen, "the reply's NTLM signature is not 16 bytes");
        return WSM_ERR_AUTH;
    }
    if (x->fast) {
        /* Unsealed straight into out; RC4 keeps the length. */
        if (p->sealed_len != p->orig_len) {
            snprintf(err, errlen, "the reply's sealed part is %zu bytes, not the announced %zu",
                     p->sealed_len, p->orig_len);
            return WSM_ERR_AUTH;
        }
        enum wsm_err e =
            wsm__ntlm_unseal_append(x->fast, p->sig, p->sealed, p->sealed_len, p->orig_len, out);
        if (e == WSM_ERR_NOMEM && out->cap && out->len + p->sealed_len > out->cap)
            snprintf(err, errlen, "the reply is larger than %zu bytes", out->cap);
        else if (e == WSM_ERR_AUTH)
            snprintf(err, errlen, "cannot unseal the reply: bad signature or sequence number");
        return e;
    }
    unsigned char *t = malloc(tl ? tl : 1);
    if (!t)
        return WSM_ERR_NOMEM;
    memcpy(t, p->sig, p->sig_len);
    memcpy(t + p->sig_len, p->sealed, p->sealed_len);
    enum wsm_err e;
    const void *pv = NULL;
    size_t pl = 0;
    gss_buffer_desc plain = GSS_C_EMPTY_BUFFER;
    gss_iov_buffer_desc iov[2] = {
        {GSS_IOV_BUFFER_TYPE_STREAM, {tl, t}},
        {GSS_IOV_BUFFER_TYPE_DATA, {0, NULL}},
    };
    if (x->ntlm) {
        gss_buffer_desc ib = {tl, t};
        maj = wsm__gss.unwrap(&min, x->ctx, &ib, &plain, &conf, NULL);
        pv = plain.value;
        pl = plain.length;
    } else {
        /* STREAM: the header and the sealed bytes; DATA points into it. */
        maj = wsm__gss.unwrap_iov(&min, x->ctx, &conf, NULL, iov, 2);
        pv = iov[1].buffer.value;
        pl = iov[1].buffer.length;
    }
    if (GSS_ERROR(maj)) {
        wsm__gss_error(err, errlen, "cannot unseal the reply", maj, min);
        e = WSM_ERR_AUTH;
    } else if (!conf) {
        snprintf(err, errlen, "the reply was signed, not sealed");
        e = WSM_ERR_AUTH;
    } else if (pl != p->orig_len) {
        snprintf(err, errlen, "the reply's sealed part is %zu bytes, not the announced %zu", pl,
                 p->orig_len);
        e = WSM_ERR_AUTH;
    } else {
        e = wsm__buf_add(out, pv, pl);
        if (e == WSM_ERR_NOMEM && out->cap && out->len + pl > out->cap)
            snprintf(err, errlen, "the reply is larger than %zu bytes", out->cap);
    }
    if (plain.value)
        explicit_bzero(plain.value, plain.length);
    wsm__gss.release_buffer(&min, &plain);
    explicit_bzero(t, tl);
    free(t);
    return e;
}

enum wsm_err wsm__gss_unseal(struct wsm_gss_ctx *x, const char *content_type,
                             const unsigned char *body, size_t len, struct wsm_buf *out, char *err,
                             size_t errlen)
{
    enum wsm_mpenc_proto proto;
    int multi;
    enum wsm_err e = wsm__mpenc_content_type(content_type, &proto, &multi);
    if (e == WSM_ERR_NOT_FOUND)
        return e;
    if (e) {
        snprintf(err, errlen, "the reply's encryption (%.100s) is not one we know", content_type);
        return WSM_ERR_AUTH;
    }
    if (!wsm__gss_can_seal(x)) {
        snprintf(err, errlen, "an encrypted reply on a connection without encryption");
        return WSM_ERR_AUTH;
    }
    size_t max_plain = out->cap ? out->cap : (size_t)64 * 1024 * 1024;
    size_t maxparts = multi ? WSM_MPENC_MAX_PARTS : 1, np = 0;
    struct wsm_mpenc_part *parts = calloc(maxparts, sizeof(*parts));
    if (!parts)
        return WSM_ERR_NOMEM;
    e = wsm__mpenc_parse(body, len, proto, multi, max_plain, parts, maxparts, &np);
    if (e) {
        snprintf(err, errlen, "the encrypted reply is malformed");
        e = WSM_ERR_AUTH;
    }
    for (size_t i = 0; !e && i < np; i++)
        e = unseal_part(x, &parts[i], out, err, errlen);
    free(parts);
    if (!e && !out->data)
        e = wsm__buf_reserve(out, 0);
    if (e && out->data)
        explicit_bzero(out->data, out->len);
    return e;
}
