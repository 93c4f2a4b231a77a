/* HTTP Negotiate, a completed handshake: the authenticated name mapped
 * to a local account (NTLM DOMAIN\\user against the user file, Kerberos
 * principals by realm), the principal kept for the collector, and NTLM
 * sealing moved to ntlmseal.c when the negotiated flags allow. */
#include "negotiate.h"

#include <dirent.h>
#include <dlfcn.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <pthread.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64.h"
#include "buf.h"
#include "gssload.h"
#include "krb5hint.h"
#include "ntlmseal.h"
#include "server.h"
#include "userfile.h"
#include "negotiate_priv.h"

/* ---- names ------------------------------------------------------------- */

static int ascii_only(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 0;
    return 1;
}

static int ascii_caseeq(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && strncasecmp(a, b, an) == 0;
}

/* Maps the NTLM name gss-ntlmssp authenticated ("DOMAIN\user" or "user")
 * to the user file entry whose NT hash it used. gss-ntlmssp takes the
 * first line whose user (and domain, when both have one) match without
 * regard to case (Unicode folding); this mapping does the same in ASCII and
 * refuses whenever the two could disagree: a non-ASCII name, two entries
 * that match, a line gss-ntlmssp would read differently before the match. */
static enum wsm_err map_ntlm(struct wsmd_nego_conn *c, const char *dn, size_t dl)
{
    const char *bs = memchr(dn, '\\', dl);
    const char *cdom = bs ? dn : NULL, *cuser = bs ? bs + 1 : dn;
    size_t cdl = bs ? (size_t)(bs - dn) : 0, cul = dl - (size_t)(cuser - dn);
    if (cul == 0 || !ascii_only(dn, dl) || memchr(dn, '\0', dl))
        return WSM_ERR_AUTH;
    if (cdom && cdl == 0)
        cdom = NULL;

    /* As auth.c reads it: a malformed line (logged there, at its reload)
     * is skipped rather than refusing everyone; a file others may write is
     * not trusted. */
    struct wsmd_userfile uf;
    enum wsm_err e =
        wsmd__userfile_read(c->n->users_path, WSMD_UF_SKIP_BAD | WSMD_UF_MODE, &uf, NULL, 0);
    if (e)
        return e == WSM_ERR_NOMEM ? e : WSM_ERR_AUTH;
    const struct wsmd_user *cand = NULL;
    int matches = 0, poisoned = 0;
    for (size_t i = 0; i < uf.n; i++) {
        const struct wsmd_user *u = &uf.users[i];
        size_t linelen =
            strlen(u->name) + 1 + strlen(u->hash) + (u->rest ? 1 + strlen(u->rest) : 0);
        if (!u->rest) /* "name:hash": gss-ntlmssp skips it */
            continue;
        if (!strchr(u->rest, ':')) {
            /* "a:b:c": Heimdal's DOMAIN:USER:PASSWORD to gss-ntlmssp. */
            if (!cand && ascii_caseeq(u->hash, strlen(u->hash), cuser, cul))
                poisoned = 1;
            continue;
        }
        if (!cand && (linelen >= NTLM_LINE_MAX || !ascii_only(u->name, strlen(u->name))))
            poisoned = 1;
        if (!wsmd__userfile_has_nthash(u))
            continue;
        const char *en = u->name, *ebs = strchr(en, '\\');
        const char *edom = ebs ? en : NULL, *euser = ebs ? ebs + 1 : en;
        size_t edl = ebs ? (size_t)(ebs - en) : 0;
        if (!ascii_caseeq(euser, strlen(euser), cuser, cul))
            continue;
        if (edom && cdom && !ascii_caseeq(edom, edl, cdom, cdl))
            continue;
        matches++;
        if (!cand)
            cand = u;
    }
    e = WSM_ERR_AUTH;
    if (cand && matches == 1 && !poisoned && strlen(cand->name) < sizeof(c->user)) {
        strcpy(c->user, cand->name);
        e = WSM_OK;
    } else if (cand) {
        wsmd__log("event=negotiate-error step=map-user message=\"NTLM name matches the user "
                  "file ambiguously\"");
    }
    wsmd__userfile_clear(&uf);
    return e;
}

