/* Unit tests for SIGHUP's pieces: the config text reader and its error
 * line (src/daemon/reload.c), sd_notify (sdnotify.c), the replaceable TLS
 * pair (tlscert.c) and the monitor's two new requests. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "privsep.h"
#include "pswire.h"
#include "reload.h"
#include "reload_priv.h"
#include "sdnotify.h"
#include "server.h"
#include "tlscert.h"
#include "tmpdir.h"

/* ---- the config text ------------------------------------------------------ */

static enum wsm_err parse(const char *text, struct wsmd_config *cfg, char *why, size_t n)
{
    wsmd__config_defaults(cfg);
    why[0] = '\0';
    return wsmd__reload_parse(cfg, "/etc/wsmd/wsmd.conf", text, why, n);
}

static void test_parse_ok(void **state)
{
    (void)state;
    struct wsmd_config cfg;
    char why[512];
    assert_int_equal(parse("# comment\n\n  MaxEnvelopeSize = 20000  # trailing\n"
                           "Allow = read *\nAllowUnencrypted=true\nListen = http://127.0.0.1:0",
                           &cfg, why, sizeof(why)),
                     WSM_OK);
    assert_int_equal(cfg.max_envelope, 20000);
    assert_int_equal(cfg.allow_unencrypted, 1);
    assert_int_equal(cfg.nallow, 1);
    assert_string_equal(cfg.allow[0], "read *");
    assert_int_equal(cfg.nlisteners, 1);
    wsmd__config_clear(&cfg);
    /* No Listen line: the default listener, as at startup. */
    assert_int_equal(parse("", &cfg, why, sizeof(why)), WSM_OK);
    assert_int_equal(cfg.nlisteners, 1);
    assert_int_equal(cfg.listeners[0].port, 5985);
    wsmd__config_clear(&cfg);
}

static void test_parse_bad_value(void **state)
{
    (void)state;
    struct wsmd_config cfg;
    char why[512];
    assert_int_equal(parse("# x\nAllowRoot = no\nMaxEnvelopeSize = banana\nThreads = 2\n", &cfg,
                           why, sizeof(why)),
                     WSM_ERR_INVALID_ARG);
    assert_string_equal(why, "file=\"/etc/wsmd/wsmd.conf\" line=3 key=\"MaxEnvelopeSize\" "
                             "reason=\"bad value: banana\"");
    wsmd__config_clear(&cfg);
}

static void test_parse_unknown_key(void **state)
{
    (void)state;
    struct wsmd_config cfg;
    char why[512];
    assert_int_equal(parse("Frobnicate = 1\n", &cfg, why, sizeof(why)), WSM_ERR_INVALID_ARG);
    assert_string_equal(why, "file=\"/etc/wsmd/wsmd.conf\" line=1 key=\"Frobnicate\" "
                             "reason=\"unknown key\"");
    wsmd__config_clear(&cfg);
}

static void test_parse_not_key_value(void **state)
{
    (void)state;
    struct wsmd_config cfg;
    char why[512];
    assert_int_equal(parse("Threads = 2\njust words\n", &cfg, why, sizeof(why)),
                     WSM_ERR_INVALID_ARG);
    assert_string_equal(why, "file=\"/etc/wsmd/wsmd.conf\" line=2 reason=\"not Key = value\"");
    wsmd__config_clear(&cfg);
    char *longl = malloc(3000);
    memset(longl, 'x', 2998);
    memcpy(longl, "Users = /", 9);
    longl[2998] = '\n';
    longl[2999] = '\0';
    assert_int_equal(parse(longl, &cfg, why, sizeof(why)), WSM_ERR_INVALID_ARG);
    assert_non_null(strstr(why, "line=1 reason=\"line longer than 1023 bytes\""));
    free(longl);
    wsmd__config_clear(&cfg);
}

