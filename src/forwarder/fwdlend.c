/* The forwarder's credentials lent to the event source's push deliveries
 * (docs/internals/eventlog.md, "Authenticating to the subscriber"): a push
 * Subscribe that asks for Kerberos or a client certificate is served with
 * the machine keytab and the certificate configured for the forwarder
 * (ForwarderKeytab, ForwarderPrincipal, ForwarderCertificate, ForwarderKey,
 * ForwarderCAFile), which root opened before the split
 * (wsmd__fwd_prepare). The network process copies them once into memfds of
 * its own, as the forwarder does, and works out the certificate's
 * thumbprint and its issuers' for the Subscribe's ClientCertificate. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "fwd_priv.h"
#include "server.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct wsmd_fwd_lent lent;
static int done;

/* A descriptor's content (at most 1 MiB, as prepare checked), NUL-ended. */
static char *slurp(int fd, size_t *len)
{
    size_t cap = 1 << 20, n = 0;
    char *b = malloc(cap + 1);
    while (b && n < cap) {
        ssize_t r = pread(fd, b + n, cap - n, (off_t)n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    if (b)
        b[n] = '\0';
    *len = n;
    return b;
}

static void add_issuer(gnutls_x509_crt_t crt)
{
    if (lent.nissuers >= WSMD_FWD_LENT_ISSUERS)
        return;
    wsmd__thumbprint_crt(crt, lent.issuers[lent.nissuers]);
    if (lent.issuers[lent.nissuers][0])
        lent.nissuers++;
}

/* The certificate's thumbprint, and those of the certificates that issued
 * it: the chain after it in its own file, and the ForwarderCAFile
 * certificates that signed it (MS-WSMV 2.2.4.1: a Thumbprint with
 * Role="issuer" names the issuing CA). */
static void thumbprints(const struct wsmd_fwdcfg *c)
{
    size_t len = 0;
    char *pem = slurp(c->fd[FWD_CERT], &len);
    gnutls_x509_crt_t *list = NULL;
    unsigned n = 0;
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned)len};
    if (!pem || gnutls_x509_crt_list_import2(&list, &n, &d, GNUTLS_X509_FMT_PEM, 0) < 0)
        n = 0;
    free(pem);
    if (n == 0)
        return;
    wsmd__thumbprint_crt(list[0], lent.thumb);
    for (unsigned i = 1; i < n; i++)
        add_issuer(list[i]);
    if (c->fd[FWD_CA] >= 0) {
        char *ca = slurp(c->fd[FWD_CA], &len);
        gnutls_x509_crt_t *cas = NULL;
        unsigned m = 0;
        gnutls_datum_t cd = {(unsigned char *)ca, (unsigned)len};
        if (ca && gnutls_x509_crt_list_import2(&cas, &m, &cd, GNUTLS_X509_FMT_PEM, 0) >= 0) {
            for (unsigned i = 0; i < m; i++) {
                if (gnutls_x509_crt_check_issuer(list[0], cas[i]))
                    add_issuer(cas[i]);
                gnutls_x509_crt_deinit(cas[i]);
            }
            gnutls_free(cas);
        }
        free(ca);
    }
    for (unsigned i = 0; i < n; i++)
        gnutls_x509_crt_deinit(list[i]);
    gnutls_free(list);
}

const struct wsmd_fwd_lent *wsmd__fwd_lent(const struct wsmd_config *cfg)
{
    pthread_mutex_lock(&mu);
    if (!done && cfg && cfg->fwd) {
        const struct wsmd_fwdcfg *c = cfg->fwd;
        /* Only what root opened: a keytab merely defaulted for the
         * forwarder's own use is lent as well (it is the machine's). */
        if (wsmd__fwd_own_copy(c->fd[FWD_KEYTAB], lent.keytab) != 0 ||
            wsmd__fwd_own_copy(c->fd[FWD_CA], lent.ca) != 0)
            lent.keytab[0] = lent.ca[0] = '\0';
        if (c->fd[FWD_CERT] >= 0 && (wsmd__fwd_own_copy(c->fd[FWD_CERT], lent.cert) != 0 ||
                                     wsmd__fwd_own_copy(c->fd[FWD_KEY], lent.key) != 0))
            lent.cert[0] = lent.key[0] = '\0';
        if (lent.cert[0])
            thumbprints(c);
        if (!lent.thumb[0])
            lent.cert[0] = '\0'; /* not a certificate GnuTLS reads: none to offer */
        if (c->principal)
            snprintf(lent.principal, sizeof(lent.principal), "%s", c->principal);
        else
            snprintf(lent.principal, sizeof(lent.principal), "host/%s", c->machine_id);
    }
    done = 1;
    pthread_mutex_unlock(&mu);
    return &lent;
}

int wsmd__fwd_lent_matches(const struct wsmd_fwd_lent *l, const char *thumb, int issuer)
{
    if (!l->cert[0] || !thumb)
        return 0;
    char want[WSMD_THUMBPRINT_LEN];
    size_t n = 0;
    /* As Windows shows them: hex, any case, often with spaces between the
     * bytes (the certificate dialog's form). */
    for (const char *p = thumb; *p; p++) {
        if (*p == ' ' || *p == ':' || *p == '\t' || *p == '\n' || *p == '\r')
            continue;
        if (n == WSMD_THUMBPRINT_LEN - 1)
            return 0;
        char ch = *p >= 'a' && *p <= 'f' ? (char)(*p - 32) : *p;
        if (!((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'F')))
            return 0;
        want[n++] = ch;
    }
    want[n] = '\0';
    if (n != WSMD_THUMBPRINT_LEN - 1)
        return 0;
    if (!issuer)
        return !strcmp(want, l->thumb);
    for (int i = 0; i < l->nissuers; i++)
        if (!strcmp(want, l->issuers[i]))
            return 1;
    return 0;
}
