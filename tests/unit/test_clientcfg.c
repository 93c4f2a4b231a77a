/* Unit tests for winrm/config/client (src/cli/clientcfg.c): TrustedHosts
 * matching, the checks before a request, the file round trip. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clientcfg.h"
#include "tmpdir.h"

static void test_trusted(void **state)
{
    (void)state;
    struct cli_clientcfg c;
    cli_clientcfg_defaults(&c);
    assert_false(cli_clientcfg_trusted(&c, "host"));
    snprintf(c.trusted_hosts, sizeof(c.trusted_hosts), "*.Example.com, 10.1.*,[fd00::2],web1");
    assert_true(cli_clientcfg_trusted(&c, "a.example.COM"));
    assert_false(cli_clientcfg_trusted(&c, "example.com"));
    assert_true(cli_clientcfg_trusted(&c, "10.1.2.3"));
    assert_false(cli_clientcfg_trusted(&c, "10.10.2.3"));
    assert_true(cli_clientcfg_trusted(&c, "fd00::2"));
    assert_true(cli_clientcfg_trusted(&c, "WEB1"));
    assert_false(cli_clientcfg_trusted(&c, "web12"));
    snprintf(c.trusted_hosts, sizeof(c.trusted_hosts), "*");
    assert_true(cli_clientcfg_trusted(&c, "anything"));
}

static void test_check(void **state)
{
    (void)state;
    struct cli_clientcfg c;
    cli_clientcfg_defaults(&c);
    unsigned long code;
    /* Basic over http: only to loopback, unless AllowUnencrypted. */
    assert_null(cli_clientcfg_check(&c, WSM_AUTH_BASIC, "http://127.0.0.1:5985/wsman", 0, &code));
    assert_null(cli_clientcfg_check(&c, WSM_AUTH_BASIC, "http://[::1]:5985/wsman", 0, &code));
    assert_null(cli_clientcfg_check(&c, WSM_AUTH_BASIC, "https://h:5986/wsman", 0, &code));
    assert_non_null(strstr(cli_clientcfg_check(&c, WSM_AUTH_BASIC, "http://h/wsman", 0, &code),
                           "Unencrypted traffic"));
    assert_non_null(cli_clientcfg_check(&c, WSM_AUTH_KERBEROS, "http://h/wsman", 1, &code));
    /* NTLM/Negotiate over http: TrustedHosts; Kerberos: no. */
    assert_non_null(strstr(cli_clientcfg_check(&c, WSM_AUTH_NTLM, "http://h:80/wsman", 0, &code),
                           "TrustedHosts"));
    assert_int_equal(code, 0x803380E4UL);
    assert_null(cli_clientcfg_check(&c, WSM_AUTH_KERBEROS, "http://h/wsman", 0, &code));
    assert_null(cli_clientcfg_check(&c, WSM_AUTH_NEGOTIATE, "https://h/wsman", 0, &code));
    snprintf(c.trusted_hosts, sizeof(c.trusted_hosts), "h");
    assert_null(cli_clientcfg_check(&c, WSM_AUTH_NEGOTIATE, "http://h:80/wsman", 0, &code));
    c.allow_unencrypted = 1;
    assert_null(cli_clientcfg_check(&c, WSM_AUTH_BASIC, "http://h/wsman", 0, &code));
    /* A scheme off in client/auth: refused everywhere. */
    c.negotiate = 0;
    assert_non_null(cli_clientcfg_check(&c, WSM_AUTH_NTLM, "https://127.0.0.1/wsman", 0, &code));
}

static void test_file(void **state)
{
    (void)state;
    char dir[256], err[600];
    assert_int_equal(test_tmpdir_make(dir, sizeof(dir), "clientcfg"), 0);
    setenv("XDG_CONFIG_HOME", dir, 1);
    struct cli_clientcfg c, d;
    assert_int_equal(cli_clientcfg_load(&c, err, sizeof(err)), 0); /* no file: defaults */
    assert_int_equal(c.http_port, 5985);
    assert_int_equal(cli_clientcfg_set(&c, "", "trustedhosts", "a,b", err, sizeof(err)), 0);
    assert_int_equal(cli_clientcfg_set(&c, "defaultports", "HTTPS", "443", err, sizeof(err)), 0);
    assert_int_equal(cli_clientcfg_set(&c, "auth", "Basic", "FALSE", err, sizeof(err)), 0);
    assert_int_equal(cli_clientcfg_set(&c, "", "DefaultAuth", "NTLM", err, sizeof(err)), 0);
    assert_int_equal(cli_clientcfg_set(&c, "", "Basic", "true", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "does not match"));
    assert_int_equal(cli_clientcfg_set(&c, "defaultports", "HTTP", "0", err, sizeof(err)), -1);
    assert_int_equal(cli_clientcfg_save(&c, err, sizeof(err)), 0);
    assert_int_equal(cli_clientcfg_load(&d, err, sizeof(err)), 0);
    assert_string_equal(d.trusted_hosts, "a,b");
    assert_int_equal(d.https_port, 443);
    assert_int_equal(d.basic, 0);
    assert_string_equal(d.default_auth, "ntlm");
    char *xml = cli_clientcfg_xml(&d, "");
    assert_non_null(strstr(xml, "<cfg:TrustedHosts>a,b</cfg:TrustedHosts>"));
    free(xml);
    assert_null(cli_clientcfg_section(CLI_CLIENT_URI "/other"));
    assert_string_equal(cli_clientcfg_section(CLI_CLIENT_URI "/Auth"), "auth");
    test_tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trusted),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
