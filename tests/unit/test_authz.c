/* Unit tests for authorization (src/daemon/authz.c) and the dispatch
 * table's rights (src/daemon/dispatch.c): Allow lines, the rights they
 * give, RootSDDL, and w:AccessDenied before any handler runs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parser.h>

#include "authz.h"
#ifdef WSMD_HAVE_CIM
#include "cim.h"
#endif
#include "config.h"
#include "ns.h"
#include "server.h"

#define XF "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
#define EN "http://schemas.xmlsoap.org/ws/2004/09/enumeration/"
#define WMI "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/"

static void test_rule_syntax(void **state)
{
    (void)state;
    char why[200];
    assert_int_equal(wsmd__authz_check_rule("all wsmd-admins", why, sizeof(why)), WSM_OK);
    assert_int_equal(
        wsmd__authz_check_rule("read,config-read wsmd-users @alice *", why, sizeof(why)), WSM_OK);
    assert_int_equal(wsmd__authz_check_rule("  shell,create  ops  ", why, sizeof(why)), WSM_OK);
    assert_int_equal(wsmd__authz_check_rule("", why, sizeof(why)), WSM_ERR_INVALID_ARG);
    assert_int_equal(wsmd__authz_check_rule("all", why, sizeof(why)), WSM_ERR_INVALID_ARG);
    assert_non_null(strstr(why, "no group"));
    assert_int_equal(wsmd__authz_check_rule("root wsmd-admins", why, sizeof(why)),
                     WSM_ERR_INVALID_ARG);
    assert_non_null(strstr(why, "unknown right"));
    assert_int_equal(wsmd__authz_check_rule("read, wsmd-users", why, sizeof(why)),
                     WSM_ERR_INVALID_ARG);
    assert_int_equal(wsmd__authz_check_rule("read g(x)", why, sizeof(why)), WSM_ERR_INVALID_ARG);
    assert_int_equal(wsmd__authz_check_rule("read @", why, sizeof(why)), WSM_ERR_INVALID_ARG);
    /* Through the configuration key. */
    struct wsmd_config cfg;
    wsmd__config_defaults(&cfg);
    assert_int_equal(wsmd__config_set(&cfg, "Allow", "all @alice"), WSM_OK);
    assert_int_equal(wsmd__config_set(&cfg, "Allow", "read *"), WSM_OK);
    assert_int_equal(wsmd__config_set(&cfg, "Allow", "everything @bob"), WSM_ERR_INVALID_ARG);
    assert_int_equal(cfg.nallow, 2);
    wsmd__config_clear(&cfg);
}

struct fixture {
    struct wsmd_server srv;
    struct wsm_buf out;
    struct wsm_envelope *env;
    const char *fault_message;
};

static void start(struct fixture *f, int is_root, const char *const *allow)
{
    memset(f, 0, sizeof(*f));
    wsmd__config_defaults(&f->srv.cfg);
    for (; allow && *allow; allow++)
        assert_int_equal(wsmd__config_set(&f->srv.cfg, "Allow", *allow), WSM_OK);
    assert_int_equal(wsmd__config_add_listener(&f->srv.cfg, "http://127.0.0.1:5990"), WSM_OK);
    f->srv.is_root = is_root;
    assert_int_equal(wsmd__authz_new(&f->srv.cfg, is_root, &f->srv.authz), WSM_OK);
    wsm__buf_init(&f->out, 0);
}

static void stop(struct fixture *f)
{
    wsm__buf_free(&f->out);
    wsm__envelope_free(f->env);
    wsmd__authz_free(f->srv.authz);
    wsmd__config_clear(&f->srv.cfg);
}

static char *sddl(struct fixture *f)
{
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    assert_int_equal(wsmd__authz_sddl(&f->srv, &b), WSM_OK);
    assert_int_equal(wsm__buf_puts(&b, ""), WSM_OK);
    size_t n;
    return wsm__buf_steal(&b, &n);
}

