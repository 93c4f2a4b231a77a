/* Fuzz target: what cfglisten.c reads from the wire and from the
 * configuration file. The input is "VALUE\nTEXT": VALUE is taken as a
 * listener Address selector (with Transport HTTP and HTTPS), as a Listen
 * URL and as a CertMapping value; TEXT is a configuration file from which
 * VALUE is removed (as a Listen and as a CertMapping line) and to which it
 * is appended. The edited text must keep every line it does not remove. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfglisten.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    /* NULs end the strings, as they do in a file read by config.c. */
    char *nl = strchr(buf, '\n');
    const char *value = buf, *text = "";
    if (nl) {
        *nl = '\0';
        text = nl + 1;
    }
    char url[256];
    if (wsmd__cfgl_listener_url(value, "HTTP", 5985, url, sizeof(url)) == WSM_OK &&
        !wsmd__cfgl_same_listen(url, url))
        abort(); /* a URL made from valid keys must read back as itself */
    (void)wsmd__cfgl_listener_url(value, "https", 443, url, sizeof(url));
    (void)wsmd__cfgl_same_certmap(value, value);
    static const struct {
        const char *key;
        int (*same)(const char *, const char *);
    } kinds[] = {{"Listen", wsmd__cfgl_same_listen}, {"CertMapping", wsmd__cfgl_same_certmap}};
    for (size_t k = 0; k < 2; k++) {
        char *out = NULL;
        unsigned removed = 0;
        if (wsmd__cfgl_edit_text(text, kinds[k].key, NULL, value, kinds[k].same, &out, &removed) ==
            WSM_OK) {
            if (strlen(out) > strlen(text) || (!removed && strcmp(out, text)))
                abort(); /* removing only takes whole lines away */
            free(out);
        }
        if (wsmd__cfgl_edit_text(text, kinds[k].key, value, NULL, NULL, &out, &removed) == WSM_OK) {
            if (strncmp(out, text, strlen(text)) || removed)
                abort(); /* appending keeps the text as it was */
            free(out);
        }
    }
    free(buf);
    return 0;
}
