/* Unit tests for the collector's subscription files (src/collector/subscription.c,
 * subxml.c, subload.c): Windows subscription files in, every field, defaults,
 * the Version rule, allow/deny, a folder. Errors, markup queries and UTF-16
 * are in test_subscription_errors.c; the writers in test_subwrite.c. */
#include <sys/stat.h>

#include "subtest.h"
#include "tmpdir.h"

/* ---- the Windows file ----------------------------------------------------------------- */

static int is_guid(const char *v)
{
    if (strlen(v) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? v[i] != '-' : !strchr("0123456789ABCDEF", v[i]))
            return 0;
    }
    return v[14] == '5' && strchr("89AB", v[19]) != NULL;
}

static void test_windows_file(void **state)
{
    (void)state;
    struct wsmd_sub *s = load("ForwardedSecurity.xml");
    assert_string_equal(s->id, "ForwardedSecurity");
    assert_int_equal(s->source_initiated, 1);
    assert_int_equal(wsmd__sub_served(s), 1);
    assert_string_equal(s->description,
                        "Logons, account changes and service installs from every domain computer");
    assert_int_equal(s->enabled, 1);
    assert_string_equal(s->uri, "http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog");
    assert_string_equal(s->config_mode, "Normal");
    assert_string_equal(s->delivery_mode, "Push");
    assert_int_equal(s->max_items, 5);
    assert_int_equal(s->max_latency_ms, 900000);
    assert_int_equal(s->heartbeat_ms, 900000);
    assert_true(strncmp(s->query, "<QueryList>", 11) == 0);
    assert_non_null(strstr(s->query, "EventID=7045"));
    assert_true(strncmp(s->query_xml, "<QueryList>", 11) == 0);
    assert_int_equal(s->nchannels, 2);
    assert_int_equal(s->read_existing, 0);
    assert_string_equal(s->transport, "HTTP");
    assert_int_equal(s->transport_port, 0);
    assert_string_equal(s->content_format, "RenderedText");
    assert_string_equal(s->locale, "en-US");
    assert_string_equal(s->log_file, "ForwardedEvents");
    assert_string_equal(s->publisher_name, "Microsoft-Windows-EventCollector");
    assert_string_equal(s->domain_sddl, "O:NSG:BAD:P(A;;GA;;;DC)S:");
    assert_null(s->issuer_cas);
    assert_null(s->allowed_subjects);
    assert_null(s->expires);
    assert_int_equal(s->nallow, 0);
    assert_int_equal(s->ndeny, 0);
    assert_int_equal(s->outputs, WSMD_OUT_JSONL);
    assert_null(s->file);
    assert_true(is_guid(s->version));
    wsmd__sub_free(s);
}

static void test_extensions_file(void **state)
{
    (void)state;
    struct wsmd_sub *s = load("DomainControllers.xml");
    assert_string_equal(s->config_mode, "Custom");
    assert_int_equal(s->max_items, 50);
    assert_int_equal(s->max_latency_ms, 10000);
    assert_int_equal(s->heartbeat_ms, 300000);
    assert_int_equal(s->read_existing, 1);
    assert_string_equal(s->transport, "HTTPS");
    assert_string_equal(s->content_format, "Events");
    assert_string_equal(s->log_file, "DomainControllers");
    assert_string_equal(s->issuer_cas, "3A9F0C1157B244D09E6A1B2C3D4E5F60718293A4");
    assert_int_equal(s->nchannels, 3);
    assert_int_equal(s->nallow, 2);
    assert_string_equal(s->allow[0], "DC*$@EXAMPLE.COM");
    assert_string_equal(s->allow[1], "dc*.example.com");
    assert_int_equal(s->ndeny, 1);
    assert_string_equal(s->deny[0], "DCTEST*$@EXAMPLE.COM");
    assert_int_equal(s->outputs, WSMD_OUT_JSONL | WSMD_OUT_SYSLOG);
    wsmd__sub_free(s);
}

