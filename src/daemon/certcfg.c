/* Client-certificate authentication, the configuration: ClientCAFile
 * read and parsed, every CertMapping checked against it (an unknown Issuer,
 * root without AllowRoot are refused), and mappings replaced live. */
#include "certauth.h"

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509-ext.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "server.h"
#include "thumbprint.h"
#include "certauth_priv.h"

/* ---- configuration -------------------------------------------------------- */

const char *wsmd__certauth_ca_pem(const struct wsmd_certauth *ca)
{
    return ca ? ca->ca_pem : NULL;
}

void wsmd__certauth_free(struct wsmd_certauth *ca)
{
    if (!ca)
        return;
    for (size_t i = 0; i < ca->nmaps; i++)
        if (ca->maps[i].tl)
            gnutls_x509_trust_list_deinit(ca->maps[i].tl, 1);
    for (size_t b = 0; b < VERDICT_BUCKETS; b++) {
        for (struct verdict *v = ca->verdicts[b], *nx; v; v = nx) {
            nx = v->next;
            free(v);
        }
    }
    pthread_mutex_destroy(&ca->lock);
    pthread_rwlock_destroy(&ca->maps_lock);
    free(ca->maps);
    free(ca->ca_pem);
    free(ca);
}

static void hex(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02X", b[i]);
    out[2 * n] = '\0';
}

/* Reads the CA bundle whole: a regular file of PEM text. */
static char *read_ca_file(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        fprintf(stderr, "wsmd: cannot open ClientCAFile %s: %m\n", path);
        return NULL;
    }
    struct stat st;
    char *buf = NULL;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        st.st_size > CA_FILE_MAX) {
        fprintf(stderr, "wsmd: ClientCAFile %s is not a regular file of at most %d bytes\n", path,
                CA_FILE_MAX);
        goto out;
    }
    size_t n = (size_t)st.st_size;
    buf = malloc(n + 1);
    if (!buf || fread(buf, 1, n, f) != n || memchr(buf, '\0', n)) {
        fprintf(stderr, "wsmd: cannot read ClientCAFile %s (want PEM text)\n", path);
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[n] = '\0';
out:
    fclose(f);
    return buf;
}

/* pem: the CA bundle already read (a change of the mappings in the
 * unprivileged network process, which may not read the file), or NULL. */
