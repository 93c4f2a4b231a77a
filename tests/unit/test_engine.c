/* Unit tests for the remote shell engine (src/shell/engine.c): real
 * children through /bin/sh, the I/O thread, waiters, quotas, timers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"

#define ALICE "alice"
#define BOB "bob"

/* ---- helpers ---- */

static struct shell_owner owner_named(const char *name)
{
    struct shell_owner o;
    memset(&o, 0, sizeof(o));
    o.name = name;
    o.uid = getuid();
    o.gid = getgid();
    o.home = "/tmp";
    o.shell = "/bin/sh";
    return o;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static struct shell_mgr *mgr_with(void (*tweak)(struct shell_limits *))
{
    struct shell_limits lim;
    shell_limits_defaults(&lim);
    if (tweak)
        tweak(&lim);
    struct shell_mgr *m = NULL;
    assert_int_equal(shell_mgr_new(&lim, &m), WSM_OK);
    assert_non_null(m);
    return m;
}

static void new_shell(struct shell_mgr *m, const char *who, const struct shell_opts *opts,
                      char id[37])
{
    struct shell_owner o = owner_named(who);
    assert_int_equal(shell_create(m, &o, opts, id), WSM_OK);
    assert_int_equal(strlen(id), 36);
}

struct waitctx {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int count;
    pthread_t who;
    long long at;
};

static void wc_init(struct waitctx *w)
{
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->count = 0;
    w->at = 0;
}

static void wc_destroy(struct waitctx *w)
{
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

static void on_wake(void *arg)
{
    struct waitctx *w = arg;
    pthread_mutex_lock(&w->mu);
    w->count++;
    w->who = pthread_self();
    w->at = shell_now_ms();
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static int wc_count(struct waitctx *w)
{
    pthread_mutex_lock(&w->mu);
    int n = w->count;
    pthread_mutex_unlock(&w->mu);
    return n;
}

/* 1 once count >= n, 0 after timeout_ms. */
static int wc_wait(struct waitctx *w, int n, long timeout_ms)
{
    long long end = shell_now_ms() + timeout_ms;
    pthread_mutex_lock(&w->mu);
    while (w->count < n && shell_now_ms() < end) {
        pthread_mutex_unlock(&w->mu);
        sleep_ms(2);
        pthread_mutex_lock(&w->mu);
    }
    int ok = w->count >= n;
    pthread_mutex_unlock(&w->mu);
    return ok;
}

/* Receives until done (waiting with shell_wait in between). Returns the
 * last error: WSM_OK when done. */
static enum wsm_err drain(struct shell_mgr *m, const char *who, const char *sid, const char *cid,
                          size_t max, struct wsm_buf *out, struct wsm_buf *err, int *code,
                          long timeout_ms)
{
    long long end = shell_now_ms() + timeout_ms;
    for (;;) {
        struct shell_output o;
        memset(&o, 0, sizeof(o));
        wsm__buf_init(&o.out, 0);
        wsm__buf_init(&o.err, 0);
        enum wsm_err e = shell_receive(m, who, sid, cid, max, &o);
        if (e == WSM_OK) {
            assert_true(o.out.len + o.err.len <= max);
            if (out && o.out.len)
                assert_int_equal(wsm__buf_add(out, o.out.data, o.out.len), WSM_OK);
            if (err && o.err.len)
                assert_int_equal(wsm__buf_add(err, o.err.data, o.err.len), WSM_OK);
        }
        int done = o.done, ec = o.exit_code;
        if (done) {
            assert_true(o.out_end);
            assert_true(o.err_end);
        }
        wsm__buf_free(&o.out);
        wsm__buf_free(&o.err);
        if (e == WSM_OK && done) {
            if (code)
                *code = ec;
            return WSM_OK;
        }
        if (e != WSM_OK && e != WSM_ERR_TIMED_OUT)
            return e;
        if (shell_now_ms() > end)
            return WSM_ERR_TIMED_OUT;
        if (e == WSM_ERR_TIMED_OUT) {
            struct waitctx w;
            wc_init(&w);
            unsigned long tok;
            e = shell_wait(m, who, sid, cid, shell_now_ms() + 1000, on_wake, &w, &tok);
            if (e != WSM_OK) {
                wc_destroy(&w);
                return e;
            }
            /* The deadline guarantees the wake: never free w before. */
            if (!wc_wait(&w, 1, 10000))
                abort();
            assert_int_equal(wc_count(&w), 1);
            wc_destroy(&w);
        }
    }
}

/* Runs cmdline in the shell; out/err get NUL-terminated copies. */
static int run(struct shell_mgr *m, const char *who, const char *sid, const char *cmdline,
               char **out, char **err)
{
    char cid[37];
    assert_int_equal(shell_command(m, who, sid, cmdline, cid), WSM_OK);
    struct wsm_buf o, e;
    wsm__buf_init(&o, 0);
    wsm__buf_init(&e, 0);
    wsm__buf_add(&o, "", 0);
    wsm__buf_add(&e, "", 0);
    int code = -1;
    assert_int_equal(drain(m, who, sid, cid, 1 << 20, &o, &e, &code, 20000), WSM_OK);
    if (out)
        *out = wsm__buf_steal(&o, NULL);
    if (err)
        *err = wsm__buf_steal(&e, NULL);
    wsm__buf_free(&o);
    wsm__buf_free(&e);
    return code;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own fd */
}

/* 'Z', another state letter, or 0 when the process does not exist. */
static char proc_state(pid_t pid, pid_t *ppid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    char st = 0;
    int pp = 0;
    if (!p || sscanf(p + 1, " %c %d", &st, &pp) != 2)
        return 0;
    if (ppid)
        *ppid = pp;
    return st;
}

static int zombie_children(void)
{
    DIR *d = opendir("/proc");
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        pid_t pp = 0;
        char st = proc_state((pid_t)atoi(de->d_name), &pp);
        if (st == 'Z' && pp == getpid())
            n++;
    }
    closedir(d);
    return n;
}

/* Gone or a zombie (of whoever reaps orphans here). */
static int dead(pid_t pid)
{
    char st = proc_state(pid, NULL);
    return st == 0 || st == 'Z' || st == 'X';
}

static int wait_dead(pid_t pid, long timeout_ms)
{
    long long end = shell_now_ms() + timeout_ms;
    while (!dead(pid)) {
        if (shell_now_ms() > end)
            return 0;
        sleep_ms(10);
    }
    return 1;
}

/* Receives until the output holds at least one line; returns it parsed. */
static void first_line(struct shell_mgr *m, const char *sid, const char *cid, char *line, size_t sz)
{
    struct wsm_buf acc;
    wsm__buf_init(&acc, 0);
    long long end = shell_now_ms() + 10000;
    while (!acc.len || !memchr(acc.data, '\n', acc.len)) {
        assert_true(shell_now_ms() < end);
        struct shell_output o;
        memset(&o, 0, sizeof(o));
        wsm__buf_init(&o.out, 0);
        wsm__buf_init(&o.err, 0);
        enum wsm_err e = shell_receive(m, ALICE, sid, cid, 4096, &o);
        assert_true(e == WSM_OK || e == WSM_ERR_TIMED_OUT);
        if (o.out.len)
            wsm__buf_add(&acc, o.out.data, o.out.len);
        wsm__buf_free(&o.out);
        wsm__buf_free(&o.err);
        if (e == WSM_ERR_TIMED_OUT)
            sleep_ms(10);
    }
    size_t n = (size_t)((char *)memchr(acc.data, '\n', acc.len) - acc.data);
    assert_true(n < sz);
    memcpy(line, acc.data, n);
    line[n] = '\0';
    wsm__buf_free(&acc);
}

/* ---- tests ---- */

static void test_echo(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37];
    new_shell(m, ALICE, NULL, sid);
    char *out, *err;
    assert_int_equal(run(m, ALICE, sid, "echo hello", &out, &err), 0);
    assert_string_equal(out, "hello\n");
    assert_string_equal(err, "");
    free(out);
    free(err);
    /* Upper-case UUIDs. */
    for (const char *p = sid; *p; p++)
        assert_true(!(*p >= 'a' && *p <= 'z'));
    shell_mgr_free(m);
    shell_mgr_free(NULL);
}

static void test_exit_codes(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(run(m, ALICE, sid, "exit 0", NULL, NULL), 0);
    assert_int_equal(run(m, ALICE, sid, "exit 1", NULL, NULL), 1);
    assert_int_equal(run(m, ALICE, sid, "exit 3", NULL, NULL), 3);
    assert_int_equal(run(m, ALICE, sid, "exit 255", NULL, NULL), 255);
    assert_int_equal(run(m, ALICE, sid, "false", NULL, NULL), 1);
    /* Death by a signal: 128 + signal number. */
    assert_int_equal(run(m, ALICE, sid, "kill -9 $$", NULL, NULL), 128 + SIGKILL);
    shell_mgr_free(m);
}

static void test_stderr_separate(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37];
    new_shell(m, ALICE, NULL, sid);
    char *out, *err;
    assert_int_equal(run(m, ALICE, sid, "echo out; echo err >&2; echo out2; exit 2", &out, &err),
                     2);
    assert_string_equal(out, "out\nout2\n");
    assert_string_equal(err, "err\n");
    free(out);
    free(err);
    shell_mgr_free(m);
}

