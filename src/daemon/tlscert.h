/* The HTTPS listeners' certificate and key, replaceable while wsmd runs
 * (SIGHUP; docs/internals/daemon.md, "Signals and the service manager").
 *
 * libmicrohttpd builds its GnuTLS credentials once, at MHD_start_daemon,
 * and offers no way to change them. What it does offer is
 * MHD_OPTION_HTTPS_CERT_CALLBACK: GnuTLS then asks, at each handshake,
 * which certificate chain and key to present. The callback hands out the
 * current pair; a reload makes a new pair current. A connection keeps the
 * pair it was handed at its handshake (sessions are not renegotiated), so
 * no connection is dropped; every new handshake sees the new certificate.
 * Replaced pairs are kept until wsmd__tlscert_free at exit: GnuTLS holds
 * the pointers for the session's life and gives no signal when it lets
 * go, and a reload is rare (a few KB each). */
#ifndef WSMD_TLSCERT_H
#define WSMD_TLSCERT_H

#include <stddef.h>

#include "wsm/wsm.h"

/* Reads and checks a certificate (chain) and its private key as the
 * daemon does at startup: regular files, PEM, at most 1 MB, a key not
 * readable or writable by other users, the key matching the
 * certificate. *cert_pem and *key_pem are malloc'd (the key zeroed by
 * wsmd__tlscert_clear_pem). On error says why in why[] (no "wsmd:"). */
enum wsm_err wsmd__tlscert_read(const char *cert_path, const char *key_path, char **cert_pem,
                                char **key_pem, char *why, size_t whylen);
/* The same, with tls ("TLS " at startup, "" on reload) before the files'
 * names in why[]: the one reader of PEM files for both. */
enum wsm_err wsmd__tlscert_load(const char *tls, const char *cert_path, const char *key_path,
                                char **cert_pem, char **key_pem, char *why, size_t whylen);
void wsmd__tlscert_clear_pem(char *key_pem);

/* Makes (cert_pem, key_pem) the pair presented from the next handshake
 * on. WSM_ERR_INVALID_ARG if GnuTLS cannot use them (why[] says). */
enum wsm_err wsmd__tlscert_set(const char *cert_pem, const char *key_pem, char *why, size_t whylen);
/* 1 if libmicrohttpd can take the callback (then http.c installs it and
 * certificates can change live); 0: the PEMs are given to it once, and a
 * changed certificate needs a restart. */
int wsmd__tlscert_live(void);
/* The callback, a gnutls_certificate_retrieve_function2 (void * here, so
 * that this header needs no GnuTLS). */
void *wsmd__tlscert_callback(void);
/* The SHA-256 of the current certificate as hex (logs); "" if none. */
void wsmd__tlscert_fingerprint(char *out, size_t n);
/* 1 once a pair is set (the first HTTPS listener sets it; a listener
 * created later uses the current one). */
int wsmd__tlscert_ready(void);
/* At exit, after the listeners stopped: frees every pair. */
void wsmd__tlscert_free(void);

#endif
