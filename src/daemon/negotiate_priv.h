/* Between the files of HTTP Negotiate (negotiate.h): negotiate.c (headers,
 * tokens, connections, a handshake's legs), negcred.c (the service's
 * credentials, channel bindings, NTLM token fields), negfinish.c (a
 * completed handshake: names mapped to local users, NTLM sealing set up),
 * negremote.c (the handshake run in the privsep monitor) and negwrap.c
 * (WinRM message encryption). */
#ifndef WSMD_NEGOTIATE_PRIV_H
#define WSMD_NEGOTIATE_PRIV_H

#include <gssapi/gssapi.h>
#include <pthread.h>
#include <stdint.h>

#include "negotiate.h"
#include "ntlmseal.h"
#include "server.h"
#include "userfile.h"

/* Largest decoded token: Kerberos tickets with a big PAC reach tens of KB
 * (Windows' MaxTokenSize is 48000). */
#define MAX_TOKEN 65536
/* Legs of one handshake (NTLM: 2, SPNEGO+NTLM: 2, Kerberos: 1). */
#define MAX_LEGS 6
/* The shortest NTLM negotiate message gss-ntlmssp 1.2 accepts: with the
 * 8-byte version field. */
#define NTLM_NEGOTIATE_MIN 40
/* NTLM negotiate flags ([MS-NLMP] 2.2.2.5). */
#define NTLM_FL_SIGN 0x00000010u
#define NTLM_FL_SEAL 0x00000020u
#define NTLM_FL_ALWAYS_SIGN 0x00008000u
#define NTLM_FL_VERSION 0x02000000u
/* AV pair ids ([MS-NLMP] 2.2.2.1). */
#define NTLM_AV_EOL 0x0000
#define NTLM_AV_CHANNEL_BINDINGS 0x000a
/* RFC 5929 4.1 */
#define TLS_END_POINT_PREFIX "tls-server-end-point:"
/* gss-ntlmssp reads its key file with fgets into 1024 bytes. */
#define NTLM_LINE_MAX 1023

/* gss-ntlmssp's header gssapi/gssapi_ntlmssp.h defines these (and the
 * NTLM OID, in gssload.c); they are spelled out so that only gss-ntlmssp
 * the package, not its -dev, is needed to build. */
#define CS_NTLM_KEYFILE "ntlmssp_keyfile"
#define CS_KRB5_KEYTAB "keytab"

struct wsmd_nego {
    char *users_path;
    char *realm;
    char *service;
    char *keytab;
    int service_given;
    int allow_unmapped;       /* Kerberos names without a local account pass (collector) */
    int want_ntlm, want_krb5; /* asked for, and the system seems to have it */
    int cbt_level;            /* enum wsmd_cbt */
    unsigned char *cbt;       /* channel binding application data (TLS), or NULL */
    size_t cbt_len;

    pthread_mutex_t lock; /* guards the acquisition below, done once */
    int acquired;
    gss_cred_id_t cred_ntlm;   /* raw NTLMSSP tokens */
    gss_cred_id_t cred_krb5;   /* raw Kerberos tokens */
    gss_cred_id_t cred_spnego; /* SPNEGO: NTLM and/or Kerberos inside */

    /* Privilege separation: the handshake is the monitor's (see
     * wsmd__nego_set_remote); this process only imports its result. */
    wsmd_nego_remote_step_fn remote_step;
    void (*remote_free)(uint64_t conn);
    uint64_t next_id;
};

enum conn_state { ST_NONE, ST_PROGRESS, ST_DONE };
enum conn_kind { K_NTLM, K_SPNEGO, K_KRB5 };

struct wsmd_nego_conn {
    struct wsmd_nego *n;
    uint64_t id; /* the monitor's name for this handshake (remote only) */
    gss_ctx_id_t ctx;
    enum conn_state state;
    enum conn_kind kind;
    int legs;
    int mech_ntlm; /* the established mechanism is NTLM (signature first, 16 bytes) */
    int can_seal;
    int tls;      /* a TLS connection: bindings as cbt_level says */
    int cb_bound; /* this handshake's NTLM authenticate carried channel bindings */
    char scheme[16];
    enum wsm_mpenc_proto proto;
    char user[WSMD_MAX_USER]; /* empty: a principal with no local account */
    /* The authenticated name as GSSAPI displays it (WS1$@EXAMPLE.COM,
     * EXAMPLE\\user): the event collector's identity of a source. */
    char principal[WSMD_MAX_PRINCIPAL];
    /* NTLM sealed by ntlmseal.c rather than gss_wrap (see fast_setup). */
    int gss_only;             /* tests: never */
    int have_chal, have_auth; /* the flags of this handshake's messages */
    uint32_t chal_flags, auth_flags;
    struct wsm_ntlm_seal *fast; /* NULL: gss_wrap/gss_unwrap */
};

/* negotiate.c: a GSSAPI status on the log, one line. */
void wsmd__nego_log_gss(const char *what, OM_uint32 maj, OM_uint32 min);
/* "Scheme base64(token)" for WWW-Authenticate (malloc'd; NULL: no memory). */

/* negcred.c: the credentials, acquired once (0: none usable); whether the
 * token carries the channel bindings this connection needs. */
int wsmd__nego_acquire_all(struct wsmd_nego *n);
int wsmd__nego_token_bindings(const unsigned char *t, size_t n, enum wsmd_nego_token kind);

/* negfinish.c: NTLM sealed by ntlmseal.c when the flags allow; the
 * completed handshake's user and principal. */
void wsmd__nego_fast_setup(struct wsmd_nego_conn *c);
enum wsm_err wsmd__nego_finish(struct wsmd_nego_conn *c, gss_name_t src, gss_OID mech,
                               OM_uint32 flags);

/* negremote.c: one leg through the privsep monitor. */
enum wsm_err wsmd__nego_remote_step(struct wsmd_nego_conn *c, const char *authz, char **www,
                                    int *done);

#endif
