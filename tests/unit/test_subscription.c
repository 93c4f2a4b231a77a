/* Unit tests for the collector's subscriptions (src/collector/subscription.c,
 * subwrite.c): Windows subscription files in, the file format and the
 * Subscribe envelope out, read back with libxml2. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "buf.h"
#include "subscription.h"
#include "tmpdir.h"

#ifndef WSMD_SOURCE_DIR
#define WSMD_SOURCE_DIR "."
#endif

static char *slurp(const char *name, size_t *len)
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

static struct wsmd_sub *parse_ok(const char *xml)
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

static struct wsmd_sub *load(const char *name)
{
    char *x = slurp(name, NULL);
    struct wsmd_sub *s = parse_ok(x);
    free(x);
    return s;
}

/* A minimal file around the given inner elements and query. */
static char *mkfile(const char *inner, const char *query)
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

static struct wsmd_sub *parse_q(const char *inner, const char *query)
{
    char *x = mkfile(inner, query);
    struct wsmd_sub *s = parse_ok(x);
    free(x);
    return s;
}

static struct wsmd_sub *parse_inner(const char *inner)
{
    char *x = mkfile(inner, NULL);
    struct wsmd_sub *s = parse_ok(x);
    free(x);
    return s;
}

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

/* ---- errors -------------------------------------------------------------------------------- */

static void expect_error(const char *xml, enum wsm_err want, const char *needle)
{
    struct wsmd_sub *s = NULL;
    char err[256] = "";
    enum wsm_err e = wsmd__sub_parse(xml, strlen(xml), &s, err, sizeof(err));
    if (e != want || !strstr(err, needle))
        fprintf(stderr, "got %d \"%s\", want %d \"%s\"\n", e, err, want, needle);
    assert_int_equal(e, want);
    assert_null(s);
    assert_non_null(strstr(err, needle));
    assert_null(strchr(err, '\n'));
}

static void expect_inner_error(const char *inner, const char *needle)
{
    char *x = mkfile(inner, NULL);
    expect_error(x, WSM_ERR_INVALID_REPRESENTATION, needle);
    free(x);
}

static void expect_query_error(const char *query, const char *needle)
{
    char *x = mkfile("", query);
    expect_error(x, WSM_ERR_INVALID_REPRESENTATION, needle);
    free(x);
}

static char *many_channels(int n)
{
    size_t cap = (size_t)n * 64 + 64;
    char *q = malloc(cap);
    assert_non_null(q);
    size_t o = (size_t)snprintf(q, cap, "<QueryList><Query Id=\"0\">");
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(q + o, cap - o, "<Select Path=\"Channel-%d/Operational\">*</Select>",
                              i);
    snprintf(q + o, cap - o, "</Query></QueryList>");
    return q;
}

