/* Client-certificate authentication (see certauth.h and
 * docs/internals/certauth.md). libmicrohttpd asks TLS clients for a
 * certificate when it is given the CA bundle (MHD_OPTION_HTTPS_MEM_TRUST);
 * GnuTLS verifies the chain, the validity period and the key purpose; this
 * file decides which local user, if any, a verified certificate stands for,
 * once per connection. */
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

#define UPN_OID "1.3.6.1.4.1.311.20.2.3" /* Microsoft's UserPrincipalName */
#define MAX_MAPPINGS 1024
#define MAX_CHAIN 16 /* certificates a client may send */
#define MAX_SAN 64   /* subjectAltName entries looked at */
#define MAX_CN 8     /* subject CNs looked at */
#define CA_FILE_MAX (4 * 1024 * 1024)

struct cmap {
    struct wsmd_certmap m;
    gnutls_x509_trust_list_t tl; /* the Issuer alone (NULL: Issuer=*) */
};

/* The verdict on one connection's certificate. Keyed by the connection
 * (dropped when it closes) and checked against the certificate's SHA-256:
 * an entry outliving its connection by mistake could only answer for the
 * same certificate, which gets the same verdict. */
struct verdict {
    const struct MHD_Connection *conn;
    unsigned char fp[32];
    int ok;
    char user[WSMD_MAX_USER];
    struct verdict *next;
};

#define VERDICT_BUCKETS 256
#define VERDICT_MAX 65536 /* beyond: judged on every request, nothing kept */

struct wsmd_certauth {
    char *ca_pem;
    struct cmap *maps;
    size_t nmaps;
    int is_root;
    pthread_mutex_t lock; /* guards the verdicts */
    /* Guards maps/nmaps: CertMapping created or deleted over WS-Management
     * (cfglisten.c) replaces them while requests are judged. */
    pthread_rwlock_t maps_lock;
    struct verdict *verdicts[VERDICT_BUCKETS];
    size_t nverdicts;
    atomic_size_t any; /* nverdicts, read without the lock */
};

/* ---- CertMapping lines ---------------------------------------------------- */