enum wsm_err wsmd__certauth_make(const struct wsmd_config *cfg, int is_root, const char *pem,
                                 struct wsmd_certauth **out)
{
    *out = NULL;
    if (!cfg->client_ca_path) {
        if (cfg->ncert_mappings) {
            fprintf(stderr, "wsmd: CertMapping needs ClientCAFile (the CAs of the client "
                            "certificates)\n");
            return WSM_ERR_INVALID_ARG;
        }
        return WSM_OK;
    }
    if (cfg->ncert_mappings > MAX_MAPPINGS) {
        fprintf(stderr, "wsmd: at most %d CertMapping lines\n", MAX_MAPPINGS);
        return WSM_ERR_INVALID_ARG;
    }
    struct wsmd_certauth *ca = calloc(1, sizeof(*ca));
    gnutls_x509_crt_t *list = NULL;
    unsigned nlist = 0;
    enum wsm_err e = WSM_ERR_INVALID_ARG;
    if (!ca)
        return WSM_ERR_NOMEM;
    pthread_mutex_init(&ca->lock, NULL);
    pthread_rwlock_init(&ca->maps_lock, NULL);
    ca->is_root = is_root;
    ca->ca_pem = pem ? strdup(pem) : read_ca_file(cfg->client_ca_path);
    if (!ca->ca_pem) {
        e = WSM_ERR_IO;
        goto fail;
    }
    gnutls_datum_t d = {(unsigned char *)ca->ca_pem, (unsigned)strlen(ca->ca_pem)};
    int rc = strstr(ca->ca_pem, "-----BEGIN CERTIFICATE-----")
                 ? gnutls_x509_crt_list_import2(&list, &nlist, &d, GNUTLS_X509_FMT_PEM, 0)
                 : GNUTLS_E_BASE64_DECODING_ERROR;
    if (rc < 0 || nlist == 0) {
        fprintf(stderr, "wsmd: no usable PEM certificate in ClientCAFile %s: %s\n",
                cfg->client_ca_path, rc < 0 ? gnutls_strerror(rc) : "empty");
        goto fail;
    }
    unsigned char(*fp1)[20] = calloc(nlist, sizeof(*fp1));
    unsigned char(*fp2)[32] = calloc(nlist, sizeof(*fp2));
    if (!fp1 || !fp2) {
        free(fp1);
        free(fp2);
        e = WSM_ERR_NOMEM;
        goto fail;
    }
    for (unsigned i = 0; i < nlist; i++) {
        size_t s1 = 20, s2 = 32;
        unsigned critical = 0;
        if (gnutls_x509_crt_get_fingerprint(list[i], GNUTLS_DIG_SHA1, fp1[i], &s1) < 0 ||
            gnutls_x509_crt_get_fingerprint(list[i], GNUTLS_DIG_SHA256, fp2[i], &s2) < 0) {
            fprintf(stderr, "wsmd: cannot read certificate %u of ClientCAFile %s\n", i + 1,
                    cfg->client_ca_path);
            goto fail_fp;
        }
        if (gnutls_x509_crt_get_ca_status(list[i], &critical) <= 0) {
            char t[41];
            hex(fp1[i], 20, t);
            wsmd__log("event=notice message=\"ClientCAFile: certificate %s is not a CA; "
                      "it is trusted as it is\"",
                      t);
        }
    }
    ca->maps = calloc(cfg->ncert_mappings ? cfg->ncert_mappings : 1, sizeof(*ca->maps));
    if (!ca->maps) {
        e = WSM_ERR_NOMEM;
        goto fail_fp;
    }
    for (size_t i = 0; i < cfg->ncert_mappings; i++) {
        struct cmap *cm = &ca->maps[i];
        char why[200];
        if (wsmd__certmap_parse(cfg->cert_mappings[i], &cm->m, why, sizeof(why)) != WSM_OK) {
            fprintf(stderr, "wsmd: CertMapping %zu: %s\n", i + 1, why);
            goto fail_fp;
        }
        ca->nmaps++;
        if (cm->m.issuer_len) {
            unsigned j = 0;
            for (; j < nlist; j++)
                if (memcmp(cm->m.issuer_len == 20 ? fp1[j] : fp2[j], cm->m.issuer,
                           cm->m.issuer_len) == 0)
                    break;
            if (j == nlist) {
                char t[65];
                hex(cm->m.issuer, cm->m.issuer_len, t);
                fprintf(stderr,
                        "wsmd: CertMapping %zu: Issuer %s is not the thumbprint of a "
                        "certificate in ClientCAFile %s; its certificates are:\n",
                        i + 1, t, cfg->client_ca_path);
                for (unsigned k = 0; k < nlist; k++) {
                    gnutls_datum_t dn = {NULL, 0};
                    hex(fp1[k], 20, t);
                    if (gnutls_x509_crt_get_dn3(list[k], &dn, 0) < 0)
                        dn.data = NULL;
                    fprintf(stderr, "wsmd:   %s %s\n", t, dn.data ? (char *)dn.data : "?");
                    gnutls_free(dn.data);
                }
                goto fail_fp;
            }
            /* A trust list of that CA alone tells whether it is on the
             * chain of a client certificate. */
            gnutls_x509_crt_t copy = NULL;
            gnutls_datum_t der = {NULL, 0};
            int ok = gnutls_x509_trust_list_init(&cm->tl, 0) >= 0 &&
                     gnutls_x509_crt_export2(list[j], GNUTLS_X509_FMT_DER, &der) >= 0 &&
                     gnutls_x509_crt_init(&copy) >= 0 &&
                     gnutls_x509_crt_import(copy, &der, GNUTLS_X509_FMT_DER) >= 0;
            gnutls_free(der.data);
            if (ok && gnutls_x509_trust_list_add_cas(cm->tl, &copy, 1, 0) == 1)
                copy = NULL; /* the list owns it */
            else
                ok = 0;
            if (copy)
                gnutls_x509_crt_deinit(copy);
            if (!ok) {
                e = WSM_ERR_NOMEM;
                goto fail_fp;
            }
        }
        if (is_root) {
            /* As root, shells run as the local account: it must exist, and
             * uid 0 needs AllowRoot whatever its name. */
            struct passwd pw, *res = NULL;
            char pwbuf[4096];
            if (getpwnam_r(cm->m.user, &pw, pwbuf, sizeof(pwbuf), &res) != 0 || !res) {
                wsmd__log("event=notice message=\"CertMapping %zu: %s is not a local account "
                          "(yet): its certificates are refused until it is\"",
                          i + 1, cm->m.user);
            } else if (res->pw_uid == 0 && !cm->m.allow_root) {
                fprintf(stderr,
                        "wsmd: CertMapping %zu: %s has uid 0: add AllowRoot=true if that is "
                        "meant\n",
                        i + 1, cm->m.user);
                goto fail_fp;
            }
        }
    }
    if (!cfg->ncert_mappings)
        wsmd__log("event=notice message=\"ClientCAFile without CertMapping: every client "
                  "certificate is refused\"");
    free(fp1);
    free(fp2);
    for (unsigned i = 0; i < nlist; i++)
        gnutls_x509_crt_deinit(list[i]);
    gnutls_free(list);
    wsmd__log("event=notice message=\"client certificates: %u CA certificate(s), %zu "
              "mapping(s)\"",
              nlist, ca->nmaps);
    *out = ca;
    return WSM_OK;
fail_fp:
    free(fp1);
    free(fp2);
fail:
    for (unsigned i = 0; i < nlist; i++)
        gnutls_x509_crt_deinit(list[i]);
    gnutls_free(list);
    wsmd__certauth_free(ca);
    return e;
}

