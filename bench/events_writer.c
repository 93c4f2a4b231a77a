/* bench/events' journal writer: N entries through sd_journal_send (the
 * native protocol, as programs write them) at RATE entries/s, each message
 * carrying its sequence number and its CLOCK_REALTIME send time in
 * nanoseconds, so that whoever receives the rendered event knows its
 * write-to-receipt latency without a table:
 *   MESSAGE=evb SEQ NS   SYSLOG_IDENTIFIER=TAG   PRIORITY=6
 * Usage: events_writer TAG COUNT RATE [FIRST]   (RATE 0: as fast as it can)
 * Prints "written=N seconds=S rate=R" on stdout at the end.
 * sd_journal_send writes to /run/systemd/journal/socket: bench/events runs
 * it in a mount namespace where that is its own journald's socket. The
 * pacing is by absolute deadlines (no drift): entry i is due at
 * start + i / RATE, in bursts of at most 1 ms of entries. */
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-journal.h>
#include <time.h>

static long long now_ns(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s TAG COUNT RATE [FIRST]\n", argv[0]);
        return 2;
    }
    const char *tag = argv[1];
    long count = strtol(argv[2], NULL, 10);
    double rate = strtod(argv[3], NULL);
    long first = argc > 4 ? strtol(argv[4], NULL, 10) : 0;
    long long start = now_ns(CLOCK_MONOTONIC);
    long failed = 0;
    for (long i = 0; i < count; i++) {
        if (rate > 0) {
            long long due = start + (long long)(i / rate * 1e9);
            long long now = now_ns(CLOCK_MONOTONIC);
            if (due > now + 1000000) {
                struct timespec t = {(due - now) / 1000000000LL, (due - now) % 1000000000LL};
                nanosleep(&t, NULL);
            }
        }
        int r = sd_journal_send("MESSAGE=evb %ld %lld", first + i, now_ns(CLOCK_REALTIME),
                                "SYSLOG_IDENTIFIER=%s", tag, "PRIORITY=6", NULL);
        if (r < 0)
            failed++;
    }
    double secs = (now_ns(CLOCK_MONOTONIC) - start) / 1e9;
    printf("written=%ld failed=%ld seconds=%.3f rate=%.0f\n", count - failed, failed, secs,
           (count - failed) / (secs > 0 ? secs : 1e-9));
    return failed ? 1 : 0;
}