static enum wsm_err fail(char *why, size_t n, const char *msg)
{
    if (why && n)
        snprintf(why, n, "%s", msg);
    return WSM_ERR_INVALID_ARG;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Hex digits, optionally separated by ':' or ' ' (as certificate viewers
 * show them): 40 (SHA-1, the Windows thumbprint) or 64 (SHA-256). */
static int parse_thumbprint(const char *v, size_t vl, unsigned char out[32], size_t *outlen)
{
    size_t nd = 0;
    for (size_t i = 0; i < vl; i++) {
        if (v[i] == ':' || v[i] == ' ')
            continue;
        int h = hexval((unsigned char)v[i]);
        if (h < 0 || nd >= 64)
            return -1;
        if (nd % 2 == 0)
            out[nd / 2] = (unsigned char)(h << 4);
        else
            out[nd / 2] |= (unsigned char)h;
        nd++;
    }
    if (nd != 40 && nd != 64)
        return -1;
    *outlen = nd / 2;
    return 0;
}

static int key_is(const char *k, size_t kl, const char *name)
{
    return kl == strlen(name) && strncasecmp(k, name, kl) == 0;
}

enum wsm_err wsmd__certmap_parse(const char *value, struct wsmd_certmap *out, char *why,
                                 size_t whylen)
{
    int have_issuer = 0, have_subject = 0, have_user = 0, have_root = 0;
    const char *p = value;

    memset(out, 0, sizeof(*out));
    if (!p)
        return fail(why, whylen, "empty mapping");
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        const char *k = p;
        while (*p && *p != '=' && *p != ' ' && *p != '\t')
            p++;
        if (*p != '=' || p == k)
            return fail(why, whylen, "expected Key=value items");
        size_t kl = (size_t)(p - k);
        const char *v;
        size_t vl;
        p++;
        if (*p == '"') {
            v = ++p;
            const char *q = strchr(p, '"');
            if (!q)
                return fail(why, whylen, "a quoted value has no closing quote");
            vl = (size_t)(q - v);
            p = q + 1;
            if (*p && *p != ' ' && *p != '\t')
                return fail(why, whylen, "text after a closing quote");
        } else {
            v = p;
            while (*p && *p != ' ' && *p != '\t')
                p++;
            vl = (size_t)(p - v);
            if (memchr(v, '"', vl))
                return fail(why, whylen, "a quote inside a value");
        }
        if (vl == 0)
            return fail(why, whylen, "an empty value");
        for (size_t i = 0; i < vl; i++)
            if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
                return fail(why, whylen, "values are printable ASCII");

        if (key_is(k, kl, "Issuer")) {
            if (have_issuer++)
                return fail(why, whylen, "Issuer given twice");
            if (vl == 1 && v[0] == '*')
                out->issuer_len = 0;
            else if (parse_thumbprint(v, vl, out->issuer, &out->issuer_len) != 0)
                return fail(why, whylen,
                            "Issuer is the SHA-1 (40 hex digits) or SHA-256 (64) thumbprint of "
                            "a CA certificate of ClientCAFile, or *");
        } else if (key_is(k, kl, "Subject")) {
            if (have_subject++)
                return fail(why, whylen, "Subject given twice");
            if (vl >= sizeof(out->subject))
                return fail(why, whylen, "Subject is too long");
            if (memchr(v + 1, '*', vl - 1))
                return fail(why, whylen, "'*' may only start a Subject pattern");
            memcpy(out->subject, v, vl);
            out->subject[vl] = '\0';
        } else if (key_is(k, kl, "UserName")) {
            if (have_user++)
                return fail(why, whylen, "UserName given twice");
            if (vl >= sizeof(out->user) || memchr(v, ' ', vl))
                return fail(why, whylen, "UserName is not a valid user name");
            memcpy(out->user, v, vl);
            out->user[vl] = '\0';
            if (!wsmd__username_ok(out->user))
                return fail(why, whylen, "UserName is not a valid user name");
        } else if (key_is(k, kl, "AllowRoot")) {
            if (have_root++)
                return fail(why, whylen, "AllowRoot given twice");
            if (key_is(v, vl, "true") || key_is(v, vl, "yes") || key_is(v, vl, "1"))
                out->allow_root = 1;
            else if (key_is(v, vl, "false") || key_is(v, vl, "no") || key_is(v, vl, "0"))
                out->allow_root = 0;
            else
                return fail(why, whylen, "AllowRoot is true or false");
        } else {
            return fail(why, whylen, "unknown key (want Issuer=, Subject=, UserName=, AllowRoot=)");
        }
    }
    if (!have_issuer)
        return fail(why, whylen, "Issuer= is missing (a CA thumbprint, or *)");
    if (!have_subject)
        return fail(why, whylen, "Subject= is missing (a name pattern, or *)");
    if (!have_user)
        return fail(why, whylen, "UserName= is missing");
    if (strcmp(out->user, "root") == 0 && !out->allow_root)
        return fail(why, whylen, "the mapping is to root: add AllowRoot=true if that is meant");
    return WSM_OK;
}