static void test_done_repeats(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "exit 4", cid), WSM_OK);
    int code = -1;
    assert_int_equal(drain(m, ALICE, sid, cid, 65536, NULL, NULL, &code, 10000), WSM_OK);
    assert_int_equal(code, 4);
    struct shell_output o;
    memset(&o, 0, sizeof(o));
    wsm__buf_init(&o.out, 0);
    wsm__buf_init(&o.err, 0);
    assert_int_equal(shell_receive(m, ALICE, sid, cid, 65536, &o), WSM_OK);
    assert_true(o.done);
    assert_int_equal(o.exit_code, 4);
    assert_int_equal(o.out.len + o.err.len, 0);
    wsm__buf_free(&o.out);
    wsm__buf_free(&o.err);
    /* A wait on a finished command wakes at once. */
    struct waitctx w;
    wc_init(&w);
    unsigned long tok;
    assert_int_equal(shell_wait(m, ALICE, sid, cid, shell_now_ms() + 60000, on_wake, &w, &tok),
                     WSM_OK);
    assert_int_equal(wc_count(&w), 1);
    wc_destroy(&w);
    shell_mgr_free(m);
}

static void test_stdin_cat(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "cat; echo rc=$?", cid), WSM_OK);
    assert_int_equal(shell_send(m, ALICE, sid, cid, "hello ", 6, 0), WSM_OK);
    sleep_ms(50);
    assert_int_equal(shell_send(m, ALICE, sid, cid, "world\n", 6, 0), WSM_OK);
    assert_int_equal(shell_send(m, ALICE, sid, cid, "bye", 3, 0), WSM_OK);
    assert_int_equal(shell_send(m, ALICE, sid, cid, NULL, 0, 1), WSM_OK);
    struct wsm_buf out;
    wsm__buf_init(&out, 0);
    int code = -1;
    assert_int_equal(drain(m, ALICE, sid, cid, 65536, &out, NULL, &code, 10000), WSM_OK);
    assert_int_equal(code, 0);
    assert_int_equal(out.len, strlen("hello world\nbyerc=0\n"));
    assert_memory_equal(out.data, "hello world\nbyerc=0\n", out.len);
    wsm__buf_free(&out);
    /* Sending to a finished command is tolerated; unknown ids are not. */
    assert_int_equal(shell_send(m, ALICE, sid, cid, "late", 4, 1), WSM_OK);
    assert_int_equal(shell_send(m, ALICE, sid, "00000000-0000-4000-8000-000000000000", "x", 1, 0),
                     WSM_ERR_NOT_FOUND);
    shell_mgr_free(m);
}

static void small_cap(struct shell_limits *l)
{
    l->stream_cap = 256 * 1024;
}

/* Several MB through stdin and back with a small cap: the queue pushes
 * back with WSM_ERR_QUOTA, nothing is lost or reordered. */
static void test_stdin_large_roundtrip(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(small_cap);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    /* cat starts late: the pipe and the queue fill up first. */
    assert_int_equal(shell_command(m, ALICE, sid, "sleep 0.5; cat", cid), WSM_OK);
    const size_t total = 3u << 20, chunk = 100000;
    unsigned char *src = malloc(total);
    assert_non_null(src);
    for (size_t i = 0; i < total; i++)
        src[i] = (unsigned char)(i * 7 + i / 251);
    struct wsm_buf got;
    wsm__buf_init(&got, 0);
    size_t sent = 0, quota_hits = 0;
    int done = 0, code = -1;
    long long end = shell_now_ms() + 60000;
    while (!done) {
        assert_true(shell_now_ms() < end);
        if (sent < total) {
            size_t n = total - sent < chunk ? total - sent : chunk;
            enum wsm_err e = shell_send(m, ALICE, sid, cid, src + sent, n, sent + n == total);
            if (e == WSM_OK)
                sent += n;
            else {
                assert_int_equal(e, WSM_ERR_QUOTA);
                quota_hits++;
            }
        }
        struct shell_output o;
        memset(&o, 0, sizeof(o));
        wsm__buf_init(&o.out, 0);
        wsm__buf_init(&o.err, 0);
        enum wsm_err e = shell_receive(m, ALICE, sid, cid, 65536, &o);
        assert_true(e == WSM_OK || e == WSM_ERR_TIMED_OUT);
        if (o.out.len)
            assert_int_equal(wsm__buf_add(&got, o.out.data, o.out.len), WSM_OK);
        done = o.done;
        code = o.exit_code;
        wsm__buf_free(&o.out);
        wsm__buf_free(&o.err);
        if (e == WSM_ERR_TIMED_OUT)
            sleep_ms(1);
    }
    assert_int_equal(code, 0);
    assert_int_equal(got.len, total);
    assert_memory_equal(got.data, src, total);
    assert_true(quota_hits > 0);
    free(src);
    wsm__buf_free(&got);
    shell_mgr_free(m);
}

static void tiny_cap(struct shell_limits *l)
{
    l->stream_cap = 4096;
}

static void test_stdin_quota(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(tiny_cap);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "sleep 5", cid), WSM_OK);
    char big[4097];
    memset(big, 'a', sizeof(big));
    assert_int_equal(shell_send(m, ALICE, sid, cid, big, sizeof(big), 0), WSM_ERR_QUOTA);
    assert_int_equal(shell_send(m, ALICE, sid, cid, big, 4096, 0), WSM_OK);
    assert_int_equal(shell_delete(m, ALICE, sid), WSM_OK);
    shell_mgr_free(m);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* 20 MB through a 256 KiB cap read in 64 KiB bites: byte-exact, and the
 * buffer never holds more than the cap (back-pressure on the pipe). */
static void test_big_output_exact(void **state)
{
    (void)state;
    const unsigned N = 2700000;
    uint64_t want = 1469598103934665603ULL;
    size_t want_len = 0;
    char line[32];
    for (unsigned i = 1; i <= N; i++) {
        int l = snprintf(line, sizeof(line), "%u\n", i);
        want = fnv(want, line, (size_t)l);
        want_len += (size_t)l;
    }
    assert_true(want_len > 20000000);

    struct shell_mgr *m = mgr_with(small_cap);
    char sid[37], cid[37], cmd[64];
    new_shell(m, ALICE, NULL, sid);
    snprintf(cmd, sizeof(cmd), "seq 1 %u", N);
    assert_int_equal(shell_command(m, ALICE, sid, cmd, cid), WSM_OK);

    /* Nobody reads for a while: exactly the cap is buffered, no more. */
    sleep_ms(400);
    struct shell_output o;
    memset(&o, 0, sizeof(o));
    wsm__buf_init(&o.out, 0);
    wsm__buf_init(&o.err, 0);
    assert_int_equal(shell_receive(m, ALICE, sid, cid, 64u << 20, &o), WSM_OK);
    assert_int_equal(o.out.len, 256 * 1024);
    assert_false(o.done);
    uint64_t h = fnv(1469598103934665603ULL, o.out.data, o.out.len);
    size_t len = o.out.len;
    wsm__buf_free(&o.out);
    wsm__buf_free(&o.err);

    int code = -1, rounds = 0;
    long long end = shell_now_ms() + 120000;
    for (;;) {
        assert_true(shell_now_ms() < end);
        memset(&o, 0, sizeof(o));
        wsm__buf_init(&o.out, 0);
        wsm__buf_init(&o.err, 0);
        enum wsm_err e = shell_receive(m, ALICE, sid, cid, 65536, &o);
        assert_true(o.out.len <= 65536);
        h = fnv(h, o.out.data, o.out.len);
        len += o.out.len;
        int done = o.done;
        code = o.exit_code;
        assert_int_equal(o.err.len, 0);
        wsm__buf_free(&o.out);
        wsm__buf_free(&o.err);
        rounds++;
        if (e == WSM_OK && done)
            break;
        if (e == WSM_ERR_TIMED_OUT) {
            struct waitctx w;
            wc_init(&w);
            unsigned long tok;
            assert_int_equal(
                shell_wait(m, ALICE, sid, cid, shell_now_ms() + 2000, on_wake, &w, &tok), WSM_OK);
            if (!wc_wait(&w, 1, 10000))
                abort();
            wc_destroy(&w);
        } else {
            assert_int_equal(e, WSM_OK);
        }
        /* Now and then a big bite: never more than the cap. */
        if (rounds % 50 == 0) {
            memset(&o, 0, sizeof(o));
            wsm__buf_init(&o.out, 0);
            wsm__buf_init(&o.err, 0);
            e = shell_receive(m, ALICE, sid, cid, 64u << 20, &o);
            assert_true(o.out.len <= 256 * 1024);
            h = fnv(h, o.out.data, o.out.len);
            len += o.out.len;
            done = o.done;
            code = o.exit_code;
            wsm__buf_free(&o.out);
            wsm__buf_free(&o.err);
            if (e == WSM_OK && done)
                break;
        }
    }
    assert_int_equal(code, 0);
    assert_int_equal(len, want_len);
    assert_true(h == want);
    shell_mgr_free(m);
}

