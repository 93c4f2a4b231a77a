/* The client's reading of WWW-Authenticate: which schemes a 401 offers and
 * the token of a Negotiate (or NTLM, Kerberos) challenge. Pure code, no
 * GSSAPI: fuzz/fuzz_wwwauth.c drives it. */
#ifndef WSM_WWWAUTH_H
#define WSM_WWWAUTH_H

#include <stddef.h>

#include "wsm/wsm.h"

/* Largest token accepted (decoded): Kerberos tokens with a big PAC reach
 * tens of KB. */
#define WSM_WWW_MAX_TOKEN 65536

/* www: the WWW-Authenticate values of one response, each ended by '\n'
 * (as http.c collects them); a value may hold several challenges
 * separated by commas ("Negotiate, Basic realm=\"WSMAN\"").
 * Looks for the challenge of scheme (case-insensitive):
 *  - WSM_ERR_NOT_FOUND: not offered;
 *  - WSM_OK: offered; *tok is the decoded token (malloc'd) and *len its
 *    length, or NULL and 0 when the challenge carries none;
 *  - WSM_ERR_AUTH: offered with a token that is not base64 or too long;
 *  - WSM_ERR_NOMEM. */
enum wsm_err wsm__www_token(const char *www, const char *scheme, unsigned char **tok, size_t *len);

/* The schemes offered, for messages: "Negotiate, Basic" in out (n bytes,
 * truncated, never more than n - 1 characters and a NUL); "" for none.
 * Only printable ASCII is copied. */
void wsm__www_schemes(const char *www, char *out, size_t n);

#endif