static void test_defaults(void **state)
{
    (void)state;
    struct wsmd_sub *s = parse_inner("");
    /* Windows' default type: loaded, never served. */
    assert_int_equal(s->source_initiated, 0);
    assert_int_equal(wsmd__sub_served(s), 0);
    assert_int_equal(s->enabled, 1);
    assert_string_equal(s->uri, WSMD_URI_EVENTLOG);
    assert_string_equal(s->config_mode, "Normal");
    assert_string_equal(s->content_format, "RenderedText");
    assert_string_equal(s->log_file, "ForwardedEvents");
    assert_string_equal(s->transport, "HTTP");
    assert_string_equal(s->description, "");
    assert_null(s->locale);
    assert_int_equal(s->read_existing, 0);
    assert_int_equal(s->outputs, WSMD_OUT_JSONL);
    wsmd__sub_free(s);

    s = parse_inner("<SubscriptionType>sourceinitiated</SubscriptionType>"
                    "<Enabled>FALSE</Enabled><TransportName>https</TransportName>"
                    "<TransportPort>5986</TransportPort><ContentFormat>events</ContentFormat>"
                    "<Expires>2030-01-01T00:00:00.000Z</Expires>");
    assert_int_equal(s->source_initiated, 1);
    assert_int_equal(s->enabled, 0);
    assert_int_equal(wsmd__sub_served(s), 0);
    assert_string_equal(s->transport, "HTTPS");
    assert_int_equal(s->transport_port, 5986);
    assert_string_equal(s->content_format, "Events");
    assert_string_equal(s->expires, "2030-01-01T00:00:00.000Z");
    wsmd__sub_free(s);
}

static void test_mode_defaults(void **state)
{
    (void)state;
    static const struct {
        const char *mode;
        unsigned items;
        long latency, hb;
    } t[] = {
        {"Normal", 5, 900000, 900000},
        {"MinLatency", 0, 30000, 3600000},
        {"MinBandwidth", 0, 21600000, 21600000},
        {"Custom", 0, 900000, 900000},
    };
    char inner[512];
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        snprintf(inner, sizeof(inner), "<ConfigurationMode>%s</ConfigurationMode>", t[i].mode);
        struct wsmd_sub *s = parse_inner(inner);
        assert_string_equal(s->config_mode, t[i].mode);
        assert_int_equal(s->max_items, t[i].items);
        assert_int_equal(s->max_latency_ms, t[i].latency);
        assert_int_equal(s->heartbeat_ms, t[i].hb);
        wsmd__sub_free(s);
    }
    /* Outside Custom the mode wins over the file's numbers (as wecutil does). */
    struct wsmd_sub *s = parse_inner(
        "<ConfigurationMode>minlatency</ConfigurationMode><Delivery Mode=\"Push\"><Batching>"
        "<MaxItems>7</MaxItems><MaxLatencyTime>1000</MaxLatencyTime></Batching><PushSettings>"
        "<Heartbeat Interval=\"2000\"/></PushSettings></Delivery>");
    assert_string_equal(s->config_mode, "MinLatency");
    assert_int_equal(s->max_items, 0);
    assert_int_equal(s->max_latency_ms, 30000);
    assert_int_equal(s->heartbeat_ms, 3600000);
    wsmd__sub_free(s);
    s = parse_inner(
        "<ConfigurationMode>Custom</ConfigurationMode><Delivery Mode=\"Push\"><Batching>"
        "<MaxItems>7</MaxItems><MaxLatencyTime>1000</MaxLatencyTime></Batching><PushSettings>"
        "<Heartbeat Interval=\"2000\"/></PushSettings></Delivery>");
    assert_int_equal(s->max_items, 7);
    assert_int_equal(s->max_latency_ms, 1000);
    assert_int_equal(s->heartbeat_ms, 2000);
    wsmd__sub_free(s);
}

/* ---- Version ----------------------------------------------------------------------------------
 */