/* The child writes everything and exits while our buffer is full and
 * nobody reads for longer than the 2 s EOF grace: the bytes still in the
 * pipe must not be dropped. */
static void test_slow_reader_after_exit(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(small_cap);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "seq 1 100000", cid), WSM_OK);
    sleep_ms(2600);
    struct wsm_buf out;
    wsm__buf_init(&out, 0);
    int code = -1;
    assert_int_equal(drain(m, ALICE, sid, cid, 65536, &out, NULL, &code, 20000), WSM_OK);
    assert_int_equal(code, 0);
    size_t want = 0;
    char line[16];
    for (int i = 1; i <= 100000; i++)
        want += (size_t)snprintf(line, sizeof(line), "%d\n", i);
    assert_int_equal(out.len, want);
    assert_memory_equal(out.data + out.len - 7, "100000\n", 7);
    wsm__buf_free(&out);
    shell_mgr_free(m);
}

/* With both streams full, a small receive gives each a share. */
static void test_receive_shares(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "echo o; echo e >&2; sleep 0.5", cid), WSM_OK);
    sleep_ms(300);
    struct shell_output o;
    memset(&o, 0, sizeof(o));
    wsm__buf_init(&o.out, 0);
    wsm__buf_init(&o.err, 0);
    assert_int_equal(shell_receive(m, ALICE, sid, cid, 2, &o), WSM_OK);
    assert_int_equal(o.out.len, 1);
    assert_int_equal(o.err.len, 1);
    assert_false(o.out_end);
    assert_int_equal(shell_receive(m, ALICE, sid, cid, 100, &o), WSM_OK);
    assert_string_equal(o.out.data, "o\n");
    assert_string_equal(o.err.data, "e\n");
    wsm__buf_free(&o.out);
    wsm__buf_free(&o.err);
    int code = -1;
    assert_int_equal(drain(m, ALICE, sid, cid, 100, NULL, NULL, &code, 10000), WSM_OK);
    assert_int_equal(code, 0);
    shell_mgr_free(m);
}

static void test_terminate(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "sleep 100", cid), WSM_OK);
    sleep_ms(100);
    long long t0 = shell_now_ms();
    assert_int_equal(shell_signal(m, ALICE, sid, cid, SHELL_SIG_TERMINATE), WSM_OK);
    int code = -1;
    assert_int_equal(drain(m, ALICE, sid, cid, 65536, NULL, NULL, &code, 10000), WSM_OK);
    assert_true(shell_now_ms() - t0 < 1500);
    assert_int_equal(code, 128 + SIGTERM);
    /* Signals to a finished command are harmless. */
    assert_int_equal(shell_signal(m, ALICE, sid, cid, SHELL_SIG_CTRL_C), WSM_OK);
    shell_mgr_free(m);
}

static void test_terminate_escalates(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    /* TERM ignored by the shell and (inherited) by sleep. */
    assert_int_equal(shell_command(m, ALICE, sid, "trap '' TERM; echo ready; sleep 100", cid),
                     WSM_OK);
    char line[64];
    first_line(m, sid, cid, line, sizeof(line));
    assert_string_equal(line, "ready");
    long long t0 = shell_now_ms();
    assert_int_equal(shell_signal(m, ALICE, sid, cid, SHELL_SIG_TERMINATE), WSM_OK);
    int code = -1;
    assert_int_equal(drain(m, ALICE, sid, cid, 65536, NULL, NULL, &code, 10000), WSM_OK);
    long long dt = shell_now_ms() - t0;
    assert_true(dt >= 1800);
    assert_true(dt < 5000);
    assert_int_equal(code, 128 + SIGKILL);
    shell_mgr_free(m);
}

static void test_ctrl_c(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid,
                                   "trap 'exit 7' INT; echo ready; while :; do sleep 0.1; done",
                                   cid),
                     WSM_OK);
    char line[64];
    first_line(m, sid, cid, line, sizeof(line));
    assert_string_equal(line, "ready");
    assert_int_equal(shell_signal(m, ALICE, sid, cid, SHELL_SIG_CTRL_C), WSM_OK);
    int code = -1;
    assert_int_equal(drain(m, ALICE, sid, cid, 65536, NULL, NULL, &code, 10000), WSM_OK);
    assert_int_equal(code, 7);
    /* ctrl_break: SIGQUIT. */
    assert_int_equal(shell_command(m, ALICE, sid, "echo ready; exec sleep 100", cid), WSM_OK);
    first_line(m, sid, cid, line, sizeof(line));
    assert_int_equal(shell_signal(m, ALICE, sid, cid, SHELL_SIG_CTRL_BREAK), WSM_OK);
    assert_int_equal(drain(m, ALICE, sid, cid, 65536, NULL, NULL, &code, 10000), WSM_OK);
    assert_int_equal(code, 128 + SIGQUIT);
    shell_mgr_free(m);
}

static void test_wait_wakes_on_output(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "sleep 0.4; echo hi; sleep 100", cid), WSM_OK);
    struct shell_output o;
    memset(&o, 0, sizeof(o));
    wsm__buf_init(&o.out, 0);
    wsm__buf_init(&o.err, 0);
    assert_int_equal(shell_receive(m, ALICE, sid, cid, 65536, &o), WSM_ERR_TIMED_OUT);
    struct waitctx w;
    wc_init(&w);
    unsigned long tok;
    long long t0 = shell_now_ms();
    assert_int_equal(shell_wait(m, ALICE, sid, cid, t0 + 10000, on_wake, &w, &tok), WSM_OK);
    assert_int_equal(wc_count(&w), 0);
    assert_true(wc_wait(&w, 1, 5000));
    long long dt = w.at - t0;
    assert_true(dt >= 250);
    assert_true(dt < 4000);
    assert_false(pthread_equal(w.who, pthread_self()));
    /* Exactly once; a cancel after the wake reports so. */
    sleep_ms(200);
    assert_int_equal(wc_count(&w), 1);
    assert_int_equal(shell_wait_cancel(m, tok), 0);
    assert_int_equal(shell_receive(m, ALICE, sid, cid, 65536, &o), WSM_OK);
    assert_int_equal(o.out.len, 3);
    assert_memory_equal(o.out.data, "hi\n", 3);
    wsm__buf_free(&o.out);
    wsm__buf_free(&o.err);
    wc_destroy(&w);
    shell_mgr_free(m);
}