static void test_errors(void **state)
{
    (void)state;
    expect_inner_error("<SubscriptionType>Pushy</SubscriptionType>", "SubscriptionType");
    expect_inner_error("<ConfigurationMode>Fast</ConfigurationMode>", "ConfigurationMode");
    expect_inner_error("<Enabled>yes</Enabled>", "Enabled");
    expect_inner_error("<ReadExistingEvents>1</ReadExistingEvents>", "ReadExistingEvents");
    expect_inner_error("<Delivery><Batching><MaxItems>5x</MaxItems></Batching></Delivery>",
                       "MaxItems");
    expect_inner_error("<Delivery><Batching><MaxItems>0</MaxItems></Batching></Delivery>",
                       "MaxItems");
    expect_inner_error(
        "<Delivery><Batching><MaxLatencyTime>-1</MaxLatencyTime></Batching></Delivery>",
        "MaxLatencyTime");
    expect_inner_error("<Delivery><Batching><MaxLatencyTime>99999999999999999999</MaxLatencyTime>"
                       "</Batching></Delivery>",
                       "MaxLatencyTime");
    expect_inner_error("<Delivery><PushSettings><Heartbeat Interval=\"\"/></PushSettings>"
                       "</Delivery>",
                       "Heartbeat");
    expect_inner_error("<Delivery Mode=\"Smoke\"/>", "Delivery Mode");
    expect_inner_error("<SubscriptionType>SourceInitiated</SubscriptionType>"
                       "<Delivery Mode=\"Pull\"/>",
                       "Pull");
    expect_inner_error("<TransportName>ftp</TransportName>", "TransportName");
    expect_inner_error("<TransportPort>70000</TransportPort>", "TransportPort");
    expect_inner_error("<ContentFormat>Xml</ContentFormat>", "ContentFormat");
    expect_inner_error("<LogFile>../../etc/passwd</LogFile>", "LogFile");
    expect_inner_error("<Locale Language=\"en US\"/>", "Locale");
    expect_inner_error("<Enabled>true</Enabled><Enabled>true</Enabled>", "twice");
    expect_inner_error("<wsmd:Outputs>kafka</wsmd:Outputs>", "Outputs");
    expect_inner_error("<wsmd:Outputs> </wsmd:Outputs>", "no output");
    expect_inner_error("<wsmd:AllowedPrincipal>x</wsmd:AllowedPrincipal>", "unknown element");
    expect_inner_error("<AllowedSourceNonDomainComputers><AllowedIssuerCAList><IssuerCA>nothex"
                       "</IssuerCA></AllowedIssuerCAList></AllowedSourceNonDomainComputers>",
                       "IssuerCA");
    expect_inner_error("<Uri> </Uri>", "Uri");
    /* fnmatch backtracks: no glob that could take a long time. */
    expect_inner_error("<wsmd:DeniedPrincipals>ok *a*a*a*a*a*a*a*a*a</wsmd:DeniedPrincipals>",
                       "glob");

    /* The QueryList. */
    expect_query_error("<QueryList><Query Id=\"0\"><Select Path=\"A\">*</Select></Query>",
                       "not well-formed");
    expect_query_error("<Query Id=\"0\"><Select Path=\"A\">*</Select></Query>", "QueryList");
    expect_query_error("<QueryList><Query Id=\"0\"><Select>*</Select></Query></QueryList>", "Path");
    expect_query_error("<QueryList><Query Id=\"0\"/></QueryList>", "no Select");
    expect_query_error("<QueryList><Query><Pick Path=\"A\">*</Pick></Query></QueryList>", "Pick");
    char *q = many_channels(257);
    expect_query_error(q, "more than 256 channels");
    free(q);
    /* 256 is fine; the same channel twice counts once, whatever its case. */
    q = many_channels(256);
    char *x = mkfile("", q);
    struct wsmd_sub *s = parse_ok(x);
    assert_int_equal(s->nchannels, 256);
    wsmd__sub_free(s);
    free(x);
    free(q);
    s = parse_q("", "<QueryList><Query Id=\"0\" Path=\"Security\"><Select>*</Select>"
                    "<Select Path=\"SECURITY\">*</Select><Suppress Path=\"security\">*"
                    "</Suppress></Query></QueryList>");
    assert_int_equal(s->nchannels, 1);
    wsmd__sub_free(s);

    /* The file itself. */
    static const char ns[] = "http://schemas.microsoft.com/2006/03/windows/events/subscription";
    char buf[1024];
    expect_error("<Subscription", WSM_ERR_XML_MALFORMED, "not well-formed");
    expect_error("<Subscription><SubscriptionId>x</SubscriptionId></Subscription>",
                 WSM_ERR_INVALID_REPRESENTATION, "namespace");
    snprintf(buf, sizeof(buf),
             "<!DOCTYPE s [<!ENTITY a \"aaaa\">]><Subscription xmlns=\"%s\">"
             "<SubscriptionId>&a;</SubscriptionId></Subscription>",
             ns);
    expect_error(buf, WSM_ERR_XML_DTD, "DOCTYPE");
    snprintf(buf, sizeof(buf),
             "<Subscription xmlns=\"%s\"><Query><![CDATA[<QueryList>"
             "</QueryList>]]></Query></Subscription>",
             ns);
    expect_error(buf, WSM_ERR_INVALID_REPRESENTATION, "no SubscriptionId");
    snprintf(buf, sizeof(buf),
             "<Subscription xmlns=\"%s\"><SubscriptionId>A</SubscriptionId>"
             "</Subscription>",
             ns);
    expect_error(buf, WSM_ERR_INVALID_REPRESENTATION, "no Query");
    snprintf(buf, sizeof(buf),
             "<Subscription xmlns=\"%s\"><SubscriptionId>a/b</SubscriptionId>"
             "</Subscription>",
             ns);
    expect_error(buf, WSM_ERR_INVALID_REPRESENTATION, "SubscriptionId");
    snprintf(buf, sizeof(buf),
             "<Subscription xmlns=\"%s\"><SubscriptionId>..</SubscriptionId>"
             "</Subscription>",
             ns);
    expect_error(buf, WSM_ERR_INVALID_REPRESENTATION, "SubscriptionId");
    snprintf(buf, sizeof(buf),
             "<Subscription xmlns=\"%s\"><SubscriptionId>a?b</SubscriptionId>"
             "</Subscription>",
             ns);
    expect_error(buf, WSM_ERR_INVALID_REPRESENTATION, "SubscriptionId");
    /* 200 characters at most: the NotifyTo path must fit what wsmd keeps. */
    char id[202];
    memset(id, 'x', 201);
    id[201] = '\0';
    snprintf(buf, sizeof(buf),
             "<Subscription xmlns=\"%s\"><SubscriptionId>%s</SubscriptionId>"
             "</Subscription>",
             ns, id);
    expect_error(buf, WSM_ERR_INVALID_REPRESENTATION, "200 characters");
    id[200] = '\0';
    snprintf(buf, sizeof(buf),
             "<Subscription xmlns=\"%s\"><SubscriptionId>%s</SubscriptionId><Query><![CDATA["
             "<QueryList><Query><Select Path=\"A\">*</Select></Query></QueryList>]]></Query>"
             "</Subscription>",
             ns, id);
    s = parse_ok(buf);
    assert_int_equal(strlen(s->id), 200);
    wsmd__sub_free(s);
    /* A DOCTYPE inside the query's CDATA is refused too. */
    x = mkfile("", "<!DOCTYPE q [<!ENTITY b \"b\">]><QueryList/>");
    expect_error(x, WSM_ERR_XML_DTD, "DOCTYPE");
    free(x);
    expect_error("", WSM_ERR_XML_MALFORMED, "not well-formed");

    /* UTF-16 without a BOM: libxml2 finds the encoding itself, the text
     * scan does not see the DOCTYPE, the parser hook does. */
    snprintf(buf, sizeof(buf),
             "<?xml version=\"1.0\" encoding=\"UTF-16\"?><!DOCTYPE s>"
             "<Subscription xmlns=\"%s\"/>",
             ns);
    size_t n = strlen(buf);
    char *w = calloc(2 * n + 2, 1);
    assert_non_null(w);
    for (size_t i = 0; i < n; i++)
        w[2 * i] = buf[i];
    char err[256];
    s = NULL;
    assert_int_equal(wsmd__sub_parse(w, 2 * n, &s, err, sizeof(err)), WSM_ERR_XML_DTD);
    assert_null(s);
    free(w);
    assert_int_equal(wsmd__sub_parse(NULL, 0, &s, err, sizeof(err)), WSM_ERR_INVALID_ARG);
}