/* action on uri as user through the dispatcher. */
static enum wsm_err send_req(struct fixture *f, const char *user, const char *action,
                             const char *uri, const char *body)
{
    char req[4096];
    snprintf(req, sizeof(req),
             "<s:Envelope xmlns:s=\"" WSM_NS_SOAP "\" xmlns:a=\"" WSM_NS_WSA
             "\" xmlns:w=\"" WSM_NS_WSMAN "\" xmlns:n=\"" WSM_NS_WSEN "\"><s:Header>"
             "<a:To>http://127.0.0.1:5990/wsman</a:To><a:ReplyTo><a:Address>" WSM_ADDR_ANONYMOUS
             "</a:Address></a:ReplyTo><a:MessageID>uuid:1</a:MessageID>"
             "<w:ResourceURI>%s</w:ResourceURI><a:Action>%s</a:Action>"
             "</s:Header><s:Body>%s</s:Body></s:Envelope>",
             uri, action, body ? body : "");
    wsm__envelope_free(f->env);
    f->env = NULL;
    wsm__buf_reset(&f->out);
    assert_int_equal(wsm__envelope_parse(req, strlen(req), NULL, &f->env, NULL, 0), WSM_OK);
    struct wsmd_call call = {
        .srv = &f->srv,
        .lis = &f->srv.cfg.listeners[0],
        .env = f->env,
        .user = user,
        .out = &f->out,
    };
    enum wsm_err e = wsmd__dispatch(&call);
    f->fault_message = call.fault_message;
    return e;
}

static void test_not_root_defaults(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, 0, NULL);
    /* One account for everybody: every authenticated user holds all. */
    assert_int_equal(wsmd__authz_rights(&f.srv, "alice"), WSMD_RIGHTS_ALL);
    assert_int_equal(wsmd__authz_rights(&f.srv, NULL), WSMD_RIGHTS_NONE);
    char *s = sddl(&f);
    assert_string_equal(s, "O:NSG:BAD:P(A;;GA;;;AU)");
    free(s);
    stop(&f);
}

static void test_root_defaults(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, 1, NULL);
    /* A name without an account, in no group: nothing. uid 0: all. */
    assert_int_equal(wsmd__authz_rights(&f.srv, "wsmd-no-such-account-x"), WSMD_RIGHTS_NONE);
    assert_int_equal(wsmd__authz_rights(&f.srv, "root"), WSMD_RIGHTS_ALL);
    char *s = sddl(&f);
    assert_string_equal(s, "O:NSG:BAD:P(A;;GA;;;SY)(A;;GA;;;wsmd-admins)(A;;GR;;;wsmd-users)");
    free(s);
    /* The RootSDDL gate: no right at all is AccessDenied for everything
     * but Identify, before any resource is looked at. */
    assert_int_equal(send_req(&f, "wsmd-no-such-account-x", XF "Get", WSM_NS_CFG, NULL),
                     WSM_ERR_ACCESS_DENIED);
    /* As root, a name with no local account is told why, and what to do. */
    assert_non_null(strstr(f.fault_message, "the user is not a local account"));
    assert_non_null(strstr(f.fault_message, "useradd -m NAME"));
    assert_int_equal(send_req(&f, "wsmd-no-such-account-x", XF "Get", "http://x/y", NULL),
                     WSM_ERR_ACCESS_DENIED);
    /* An account in no group: no right. */
    assert_int_equal(send_req(&f, "daemon", XF "Get", WSM_NS_CFG, NULL), WSM_ERR_ACCESS_DENIED);
    assert_non_null(strstr(f.fault_message, "no right"));
    stop(&f);
}

