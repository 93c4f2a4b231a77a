/* libFuzzer target: the client's WWW-Authenticate reader
 * (src/lib/wwwauth.c) on arbitrary header values. The first byte picks
 * the scheme looked for. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wwwauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const schemes[] = {"Negotiate", "Kerberos", "NTLM", "Basic"};
    if (size < 1)
        return 0;
    char *www = malloc(size);
    if (!www)
        return 0;
    memcpy(www, data + 1, size - 1);
    www[size - 1] = '\0';
    unsigned char *tok = NULL;
    size_t len = 0;
    enum wsm_err e = wsm__www_token(www, schemes[data[0] % 4], &tok, &len);
    if ((e != WSM_OK && (tok || len)) || (!tok != !len) || len > WSM_WWW_MAX_TOKEN)
        abort(); /* a broken promise */
    free(tok);
    char list[64];
    wsm__www_schemes(www, list, sizeof(list));
    if (strnlen(list, sizeof(list)) == sizeof(list))
        abort();
    free(www);
    return 0;
}