static void test_wait_deadline_and_cancel(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "sleep 100", cid), WSM_OK);
    struct waitctx w;
    wc_init(&w);
    unsigned long tok;
    long long t0 = shell_now_ms();
    assert_int_equal(shell_wait(m, ALICE, sid, cid, t0 + 300, on_wake, &w, &tok), WSM_OK);
    assert_true(wc_wait(&w, 1, 5000));
    long long dt = w.at - t0;
    assert_true(dt >= 280);
    assert_true(dt < 2000);
    sleep_ms(100);
    assert_int_equal(wc_count(&w), 1);

    /* Cancelled before the deadline: wake never runs. */
    struct waitctx w2;
    wc_init(&w2);
    assert_int_equal(shell_wait(m, ALICE, sid, cid, shell_now_ms() + 200, on_wake, &w2, &tok),
                     WSM_OK);
    assert_int_equal(shell_wait_cancel(m, tok), 1);
    assert_int_equal(shell_wait_cancel(m, tok), 0);
    sleep_ms(400);
    assert_int_equal(wc_count(&w2), 0);

    /* A deadline already past: wake at once, in this thread. */
    struct waitctx w3;
    wc_init(&w3);
    assert_int_equal(shell_wait(m, ALICE, sid, cid, shell_now_ms() - 1, on_wake, &w3, &tok),
                     WSM_OK);
    assert_int_equal(wc_count(&w3), 1);
    assert_true(pthread_equal(w3.who, pthread_self()));
    assert_int_equal(shell_wait_cancel(m, tok), 0);

    /* Unknown ids: no wake. */
    struct waitctx w4;
    wc_init(&w4);
    assert_int_equal(shell_wait(m, ALICE, sid, "nope", shell_now_ms() + 100, on_wake, &w4, &tok),
                     WSM_ERR_NOT_FOUND);
    sleep_ms(200);
    assert_int_equal(wc_count(&w4), 0);

    wc_destroy(&w);
    wc_destroy(&w2);
    wc_destroy(&w3);
    wc_destroy(&w4);
    shell_mgr_free(m);
}

static void test_wait_woken_by_delete(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "sleep 100", cid), WSM_OK);
    struct waitctx w;
    wc_init(&w);
    unsigned long tok;
    assert_int_equal(shell_wait(m, ALICE, sid, cid, shell_now_ms() + 30000, on_wake, &w, &tok),
                     WSM_OK);
    sleep_ms(50);
    assert_int_equal(wc_count(&w), 0);
    assert_int_equal(shell_delete(m, ALICE, sid), WSM_OK);
    assert_true(wc_wait(&w, 1, 2000));
    struct shell_output o;
    memset(&o, 0, sizeof(o));
    wsm__buf_init(&o.out, 0);
    wsm__buf_init(&o.err, 0);
    assert_int_equal(shell_receive(m, ALICE, sid, cid, 65536, &o), WSM_ERR_NOT_FOUND);
    assert_int_equal(shell_delete(m, ALICE, sid), WSM_ERR_NOT_FOUND);

    /* shell_mgr_free wakes what is still parked. */
    struct waitctx w2;
    wc_init(&w2);
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "sleep 100", cid), WSM_OK);
    assert_int_equal(shell_wait(m, ALICE, sid, cid, shell_now_ms() + 30000, on_wake, &w2, &tok),
                     WSM_OK);
    shell_mgr_free(m);
    assert_int_equal(wc_count(&w2), 1);
    sleep_ms(100);
    assert_int_equal(wc_count(&w), 1);
    wc_destroy(&w);
    wc_destroy(&w2);
}

static void test_other_owner(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37], cid2[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "echo mine", cid), WSM_OK);
    assert_int_equal(shell_command(m, BOB, sid, "echo theirs", cid2), WSM_ERR_NOT_FOUND);
    assert_int_equal(shell_send(m, BOB, sid, cid, "x", 1, 1), WSM_ERR_NOT_FOUND);
    assert_int_equal(shell_signal(m, BOB, sid, cid, SHELL_SIG_TERMINATE), WSM_ERR_NOT_FOUND);
    struct shell_output o;
    memset(&o, 0, sizeof(o));
    wsm__buf_init(&o.out, 0);
    wsm__buf_init(&o.err, 0);
    assert_int_equal(shell_receive(m, BOB, sid, cid, 65536, &o), WSM_ERR_NOT_FOUND);
    struct waitctx w;
    wc_init(&w);
    unsigned long tok;
    assert_int_equal(shell_wait(m, BOB, sid, cid, shell_now_ms() + 100, on_wake, &w, &tok),
                     WSM_ERR_NOT_FOUND);
    assert_int_equal(shell_delete(m, BOB, sid), WSM_ERR_NOT_FOUND);
    assert_int_equal(shell_count(m, BOB), 0);
    assert_int_equal(shell_count(m, ALICE), 1);
    /* Same answers as for ids nobody has. */
    assert_int_equal(shell_receive(m, ALICE, "11111111-1111-4111-8111-111111111111", cid, 10, &o),
                     WSM_ERR_NOT_FOUND);
    assert_int_equal(shell_receive(m, ALICE, sid, "11111111-1111-4111-8111-111111111111", 10, &o),
                     WSM_ERR_NOT_FOUND);
    /* Alice still gets her output. */
    int code = -1;
    assert_int_equal(drain(m, ALICE, sid, cid, 65536, &o.out, NULL, &code, 10000), WSM_OK);
    assert_int_equal(o.out.len, 5);
    wsm__buf_free(&o.out);
    wsm__buf_free(&o.err);
    sleep_ms(150);
    assert_int_equal(wc_count(&w), 0);
    wc_destroy(&w);
    shell_mgr_free(m);
}

static void two_shells(struct shell_limits *l)
{
    l->max_shells_per_user = 2;
    l->max_processes_per_shell = 2;
}

static void test_quotas(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(two_shells);
    char a[37], b[37], c[37], cid[37];
    new_shell(m, ALICE, NULL, a);
    new_shell(m, ALICE, NULL, b);
    struct shell_owner al = owner_named(ALICE);
    assert_int_equal(shell_create(m, &al, NULL, c), WSM_ERR_QUOTA);
    new_shell(m, BOB, NULL, c); /* per user */
    assert_int_equal(shell_count(m, ALICE), 2);
    assert_int_equal(shell_delete(m, ALICE, b), WSM_OK);
    new_shell(m, ALICE, NULL, b);

    /* Processes: two running at once, a third is refused. */
    char c1[37], c2[37];
    assert_int_equal(shell_command(m, ALICE, a, "sleep 100", c1), WSM_OK);
    assert_int_equal(shell_command(m, ALICE, a, "sleep 100", c2), WSM_OK);
    assert_int_equal(shell_command(m, ALICE, a, "echo x", cid), WSM_ERR_QUOTA);
    assert_int_equal(shell_command(m, ALICE, b, "echo other shell", cid), WSM_OK);
    assert_int_equal(shell_signal(m, ALICE, a, c1, SHELL_SIG_TERMINATE), WSM_OK);
    assert_int_equal(drain(m, ALICE, a, c1, 65536, NULL, NULL, NULL, 10000), WSM_OK);
    assert_int_equal(shell_command(m, ALICE, a, "echo x", cid), WSM_OK);
    shell_mgr_free(m);
}

static void test_delete_kills_group(void **state)
{
    (void)state;
    int fds0 = count_fds();
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37], line[64];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "sleep 100 & echo $$ $!; wait", cid), WSM_OK);
    first_line(m, sid, cid, line, sizeof(line));
    int pid = 0, bg = 0;
    assert_int_equal(sscanf(line, "%d %d", &pid, &bg), 2);
    assert_true(pid > 0 && bg > 0);
    assert_int_equal(kill(pid, 0), 0);
    assert_int_equal(getpgid(bg), pid); /* one group, led by the shell */
    assert_int_equal(shell_delete(m, ALICE, sid), WSM_OK);
    /* Reaped by the time delete returns: the pid is gone, not a zombie. */
    errno = 0;
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);
    assert_true(wait_dead(bg, 2000));
    assert_int_equal(zombie_children(), 0);
    shell_mgr_free(m);
    assert_int_equal(count_fds(), fds0);
}

