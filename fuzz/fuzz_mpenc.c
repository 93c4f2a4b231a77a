/* Fuzz target: the WinRM encrypted body framing (multipart/encrypted and
 * multipart/x-multi-encrypted) and the Content-Type parser. Seeds: the
 * bodies pywinrm sent (fuzz/corpus/mpenc). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mpenc.h"
#include "ntlmseal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const uint8_t *data, size_t size, enum wsm_mpenc_proto proto, int multi,
                  size_t max_plain)
{
    static struct wsm_mpenc_part parts[64];
    size_t np = 0;
    if (wsm__mpenc_parse(data, size, proto, multi, max_plain, parts, 64, &np) != WSM_OK)
        return;
    size_t total = 0;
    if (np == 0 || np > 64 || (!multi && np != 1))
        abort();
    for (size_t i = 0; i < np; i++) {
        const struct wsm_mpenc_part *p = &parts[i];
        if (p->sig < data || p->sig_len == 0 || p->sig_len > WSM_MPENC_MAX_SIG ||
            p->sig + p->sig_len != p->sealed || p->sealed + p->sealed_len > data + size)
            abort();
        if (i && p->sig <= parts[i - 1].sealed)
            abort();
        total += p->orig_len;
    }
    if (total > max_plain)
        abort();
    /* NTLM parts through ntlmseal.c's unseal, as wsmd does with them: a
     * 16-byte signature, the sealed bytes into a buffer of their size. */
    static unsigned char key[WSM_NTLM_KEY_LEN];
    struct wsm_ntlm_seal s;
    if (wsm__ntlm_seal_init(&s, key, 0xe28a8235u, 0) != 0)
        abort();
    for (size_t i = 0; i < np; i++) {
        const struct wsm_mpenc_part *p = &parts[i];
        if (p->sig_len != WSM_NTLM_SIG_LEN || p->sealed_len != p->orig_len)
            continue;
        unsigned char *out = malloc(p->sealed_len ? p->sealed_len : 1);
        if (!out)
            abort();
        (void)wsm__ntlm_unseal(&s, p->sig, p->sealed, p->sealed_len, out);
        free(out);
        break; /* the state is out of step after a failure */
    }
    /* Rebuilding what was parsed gives a body that parses the same. */
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    for (size_t i = 0; i < np; i++)
        if (wsm__mpenc_build_part(&b, proto, parts[i].orig_len, parts[i].sig, parts[i].sig_len,
                                  parts[i].sealed, parts[i].sealed_len) != WSM_OK)
            abort();
    if (wsm__mpenc_build_end(&b) != WSM_OK)
        abort();
    static struct wsm_mpenc_part again[64];
    size_t n2 = 0;
    enum wsm_err e = wsm__mpenc_parse((const unsigned char *)b.data, b.len, proto, multi, max_plain,
                                      again, 64, &n2);
    /* Only a sealed text that holds a boundary may read differently. */
    if (e == WSM_OK && n2 != np && !multi)
        abort();
    wsm__buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size, WSM_MPENC_SPNEGO, 0, 512000);
    check(data, size, WSM_MPENC_SPNEGO, 1, 512000);
    check(data, size, WSM_MPENC_KERBEROS, 1, 4096);

    /* The first line, as a Content-Type value. */
    size_t n = 0;
    while (n < size && n < 512 && data[n] != '\n')
        n++;
    char ct[513];
    memcpy(ct, data, n);
    ct[n] = '\0';
    enum wsm_mpenc_proto p;
    int multi;
    if (wsm__mpenc_content_type(ct, &p, &multi) == WSM_OK &&
        (p == WSM_MPENC_NONE || (multi != 0 && multi != 1)))
        abort();
    return 0;
}