static char *replace(const char *s, const char *from, const char *to);
static void round_trip(struct wsmd_sub *a);

/* A QueryList as markup instead of CDATA; an 8-bit file that kept a UTF-16
 * declaration. */
static void test_query_markup(void **state)
{
    (void)state;
    static const char ns[] = "http://schemas.microsoft.com/2006/03/windows/events/subscription";
    char buf[1024];
    snprintf(buf, sizeof(buf),
             "<?xml version=\"1.0\" encoding=\"UTF-16\"?><Subscription xmlns=\"%s\">"
             "<SubscriptionId>M</SubscriptionId><Query> <QueryList><Query Id=\"0\">"
             "<Select Path=\"Security\">*[System[(EventID&gt;4)]]</Select></Query>"
             "</QueryList> </Query></Subscription>",
             ns);
    struct wsmd_sub *s = parse_ok(buf);
    assert_int_equal(s->nchannels, 1);
    assert_non_null(strstr(s->query, "<Select Path=\"Security\">"));
    /* The element was in the file's namespace there; the Filter must not
     * carry it. */
    assert_null(strstr(s->query_xml, "xmlns"));
    round_trip(s);
    wsmd__sub_free(s);
}

/* wecutil gs /uni:true: UTF-16LE with a BOM (and a declaration that says so). */
static void test_utf16(void **state)
{
    (void)state;
    size_t n;
    char *x0 = slurp("ForwardedSecurity.xml", NULL);
    char *x = replace(x0, "encoding=\"UTF-8\"", "encoding=\"UTF-16\"");
    free(x0);
    n = strlen(x);
    unsigned char *w = malloc(2 * n + 2);
    assert_non_null(w);
    w[0] = 0xFF;
    w[1] = 0xFE;
    for (size_t i = 0; i < n; i++) {
        w[2 + 2 * i] = (unsigned char)x[i];
        w[3 + 2 * i] = 0;
    }
    struct wsmd_sub *a = load("ForwardedSecurity.xml"), *b = NULL;
    char err[256] = "";
    enum wsm_err e = wsmd__sub_parse((const char *)w, 2 * n + 2, &b, err, sizeof(err));
    if (e)
        fprintf(stderr, "%s\n", err);
    assert_int_equal(e, WSM_OK);
    assert_string_equal(a->version, b->version);
    assert_string_equal(a->query, b->query);
    wsmd__sub_free(b);
    /* A lone surrogate is bad text. */
    w[4] = 0x00;
    w[5] = 0xDC;
    assert_int_equal(wsmd__sub_parse((const char *)w, 2 * n + 2, &b, err, sizeof(err)),
                     WSM_ERR_ENCODING);
    wsmd__sub_free(a);
    free(w);
    free(x);
}