int wsmd__certmap_match(const char *pattern, const char *name, size_t len)
{
    if (!pattern || !name || len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return 0;
    if (pattern[0] == '*') {
        size_t sl = strlen(pattern + 1);
        if (sl == 0)
            return 1;
        return len > sl && strncasecmp(name + len - sl, pattern + 1, sl) == 0;
    }
    return strlen(pattern) == len && strncasecmp(name, pattern, len) == 0;
}

/* ---- names of a certificate ------------------------------------------------ */

typedef int (*name_fn)(void *arg, const char *name, size_t len);

static int san_names(gnutls_x509_crt_t crt, name_fn fn, void *arg)
{
    gnutls_datum_t ext = {NULL, 0};
    unsigned crit = 0;
    int r = 0;
    if (gnutls_x509_crt_get_extension_by_oid2(crt, GNUTLS_X509EXT_OID_SAN, 0, &ext, &crit) < 0)
        return 0;
    gnutls_subject_alt_names_t sans;
    if (gnutls_subject_alt_names_init(&sans) < 0) {
        gnutls_free(ext.data);
        return 0;
    }
    if (gnutls_x509_ext_import_subject_alt_names(&ext, sans, 0) >= 0) {
        for (unsigned seq = 0; seq < MAX_SAN && !r; seq++) {
            unsigned type = 0;
            gnutls_datum_t san = {NULL, 0}, oid = {NULL, 0};
            if (gnutls_subject_alt_names_get(sans, seq, &type, &san, &oid) < 0)
                break;
            if (type == GNUTLS_SAN_RFC822NAME && san.data) {
                r = fn(arg, (const char *)san.data, san.size);
            } else if (type == GNUTLS_SAN_OTHERNAME && san.data && oid.data &&
                       oid.size == strlen(UPN_OID) && memcmp(oid.data, UPN_OID, oid.size) == 0) {
                unsigned vt = 0;
                gnutls_datum_t v = {NULL, 0};
                if (gnutls_x509_othername_to_virtual(UPN_OID, &san, &vt, &v) >= 0) {
                    if (vt == GNUTLS_SAN_OTHERNAME_MSUSERPRINCIPAL && v.data)
                        r = fn(arg, (const char *)v.data, v.size);
                    gnutls_free(v.data);
                }
            }
        }
    }
    gnutls_subject_alt_names_deinit(sans);
    gnutls_free(ext.data);
    return r;
}

static int crt_names(gnutls_x509_crt_t crt, name_fn fn, void *arg)
{
    int r = san_names(crt, fn, arg);
    for (unsigned i = 0; i < MAX_CN && !r; i++) {
        char cn[WSMD_CERTMAP_MAX_SUBJECT];
        size_t sz = sizeof(cn);
        if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, i, 0, cn, &sz) < 0)
            break;
        if (sz < sizeof(cn))
            r = fn(arg, cn, strnlen(cn, sz) == sz ? sz : sizeof(cn)); /* a NUL: never matches */
    }
    return r;
}

int wsmd__cert_names(const unsigned char *der, size_t len, name_fn fn, void *arg)
{
    gnutls_x509_crt_t crt;
    if (len > 0xffffffffu || gnutls_x509_crt_init(&crt) < 0)
        return -1;
    gnutls_datum_t d = {(unsigned char *)der, (unsigned)len};
    int r = -1;
    if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) >= 0)
        r = crt_names(crt, fn, arg);
    gnutls_x509_crt_deinit(crt);
    return r;
}

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
static enum wsm_err make(const struct wsmd_config *cfg, int is_root, const char *pem,
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
    return make(cfg, is_root, NULL, out);
}

/* ---- requests ---------------------------------------------------------------- */

int wsmd__certauth_is_scheme(const char *authz)
{
    if (!authz)
        return 0;
    while (*authz == ' ' || *authz == '\t')
        authz++;
    size_t n = strlen(WSMD_CERT_SCHEME), l = strlen(authz);
    while (l > n && (authz[l - 1] == ' ' || authz[l - 1] == '\t'))
        l--;
    return l == n && strncasecmp(authz, WSMD_CERT_SCHEME, n) == 0;
}

struct match_ctx {
    const char *pattern;
};

static int match_name(void *arg, const char *name, size_t len)
{
    const struct match_ctx *m = arg;
    return wsmd__certmap_match(m->pattern, name, len);
}

