/* Client-certificate authentication (see certauth.h and
 * docs/internals/certauth.md). libmicrohttpd asks TLS clients for a
 * certificate when it is given the CA bundle (MHD_OPTION_HTTPS_MEM_TRUST);
 * GnuTLS verifies the chain, the validity period and the key purpose; this
 * file decides which local user, if any, a verified certificate stands for,
 * once per connection. *
 * This file: a request's certificate judged, its verdict kept per
 * connection; the configuration is read in certcfg.c, mappings and
 * names in certmap.c (certauth_priv.h). */
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
        if (!wsmd__cert_crt_names(chain[0], match_name, &mc))
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
