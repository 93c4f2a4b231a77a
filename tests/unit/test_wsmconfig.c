/* Unit tests for winrm/config (src/daemon/wsmconfig.c): requests through
 * the dispatcher, replies checked as XML. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "config.h"
#include "ns.h"
#include "server.h"
#ifdef WSMD_HAVE_CIM
#include "cimops.h"
#endif

#define XF "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
#define EN "http://schemas.xmlsoap.org/ws/2004/09/enumeration/"
#define CFG WSM_NS_CFG

struct fixture {
    struct wsmd_server srv;
    struct wsm_buf out;
    struct wsm_envelope *env;
    const char *fault_message;
};

static int setup(void **state)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    wsmd__config_defaults(&f.srv.cfg);
    assert_int_equal(wsmd__config_set(&f.srv.cfg, "MaxEnvelopeSizekb", "1024"), WSM_OK);
    assert_int_equal(wsmd__config_set(&f.srv.cfg, "AllowUnencrypted", "true"), WSM_OK);
    assert_int_equal(wsmd__config_set(&f.srv.cfg, "MaxShellsPerUser", "7"), WSM_OK);
    /* (unset, it is sized from RLIMIT_NOFILE when the listeners start) */
    assert_int_equal(wsmd__config_set(&f.srv.cfg, "MaxConnections", "300"), WSM_OK);
    assert_int_equal(wsmd__config_set(&f.srv.cfg, "CbtHardeningLevel", "Strict"), WSM_OK);
    assert_int_equal(wsmd__config_add_listener(&f.srv.cfg, "http://127.0.0.1:5990"), WSM_OK);
    assert_int_equal(wsmd__config_add_listener(&f.srv.cfg, "http://0.0.0.0"), WSM_OK);
    wsm__buf_init(&f.out, 0);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    wsm__buf_free(&f->out);
    wsm__envelope_free(f->env);
    wsmd__config_clear(&f->srv.cfg);
#ifdef WSMD_HAVE_CIM
    wsmd__enum_shutdown();
#endif
    return 0;
}

/* Sends action on uri with the selectors (NULL-terminated name, value
 * pairs) and body through the dispatcher. */
static enum wsm_err send_req(struct fixture *f, const char *action, const char *uri,
                             const char *body, ...)
{
    char sel[1024] = "";
    va_list ap;
    va_start(ap, body);
    for (const char *n; (n = va_arg(ap, const char *));) {
        const char *v = va_arg(ap, const char *);
        snprintf(sel + strlen(sel), sizeof(sel) - strlen(sel),
                 "<w:Selector Name=\"%s\">%s</w:Selector>", n, v);
    }
    va_end(ap);
    char req[4096];
    snprintf(req, sizeof(req),
             "<s:Envelope xmlns:s=\"" WSM_NS_SOAP "\" xmlns:a=\"" WSM_NS_WSA
             "\" xmlns:w=\"" WSM_NS_WSMAN "\" xmlns:n=\"" WSM_NS_WSEN "\"><s:Header>"
             "<a:To>http://127.0.0.1:5990/wsman</a:To><a:ReplyTo><a:Address>" WSM_ADDR_ANONYMOUS
             "</a:Address></a:ReplyTo><a:MessageID>uuid:1</a:MessageID>"
             "<w:ResourceURI>%s</w:ResourceURI><a:Action>%s</a:Action>"
             "%s%s%s</s:Header><s:Body>%s</s:Body></s:Envelope>",
             uri, action, sel[0] ? "<w:SelectorSet>" : "", sel, sel[0] ? "</w:SelectorSet>" : "",
             body ? body : "");
    wsm__envelope_free(f->env);
    f->env = NULL;
    wsm__buf_reset(&f->out);
    assert_int_equal(wsm__envelope_parse(req, strlen(req), NULL, &f->env, NULL, 0), WSM_OK);
    struct wsmd_call call = {
        .srv = &f->srv,
        .lis = &f->srv.cfg.listeners[0],
        .env = f->env,
        .user = "alice",
        .out = &f->out,
    };
    enum wsm_err e = wsmd__dispatch(&call);
    f->fault_message = call.fault_message;
    return e;
}

