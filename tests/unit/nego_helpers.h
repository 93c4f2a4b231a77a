/* Helpers of the Negotiate unit tests (test_negotiate*.c): a fixture with
 * a user file and wsmd's acceptor, and a GSSAPI initiator (gss-ntlmssp with
 * a user name and password, as pywinrm's NTLM) that speaks to it through
 * the Authorization / WWW-Authenticate values and multipart/encrypted
 * bodies exactly as they would cross HTTP. */
#ifndef WSM_TESTS_NEGO_HELPERS_H
#define WSM_TESTS_NEGO_HELPERS_H

#include <gssapi/gssapi.h>
#include <stddef.h>

#include "negotiate.h"

#define PASSWORD "Secret123!"

struct fixture {
    char dir[256];
    char path[300];
    struct wsmd_nego *nego;
};

/* Users alice (PASSWORD) and bob, carol without an NT hash. */
int setup(void **state);
int teardown(void **state);
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
void write_users(struct fixture *f, const char *const *names, const char *const *pws, size_t n);
void append_line(struct fixture *f, const char *line);

struct client {
    gss_cred_id_t cred;
    gss_name_t target;
    gss_ctx_id_t ctx;
    gss_OID mech;
    const char *scheme;
    OM_uint32 maj; /* of the last init call */
};

void client_init(struct client *cl, const char *user, const char *pw, int spnego);
void client_free(struct client *cl);
/* Feeds the server's WWW-Authenticate (NULL at first); returns the next
 * Authorization value (malloc'd) or NULL when the client has nothing to
 * send. */
char *client_step(struct client *cl, const char *www);
/* Runs the handshake; returns the result of the last server step. */
enum wsm_err handshake(struct client *cl, struct wsmd_nego_conn *c);
/* The client seals msg as pywinrm does (signature first); returns the body. */
char *client_seal(struct client *cl, const char *msg, size_t n, size_t chunk, size_t *len);
/* The client opens a reply as pywinrm's _decrypt_ntlm_message does. */
char *client_open(struct client *cl, const char *ct, const char *body, size_t len, size_t *n);
/* Request and reply, both sealed, n times over. */
void exchange(struct client *cl, struct wsmd_nego_conn *c, int rounds, size_t size, size_t chunk);

#endif