static void test_idle_timeout(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    struct shell_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.idle_timeout_ms = 200;
    char sid[37], cid[37], line[64];
    new_shell(m, ALICE, &opts, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "echo $$; exec sleep 100", cid), WSM_OK);
    first_line(m, sid, cid, line, sizeof(line));
    int pid = atoi(line);
    assert_true(pid > 0);
    /* Calls keep it alive. */
    for (int i = 0; i < 5; i++) {
        sleep_ms(100);
        struct shell_output t;
        memset(&t, 0, sizeof(t));
        wsm__buf_init(&t.out, 0);
        wsm__buf_init(&t.err, 0);
        assert_int_equal(shell_receive(m, ALICE, sid, cid, 10, &t), WSM_ERR_TIMED_OUT);
    }
    assert_int_equal(shell_count(m, ALICE), 1);
    sleep_ms(700);
    assert_int_equal(shell_count(m, ALICE), 0);
    struct shell_output o;
    memset(&o, 0, sizeof(o));
    wsm__buf_init(&o.out, 0);
    wsm__buf_init(&o.err, 0);
    assert_int_equal(shell_receive(m, ALICE, sid, cid, 65536, &o), WSM_ERR_NOT_FOUND);
    assert_true(wait_dead(pid, 2000));
    /* The I/O thread reaps the killed child soon after. */
    long long end = shell_now_ms() + 2000;
    while (zombie_children() && shell_now_ms() < end)
        sleep_ms(20);
    assert_int_equal(zombie_children(), 0);

    /* A parked wait keeps a shell alive past its idle timeout. */
    new_shell(m, ALICE, &opts, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "sleep 100", cid), WSM_OK);
    struct waitctx w;
    wc_init(&w);
    unsigned long tok;
    assert_int_equal(shell_wait(m, ALICE, sid, cid, shell_now_ms() + 800, on_wake, &w, &tok),
                     WSM_OK);
    sleep_ms(600);
    assert_int_equal(shell_count(m, ALICE), 1);
    assert_true(wc_wait(&w, 1, 3000));
    sleep_ms(600);
    assert_int_equal(shell_count(m, ALICE), 0);
    wc_destroy(&w);
    shell_mgr_free(m);
}

static void test_fd_count_cycles(void **state)
{
    (void)state;
    int fds0 = count_fds();
    struct shell_mgr *m = mgr_with(NULL);
    int fds1 = count_fds();
    for (int i = 0; i < 6; i++) {
        char sid[37], c1[37], c2[37];
        new_shell(m, ALICE, NULL, sid);
        char *out;
        assert_int_equal(run(m, ALICE, sid, "echo x; echo y >&2", &out, NULL), 0);
        free(out);
        assert_int_equal(shell_command(m, ALICE, sid, "sleep 100", c1), WSM_OK);
        assert_int_equal(shell_command(m, ALICE, sid, "cat", c2), WSM_OK);
        assert_int_equal(shell_send(m, ALICE, sid, c2, "abc", 3, 0), WSM_OK);
        assert_int_equal(shell_delete(m, ALICE, sid), WSM_OK);
    }
    assert_int_equal(count_fds(), fds1);
    assert_int_equal(zombie_children(), 0);
    shell_mgr_free(m);
    assert_int_equal(count_fds(), fds0);
}

static void test_environment(void **state)
{
    (void)state;
    setenv("WSMD_TEST_DAEMON_SECRET", "leak", 1);
    struct shell_mgr *m = mgr_with(NULL);
    const char *env[] = {"WSMD_SHELL_VAR=hello world", "LANG=fr_FR.UTF-8", NULL};
    struct shell_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.env = env;
    char sid[37];
    new_shell(m, ALICE, &opts, sid);
    char *out;
    assert_int_equal(run(m, ALICE, sid, "env", &out, NULL), 0);
    assert_non_null(strstr(out, "WSMD_SHELL_VAR=hello world\n"));
    assert_non_null(strstr(out, "HOME=/tmp\n"));
    assert_non_null(strstr(out, "USER=alice\n"));
    assert_non_null(strstr(out, "LOGNAME=alice\n"));
    assert_non_null(strstr(out, "SHELL=/bin/sh\n"));
    assert_non_null(strstr(out, "PATH=/usr/local/bin:/usr/bin:/bin\n"));
    assert_non_null(strstr(out, "LANG=fr_FR.UTF-8\n"));
    assert_null(strstr(out, "LANG=C.UTF-8"));
    assert_null(strstr(out, "WSMD_TEST_DAEMON_SECRET"));
    free(out);
    /* Without env: LANG defaults. */
    char sid2[37];
    new_shell(m, ALICE, NULL, sid2);
    assert_int_equal(run(m, ALICE, sid2, "echo $LANG", &out, NULL), 0);
    assert_string_equal(out, "C.UTF-8\n");
    free(out);
    /* A malformed entry is refused. */
    const char *bad[] = {"NOEQUALS", NULL};
    opts.env = bad;
    struct shell_owner o = owner_named(ALICE);
    assert_int_equal(shell_create(m, &o, &opts, sid2), WSM_ERR_INVALID_ARG);
    shell_mgr_free(m);
    unsetenv("WSMD_TEST_DAEMON_SECRET");
}

static void test_workdir(void **state)
{
    (void)state;
    char dir[] = "/tmp/wsmd-engine-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct shell_mgr *m = mgr_with(NULL);
    struct shell_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.workdir = dir;
    char sid[37];
    new_shell(m, ALICE, &opts, sid);
    char *out;
    assert_int_equal(run(m, ALICE, sid, "pwd", &out, NULL), 0);
    char want[64];
    snprintf(want, sizeof(want), "%s\n", dir);
    assert_string_equal(out, want);
    free(out);
    /* Default: home. */
    char sid2[37];
    new_shell(m, ALICE, NULL, sid2);
    assert_int_equal(run(m, ALICE, sid2, "pwd", &out, NULL), 0);
    assert_string_equal(out, "/tmp\n");
    free(out);

    /* A directory that went away: the child's chdir fails and the
     * command is refused (no phantom command, no fd, no zombie). */
    int fds = count_fds();
    assert_int_equal(rmdir(dir), 0);
    char cid[37];
    assert_int_equal(shell_command(m, ALICE, sid, "echo phantom", cid), WSM_ERR_INVALID_ARG);
    assert_int_equal(count_fds(), fds);
    assert_int_equal(zombie_children(), 0);
    /* And at create time. */
    struct shell_owner o = owner_named(ALICE);
    assert_int_equal(shell_create(m, &o, &opts, sid2), WSM_ERR_INVALID_ARG);
    opts.workdir = "/etc/passwd";
    assert_int_equal(shell_create(m, &o, &opts, sid2), WSM_ERR_INVALID_ARG);
    shell_mgr_free(m);
}

static void test_clean_signals_and_fds(void **state)
{
    (void)state;
    /* The daemon ignores and blocks things: the child must not inherit. */
    struct sigaction ign, old_usr1;
    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    sigaction(SIGUSR1, &ign, &old_usr1);
    sigset_t blk, old_mask;
    sigemptyset(&blk);
    sigaddset(&blk, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &blk, &old_mask);
    int leak = open("/dev/null", O_RDONLY); /* no O_CLOEXEC */
    if (leak >= 0 && leak <= 2) {
        /* Run with stdin closed (as CI may): move it past the stdio fds. */
        int moved = fcntl(leak, F_DUPFD, 3);
        close(leak);
        leak = moved;
    }
    assert_true(leak > 2);

    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cmd[128];
    new_shell(m, ALICE, NULL, sid);
    char *out;
    assert_int_equal(run(m, ALICE, sid, "grep -E '^Sig(Ign|Blk)' /proc/self/status", &out, NULL),
                     0);
    if (!strstr(out, "SigIgn:\t0000000000000000") || !strstr(out, "SigBlk:\t0000000000000000"))
        fail_msg("the command inherited ignored or blocked signals:\n%s", out);
    free(out);
    snprintf(cmd, sizeof(cmd), "[ -e /proc/$$/fd/%d ] && echo leaked || echo clean; ls /proc/$$/fd",
             leak);
    assert_int_equal(run(m, ALICE, sid, cmd, &out, NULL), 0);
    assert_string_equal(out, "clean\n0\n1\n2\n");
    free(out);
    /* A session and process group of its own. */
    assert_int_equal(
        run(m, ALICE, sid, "awk '$1==$5 && $5==$6 {print \"leader\"}' /proc/$$/stat", &out, NULL),
        0);
    assert_string_equal(out, "leader\n");
    free(out);
    shell_mgr_free(m);

    close(leak);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    sigaction(SIGUSR1, &old_usr1, NULL);
}

static void mem64(struct shell_limits *l)
{
    l->max_memory_per_shell_mb = 64;
}

static void test_rlimit(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(mem64);
    char sid[37];
    new_shell(m, ALICE, NULL, sid);
    char *out;
    assert_int_equal(run(m, ALICE, sid, "ulimit -v", &out, NULL), 0);
    assert_string_equal(out, "65536\n");
    free(out);
    shell_mgr_free(m);
}

