/* libFuzzer target: the winrm tool's printing of a reply's item
 * (src/cli/format.c, src/cli/jsontype.c) on arbitrary XML, as a service
 * could send it. -format:json must print exactly one valid JSON value
 * whatever the types table, xsi:type or the text say; text must not
 * crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/unit/jsoncheck.h"
#include "format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    char *xml = malloc(size + 1);
    if (!xml)
        return 0;
    memcpy(xml, data, size);
    xml[size] = '\0';
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (f) {
        int rc = cli_print_item(f, xml, FMT_JSON);
        fclose(f);
        if (rc == 0 && !json_valid(out, len))
            abort(); /* the JSON printer wrote something no parser takes */
        free(out);
    }
    f = fopen("/dev/null", "w");
    if (f) {
        cli_print_item(f, xml, FMT_TEXT);
        cli_results_begin(f, FMT_JSON);
        cli_results_item(f, xml, FMT_JSON, 1);
        cli_results_end(f, FMT_JSON);
        fclose(f);
    }
    free(xml);
    return 0;
}