/* ---- Version ----------------------------------------------------------------------------------
 */

static char *replace(const char *s, const char *from, const char *to)
{
    const char *p = strstr(s, from);
    assert_non_null(p);
    size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
    char *r = malloc(n);
    assert_non_null(r);
    snprintf(r, n, "%.*s%s%s", (int)(p - s), s, to, p + strlen(from));
    return r;
}

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

/* ---- write_xml ------------------------------------------------------------------------------- */

static void assert_same(const struct wsmd_sub *a, const struct wsmd_sub *b)
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

static void round_trip(struct wsmd_sub *a)
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

static void test_write_xml(void **state)
{
    (void)state;
    struct wsmd_sub *s = load("ForwardedSecurity.xml");
    round_trip(s);
    wsmd__sub_free(s);
    s = load("DomainControllers.xml");
    round_trip(s);
    wsmd__sub_free(s);
    /* Text that needs escaping, "]]>" in the query, every optional element. */
    s = parse_q(
        "<SubscriptionType>CollectorInitiated</SubscriptionType>"
        "<Description>a &lt;b&gt; &amp; \"c\" 'd'</Description>"
        "<Delivery Mode=\"Pull\"/><TransportPort>5985</TransportPort>"
        "<Expires>2030-01-01T00:00:00Z</Expires><PublisherName>P&amp;Q"
        "</PublisherName><AllowedSourceNonDomainComputers><AllowedSubjectList>"
        "<Subject>*.example.com</Subject><Subject>ws1.other.org</Subject>"
        "</AllowedSubjectList><DeniedSubjectList>bad.example.com"
        "</DeniedSubjectList></AllowedSourceNonDomainComputers>"
        "<wsmd:Outputs>xml</wsmd:Outputs>",
        "<QueryList><Query Id=\"0\"><Select Path=\"odd]]]]><![CDATA[>name\">*[System[(EventID"
        "&gt;4)]]</Select></Query></QueryList>");
    assert_string_equal(s->description, "a <b> & \"c\" 'd'");
    assert_string_equal(s->allowed_subjects, "*.example.com ws1.other.org");
    assert_string_equal(s->denied_subjects, "bad.example.com");
    assert_non_null(strstr(s->query, "odd]]>name"));
    round_trip(s);
    wsmd__sub_free(s);
}