static enum wsm_err map_krb5(struct wsmd_nego_conn *c, gss_name_t src, const char *dn, size_t dl)
{
    char name[WSMD_MAX_USER];
    if (c->n->realm) {
        size_t rl = strlen(c->n->realm);
        if (dl < rl + 2 || dn[dl - rl - 1] != '@' || memcmp(dn + dl - rl, c->n->realm, rl) != 0)
            return WSM_ERR_AUTH;
        size_t ul = dl - rl - 1;
        if (ul >= sizeof(name) || memchr(dn, '/', ul) || memchr(dn, '@', ul) ||
            memchr(dn, '\\', ul))
            return WSM_ERR_AUTH;
        memcpy(name, dn, ul);
        name[ul] = '\0';
    } else {
        OM_uint32 maj, min;
        gss_buffer_desc ln = GSS_C_EMPTY_BUFFER;
        maj = wsm__gss.localname(&min, src, &wsm__oid_krb5, &ln);
        if (GSS_ERROR(maj)) {
            wsmd__nego_log_gss("localname", maj, min);
            return WSM_ERR_AUTH;
        }
        int ok = ln.length > 0 && ln.length < sizeof(name);
        if (ok) {
            memcpy(name, ln.value, ln.length);
            name[ln.length] = '\0';
            ok = strlen(name) == ln.length;
        }
        wsm__gss.release_buffer(&min, &ln);
        if (!ok)
            return WSM_ERR_AUTH;
    }
    if (!wsmd__username_ok(name))
        return WSM_ERR_AUTH;
    if (!c->n->users_path) {
        /* No user file (root with PAM): the name must be a local account. */
        struct passwd pw, *res = NULL;
        char buf[4096];
        if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res) {
            wsmd__log("event=negotiate-error step=map-user message=\"no local account for the "
                      "Kerberos name\"");
            return WSM_ERR_AUTH;
        }
    } else {
        struct wsmd_userfile uf;
        enum wsm_err e =
            wsmd__userfile_read(c->n->users_path, WSMD_UF_SKIP_BAD | WSMD_UF_MODE, &uf, NULL, 0);
        if (e)
            return e == WSM_ERR_NOMEM ? e : WSM_ERR_AUTH;
        int found = wsmd__userfile_find(&uf, name) != NULL;
        wsmd__userfile_clear(&uf);
        if (!found)
            return WSM_ERR_AUTH;
    }
    strcpy(c->user, name);
    return WSM_OK;
}

/* ---- the handshake ----------------------------------------------------- */

/* NTLM sealing without GSSAPI: gss-ntlmssp's gss_wrap and gss_unwrap make
 * OpenSSL key objects for every message, which costs tens of microseconds
 * each; ntlmseal.c does the same RC4 and HMAC-MD5 with nettle from the
 * exported session key (GSS_C_INQ_SSPI_SESSION_KEY) and the negotiated
 * flags. gss-ntlmssp's acceptor derives its keys from the flags of its
 * CHALLENGE message; the AUTHENTICATE message must agree on every flag
 * that matters, or the sealing stays with GSSAPI (as it does for anything
 * ntlmseal.c does not implement: no extended session security, DATAGRAM).
 * Raw NTLM only: under SPNEGO the mechListMIC exchange has already used
 * sequence numbers and RC4 state (gss_get_mic/gss_verify_mic inside MIT's
 * SPNEGO), which this module could only guess. */
