/* Unit tests for winrm/config writes (src/daemon/cfgset.c) through the
 * dispatcher, single process: the file, the live values, the faults. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ns.h"
#include "server.h"
#include "tmpdir.h"
#ifdef WSMD_HAVE_CIM
#include "cimops.h"
#endif

#define XF "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
#define CFG WSM_NS_CFG
#define HEAD "# comment\nListen = http://127.0.0.1:5990\nMaxShellsPerUser = 30 # default\n"

struct fixture {
    struct wsmd_server srv;
    struct wsm_buf out;
    struct wsm_envelope *env;
    const char *fault_message;
    char dir[256], path[300];
};

static int setup(void **state)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    assert_int_equal(test_tmpdir_make(f.dir, sizeof(f.dir), "cfgset"), 0);
    snprintf(f.path, sizeof(f.path), "%s/wsmd.conf", f.dir);
    FILE *fp = fopen(f.path, "w");
    assert_non_null(fp);
    fputs(HEAD, fp);
    fclose(fp);
    wsmd__config_defaults(&f.srv.cfg);
    assert_int_equal(wsmd__config_load(&f.srv.cfg, f.path), WSM_OK);
    f.srv.cfg.config_path = strdup(f.path);
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
    test_tmpdir_remove(f->dir);
    return 0;
}

static enum wsm_err send_req(struct fixture *f, const char *action, const char *uri,
                             const char *body)
{
    char req[4096];
    snprintf(req, sizeof(req),
             "<s:Envelope xmlns:s=\"" WSM_NS_SOAP "\" xmlns:a=\"" WSM_NS_WSA
             "\" xmlns:w=\"" WSM_NS_WSMAN "\"><s:Header>"
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
        .user = "alice",
        .out = &f->out,
    };
    enum wsm_err e = wsmd__dispatch(&call);
    f->fault_message = call.fault_message;
    return e;
}

static char *file_text(struct fixture *f)
{
    static char buf[4096];
    FILE *fp = fopen(f->path, "r");
    assert_non_null(fp);
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static void test_put_applies_and_writes(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(send_req(f, XF "Put", CFG "/winrs",
                              "<c:Winrs xmlns:c=\"" CFG "/winrs\">"
                              "<c:AllowRemoteShellAccess>true</c:AllowRemoteShellAccess>"
                              "<c:MaxShellsPerUser> 4 </c:MaxShellsPerUser>"
                              "<c:IdleTimeout>60000</c:IdleTimeout></c:Winrs>"),
                     WSM_OK);
    assert_non_null(strstr(f->out.data, XF "PutResponse"));
    assert_non_null(strstr(f->out.data, "<cfg:MaxShellsPerUser>4</cfg:MaxShellsPerUser>"));
    assert_int_equal(f->srv.cfg.max_shells_per_user, 4);
    assert_int_equal(f->srv.cfg.idle_timeout_ms, 60000);
    assert_string_equal(file_text(f), "# comment\nListen = http://127.0.0.1:5990\n"
                                      "MaxShellsPerUser = 4 # default\nIdleTimeout = 60000\n");
    /* Nested: Service with Auth inside, booleans in any case. */
    assert_int_equal(send_req(f, XF "Put", CFG "/service",
                              "<c:Service xmlns:c=\"" CFG "/service\">"
                              "<c:AllowUnencrypted>TRUE</c:AllowUnencrypted>"
                              "<c:Auth><c:Basic>false</c:Basic><c:CredSSP>false</c:CredSSP>"
                              "</c:Auth></c:Service>"),
                     WSM_OK);
    assert_int_equal(f->srv.cfg.allow_unencrypted, 1);
    assert_int_equal(f->srv.cfg.basic_off, 1);
    assert_non_null(strstr(file_text(f), "AllowUnencrypted = true\nAuthBasic = false\n"));
    /* The same values again: nothing to write, the file stays. */
    char before[4096];
    snprintf(before, sizeof(before), "%s", file_text(f));
    assert_int_equal(send_req(f, XF "Put", CFG "/service",
                              "<c:Service xmlns:c=\"" CFG "/service\">"
                              "<c:AllowUnencrypted>true</c:AllowUnencrypted></c:Service>"),
                     WSM_OK);
    assert_string_equal(file_text(f), before);
}

