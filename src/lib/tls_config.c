/* GnuTLS for the client's HTTP/1.1 connections, part one: loading
 * libgnutls.so.30 (dlopen at the first https connection, the functions
 * resolved with dlsym into wsm__gt) and a session's TLS configuration, the
 * credentials its connections share (wsm__tls_config_*). The sessions
 * themselves (handshake, records, the peer's certificate) are in tls.c;
 * kept apart so that each file is one subject and a readable size. The two
 * share tls_priv.h. See tls.h. */
#include <dlfcn.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls.h"
#include "tls_priv.h"

#define GNUTLS_LIB "libgnutls.so.30"

struct wsm_gnutls_fns wsm__gt;
static pthread_once_t gt_once = PTHREAD_ONCE_INIT;
static int gt_ok;
static char gt_error[300];

static int gt_sym(void *h, const char *name, void **slot)
{
    void *f = dlsym(h, name);
    if (!f) {
        snprintf(gt_error, sizeof(gt_error), GNUTLS_LIB " has no %s", name);
        return 0;
    }
    memcpy(slot, &f, sizeof(f)); /* POSIX: a function pointer survives this */
    return 1;
}

#define GT_SYM(f) gt_sym(h, "gnutls_" #f, (void **)&wsm__gt.f)

static void gt_load(void)
{
    void *h = dlopen(GNUTLS_LIB, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        snprintf(gt_error, sizeof(gt_error), "https needs " GNUTLS_LIB ": %s",
                 why ? why : "not found");
        return;
    }
    gt_ok = GT_SYM(certificate_allocate_credentials) && GT_SYM(certificate_free_credentials) &&
            GT_SYM(certificate_set_x509_system_trust) && GT_SYM(certificate_set_x509_trust_file) &&
            GT_SYM(certificate_set_x509_key_file2) && GT_SYM(certificate_get_peers) &&
            GT_SYM(certificate_verification_status_print) && GT_SYM(init) && GT_SYM(deinit) &&
            GT_SYM(set_default_priority) && GT_SYM(credentials_set) && GT_SYM(server_name_set) &&
            GT_SYM(session_set_verify_cert) && GT_SYM(session_get_verify_cert_status) &&
            GT_SYM(transport_set_ptr) && GT_SYM(transport_set_pull_function) &&
            GT_SYM(transport_set_pull_timeout_function) &&
            GT_SYM(transport_set_vec_push_function) && GT_SYM(transport_set_errno) &&
            GT_SYM(handshake) && GT_SYM(record_recv) && GT_SYM(record_send) &&
            GT_SYM(record_get_direction) && GT_SYM(record_check_pending) && GT_SYM(bye) &&
            GT_SYM(strerror) && GT_SYM(error_is_fatal) && GT_SYM(alert_get) &&
            GT_SYM(alert_get_name) && GT_SYM(x509_crt_init) && GT_SYM(x509_crt_deinit) &&
            GT_SYM(x509_crt_import) && GT_SYM(x509_crt_check_hostname2) &&
            GT_SYM(x509_crt_get_signature_algorithm) && GT_SYM(sign_get_hash_algorithm) &&
            GT_SYM(hash_get_len) && GT_SYM(hash_fast) &&
            gt_sym(h, "gnutls_free", (void **)&wsm__gt.free_fn);
    /* (h stays loaded: GnuTLS deinitialises itself at exit) */
}

/* ---- configuration ------------------------------------------------------ */

enum wsm_err wsm__tls_config_new(struct wsm_tls_config **out)
{
    struct wsm_tls_config *c = calloc(1, sizeof(*c));
    if (!c)
        return WSM_ERR_NOMEM;
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return WSM_OK;
}

void wsm__tls_config_free(struct wsm_tls_config *c)
{
    if (!c)
        return;
    if (c->cred)
        wsm__gt.certificate_free_credentials(c->cred);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Under c->mu, once. */
static void prepare(struct wsm_tls_config *c, const struct wsm_tls_opts *o)
{
    char *err = c->error;
    size_t errlen = sizeof(c->error);
    c->prepared = 1;
    c->status = WSM_ERR_HTTP;
    pthread_once(&gt_once, gt_load);
    if (!gt_ok) {
        snprintf(err, errlen, "%s", gt_error);
        return;
    }
    c->skip_ca_check = o->skip_ca_check;
    c->skip_cn_check = o->skip_cn_check;
    int r = wsm__gt.certificate_allocate_credentials(&c->cred);
    if (r < 0) {
        c->cred = NULL;
        snprintf(err, errlen, "TLS credentials: %s", wsm__gt.strerror(r));
        return;
    }
    /* Trust anchors only when they are used: the system store is about
     * 150 certificates to parse. */
    if (!o->skip_ca_check) {
        if (o->ca_file) {
            r = wsm__gt.certificate_set_x509_trust_file(c->cred, o->ca_file, GNUTLS_X509_FMT_PEM);
            if (r <= 0) {
                snprintf(err, errlen, "cannot use the CA file %s: %s", o->ca_file,
                         r < 0 ? wsm__gt.strerror(r) : "no PEM certificate in it");
                return;
            }
        } else {
            r = wsm__gt.certificate_set_x509_system_trust(c->cred);
            if (r < 0) {
                snprintf(err, errlen, "cannot load the system's trusted CAs: %s",
                         wsm__gt.strerror(r));
                return;
            }
        }
    }
    if (o->cert_file) {
        const char *key = o->key_file ? o->key_file : o->cert_file;
        r = wsm__gt.certificate_set_x509_key_file2(c->cred, o->cert_file, key, GNUTLS_X509_FMT_PEM,
                                                   o->key_password, 0);
        if (r < 0) {
            snprintf(err, errlen, "cannot use the client certificate %s with the key %s: %s",
                     o->cert_file, key, wsm__gt.strerror(r));
            return;
        }
    }
    c->status = WSM_OK;
    err[0] = '\0';
}

enum wsm_err wsm__tls_config_prepare(struct wsm_tls_config *c, const struct wsm_tls_opts *o,
                                     char *err, size_t errlen)
{
    pthread_mutex_lock(&c->mu);
    if (!c->prepared)
        prepare(c, o);
    enum wsm_err e = c->status;
    if (e && err && errlen)
        snprintf(err, errlen, "%s", c->error);
    pthread_mutex_unlock(&c->mu);
    return e;
}
