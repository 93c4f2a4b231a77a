/* Unit tests for the collector's SQLite state (src/collector/state.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "state.h"

static char dir[64];
static char dbpath[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/wsmd-state-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(dbpath, sizeof(dbpath), "%s/collector.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Runs sql on the database file directly (not through wsmd). */
static void raw_exec(const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

static long long raw_int(const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Opens with stderr (the log) captured into log. */
static enum wsm_err open_logged(struct wsmd_state **st, char *log, size_t loglen)
{
    char path[160];
    snprintf(path, sizeof(path), "%s.log", dir);
    fflush(stderr);
    int saved = dup(2), fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    enum wsm_err rc = wsmd__state_open(dir, st);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, log, loglen - 1, 0);
    log[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return rc;
}

static void test_create(void **state)
{
    (void)state;
    struct wsmd_state *st = NULL;
    assert_int_equal(wsmd__state_open(dir, &st), WSM_OK);
    wsmd__state_close(st);
    assert_int_equal(raw_int("SELECT version FROM schema_version"), WSMD_STATE_SCHEMA_VERSION);
    assert_int_equal(raw_int("SELECT count(*) FROM schema_version"), 1);
    assert_int_equal(raw_int("SELECT count(*) FROM sources"), 0);
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(db);
    struct stat sb;
    assert_int_equal(stat(dbpath, &sb), 0);
    assert_int_equal(sb.st_mode & 0077 & ~0040, 0); /* no more than 0640 */
    /* Opening again changes nothing. */
    assert_int_equal(wsmd__state_open(dir, &st), WSM_OK);
    wsmd__state_close(st);
    assert_int_equal(raw_int("SELECT count(*) FROM schema_version"), 1);
}

/* A file from before the version table existed (none), or version 0. */
static void test_upgrade_absent(void **state)
{
    (void)state;
    raw_exec("CREATE TABLE unrelated (x INTEGER); INSERT INTO unrelated VALUES (7)");
    struct wsmd_state *st = NULL;
    assert_int_equal(wsmd__state_open(dir, &st), WSM_OK);
    wsmd__state_close(st);
    assert_int_equal(raw_int("SELECT version FROM schema_version"), WSMD_STATE_SCHEMA_VERSION);
    assert_int_equal(raw_int("SELECT x FROM unrelated"), 7);
}

static void test_upgrade_zero(void **state)
{
    (void)state;
    raw_exec("CREATE TABLE schema_version (version INTEGER NOT NULL);"
             "INSERT INTO schema_version VALUES (0)");
    struct wsmd_state *st = NULL;
    char log[1024];
    assert_int_equal(open_logged(&st, log, sizeof(log)), WSM_OK);
    struct wsmd_state_update u = {.sub = "s", .principal = "p", .events = 1, .now_ms = 5};
    assert_int_equal(wsmd__state_commit(st, &u), WSM_OK);
    wsmd__state_close(st);
    assert_int_equal(raw_int("SELECT version FROM schema_version"), WSMD_STATE_SCHEMA_VERSION);
    assert_int_equal(raw_int("SELECT count(*) FROM schema_version"), 1);
    assert_int_equal(raw_int("SELECT events FROM sources"), 1);
}

static void test_newer_refused(void **state)
{
    (void)state;
    raw_exec("CREATE TABLE schema_version (version INTEGER NOT NULL);"
             "INSERT INTO schema_version VALUES (99)");
    struct wsmd_state *st = NULL;
    char log[1024];
    assert_int_equal(open_logged(&st, log, sizeof(log)), WSM_ERR_IO);
    assert_null(st);
    assert_non_null(strstr(log, "newer wsmd"));
    assert_non_null(strstr(log, "schema version 99"));
    assert_int_equal(raw_int("SELECT version FROM schema_version"), 99); /* left alone */
}

struct rows {
    int n;
    char text[8][512];
    struct wsmd_source_row last;
};

static void collect(const struct wsmd_source_row *r, void *arg)
{
    struct rows *rs = arg;
    if (rs->n < 8)
        snprintf(rs->text[rs->n], sizeof(rs->text[0]),
                 "%s|%s|%s|%s|%s|seen=%lld fhb=%lld lhb=%lld lev=%lld ev=%llu dup=%llu end=%d",
                 r->sub, r->principal, r->addr ? r->addr : "-",
                 r->bookmark_xml ? r->bookmark_xml : "-", r->last_error ? r->last_error : "-",
                 r->first_seen_ms, r->first_heartbeat_ms, r->last_heartbeat_ms, r->last_event_ms,
                 r->events, r->duplicates, r->ended);
    rs->n++;
}

static void test_commit_roundtrip(void **state)
{
    (void)state;
    struct wsmd_state *st = NULL;
    assert_int_equal(wsmd__state_open(dir, &st), WSM_OK);
    char *xml = (char *)"x";
    assert_int_equal(wsmd__state_bookmark(st, "sub1", "WS1$@EX.COM", &xml), WSM_OK);
    assert_null(xml);

    const char *bm1 = "<BookmarkList><Bookmark Channel=\"Security\" RecordId=\"10\" "
                      "IsCurrent=\"true\"/></BookmarkList>";
    struct wsmd_state_update u = {.sub = "sub1",
                                  .principal = "WS1$@EX.COM",
                                  .addr = "192.0.2.1",
                                  .bookmark_xml = bm1,
                                  .events = 10,
                                  .now_ms = 1000};
    assert_int_equal(wsmd__state_commit(st, &u), WSM_OK);
    assert_int_equal(wsmd__state_bookmark(st, "sub1", "WS1$@EX.COM", &xml), WSM_OK);
    assert_string_equal(xml, bm1);
    free(xml);
    /* Another principal, another subscription: separate rows. */
    assert_int_equal(wsmd__state_bookmark(st, "sub1", "WS2$@EX.COM", &xml), WSM_OK);
    assert_null(xml);
    assert_int_equal(wsmd__state_bookmark(st, "sub2", "WS1$@EX.COM", &xml), WSM_OK);
    assert_null(xml);

    /* A heartbeat: no bookmark (kept), a new address. */
    struct wsmd_state_update hb = {.sub = "sub1",
                                   .principal = "WS1$@EX.COM",
                                   .addr = "192.0.2.2",
                                   .heartbeat = 1,
                                   .now_ms = 2000};
    assert_int_equal(wsmd__state_commit(st, &hb), WSM_OK);
    hb.now_ms = 3000;
    assert_int_equal(wsmd__state_commit(st, &hb), WSM_OK);
    /* Events with duplicates and an error, then the end. */
    const char *bm2 = "<BookmarkList><Bookmark Channel=\"Security\" RecordId=\"15\"/>"
                      "</BookmarkList>";
    struct wsmd_state_update ev = {.sub = "sub1",
                                   .principal = "WS1$@EX.COM",
                                   .bookmark_xml = bm2,
                                   .events = 5,
                                   .duplicates = 2,
                                   .error = "ComputerMismatch",
                                   .now_ms = 4000};
    assert_int_equal(wsmd__state_commit(st, &ev), WSM_OK);
    struct wsmd_state_update end = {
        .sub = "sub1", .principal = "WS1$@EX.COM", .subscription_end = 1, .now_ms = 5000};
    assert_int_equal(wsmd__state_commit(st, &end), WSM_OK);
    struct wsmd_state_update other = {
        .sub = "sub2", .principal = "WS9$@EX.COM", .events = 1, .now_ms = 6000};
    assert_int_equal(wsmd__state_commit(st, &other), WSM_OK);

    assert_int_equal(wsmd__state_bookmark(st, "sub1", "WS1$@EX.COM", &xml), WSM_OK);
    assert_string_equal(xml, bm2);
    free(xml);

    struct rows rs = {0};
    assert_int_equal(wsmd__state_sources(st, NULL, collect, &rs), WSM_OK);
    assert_int_equal(rs.n, 2);
    char want[512];
    snprintf(want, sizeof(want),
             "sub1|WS1$@EX.COM|192.0.2.2|%s|ComputerMismatch|seen=1000 fhb=2000 lhb=3000 "
             "lev=4000 ev=15 dup=2 end=1",
             bm2);
    assert_string_equal(rs.text[0], want);
    assert_string_equal(rs.text[1],
                        "sub2|WS9$@EX.COM|-|-|-|seen=6000 fhb=0 lhb=0 lev=6000 ev=1 dup=0 end=0");
    memset(&rs, 0, sizeof(rs));
    assert_int_equal(wsmd__state_sources(st, "sub2", collect, &rs), WSM_OK);
    assert_int_equal(rs.n, 1);
    memset(&rs, 0, sizeof(rs));
    assert_int_equal(wsmd__state_sources(st, "nosuch", collect, &rs), WSM_OK);
    assert_int_equal(rs.n, 0);

    /* A heartbeat after the end: the source is back. */
    hb.now_ms = 7000;
    assert_int_equal(wsmd__state_commit(st, &hb), WSM_OK);
    memset(&rs, 0, sizeof(rs));
    assert_int_equal(wsmd__state_sources(st, "sub1", collect, &rs), WSM_OK);
    assert_non_null(strstr(rs.text[0], "fhb=2000 lhb=7000 lev=4000 ev=15 dup=2 end=0"));

    struct wsmd_state_update bad = {.sub = NULL, .principal = "p"};
    assert_int_equal(wsmd__state_commit(st, &bad), WSM_ERR_INVALID_ARG);
    wsmd__state_close(st);

    /* Reopened: everything is still there. */
    assert_int_equal(wsmd__state_open(dir, &st), WSM_OK);
    memset(&rs, 0, sizeof(rs));
    assert_int_equal(wsmd__state_sources(st, NULL, collect, &rs), WSM_OK);
    assert_int_equal(rs.n, 2);
    assert_non_null(strstr(rs.text[0], "ev=15 dup=2 end=0"));
    assert_int_equal(wsmd__state_bookmark(st, "sub1", "WS1$@EX.COM", &xml), WSM_OK);
    assert_string_equal(xml, bm2);
    free(xml);
    wsmd__state_close(st);
}

#define THREADS 4
#define PER_THREAD 150

struct worker {
    struct wsmd_state *st;
    int id;
    int failures;
};

static void *commit_worker(void *arg)
{
    struct worker *w = arg;
    char principal[32], bm[96];
    snprintf(principal, sizeof(principal), "WS%d$@EX.COM", w->id);
    for (int i = 1; i <= PER_THREAD; i++) {
        snprintf(bm, sizeof(bm), "<BookmarkList><Bookmark RecordId=\"%d\"/></BookmarkList>", i);
        struct wsmd_state_update u = {.sub = "sub",
                                      .principal = principal,
                                      .addr = "::1",
                                      .bookmark_xml = bm,
                                      .events = 3,
                                      .now_ms = i};
        /* And one row every thread updates. */
        struct wsmd_state_update shared = {
            .sub = "sub", .principal = "shared", .events = 1, .now_ms = i};
        if (wsmd__state_commit(w->st, &u) != WSM_OK || wsmd__state_commit(w->st, &shared) != WSM_OK)
            w->failures++;
    }
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_concurrent(void **state)
{
    (void)state;
    struct wsmd_state *st = NULL;
    assert_int_equal(wsmd__state_open(dir, &st), WSM_OK);
    pthread_t th[THREADS];
    struct worker w[THREADS];
    double t0 = now_s();
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.st = st, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, commit_worker, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    double dt = now_s() - t0;
    printf("# state commits: %d from %d threads in %.3f s = %.0f commits/s\n",
           THREADS * PER_THREAD * 2, THREADS, dt, THREADS * PER_THREAD * 2 / dt);
    struct rows rs = {0};
    assert_int_equal(wsmd__state_sources(st, "sub", collect, &rs), WSM_OK);
    assert_int_equal(rs.n, THREADS + 1);
    for (int i = 0; i < THREADS; i++) {
        char want[64];
        snprintf(want, sizeof(want), "ev=%d ", 3 * PER_THREAD);
        assert_non_null(strstr(rs.text[i], want));
        assert_non_null(strstr(rs.text[i], "RecordId=\"150\""));
    }
    char want[64];
    snprintf(want, sizeof(want), "ev=%d ", THREADS * PER_THREAD);
    assert_non_null(strstr(rs.text[THREADS], want));
    wsmd__state_close(st);
}

static void test_corrupt(void **state)
{
    (void)state;
    int fd = open(dbpath, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    char junk[4096];
    memset(junk, 'Z', sizeof(junk));
    assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
    close(fd);
    struct wsmd_state *st = NULL;
    char log[1024];
    assert_int_equal(open_logged(&st, log, sizeof(log)), WSM_ERR_IO);
    assert_null(st);
    assert_non_null(strstr(log, "event=state_open_failed"));
    assert_non_null(strstr(log, dbpath));
    assert_non_null(strstr(log, "not a database"));
    /* Refused, not replaced: the file is as it was. */
    struct stat sb;
    assert_int_equal(stat(dbpath, &sb), 0);
    assert_int_equal(sb.st_size, sizeof(junk));
}

/* A real database whose table pages are overwritten. */
static void test_corrupt_pages(void **state)
{
    (void)state;
    raw_exec("PRAGMA page_size = 4096; CREATE TABLE t (x TEXT);"
             "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 2000)"
             " INSERT INTO t SELECT printf('%0100d', i) FROM c");
    int fd = open(dbpath, O_WRONLY);
    assert_true(fd >= 0);
    char junk[4096];
    memset(junk, 0xA5, sizeof(junk));
    for (off_t p = 2; p < 30; p += 3)
        assert_int_equal(pwrite(fd, junk, sizeof(junk), p * 4096), (ssize_t)sizeof(junk));
    close(fd);
    struct wsmd_state *st = NULL;
    char log[2048];
    assert_int_equal(open_logged(&st, log, sizeof(log)), WSM_ERR_IO);
    assert_null(st);
    assert_non_null(strstr(log, "corrupt"));
}

static void test_unwritable(void **state)
{
    (void)state;
    /* The state directory is a regular file: nothing can be made in it
     * (root is not stopped by modes, so not a chmod). */
    char file[128];
    snprintf(file, sizeof(file), "%s/plain", dir);
    int fd = open(file, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);
    struct wsmd_state *st = NULL;
    assert_int_equal(wsmd__state_open(file, &st), WSM_ERR_IO);
    assert_null(st);
    assert_int_equal(wsmd__state_open("", &st), WSM_ERR_INVALID_ARG);
    /* A symbolic link in place of the database is not followed. */
    assert_int_equal(symlink(file, dbpath), 0);
    assert_int_equal(wsmd__state_open(dir, &st), WSM_ERR_IO);
    assert_null(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwritable, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
