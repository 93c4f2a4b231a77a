/* quickconfig's certificates (qccert.h): GnuTLS is loaded with dlopen,
 * as libwsm's tls.c does, so that a winrm that never makes one maps no
 * TLS library; the header supplies the types and constants only. */
#include "qccert.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define GNUTLS_LIB "libgnutls.so.30"

static struct {
    __typeof__(gnutls_x509_crt_init) *crt_init;
    __typeof__(gnutls_x509_crt_deinit) *crt_deinit;
    __typeof__(gnutls_x509_crt_import) *crt_import;
    __typeof__(gnutls_x509_crt_export2) *crt_export2;
    __typeof__(gnutls_x509_crt_get_fingerprint) *crt_get_fingerprint;
    __typeof__(gnutls_x509_crt_set_version) *crt_set_version;
    __typeof__(gnutls_x509_crt_set_serial) *crt_set_serial;
    __typeof__(gnutls_x509_crt_set_activation_time) *crt_set_activation_time;
    __typeof__(gnutls_x509_crt_set_expiration_time) *crt_set_expiration_time;
    __typeof__(gnutls_x509_crt_set_dn_by_oid) *crt_set_dn_by_oid;
    __typeof__(gnutls_x509_crt_set_subject_alt_name) *crt_set_subject_alt_name;
    __typeof__(gnutls_x509_crt_set_key) *crt_set_key;
    __typeof__(gnutls_x509_crt_set_key_usage) *crt_set_key_usage;
    __typeof__(gnutls_x509_crt_set_key_purpose_oid) *crt_set_key_purpose_oid;
    __typeof__(gnutls_x509_crt_set_basic_constraints) *crt_set_basic_constraints;
    __typeof__(gnutls_x509_crt_sign2) *crt_sign2;
    __typeof__(gnutls_x509_privkey_init) *privkey_init;
    __typeof__(gnutls_x509_privkey_deinit) *privkey_deinit;
    __typeof__(gnutls_x509_privkey_generate) *privkey_generate;
    __typeof__(gnutls_x509_privkey_export2) *privkey_export2;
    __typeof__(gnutls_rnd) *rnd;
    __typeof__(gnutls_strerror) *strerror;
    gnutls_free_function *free_fn; /* gnutls_free is a variable */
} gt;

static int sym(void *h, const char *name, void **slot, char *why, size_t n)
{
    void *f = dlsym(h, name);
    if (!f) {
        snprintf(why, n, GNUTLS_LIB " has no %s", name);
        return 0;
    }
    memcpy(slot, &f, sizeof(f)); /* POSIX: a function pointer survives this */
    return 1;
}

#define S(f, name) sym(h, name, (void **)&gt.f, why, n)

static int load(char *why, size_t n)
{
    static int ok = -1;
    if (ok >= 0)
        return ok;
    void *h = dlopen(GNUTLS_LIB, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(why, n, "certificates need " GNUTLS_LIB ": %s", e ? e : "not found");
        return ok = 0;
    }
    ok = S(crt_init, "gnutls_x509_crt_init") && S(crt_deinit, "gnutls_x509_crt_deinit") &&
         S(crt_import, "gnutls_x509_crt_import") && S(crt_export2, "gnutls_x509_crt_export2") &&
         S(crt_get_fingerprint, "gnutls_x509_crt_get_fingerprint") &&
         S(crt_set_version, "gnutls_x509_crt_set_version") &&
         S(crt_set_serial, "gnutls_x509_crt_set_serial") &&
         S(crt_set_activation_time, "gnutls_x509_crt_set_activation_time") &&
         S(crt_set_expiration_time, "gnutls_x509_crt_set_expiration_time") &&
         S(crt_set_dn_by_oid, "gnutls_x509_crt_set_dn_by_oid") &&
         S(crt_set_subject_alt_name, "gnutls_x509_crt_set_subject_alt_name") &&
         S(crt_set_key, "gnutls_x509_crt_set_key") &&
         S(crt_set_key_usage, "gnutls_x509_crt_set_key_usage") &&
         S(crt_set_key_purpose_oid, "gnutls_x509_crt_set_key_purpose_oid") &&
         S(crt_set_basic_constraints, "gnutls_x509_crt_set_basic_constraints") &&
         S(crt_sign2, "gnutls_x509_crt_sign2") && S(privkey_init, "gnutls_x509_privkey_init") &&
         S(privkey_deinit, "gnutls_x509_privkey_deinit") &&
         S(privkey_generate, "gnutls_x509_privkey_generate") &&
         S(privkey_export2, "gnutls_x509_privkey_export2") && S(rnd, "gnutls_rnd") &&
         S(strerror, "gnutls_strerror") && S(free_fn, "gnutls_free");
    return ok;
}

