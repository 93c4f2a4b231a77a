/* WinRM HTTP message encryption framing ([MS-WSMV] 2.2.9.1): the
 * multipart/encrypted body that carries a SOAP envelope sealed by the
 * security context of the connection (NTLM or Kerberos through SPNEGO).
 *
 *   --Encrypted Boundary\r\n
 *   \tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n
 *   \tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=N\r\n
 *   --Encrypted Boundary\r\n
 *   \tContent-Type: application/octet-stream\r\n
 *   <uint32 LE signature length><signature><sealed bytes>--Encrypted Boundary--\r\n
 *
 * multipart/x-multi-encrypted repeats the two parts once per chunk of at
 * most 16 KiB of plain text (pywinrm sends it only for CredSSP; Windows
 * may answer with it), with one final boundary after the last chunk.
 *
 * This module only frames: it never sees keys. Parsing is strict and
 * bounded; the parts point into the caller's body. */
#ifndef WSM_MPENC_H
#define WSM_MPENC_H

#include <stddef.h>

#include "buf.h"
#include "wsm/wsm.h"

#define WSM_MPENC_BOUNDARY "Encrypted Boundary"
#define WSM_MPENC_CHUNK 16384
/* Largest signature accepted (NTLM: 16; Kerberos CFX header: 60 to 76). */
#define WSM_MPENC_MAX_SIG 1024
/* Most parts a multipart/x-multi-encrypted body may carry. */
#define WSM_MPENC_MAX_PARTS 4096

enum wsm_mpenc_proto {
    WSM_MPENC_NONE = 0,
    WSM_MPENC_SPNEGO,   /* application/HTTP-SPNEGO-session-encrypted */
    WSM_MPENC_KERBEROS, /* application/HTTP-Kerberos-session-encrypted */
};

/* The protocol string of p ("application/HTTP-...-session-encrypted"). */
const char *wsm__mpenc_proto_str(enum wsm_mpenc_proto p);

/* Reads a Content-Type header value. WSM_OK for multipart/encrypted
 * (*multi = 0) or multipart/x-multi-encrypted (*multi = 1) with a known
 * protocol and boundary "Encrypted Boundary" (quoted or not, parameters
 * in any order, names case-insensitive); WSM_ERR_NOT_FOUND when the type
 * is not multipart encrypted at all (a plain body); WSM_ERR_UNSUPPORTED_MEDIA
 * for an encrypted type with an unknown protocol or boundary. */
enum wsm_err wsm__mpenc_content_type(const char *ct, enum wsm_mpenc_proto *proto, int *multi);

/* The Content-Type value to send with a body built for p (never multi). */
const char *wsm__mpenc_content_type_str(enum wsm_mpenc_proto p);

struct wsm_mpenc_part {
    size_t orig_len; /* OriginalContent ...;Length= */
    const unsigned char *sig;
    size_t sig_len;
    const unsigned char *sealed;
    size_t sealed_len;
};

/* Parses body (len bytes) framed for proto. Single (multi = 0): exactly
 * one part. Multi: 1 to maxparts parts. Each Length is at most max_plain
 * and so is their sum; the body ends with exactly "--Encrypted
 * Boundary--\r\n". The caller must check, after unsealing, that each
 * part gave exactly orig_len bytes. WSM_ERR_UNSUPPORTED_MEDIA for any
 * framing error, WSM_ERR_ENVELOPE_TOO_LARGE when a Length is over the
 * cap. */
enum wsm_err wsm__mpenc_parse(const unsigned char *body, size_t len, enum wsm_mpenc_proto proto,
                              int multi, size_t max_plain, struct wsm_mpenc_part *parts,
                              size_t maxparts, size_t *nparts);

/* Appends one part (the two MIME parts) to out: orig_len is the plain
 * length, sig and sealed the wrap output. */
enum wsm_err wsm__mpenc_build_part(struct wsm_buf *out, enum wsm_mpenc_proto proto, size_t orig_len,
                                   const unsigned char *sig, size_t sig_len,
                                   const unsigned char *sealed, size_t sealed_len);
/* The same; tab 0 writes the MIME part headers without the leading tab
 * (for OMI 1.9.1, which closes the connection on it). */
enum wsm_err wsm__mpenc_build_part_ex(struct wsm_buf *out, enum wsm_mpenc_proto proto,
                                      size_t orig_len, const unsigned char *sig, size_t sig_len,
                                      const unsigned char *sealed, size_t sealed_len, int tab);
/* Appends the final "--Encrypted Boundary--\r\n". */
enum wsm_err wsm__mpenc_build_end(struct wsm_buf *out);

/* An upper bound on the encrypted body for max_plain bytes of plain text:
 * the Content-Length cap to apply to encrypted requests. */
size_t wsm__mpenc_max_body(size_t max_plain);

#endif