static void test_switch_user(void **state)
{
    (void)state;
    if (getuid() != 0) {
        skip();
        return;
    }
    struct shell_mgr *m = mgr_with(NULL);
    gid_t groups[] = {65534, 4242};
    struct shell_owner o = owner_named("nobody");
    o.switch_user = 1;
    o.uid = 65534;
    o.gid = 65534;
    o.groups = groups;
    o.ngroups = 2;
    char sid[37];
    assert_int_equal(shell_create(m, &o, NULL, sid), WSM_OK);
    char *out;
    assert_int_equal(run(m, "nobody", sid, "id -u; id -ru; id -g; id -rg; id -G", &out, NULL), 0);
    assert_string_equal(out, "65534\n65534\n65534\n65534\n65534 4242\n");
    free(out);
    /* A file only root may read. */
    assert_int_equal(run(m, "nobody", sid, "cat /etc/shadow >/dev/null 2>&1", NULL, NULL), 1);
    shell_mgr_free(m);
}

/* The daemon's own credentials: every thread still root (the child's raw
 * set*id calls must not reach them, as glibc's broadcasting wrappers
 * would with a shared address space). */
static void assert_threads_root(void)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[320], line[256];
        snprintf(path, sizeof(path), "/proc/self/task/%s/status", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* gone meanwhile */
        while (fgets(line, sizeof(line), f)) {
            if (strncmp(line, "Uid:", 4) == 0 || strncmp(line, "Gid:", 4) == 0) {
                unsigned a, b, c2, e;
                assert_int_equal(sscanf(line + 4, "%u %u %u %u", &a, &b, &c2, &e), 4);
                assert_true(a == 0 && b == 0 && c2 == 0 && e == 0);
            }
            if (strncmp(line, "Groups:", 7) == 0)
                assert_null(strstr(line, "4242"));
        }
        fclose(f);
        n++;
    }
    closedir(d);
    assert_true(n >= 2); /* this thread and the I/O thread */
}

/* Spawning as another user from a multi-threaded root process leaves the
 * process's threads as they were; the children are the user. */
static void test_switch_user_parent_intact(void **state)
{
    (void)state;
    if (getuid() != 0) {
        skip();
        return;
    }
    struct shell_mgr *m = mgr_with(NULL);
    gid_t groups[] = {65534, 4242};
    struct shell_owner o = owner_named("nobody");
    o.switch_user = 1;
    o.uid = 65534;
    o.gid = 65534;
    o.groups = groups;
    o.ngroups = 2;
    char sid[37];
    assert_int_equal(shell_create(m, &o, NULL, sid), WSM_OK);
    for (int i = 0; i < 20; i++) {
        char *out;
        assert_int_equal(run(m, "nobody", sid, "id -u; id -G", &out, NULL), 0);
        assert_string_equal(out, "65534\n65534 4242\n");
        free(out);
        assert_threads_root();
    }
    /* The directory is checked as the user: /root (there, but not for
     * nobody) answers like a missing one, at Create, parent intact. */
    struct shell_opts so = {0};
    so.workdir = "/root";
    char sid2[37];
    assert_int_equal(shell_create(m, &o, &so, sid2), WSM_ERR_INVALID_ARG);
    so.workdir = "/nonexistent-wsmd-dir";
    assert_int_equal(shell_create(m, &o, &so, sid2), WSM_ERR_INVALID_ARG);
    assert_threads_root();
    /* A failing exec path (a directory closed to the user after Create:
     * chdir as the user) is reported, parent intact. */
    char dir[] = "/tmp/wsmd-engine-XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(chmod(dir, 0755), 0);
    so.workdir = dir;
    assert_int_equal(shell_create(m, &o, &so, sid2), WSM_OK);
    assert_int_equal(chmod(dir, 0700), 0);
    char cid[37];
    assert_int_equal(shell_command(m, "nobody", sid2, "true", cid), WSM_ERR_INVALID_ARG);
    rmdir(dir);
    assert_threads_root();
    assert_int_equal(zombie_children(), 0);
    shell_mgr_free(m);
}

/* The Receive that tells the ends of the streams also tells the exit: no
 * extra round trip for the exit code (the pipes close a moment before the
 * process becomes a zombie). The receive runs in the wake itself, as soon
 * as the daemon would run it. */
struct recv_ctx {
    struct shell_mgr *m;
    const char *sid, *cid;
    enum wsm_err e;
    int out_end, err_end, done, code;
    struct waitctx w;
};

static void recv_now(struct recv_ctx *r)
{
    struct shell_output o;
    memset(&o, 0, sizeof(o));
    wsm__buf_init(&o.out, 0);
    wsm__buf_init(&o.err, 0);
    r->e = shell_receive(r->m, ALICE, r->sid, r->cid, 1 << 20, &o);
    r->out_end = o.out_end;
    r->err_end = o.err_end;
    r->done = o.done;
    r->code = o.exit_code;
    wsm__buf_free(&o.out);
    wsm__buf_free(&o.err);
}

static void on_wake_receive(void *arg)
{
    struct recv_ctx *r = arg;
    recv_now(r);
    on_wake(&r->w);
}

static void test_end_comes_with_exit(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37];
    new_shell(m, ALICE, NULL, sid);
    const char *cmds[] = {"true", "echo hi", "echo oops >&2; exit 3"};
    for (int i = 0; i < 150; i++) {
        char cid[37];
        assert_int_equal(shell_command(m, ALICE, sid, cmds[i % 3], cid), WSM_OK);
        struct recv_ctx r;
        memset(&r, 0, sizeof(r));
        r.m = m;
        r.sid = sid;
        r.cid = cid;
        recv_now(&r);
        while (!(r.e == WSM_OK && (r.out_end || r.err_end))) {
            assert_true(r.e == WSM_OK || r.e == WSM_ERR_TIMED_OUT);
            wc_init(&r.w);
            unsigned long tok;
            assert_int_equal(
                shell_wait(m, ALICE, sid, cid, shell_now_ms() + 5000, on_wake_receive, &r, &tok),
                WSM_OK);
            if (!wc_wait(&r.w, 1, 10000))
                abort();
            wc_destroy(&r.w);
        }
        assert_true(r.done);
        assert_true(r.out_end && r.err_end);
        assert_int_equal(r.code, i % 3 == 2 ? 3 : 0);
    }
    shell_mgr_free(m);
}

/* A command that closes its output and runs on: the ends are told soon,
 * without the exit. */
static void test_end_before_exit(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "exec >&- 2>&-; sleep 2", cid), WSM_OK);
    long long t0 = shell_now_ms();
    int ended = 0;
    while (!ended && shell_now_ms() - t0 < 1500) {
        struct shell_output o;
        memset(&o, 0, sizeof(o));
        wsm__buf_init(&o.out, 0);
        wsm__buf_init(&o.err, 0);
        enum wsm_err e = shell_receive(m, ALICE, sid, cid, 1 << 20, &o);
        if (e == WSM_OK) {
            assert_false(o.done);
            ended = o.out_end && o.err_end;
        } else {
            assert_int_equal(e, WSM_ERR_TIMED_OUT);
            struct waitctx w;
            wc_init(&w);
            unsigned long tok;
            assert_int_equal(
                shell_wait(m, ALICE, sid, cid, shell_now_ms() + 1000, on_wake, &w, &tok), WSM_OK);
            if (!wc_wait(&w, 1, 10000))
                abort();
            wc_destroy(&w);
        }
        wsm__buf_free(&o.out);
        wsm__buf_free(&o.err);
    }
    assert_true(ended);
    assert_true(shell_now_ms() - t0 < 1000);
    int code = -1;
    assert_int_equal(drain(m, ALICE, sid, cid, 1 << 20, NULL, NULL, &code, 10000), WSM_OK);
    assert_int_equal(code, 0);
    shell_mgr_free(m);
}