/* The text of the element at xpath in the reply (prefix c: for ns), or
 * NULL; *count receives how many matched. */
static char *xp(struct fixture *f, const char *ns, const char *path, int *count)
{
    xmlDocPtr doc = xmlReadMemory(f->out.data, (int)f->out.len, NULL, NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathRegisterNs(ctx, BAD_CAST "s", BAD_CAST WSM_NS_SOAP);
    xmlXPathRegisterNs(ctx, BAD_CAST "w", BAD_CAST WSM_NS_WSMAN);
    xmlXPathRegisterNs(ctx, BAD_CAST "n", BAD_CAST WSM_NS_WSEN);
    xmlXPathRegisterNs(ctx, BAD_CAST "c", BAD_CAST ns);
    xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST path, ctx);
    char *text = NULL;
    int n = r && r->nodesetval ? r->nodesetval->nodeNr : 0;
    if (n) {
        xmlChar *t = xmlNodeGetContent(r->nodesetval->nodeTab[0]);
        text = strdup((const char *)t);
        xmlFree(t);
    }
    if (count)
        *count = n;
    xmlXPathFreeObject(r);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    return text;
}

static void assert_value(struct fixture *f, const char *ns, const char *path, const char *want)
{
    char *got = xp(f, ns, path, NULL);
    if (!got)
        fail_msg("no %s in %s", path, f->out.data);
    assert_string_equal(got, want);
    free(got);
}

/* The names of the element children of the element at path, in order,
 * separated by spaces. */
static void assert_children(struct fixture *f, const char *ns, const char *path, const char *want)
{
    char expr[512];
    snprintf(expr, sizeof(expr), "%s/*", path);
    xmlDocPtr doc = xmlReadMemory(f->out.data, (int)f->out.len, NULL, NULL, XML_PARSE_NONET);
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathRegisterNs(ctx, BAD_CAST "s", BAD_CAST WSM_NS_SOAP);
    xmlXPathRegisterNs(ctx, BAD_CAST "c", BAD_CAST ns);
    xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST expr, ctx);
    char names[1024] = "";
    for (int i = 0; r && r->nodesetval && i < r->nodesetval->nodeNr; i++) {
        xmlNodePtr n = r->nodesetval->nodeTab[i];
        assert_string_equal((const char *)n->ns->href, ns);
        snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i ? " " : "",
                 (const char *)n->name);
    }
    xmlXPathFreeObject(r);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    assert_string_equal(names, want);
}

/* The connection guard's keys (connguard.h): parsed, bounded, and none of
 * them shown in winrm/config (Windows has no such key). */
static void test_connection_keys(void **state)
{
    struct fixture *f = *state;
    struct wsmd_config c;
    wsmd__config_defaults(&c);
    assert_int_equal(c.max_connections, 0); /* sized at startup */
    assert_int_equal(wsmd__config_set(&c, "MaxConnectionsPerAddress", "8"), WSM_OK);
    assert_int_equal(wsmd__config_set(&c, "HeaderTimeoutms", "1500"), WSM_OK);
    assert_int_equal(wsmd__config_set(&c, "BodyTimeoutms", "20"), WSM_OK); /* raised to 100 */
    assert_int_equal(wsmd__config_set(&c, "MaxAnonymousEnvelopeSize", "4096"), WSM_OK);
    assert_int_equal(c.max_conn_per_addr, 8);
    assert_int_equal(c.header_timeout_ms, 1500);
    assert_int_equal(c.body_timeout_ms, 100);
    assert_int_equal(c.max_anon_envelope, 4096);
    const char *bad[] = {"0", "-1", "x", "12x", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(wsmd__config_set(&c, "MaxConnectionsPerAddress", bad[i]),
                         WSM_ERR_INVALID_ARG);
        assert_int_equal(wsmd__config_set(&c, "HeaderTimeoutms", bad[i]), WSM_ERR_INVALID_ARG);
    }
    wsmd__config_clear(&c);
    assert_int_equal(send_req(f, XF "Get", CFG, NULL, NULL), WSM_OK);
    assert_non_null(strstr(f->out.data, "MaxConnections"));
    assert_null(strstr(f->out.data, "PerAddress"));
    assert_null(strstr(f->out.data, "HeaderTimeout"));
    assert_null(strstr(f->out.data, "BodyTimeout"));
    assert_null(strstr(f->out.data, "Anonymous"));
}

