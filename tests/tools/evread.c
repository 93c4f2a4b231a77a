/* evread: the event source (src/evsrc) from the command line, for the
 * tests (tests/interop/test_evsrc.py) and for looking at a journal as a
 * subscriber would see it.
 *   evread [-d DIR] [-q QUERY | -Q FILE] [-o | -n | -b FILE] [-r]
 *          [-w MS] [-m N] [-B FILE]
 *   -d DIR   journal directory (default: the system journal)
 *   -q/-Q    the QueryList (or bare XPath) as text / in a file; default
 *            every event of Application, System and Security
 *   -o       from the oldest entry (ReadExistingEvents); -n from now
 *            (the default); -b FILE from the bookmark in FILE
 *   -r       RenderedText: add RenderingInfo
 *   -w MS    after the entries there are, wait up to MS milliseconds for
 *            more (poll on the reader's descriptor) until -m is reached
 *   -m N     stop after N events
 *   -B FILE  write the final bookmark to FILE
 *   -t       print the time in microseconds each event was read, before it
 *   -N N     cost of N readers open at once (from now, one next() each):
 *            prints "readers=N rss_kb_per_reader=... fds_per_reader=..."
 *   -I K     K readers of the same query and start, taking one event each
 *            in turn (each switch moves the shared read pointer): prints
 *            "readers=K events=N identical=yes|no"; exit 5 when they differ
 *   -R       say "ready" on stderr once the reader is open (-n: entries
 *            written after that are read)
 * Prints one event per line. Exit 0; 2 and "error=... why=..." on stderr
 * when the query is refused (3 for WSM_ERR_UNSUPPORTED_FEATURE), 4 when the
 * reader cannot open. */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "evsrc.h"

static int slurp(const char *path, struct wsm_buf *b)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        if (wsm__buf_add(b, tmp, n)) {
            fclose(f);
            return -1;
        }
    fclose(f);
    return 0;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static int count_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 65536; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            n++;
    return n;
}

static int cost(struct wsmd_evreader_opts *o, long n)
{
    struct wsmd_evreader **rs = calloc((size_t)n, sizeof(*rs));
    struct wsm_buf out;
    wsm__buf_init(&out, 0);
    o->start = WSMD_EV_FROM_NOW;
    /* One reader first: libsystemd's own first-use cost is not a reader's. */
    struct wsmd_evreader *first;
    if (wsmd__evr_open(o, &first)) {
        fputs("error=open\n", stderr);
        free(rs);
        return 4;
    }
    wsmd__evr_next(first, &out);
    long rss0 = rss_kb();
    int fd0 = count_fds();
    long i;
    for (i = 0; i < n; i++) {
        enum wsm_err e = wsmd__evr_open(o, &rs[i]);
        if (e) {
            fprintf(stderr, "error=%s opened=%ld\n", wsm_strerror(e), i);
            break;
        }
        wsmd__evr_next(rs[i], &out);
    }
    long rss1 = rss_kb();
    int fd1 = count_fds();
    printf("readers=%ld rss_kb_per_reader=%.1f fds_per_reader=%.2f\n", i,
           i ? (double)(rss1 - rss0) / (double)i : 0.0, i ? (double)(fd1 - fd0) / (double)i : 0.0);
    for (long k = 0; k < i; k++)
        wsmd__evr_close(rs[k]);
    wsmd__evr_close(first);
    free(rs);
    wsm__buf_free(&out);
    return i == n ? 0 : 4;
}