/* For the log: the subject DN with anything odd replaced. */
static void subject_for_log(gnutls_x509_crt_t crt, char *out, size_t n)
{
    gnutls_datum_t dn = {NULL, 0};
    snprintf(out, n, "?");
    if (gnutls_x509_crt_get_dn3(crt, &dn, 0) < 0 || !dn.data)
        return;
    size_t i = 0;
    for (; i < dn.size && i + 1 < n; i++) {
        unsigned char ch = dn.data[i];
        out[i] = (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') ? '_' : (char)ch;
    }
    out[i] = '\0';
    gnutls_free(dn.data);
}

/* The verdict on a connection's certificate chain: NULL and user set, or
 * why not. */
static const char *judge(struct wsmd_certauth *ca, gnutls_session_t s, const gnutls_datum_t *peers,
                         unsigned n, char *user, size_t usz, char *subject, size_t ssz,
                         char *detail, size_t dsz)
{
    gnutls_x509_crt_t chain[MAX_CHAIN];
    gnutls_typed_vdata_st purpose = {GNUTLS_DT_KEY_PURPOSE_OID,
                                     (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT, 0};
    unsigned nchain = 0, status = 0;
    const char *why = NULL;

    /* The chain against ClientCAFile (the session's trust list), the
     * validity dates, and clientAuth where a certificate restricts its
     * purposes. */
    int rc = gnutls_certificate_verify_peers(s, &purpose, 1, &status);
    if (n > MAX_CHAIN)
        n = MAX_CHAIN;
    for (; nchain < n; nchain++) {
        if (gnutls_x509_crt_init(&chain[nchain]) < 0)
            break;
        if (gnutls_x509_crt_import(chain[nchain], &peers[nchain], GNUTLS_X509_FMT_DER) < 0) {
            gnutls_x509_crt_deinit(chain[nchain]);
            break;
        }
    }
    if (nchain == 0)
        return "unreadable certificate";
    subject_for_log(chain[0], subject, ssz);
    if (rc < 0 || status) {
        gnutls_datum_t txt = {NULL, 0};
        if (rc < 0)
            snprintf(detail, dsz, "%s", gnutls_strerror(rc));
        else if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &txt, 0) >=
                     0 &&
                 txt.data)
            snprintf(detail, dsz, "%s", (char *)txt.data);
        gnutls_free(txt.data);
        for (size_t i = 0; detail[i]; i++)
            if (detail[i] == '"' || (unsigned char)detail[i] < 0x20)
                detail[i] = '_';
        why = "not verified";
        goto out;
    }
    why = "no CertMapping matches";
    pthread_rwlock_rdlock(&ca->maps_lock);
    for (size_t i = 0; i < ca->nmaps; i++) {
        const struct cmap *cm = &ca->maps[i];
        struct match_ctx mc = {cm->m.subject};
        if (!crt_names(chain[0], match_name, &mc))
            continue;
        if (cm->tl) {
            unsigned st = 0;
            if (gnutls_x509_trust_list_verify_crt2(cm->tl, chain, nchain, &purpose, 1, 0, &st,
                                                   NULL) < 0 ||
                st)
                continue; /* another issuer */
        }
        /* The first mapping whose Issuer and Subject match decides. */
        if (ca->is_root) {
            struct passwd pw, *res = NULL;
            char pwbuf[4096];
            if (getpwnam_r(cm->m.user, &pw, pwbuf, sizeof(pwbuf), &res) != 0 || !res) {
                why = "the mapped user is not a local account";
                snprintf(detail, dsz, "%s", cm->m.user);
                break;
            }
            if (res->pw_uid == 0 && !cm->m.allow_root) {
                why = "the mapped account has uid 0 and the mapping no AllowRoot";
                snprintf(detail, dsz, "%s", cm->m.user);
                break;
            }
        } else if (strcmp(cm->m.user, "root") == 0 && !cm->m.allow_root) {
            why = "mapped to root without AllowRoot"; /* the parser refuses it already */
            break;
        }
        snprintf(user, usz, "%s", cm->m.user);
        why = NULL;
        break;
    }
    pthread_rwlock_unlock(&ca->maps_lock);
out:
    for (unsigned i = 0; i < nchain; i++)
        gnutls_x509_crt_deinit(chain[i]);
    return why;
}

static size_t bucket_of(const struct MHD_Connection *c)
{
    uintptr_t x = (uintptr_t)c;
    x ^= x >> 17;
    x *= 0x9E3779B97F4A7C15ull & UINTPTR_MAX;
    return (size_t)(x >> 8) % VERDICT_BUCKETS;
}

/* 1 and user filled, 0 refused, -1 nothing known for (c, fp). */
static int verdict_get(struct wsmd_certauth *ca, const struct MHD_Connection *c,
                       const unsigned char fp[32], char *user, size_t usz)
{
    int r = -1;
    if (!atomic_load(&ca->any))
        return -1;
    pthread_mutex_lock(&ca->lock);
    for (struct verdict *v = ca->verdicts[bucket_of(c)]; v; v = v->next) {
        if (v->conn == c) {
            if (memcmp(v->fp, fp, 32) == 0) {
                r = v->ok;
                if (r)
                    snprintf(user, usz, "%s", v->user);
            }
            break;
        }
    }
    pthread_mutex_unlock(&ca->lock);
    return r;
}

