/* ECMA-321 Streaming Lossless Data Compression (SLDC), the compression a
 * Windows event source applies to the bodies it pushes to a collector
 * (Subscribe option Compression = SLDC, request header
 * "Content-Encoding: SLDC"; see docs/internals/sldc.md). */
#ifndef WSM_SLDC_H
#define WSM_SLDC_H

#include <stddef.h>

#include "buf.h"
#include "wsm/wsm.h"

/* Decompresses in[0..len) appending to out. Every control symbol of the
 * standard is understood (Flush, Scheme 1/2, File Mark, End of Record,
 * Reset 1/2, End Marker) and both schemes are decoded. The stream ends with
 * an End of Record symbol (followed by zero pad and, as Windows writes it,
 * the 4-byte little-endian length of the decompressed data) or an End
 * Marker. Refuses malformed input with WSM_ERR_ENCODING (a truncated
 * stream, a reserved control symbol, a copy pointer into history that was
 * never written, data before the first Reset/Scheme symbol, a length trailer
 * that disagrees) and output beyond max_out bytes with WSM_ERR_QUOTA; on any
 * error out is left as it was. Never reads past in[len). Bounded time:
 * O(len + max_out). */
enum wsm_err wsm__sldc_decompress(const unsigned char *in, size_t len, struct wsm_buf *out,
                                  size_t max_out);

/* Compresses in[0..len) appending to out, as a Windows source frames it:
 * Reset 1, scheme 1 literals and copy pointers (scheme 2 for stretches that
 * do not compress), End of Record, zero pad to a 16-bit boundary, and the
 * decompressed length as 4 bytes little-endian. For tests, benchmarks and
 * our own clients. */
enum wsm_err wsm__sldc_compress(const unsigned char *in, size_t len, struct wsm_buf *out);

/* 1 when a body that came with "Content-Encoding: SLDC" is not an SLDC
 * stream but plain text: empty (Windows sets the header on the empty POST
 * of its Kerberos handshake), or starting with a byte order mark (FF FE,
 * FE FF, EF BB BF) or '<'. No SLDC stream longer than 4 bytes starts that
 * way (FF FE decodes as an End Marker, the others as data before any Reset
 * symbol), so the test cannot mistake a compressed body for a plain one. */
int wsm__sldc_is_plain(const unsigned char *in, size_t len);

#endif
