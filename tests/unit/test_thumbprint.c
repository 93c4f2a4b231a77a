/* Certificate thumbprints (src/daemon/thumbprint.c): a known answer
 * (openssl x509 -fingerprint -sha1 of the certificate below), the same
 * from PEM, from DER and from a parsed certificate, and "" for nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <gnutls/gnutls.h>
#include <string.h>

#include "thumbprint.h"

static const char pem[] = ("-----BEGIN CERTIFICATE-----\n"
                           "MIIBeDCCAR2gAwIBAgIURVhOV5O+QXO//dbMl1FJUbH5kWAwCgYIKoZIzj0EAwIw\n"
                           "EDEOMAwGA1UEAwwFdGh1bWIwIBcNMjYxMjA3MTAyNTMyWhgPMjEyNjExMTMxMDI1\n"
                           "MzJaMBAxDjAMBgNVBAMMBXRodW1iMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n"
                           "lvpAWYTj2ru3YF8zEaTEydn30Y3AfT8T19MSaG3hm/aq6LoEyx5jUJpkiYiApzGf\n"
                           "JcKa26iDV343c4YkdnUrsKNTMFEwHQYDVR0OBBYEFEOXRF9D881bdGUlzAGmBkQO\n"
                           "azvWMB8GA1UdIwQYMBaAFEOXRF9D881bdGUlzAGmBkQOazvWMA8GA1UdEwEB/wQF\n"
                           "MAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhAN9d7r2JW6xBBM5PsMQosEb33gdUVrYa\n"
                           "Sji57cw1Do3iAiEAlu9yYLIP+tUrjxESpiRwMSu+MJD8hJo1t2QpkX+WlpU=\n"
                           "-----END CERTIFICATE-----\n");
static const char want[] = "0D1141CC2A1F2D2DF15815A6BC09D1539E94D5EC";

static void test_known_answer(void **state)
{
    (void)state;
    char tp[WSMD_THUMBPRINT_LEN];
    wsmd__thumbprint_pem(pem, tp);
    assert_string_equal(tp, want);

    gnutls_x509_crt_t crt;
    assert_int_equal(gnutls_x509_crt_init(&crt), 0);
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned)strlen(pem)};
    assert_true(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) >= 0);
    memset(tp, 'x', sizeof(tp));
    wsmd__thumbprint_crt(crt, tp);
    assert_string_equal(tp, want);
    gnutls_datum_t der;
    assert_true(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der) >= 0);
    memset(tp, 'x', sizeof(tp));
    wsmd__thumbprint_der(der.data, der.size, tp);
    assert_string_equal(tp, want);
    gnutls_free(der.data);
    gnutls_x509_crt_deinit(crt);
}

static void test_none(void **state)
{
    (void)state;
    char tp[WSMD_THUMBPRINT_LEN] = "x";
    wsmd__thumbprint_pem(NULL, tp);
    assert_string_equal(tp, "");
    strcpy(tp, "x");
    wsmd__thumbprint_pem("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
                         tp);
    assert_string_equal(tp, "");
    strcpy(tp, "x");
    wsmd__thumbprint_crt(NULL, tp);
    assert_string_equal(tp, "");
    strcpy(tp, "x");
    wsmd__thumbprint_der(NULL, 0, tp);
    assert_string_equal(tp, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answer),
        cmocka_unit_test(test_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
