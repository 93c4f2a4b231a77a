/* What the HTTP layer asks of the collector before a source's request is
 * parsed: the body made ready for the SOAP parser, and the identity of a
 * source that authenticates with a client certificate. */
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "collector_priv.h"
#include "envelope.h"
#include "events.h"
#include "lift.h"
#include "server.h"
#include "sldc.h"

/* A compressed body may grow to this many times the envelope limit; the
 * source was told MaxEnvelopeSize, which bounds the uncompressed envelope,
 * so this only leaves room for how a source counts. */
#define SLDC_GROWTH 4
/* prepare's output: UTF-16 to UTF-8 is at most 3/2 of the input, and an
 * escaped character (events.h) at most 3 times its bytes. */
#define PREPARE_GROWTH 3

static int is_sldc(const char *content_encoding)
{
    if (!content_encoding)
        return 0;
    while (*content_encoding == ' ')
        content_encoding++;
    return !strncasecmp(content_encoding, "SLDC", 4);
}

enum wsm_err wsmd__collector_body(struct wsmd_server *srv, struct MHD_Connection *c,
                                  struct wsm_buf *body, const char *content_encoding,
                                  size_t *max_parse, struct wsmd_lifted **lifted)
{
    *lifted = NULL;
    (void)c;
    struct wsmd_collector *col = srv->collector;
    size_t env_max = srv->cfg.max_envelope;
    struct wsm_buf plain;
    wsm__buf_init(&plain, 0);
    const unsigned char *in = (const unsigned char *)(body->data ? body->data : "");
    size_t len = body->len;
    if (content_encoding && !is_sldc(content_encoding) && strcasecmp(content_encoding, "identity"))
        return WSM_ERR_UNSUPPORTED_MEDIA; /* no other coding is spoken (415) */
    /* Windows also flags bodies it did not compress (an empty POST, an End
     * after a SubscriptionEnd: docs/internals/sldc.md). */
    if (is_sldc(content_encoding) && !wsm__sldc_is_plain(in, len)) {
        enum wsm_err e = wsm__sldc_decompress(in, len, &plain, SLDC_GROWTH * env_max);
        if (e) {
            atomic_fetch_add(&col->m.decode_failures, 1);
            wsmd__log("event=collector-decode-error step=sldc error=\"%s\" bytes=%zu",
                      wsm_strerror(e), len);
            wsm__buf_free(&plain);
            return e == WSM_ERR_QUOTA ? WSM_ERR_ENVELOPE_TOO_LARGE : WSM_ERR_ENCODING;
        }
        in = (const unsigned char *)(plain.data ? plain.data : "");
        len = plain.len;
    }
    struct wsm_buf clean;
    wsm__buf_init(&clean, 0);
    size_t fixed = 0, cap = PREPARE_GROWTH * len + 64;
    enum wsm_err e = wsmd__events_prepare(in, len, &clean, cap, &fixed);
    wsm__buf_free(&plain);
    if (e) {
        atomic_fetch_add(&col->m.decode_failures, 1);
        wsm__buf_free(&clean);
        return e == WSM_ERR_QUOTA ? WSM_ERR_ENVELOPE_TOO_LARGE : e;
    }
    if (fixed)
        atomic_fetch_add(&col->m.escaped_chars, fixed);
    if (body->data)
        explicit_bzero(body->data, body->len);
    wsm__buf_free(body);
    *body = clean;
    /* The events' CDATA, out of libxml2's slowest path (lift.c). */
    if ((e = wsmd__lift(body, lifted)) != WSM_OK)
        return e;
    if (*max_parse < body->len + 1)
        *max_parse = body->len + 1;
    return WSM_OK;
}

int wsmd__collector_cert_principal(struct wsmd_server *srv, struct MHD_Connection *c, char *out,
                                   size_t n)
{
    if (!srv->collector || !srv->certauth || n == 0)
        return 0;
    out[0] = '\0';
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session)
        return 0;
    gnutls_session_t s = ci->tls_session;
    unsigned np = 0, status = 0;
    const gnutls_datum_t *peers = NULL;
    if (gnutls_certificate_type_get2(s, GNUTLS_CTYPE_PEERS) == GNUTLS_CRT_X509)
        peers = gnutls_certificate_get_peers(s, &np);
    if (!peers || np == 0)
        return 0;
    /* The chain against ClientCAFile (the session's trust list), its dates,
     * and clientAuth where the certificate restricts its purposes. */
    gnutls_typed_vdata_st purpose = {GNUTLS_DT_KEY_PURPOSE_OID,
                                     (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT, 0};
    if (gnutls_certificate_verify_peers(s, &purpose, 1, &status) < 0 || status) {
        wsmd__log("event=collector-cert-refused reason=\"not verified against ClientCAFile\"");
        return 0;
    }
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) < 0)
        return 0;
    int ok = 0;
    char cn[WSMD_COL_MAX_CN];
    size_t cl = sizeof(cn);
    if (gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) >= 0 &&
        gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &cl) >= 0 &&
        cl > 0 && cl < n && strlen(cn) == cl) {
        ok = 1;
        for (size_t i = 0; i < cl; i++)
            if ((unsigned char)cn[i] <= ' ' || (unsigned char)cn[i] >= 0x7f || cn[i] == '"')
                ok = 0; /* a name for logs, globs and files: printable ASCII */
        if (ok)
            memcpy(out, cn, cl + 1);
    }
    gnutls_x509_crt_deinit(crt);
    return ok;
}

enum wsm_err wsmd__collector_restore(struct wsmd_lifted *lifted, struct wsm_envelope *env)
{
    enum wsm_err e = env ? wsmd__lift_restore(lifted, env->doc) : WSM_OK;
    wsmd__lift_free(lifted);
    return e;
}
