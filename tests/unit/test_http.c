/* The plain-HTTP client (src/lib/http.c): URLs, the response reader over
 * canned bytes, and requests over loopback against a scripted server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"

/* ---- URLs ------------------------------------------------------------ */

static void test_target_parse(void **state)
{
    (void)state;
    struct wsm_http_target t;
    int https;
    assert_int_equal(wsm__http_target_parse("http://host:5985/wsman", &https, &t), WSM_OK);
    assert_false(https);
    assert_string_equal(t.host, "host");
    assert_string_equal(t.port, "5985");
    assert_string_equal(t.hostport, "host:5985");
    assert_string_equal(t.path, "/wsman");
    wsm__http_target_free(&t);

    assert_int_equal(wsm__http_target_parse("HTTPS://[::1]/x?y#frag", &https, &t), WSM_OK);
    assert_true(https);
    assert_string_equal(t.host, "::1");
    assert_string_equal(t.port, "443");
    assert_string_equal(t.hostport, "[::1]");
    assert_string_equal(t.path, "/x?y");
    wsm__http_target_free(&t);

    assert_int_equal(wsm__http_target_parse("10.0.0.1?q", &https, &t), WSM_OK);
    assert_false(https);
    assert_string_equal(t.port, "80");
    assert_string_equal(t.path, "/?q");
    wsm__http_target_free(&t);

    static const char *const bad[] = {"ftp://h/",        "http://u@h/",  "http://h:0/",
                                      "http://h:65536/", "http://h:5x/", "http://a b/",
                                      "http://[::1/",    "http://::1/",  "http:///wsman",
                                      "http://h\t/",     "http://[]:80/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(wsm__http_target_parse(bad[i], &https, &t), WSM_ERR_INVALID_ARG);
}

/* ---- the response reader -------------------------------------------- */

struct canned {
    const char *p;
    size_t n;
    size_t step; /* bytes per read: 0 all */
};

static enum wsm_err canned_src(void *ud, char *p, size_t n, size_t *got, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct canned *c = ud;
    size_t k = c->n < n ? c->n : n;
    if (c->step && c->step < k)
        k = c->step;
    memcpy(p, c->p, k);
    c->p += k;
    c->n -= k;
    *got = k;
    return WSM_OK;
}

/* Reads one response from s (in reads of step bytes); body capped at cap. */
static enum wsm_err read_one(const char *s, size_t step, size_t cap, struct wsm_buf *body,
                             struct wsm_http_result *res, char *err)
{
    static char buf[WSM_HTTP_MAX_HEAD];
    struct canned c = {s, strlen(s), step};
    struct wsm_http_reader r = {.src = canned_src, .ud = &c, .buf = buf};
    wsm__buf_init(body, cap);
    err[0] = '\0';
    return wsm__http_read_response(&r, body, res, err, 256);
}

/* keep: what keep_alive must be (-1: whatever, for a response followed by
 * bytes, which only a read that takes them in notices). */
static void expect_body(const char *resp, long status, const char *body_text, int keep)
{
    static const size_t steps[] = {0, 1, 3, 7};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct wsm_buf b;
        struct wsm_http_result res = {0};
        char err[256];
        enum wsm_err e = read_one(resp, steps[i], 1 << 20, &b, &res, err);
        if (e)
            fail_msg("step %zu: %s: %s", steps[i], wsm_strerror(e), err);
        assert_int_equal(res.status, status);
        assert_int_equal(b.len, strlen(body_text));
        assert_memory_equal(b.data, body_text, b.len);
        assert_int_equal(b.data[b.len], '\0');
        if (keep >= 0 && res.keep_alive != keep)
            fail_msg("step %zu: keep_alive %d", steps[i], res.keep_alive);
        if (keep < 0 && steps[i] == 0 && res.keep_alive)
            fail_msg("bytes after the response, and still kept");
        wsm__buf_free(&b);
    }
}

static void expect_error(const char *resp, size_t cap, const char *why)
{
    struct wsm_buf b;
    struct wsm_http_result res = {0};
    char err[256];
    assert_int_equal(read_one(resp, 0, cap, &b, &res, err), WSM_ERR_HTTP);
    if (!strstr(err, why))
        fail_msg("error '%s' does not say '%s'", err, why);
    wsm__buf_free(&b);
}

