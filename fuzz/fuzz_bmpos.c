/* libFuzzer target: a BookmarkList's position (wsmd__bookmark_position,
 * src/collector/sources_pg.c), the number the shared state's compare-and-set
 * orders bookmarks by. Whatever the text: no read past its end, a result
 * of -1 or more, and one more RecordId attribute appended adds its value
 * (saturating), so a bookmark that grew never orders before the old one. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char more[] = " RecordId=\"5\"/>";
    char *s = malloc(size + sizeof(more));
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    long long p = wsmd__bookmark_position(s);
    if (p < -1)
        abort();
    strcat(s, more);
    long long q = wsmd__bookmark_position(s);
    long long want = p < 0 ? 5 : (p > INT64_MAX - 5 ? INT64_MAX : p + 5);
    if (q != want)
        abort();
    free(s);
    return 0;
}
