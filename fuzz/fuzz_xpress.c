/* Fuzz target: the Xpress stream decoder (src/lib/xpress.c) on any bytes,
 * with an output bound; and the encoder on the same bytes, whose framing
 * must decode back to them. Seeds (fuzz/corpus/xpress): the two LZ77+Huffman
 * examples of [MS-XCA] 3.2 framed as shell streams, a stored block (the
 * Windows trace), and a compressed block of text. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xpress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wsm_buf out, z, back;
    wsm__buf_init(&out, 0);
    wsm__buf_init(&z, 0);
    wsm__buf_init(&back, 0);

    size_t bound = size > 0 ? (size_t)data[0] * 1024 : 0;
    enum wsm_err e = wsm__xpress_unframe(data, size, &out, bound);
    if (e != WSM_OK && e != WSM_ERR_ENCODING && e != WSM_ERR_QUOTA)
        abort();
    if (e ? out.len != 0 : out.len > bound)
        abort();

    /* One raw block on its own, at a length the first bytes choose. */
    if (size > 2) {
        size_t n = ((size_t)data[1] << 8 | data[2]) + 1;
        unsigned char *o = malloc(n);
        if (o) {
            e = wsm__xpress_huff_decompress(data + 3, size - 3, o, n);
            if (e != WSM_OK && e != WSM_ERR_ENCODING)
                abort();
            free(o);
        }
    }

    if (wsm__xpress_frame(data, size, &z) != WSM_OK)
        abort();
    if (z.len > wsm__xpress_bound(size))
        abort();
    if (wsm__xpress_unframe((unsigned char *)z.data, z.len, &back, size) != WSM_OK)
        abort();
    if (back.len != size || (size && memcmp(back.data, data, size)))
        abort();
    wsm__buf_free(&out);
    wsm__buf_free(&z);
    wsm__buf_free(&back);
    return 0;
}
