/* Xpress compression of remote shell streams (MS-WSMV 3.2.4.1.19 and its
 * product note: CompressionType "xpress" is the LZ77+Huffman variant of
 * [MS-XCA] 2.1/2.2). See docs/internals/shell-encoding.md.
 *
 * A stream's data (one rsp:Stream element) is a series of blocks of at
 * most 64 KiB of original data, each prefixed by two 16-bit little-endian
 * numbers: original length - 1, compressed length - 1. Equal lengths mean
 * the block is stored as is (Windows stores blocks under 266 bytes and
 * blocks that do not shrink that way). */
#ifndef WSM_XPRESS_H
#define WSM_XPRESS_H

#include <stddef.h>

#include "buf.h"
#include "wsm/wsm.h"

#define WSM_XPRESS_BLOCK 65536 /* original bytes per block, at most */
#define WSM_XPRESS_MIN 266     /* shorter blocks are stored as is */

/* LZ77+Huffman ([MS-XCA] 2.1) of in[0..len), len <= WSM_XPRESS_BLOCK, as
 * one Huffman block with its EOF symbol, appended to out. */
enum wsm_err wsm__xpress_huff_compress(const unsigned char *in, size_t len, struct wsm_buf *out);

/* Decodes one LZ77+Huffman block ([MS-XCA] 2.2) into exactly out_len
 * bytes (out_len <= WSM_XPRESS_BLOCK). WSM_ERR_ENCODING for anything
 * malformed: an incomplete or oversubscribed code, a match before the
 * start of the output or past out_len, input that runs out. Never reads
 * past in[len) nor writes past out[out_len). */
enum wsm_err wsm__xpress_huff_decompress(const unsigned char *in, size_t len, unsigned char *out,
                                         size_t out_len);

/* The stream framing: in[0..len) as blocks with their headers, appended
 * to out (stored blocks under WSM_XPRESS_MIN bytes or when compression
 * does not shrink them). At most wsm__xpress_bound(len) bytes. */
enum wsm_err wsm__xpress_frame(const unsigned char *in, size_t len, struct wsm_buf *out);
size_t wsm__xpress_bound(size_t len);

/* Reads blocks from in[0..len), appending their data to out: at most
 * max_out bytes (WSM_ERR_QUOTA past it), WSM_ERR_ENCODING for a truncated
 * header or block, a compressed length above the original one, or a block
 * that does not decode. On any error out is left as it was. */
enum wsm_err wsm__xpress_unframe(const unsigned char *in, size_t len, struct wsm_buf *out,
                                 size_t max_out);

#endif