/* SHA-1 of crt as Windows shows a thumbprint: 40 upper-case hex digits. */
static int thumbprint_of(gnutls_x509_crt_t crt, char out[41])
{
    unsigned char fp[20];
    size_t len = sizeof(fp);
    if (gt.crt_get_fingerprint(crt, GNUTLS_DIG_SHA1, fp, &len) < 0 || len != sizeof(fp))
        return -1;
    for (size_t i = 0; i < len; i++)
        snprintf(out + 2 * i, 3, "%02X", fp[i]);
    return 0;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    char *buf = malloc(1024 * 1024 + 1);
    size_t n = buf ? fread(buf, 1, 1024 * 1024, f) : 0;
    fclose(f);
    if (!buf || n == 0) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

int qc_cert_thumbprint(const char *path, char out[41], char *why, size_t n)
{
    if (!load(why, n))
        return -1;
    size_t len = 0;
    char *pem = read_file(path, &len);
    if (!pem) {
        snprintf(why, n, "cannot read the certificate %s: %s", path, strerror(errno));
        return -1;
    }
    gnutls_x509_crt_t crt;
    int rc = -1;
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned)len};
    if (gt.crt_init(&crt) >= 0) {
        int r = gt.crt_import(crt, &d, GNUTLS_X509_FMT_PEM);
        if (r < 0)
            snprintf(why, n, "%s is not a PEM certificate: %s", path, gt.strerror(r));
        else if (thumbprint_of(crt, out) == 0)
            rc = 0;
        else
            snprintf(why, n, "cannot compute the thumbprint of %s", path);
        gt.crt_deinit(crt);
    }
    free(pem);
    return rc;
}

/* Writes data to path, created (never replaced) with mode. */
static int write_new(const char *path, const gnutls_datum_t *data, mode_t mode, char *why, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        snprintf(why, n, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    ssize_t w = write(fd, data->data, data->size);
    int ok = w == (ssize_t)data->size && fsync(fd) == 0;
    if (close(fd) != 0)
        ok = 0;
    if (!ok) {
        snprintf(why, n, "cannot write %s: %s", path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 0;
}

int qc_cert_create(const char *const *names, size_t nnames, const char *cert_path,
                   const char *key_path, char out[41], char *why, size_t n)
{
    if (!load(why, n))
        return -1;
    if (nnames == 0) {
        snprintf(why, n, "no host name for the certificate");
        return -1;
    }
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t kpem = {NULL, 0}, cpem = {NULL, 0};
    int r, rc = -1;
    const char *step = "key";
    /* RSA 2048 with SHA-256, as Windows' New-SelfSignedCertificate makes:
     * what every WinRM client accepts. */
    if ((r = gt.privkey_init(&key)) < 0 ||
        (r = gt.privkey_generate(key, GNUTLS_PK_RSA, 2048, 0)) < 0)
        goto out;
    step = "certificate";
    unsigned char serial[16];
    if ((r = gt.rnd(GNUTLS_RND_NONCE, serial, sizeof(serial))) < 0)
        goto out;
    serial[0] &= 0x7f; /* a positive INTEGER */
    serial[0] |= 0x01; /* and no leading zero byte */
    time_t now = time(NULL);
    if ((r = gt.crt_init(&crt)) < 0 || (r = gt.crt_set_version(crt, 3)) < 0 ||
        (r = gt.crt_set_serial(crt, serial, sizeof(serial))) < 0 ||
        (r = gt.crt_set_activation_time(crt, now - 300)) < 0 ||
        (r = gt.crt_set_expiration_time(crt, now + 365L * 24 * 3600)) < 0 ||
        (r = gt.crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, names[0],
                                  (unsigned)strlen(names[0]))) < 0 ||
        (r = gt.crt_set_key(crt, key)) < 0 ||
        (r = gt.crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE |
                                           GNUTLS_KEY_KEY_ENCIPHERMENT)) < 0 ||
        (r = gt.crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0 ||
        (r = gt.crt_set_basic_constraints(crt, 0, -1)) < 0)
        goto out;
    for (size_t i = 0; i < nnames; i++)
        if ((r = gt.crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, names[i],
                                             (unsigned)strlen(names[i]), GNUTLS_FSAN_APPEND)) < 0)
            goto out;
    if ((r = gt.crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0)) < 0 ||
        (r = gt.crt_export2(crt, GNUTLS_X509_FMT_PEM, &cpem)) < 0 ||
        (r = gt.privkey_export2(key, GNUTLS_X509_FMT_PEM, &kpem)) < 0 ||
        (r = thumbprint_of(crt, out)) < 0)
        goto out;
    r = 0;
    /* The key readable by its owner only: wsmd refuses a key others can
     * read. */
    if (write_new(key_path, &kpem, 0600, why, n) != 0)
        goto done;
    if (write_new(cert_path, &cpem, 0644, why, n) != 0) {
        unlink(key_path);
        goto done;
    }
    rc = 0;
    goto done;
out:
    snprintf(why, n, "cannot make the %s: %s", step, r < 0 ? gt.strerror(r) : "no thumbprint");
done:
    if (kpem.data) {
        explicit_bzero(kpem.data, kpem.size);
        (*gt.free_fn)(kpem.data);
    }
    if (cpem.data)
        (*gt.free_fn)(cpem.data);
    if (crt)
        gt.crt_deinit(crt);
    if (key)
        gt.privkey_deinit(key);
    return rc;
}
