#ifndef WSM_BASE64_H
#define WSM_BASE64_H

#include <stddef.h>

#include "wsm/wsm.h"

/* Length of the encoding of n bytes, without the terminating NUL. */
size_t wsm__base64_enclen(size_t n);
/* Writes wsm__base64_enclen(n) characters and a NUL to out (with AVX2
 * where the CPU has it). */
void wsm__base64_encode(const unsigned char *in, size_t n, char *out);
/* Decodes standard base64 (padding optional, whitespace skipped) into out,
 * which holds at most outcap bytes. WSM_ERR_ENCODING on bad input,
 * WSM_ERR_ENVELOPE_TOO_LARGE when out is too small. */
enum wsm_err wsm__base64_decode(const char *in, size_t n, unsigned char *out, size_t outcap,
                                size_t *outlen);

/* 1 if the CPU and the OS support AVX2 (detected once, on first use). */
int wsm__cpu_has_avx2(void);

#endif