static void test_put_refusals(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[][2] = {
        {CFG "/winrs", "<c:Winrs xmlns:c=\"" CFG "/winrs\"><c:MaxShellsPerUser>0"
                       "</c:MaxShellsPerUser></c:Winrs>"},
        {CFG "/winrs", "<c:Winrs xmlns:c=\"" CFG "/winrs\"><c:MaxShellsPerUser>5"
                       "</c:MaxShellsPerUser><c:IdleTimeout>-1</c:IdleTimeout></c:Winrs>"},
        {CFG "/winrs", "<c:Winrs xmlns:c=\"" CFG "/winrs\"><c:Nope>1</c:Nope></c:Winrs>"},
        {CFG "/winrs", "<c:Winrs xmlns:c=\"" CFG "/other\"><c:MaxShellsPerUser>5"
                       "</c:MaxShellsPerUser></c:Winrs>"},
        {CFG "/winrs", "<c:Service xmlns:c=\"" CFG "/winrs\"/>"},
        {CFG, "<c:Config xmlns:c=\"" CFG "\"><c:MaxBatchItems>1</c:MaxBatchItems></c:Config>"},
        {CFG, "<c:Config xmlns:c=\"" CFG "\"><c:MaxEnvelopeSizekb>31</c:MaxEnvelopeSizekb>"
              "</c:Config>"},
        {CFG "/service/auth", "<c:Auth xmlns:c=\"" CFG "/service/auth\"><c:CbtHardeningLevel>"
                              "Lax</c:CbtHardeningLevel></c:Auth>"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(send_req(f, XF "Put", bad[i][0], bad[i][1]),
                         WSM_ERR_INVALID_REPRESENTATION);
        assert_non_null(f->fault_message);
        assert_string_equal(file_text(f), HEAD);
        assert_int_equal(f->srv.cfg.max_shells_per_user, 30);
    }
    assert_non_null(strstr(f->fault_message, "None, Relaxed or Strict"));
    /* No file: nothing changes. */
    free(f->srv.cfg.config_path);
    f->srv.cfg.config_path = NULL;
    assert_int_equal(send_req(f, XF "Put", CFG "/winrs",
                              "<c:Winrs xmlns:c=\"" CFG "/winrs\"><c:MaxShellsPerUser>5"
                              "</c:MaxShellsPerUser></c:Winrs>"),
                     WSM_ERR_ACTION_NOT_SUPPORTED);
    assert_non_null(strstr(f->fault_message, "without a configuration file"));
    assert_int_equal(f->srv.cfg.max_shells_per_user, 30);
}

static void test_restore(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(send_req(f, XF "Put", CFG,
                              "<c:Config xmlns:c=\"" CFG "\"><c:MaxEnvelopeSizekb>64"
                              "</c:MaxEnvelopeSizekb></c:Config>"),
                     WSM_OK);
    assert_int_equal(f->srv.cfg.max_envelope, 64 * 1024);
    /* Restore is a method of winrm/config only. */
    assert_int_equal(send_req(f, CFG "/Restore", CFG "/winrs", NULL), WSM_ERR_ACTION_NOT_SUPPORTED);
    assert_int_equal(send_req(f, CFG "/Restore", CFG, NULL), WSM_OK);
    assert_non_null(strstr(f->out.data, "Restore_OUTPUT"));
    assert_string_equal(file_text(f), "# comment\nListen = http://127.0.0.1:5990\n");
    assert_int_equal(f->srv.cfg.max_envelope, WSM_DEFAULT_MAX_ENVELOPE);
    assert_int_equal(f->srv.cfg.max_shells_per_user, 0); /* Windows' default (30) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_applies_and_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
