/* Fuzz target: the config file rewriter (cfgfile.c). The first byte picks
 * the edits (which keys, set or removed), the rest is the file. The result
 * must keep every line that sets none of the edited keys, byte for byte
 * and in order, and set each edited key at most once. */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfgfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether line (n bytes) sets key, as config.c's loader reads lines: a
 * NUL or '#' ends it, blanks (isspace) around the key. */
static int sets(const char *line, size_t n, const char *key)
{
    const char *z = memchr(line, '\0', n);
    if (z)
        n = (size_t)(z - line);
    const char *h = memchr(line, '#', n);
    if (h)
        n = (size_t)(h - line);
    size_t i = 0;
    while (i < n && isspace((unsigned char)line[i]))
        i++;
    size_t k = strlen(key);
    if (n - i < k || strncasecmp(line + i, key, k))
        return 0;
    size_t j = i + k;
    while (j < n && isspace((unsigned char)line[j]))
        j++;
    return j < n && line[j] == '=';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char *const vals[] = {"1", "true", "Strict"};
    struct wsmd_cfgedit ed[4];
    size_t n = 0;
    for (size_t i = 0; i < 4; i++) {
        unsigned sel = (data[0] >> (2 * i)) & 3;
        if (!sel)
            continue;
        ed[n].key = wsmd__cfgfile_managed[(i * 3 + sel) % 11];
        ed[n].value = sel == 3 ? NULL : vals[sel - 1];
        n++;
    }
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    struct wsm_buf out;
    wsm__buf_init(&out, 0);
    if (wsmd__cfgfile_rewrite(text, len, ed, n, &out) == WSM_OK) {
        /* The untouched lines, in order: a subsequence of the output. */
        size_t at = 0;
        for (size_t pos = 0; pos < len;) {
            const char *nl = memchr(text + pos, '\n', len - pos);
            size_t ln = nl ? (size_t)(nl - text - pos) + 1 : len - pos;
            int edited = 0;
            for (size_t k = 0; k < n; k++)
                edited |= sets(text + pos, nl ? ln - 1 : ln, ed[k].key);
            if (!edited) {
                const char *found = NULL;
                for (size_t j = at; j + ln <= out.len && !found; j++)
                    if (!memcmp(out.data + j, text + pos, ln))
                        found = out.data + j;
                if (!found)
                    abort();
                at = (size_t)(found - out.data) + ln;
            }
            pos += ln;
        }
    }
    wsm__buf_free(&out);
    return 0;
}
