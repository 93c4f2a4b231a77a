/* Fuzz target: the Authorization header parser. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "userfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *hdr = malloc(size + 1);
    if (!hdr)
        return 0;
    memcpy(hdr, data, size);
    hdr[size] = '\0';
    char user[WSMD_MAX_USER], pass[WSMD_MAX_PASSWORD];
    if (wsmd__auth_parse_basic(hdr, user, sizeof(user), pass, sizeof(pass)) == WSM_OK) {
        if (strlen(user) >= sizeof(user) || strlen(pass) >= sizeof(pass))
            abort();
        (void)wsmd__username_ok(user);
    }
    free(hdr);
    return 0;
}