/* A value cannot forge a field or a line of the log. */
static void test_parse_error_escapes(void **state)
{
    (void)state;
    struct wsmd_config cfg;
    char why[512];
    assert_int_equal(parse("Threads = 2\" event=forged\x01\n", &cfg, why, sizeof(why)),
                     WSM_ERR_INVALID_ARG);
    assert_non_null(strstr(why, "reason=\"bad value: 2%22 event=forged%01\""));
    assert_null(strchr(why, '\n'));
    wsmd__config_clear(&cfg);
}

/* ---- what changed ---------------------------------------------------------- */

static void collect(void *arg, const char *key)
{
    char *out = arg;
    strcat(out, key);
    strcat(out, ";");
}

static const char *diff(const char *a, const char *b)
{
    static char out[512];
    out[0] = '\0';
    wsmd__reload_changed(a, b, collect, out);
    return out;
}

static void test_changed(void **state)
{
    (void)state;
    /* Comments, spacing, the order of different keys and the case of a
     * key's name are no change. */
    assert_string_equal(diff("A = 1\nB = 2\n", "# new\nb=2\n  a = 1  # one\n"), "");
    assert_string_equal(diff("A = 1\nB = 2\n", "A = 1\nB = 3\n"), "B;");
    assert_string_equal(diff("A = 1\n", "A = 1\nC = x\n"), "C;");
    assert_string_equal(diff("A = 1\nC = x\n", "A = 1\n"), "C;");
    /* A repeated key: its lines in order (Allow lines are tried in order). */
    assert_string_equal(diff("Allow = a\nAllow = b\n", "Allow = b\nAllow = a\n"), "Allow;");
    assert_string_equal(diff("Allow = a\nAllow = b\n", "Allow = a\nAllow = b\nAllow = c\n"),
                        "Allow;");
    /* Each key once, however many of its lines differ. */
    assert_string_equal(diff("Allow = a\nAllow = b\nX = 1\n", "X = 2\nAllow = c\nAllow = d\n"),
                        "Allow;X;");
    assert_int_equal(wsmd__reload_key_class("listen"), K_LISTEN);
    assert_int_equal(wsmd__reload_key_class("MaxEnvelopeSize"), K_LIVE);
    assert_int_equal(wsmd__reload_key_class("Threads"), K_RESTART);
    assert_int_equal(wsmd__reload_key_class("Frobnicate"), -1);
}

/* ---- sd_notify --------------------------------------------------------- */

static int bind_dgram(const char *name, int abstract)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    size_t l = strlen(name);
    memcpy(sa.sun_path + (abstract ? 1 : 0), name, l);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + l + 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void recv_text(int fd, char *buf, size_t n)
{
    ssize_t r = recv(fd, buf, n - 1, 0);
    assert_true(r > 0);
    buf[r] = '\0';
}

