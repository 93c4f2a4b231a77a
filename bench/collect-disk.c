/* The disk's ceiling for the collector (docs/internals/collector-store.md).
 *
 *   collect-disk [DIR [BATCHES_PER_THREAD]]
 *
 * Writes batches of 500 events (~1.2 KB of JSON each) three ways, in DIR
 * (default: a new directory under /var/tmp, removed at the end):
 *   trivial   one thread: write(batch) + fdatasync per batch, nothing else;
 *   trivial4  4 threads doing the same on one O_APPEND file, no grouping;
 *   wsmd      4 threads: wsmd__outputs_write (JSON Lines) + wsmd__state_commit,
 *             the delivery path minus HTTP and XML parsing.
 * and prints events/s of each and wsmd's ratio to trivial. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "output.h"
#include "state.h"

#define THREADS 4
#define PER_BATCH 500

static int batches = 40; /* per thread */
static char dir[256];
static struct wsmd_event events[PER_BATCH];
static char *xmls[PER_BATCH];
static struct wsm_buf batch; /* the batch's JSON Lines, as wsmd writes them */
static const struct wsmd_event_meta meta = {
    .subscription = "bench-subscription",
    .client = "WS1$@EXAMPLE.COM",
    .source_addr = "192.0.2.1",
    .received = "2026-12-07T06:45:01.123Z",
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A Security 4624-like event of about 900 bytes of XML. */
static void make_events(void)
{
    for (int i = 0; i < PER_BATCH; i++) {
        char *x = NULL;
        int n = asprintf(
            &x,
            "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
            "<Provider Name='Microsoft-Windows-Security-Auditing' "
            "Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/><EventID>4624</EventID>"
            "<Version>2</Version><Level>0</Level><Task>12544</Task><Opcode>0</Opcode>"
            "<Keywords>0x8020000000000000</Keywords><TimeCreated "
            "SystemTime='2026-12-07T06:45:00.1234567Z'/><EventRecordID>%d</EventRecordID>"
            "<Correlation/><Execution ProcessID='636' ThreadID='712'/><Channel>Security"
            "</Channel><Computer>WS1.example.com</Computer><Security/></System><EventData>"
            "<Data Name='SubjectUserSid'>S-1-5-18</Data><Data Name='SubjectUserName'>WS1$"
            "</Data><Data Name='SubjectDomainName'>EXAMPLE</Data><Data Name='TargetUserName'>"
            "alice</Data><Data Name='LogonType'>3</Data><Data Name='LogonProcessName'>"
            "Kerberos</Data><Data Name='WorkstationName'>-</Data><Data Name='IpAddress'>"
            "192.0.2.44</Data><Data Name='IpPort'>49812</Data></EventData></Event>",
            100000 + i);
        if (n < 0)
            exit(1);
        xmls[i] = x;
        events[i] = (struct wsmd_event){
            .xml = x,
            .xml_len = (size_t)n,
            .well_formed = 1,
            .computer = "WS1.example.com",
            .channel = "Security",
            .provider = "Microsoft-Windows-Security-Auditing",
            .time_created = "2026-12-07T06:45:00.1234567Z",
            .level = "0",
            .task = "12544",
            .opcode = "0",
            .keywords = "0x8020000000000000",
            .event_id = 4624,
            .record_id = 100000 + i,
        };
    }
    wsm__buf_init(&batch, 0);
    for (int i = 0; i < PER_BATCH; i++) {
        if (wsmd__event_json(&batch, &events[i], &meta) != WSM_OK ||
            wsm__buf_add(&batch, "\n", 1) != WSM_OK)
            exit(1);
    }
}

static int append_sync(int fd)
{
    size_t done = 0;
    while (done < batch.len) {
        ssize_t w = write(fd, batch.data + done, batch.len - done);
        if (w <= 0)
            return -1;
        done += (size_t)w;
    }
    return fdatasync(fd);
}

static double trivial(void)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/trivial.jsonl", dir);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return 0;
    double t0 = now_s();
    for (int b = 0; b < THREADS * batches; b++)
        if (append_sync(fd) != 0)
            return 0;
    double dt = now_s() - t0;
    close(fd);
    unlink(path);
    return THREADS * batches * PER_BATCH / dt;
}

static int trivial4_fd;
static void *trivial4_worker(void *arg)
{
    (void)arg;
    for (int b = 0; b < batches; b++)
        if (append_sync(trivial4_fd) != 0)
            return (void *)1;
    return NULL;
}

struct worker {
    struct wsmd_outputs *o; /* NULL: no outputs */
    struct wsmd_state *st;  /* NULL: no state */
    int id;
    int failed;
};

