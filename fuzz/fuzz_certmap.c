/* Fuzz target: client-certificate mapping (certauth.c). The first byte
 * picks the input's use: even, a CertMapping value (parsed, then its
 * Subject pattern matched against names); odd, a DER certificate whose
 * names are extracted and matched against a few patterns. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const patterns[] = {"*", "*@example.com", "alice@example.com", "Alice", "*x"};

static int check_name(void *arg, const char *name, size_t len)
{
    (void)arg;
    /* The name must be readable whole (ASan checks the copy). */
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, name, len);
        free(copy);
    }
    for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
        (void)wsmd__certmap_match(patterns[i], name, len);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int mode = data[0] & 1;
    data++;
    size--;
    if (mode == 1) {
        (void)wsmd__cert_names(data, size, check_name, NULL);
        return 0;
    }
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    struct wsmd_certmap m;
    char why[200];
    if (wsmd__certmap_parse(s, &m, why, sizeof(why)) == WSM_OK) {
        /* What the parser promises. */
        if (strlen(m.subject) == 0 || strlen(m.subject) >= sizeof(m.subject) ||
            strchr(m.subject + 1, '*') || strlen(m.user) == 0 ||
            (m.issuer_len != 0 && m.issuer_len != 20 && m.issuer_len != 32) ||
            (!strcmp(m.user, "root") && !m.allow_root))
            abort();
        for (const char *n = s; *n; n++)
            (void)wsmd__certmap_match(m.subject, n, strlen(n));
    } else if (strlen(why) >= sizeof(why)) {
        abort();
    }
    free(s);
    return 0;
}
