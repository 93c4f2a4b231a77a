/* What a shell's Create asked of its streams' bytes: the code page
 * (WINRS_CODEPAGE) and compression (the CompressionType header). The
 * WinRS handlers call these around the engine, which only ever sees the
 * command's own bytes. See docs/internals/shell-encoding.md. */
#ifndef WSMD_SHELL_ENCODING_H
#define WSMD_SHELL_ENCODING_H

#include <stddef.h>

#include "buf.h"
#include "engine.h"
#include "server.h"

/* What one Send may unpack to (its stdin ring holds less anyway). */
#define SHELL_SEND_MAX (16u << 20)

struct shell_enc {
    unsigned codepage; /* 65001 (UTF-8): bytes go through unchanged */
    int xpress;        /* CompressionType xpress */
    int ascii;         /* the code page keeps ASCII as it is (not EBCDIC) */
};

/* Reads a Create's option and header into enc. An unknown or unusable
 * code page is w:InvalidOptions, a CompressionType other than xpress
 * w:UnsupportedFeature, each with a message. */
enum wsm_err wsmd__shell_enc_parse(struct wsmd_call *call, struct shell_enc *enc);
/* Remembers (or forgets) what shell sid asked; the engine's shells that
 * went away are forgotten from time to time (m: to list them). */
enum wsm_err wsmd__shell_enc_remember(struct shell_mgr *m, const char *sid,
                                      const struct shell_enc *enc);
void wsmd__shell_enc_forget(const char *sid);
/* What shell sid asked (the defaults: 65001, no compression). */
struct shell_enc wsmd__shell_enc_get(const char *sid);

/* Stream bytes a Receive may take so that its reply still fits max. */
size_t wsmd__shell_enc_room(const struct shell_enc *enc, size_t max);
/* Output as the client gets it: converted to the code page, then framed
 * in Xpress blocks. In place. */
enum wsm_err wsmd__shell_enc_output(const struct shell_enc *enc, struct shell_output *out);
/* stdin as the command gets it: Xpress blocks read (at most max_out
 * bytes), then converted from the code page. out is appended to. */
enum wsm_err wsmd__shell_enc_input(const struct shell_enc *enc, const unsigned char *in, size_t n,
                                   struct wsm_buf *out, size_t max_out);
/* How many times the room a compressed shell's Receive first asks for. */
#define XPRESS_ASK 4
/* The bytes (before base64) an encoded output takes in a reply beyond its
 * skeleton: its blocks and one element for each but the first. */
size_t wsmd__shell_enc_wire(const struct shell_output *out);
/* Writes one rsp:Stream per Xpress block of data (as Windows does). */
enum wsm_err wsmd__shell_enc_put_blocks(struct wsm_buf *o, const char *name, const char *cid,
                                        const struct wsm_buf *data);

/* The iconv name of a Windows code page, or NULL for one that cannot be
 * a console's here (UTF-16/32, UTF-7, the ISO-2022 shift encodings). */
const char *wsmd__codepage_name(unsigned cp, char *buf, size_t len);
/* Conversions that never fail: UTF-8 → cp (a character cp lacks becomes
 * '?', bytes that are not UTF-8 go through as they are) and cp → UTF-8
 * (a byte undefined in cp becomes '?'). */
enum wsm_err wsmd__codepage_from_utf8(unsigned cp, const unsigned char *in, size_t n,
                                      struct wsm_buf *out);
enum wsm_err wsmd__codepage_to_utf8(unsigned cp, const unsigned char *in, size_t n,
                                    struct wsm_buf *out);

#endif