static void test_read_framings(void **state)
{
    (void)state;
    expect_body("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, "hello", 1);
    expect_body("HTTP/1.1 500 Internal Server Error\r\ncontent-length: 3, 3\r\n"
                "Connection: close\r\n\r\nabc",
                500, "abc", 0);
    expect_body("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                "5;name=value\r\nhello\r\n1A \r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n"
                "X-Trailer: 1\r\n\r\n",
                200, "helloabcdefghijklmnopqrstuvwxyz", 1);
    expect_body("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
                "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
                401, "", 1);
    expect_body("HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\n\r\nto the end", 200, "to the end",
                0);
    expect_body("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok", 200,
                "ok", 1);
    expect_body("HTTP/1.1 200 OK\nContent-Length: 2\n\nok", 200, "ok", 1);
    expect_body("HTTP/1.1 204 No Content\r\n\r\n", 204, "", 1);
    /* Both framings: chunked wins, and the connection is not kept. */
    expect_body("HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n"
                "2\r\nok\r\n0\r\n\r\n",
                200, "ok", 0);
    /* Bytes after the response: not ours to keep reading. */
    expect_body("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1", 200, "ok", -1);
}

static void test_read_refusals(void **state)
{
    (void)state;
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world", 10, "larger");
    expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n"
                 "8\r\n12345678\r\n0\r\n\r\n",
                 10, "larger");
    expect_error("HTTP/1.0 200 OK\r\n\r\n0123456789abc", 10, "larger");
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 100,
                 "Content-Length");
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 100, "Content-Length");
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", 100,
                 "Content-Length");
    expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 100,
                 "transfer coding");
    expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 100,
                 "transfer coding");
    expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", 100, "chunk size");
    expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "fffffffffffffffffffff\r\n",
                 100, "chunk size");
    expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n0\r\n\r\n", 100,
                 "longer than its size");
    expect_error("HTTP/2 200\r\n\r\n", 100, "not an HTTP/1.x");
    expect_error("HTTP/1.1 2000 OK\r\n\r\n", 100, "not an HTTP/1.x");
    expect_error("HTTP/1.1 200 OK\r\n Folded: x\r\n\r\n", 100, "malformed header");
    expect_error("HTTP/1.1 200 OK\r\nName : x\r\n\r\n", 100, "malformed header");
    expect_error("HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", 100, "CR inside");
    expect_error("HTTP/1.1 101 Switching Protocols\r\n\r\n", 100, "unexpected HTTP 101");
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", 100, "middle of the reply");
    expect_error("", 100, "without a reply");

    /* A head of more than WSM_HTTP_MAX_HEAD bytes, and too many lines. */
    size_t n = WSM_HTTP_MAX_HEAD + 100;
    char *big = malloc(n + 64);
    assert_non_null(big);
    strcpy(big, "HTTP/1.1 200 OK\r\nX: ");
    size_t l = strlen(big);
    memset(big + l, 'a', n - l);
    strcpy(big + n, "\r\n\r\n");
    expect_error(big, 100, "too long");
    big[0] = '\0';
    strcat(big, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < WSM_HTTP_MAX_HEADERS + 1; i++)
        strcat(big, "A: b\r\n");
    strcat(big, "\r\n");
    expect_error(big, 100, "too many header lines");
    free(big);
}

/* ---- requests over loopback ----------------------------------------- */

/* A scripted server: for each connection, answers up to `answers`
 * requests (then closes); with `silent` it reads a request and says
 * nothing (until the client gives up); on its first connection it reads
 * request number `drop_at` and closes without an answer. */
struct server {
    int lfd;
    int port;
    int answers; /* per connection, then close; 0: no limit */
    int silent;
    int drop_at;
    int accepts;
    int requests;
    pthread_t th;
};

static int read_request(int fd)
{
    char buf[8192];
    size_t have = 0;
    for (;;) {
        ssize_t k = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
        if (k <= 0)
            return -1;
        have += (size_t)k;
        buf[have] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (!end)
            continue;
        const char *cl = strstr(buf, "Content-Length: ");
        size_t body = cl ? strtoul(cl + 16, NULL, 10) : 0;
        size_t need = (size_t)(end + 4 - buf) + body;
        while (have < need) {
            k = recv(fd, buf, sizeof(buf), 0);
            if (k <= 0)
                return -1;
            have += (size_t)k;
        }
        return 0;
    }
}

static void *server_main(void *arg)
{
    struct server *s = arg;
    for (;;) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            return NULL;
        int conn_no = ++s->accepts;
        for (int i = 0; s->answers == 0 || i < s->answers; i++) {
            if (read_request(fd) != 0)
                break;
            s->requests++;
            if (s->silent) {
                char c;
                while (recv(fd, &c, 1, 0) > 0)
                    ;
                break;
            }
            if (conn_no == 1 && i + 1 == s->drop_at)
                break;
            static const char r[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
            if (send(fd, r, sizeof(r) - 1, MSG_NOSIGNAL) < 0)
                break;
        }
        close(fd);
    }
}

static void server_start(struct server *s)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->lfd, 8), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->th, NULL, server_main, s), 0);
}

static void server_stop(struct server *s)
{
    shutdown(s->lfd, SHUT_RDWR);
    close(s->lfd);
    pthread_join(s->th, NULL);
}

static enum wsm_err post(struct wsm_http_conn *c, long timeout_ms, char *err)
{
    struct wsm_http_request rq = {
        .headers = "X-Test: 1\r\n", .body = "<x/>", .len = 4, .timeout_ms = timeout_ms};
    struct wsm_buf b;
    long status = 0;
    wsm__buf_init(&b, 1000);
    err[0] = '\0';
    enum wsm_err e = wsm__http_post(c, &rq, &b, &status, err, 256);
    if (!e) {
        assert_int_equal(status, 200);
        assert_string_equal(b.data, "ok");
    }
    wsm__buf_free(&b);
    return e;
}