static void test_sdnotify_path(void **state)
{
    (void)state;
    char dir[256], path[300], buf[512];
    assert_int_equal(test_tmpdir_make(dir, sizeof(dir), "notify"), 0);
    snprintf(path, sizeof(path), "%s/notify", dir);
    int fd = bind_dgram(path, 0);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(wsmd__sd_notify("READY=1\nSTATUS=%s", "Serving"), 1);
    recv_text(fd, buf, sizeof(buf));
    assert_string_equal(buf, "READY=1\nSTATUS=Serving");
    assert_int_equal(wsmd__sd_notify_reloading("Reloading"), 1);
    recv_text(fd, buf, sizeof(buf));
    unsigned long long usec = 0;
    char status[64];
    assert_int_equal(sscanf(buf, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=%63s", &usec, status),
                     2);
    assert_true(usec > 0);
    assert_string_equal(status, "Reloading");
    close(fd);
    test_tmpdir_remove(dir);
    unsetenv("NOTIFY_SOCKET");
}

static void test_sdnotify_abstract(void **state)
{
    (void)state;
    char name[64], env[80], buf[256];
    snprintf(name, sizeof(name), "wsmd-unit-%d", (int)getpid());
    int fd = bind_dgram(name, 1);
    snprintf(env, sizeof(env), "@%s", name);
    setenv("NOTIFY_SOCKET", env, 1);
    assert_int_equal(wsmd__sd_notify("STOPPING=1"), 1);
    recv_text(fd, buf, sizeof(buf));
    assert_string_equal(buf, "STOPPING=1");
    close(fd);
    unsetenv("NOTIFY_SOCKET");
}

static void test_sdnotify_none_or_bad(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(wsmd__sd_notify("READY=1"), 0);
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    assert_int_equal(wsmd__sd_notify("READY=1"), -1);
    setenv("NOTIFY_SOCKET", "/nonexistent/wsmd-notify", 1);
    assert_int_equal(wsmd__sd_notify("READY=1"), -1);
    unsetenv("NOTIFY_SOCKET");
}

/* ---- the monitor's requests ---------------------------------------------- */

static enum wsm_err monitor(struct ps_msg *q)
{
    unsigned char *reply = NULL;
    size_t n = 0;
    enum wsm_err e = wsmd__monitor_handle_bytes(q->data, q->len, &reply, &n);
    free(reply);
    return e;
}

static void test_monitor_notify(void **state)
{
    (void)state;
    char dir[256], path[300], buf[512];
    assert_int_equal(test_tmpdir_make(dir, sizeof(dir), "notify"), 0);
    snprintf(path, sizeof(path), "%s/n", dir);
    int fd = bind_dgram(path, 0);
    setenv("NOTIFY_SOCKET", path, 1);
    struct ps_msg q;
    ps_init(&q);
    ps_start(&q, PS_NOTIFY);
    ps_put_u32(&q, 2);
    ps_put_str(&q, "Serving; configuration reloaded");
    assert_int_equal(monitor(&q), WSM_OK);
    recv_text(fd, buf, sizeof(buf));
    assert_string_equal(buf, "READY=1\nSTATUS=Serving; configuration reloaded");
    /* Only the two events; no line of its own in the status. */
    ps_start(&q, PS_NOTIFY);
    ps_put_u32(&q, 3);
    ps_put_str(&q, "x");
    assert_int_equal(monitor(&q), WSM_ERR_INVALID_ARG);
    ps_start(&q, PS_NOTIFY);
    ps_put_u32(&q, 1);
    ps_put_str(&q, "Serving\nSTOPPING=1");
    assert_int_equal(monitor(&q), WSM_ERR_INVALID_ARG);
    ps_start(&q, PS_NOTIFY);
    ps_put_u32(&q, 1);
    assert_int_equal(monitor(&q), WSM_ERR_INVALID_ARG); /* no status */
    /* Without a running daemon's configuration there is none to give. */
    ps_start(&q, PS_CONFIG);
    assert_int_equal(monitor(&q), WSM_ERR_UNSUPPORTED_FEATURE);
    ps_put_u32(&q, 1);
    assert_int_equal(monitor(&q), WSM_ERR_INVALID_ARG); /* trailing bytes */
    ps_clear(&q);
    close(fd);
    test_tmpdir_remove(dir);
    unsetenv("NOTIFY_SOCKET");
}

/* ---- the TLS pair ---------------------------------------------------------- */

/* A self-signed certificate and its key, as PEM files in dir. */
static void make_pair(const char *dir, const char *tag, char *cert, char *key, size_t n)
{
    gnutls_x509_privkey_t k;
    gnutls_x509_crt_t c;
    assert_int_equal(gnutls_x509_privkey_init(&k), 0);
    assert_int_equal(gnutls_x509_privkey_generate(
                         k, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
                     0);
    assert_int_equal(gnutls_x509_crt_init(&c), 0);
    gnutls_x509_crt_set_version(c, 3);
    unsigned char serial[4] = {1, 2, 3, (unsigned char)tag[0]};
    gnutls_x509_crt_set_serial(c, serial, sizeof(serial));
    gnutls_x509_crt_set_activation_time(c, time(NULL) - 60);
    gnutls_x509_crt_set_expiration_time(c, time(NULL) + 86400);
    gnutls_x509_crt_set_dn_by_oid(c, GNUTLS_OID_X520_COMMON_NAME, 0, tag, strlen(tag));
    gnutls_x509_crt_set_key(c, k);
    assert_int_equal(gnutls_x509_crt_sign2(c, c, k, GNUTLS_DIG_SHA256, 0), 0);
    gnutls_datum_t cd, kd;
    assert_int_equal(gnutls_x509_crt_export2(c, GNUTLS_X509_FMT_PEM, &cd), 0);
    assert_int_equal(gnutls_x509_privkey_export2(k, GNUTLS_X509_FMT_PEM, &kd), 0);
    snprintf(cert, n, "%s/%s.crt", dir, tag);
    snprintf(key, n, "%s/%s.key", dir, tag);
    FILE *f = fopen(cert, "w");
    fwrite(cd.data, 1, cd.size, f);
    fclose(f);
    f = fopen(key, "w");
    fchmod(fileno(f), 0600);
    fwrite(kd.data, 1, kd.size, f);
    fclose(f);
    gnutls_free(cd.data);
    gnutls_free(kd.data);
    gnutls_x509_crt_deinit(c);
    gnutls_x509_privkey_deinit(k);
}

static void test_tlscert(void **state)
{
    (void)state;
    char dir[256], c1[300], k1[300], c2[300], k2[300], why[400], fp1[80], fp2[80];
    assert_int_equal(test_tmpdir_make(dir, sizeof(dir), "tls"), 0);
    make_pair(dir, "one", c1, k1, sizeof(c1));
    make_pair(dir, "two", c2, k2, sizeof(c2));
    char *cp = NULL, *kp = NULL;
    assert_int_equal(wsmd__tlscert_read(c1, k1, &cp, &kp, why, sizeof(why)), WSM_OK);
    assert_int_equal(wsmd__tlscert_set(cp, kp, why, sizeof(why)), WSM_OK);
    wsmd__tlscert_fingerprint(fp1, sizeof(fp1));
    assert_int_equal(strlen(fp1), 64);
    free(cp);
    wsmd__tlscert_clear_pem(kp);
    assert_int_equal(wsmd__tlscert_read(c2, k2, &cp, &kp, why, sizeof(why)), WSM_OK);
    assert_int_equal(wsmd__tlscert_set(cp, kp, why, sizeof(why)), WSM_OK);
    wsmd__tlscert_fingerprint(fp2, sizeof(fp2));
    assert_string_not_equal(fp1, fp2);
    free(cp);
    wsmd__tlscert_clear_pem(kp);
    /* A key that is not the certificate's. */
    assert_int_equal(wsmd__tlscert_read(c1, k2, &cp, &kp, why, sizeof(why)), WSM_ERR_INVALID_ARG);
    assert_non_null(strstr(why, "cannot use the certificate"));
    assert_null(cp);
    /* A key others can read. */
    chmod(k1, 0644);
    assert_int_equal(wsmd__tlscert_read(c1, k1, &cp, &kp, why, sizeof(why)), WSM_ERR_IO);
    assert_non_null(strstr(why, "is readable by other users (mode 0644"));
    /* Not PEM. */
    assert_int_equal(wsmd__tlscert_set("junk", "junk", why, sizeof(why)), WSM_ERR_INVALID_ARG);
    wsmd__tlscert_fingerprint(fp1, sizeof(fp1));
    assert_string_equal(fp1, fp2); /* the pair in use is unchanged */
    wsmd__tlscert_free();
    wsmd__tlscert_fingerprint(fp1, sizeof(fp1));
    assert_string_equal(fp1, "");
    test_tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ok),
        cmocka_unit_test(test_parse_bad_value),
        cmocka_unit_test(test_parse_unknown_key),
        cmocka_unit_test(test_parse_not_key_value),
        cmocka_unit_test(test_parse_error_escapes),
        cmocka_unit_test(test_changed),
        cmocka_unit_test(test_sdnotify_path),
        cmocka_unit_test(test_sdnotify_abstract),
        cmocka_unit_test(test_sdnotify_none_or_bad),
        cmocka_unit_test(test_monitor_notify),
        cmocka_unit_test(test_tlscert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
