/* Private to the SLDC code: the format's constants that the decoder
 * (sldc.c) and the encoder (sldc_enc.c) share. The format itself is
 * described at the top of sldc.c and in docs/internals/sldc.md. */
#ifndef WSM_SLDC_PRIV_H
#define WSM_SLDC_PRIV_H

#define HISTORY 1024
#define MIN_MATCH 2
#define MAX_MATCH 271

enum {
    CS_FLUSH = 0,
    CS_SCHEME1 = 1,
    CS_SCHEME2 = 2,
    CS_FILE_MARK = 3,
    CS_EOR = 4,
    CS_RESET1 = 5,
    CS_RESET2 = 6,
    CS_END_MARKER = 15
};

#endif
