/* Fuzz target: the config text a SIGHUP reads (reload.c's reader, then
 * wsmd__config_set for each line), and the one-line reason it gives. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "reload.h"
#include "server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0'; /* the reader refuses a NUL before it gets here */
    struct wsmd_config cfg;
    wsmd__config_defaults(&cfg);
    char why[512];
    why[0] = '\0';
    if (wsmd__reload_parse(&cfg, "fuzz.conf", text, why, sizeof(why)) != WSM_OK) {
        /* One line, whatever the input held. */
        if (strchr(why, '\n'))
            abort();
    }
    wsmd__config_clear(&cfg);
    free(text);
    return 0;
}
