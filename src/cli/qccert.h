/* winrm quickconfig's certificates (qccert.c): the SHA-1 thumbprint of a
 * PEM certificate, and a self-signed one for this host, made with GnuTLS
 * (loaded at run time). Each returns 0, or -1 with why[] set. */
#ifndef WINRM_QCCERT_H
#define WINRM_QCCERT_H

#include <stddef.h>

/* out: 40 upper-case hex digits, as Windows shows CertificateThumbprint. */
int qc_cert_thumbprint(const char *path, char out[41], char *why, size_t n);

/* An RSA key and a certificate for names[0] (CN; every name also a DNS
 * subjectAltName), valid one year, for TLS server authentication,
 * signed by its own key; written to key_path (mode 0600) and cert_path
 * (0644), neither of which may exist. out: its thumbprint. */
int qc_cert_create(const char *const *names, size_t nnames, const char *cert_path,
                   const char *key_path, char out[41], char *why, size_t n);

#endif