static void test_get_config(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(send_req(f, XF "Get", CFG, NULL, NULL), WSM_OK);
    const char *top = "/s:Envelope/s:Body/c:Config";
    char want[512] = "MaxEnvelopeSizekb";
#ifdef WSMD_HAVE_SHELL
    strcat(want, " MaxTimeoutms");
#endif
#ifdef WSMD_HAVE_CIM
    strcat(want, " MaxBatchItems");
#endif
    strcat(want, " Service Winrs");
    assert_children(f, CFG, top, want);
    assert_value(f, CFG, "/s:Envelope/s:Body/c:Config/c:MaxEnvelopeSizekb", "1024");
    assert_value(f, CFG, "//c:Config/c:Service/c:AllowUnencrypted", "true");
    assert_value(f, CFG, "//c:Config/c:Service/c:MaxConnections", "300");
    assert_value(f, CFG, "//c:Service/c:Auth/c:CbtHardeningLevel", "Strict");
    assert_value(f, CFG, "//c:Service/c:Auth/c:Basic", "true");
    assert_value(f, CFG, "//c:Service/c:Auth/c:Negotiate", "false"); /* no acceptor */
    assert_value(f, CFG, "//c:Service/c:Auth/c:Certificate", "false");
    assert_value(f, CFG, "//c:Service/c:DefaultPorts/c:HTTPS", "5986");
    assert_children(f, CFG, "//c:Service/c:Auth",
                    "Basic Kerberos Negotiate Certificate CredSSP CbtHardeningLevel");
#ifdef WSMD_HAVE_SHELL
    assert_value(f, CFG, "//c:Config/c:MaxTimeoutms", "600000");
    assert_value(f, CFG, "//c:Winrs/c:MaxShellsPerUser", "7");
    assert_value(f, CFG, "//c:Winrs/c:IdleTimeout", "7200000");
    assert_children(f, CFG, "//c:Config/c:Winrs",
                    "AllowRemoteShellAccess IdleTimeout MaxConcurrentUsers MaxShellRunTime "
                    "MaxProcessesPerShell MaxMemoryPerShellMB MaxShellsPerUser "
                    "MaxConcurrentCommandsPerShell");
#endif
#ifdef WSMD_HAVE_CIM
    assert_children(f, CFG, "//c:Config/c:Service",
                    "RootSDDL MaxConcurrentOperationsPerUser EnumerationTimeoutms MaxConnections "
                    "AllowUnencrypted Auth "
                    "DefaultPorts");
#endif
    /* Not root, no Allow lines: every authenticated user holds all rights. */
    assert_value(f, CFG, "//c:Config/c:Service/c:RootSDDL", "O:NSG:BAD:P(A;;GA;;;AU)");
#ifdef WSMD_HAVE_CIM
#endif
}

