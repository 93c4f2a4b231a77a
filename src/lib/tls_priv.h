/* Private to the client's TLS code: what tls_config.c (loading GnuTLS,
 * the shared configuration) and tls.c (the sessions) share. See tls.h. */
#ifndef WSM_TLS_PRIV_H
#define WSM_TLS_PRIV_H

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>

#include "tls.h"

/* The GnuTLS functions used, resolved by tls_config.c when the first
 * configuration is prepared (the header supplies only types and
 * constants). */
struct wsm_gnutls_fns {
    __typeof__(gnutls_certificate_allocate_credentials) *certificate_allocate_credentials;
    __typeof__(gnutls_certificate_free_credentials) *certificate_free_credentials;
    __typeof__(gnutls_certificate_set_x509_system_trust) *certificate_set_x509_system_trust;
    __typeof__(gnutls_certificate_set_x509_trust_file) *certificate_set_x509_trust_file;
    __typeof__(gnutls_certificate_set_x509_key_file2) *certificate_set_x509_key_file2;
    __typeof__(gnutls_certificate_get_peers) *certificate_get_peers;
    __typeof__(gnutls_certificate_verification_status_print) *certificate_verification_status_print;
    __typeof__(gnutls_init) *init;
    __typeof__(gnutls_deinit) *deinit;
    __typeof__(gnutls_set_default_priority) *set_default_priority;
    __typeof__(gnutls_credentials_set) *credentials_set;
    __typeof__(gnutls_server_name_set) *server_name_set;
    __typeof__(gnutls_session_set_verify_cert) *session_set_verify_cert;
    __typeof__(gnutls_session_get_verify_cert_status) *session_get_verify_cert_status;
    __typeof__(gnutls_transport_set_ptr) *transport_set_ptr;
    __typeof__(gnutls_transport_set_pull_function) *transport_set_pull_function;
    __typeof__(gnutls_transport_set_pull_timeout_function) *transport_set_pull_timeout_function;
    __typeof__(gnutls_transport_set_vec_push_function) *transport_set_vec_push_function;
    __typeof__(gnutls_transport_set_errno) *transport_set_errno;
    __typeof__(gnutls_handshake) *handshake;
    __typeof__(gnutls_record_recv) *record_recv;
    __typeof__(gnutls_record_send) *record_send;
    __typeof__(gnutls_record_get_direction) *record_get_direction;
    __typeof__(gnutls_record_check_pending) *record_check_pending;
    __typeof__(gnutls_bye) *bye;
    __typeof__(gnutls_strerror) *strerror;
    __typeof__(gnutls_error_is_fatal) *error_is_fatal;
    __typeof__(gnutls_alert_get) *alert_get;
    __typeof__(gnutls_alert_get_name) *alert_get_name;
    __typeof__(gnutls_x509_crt_init) *x509_crt_init;
    __typeof__(gnutls_x509_crt_deinit) *x509_crt_deinit;
    __typeof__(gnutls_x509_crt_import) *x509_crt_import;
    __typeof__(gnutls_x509_crt_check_hostname2) *x509_crt_check_hostname2;
    __typeof__(gnutls_x509_crt_get_signature_algorithm) *x509_crt_get_signature_algorithm;
    __typeof__(gnutls_sign_get_hash_algorithm) *sign_get_hash_algorithm;
    __typeof__(gnutls_hash_get_len) *hash_get_len;
    __typeof__(gnutls_hash_fast) *hash_fast;
    gnutls_free_function *free_fn; /* gnutls_free is a variable */
};
extern struct wsm_gnutls_fns wsm__gt;

struct wsm_tls_config {
    pthread_mutex_t mu;
    int prepared; /* tried: status and error hold the outcome */
    enum wsm_err status;
    char error[400];
    int skip_ca_check, skip_cn_check;
    gnutls_certificate_credentials_t cred;
};

#endif
