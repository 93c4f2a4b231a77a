/* Between the files of client-certificate authentication (certauth.h):
 * certauth.c (a connection's certificate judged and its verdict kept),
 * certcfg.c (ClientCAFile and the mappings checked against it) and
 * certmap.c (CertMapping lines, the names of a certificate). */
#ifndef WSMD_CERTAUTH_PRIV_H
#define WSMD_CERTAUTH_PRIV_H

#include <gnutls/x509.h>
#include <pthread.h>
#include <stdatomic.h>

#include "certauth.h"
#include "server.h"

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

typedef int (*name_fn)(void *arg, const char *name, size_t len);

int wsmd__cert_crt_names(gnutls_x509_crt_t crt, name_fn fn, void *arg);
/* pem: the CA bundle already read (a change of the mappings in the
 * unprivileged network process, which may not read the file), or NULL. */
enum wsm_err wsmd__certauth_make(const struct wsmd_config *cfg, int is_root, const char *pem,
                                 struct wsmd_certauth **out);

#endif
