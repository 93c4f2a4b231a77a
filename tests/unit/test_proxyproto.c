/* The PROXY protocol header parser (src/daemon/proxyproto.c): v1 and v2
 * headers as HAProxy writes them, their exact lengths (the client's bytes
 * that follow stay), every prefix read as "more", LOCAL/UNKNOWN, and the
 * refusals: bad words, too long, wrong version or command, short address
 * blocks. And the ProxyProtocol key's values. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "proxyproto.h"
#include "server.h"

static const unsigned char sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                      0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

static size_t v2(unsigned char *b, unsigned char vc, unsigned char fam, const void *addr,
                 size_t alen)
{
    memcpy(b, sig, 12);
    b[12] = vc;
    b[13] = fam;
    b[14] = (unsigned char)(alen >> 8);
    b[15] = (unsigned char)alen;
    memcpy(b + 16, addr, alen);
    return 16 + alen;
}

static void every_prefix_is_more(const unsigned char *b, size_t full)
{
    struct wsmd_proxy_hdr h;
    for (size_t i = 0; i < full; i++)
        assert_int_equal(wsmd__proxy_parse(b, i, &h), WSMD_PROXY_MORE);
}

static void test_v1_tcp4(void **state)
{
    (void)state;
    const char *s = "PROXY TCP4 192.0.2.7 10.0.0.1 51234 5985\r\nPOST /wsman HTTP/1.1\r\n";
    struct wsmd_proxy_hdr h;
    assert_int_equal(wsmd__proxy_parse((const unsigned char *)s, strlen(s), &h), WSMD_PROXY_OK);
    assert_int_equal(h.len, strlen("PROXY TCP4 192.0.2.7 10.0.0.1 51234 5985\r\n"));
    assert_int_equal(h.version, 1);
    assert_true(h.has_addr);
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)&h.src;
    assert_int_equal(s4->sin_family, AF_INET);
    assert_int_equal(ntohs(s4->sin_port), 51234);
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
    assert_string_equal(ip, "192.0.2.7");
    every_prefix_is_more((const unsigned char *)s, h.len - 1);
}

static void test_v1_tcp6_and_unknown(void **state)
{
    (void)state;
    const char *s = "PROXY TCP6 2001:db8::5 2001:db8::1 443 5986\r\n";
    struct wsmd_proxy_hdr h;
    assert_int_equal(wsmd__proxy_parse((const unsigned char *)s, strlen(s), &h), WSMD_PROXY_OK);
    assert_int_equal(h.src.ss_family, AF_INET6);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&h.src)->sin6_port), 443);
    const char *u = "PROXY UNKNOWN whatever follows\r\nGET";
    assert_int_equal(wsmd__proxy_parse((const unsigned char *)u, strlen(u), &h), WSMD_PROXY_OK);
    assert_false(h.has_addr);
    assert_int_equal(h.len, strlen(u) - 3);
}

static void test_v1_refusals(void **state)
{
    (void)state;
    const char *bad[] = {
        "PROXY TCP4 192.0.2.7 10.0.0.1 51234\r\n",        /* a word missing */
        "PROXY TCP4 192.0.2.7 10.0.0.1 51234 5985 x\r\n", /* one too many */
        "PROXY TCP4 2001:db8::5 10.0.0.1 1 2\r\n",        /* family mismatch */
        "PROXY TCP6 192.0.2.7 10.0.0.1 1 2\r\n",
        "PROXY TCP4 192.0.2.7 10.0.0.1 65536 1\r\n", /* port */
        "PROXY TCP4 192.0.2.7 10.0.0.1 -1 1\r\n",
        "PROXY TCP4 192.0.2.7  10.0.0.1 1 1\r\n", /* two spaces */
        "PROXY UDP4 192.0.2.7 10.0.0.1 1 1\r\n",
        "PROXY TCP4 192.0.2.7 10.0.0.1 1 1\n", /* LF alone */
        "PROXY TCP4 192.0.2.7\r10.0.0.1 1 1\r\n",
        "PROXY TCP4 192.0.2.7 10.0.0.1 1 1\t\r\n",
        "PROXY\r\n",
        "PROXX TCP4",
        "GET / HTTP/1.1\r\n",
    };
    struct wsmd_proxy_hdr h;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(wsmd__proxy_parse((const unsigned char *)bad[i], strlen(bad[i]), &h),
                         WSMD_PROXY_BAD);
    /* No CR LF within 107 bytes: refused, never read on. */
    char line[200];
    memset(line, 'a', sizeof(line));
    memcpy(line, "PROXY UNKNOWN ", 14);
    assert_int_equal(wsmd__proxy_parse((unsigned char *)line, WSMD_PROXY_V1_MAX, &h),
                     WSMD_PROXY_BAD);
    assert_int_equal(wsmd__proxy_parse((unsigned char *)line, WSMD_PROXY_V1_MAX - 1, &h),
                     WSMD_PROXY_MORE);
    /* Exactly 107 bytes with CR LF is the longest taken. */
    memcpy(line + 105, "\r\n", 2);
    assert_int_equal(wsmd__proxy_parse((unsigned char *)line, 107, &h), WSMD_PROXY_OK);
    assert_int_equal(h.len, 107);
    memcpy(line + 105, "a\r\n", 3);
    assert_int_equal(wsmd__proxy_parse((unsigned char *)line, 108, &h), WSMD_PROXY_BAD);
}