static void version_of(const char *xml, char out[37])
{
    struct wsmd_sub *s = parse_ok(xml);
    memcpy(out, s->version, 37);
    wsmd__sub_free(s);
}

static void expect_version(const char *base, const char *from, const char *to, int same)
{
    char a[37], b[37];
    char *m = replace(base, from, to);
    version_of(base, a);
    version_of(m, b);
    if ((strcmp(a, b) == 0) != same)
        fprintf(stderr, "%s -> %s: %s %s\n", from, to, a, b);
    assert_int_equal(strcmp(a, b) == 0, same);
    free(m);
}

static void test_version(void **state)
{
    (void)state;
    char *x = slurp("DomainControllers.xml", NULL);
    char a[37], b[37];
    version_of(x, a);
    version_of(x, b);
    assert_string_equal(a, b);
    /* Pinned: the same file must give the same Version on every build and
     * node (a change here makes every source subscribe again). */
    struct wsmd_sub *s = parse_ok(x);
    assert_string_equal(s->version, "B0544F28-6AD6-55C9-BAAC-1035666DFF39");
    wsmd__sub_free(s);

    /* What the source sees changes it... */
    expect_version(x, "EventID=4768", "EventID=4767", 0);
    expect_version(x, "<MaxItems>50<", "<MaxItems>51<", 0);
    expect_version(x, "<MaxLatencyTime>10000<", "<MaxLatencyTime>10001<", 0);
    expect_version(x, "Interval=\"300000\"", "Interval=\"300001\"", 0);
    expect_version(x, "<ReadExistingEvents>true<", "<ReadExistingEvents>false<", 0);
    expect_version(x, "<ContentFormat>Events<", "<ContentFormat>RenderedText<", 0);
    expect_version(x, "Language=\"en-US\"", "Language=\"fr-FR\"", 0);
    expect_version(x, "<SubscriptionId>DomainControllers<", "<SubscriptionId>DCs<", 0);
    expect_version(x, "3A9F 0C11", "3A9F 0C12", 0);
    expect_version(x, "<ConfigurationMode>Custom<", "<ConfigurationMode>MinLatency<", 0);
    /* ...what it does not see leaves it alone. */
    expect_version(x, "fast</Description>", "slow</Description>", 1);
    expect_version(x, "DC*$@EXAMPLE.COM, ", "", 1);
    expect_version(x, "<wsmd:DeniedPrincipals>DCTEST", "<wsmd:DeniedPrincipals>DCX", 1);
    expect_version(x, "jsonl syslog", "xml", 1);
    expect_version(x, "<LogFile>DomainControllers<", "<LogFile>Other<", 1);
    expect_version(x, "O:NSG:BAD:P(A;;GA;;;DD)S:", "O:NSG:BAD:P(A;;GA;;;DC)S:", 1);
    expect_version(x, "<Enabled>true<", "<Enabled>false<", 1);
    expect_version(x, "<TransportName>HTTPS<", "<TransportName>HTTP<", 1);
    /* White space around the query in the CDATA is not the query. */
    expect_version(x, "<![CDATA[\n", "<![CDATA[\n\n   ", 1);
    free(x);
}

/* ---- allow / deny ------------------------------------------------------------------------------
 */

