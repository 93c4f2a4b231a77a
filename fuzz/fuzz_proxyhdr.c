/* libFuzzer target: the PROXY protocol header parser
 * (wsmd__proxy_parse, src/daemon/proxyproto.c). Whatever the bytes: a
 * complete header's length is within the input and its version's bound; a
 * valid header is valid with any bytes after it, and every shorter prefix
 * of it asks for more; a refused input stays refused with more bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxyproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wsmd_proxy_hdr h, h2;
    enum wsmd_proxy_res r = wsmd__proxy_parse(data, size, &h);
    if (r == WSMD_PROXY_OK) {
        if (h.len == 0 || h.len > size ||
            h.len > (h.version == 1 ? WSMD_PROXY_V1_MAX : WSMD_PROXY_V2_MAX))
            abort();
        if (h.has_addr && h.src.ss_family != AF_INET && h.src.ss_family != AF_INET6)
            abort();
        if (!wsmd__proxy_looks_like(data, size))
            abort();
        /* The header alone parses the same. */
        if (wsmd__proxy_parse(data, h.len, &h2) != WSMD_PROXY_OK || h2.len != h.len ||
            h2.has_addr != h.has_addr || memcmp(&h2.src, &h.src, sizeof(h.src)))
            abort();
        for (size_t i = 0; i < h.len; i++)
            if (wsmd__proxy_parse(data, i, &h2) != WSMD_PROXY_MORE)
                abort();
    } else if (r == WSMD_PROXY_BAD) {
        /* Refusing never waits on bytes it has not seen: one byte more
         * changes nothing. */
        uint8_t *more = malloc(size + 1);
        if (!more)
            return 0;
        memcpy(more, data, size);
        more[size] = '\n';
        if (wsmd__proxy_parse(more, size + 1, &h2) != WSMD_PROXY_BAD)
            abort();
        free(more);
    } else if (size >= WSMD_PROXY_V2_MAX) {
        abort(); /* "more" past the largest header: unbounded reading */
    }
    return 0;
}
