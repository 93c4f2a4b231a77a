/* NTLM session security ([MS-NLMP] 3.4): sealing and unsealing of
 * messages with the keys of an NTLM context established elsewhere
 * (gss-ntlmssp), with nettle's MD5 and HMAC-MD5 and OpenSSL's RC4, which
 * runs at 2.25 times the speed of nettle's (700 against 310 MB/s on the
 * test machines); libcrypto is loaded at the first context (gss-ntlmssp
 * has it in the process already), and nettle's ARCFOUR is used when it
 * cannot be.
 *
 * Only NTLM2 session security with extended session security
 * (NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY), connection-oriented (no
 * DATAGRAM), with SIGN and SEAL, is implemented: wsm__ntlm_flags_ok tells
 * whether a context's flags are that case, and a caller falls back to
 * GSSAPI's gss_wrap/gss_unwrap otherwise. Keys of 128, 56 or 40 bits as
 * the flags say; the checksum encrypted when KEY_EXCH was negotiated.
 *
 * One RC4 handle and one sequence number per direction, kept across
 * messages: the order of seal and unseal calls must be the order of the
 * messages on the wire. A failed unseal leaves the state out of step with
 * the peer's: drop it. See docs/internals/negotiate.md. */
#ifndef WSM_NTLMSEAL_H
#define WSM_NTLMSEAL_H

#include <nettle/arcfour.h>
#include <nettle/hmac.h>
#include <openssl/rc4.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* NegotiateFlags ([MS-NLMP] 2.2.2.5) that matter here. */
#define WSM_NTLM_SIGN 0x00000010u
#define WSM_NTLM_SEAL 0x00000020u
#define WSM_NTLM_DATAGRAM 0x00000040u
#define WSM_NTLM_LM_KEY 0x00000080u
#define WSM_NTLM_ESS 0x00080000u /* NEGOTIATE_EXTENDED_SESSIONSECURITY */
#define WSM_NTLM_128 0x20000000u
#define WSM_NTLM_KEY_EXCH 0x40000000u
#define WSM_NTLM_56 0x80000000u
/* The flags that decide the keys and the signature format: both sides
 * must agree on all of them. */
#define WSM_NTLM_CRYPTO_FLAGS                                                                      \
    (WSM_NTLM_SIGN | WSM_NTLM_SEAL | WSM_NTLM_DATAGRAM | WSM_NTLM_LM_KEY | WSM_NTLM_ESS |          \
     WSM_NTLM_128 | WSM_NTLM_KEY_EXCH | WSM_NTLM_56)

#define WSM_NTLM_SIG_LEN 16 /* version (1), checksum (8), sequence number (4) */
#define WSM_NTLM_KEY_LEN 16 /* the exported session key */

struct wsm_ntlm_dir {
    union { /* the sealing handle, kept across messages */
        RC4_KEY ossl;
        struct arcfour_ctx nettle;
    } rc4;
    int ossl;                /* rc4.ossl, through libcrypto */
    struct hmac_md5_ctx mac; /* keyed with the signing key; reset by each digest */
    uint32_t seq;
};

struct wsm_ntlm_seal {
    struct wsm_ntlm_dir send, recv;
    int key_exch; /* the checksum is RC4-encrypted */
};

/* Test hook: when set, contexts set up afterwards use nettle's ARCFOUR. */
extern int wsm__ntlm_rc4_nettle_only;
/* "openssl" or "nettle": the RC4 a context set up now would use. */
const char *wsm__ntlm_rc4_impl(void);

/* 1 if flags (the negotiated NegotiateFlags) are a case this module
 * implements: SIGN, SEAL and ESS, not DATAGRAM. */
int wsm__ntlm_flags_ok(uint32_t flags);

/* The signing and sealing keys ([MS-NLMP] 3.4.5.2, 3.4.5.3, with ESS) of
 * one direction: client_to_server for the client's sending side (the
 * server's receiving side), else the server-to-client ones. */
void wsm__ntlm_sign_key(const unsigned char session_key[WSM_NTLM_KEY_LEN], int client_to_server,
                        unsigned char out[16]);
void wsm__ntlm_seal_key(const unsigned char session_key[WSM_NTLM_KEY_LEN], uint32_t flags,
                        int client_to_server, unsigned char out[16]);

/* Sets s up for one side (client: 1 for the initiator) from the exported
 * session key and the negotiated flags. -1 (s cleared) when the flags are
 * not wsm__ntlm_flags_ok. */
int wsm__ntlm_seal_init(struct wsm_ntlm_seal *s, const unsigned char session_key[WSM_NTLM_KEY_LEN],
                        uint32_t flags, int client);
/* Wipes the keys. */
void wsm__ntlm_seal_clear(struct wsm_ntlm_seal *s);

/* Seals len bytes of in into out (the same length; out may be in) and
 * writes the signature: what gss_wrap of gss-ntlmssp gives as the 16
 * bytes before the sealed ones. */
void wsm__ntlm_seal(struct wsm_ntlm_seal *s, const unsigned char *in, size_t len,
                    unsigned char *out, unsigned char sig[WSM_NTLM_SIG_LEN]);
/* Unseals len bytes of in into out (out may be in) and checks sig: the
 * version, the checksum and the sequence number expected next. 0 if all
 * is right; -1 otherwise, and out is zeroed (the state is then out of
 * step with the peer's). */
int wsm__ntlm_unseal(struct wsm_ntlm_seal *s, const unsigned char sig[WSM_NTLM_SIG_LEN],
                     const unsigned char *in, size_t len, unsigned char *out);
/* The same onto the end of out, for one part of a multipart/encrypted body
 * that announced orig_len bytes (RC4 keeps the length). WSM_ERR_AUTH when
 * the length or the signature is wrong, WSM_ERR_NOMEM when out cannot
 * grow (its cap). */
enum wsm_err wsm__ntlm_unseal_append(struct wsm_ntlm_seal *s,
                                     const unsigned char sig[WSM_NTLM_SIG_LEN],
                                     const unsigned char *in, size_t len, size_t orig_len,
                                     struct wsm_buf *out);

/* The responseToken of a SPNEGO NegTokenResp that is all of t:
 * [1] { SEQUENCE { ..., [2] OCTET STRING, ... } }: 1 with *in and *il
 * set, or 0. */
int wsm__spnego_resp_token(const unsigned char *t, size_t n, const unsigned char **in, size_t *il);

/* The NegotiateFlags of an NTLM message of the given type (2: CHALLENGE,
 * 3: AUTHENTICATE) in a handshake token: raw NTLMSSP, or the
 * responseToken of a SPNEGO NegTokenResp. 0 if found, -1 if the token is
 * no such message. */
int wsm__ntlm_token_flags(const unsigned char *t, size_t n, unsigned type, uint32_t *flags);

#endif