static void test_background_holds_pipes(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    /* The shell exits at once; sleep keeps stdout and stderr open. */
    assert_int_equal(shell_command(m, ALICE, sid, "sleep 30 & echo $!", cid), WSM_OK);
    long long t0 = shell_now_ms();
    struct wsm_buf out;
    wsm__buf_init(&out, 0);
    wsm__buf_add(&out, "", 0);
    int code = -1;
    assert_int_equal(drain(m, ALICE, sid, cid, 65536, &out, NULL, &code, 10000), WSM_OK);
    long long dt = shell_now_ms() - t0;
    assert_int_equal(code, 0);
    assert_true(dt >= 1500);
    assert_true(dt < 5000);
    int bg = atoi(out.data);
    assert_true(bg > 0);
    kill(bg, SIGKILL);
    wsm__buf_free(&out);
    sleep_ms(50);
    assert_int_equal(zombie_children(), 0);
    shell_mgr_free(m);
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    assert_non_null(f);
    long size = 0, res = 0;
    assert_int_equal(fscanf(f, "%ld %ld", &size, &res), 2);
    fclose(f);
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static void many_shells(struct shell_limits *l)
{
    l->max_shells_per_user = 1000;
}

/* Idle shells are small: no thread, no buffer until there is output. */
static void test_idle_shell_memory(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(many_shells);
    enum { N = 400 };
    char sid[37];
    long before = rss_kb();
    for (int i = 0; i < N; i++)
        new_shell(m, ALICE, NULL, sid);
    long grown = rss_kb() - before;
    assert_true(grown < N * 256);
    assert_int_equal(shell_count(m, ALICE), N);
    assert_int_equal(shell_count(m, NULL), N);
    shell_mgr_free(m);
}

/* Many commands in parallel shells, all complete with their output. */
static void test_parallel_commands(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    enum { S = 8, C = 5 };
    char sid[S][37], cid[S][C][37];
    for (int s = 0; s < S; s++) {
        new_shell(m, ALICE, NULL, sid[s]);
        for (int c = 0; c < C; c++) {
            char cmd[64];
            snprintf(cmd, sizeof(cmd), "seq 1 %d; exit %d", 1000 * (c + 1), c);
            assert_int_equal(shell_command(m, ALICE, sid[s], cmd, cid[s][c]), WSM_OK);
        }
    }
    for (int s = 0; s < S; s++)
        for (int c = 0; c < C; c++) {
            struct wsm_buf out;
            wsm__buf_init(&out, 0);
            int code = -1;
            assert_int_equal(drain(m, ALICE, sid[s], cid[s][c], 10000, &out, NULL, &code, 20000),
                             WSM_OK);
            assert_int_equal(code, c);
            unsigned n = 0;
            for (size_t i = 0; i < out.len; i++)
                n += out.data[i] == '\n';
            assert_int_equal(n, 1000 * (c + 1));
            wsm__buf_free(&out);
        }
    shell_mgr_free(m);
}

/* ---- delivery, budget, kill_owner, end hook ---- */

/* receive_tx until it returns something (waiting as a Receive does). */
static enum wsm_err recv_tx(struct shell_mgr *m, const char *sid, const char *cid, size_t max,
                            long long seq, struct shell_output *o, unsigned long *tok)
{
    long long end = shell_now_ms() + 10000;
    for (;;) {
        memset(o, 0, sizeof(*o));
        wsm__buf_init(&o->out, 0);
        wsm__buf_init(&o->err, 0);
        enum wsm_err e = shell_receive_tx(m, ALICE, sid, cid, max, seq, o, tok);
        if (e != WSM_ERR_TIMED_OUT || shell_now_ms() > end)
            return e;
        wsm__buf_free(&o->out);
        wsm__buf_free(&o->err);
        struct waitctx w;
        wc_init(&w);
        unsigned long wt;
        assert_int_equal(shell_wait(m, ALICE, sid, cid, shell_now_ms() + 1000, on_wake, &w, &wt),
                         WSM_OK);
        if (!wc_wait(&w, 1, 10000))
            abort();
        wc_destroy(&w);
    }
}

static void out_free(struct shell_output *o)
{
    wsm__buf_free(&o->out);
    wsm__buf_free(&o->err);
}

/* A reply that was not written leaves the output where it was; one that
 * was takes it. While one is in flight, a Receive without SequenceId
 * waits for it to settle. */
static void test_receive_settle(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "printf abcdef", cid), WSM_OK);
    struct shell_output o, o2;
    unsigned long t1, t2;
    assert_int_equal(recv_tx(m, sid, cid, 4, -1, &o, &t1), WSM_OK);
    assert_true(t1 != 0);
    assert_int_equal(o.out.len, 4);
    assert_memory_equal(o.out.data, "abcd", 4);
    out_free(&o);
    /* In flight: another Receive finds nothing yet, and a waiter is woken
     * when the first settles. */
    memset(&o2, 0, sizeof(o2));
    assert_int_equal(shell_receive_tx(m, ALICE, sid, cid, 4, -1, &o2, &t2), WSM_ERR_TIMED_OUT);
    struct waitctx w;
    wc_init(&w);
    unsigned long wt;
    assert_int_equal(shell_wait(m, ALICE, sid, cid, shell_now_ms() + 5000, on_wake, &w, &wt),
                     WSM_OK);
    assert_int_equal(wc_count(&w), 0);
    shell_settle(m, ALICE, sid, cid, t1, 0); /* not delivered */
    assert_true(wc_wait(&w, 1, 2000));
    wc_destroy(&w);
    shell_settle(m, ALICE, sid, cid, t1, 1); /* a second settle is ignored */
    assert_int_equal(recv_tx(m, sid, cid, 4, -1, &o, &t2), WSM_OK);
    assert_memory_equal(o.out.data, "abcd", 4); /* the same bytes again */
    out_free(&o);
    shell_settle(m, ALICE, sid, cid, t2, 1);
    assert_int_equal(recv_tx(m, sid, cid, 64, -1, &o, &t1), WSM_OK);
    assert_int_equal(o.out.len, 2);
    assert_memory_equal(o.out.data, "ef", 2);
    int done = o.done;
    out_free(&o);
    shell_settle(m, ALICE, sid, cid, t1, 1);
    if (!done) {
        assert_int_equal(recv_tx(m, sid, cid, 64, -1, &o, &t1), WSM_OK);
        assert_int_equal(o.out.len, 0);
        done = o.done;
        out_free(&o);
        shell_settle(m, ALICE, sid, cid, t1, 1);
    }
    assert_true(done);
    shell_mgr_free(m);
}

/* A repeated SequenceId gets the previous output again, even after its
 * reply was written; the next one confirms it. */
static void test_receive_sequence_id(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "printf 0123456789", cid), WSM_OK);
    struct shell_output o;
    unsigned long t;
    assert_int_equal(recv_tx(m, sid, cid, 5, 7, &o, &t), WSM_OK);
    assert_memory_equal(o.out.data, "01234", 5);
    out_free(&o);
    shell_settle(m, ALICE, sid, cid, t, 1);
    assert_int_equal(recv_tx(m, sid, cid, 5, 7, &o, &t), WSM_OK);
    assert_int_equal(o.out.len, 5);
    assert_memory_equal(o.out.data, "01234", 5);
    out_free(&o);
    shell_settle(m, ALICE, sid, cid, t, 1);
    assert_int_equal(recv_tx(m, sid, cid, 5, 8, &o, &t), WSM_OK);
    assert_memory_equal(o.out.data, "56789", 5);
    out_free(&o);
    shell_settle(m, ALICE, sid, cid, t, 1);
    assert_true(shell_buffered(m, ALICE) > 64 * 1024); /* kept: its ring stays */
    /* A Signal confirms what was kept (winrs' terminate after Done). */
    assert_int_equal(shell_signal(m, ALICE, sid, cid, SHELL_SIG_TERMINATE), WSM_OK);
    assert_true(shell_buffered(m, ALICE) < 64 * 1024);
    assert_int_equal(recv_tx(m, sid, cid, 5, 8, &o, &t), WSM_OK);
    assert_int_equal(o.out.len, 0);
    out_free(&o);
    shell_settle(m, ALICE, sid, cid, t, 1);
    shell_mgr_free(m);
}

static int probe_says;

static int fake_probe(void *arg)
{
    (void)arg;
    return probe_says;
}

/* A reply written but not yet acknowledged: the next Receive asks the
 * probe (1: delivered, 0: not yet, -1: lost, sent again). */
