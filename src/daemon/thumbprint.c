/* Certificate thumbprints (thumbprint.h). */
#include "thumbprint.h"

#include <gnutls/crypto.h>
#include <stdio.h>
#include <string.h>

#define SHA1_LEN 20

static void hex(const unsigned char *b, char *out)
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < SHA1_LEN; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * SHA1_LEN] = '\0';
}

void wsmd__thumbprint_der(const void *der, size_t len, char out[WSMD_THUMBPRINT_LEN])
{
    unsigned char fp[SHA1_LEN];
    out[0] = '\0';
    if (der && gnutls_hash_fast(GNUTLS_DIG_SHA1, der, len, fp) >= 0)
        hex(fp, out);
}

void wsmd__thumbprint_crt(gnutls_x509_crt_t crt, char out[WSMD_THUMBPRINT_LEN])
{
    unsigned char fp[SHA1_LEN];
    size_t n = sizeof(fp);
    out[0] = '\0';
    if (crt && gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA1, fp, &n) >= 0 &&
        n == sizeof(fp))
        hex(fp, out);
}

void wsmd__thumbprint_pem(const char *pem, char out[WSMD_THUMBPRINT_LEN])
{
    out[0] = '\0';
    gnutls_x509_crt_t crt;
    if (!pem || gnutls_x509_crt_init(&crt) < 0)
        return;
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned)strlen(pem)};
    if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) >= 0)
        wsmd__thumbprint_crt(crt, out);
    gnutls_x509_crt_deinit(crt);
}
