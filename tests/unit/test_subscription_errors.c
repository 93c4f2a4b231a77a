/* Unit tests for the collector's subscription files (src/collector/subscription.c,
 * subxml.c): the files refused and the error each gives, a QueryList
 * written as markup instead of CDATA, and UTF-16LE files as wecutil
 * writes them. */
#include <sys/stat.h>

#include "subtest.h"
#include "tmpdir.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_utf16),
        cmocka_unit_test(test_query_markup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
