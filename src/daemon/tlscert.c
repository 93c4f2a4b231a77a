/* The HTTPS certificate that a reload can replace (tlscert.h). */
#include "tlscert.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TLS_FILE_MAX (1024 * 1024)
#define MAX_CHAIN 16

struct pair {
    gnutls_pcert_st chain[MAX_CHAIN];
    unsigned nchain;
    gnutls_privkey_t key;
    char fp[65];
    struct pair *older; /* kept until exit (tlscert.h) */
};

static struct {
    pthread_mutex_t lock;
    struct pair *cur;
} tc = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Reads a whole PEM file into a NUL-terminated string. A private key must
 * not be open to other users: a key anyone can read is no secret. tls is
 * "TLS " or "", before what in the messages. */
static char *read_pem(const char *tls, const char *what, const char *path, int is_key, char *why,
                      size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(why, n, "cannot open the %s%s %s: %s", tls, what, path, strerror(errno));
        return NULL;
    }
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, n, "the %s%s %s is not a regular file", tls, what, path);
        goto out;
    }
    if (is_key && (st.st_mode & (S_IROTH | S_IWOTH))) {
        snprintf(why, n, "the %s%s %s is %s by other users (mode %04o); run: chmod 600 %s", tls,
                 what, path, (st.st_mode & S_IROTH) ? "readable" : "writable",
                 (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    if (st.st_size <= 0 || st.st_size > TLS_FILE_MAX) {
        snprintf(why, n, "the %s%s %s is empty or larger than %d bytes", tls, what, path,
                 TLS_FILE_MAX);
        goto out;
    }
    size_t len = (size_t)st.st_size, got = 0;
    if (!(buf = malloc(len + 1))) {
        snprintf(why, n, "out of memory");
        goto out;
    }
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    if (got == 0 || strlen(buf) != got) {
        snprintf(why, n, "cannot read the %s%s %s (want PEM text)", tls, what, path);
        explicit_bzero(buf, got);
        free(buf);
        buf = NULL;
    }
out:
    close(fd);
    return buf;
}

void wsmd__tlscert_clear_pem(char *key_pem)
{
    if (key_pem) {
        explicit_bzero(key_pem, strlen(key_pem));
        free(key_pem);
    }
}

enum wsm_err wsmd__tlscert_load(const char *tls, const char *cert_path, const char *key_path,
                                char **cert_pem, char **key_pem, char *why, size_t whylen)
{
    *cert_pem = *key_pem = NULL;
    char *c = read_pem(tls, "certificate", cert_path, 0, why, whylen);
    if (!c)
        return WSM_ERR_IO;
    char *k = read_pem(tls, "private key", key_path, 1, why, whylen);
    if (!k) {
        free(c);
        return WSM_ERR_IO;
    }
    enum wsm_err e = WSM_ERR_INVALID_ARG;
    if (!strstr(c, "-----BEGIN CERTIFICATE-----")) {
        snprintf(why, whylen, "no PEM certificate (-----BEGIN CERTIFICATE-----) in %s", cert_path);
        goto bad;
    }
    if (!strstr(k, "PRIVATE KEY-----")) {
        snprintf(why, whylen, "no PEM private key (-----BEGIN ... PRIVATE KEY-----) in %s",
                 key_path);
        goto bad;
    }
    /* Both parsed now, so that a bad file is told as such (libmicrohttpd
     * would only fail to start), and GnuTLS checks that the key is the
     * certificate's. */
    gnutls_certificate_credentials_t cred;
    if (gnutls_certificate_allocate_credentials(&cred) != GNUTLS_E_SUCCESS) {
        snprintf(why, whylen, "out of memory");
        e = WSM_ERR_NOMEM;
        goto bad;
    }
    gnutls_datum_t cd = {(unsigned char *)c, (unsigned)strlen(c)};
    gnutls_datum_t kd = {(unsigned char *)k, (unsigned)strlen(k)};
    int rc = gnutls_certificate_set_x509_key_mem2(cred, &cd, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
    gnutls_certificate_free_credentials(cred);
    if (rc < 0) {
        snprintf(why, whylen, "cannot use the %scertificate %s with the key %s: %s", tls, cert_path,
                 key_path, gnutls_strerror(rc));
        goto bad;
    }
    *cert_pem = c;
    *key_pem = k;
    return WSM_OK;
bad:
    free(c);
    wsmd__tlscert_clear_pem(k);
    return e;
}

enum wsm_err wsmd__tlscert_read(const char *cert_path, const char *key_path, char **cert_pem,
                                char **key_pem, char *why, size_t whylen)
{
    return wsmd__tlscert_load("", cert_path, key_path, cert_pem, key_pem, why, whylen);
}

static void pair_free(struct pair *p)
{
    for (unsigned i = 0; i < p->nchain; i++)
        gnutls_pcert_deinit(&p->chain[i]);
    if (p->key)
        gnutls_privkey_deinit(p->key);
    free(p);
}

enum wsm_err wsmd__tlscert_set(const char *cert_pem, const char *key_pem, char *why, size_t whylen)
{
    struct pair *p = calloc(1, sizeof(*p));
    if (!p)
        return WSM_ERR_NOMEM;
    gnutls_datum_t cd = {(unsigned char *)cert_pem, (unsigned)strlen(cert_pem)};
    gnutls_datum_t kd = {(unsigned char *)key_pem, (unsigned)strlen(key_pem)};
    p->nchain = MAX_CHAIN;
    int rc = gnutls_pcert_list_import_x509_raw(p->chain, &p->nchain, &cd, GNUTLS_X509_FMT_PEM,
#ifdef GNUTLS_X509_CRT_LIST_SORT
                                               GNUTLS_X509_CRT_LIST_SORT
#else
                                               0
#endif
    );
    if (rc < 0) {
        p->nchain = 0;
        snprintf(why, whylen, "certificate chain: %s", gnutls_strerror(rc));
        goto bad;
    }
    if ((rc = gnutls_privkey_init(&p->key)) < 0 ||
        (rc = gnutls_privkey_import_x509_raw(p->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        snprintf(why, whylen, "private key: %s", gnutls_strerror(rc));
        goto bad;
    }
    unsigned char d[32];
    size_t dl = sizeof(d);
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) == 0) {
        if (gnutls_x509_crt_import(crt, &p->chain[0].cert, GNUTLS_X509_FMT_DER) == 0 &&
            gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, d, &dl) == 0)
            for (size_t i = 0; i < dl && i < 32; i++)
                snprintf(p->fp + 2 * i, 3, "%02x", d[i]);
        gnutls_x509_crt_deinit(crt);
    }
    pthread_mutex_lock(&tc.lock);
    p->older = tc.cur;
    tc.cur = p;
    pthread_mutex_unlock(&tc.lock);
    return WSM_OK;
bad:
    pair_free(p);
    return WSM_ERR_INVALID_ARG;
}

/* GnuTLS, at each handshake (a gnutls_certificate_retrieve_function2). */
static int retrieve(gnutls_session_t s, const gnutls_datum_t *req_ca_dn, int nreqs,
                    const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                    gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *key)
{
    (void)s;
    (void)req_ca_dn;
    (void)nreqs;
    (void)pk_algos;
    (void)pk_algos_length;
    pthread_mutex_lock(&tc.lock);
    struct pair *p = tc.cur;
    pthread_mutex_unlock(&tc.lock);
    if (!p)
        return -1;
    *pcert = p->chain;
    *pcert_length = p->nchain;
    *key = p->key;
    return 0;
}

int wsmd__tlscert_live(void)
{
    return MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK) == MHD_YES;
}

void *wsmd__tlscert_callback(void)
{
    return (void *)retrieve;
}

void wsmd__tlscert_fingerprint(char *out, size_t n)
{
    pthread_mutex_lock(&tc.lock);
    snprintf(out, n, "%s", tc.cur ? tc.cur->fp : "");
    pthread_mutex_unlock(&tc.lock);
}

void wsmd__tlscert_free(void)
{
    pthread_mutex_lock(&tc.lock);
    struct pair *p = tc.cur;
    tc.cur = NULL;
    pthread_mutex_unlock(&tc.lock);
    while (p) {
        struct pair *o = p->older;
        pair_free(p);
        p = o;
    }
}

int wsmd__tlscert_ready(void)
{
    pthread_mutex_lock(&tc.lock);
    int r = tc.cur != NULL;
    pthread_mutex_unlock(&tc.lock);
    return r;
}