static int interleaved(struct wsmd_evreader_opts *o, long k)
{
    struct wsmd_evreader **rs = calloc((size_t)k, sizeof(*rs));
    struct wsm_buf *outs = calloc((size_t)k, sizeof(*outs));
    int *done = calloc((size_t)k, sizeof(*done));
    int rc = 0;
    for (long i = 0; i < k; i++) {
        wsm__buf_init(&outs[i], 0);
        if (!rc && wsmd__evr_open(o, &rs[i])) {
            fputs("error=open\n", stderr);
            rc = 4;
        }
    }
    long left = rc ? 0 : k, events = 0;
    while (left > 0 && !rc) {
        for (long i = 0; i < k; i++) {
            if (done[i])
                continue;
            enum wsm_err e = wsmd__evr_next(rs[i], &outs[i]);
            if (e == WSM_OK) {
                wsm__buf_puts(&outs[i], "\n");
                events += i == 0;
            } else if (e == WSM_ERR_TIMED_OUT) {
                struct pollfd p = {.fd = wsmd__evr_fd(rs[i]), .events = POLLIN};
                if (poll(&p, 1, 0) == 1)
                    continue; /* the scan budget, not the end */
                done[i] = 1;
                left--;
            } else {
                fprintf(stderr, "error=%s\n", wsm_strerror(e));
                rc = 4;
                break;
            }
        }
    }
    int same = 1;
    for (long i = 1; i < k; i++)
        same &= outs[i].len == outs[0].len && memcmp(outs[i].data, outs[0].data, outs[0].len) == 0;
    if (!rc)
        printf("readers=%ld events=%ld identical=%s\n", k, events, same ? "yes" : "no");
    for (long i = 0; i < k; i++) {
        wsmd__evr_close(rs[i]);
        wsm__buf_free(&outs[i]);
    }
    free(rs);
    free(outs);
    free(done);
    return rc ? rc : same ? 0 : 5;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *query = "*", *bmfile = NULL, *bmout = NULL;
    struct wsm_buf qb, bm, out;
    wsm__buf_init(&qb, 0);
    wsm__buf_init(&bm, 0);
    wsm__buf_init(&out, 0);
    enum wsmd_evstart start = WSMD_EV_FROM_NOW;
    int rendered = 0, stamp = 0, ready = 0;
    long wait_ms = 0, max = -1, nreaders = 0, interleave = 0;
    int c;
    while ((c = getopt(argc, argv, "d:q:Q:onb:rw:m:B:tRN:I:")) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'q':
            query = optarg;
            break;
        case 'Q':
            if (slurp(optarg, &qb) < 0) {
                perror(optarg);
                return 1;
            }
            query = qb.data ? qb.data : "";
            break;
        case 'o':
            start = WSMD_EV_FROM_OLDEST;
            break;
        case 'n':
            start = WSMD_EV_FROM_NOW;
            break;
        case 'b':
            start = WSMD_EV_FROM_BOOKMARK;
            bmfile = optarg;
            break;
        case 'r':
            rendered = 1;
            break;
        case 'w':
            wait_ms = atol(optarg);
            break;
        case 'm':
            max = atol(optarg);
            break;
        case 'B':
            bmout = optarg;
            break;
        case 't':
            stamp = 1;
            break;
        case 'R':
            ready = 1;
            break;
        case 'N':
            nreaders = atol(optarg);
            break;
        case 'I':
            interleave = atol(optarg);
            break;
        default:
            fprintf(stderr, "usage: see the comment at the top of tests/tools/evread.c\n");
            return 1;
        }
    }
    char why[256];
    struct wsmd_evq *q;
    struct wsmd_evreader *r = NULL;
    int rc = 0;
    enum wsm_err e = wsmd__evq_compile(query, strlen(query), &q, why, sizeof(why));
    if (e) {
        fprintf(stderr, "error=%s why=\"%s\"\n", wsm_strerror(e), why);
        rc = e == WSM_ERR_UNSUPPORTED_FEATURE ? 3 : 2;
        goto out;
    }
    if (bmfile && slurp(bmfile, &bm) < 0) {
        perror(bmfile);
        rc = 1;
        goto out;
    }
    struct wsmd_evreader_opts o = {
        .query = q,
        .start = start,
        .bookmark = bm.data,
        .bookmark_len = bm.len,
        .rendered = rendered,
        .journal_dir = dir,
    };
    if (nreaders > 0) {
        rc = cost(&o, nreaders);
        goto out;
    }
    if (interleave > 0) {
        rc = interleaved(&o, interleave);
        goto out;
    }
    if ((e = wsmd__evr_open(&o, &r))) {
        fprintf(stderr, "error=%s\n", wsm_strerror(e));
        rc = 4;
        goto out;
    }
    if (ready) {
        fputs("ready\n", stderr);
        fflush(stderr);
    }
    long n = 0;
    long long deadline = mono_ms() + wait_ms;
    while (max < 0 || n < max) {
        wsm__buf_reset(&out);
        e = wsmd__evr_next(r, &out);
        if (e == WSM_OK) {
            if (stamp) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                printf("%lld ", (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
            }
            fwrite(out.data, 1, out.len, stdout);
            putchar('\n');
            n++;
            continue;
        }
        if (e != WSM_ERR_TIMED_OUT) {
            fprintf(stderr, "error=%s\n", wsm_strerror(e));
            rc = 4;
            goto out;
        }
        /* Readable now: the reader stopped at its scan budget, not at the
         * end. */
        struct pollfd p = {.fd = wsmd__evr_fd(r), .events = POLLIN};
        if (poll(&p, 1, 0) == 1)
            continue;
        long long left = deadline - mono_ms();
        if (left <= 0)
            break;
        fflush(stdout);
        poll(&p, 1, (int)left);
    }
    if (bmout) {
        wsm__buf_reset(&bm);
        FILE *f = fopen(bmout, "w");
        if (!f || wsmd__evr_bookmark(r, &bm) || fwrite(bm.data, 1, bm.len, f) != bm.len) {
            perror(bmout);
            rc = 1;
        }
        if (f)
            fclose(f);
    }
out:
    wsmd__evr_close(r);
    wsmd__evq_free(q);
    wsm__buf_free(&qb);
    wsm__buf_free(&bm);
    wsm__buf_free(&out);
    return rc;
}
