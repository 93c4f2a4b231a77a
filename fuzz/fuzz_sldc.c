/* Fuzz target: the SLDC decoder (src/lib/sldc.c) on any bytes, with an
 * output bound; and the encoder on the same bytes, whose output must decode
 * back to them. Seeds (fuzz/corpus/sldc): the two captured Windows bodies,
 * the other-encoder vector, and small streams with every control symbol. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sldc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wsm_buf out, z, back;
    wsm__buf_init(&out, 0);
    wsm__buf_init(&z, 0);
    wsm__buf_init(&back, 0);

    /* The bound holds, and a refusal leaves the buffer as it was. */
    size_t bound = size > 0 ? (size_t)data[0] * 64 : 0;
    enum wsm_err e = wsm__sldc_decompress(data, size, &out, bound);
    if (e != WSM_OK && e != WSM_ERR_ENCODING && e != WSM_ERR_QUOTA)
        abort();
    if (e ? out.len != 0 : out.len > bound)
        abort();
    if (e == WSM_OK) {
        /* Larger bounds give the same answer. */
        size_t n = out.len;
        wsm__buf_reset(&out);
        if (wsm__sldc_decompress(data, size, &out, 1 << 22) != WSM_OK || out.len != n)
            abort();
    }

    if (wsm__sldc_compress(data, size, &z) != WSM_OK)
        abort();
    if (z.len > size + size / 8 + 32)
        abort();
    if (wsm__sldc_decompress((const unsigned char *)z.data, z.len, &back, size) != WSM_OK ||
        back.len != size || (size && memcmp(back.data, data, size)))
        abort();

    wsm__buf_free(&out);
    wsm__buf_free(&z);
    wsm__buf_free(&back);
    return 0;
}
