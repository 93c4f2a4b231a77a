/* Helpers of the shell engine's unit tests (engine_helpers.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine_helpers.h"

/* ---- helpers ---- */

struct shell_owner owner_named(const char *name)
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

void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

struct shell_mgr *mgr_with(void (*tweak)(struct shell_limits *))
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

void new_shell(struct shell_mgr *m, const char *who, const struct shell_opts *opts, char id[37])
{
    struct shell_owner o = owner_named(who);
    assert_int_equal(shell_create(m, &o, opts, id), WSM_OK);
    assert_int_equal(strlen(id), 36);
}

void wc_init(struct waitctx *w)
{
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->count = 0;
    w->at = 0;
}

void wc_destroy(struct waitctx *w)
{
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

void on_wake(void *arg)
{
    struct waitctx *w = arg;
    pthread_mutex_lock(&w->mu);
    w->count++;
    w->who = pthread_self();
    w->at = shell_now_ms();
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int wc_count(struct waitctx *w)
{
    pthread_mutex_lock(&w->mu);
    int n = w->count;
    pthread_mutex_unlock(&w->mu);
    return n;
}

/* 1 once count >= n, 0 after timeout_ms. */
int wc_wait(struct waitctx *w, int n, long timeout_ms)
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
enum wsm_err drain(struct shell_mgr *m, const char *who, const char *sid, const char *cid,
                   size_t max, struct wsm_buf *out, struct wsm_buf *err, int *code, long timeout_ms)
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
int run(struct shell_mgr *m, const char *who, const char *sid, const char *cmdline, char **out,
        char **err)
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

int count_fds(void)
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
char proc_state(pid_t pid, pid_t *ppid)
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

int zombie_children(void)
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
int dead(pid_t pid)
{
    char st = proc_state(pid, NULL);
    return st == 0 || st == 'Z' || st == 'X';
}

int wait_dead(pid_t pid, long timeout_ms)
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
void first_line(struct shell_mgr *m, const char *sid, const char *cid, char *line, size_t sz)
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