/* ---- the Subscribe envelope
 * ------------------------------------------------------------------------ */

struct env {
    xmlDocPtr doc;
    xmlXPathContextPtr xp;
    char *text;
};

static void env_open(struct env *e, const struct wsmd_sub *s, const struct wsmd_sub_ctx *ctx)
{
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    assert_int_equal(wsmd__sub_write_subscribe(&b, s, ctx), WSM_OK);
    e->doc = xmlReadMemory(b.data, (int)b.len, NULL, NULL, XML_PARSE_NONET);
    if (!e->doc)
        fprintf(stderr, "%s\n", b.data);
    assert_non_null(e->doc);
    e->text = wsm__buf_steal(&b, NULL);
    e->xp = xmlXPathNewContext(e->doc);
    static const char *const ns[][2] = {
        {"s", "http://www.w3.org/2003/05/soap-envelope"},
        {"a", "http://schemas.xmlsoap.org/ws/2004/08/addressing"},
        {"e", "http://schemas.xmlsoap.org/ws/2004/08/eventing"},
        {"w", "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"},
        {"p", "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"},
        {"c", "http://schemas.xmlsoap.org/ws/2002/12/policy"},
        {"auth", "http://schemas.microsoft.com/wbem/wsman/1/authentication"},
        {"xsi", "http://www.w3.org/2001/XMLSchema-instance"},
    };
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
        xmlXPathRegisterNs(e->xp, (const xmlChar *)ns[i][0], (const xmlChar *)ns[i][1]);
}

static void env_close(struct env *e)
{
    xmlXPathFreeContext(e->xp);
    xmlFreeDoc(e->doc);
    free(e->text);
}

/* The string value of an XPath expression ("" when nothing matches). */
static char *xs(struct env *e, const char *expr)
{
    static char out[4096];
    char q[1024];
    snprintf(q, sizeof(q), "string(%s)", expr);
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)q, e->xp);
    assert_non_null(o);
    snprintf(out, sizeof(out), "%s", o->stringval ? (const char *)o->stringval : "");
    xmlXPathFreeObject(o);
    return out;
}

static int xcount(struct env *e, const char *expr)
{
    char q[1024];
    snprintf(q, sizeof(q), "count(%s)", expr);
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)q, e->xp);
    assert_non_null(o);
    int n = (int)o->floatval;
    xmlXPathFreeObject(o);
    return n;
}

#define H "/s:Envelope/s:Header/"
#define SUB "/s:Envelope/s:Body/e:Subscribe/"
#define DEL SUB "e:Delivery/"