static void test_get_sections(void **state)
{
    struct fixture *f = *state;
    /* Each section's element is in its own resource URI's namespace. */
    assert_int_equal(send_req(f, XF "Get", CFG "/service/auth", NULL, NULL), WSM_OK);
    assert_value(f, CFG "/service/auth", "/s:Envelope/s:Body/c:Auth/c:CbtHardeningLevel", "Strict");
    assert_int_equal(send_req(f, XF "Get", CFG "/SERVICE", NULL, NULL), WSM_OK);
    assert_value(f, CFG "/service", "/s:Envelope/s:Body/c:Service/c:Auth/c:CredSSP", "false");
    assert_int_equal(send_req(f, XF "Get", CFG "/service/defaultports", NULL, NULL), WSM_OK);
    assert_value(f, CFG "/service/defaultports", "/s:Envelope/s:Body/c:DefaultPorts/c:HTTP",
                 "5985");
    assert_int_equal(send_req(f, XF "Get", CFG "/winrs", NULL, NULL), WSM_OK);
    assert_value(f, CFG "/winrs", "/s:Envelope/s:Body/c:Winrs/c:AllowRemoteShellAccess",
#ifdef WSMD_HAVE_SHELL
                 "true"
#else
                 "false"
#endif
    );
    /* Selectors mean nothing here. */
    assert_int_equal(send_req(f, XF "Get", CFG "/winrs", NULL, "Name", "x", NULL),
                     WSM_ERR_INVALID_SELECTORS);
}

static void test_writes_refused(void **state)
{
    struct fixture *f = *state;
    static const char *const uris[] = {CFG, CFG "/service", CFG "/service/auth", CFG "/winrs",
                                       CFG "/listener"};
    for (size_t i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
        /* The sections take a Put of their own element (test_cfgset.c);
         * the listener is read-only here. */
        int section = strcmp(uris[i], CFG "/listener") != 0;
        assert_int_equal(send_req(f, XF "Put", uris[i], "<x/>", NULL),
                         section ? WSM_ERR_INVALID_REPRESENTATION : WSM_ERR_ACTION_NOT_SUPPORTED);
        assert_non_null(f->fault_message);
        assert_non_null(
            strstr(f->fault_message, section ? "as Get returns it" : "configuration file"));
        /* Listeners are created and deleted (cfglisten.c): without their
         * keys, the selectors are wrong. */
        enum wsm_err want =
            strstr(uris[i], "/listener") ? WSM_ERR_INVALID_SELECTORS : WSM_ERR_ACTION_NOT_SUPPORTED;
        assert_int_equal(send_req(f, XF "Create", uris[i], "<x/>", NULL), want);
        assert_int_equal(send_req(f, XF "Delete", uris[i], NULL, NULL), want);
        if (want == WSM_ERR_ACTION_NOT_SUPPORTED)
            assert_non_null(f->fault_message);
    }
    /* A method (Invoke) is a change too. */
    assert_int_equal(send_req(f, CFG "/service/Analyze", CFG "/service", "<x/>", NULL),
                     WSM_ERR_ACTION_NOT_SUPPORTED);
    assert_non_null(f->fault_message);
    /* Not served: the client's settings and the tree's other branches. */
    assert_int_equal(send_req(f, XF "Get", CFG "/client", NULL, NULL),
                     WSM_ERR_DESTINATION_UNREACHABLE);
    assert_int_equal(send_req(f, XF "Get", CFG "/plugin", NULL, NULL),
                     WSM_ERR_DESTINATION_UNREACHABLE);
}

#ifdef WSMD_HAVE_CIM
#define LIS CFG "/listener"

static void test_listener_get(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        send_req(f, XF "Get", LIS, NULL, "Address", "IP:127.0.0.1", "Transport", "http", NULL),
        WSM_OK);
    const char *l = "/s:Envelope/s:Body/c:Listener";
    assert_children(f, LIS, l,
                    "Address Transport Port Hostname Enabled URLPrefix "
                    "CertificateThumbprint ListeningOn");
    assert_value(f, LIS, "//c:Listener/c:Port", "5990");
    assert_value(f, LIS, "//c:Listener/c:Hostname", "");
    assert_value(f, LIS, "//c:Listener/c:URLPrefix", "wsman");
    assert_value(f, LIS, "//c:Listener/c:ListeningOn", "127.0.0.1");

    assert_int_equal(send_req(f, XF "Get", LIS, NULL, "Address", "*", "Transport", "HTTP", NULL),
                     WSM_OK);
    assert_value(f, LIS, "//c:Listener/c:Port", "5985");
    assert_value(f, LIS, "//c:Listener/c:Address", "*");

    assert_int_equal(send_req(f, XF "Get", LIS, NULL, "Address", "*", "Transport", "HTTPS", NULL),
                     WSM_ERR_NOT_FOUND);
    assert_int_equal(send_req(f, XF "Get", LIS, NULL, "Address", "*", NULL),
                     WSM_ERR_INVALID_SELECTORS);
}