static void with_conn(struct server *s, struct wsm_http_target *t, struct wsm_http_conn *c)
{
    char url[64];
    int https;
    server_start(s);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/wsman", s->port);
    assert_int_equal(wsm__http_target_parse(url, &https, t), WSM_OK);
    wsm__http_conn_init(c, t);
}

static void test_keep_alive_and_reconnect(void **state)
{
    (void)state;
    char err[256];
    struct wsm_http_target t;
    struct wsm_http_conn c;

    /* Kept alive: three requests, one connection. */
    struct server s1 = {.answers = 0};
    with_conn(&s1, &t, &c);
    for (int i = 0; i < 3; i++)
        assert_int_equal(post(&c, 5000, err), WSM_OK);
    assert_int_equal(s1.accepts, 1);
    wsm__http_conn_close(&c);
    server_stop(&s1);
    wsm__http_target_free(&t);

    /* The server closes after each answer: the idle connection is seen to
     * be closed before the next request, which goes on a new one. */
    struct server s2 = {.answers = 1};
    with_conn(&s2, &t, &c);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(post(&c, 5000, err), WSM_OK);
        usleep(20000);
    }
    assert_int_equal(s2.accepts, 3);
    assert_int_equal(s2.requests, 3);
    wsm__http_conn_close(&c);
    server_stop(&s2);
    wsm__http_target_free(&t);

    /* The server takes the second request on the kept connection and
     * closes it without a word: once more, on a fresh connection. */
    struct server s3 = {.drop_at = 2};
    with_conn(&s3, &t, &c);
    assert_int_equal(post(&c, 5000, err), WSM_OK);
    assert_int_equal(post(&c, 5000, err), WSM_OK);
    assert_int_equal(s3.accepts, 2);
    assert_int_equal(s3.requests, 3);
    wsm__http_conn_close(&c);
    server_stop(&s3);
    wsm__http_target_free(&t);

    /* The same on a fresh connection is an error: nothing to retry. */
    struct server s4 = {.drop_at = 1};
    with_conn(&s4, &t, &c);
    assert_int_equal(post(&c, 5000, err), WSM_ERR_HTTP);
    assert_non_null(strstr(err, "without a reply"));
    assert_int_equal(s4.accepts, 1);
    wsm__http_conn_close(&c);
    server_stop(&s4);
    wsm__http_target_free(&t);
}

static void test_timeout(void **state)
{
    (void)state;
    char err[256];
    struct wsm_http_target t;
    struct wsm_http_conn c;
    struct server s = {.silent = 1};
    with_conn(&s, &t, &c);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(post(&c, 300, err), WSM_ERR_HTTP);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms >= 250 && ms < 3000);
    assert_non_null(strstr(err, "timed out"));
    wsm__http_conn_close(&c);
    server_stop(&s);
    wsm__http_target_free(&t);
}

struct aborter {
    struct wsm_http_conn *c;
};

static void *abort_soon(void *arg)
{
    struct aborter *a = arg;
    usleep(100000);
    wsm__http_conn_abort(a->c);
    return NULL;
}

static void test_abort(void **state)
{
    (void)state;
    char err[256];
    struct wsm_http_target t;
    struct wsm_http_conn c;
    struct server s = {.silent = 1};
    with_conn(&s, &t, &c);
    struct aborter a = {&c};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, abort_soon, &a), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(post(&c, 20000, err), WSM_ERR_HTTP);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_join(th, NULL);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms < 5000);
    assert_non_null(strstr(err, "aborted"));
    /* Later requests on an aborted connection fail at once. */
    assert_int_equal(post(&c, 20000, err), WSM_ERR_HTTP);
    wsm__http_conn_close(&c);
    server_stop(&s);
    wsm__http_target_free(&t);
}

static void test_connect_refused(void **state)
{
    (void)state;
    char err[256];
    struct wsm_http_target t;
    struct wsm_http_conn c;
    int https;
    /* A port nobody listens on: bind one, close it, use its number. */
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    close(fd);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/wsman", ntohs(a.sin_port));
    assert_int_equal(wsm__http_target_parse(url, &https, &t), WSM_OK);
    wsm__http_conn_init(&c, &t);
    assert_int_equal(post(&c, 2000, err), WSM_ERR_HTTP);
    assert_non_null(strstr(err, "cannot connect"));
    wsm__http_conn_close(&c);
    wsm__http_target_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_target_parse),    cmocka_unit_test(test_read_framings),
        cmocka_unit_test(test_read_refusals),   cmocka_unit_test(test_keep_alive_and_reconnect),
        cmocka_unit_test(test_timeout),         cmocka_unit_test(test_abort),
        cmocka_unit_test(test_connect_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
