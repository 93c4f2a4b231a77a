/* Helpers shared by the subscription unit tests (test_subscription*.c,
 * test_subwrite.c): example files, parsing that must succeed, minimal files,
 * text replacement, and the write_xml round trip. */
#ifndef WSMD_TESTS_SUBTEST_H
#define WSMD_TESTS_SUBTEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "subscription.h"

#ifndef WSMD_SOURCE_DIR
#define WSMD_SOURCE_DIR "."
#endif

static inline char *slurp(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/data/subscriptions/%s", WSMD_SOURCE_DIR, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *r = malloc(n + 1);
    assert_non_null(r);
    memcpy(r, buf, n + 1);
    if (len)
        *len = n;
    return r;
}

static inline struct wsmd_sub *parse_ok(const char *xml)
{
    struct wsmd_sub *s = NULL;
    char err[256] = "";
    enum wsm_err e = wsmd__sub_parse(xml, strlen(xml), &s, err, sizeof(err));
    if (e)
        fprintf(stderr, "parse: %s\n", err);
    assert_int_equal(e, WSM_OK);
    assert_non_null(s);
    return s;
}

static inline struct wsmd_sub *load(const char *name)
{
    char *x = slurp(name, NULL);
    struct wsmd_sub *s = parse_ok(x);
    free(x);
    return s;
}

/* A minimal file around the given inner elements and query. */
static inline char *mkfile(const char *inner, const char *query)
{
    static const char head[] =
        "<Subscription xmlns=\"http://schemas.microsoft.com/2006/03/windows/events/"
        "subscription\" xmlns:wsmd=\"urn:wsmd:subscription\">"
        "<SubscriptionId>T1</SubscriptionId>";
    const char *q = query ? query
                          : "<QueryList><Query Id=\"0\"><Select Path=\"Application\">*</Select>"
                            "</Query></QueryList>";
    size_t n = strlen(head) + strlen(inner) + strlen(q) + 128;
    char *r = malloc(n);
    assert_non_null(r);
    snprintf(r, n, "%s%s<Query><![CDATA[%s]]></Query></Subscription>", head, inner, q);
    return r;
}

static inline struct wsmd_sub *parse_q(const char *inner, const char *query)
{
    char *x = mkfile(inner, query);
    struct wsmd_sub *s = parse_ok(x);
    free(x);
    return s;
}

static inline struct wsmd_sub *parse_inner(const char *inner)
{
    char *x = mkfile(inner, NULL);
    struct wsmd_sub *s = parse_ok(x);
    free(x);
    return s;
}

static inline char *replace(const char *s, const char *from, const char *to)
{
    const char *p = strstr(s, from);
    assert_non_null(p);
    size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
    char *r = malloc(n);
    assert_non_null(r);
    snprintf(r, n, "%.*s%s%s", (int)(p - s), s, to, p + strlen(from));
    return r;
}

static inline void assert_same(const struct wsmd_sub *a, const struct wsmd_sub *b)
{
#define SAME_STR(f)                                                                                \
    do {                                                                                           \
        if (a->f || b->f) {                                                                        \
            assert_non_null(a->f);                                                                 \
            assert_non_null(b->f);                                                                 \
            assert_string_equal(a->f, b->f);                                                       \
        }                                                                                          \
    } while (0)
    SAME_STR(id);
    SAME_STR(description);
    SAME_STR(uri);
    SAME_STR(query);
    SAME_STR(query_xml);
    SAME_STR(content_format);
    SAME_STR(log_file);
    SAME_STR(locale);
    SAME_STR(config_mode);
    SAME_STR(transport);
    SAME_STR(delivery_mode);
    SAME_STR(expires);
    SAME_STR(publisher_name);
    SAME_STR(domain_sddl);
    SAME_STR(issuer_cas);
    SAME_STR(allowed_subjects);
    SAME_STR(denied_subjects);
    assert_int_equal(a->enabled, b->enabled);
    assert_int_equal(a->source_initiated, b->source_initiated);
    assert_int_equal(a->read_existing, b->read_existing);
    assert_int_equal(a->max_items, b->max_items);
    assert_int_equal(a->max_latency_ms, b->max_latency_ms);
    assert_int_equal(a->heartbeat_ms, b->heartbeat_ms);
    assert_int_equal(a->transport_port, b->transport_port);
    assert_int_equal(a->outputs, b->outputs);
    assert_int_equal(a->nallow, b->nallow);
    for (size_t i = 0; i < a->nallow; i++)
        assert_string_equal(a->allow[i], b->allow[i]);
    assert_int_equal(a->ndeny, b->ndeny);
    for (size_t i = 0; i < a->ndeny; i++)
        assert_string_equal(a->deny[i], b->deny[i]);
    assert_string_equal(a->version, b->version);
}

static inline void round_trip(struct wsmd_sub *a)
{
    struct wsm_buf o1, o2;
    wsm__buf_init(&o1, 0);
    wsm__buf_init(&o2, 0);
    assert_int_equal(wsmd__sub_write_xml(&o1, a), WSM_OK);
    struct wsmd_sub *b = parse_ok(o1.data);
    assert_same(a, b);
    assert_int_equal(wsmd__sub_write_xml(&o2, b), WSM_OK);
    assert_string_equal(o1.data, o2.data);
    /* A plain Windows file comes back without our namespace. */
    if (!a->nallow && !a->ndeny && a->outputs == WSMD_OUT_JSONL)
        assert_null(strstr(o1.data, "urn:wsmd"));
    else
        assert_non_null(strstr(o1.data, "urn:wsmd:subscription"));
    wsmd__sub_free(b);
    wsm__buf_free(&o1);
    wsm__buf_free(&o2);
}

#endif