static void test_listener_enumerate(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(send_req(f, EN "Enumerate", LIS,
                              "<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>10"
                              "</w:MaxElements></n:Enumerate>",
                              NULL),
                     WSM_OK);
    int n = 0;
    free(xp(f, LIS, "//w:Items/c:Listener", &n));
    assert_int_equal(n, 2);
    assert_value(f, LIS, "//w:Items/c:Listener[2]/c:Address", "*");
    free(xp(f, LIS, "//w:EndOfSequence", &n));
    assert_int_equal(n, 1);

    /* Pull, one at a time, with EndpointReferences. */
    assert_int_equal(send_req(f, EN "Enumerate", LIS,
                              "<n:Enumerate><w:EnumerationMode>EnumerateEPR"
                              "</w:EnumerationMode></n:Enumerate>",
                              NULL),
                     WSM_OK);
    char *ctx = xp(f, LIS, "//n:EnumerationContext", NULL);
    assert_non_null(ctx);
    char body[512];
    snprintf(body, sizeof(body),
             "<n:Pull><n:EnumerationContext>%s</n:EnumerationContext>"
             "<n:MaxElements>1</n:MaxElements></n:Pull>",
             ctx);
    free(ctx);
    assert_int_equal(send_req(f, EN "Pull", LIS, body, NULL), WSM_OK);
    assert_non_null(strstr(f->out.data, "<w:ResourceURI>" LIS "</w:ResourceURI>"));
    assert_non_null(strstr(f->out.data, "<w:Selector Name=\"Transport\">HTTP</w:Selector>"));

    /* Only selector filters. */
    assert_int_equal(send_req(f, EN "Enumerate", LIS,
                              "<n:Enumerate><w:Filter Dialect=\"http://schemas.microsoft.com/"
                              "wbem/wsman/1/WQL\">select * from Win32_Process</w:Filter>"
                              "</n:Enumerate>",
                              NULL),
                     WSM_ERR_FILTER_DIALECT);
    assert_int_equal(send_req(f, EN "Enumerate", LIS,
                              "<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>10"
                              "</w:MaxElements><w:Filter Dialect=\"" SELECTOR_DIALECT
                              "\"><w:SelectorSet><w:Selector Name=\"Address\">*</w:Selector>"
                              "</w:SelectorSet></w:Filter></n:Enumerate>",
                              NULL),
                     WSM_OK);
    free(xp(f, LIS, "//w:Items/c:Listener", &n));
    assert_int_equal(n, 1);
}
#endif

/* MaxProcessesPerUser (Win32_Process.Create's count): 1..100000. */
static void test_max_processes_per_user(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(f->srv.cfg.max_processes_per_user, 0); /* default: 100 at startup */
    assert_int_equal(wsmd__config_set(&f->srv.cfg, "MaxProcessesPerUser", "3"), WSM_OK);
    assert_int_equal(f->srv.cfg.max_processes_per_user, 3);
    const char *bad[] = {"0", "-1", "x", "3x", "", "100001"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(wsmd__config_set(&f->srv.cfg, "MaxProcessesPerUser", bad[i]),
                         WSM_ERR_INVALID_ARG);
    assert_int_equal(f->srv.cfg.max_processes_per_user, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_processes_per_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_sections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writes_refused, setup, teardown),
#ifdef WSMD_HAVE_CIM
        cmocka_unit_test_setup_teardown(test_listener_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listener_enumerate, setup, teardown),
#endif
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    xmlCleanupParser();
    return rc;
}
