/* sldc-tool: ECMA-321 SLDC from the command line, for the interop tests
 * (tests/interop/test_sldc_cross.py) and for looking at captured bodies.
 *   sldc-tool -c        compress stdin to stdout
 *   sldc-tool -d [MAX]  decompress stdin to stdout (at most MAX bytes out,
 *                       default 64 MiB); exit 1 and one line on stderr
 *                       when the input is refused
 *   sldc-tool -b FILE   benchmark on FILE: MB per CPU second, both ways */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "sldc.h"

static int slurp(FILE *f, struct wsm_buf *b)
{
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        if (wsm__buf_add(b, tmp, n))
            return -1;
    return ferror(f) ? -1 : 0;
}

static double now(void)
{
    struct timespec ts;
    /* CPU time: the test machine is shared, wall time says more about the
     * neighbours than about the code. */
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct wsm_buf in, z, back;
    wsm__buf_init(&in, (size_t)1 << 30);
    wsm__buf_init(&z, (size_t)1 << 30);
    wsm__buf_init(&back, (size_t)1 << 30);
    if (!f || slurp(f, &in)) {
        fprintf(stderr, "sldc-tool: cannot read %s\n", path);
        return 2;
    }
    fclose(f);
    double mb = (double)in.len / 1e6, t0 = now(), tc, td;
    int rounds = 0;
    do {
        wsm__buf_reset(&z);
        if (wsm__sldc_compress((unsigned char *)in.data, in.len, &z))
            return 1;
        rounds++;
    } while ((tc = now() - t0) < 1.0);
    tc /= rounds;
    t0 = now();
    rounds = 0;
    do {
        wsm__buf_reset(&back);
        if (wsm__sldc_decompress((unsigned char *)z.data, z.len, &back, in.len))
            return 1;
        rounds++;
    } while ((td = now() - t0) < 1.0);
    td /= rounds;
    if (back.len != in.len || memcmp(back.data, in.data, in.len)) {
        fprintf(stderr, "sldc-tool: round trip differs\n");
        return 1;
    }
    printf("input=%zu compressed=%zu ratio=%.3f compress_MBps=%.1f decompress_MBps=%.1f\n", in.len,
           z.len, (double)z.len / (double)in.len, mb / tc, mb / td);
    wsm__buf_free(&in);
    wsm__buf_free(&z);
    wsm__buf_free(&back);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "-b"))
        return bench(argv[2]);
    if (argc < 2 || (strcmp(argv[1], "-c") && strcmp(argv[1], "-d"))) {
        fprintf(stderr, "usage: sldc-tool -c | -d [MAX] | -b FILE\n");
        return 2;
    }
    struct wsm_buf in, out;
    wsm__buf_init(&in, (size_t)1 << 30);
    wsm__buf_init(&out, (size_t)1 << 30);
    if (slurp(stdin, &in)) {
        fprintf(stderr, "sldc-tool: cannot read stdin\n");
        return 2;
    }
    enum wsm_err e;
    if (argv[1][1] == 'c')
        e = wsm__sldc_compress((unsigned char *)in.data, in.len, &out);
    else
        e = wsm__sldc_decompress((unsigned char *)in.data, in.len, &out,
                                 argc > 2 ? strtoull(argv[2], NULL, 10) : (size_t)64 << 20);
    if (e) {
        fprintf(stderr, "sldc-tool: error=%s\n",
                e == WSM_ERR_QUOTA      ? "quota"
                : e == WSM_ERR_ENCODING ? "malformed"
                                        : "other");
        return 1;
    }
    if (out.len && fwrite(out.data, 1, out.len, stdout) != out.len)
        return 2;
    wsm__buf_free(&in);
    wsm__buf_free(&out);
    return fflush(stdout) ? 2 : 0;
}