static void test_v2(void **state)
{
    (void)state;
    unsigned char b[WSMD_PROXY_V2_MAX + 64], a[36 + 8];
    struct wsmd_proxy_hdr h;
    /* TCP4 with a TLV after the addresses (HAProxy may add some). */
    unsigned char a4[12 + 5] = {198,  51,   100,  9,    10,   0,    0,    1,   0x1f,
                                0x90, 0x16, 0x2e, 0x04, 0x00, 0x02, 0xAB, 0xCD};
    size_t n = v2(b, 0x21, 0x11, a4, sizeof(a4));
    memcpy(b + n, "GET", 3);
    assert_int_equal(wsmd__proxy_parse(b, n + 3, &h), WSMD_PROXY_OK);
    assert_int_equal(h.len, n);
    assert_int_equal(h.version, 2);
    assert_true(h.has_addr);
    assert_int_equal(ntohs(((struct sockaddr_in *)&h.src)->sin_port), 8080);
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET, &((struct sockaddr_in *)&h.src)->sin_addr, ip, sizeof(ip));
    assert_string_equal(ip, "198.51.100.9");
    every_prefix_is_more(b, n);
    /* TCP6 */
    memset(a, 0, sizeof(a));
    a[0] = 0x20, a[1] = 0x01, a[2] = 0x0d, a[3] = 0xb8, a[15] = 9;
    a[32] = 0x01, a[33] = 0xbb;
    n = v2(b, 0x21, 0x21, a, 36);
    assert_int_equal(wsmd__proxy_parse(b, n, &h), WSMD_PROXY_OK);
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&h.src)->sin6_addr, ip, sizeof(ip));
    assert_string_equal(ip, "2001:db8::9");
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&h.src)->sin6_port), 443);
    /* LOCAL (a health check): valid, the peer's address stays. */
    n = v2(b, 0x20, 0x11, a4, 12);
    assert_int_equal(wsmd__proxy_parse(b, n, &h), WSMD_PROXY_OK);
    assert_false(h.has_addr);
    n = v2(b, 0x20, 0x00, a4, 0);
    assert_int_equal(wsmd__proxy_parse(b, n, &h), WSMD_PROXY_OK);
    assert_int_equal(h.len, 16);
    /* UNIX sockets: valid, no address of ours. */
    unsigned char un[216] = {0};
    n = v2(b, 0x21, 0x31, un, sizeof(un));
    assert_int_equal(wsmd__proxy_parse(b, n, &h), WSMD_PROXY_OK);
    assert_false(h.has_addr);
}