static void test_receive_probe(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "printf abcdefgh", cid), WSM_OK);
    struct shell_output o;
    unsigned long t, t2;
    assert_int_equal(recv_tx(m, sid, cid, 2, -1, &o, &t), WSM_OK);
    assert_memory_equal(o.out.data, "ab", 2);
    out_free(&o);
    probe_says = 0;
    shell_settle_probe(m, ALICE, sid, cid, t, fake_probe, NULL);
    memset(&o, 0, sizeof(o));
    assert_int_equal(shell_receive_tx(m, ALICE, sid, cid, 2, -1, &o, &t2), WSM_ERR_TIMED_OUT);
    probe_says = -1; /* lost: the same bytes again */
    assert_int_equal(recv_tx(m, sid, cid, 2, -1, &o, &t2), WSM_OK);
    assert_memory_equal(o.out.data, "ab", 2);
    out_free(&o);
    shell_settle(m, ALICE, sid, cid, t, 1); /* the old token settles nothing */
    probe_says = 1;
    shell_settle_probe(m, ALICE, sid, cid, t2, fake_probe, NULL);
    assert_int_equal(recv_tx(m, sid, cid, 2, -1, &o, &t), WSM_OK);
    assert_memory_equal(o.out.data, "cd", 2);
    out_free(&o);
    shell_settle(m, ALICE, sid, cid, t2, 0); /* stale: ignored */
    shell_settle(m, ALICE, sid, cid, t, 1);
    assert_int_equal(recv_tx(m, sid, cid, 2, -1, &o, &t), WSM_OK);
    assert_memory_equal(o.out.data, "ef", 2);
    out_free(&o);
    shell_settle(m, ALICE, sid, cid, t, 1);
    shell_mgr_free(m);
}

static void small_budget(struct shell_limits *l)
{
    l->stream_cap = 64 * 1024;
    l->max_buffered_user = 192 * 1024; /* two stream buffers and the small charges */
    l->max_buffered_total = 1024 * 1024;
}

/* Past the user's budget, pipes wait (nothing is lost) and stdin buffers
 * get WSM_ERR_QUOTA, as do new commands once not even their few KB fit;
 * another user is not affected. */
static void test_output_budget(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(small_budget);
    char sid[37], cid[4][37], cat[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "cat >/dev/null", cat), WSM_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(shell_command(m, ALICE, sid, "head -c 100000 /dev/zero", cid[i]), WSM_OK);
    long long end = shell_now_ms() + 5000;
    while (!shell_over_budget(m, ALICE, 1) && shell_now_ms() < end)
        sleep_ms(5);
    assert_true(shell_over_budget(m, ALICE, 1));
    size_t held = shell_buffered(m, ALICE);
    assert_true(held <= 192 * 1024);
    assert_true(held >= 128 * 1024);
    sleep_ms(50); /* the starved streams stay so */
    assert_int_equal(shell_buffered(m, ALICE), held);
    assert_int_equal(shell_buffered(m, NULL), held);
    assert_int_equal(shell_send(m, ALICE, sid, cat, "x", 1, 0), WSM_ERR_QUOTA);
    assert_int_equal(shell_signal(m, ALICE, sid, cat, SHELL_SIG_TERMINATE), WSM_OK);
    /* Commands cost a few KB: they go on until those are spent too. */
    char extra[16][37];
    int n = 0;
    while (n < 16 && shell_command(m, ALICE, sid, "sleep 100", extra[n]) == WSM_OK)
        n++;
    assert_true(n > 0 && n < 16);
    assert_true(shell_over_budget(m, ALICE, 0));
    char xs[37];
    struct shell_owner a = owner_named(ALICE);
    assert_int_equal(shell_create(m, &a, NULL, xs), WSM_ERR_QUOTA);
    for (int i = 0; i < n; i++)
        assert_int_equal(shell_signal(m, ALICE, sid, extra[i], SHELL_SIG_TERMINATE), WSM_OK);
    /* Bob still works. */
    char bsid[37];
    new_shell(m, BOB, NULL, bsid);
    char *out;
    assert_int_equal(run(m, BOB, bsid, "echo bob", &out, NULL), 0);
    assert_string_equal(out, "bob\n");
    free(out);
    /* Every byte of alice's four commands arrives, even read last first
     * (the reader's stream gets the account's one overdraft buffer while
     * the others hold the budget). */
    for (int i = 3; i >= 0; i--) {
        struct wsm_buf b;
        wsm__buf_init(&b, 0);
        assert_int_equal(drain(m, ALICE, sid, cid[i], 64 * 1024, &b, NULL, NULL, 10000), WSM_OK);
        assert_int_equal(b.len, 100000);
        wsm__buf_free(&b);
    }
    assert_false(shell_over_budget(m, ALICE, 1));
    assert_int_equal(shell_command(m, ALICE, sid, "true", xs), WSM_OK);
    shell_mgr_free(m);
}

static void test_kill_owner(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char s1[37], s2[37], s3[37], c1[37], c2[37], c3[37];
    new_shell(m, ALICE, NULL, s1);
    new_shell(m, ALICE, NULL, s2);
    new_shell(m, BOB, NULL, s3);
    assert_int_equal(shell_command(m, ALICE, s1, "echo $$; exec sleep 100", c1), WSM_OK);
    assert_int_equal(shell_command(m, ALICE, s2, "sleep 100", c2), WSM_OK);
    assert_int_equal(shell_command(m, BOB, s3, "sleep 100", c3), WSM_OK);
    char line[64];
    first_line(m, s1, c1, line, sizeof(line));
    pid_t pid = (pid_t)atoi(line);
    assert_true(pid > 1);
    unsigned n = 99;
    assert_int_equal(shell_kill_owner(m, ALICE, &n), WSM_OK);
    assert_int_equal(n, 2);
    assert_int_equal(shell_count(m, ALICE), 0);
    assert_int_equal(shell_count(m, BOB), 1);
    assert_true(dead(pid)); /* killed and reaped before it returned */
    assert_int_equal(shell_kill_owner(m, "nobody", &n), WSM_OK);
    assert_int_equal(n, 0);
    assert_int_equal(shell_kill_owner(m, NULL, NULL), WSM_ERR_INVALID_ARG);
    shell_mgr_free(m);
}

static int ends_seen;
static struct shell_cmd_end last_end;

static void on_end(const struct shell_cmd_end *e)
{
    ends_seen++;
    last_end = *e;
    last_end.owner = last_end.shell_id = last_end.cmd_id = NULL; /* not kept */
}

static void test_end_hook(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    shell_mgr_set_end_hook(m, on_end);
    ends_seen = 0;
    char sid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(run(m, ALICE, sid, "printf hello; printf xy >&2; exit 3", NULL, NULL), 3);
    assert_int_equal(ends_seen, 1);
    assert_int_equal(last_end.out_bytes, 5);
    assert_int_equal(last_end.err_bytes, 2);
    assert_int_equal(last_end.exit_code, 3);
    assert_true(last_end.duration_ms >= 0);
    /* A command that goes with its shell is told once too. */
    char cid[37];
    assert_int_equal(shell_command(m, ALICE, sid, "sleep 100", cid), WSM_OK);
    assert_int_equal(shell_delete(m, ALICE, sid), WSM_OK);
    assert_int_equal(ends_seen, 2);
    assert_int_equal(last_end.exit_code, -1);
    shell_mgr_free(m);
    assert_int_equal(ends_seen, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo),
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_stderr_separate),
        cmocka_unit_test(test_done_repeats),
        cmocka_unit_test(test_stdin_cat),
        cmocka_unit_test(test_stdin_large_roundtrip),
        cmocka_unit_test(test_stdin_quota),
        cmocka_unit_test(test_big_output_exact),
        cmocka_unit_test(test_slow_reader_after_exit),
        cmocka_unit_test(test_receive_shares),
        cmocka_unit_test(test_terminate),
        cmocka_unit_test(test_terminate_escalates),
        cmocka_unit_test(test_ctrl_c),
        cmocka_unit_test(test_wait_wakes_on_output),
        cmocka_unit_test(test_wait_deadline_and_cancel),
        cmocka_unit_test(test_wait_woken_by_delete),
        cmocka_unit_test(test_other_owner),
        cmocka_unit_test(test_quotas),
        cmocka_unit_test(test_delete_kills_group),
        cmocka_unit_test(test_idle_timeout),
        cmocka_unit_test(test_fd_count_cycles),
        cmocka_unit_test(test_environment),
        cmocka_unit_test(test_workdir),
        cmocka_unit_test(test_clean_signals_and_fds),
        cmocka_unit_test(test_rlimit),
        cmocka_unit_test(test_switch_user),
        cmocka_unit_test(test_switch_user_parent_intact),
        cmocka_unit_test(test_end_comes_with_exit),
        cmocka_unit_test(test_end_before_exit),
        cmocka_unit_test(test_background_holds_pipes),
        cmocka_unit_test(test_idle_shell_memory),
        cmocka_unit_test(test_parallel_commands),
        cmocka_unit_test(test_receive_settle),
        cmocka_unit_test(test_receive_sequence_id),
        cmocka_unit_test(test_receive_probe),
        cmocka_unit_test(test_output_budget),
        cmocka_unit_test(test_kill_owner),
        cmocka_unit_test(test_end_hook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