void wsmd__nego_fast_setup(struct wsmd_nego_conn *c)
{
    OM_uint32 maj, min;
    const char *why = NULL;
    if (!wsm__gss.inquire_sec_context_by_oid)
        why = "no gss_inquire_sec_context_by_oid";
    else if (!c->have_chal || !c->have_auth)
        why = "NTLM messages not seen";
    else if ((c->chal_flags ^ c->auth_flags) & WSM_NTLM_CRYPTO_FLAGS)
        why = "CHALLENGE and AUTHENTICATE flags differ";
    else if (!wsm__ntlm_flags_ok(c->chal_flags))
        why = "no extended session security, or datagram";
    if (why)
        goto out;
    gss_buffer_set_t set = GSS_C_NO_BUFFER_SET;
    maj = wsm__gss.inquire_sec_context_by_oid(&min, c->ctx, &wsm__oid_inq_session_key, &set);
    if (GSS_ERROR(maj) || !set || set->count < 1 || set->elements[0].length != WSM_NTLM_KEY_LEN) {
        why = "no session key";
    } else if (!(c->fast = malloc(sizeof(*c->fast)))) {
        why = "out of memory";
    } else {
        wsm__ntlm_seal_init(c->fast, set->elements[0].value, c->chal_flags, 0);
    }
    if (set) {
        for (size_t i = 0; i < set->count; i++)
            explicit_bzero(set->elements[i].value, set->elements[i].length);
        wsm__gss.release_buffer_set(&min, &set);
    }
out:
    if (why)
        wsmd__log("event=negotiate-notice message=\"NTLM sealing through GSSAPI: %s\" "
                  "flags=0x%08x/0x%08x",
                  why, (unsigned)c->chal_flags, (unsigned)c->auth_flags);
}

/* A name fit for logs and globs: printable ASCII, no quote or backslash
 * but the one of DOMAIN\\user. */
static int principal_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f || s[i] == '"')
            return 0;
    return n > 0;
}

enum wsm_err wsmd__nego_finish(struct wsmd_nego_conn *c, gss_name_t src, gss_OID mech,
                               OM_uint32 flags)
{
    OM_uint32 maj, min;
    gss_buffer_desc dn = GSS_C_EMPTY_BUFFER;
    maj = wsm__gss.display_name(&min, src, &dn, NULL);
    if (GSS_ERROR(maj)) {
        wsmd__nego_log_gss("display-name", maj, min);
        return WSM_ERR_AUTH;
    }
    enum wsm_err e;
    size_t dl = dn.length;
    /* gss-ntlmssp counts the terminating NUL. */
    while (dl && ((const char *)dn.value)[dl - 1] == '\0')
        dl--;
    c->mech_ntlm = mech && wsm__gss_oid_eq(mech, &wsm__oid_ntlm);
    int krb5 = mech && wsm__gss_oid_eq(mech, &wsm__oid_krb5);
    c->principal[0] = '\0';
    if (dl < sizeof(c->principal) && !memchr(dn.value, '\0', dl) && principal_ok(dn.value, dl)) {
        memcpy(c->principal, dn.value, dl);
        c->principal[dl] = '\0';
    }
    if (c->mech_ntlm && c->n->users_path)
        e = map_ntlm(c, dn.value, dl);
    else if (krb5)
        e = map_krb5(c, src, dn.value, dl);
    else
        e = WSM_ERR_AUTH;
    if (e == WSM_ERR_AUTH && krb5 && c->n->allow_unmapped && c->principal[0]) {
        /* A machine (WS1$@EXAMPLE.COM) or any principal without a local
         * account: proven, but it holds no local right; only the event
         * collector's paths accept it (http.c). */
        c->user[0] = '\0';
        e = WSM_OK;
    }
    if (e == WSM_OK && !c->principal[0])
        snprintf(c->principal, sizeof(c->principal), "%s", c->user);
    wsm__gss.release_buffer(&min, &dn);
    c->can_seal = (flags & GSS_C_CONF_FLAG) && (flags & GSS_C_INTEG_FLAG);
    return e;
}
