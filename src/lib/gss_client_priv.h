/* Private to the client's Negotiate code: what gss_client.c (credentials
 * and the handshake) and gss_seal.c (sealing and unsealing bodies with the
 * context it made) share. See gss_client.h for the API. */
#ifndef WSM_GSS_CLIENT_PRIV_H
#define WSM_GSS_CLIENT_PRIV_H

#include <gssapi/gssapi.h>
#include <pthread.h>
#include <stdint.h>

#include "gss_client.h"

struct wsm_ntlm_seal;

struct wsm_gss_cred {
    enum wsm_gss_kind kind;
    char *user, *password, *target;
    char *client_keytab; /* "ClientKeytab": initiate from this keytab */
    char ccache[64];     /* its own MEMORY: cache, so no ticket leaves the process */
    pthread_mutex_t mu;
    int acquired; /* tried: cred and error hold the outcome */
    enum wsm_err status;
    char error[300];
    gss_cred_id_t cred;
    gss_name_t target_name;
};

struct wsm_gss_ctx {
    struct wsm_gss_cred *c;
    gss_ctx_id_t ctx;
    int steps;
    int done;
    int ntlm;          /* the established mechanism is NTLM */
    int can_seal;      /* confidentiality and integrity */
    unsigned char *cb; /* channel bindings' application data (https), or NULL */
    size_t cb_len;
    /* NTLM sealed by ntlmseal.c rather than gss_wrap (ntlm_fast_setup). */
    int gss_only;             /* tests: never */
    int have_chal, have_auth; /* the flags of the handshake's messages */
    uint32_t chal_flags, auth_flags;
    struct wsm_ntlm_seal *fast; /* NULL: gss_wrap/gss_unwrap */
    int no_tab;                 /* MIME part headers without the leading tab (OMI) */
};

/* GSSAPI's words for maj/min, appended to err after what. */
void wsm__gss_error(char *err, size_t errlen, const char *what, OM_uint32 maj, OM_uint32 min);

#endif