enum wsm_err wsmd__certauth_new(const struct wsmd_config *cfg, int is_root,
                                struct wsmd_certauth **out)
{
    return wsmd__certauth_make(cfg, is_root, NULL, out);
}

enum wsm_err wsmd__certauth_replace_maps(struct wsmd_certauth *ca, const struct wsmd_config *cfg)
{
    struct wsmd_certauth *tmp = NULL;
    enum wsm_err e = wsmd__certauth_make(cfg, ca->is_root, ca->ca_pem, &tmp);
    if (e || !tmp)
        return e ? e : WSM_ERR_INVALID_ARG;
    pthread_rwlock_wrlock(&ca->maps_lock);
    struct cmap *old = ca->maps;
    size_t nold = ca->nmaps;
    ca->maps = tmp->maps;
    ca->nmaps = tmp->nmaps;
    tmp->maps = old;
    tmp->nmaps = nold;
    pthread_rwlock_unlock(&ca->maps_lock);
    pthread_mutex_lock(&ca->lock);
    for (size_t b = 0; b < VERDICT_BUCKETS; b++) {
        for (struct verdict *v = ca->verdicts[b], *nx; v; v = nx) {
            nx = v->next;
            free(v);
        }
        ca->verdicts[b] = NULL;
    }
    ca->nverdicts = 0;
    atomic_store(&ca->any, 0);
    pthread_mutex_unlock(&ca->lock);
    wsmd__certauth_free(tmp);
    return WSM_OK;
}

enum wsm_err wsmd__certauth_check_maps(const struct wsmd_certauth *ca,
                                       const struct wsmd_config *cfg)
{
    struct wsmd_certauth *tmp = NULL;
    enum wsm_err e = wsmd__certauth_make(cfg, ca->is_root, ca->ca_pem, &tmp);
    wsmd__certauth_free(tmp);
    return e;
}