static void *wsmd_worker(void *arg)
{
    struct worker *w = arg;
    char principal[32], bm[160];
    snprintf(principal, sizeof(principal), "WS%d$@EXAMPLE.COM", w->id);
    for (int b = 0; b < batches; b++) {
        snprintf(bm, sizeof(bm),
                 "<BookmarkList><Bookmark Channel='Security' RecordId='%d' IsCurrent='true'/>"
                 "</BookmarkList>",
                 b * PER_BATCH);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct wsmd_state_update u = {
            .sub = meta.subscription,
            .principal = principal,
            .addr = "192.0.2.1",
            .bookmark_xml = bm,
            .events = PER_BATCH,
            .now_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
        };
        if ((w->o && wsmd__outputs_write(w->o, WSMD_OUT_JSONL, "ForwardedEvents", events, PER_BATCH,
                                         &meta) != WSM_OK) ||
            (w->st && wsmd__state_commit(w->st, &u) != WSM_OK)) {
            w->failed = 1;
            break;
        }
    }
    return NULL;
}

static double run_threads(void *(*fn)(void *), struct worker *w)
{
    pthread_t th[THREADS];
    double t0 = now_s();
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, fn, w ? (void *)&w[i] : NULL);
    int failed = 0;
    for (int i = 0; i < THREADS; i++) {
        void *r = NULL;
        pthread_join(th[i], &r);
        failed |= r != NULL || (w && w[i].failed);
    }
    double dt = now_s() - t0;
    return failed ? 0 : THREADS * batches * PER_BATCH / dt;
}

int main(int argc, char **argv)
{
    int own_dir = argc < 2;
    if (own_dir) {
        snprintf(dir, sizeof(dir), "/var/tmp/collect-disk-XXXXXX");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            return 1;
        }
    } else {
        if (!argv[1][0]) {
            fprintf(stderr, "usage: collect-disk [DIR [BATCHES_PER_THREAD]]\n");
            return 2;
        }
        snprintf(dir, sizeof(dir), "%s", argv[1]);
        mkdir(dir, 0750);
    }
    if (argc > 2)
        batches = atoi(argv[2]) > 0 ? atoi(argv[2]) : batches;
    make_events();
    printf("batch: %d events, %zu bytes of JSON Lines (%.0f bytes/event), %d batches x %d "
           "threads\n",
           PER_BATCH, batch.len, (double)batch.len / PER_BATCH, batches, THREADS);

    double t1 = trivial();

    char path[300];
    snprintf(path, sizeof(path), "%s/trivial4.jsonl", dir);
    trivial4_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    double t4 = trivial4_fd >= 0 ? run_threads(trivial4_worker, NULL) : 0;
    close(trivial4_fd);
    unlink(path);

    struct wsmd_output_cfg cfg = {.event_log_dir = dir};
    struct wsmd_outputs *o = NULL;
    struct wsmd_state *st = NULL;
    if (wsmd__outputs_open(&cfg, &o) != WSM_OK || wsmd__state_open(dir, &st) != WSM_OK) {
        fprintf(stderr, "cannot open the outputs or the state in %s\n", dir);
        return 1;
    }
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++)
        w[i] = (struct worker){.o = o, .st = st, .id = i};
    double ws = run_threads(wsmd_worker, w);
    /* The two halves alone, to see which one limits. */
    for (int i = 0; i < THREADS; i++)
        w[i] = (struct worker){.o = o, .id = i};
    double wo = run_threads(wsmd_worker, w);
    for (int i = 0; i < THREADS; i++)
        w[i] = (struct worker){.st = st, .id = i};
    double wst = run_threads(wsmd_worker, w);
    /* The CPU part: the JSON of a batch, no I/O. */
    double t0 = now_s();
    struct wsm_buf tmp;
    wsm__buf_init(&tmp, 0);
    for (int b = 0; b < batches; b++) {
        wsm__buf_reset(&tmp);
        for (int i = 0; i < PER_BATCH; i++)
            wsmd__event_json(&tmp, &events[i], &meta);
    }
    double json = batches * PER_BATCH / (now_s() - t0);
    wsm__buf_free(&tmp);
    wsmd__outputs_close(o);
    wsmd__state_close(st);

    printf("trivial  (1 thread, write+fdatasync per batch): %8.0f events/s  %6.1f MB/s\n", t1,
           t1 * (double)batch.len / PER_BATCH / 1e6);
    printf("trivial4 (4 threads, same, one file):           %8.0f events/s\n", t4);
    printf("wsmd     (4 threads, outputs_write+state_commit): %6.0f events/s\n", ws);
    printf("  outputs_write alone (4 threads):               %8.0f events/s\n", wo);
    printf("  state_commit alone (4 threads, %d-event batches): %6.0f events/s (%.0f commits/s)\n",
           PER_BATCH, wst, wst / PER_BATCH);
    printf("  JSON of the events alone (1 thread):           %8.0f events/s\n", json);
    printf("ratio wsmd/trivial: %.2f\n", t1 > 0 ? ws / t1 : 0);
    if (own_dir) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            return 1;
    }
    for (int i = 0; i < PER_BATCH; i++)
        free(xmls[i]);
    wsm__buf_free(&batch);
    return ws > 0 && t1 > 0 ? 0 : 1;
}