static void test_allows(void **state)
{
    (void)state;
    struct wsmd_sub *s = parse_inner("<wsmd:AllowedPrincipals>*$@EXAMPLE.COM\n  ws*.example.com"
                                     "</wsmd:AllowedPrincipals><wsmd:DeniedPrincipals>"
                                     "BAD*$@EXAMPLE.COM,ws9.example.com</wsmd:DeniedPrincipals>");
    assert_int_equal(s->nallow, 2);
    assert_int_equal(s->ndeny, 2);
    assert_true(wsmd__sub_allows(s, "WS1$@EXAMPLE.COM"));
    assert_true(wsmd__sub_allows(s, "ws1$@example.com")); /* case-insensitive */
    assert_true(wsmd__sub_allows(s, "WS2.EXAMPLE.COM"));
    assert_false(wsmd__sub_allows(s, "WS1$@OTHER.COM"));
    assert_false(wsmd__sub_allows(s, "alice@EXAMPLE.COM"));
    assert_false(wsmd__sub_allows(s, "BADHOST$@EXAMPLE.COM")); /* deny wins */
    assert_false(wsmd__sub_allows(s, "badhost$@example.com"));
    assert_false(wsmd__sub_allows(s, "WS9.example.com"));
    assert_false(wsmd__sub_allows(s, NULL));
    assert_false(wsmd__sub_allows(s, ""));
    wsmd__sub_free(s);

    /* No allow list: every authenticated principal, minus the denied. */
    s = parse_inner("<wsmd:DeniedPrincipals>EXAMPLE\\guest</wsmd:DeniedPrincipals>");
    assert_true(wsmd__sub_allows(s, "anyone"));
    assert_true(wsmd__sub_allows(s, "EXAMPLE\\alice"));
    assert_false(wsmd__sub_allows(s, "example\\GUEST")); /* backslash is literal */
    wsmd__sub_free(s);
    s = parse_inner("<wsmd:AllowedPrincipals>EXAMPLE\\*</wsmd:AllowedPrincipals>");
    assert_true(wsmd__sub_allows(s, "EXAMPLE\\bob"));
    assert_false(wsmd__sub_allows(s, "EXAMPLEbob"));
    wsmd__sub_free(s);
    assert_false(wsmd__sub_allows(NULL, "x"));
}

/* ---- a folder -----------------------------------------------------------------------------------
 */

static void put(const char *dir, const char *name, const char *text)
{
    char p[1024];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_load_dir(void **state)
{
    (void)state;
    char dir[512];
    assert_int_equal(test_tmpdir_make(dir, sizeof(dir), "subs"), 0);
    char *fs = slurp("ForwardedSecurity.xml", NULL), *dc = slurp("DomainControllers.xml", NULL);
    put(dir, "b-security.xml", fs);
    put(dir, "a-dc.XML", dc);
    put(dir, "c-broken.xml", "<Subscription");
    put(dir, "d-dup.xml", fs); /* the same SubscriptionId again */
    put(dir, "notes.txt", fs);
    put(dir, ".hidden.xml", fs);
    char sub[600];
    snprintf(sub, sizeof(sub), "%s/e-dir.xml", dir);
    assert_int_equal(mkdir(sub, 0700), 0);

    struct wsmd_sub **v = NULL;
    size_t n = 0;
    assert_int_equal(wsmd__sub_load_dir(dir, &v, &n), WSM_OK);
    assert_int_equal(n, 2);
    assert_string_equal(v[0]->id, "DomainControllers");
    assert_string_equal(v[1]->id, "ForwardedSecurity");
    char want[600];
    snprintf(want, sizeof(want), "%s/b-security.xml", dir);
    assert_string_equal(v[1]->file, want);
    wsmd__sub_free_all(v, n);

    /* An empty folder is no subscription, not an error. */
    char empty[600];
    snprintf(empty, sizeof(empty), "%s/e-dir.xml", dir);
    v = NULL;
    assert_int_equal(wsmd__sub_load_dir(empty, &v, &n), WSM_OK);
    assert_int_equal(n, 0);
    wsmd__sub_free_all(v, n);
    assert_int_equal(wsmd__sub_load_dir("/nonexistent/wsmd-subs", &v, &n), WSM_ERR_IO);
    test_tmpdir_remove(dir);
    free(fs);
    free(dc);
    wsmd__sub_free(NULL);
    wsmd__sub_free_all(NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_windows_file), cmocka_unit_test(test_extensions_file),
        cmocka_unit_test(test_defaults),     cmocka_unit_test(test_mode_defaults),
        cmocka_unit_test(test_version),      cmocka_unit_test(test_allows),
        cmocka_unit_test(test_load_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