static void test_v2_refusals(void **state)
{
    (void)state;
    unsigned char b[WSMD_PROXY_V2_MAX + 64], a[64] = {0};
    struct wsmd_proxy_hdr h;
    size_t n = v2(b, 0x11, 0x11, a, 12); /* version 1 in a v2 header */
    assert_int_equal(wsmd__proxy_parse(b, n, &h), WSMD_PROXY_BAD);
    assert_int_equal(wsmd__proxy_parse(b, 13, &h), WSMD_PROXY_BAD); /* known at byte 13 */
    n = v2(b, 0x22, 0x11, a, 12);                                   /* command 2 */
    assert_int_equal(wsmd__proxy_parse(b, n, &h), WSMD_PROXY_BAD);
    n = v2(b, 0x21, 0x11, a, 11); /* TCP4 needs 12 bytes */
    assert_int_equal(wsmd__proxy_parse(b, n, &h), WSMD_PROXY_BAD);
    n = v2(b, 0x21, 0x21, a, 35); /* TCP6 needs 36 */
    assert_int_equal(wsmd__proxy_parse(b, n, &h), WSMD_PROXY_BAD);
    n = v2(b, 0x21, 0x41, a, 12); /* no such family */
    assert_int_equal(wsmd__proxy_parse(b, n, &h), WSMD_PROXY_BAD);
    /* Longer than the bound: refused from the 16 bytes alone. */
    v2(b, 0x21, 0x11, a, 12);
    b[14] = 0x04, b[15] = 0x00;
    assert_int_equal(wsmd__proxy_parse(b, 16, &h), WSMD_PROXY_BAD);
    b[14] = 0x03, b[15] = 0xf0; /* exactly the bound: more to read */
    assert_int_equal(wsmd__proxy_parse(b, 16, &h), WSMD_PROXY_MORE);
    /* A broken signature. */
    n = v2(b, 0x21, 0x11, a, 12);
    b[7] = 'q';
    assert_int_equal(wsmd__proxy_parse(b, n, &h), WSMD_PROXY_BAD);
}

static void test_looks_like(void **state)
{
    (void)state;
    assert_true(wsmd__proxy_looks_like((const unsigned char *)"PROXY TCP4", 10));
    assert_true(wsmd__proxy_looks_like((const unsigned char *)"PRO", 3));
    assert_true(wsmd__proxy_looks_like(sig, 12));
    assert_false(wsmd__proxy_looks_like((const unsigned char *)"POST /", 6));
    assert_false(wsmd__proxy_looks_like((const unsigned char *)"", 0));
}

static void test_key_values(void **state)
{
    (void)state;
    struct wsmd_listener a, b, m;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    memset(&m, 0, sizeof(m));
    strcpy(a.url, "http://127.0.0.1:5985");
    strcpy(b.url, "https://0.0.0.0:5986/wsman");
    strcpy(m.url, "http://127.0.0.1:9186");
    m.metrics = 1;
    assert_true(wsmd__proxy_value_ok("true"));
    assert_true(wsmd__proxy_value_ok("no"));
    assert_true(wsmd__proxy_value_ok("http://127.0.0.1:5985, https://0.0.0.0:5986"));
    assert_false(wsmd__proxy_value_ok("maybe"));
    assert_false(wsmd__proxy_value_ok(""));
    assert_false(wsmd__proxy_value_ok("http://127.0.0.1:5985 ftp://x"));
    assert_true(wsmd__proxy_enabled("true", &a));
    assert_true(wsmd__proxy_enabled("true", &b));
    assert_false(wsmd__proxy_enabled("true", &m)); /* never /metrics */
    assert_false(wsmd__proxy_enabled("false", &a));
    assert_false(wsmd__proxy_enabled(NULL, &a));
    assert_true(wsmd__proxy_enabled("https://0.0.0.0:5986", &b));
    assert_false(wsmd__proxy_enabled("https://0.0.0.0:5986", &a));
    assert_true(wsmd__proxy_enabled("http://127.0.0.1:1,http://127.0.0.1:5985/wsman", &a));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_tcp4),     cmocka_unit_test(test_v1_tcp6_and_unknown),
        cmocka_unit_test(test_v1_refusals), cmocka_unit_test(test_v2),
        cmocka_unit_test(test_v2_refusals), cmocka_unit_test(test_looks_like),
        cmocka_unit_test(test_key_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