static void test_rules(void **state)
{
    (void)state;
    /* A real account and its primary group ("daemon" on Debian, or the
     * first account that is not root). */
    struct passwd *pw = getpwnam("daemon");
    if (!pw || pw->pw_uid == 0)
        pw = getpwuid(1);
    struct group *gr = pw ? getgrgid(pw->pw_gid) : NULL;
    if (!pw || !gr) {
        skip();
        return;
    }
    char user[64], group[64], rule[160];
    snprintf(user, sizeof(user), "%s", pw->pw_name);
    snprintf(group, sizeof(group), "%s", gr->gr_name);
    snprintf(rule, sizeof(rule), "read,config-read %s", group);
    const char *allow[] = {"shell,create @alice", "config-read *", rule, NULL};
    struct fixture f;
    start(&f, 1, allow);
    assert_int_equal(wsmd__authz_rights(&f.srv, "alice"),
                     WSMD_RIGHT_SHELL | WSMD_RIGHT_CREATE | WSMD_RIGHT_CONFIG_READ);
    assert_int_equal(wsmd__authz_rights(&f.srv, "bob"), WSMD_RIGHT_CONFIG_READ);
    assert_int_equal(wsmd__authz_rights(&f.srv, user), WSMD_RIGHT_READ | WSMD_RIGHT_CONFIG_READ);
    /* Allow lines replace the defaults, but never for uid 0. */
    assert_int_equal(wsmd__authz_rights(&f.srv, "root"), WSMD_RIGHTS_ALL);
    char *s = sddl(&f);
    char want[256];
    snprintf(want, sizeof(want),
             "O:NSG:BAD:P(A;;GA;;;SY)(A;;0x3;;;@alice)(A;;0x10;;;AU)(A;;GR;;;%s)", group);
    assert_string_equal(s, want);
    free(s);

    /* Dispatch: config read allowed for bob, a change is AccessDenied
     * before the read-only ActionNotSupported; unknown actions on served
     * resources stay ActionNotSupported. */
    assert_int_equal(send_req(&f, "bob", XF "Get", WSM_NS_CFG, NULL), WSM_OK);
    assert_int_equal(send_req(&f, "bob", XF "Put", WSM_NS_CFG, NULL), WSM_ERR_ACCESS_DENIED);
    assert_int_equal(send_req(&f, "bob", "urn:nothing", WSM_NS_CFG, NULL),
                     WSM_ERR_ACCESS_DENIED); /* a method of winrm/config: a change */
    assert_int_equal(send_req(&f, "bob", EN "Renew", WSM_NS_CFG, NULL),
                     WSM_ERR_ACTION_NOT_SUPPORTED);
    assert_int_equal(send_req(&f, "bob", XF "Get", "http://x/y", NULL),
                     WSM_ERR_DESTINATION_UNREACHABLE);
    assert_int_equal(send_req(&f, "bob", "urn:nothing", "http://x/y", NULL),
                     WSM_ERR_ACTION_NOT_SUPPORTED);
#ifdef WSMD_HAVE_CIM
    /* CIM: read for the group's member, not for alice (shell, create).
     * The "all classes" URI belongs to the CIM family whatever providers
     * this test links. */
    assert_int_equal(send_req(&f, "alice", EN "Enumerate", WMI "*", "<n:Enumerate/>"),
                     WSM_ERR_ACCESS_DENIED);
    assert_int_equal(send_req(&f, user, EN "Enumerate", WMI "*", "<n:Enumerate/>"),
                     WSM_ERR_DESTINATION_UNREACHABLE); /* allowed; "*" needs a WQL filter */
    if (cim_class_for_uri(WMI "Win32_Process")) {
        /* Methods: Create needs create, Terminate invoke. */
        assert_int_equal(send_req(&f, user, WMI "Win32_Process/Create", WMI "Win32_Process", NULL),
                         WSM_ERR_ACCESS_DENIED);
        assert_non_null(strstr(f.fault_message, "create processes"));
        assert_int_equal(
            send_req(&f, "alice", WMI "Win32_Process/Terminate", WMI "Win32_Process", NULL),
            WSM_ERR_ACCESS_DENIED);
    }
#endif
#ifdef WSMD_HAVE_SHELL
    assert_int_equal(send_req(&f, user, XF "Create", WSMD_SHELL_URI, NULL), WSM_ERR_ACCESS_DENIED);
    assert_non_null(strstr(f.fault_message, "remote shells"));
#endif
    stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_syntax),
        cmocka_unit_test(test_not_root_defaults),
        cmocka_unit_test(test_root_defaults),
        cmocka_unit_test(test_rules),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    xmlCleanupParser();
    return rc;
}
