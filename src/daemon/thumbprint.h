/* Certificate thumbprints as Windows shows and takes them: the SHA-1 of
 * the certificate's DER, 40 upper-case hex digits. One place computes
 * them for the listeners (cfglisten.c, wsmconfig.c), client certificates
 * (certauth.c) and the collector's IssuerCA list (collector.c). */
#ifndef WSMD_THUMBPRINT_H
#define WSMD_THUMBPRINT_H

#include <stddef.h>

#include <gnutls/x509.h>

#define WSMD_THUMBPRINT_LEN 41 /* with the NUL */

/* Each sets out to the thumbprint, or to "" when there is none (no
 * certificate, not one GnuTLS reads). */
void wsmd__thumbprint_der(const void *der, size_t len, char out[WSMD_THUMBPRINT_LEN]);
void wsmd__thumbprint_crt(gnutls_x509_crt_t crt, char out[WSMD_THUMBPRINT_LEN]);
/* Of the first certificate of a PEM text (NULL: none). */
void wsmd__thumbprint_pem(const char *pem, char out[WSMD_THUMBPRINT_LEN]);

#endif