static void verdict_put(struct wsmd_certauth *ca, const struct MHD_Connection *c,
                        const unsigned char fp[32], int ok, const char *user)
{
    pthread_mutex_lock(&ca->lock);
    struct verdict **head = &ca->verdicts[bucket_of(c)], *v = *head;
    while (v && v->conn != c)
        v = v->next;
    if (!v && ca->nverdicts < VERDICT_MAX && (v = calloc(1, sizeof(*v))) != NULL) {
        v->conn = c;
        v->next = *head;
        *head = v;
        ca->nverdicts++;
        atomic_store(&ca->any, ca->nverdicts);
    }
    if (v) {
        memcpy(v->fp, fp, 32);
        v->ok = ok;
        snprintf(v->user, sizeof(v->user), "%s", ok ? user : "");
    }
    pthread_mutex_unlock(&ca->lock);
}

void wsmd__certauth_forget(struct wsmd_certauth *ca, struct MHD_Connection *c)
{
    if (!ca || !atomic_load(&ca->any))
        return;
    pthread_mutex_lock(&ca->lock);
    for (struct verdict **pp = &ca->verdicts[bucket_of(c)]; *pp; pp = &(*pp)->next) {
        if ((*pp)->conn == c) {
            struct verdict *v = *pp;
            *pp = v->next;
            free(v);
            ca->nverdicts--;
            atomic_store(&ca->any, ca->nverdicts);
            break;
        }
    }
    pthread_mutex_unlock(&ca->lock);
}

const char *wsmd__certauth_user(struct wsmd_certauth *ca, struct MHD_Connection *c, char *user,
                                size_t usz)
{
    if (!ca || !c || !user || usz == 0)
        return NULL;
    user[0] = '\0';
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session)
        return NULL;
    gnutls_session_t s = ci->tls_session;
    unsigned n = 0;
    const gnutls_datum_t *peers = NULL;
    if (gnutls_certificate_type_get2(s, GNUTLS_CTYPE_PEERS) == GNUTLS_CRT_X509)
        peers = gnutls_certificate_get_peers(s, &n);
    if (!peers || n == 0 || !peers[0].data) {
        wsmd__log("event=cert-refused reason=\"no client certificate\"");
        return NULL;
    }
    unsigned char fp[32];
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, peers[0].data, peers[0].size, fp) < 0)
        return NULL;
    int known = verdict_get(ca, c, fp, user, usz);
    if (known >= 0)
        return known ? user : NULL;

    char subject[256] = "?", detail[256] = "", thumb[41] = "?", mapped[WSMD_MAX_USER] = "";
    wsmd__thumbprint_der(peers[0].data, peers[0].size, thumb);
    if (!thumb[0])
        strcpy(thumb, "?");
    const char *why = judge(ca, s, peers, n, mapped, sizeof(mapped), subject, sizeof(subject),
                            detail, sizeof(detail));
    verdict_put(ca, c, fp, !why, mapped);
    if (why) {
        wsmd__log("event=cert-refused cert=%s subject=\"%s\" reason=\"%s%s%s\"", thumb, subject,
                  why, detail[0] ? ": " : "", detail);
        return NULL;
    }
    wsmd__log("event=cert-mapped cert=%s subject=\"%s\" user=%s", thumb, subject, mapped);
    snprintf(user, usz, "%s", mapped);
    return user;
}

/* CertMapping lines created or deleted over WS-Management (cfglisten.c):
 * the mappings of cfg, checked as at startup, replace ca's; every verdict
 * is dropped so that a deleted mapping takes effect on open connections
 * too. On error ca is unchanged. */
enum wsm_err wsmd__certauth_replace_maps(struct wsmd_certauth *ca, const struct wsmd_config *cfg)
{
    struct wsmd_certauth *tmp = NULL;
    enum wsm_err e = make(cfg, ca->is_root, ca->ca_pem, &tmp);
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
    enum wsm_err e = make(cfg, ca->is_root, ca->ca_pem, &tmp);
    wsmd__certauth_free(tmp);
    return e;
}