static void test_subscribe_http(void **state)
{
    (void)state;
    struct wsmd_sub *s = load("ForwardedSecurity.xml");
    struct wsmd_sub_ctx ctx = {.notify_base = "http://wec.example.com:5985"};
    struct env e;
    env_open(&e, s, &ctx);
    assert_string_equal(xs(&e, H "a:Action"), "http://schemas.xmlsoap.org/ws/2004/08/eventing/"
                                              "Subscribe");
    assert_string_equal(xs(&e, H "a:To"),
                        "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous");
    assert_string_equal(xs(&e, H "w:ResourceURI"),
                        "http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog");
    assert_true(strncmp(xs(&e, H "a:MessageID"), "uuid:", 5) == 0);
    assert_string_equal(xs(&e, H "w:MaxEnvelopeSize"), "512000");
    assert_string_equal(xs(&e, H "w:Locale/@xml:lang"), "en-US");
    assert_string_equal(xs(&e, H "w:OptionSet/w:Option[@Name='SubscriptionName']"),
                        "ForwardedSecurity");
    assert_string_equal(xs(&e, H "w:OptionSet/w:Option[@Name='Compression']"), "SLDC");
    assert_string_equal(xs(&e, H "w:OptionSet/w:Option[@Name='CDATA']/@xsi:nil"), "true");
    assert_string_equal(xs(&e, H "w:OptionSet/w:Option[@Name='ContentFormat']"), "RenderedText");
    assert_string_equal(xs(&e, H "w:OptionSet/w:Option[@Name='IgnoreChannelError']/@xsi:nil"),
                        "true");
    assert_int_equal(xcount(&e, H "w:OptionSet/w:Option[@Name='ReadExistingEvents']"), 0);

    const char *addr = "http://wec.example.com:5985/wsman/subscriptions/ForwardedSecurity";
    assert_string_equal(xs(&e, SUB "e:EndTo/a:Address"), addr);
    assert_string_equal(xs(&e, SUB "e:EndTo/a:ReferenceProperties/e:Identifier"), s->version);
    assert_string_equal(xs(&e, SUB "e:Delivery/@Mode"),
                        "http://schemas.dmtf.org/wbem/wsman/1/wsman/Events");
    assert_string_equal(xs(&e, DEL "w:Heartbeats"), "PT900.000S");
    assert_string_equal(xs(&e, DEL "e:NotifyTo/a:Address"), addr);
    assert_string_equal(xs(&e, DEL "e:NotifyTo/a:ReferenceProperties/e:Identifier"), s->version);
    assert_string_equal(
        xs(&e, DEL "e:NotifyTo/c:Policy/c:ExactlyOne/c:All/auth:Authentication/@Profile"),
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos");
    assert_int_equal(xcount(&e, "//auth:Thumbprint"), 0);
    assert_string_equal(xs(&e, DEL "w:ConnectionRetry/@Total"), "5");
    assert_string_equal(xs(&e, DEL "w:ConnectionRetry"), "PT60.0S");
    assert_string_equal(xs(&e, DEL "w:MaxElements"), "5");
    assert_string_equal(xs(&e, DEL "w:MaxTime"), "PT900.000S");
    assert_string_equal(xs(&e, DEL "w:MaxEnvelopeSize"), "512000");
    assert_string_equal(xs(&e, DEL "w:MaxEnvelopeSize/@Policy"), "Notify");
    assert_string_equal(xs(&e, DEL "w:ContentEncoding"), "UTF-16");
    assert_string_equal(xs(&e, SUB "w:Filter/@Dialect"),
                        "http://schemas.microsoft.com/win/2004/08/events/eventquery");
    assert_int_equal(xcount(&e, SUB "w:Filter/QueryList/Query"), 2);
    assert_string_equal(xs(&e, SUB "w:Filter/QueryList/Query[2]/Select[1]/@Path"), "System");
    assert_int_equal(xcount(&e, SUB "w:Bookmark"), 0);
    assert_int_equal(xcount(&e, SUB "w:SendBookmarks"), 1);
    /* The element order of the Windows capture. */
    assert_string_equal(xs(&e, "name(" DEL "*[1])"), "w:Heartbeats");
    assert_string_equal(xs(&e, "name(" DEL "*[2])"), "e:NotifyTo");
    assert_string_equal(xs(&e, "name(" DEL "*[3])"), "w:ConnectionRetry");
    assert_string_equal(xs(&e, "name(" DEL "*[4])"), "w:MaxElements");
    assert_string_equal(xs(&e, "name(" DEL "*[5])"), "w:MaxTime");
    assert_string_equal(xs(&e, "name(" SUB "*[1])"), "e:EndTo");
    assert_string_equal(xs(&e, "name(" SUB "*[3])"), "w:Filter");
    assert_string_equal(xs(&e, "name(" SUB "*[last()])"), "w:SendBookmarks");
    env_close(&e);

    /* The stored bookmark goes back as a BookmarkList. */
    ctx.bookmark_xml = "<BookmarkList><Bookmark Channel=\"Security\" RecordId=\"149140\" "
                       "IsCurrent=\"true\"/><Bookmark Channel=\"System\" RecordId=\"77\"/>"
                       "</BookmarkList>";
    env_open(&e, s, &ctx);
    assert_string_equal(xs(&e, SUB "w:Bookmark/BookmarkList/Bookmark[1]/@RecordId"), "149140");
    assert_string_equal(xs(&e, SUB "w:Bookmark/BookmarkList/Bookmark[2]/@Channel"), "System");
    assert_string_equal(xs(&e, "name(" SUB "*[4])"), "w:Bookmark");
    env_close(&e);
    /* One that is not a BookmarkList (it came from the network) is dropped,
     * never pasted. */
    ctx.bookmark_xml = "</w:Bookmark><evil/><w:Bookmark>";
    env_open(&e, s, &ctx);
    assert_int_equal(xcount(&e, "//evil"), 0);
    assert_int_equal(xcount(&e, SUB "w:Bookmark"), 0);
    env_close(&e);
    ctx.bookmark_xml = "<Evil/>";
    env_open(&e, s, &ctx);
    assert_int_equal(xcount(&e, "//Evil"), 0);
    env_close(&e);
    wsmd__sub_free(s);
}

static void test_subscribe_https(void **state)
{
    (void)state;
    struct wsmd_sub *s = load("DomainControllers.xml");
    struct wsmd_sub_ctx ctx = {.notify_base = "https://wec.example.com:5986/",
                               .machine_id = "dc1.example.com"};
    struct env e;
    env_open(&e, s, &ctx);
    assert_string_equal(xs(&e, DEL "e:NotifyTo/a:Address"),
                        "https://wec.example.com:5986/wsman/subscriptions/DomainControllers");
    assert_string_equal(xs(&e, H "w:OptionSet/w:Option[@Name='ContentFormat']"), "Raw");
    assert_string_equal(xs(&e, H "w:OptionSet/w:Option[@Name='ReadExistingEvents']/@xsi:nil"),
                        "true");
    assert_string_equal(xs(&e, "//auth:Authentication/@Profile"),
                        "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual");
    /* No thumbprints from the configuration: the file's IssuerCA. */
    assert_string_equal(xs(&e, "//auth:ClientCertificate/auth:Thumbprint"),
                        "3A9F0C1157B244D09E6A1B2C3D4E5F60718293A4");
    assert_string_equal(xs(&e, "//auth:Thumbprint/@Role"), "issuer");
    assert_string_equal(xs(&e, DEL "w:MaxElements"), "50");
    assert_string_equal(xs(&e, DEL "w:MaxTime"), "PT10.000S");
    assert_string_equal(xs(&e, DEL "w:Heartbeats"), "PT300.000S");
    /* ReadExistingEvents and nothing stored: from the earliest event. */
    assert_string_equal(xs(&e, SUB "w:Bookmark"),
                        "http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest");
    assert_int_equal(xcount(&e, SUB "w:Filter/QueryList/Query/Select"), 3);
    env_close(&e);

    /* The configuration's issuers: one alternative each. */
    ctx.issuer_thumbprints = "1111111111111111111111111111111111111111 "
                             "2222222222222222222222222222222222222222";
    env_open(&e, s, &ctx);
    assert_int_equal(xcount(&e, "//c:ExactlyOne/c:All"), 2);
    assert_string_equal(xs(&e, "(//auth:Thumbprint)[2]"),
                        "2222222222222222222222222222222222222222");
    env_close(&e);
    /* A stored bookmark wins over "earliest". */
    ctx.bookmark_xml = "<BookmarkList><Bookmark Channel=\"Security\" RecordId=\"5\"/>"
                       "</BookmarkList>";
    env_open(&e, s, &ctx);
    assert_string_equal(xs(&e, SUB "w:Bookmark/BookmarkList/Bookmark/@RecordId"), "5");
    env_close(&e);
    wsmd__sub_free(s);

    /* HTTPS without any issuer: Kerberos over HTTPS. */
    s = load("ForwardedSecurity.xml");
    ctx = (struct wsmd_sub_ctx){.notify_base = "https://wec.example.com:5986"};
    env_open(&e, s, &ctx);
    assert_string_equal(xs(&e, "//auth:Authentication/@Profile"),
                        "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/"
                        "spnego-kerberos");
    env_close(&e);
    wsmd__sub_free(s);
}

static void test_subscribe_escaping(void **state)
{
    (void)state;
    /* A name with a space and an ampersand, MinLatency (no MaxElements), a
     * query with its own XML declaration and comments around the root. */
    struct wsmd_sub *s =
        parse_q("<SubscriptionType>SourceInitiated</SubscriptionType>"
                "<ConfigurationMode>MinLatency</ConfigurationMode>"
                "<Uri>http://example.com/r?a=1&amp;b=2</Uri>"
                "<Locale Language=\"de-DE\"/>",
                "<?xml version=\"1.0\"?><!-- c --><QueryList><Query Id=\"0\">"
                "<Select Path=\"A&amp;B\">*</Select></Query></QueryList><!-- d -->");
    free(s->id);
    s->id = strdup("Forwarded & Co");
    struct wsmd_sub_ctx ctx = {.notify_base = "http://wec.example.com:5985"};
    struct env e;
    env_open(&e, s, &ctx);
    assert_string_equal(xs(&e, DEL "e:NotifyTo/a:Address"),
                        "http://wec.example.com:5985/wsman/subscriptions/Forwarded%20%26%20Co");
    assert_string_equal(xs(&e, H "w:OptionSet/w:Option[@Name='SubscriptionName']"),
                        "Forwarded & Co");
    assert_string_equal(xs(&e, H "w:ResourceURI"), "http://example.com/r?a=1&b=2");
    assert_string_equal(xs(&e, DEL "w:Locale/@xml:lang"), "de-DE");
    assert_int_equal(xcount(&e, DEL "w:MaxElements"), 0);
    assert_string_equal(xs(&e, DEL "w:MaxTime"), "PT30.000S");
    assert_string_equal(xs(&e, DEL "w:Heartbeats"), "PT3600.000S");
    assert_string_equal(xs(&e, SUB "w:Filter/QueryList/Query/Select/@Path"), "A&B");
    assert_null(strstr(e.text, "<?xml"));
    assert_null(strstr(e.text, "<!--"));
    env_close(&e);

    /* Bad arguments write nothing. */
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    ctx.notify_base = NULL;
    assert_int_equal(wsmd__sub_write_subscribe(&b, s, &ctx), WSM_ERR_INVALID_ARG);
    assert_int_equal(b.len, 0);
    /* A buffer too small keeps what it held before. */
    wsm__buf_init(&b, 600);
    assert_int_equal(wsm__buf_puts(&b, "keep"), WSM_OK);
    ctx.notify_base = "http://wec.example.com:5985";
    assert_int_not_equal(wsmd__sub_write_subscribe(&b, s, &ctx), WSM_OK);
    assert_string_equal(b.data, "keep");
    wsm__buf_free(&b);
    wsmd__sub_free(s);
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
        cmocka_unit_test(test_windows_file),
        cmocka_unit_test(test_extensions_file),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_mode_defaults),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_utf16),
        cmocka_unit_test(test_query_markup),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_allows),
        cmocka_unit_test(test_write_xml),
        cmocka_unit_test(test_subscribe_http),
        cmocka_unit_test(test_subscribe_https),
        cmocka_unit_test(test_subscribe_escaping),
        cmocka_unit_test(test_load_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
