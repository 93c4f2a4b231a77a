/* Unit tests for CollectorInitiated subscriptions: the EventSources and
 * credentials of a file (src/collector/subsrc.c), the file format back
 * without passwords, the mode rule of subload.c, and the URL a source is
 * dialed at (dialer.c). The dialing itself is tested against a real wsmd
 * source in tests/interop/test_collector_initiated.py. */
#include <sys/stat.h>

#include "collector_priv.h"
#include "dialer.h"
#include "dialpush.h"
#include "envelope.h"
#include "server.h"
#include "subtest.h"
#include "tmpdir.h"

#define CI "<SubscriptionType>CollectorInitiated</SubscriptionType>"

static void parse_err(const char *inner, const char *want)
{
    char *x = mkfile(inner, NULL);
    struct wsmd_sub *s = NULL;
    char err[256] = "";
    assert_int_not_equal(wsmd__sub_parse(x, strlen(x), &s, err, sizeof(err)), WSM_OK);
    assert_null(s);
    if (!strstr(err, want))
        fprintf(stderr, "error \"%s\" does not say \"%s\"\n", err, want);
    assert_non_null(strstr(err, want));
    /* A password never appears in an error. */
    assert_null(strstr(err, "s3cr"));
    free(x);
}

static void test_example_file(void **state)
{
    (void)state;
    struct wsmd_sub *s = load("PulledFromServers.xml");
    assert_int_equal(s->source_initiated, 0);
    assert_int_equal(wsmd__sub_served(s), 0); /* never handed out to sources */
    assert_string_equal(s->delivery_mode, "Pull");
    assert_string_equal(s->credentials_type, "Basic");
    assert_string_equal(s->common_user, "collector");
    assert_null(s->common_password);
    assert_int_equal(s->nsources, 2);
    assert_string_equal(s->sources[0].address, "web1.example.com");
    assert_int_equal(s->sources[0].enabled, 1);
    assert_null(s->sources[0].user);
    assert_string_equal(s->sources[1].address, "db1.example.com");
    assert_int_equal(s->sources[1].enabled, 0);
    assert_string_equal(s->sources[1].user, "EXAMPLE\\wec-reader");
    assert_int_equal(wsmd__sub_has_password(s), 0);
    assert_int_equal(s->max_items, 200);
    assert_int_equal(s->max_latency_ms, 30000);
    wsmd__sub_free(s);
}

static void test_defaults_and_passwords(void **state)
{
    (void)state;
    /* Without a Delivery element a collector pulls, a source pushes. */
    struct wsmd_sub *s = parse_inner(CI);
    assert_string_equal(s->delivery_mode, "Pull");
    assert_int_equal(s->nsources, 0);
    assert_null(s->credentials_type);
    wsmd__sub_free(s);
    s = parse_inner("<SubscriptionType>SourceInitiated</SubscriptionType>");
    assert_string_equal(s->delivery_mode, "Push");
    wsmd__sub_free(s);
    /* Passwords are kept as written (spaces are part of them). */
    s = parse_inner(
        CI "<CredentialsType>negotiate</CredentialsType>"
           "<CommonUserName> u1 </CommonUserName><CommonPassword> s3cr et </CommonPassword>"
           "<EventSources><EventSource><Address>h1</Address></EventSource>"
           "<EventSource Enabled='FALSE'><Address>[::1]:5990</Address>"
           "<UserName>u2</UserName><Password>s3cr2</Password></EventSource>"
           "</EventSources>");
    assert_string_equal(s->credentials_type, "Negotiate");
    assert_string_equal(s->common_user, "u1");
    assert_string_equal(s->common_password, " s3cr et ");
    assert_int_equal(s->nsources, 2);
    assert_int_equal(s->sources[0].enabled, 1);
    assert_null(s->sources[0].password);
    assert_int_equal(s->sources[1].enabled, 0);
    assert_string_equal(s->sources[1].password, "s3cr2");
    assert_int_equal(wsmd__sub_has_password(s), 1);

    /* Written back: user names and sources, never a password; read again,
     * the same sources. */
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    assert_int_equal(wsmd__sub_write_xml(&b, s), WSM_OK);
    assert_null(strstr(b.data, "s3cr"));
    assert_null(strstr(b.data, "Password"));
    assert_non_null(strstr(b.data, "<CommonUserName>u1</CommonUserName>"));
    assert_non_null(strstr(b.data, "<EventSource Enabled=\"false\">"));
    struct wsmd_sub *t = parse_ok(b.data);
    assert_same(s, t);
    assert_int_equal(t->nsources, 2);
    assert_string_equal(t->sources[1].address, "[::1]:5990");
    assert_string_equal(t->sources[1].user, "u2");
    assert_int_equal(wsmd__sub_has_password(t), 0);
    wsmd__sub_free(t);
    wsm__buf_free(&b);
    wsmd__sub_free(s);
}

static void test_errors(void **state)
{
    (void)state;
    parse_err(CI "<EventSources><EventSource><UserName>u</UserName></EventSource></EventSources>",
              "EventSource without Address");
    parse_err(CI "<EventSources><EventSource><Address>a b</Address></EventSource></EventSources>",
              "EventSource Address");
    parse_err(CI "<EventSources><EventSource><Address>ftp://h/</Address></EventSource>"
                 "</EventSources>",
              "EventSource Address");
    parse_err(CI "<EventSources><EventSource><Address>u@h</Address></EventSource>"
                 "</EventSources>",
              "EventSource Address");
    parse_err(CI "<EventSources><EventSource><Address>h/x</Address></EventSource>"
                 "</EventSources>",
              "EventSource Address");
    parse_err(CI "<EventSources><EventSource><Address>H1</Address></EventSource>"
                 "<EventSource><Address>h1</Address></EventSource></EventSources>",
              "given twice");
    parse_err(CI "<EventSources/><EventSources/>", "EventSources given twice");
    parse_err(CI "<EventSources><EventSource Enabled='maybe'><Address>h</Address>"
                 "</EventSource></EventSources>",
              "Enabled");
    parse_err(CI "<CredentialsType>Kerberos</CredentialsType>", "CredentialsType");
    parse_err(CI "<CommonUserName>a</CommonUserName><CommonUserName>b</CommonUserName>",
              "CommonUserName given twice");
    parse_err(CI "<CommonPassword>s3cr&#9;x</CommonPassword>", "CommonPassword");
    char big[700];
    memset(big, 'p', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    char inner[900];
    snprintf(inner, sizeof(inner), CI "<CommonPassword>%s</CommonPassword>", big);
    parse_err(inner, "at most 512");
}

/* A password in a file others may read is refused when the folder loads. */
static void test_file_mode(void **state)
{
    (void)state;
    char dir[512], p[700];
    assert_int_equal(test_tmpdir_make(dir, sizeof(dir), "dialer"), 0);
    char *x = mkfile(CI "<CommonPassword>s3cr</CommonPassword>", NULL);
    static const struct {
        const char *name;
        mode_t mode;
    } files[] = {{"a.xml", 0644}, {"b.xml", 0660}, {"c.xml", 0640}};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, files[i].name);
        char *y = replace(x, "<SubscriptionId>T1<",
                          i == 2 ? "<SubscriptionId>ok<" : "<SubscriptionId>no<");
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fputs(y, f);
        fclose(f);
        assert_int_equal(chmod(p, files[i].mode), 0);
        free(y);
    }
    struct wsmd_sub **v = NULL;
    size_t n = 0;
    assert_int_equal(wsmd__sub_load_dir(dir, &v, &n), WSM_OK);
    assert_int_equal(n, 1);
    assert_string_equal(v[0]->id, "ok");
    wsmd__sub_free_all(v, n);
    free(x);
    test_tmpdir_remove(dir);
}

static void write_mode(const char *dir, const char *name, const char *text, mode_t mode)
{
    char p[700];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(p, mode), 0);
}

/* With StateDatabase the rows hold no password: a node takes them from its
 * own file of the same id (subsecret.c), only where the user names agree,
 * and only from a file others cannot read. */
static void test_secrets_from_files(void **state)
{
    (void)state;
    char dir[512];
    assert_int_equal(test_tmpdir_make(dir, sizeof(dir), "secrets"), 0);
    static const char srcs[] =
        CI "<CredentialsType>Basic</CredentialsType><CommonUserName>u</CommonUserName>"
           "<CommonPassword>s3cr-c</CommonPassword><EventSources>"
           "<EventSource><Address>h1</Address><UserName>v</UserName>"
           "<Password>s3cr-1</Password></EventSource>"
           "<EventSource><Address>h2</Address><UserName>w</UserName>"
           "<Password>s3cr-2</Password></EventSource></EventSources>";
    char *file = mkfile(srcs, NULL);
    write_mode(dir, "mine.xml", file, 0640);
    char *open_ = replace(file, "<SubscriptionId>T1<", "<SubscriptionId>T2<");
    write_mode(dir, "open.xml", open_, 0644);
    /* The rows: as wsmd__sub_write_xml stores them (no password); T1's h2
     * names another user than the file. */
    char *row1 = mkfile(CI "<CredentialsType>Basic</CredentialsType>"
                           "<CommonUserName>U</CommonUserName><EventSources>"
                           "<EventSource><Address>H1</Address><UserName>v</UserName></EventSource>"
                           "<EventSource><Address>h2</Address><UserName>x</UserName></EventSource>"
                           "</EventSources>",
                        NULL);
    char *r1 = replace(row1, "<SubscriptionId>T1<", "<SubscriptionId>t1<");
    char *r2 = replace(row1, "<SubscriptionId>T1<", "<SubscriptionId>T2<");
    struct wsmd_sub *v[3] = {parse_ok(r1), parse_ok(r2), parse_inner("")};
    assert_int_equal(wsmd__sub_has_password(v[0]), 0);
    struct wsmd_server *srv = calloc(1, sizeof(*srv));
    assert_non_null(srv);
    srv->cfg.subscriptions_dir = dir;
    struct wsmd_collector col = {.srv = srv};
    wsmd__col_subs_secrets(&col, v, 3);
    assert_string_equal(v[0]->common_password, "s3cr-c");
    assert_string_equal(v[0]->sources[0].password, "s3cr-1");
    assert_null(v[0]->sources[1].password);            /* another user: not this password */
    assert_int_equal(wsmd__sub_has_password(v[1]), 0); /* mode 0644: refused */
    assert_int_equal(wsmd__sub_has_password(v[2]), 0);
    for (int i = 0; i < 3; i++)
        wsmd__sub_free(v[i]);
    free(srv);
    free(file);
    free(open_);
    free(row1);
    free(r1);
    free(r2);
    test_tmpdir_remove(dir);
}

static void test_url(void **state)
{
    (void)state;
    char u[300];
    assert_int_equal(wsmd__dial_url("web1.example.com", "HTTP", 0, u, sizeof(u)), 0);
    assert_string_equal(u, "http://web1.example.com:5985/wsman");
    assert_int_equal(wsmd__dial_url("web1", "HTTPS", 0, u, sizeof(u)), 0);
    assert_string_equal(u, "https://web1:5986/wsman");
    assert_int_equal(wsmd__dial_url("web1", "HTTP", 8080, u, sizeof(u)), 0);
    assert_string_equal(u, "http://web1:8080/wsman");
    assert_int_equal(wsmd__dial_url("127.0.0.1:5990", "HTTP", 8080, u, sizeof(u)), 0);
    assert_string_equal(u, "http://127.0.0.1:5990/wsman");
    assert_int_equal(wsmd__dial_url("::1", "HTTP", 0, u, sizeof(u)), 0);
    assert_string_equal(u, "http://[::1]:5985/wsman");
    assert_int_equal(wsmd__dial_url("[::1]", "HTTP", 0, u, sizeof(u)), 0);
    assert_string_equal(u, "http://[::1]:5985/wsman");
    assert_int_equal(wsmd__dial_url("[::1]:99", "HTTPS", 0, u, sizeof(u)), 0);
    assert_string_equal(u, "https://[::1]:99/wsman");
    assert_int_equal(wsmd__dial_url("https://h:1/custom", "HTTP", 0, u, sizeof(u)), 0);
    assert_string_equal(u, "https://h:1/custom");
    assert_int_equal(wsmd__dial_url("web1.example.com", "HTTP", 0, u, 10), -1);
}

/* Which source a Push delivery comes from: the wsmd:Source header must name
 * an enabled source whose user is the principal. */
static struct wsm_envelope *delivery(const char *source_header)
{
    char buf[2048];
    snprintf(buf, sizeof(buf),
             "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
             "xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" "
             "xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><s:Header>"
             "<a:To>http://c/wsman/subscriptions/T1</a:To>"
             "<a:Action s:mustUnderstand=\"true\">http://schemas.dmtf.org/wbem/wsman/1/wsman/"
             "Events</a:Action><a:MessageID>uuid:1</a:MessageID>%s</s:Header><s:Body>"
             "<w:Events/></s:Body></s:Envelope>",
             source_header);
    struct wsm_envelope *env = NULL;
    struct wsm_limits lim = {0};
    assert_int_equal(wsm__envelope_parse(buf, strlen(buf), &lim, &env, NULL, 0), WSM_OK);
    return env;
}

static void test_push_source(void **state)
{
    (void)state;
    struct wsmd_sub *s =
        parse_inner(CI "<Delivery Mode='Push'/><CommonUserName>alice</CommonUserName>"
                       "<CommonPassword>s3cr</CommonPassword><EventSources>"
                       "<EventSource><Address>web1:5985</Address></EventSource>"
                       "<EventSource><Address>web2</Address><UserName>bob</UserName></EventSource>"
                       "<EventSource Enabled='false'><Address>web3</Address></EventSource>"
                       "</EventSources>");
#define SRC(a) "<wsmd:Source xmlns:wsmd=\"urn:wsmd:subscription\">" a "</wsmd:Source>"
    static const struct {
        const char *header, *principal, *want;
    } cases[] = {
        {SRC("web1:5985"), "alice", "web1:5985"},
        {SRC("WEB1:5985"), "ALICE", "web1:5985"},      /* names without case */
        {SRC("web2"), "bob", "web2"},                  /* its own UserName */
        {SRC("web2"), "alice", NULL},                  /* not web2's user */
        {SRC("web1:5985"), "bob", NULL},               /* not web1's user */
        {SRC("web3"), "alice", NULL},                  /* disabled */
        {SRC("web9"), "alice", NULL},                  /* not a source */
        {"", "alice", NULL},                           /* no header */
        {"<Source>web1:5985</Source>", "alice", NULL}, /* not our namespace */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wsm_envelope *env = delivery(cases[i].header);
        const struct wsmd_sub_source *src = wsmd__dial_push_source(s, env, cases[i].principal);
        if (cases[i].want) {
            assert_non_null(src);
            assert_string_equal(src->address, cases[i].want);
        } else {
            assert_null(src);
        }
        wsm__envelope_free(env);
    }
    /* A SourceInitiated subscription has no dialed sources. */
    struct wsm_envelope *env = delivery(SRC("web1:5985"));
    struct wsmd_sub *si = parse_inner("<SubscriptionType>SourceInitiated</SubscriptionType>");
    assert_null(wsmd__dial_push_source(si, env, "alice"));
    assert_null(wsmd__dial_push_source(s, env, NULL));
    wsm__envelope_free(env);
    wsmd__sub_free(si);
    wsmd__sub_free(s);
#undef SRC
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_file),
        cmocka_unit_test(test_defaults_and_passwords),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_file_mode),
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_push_source),
        cmocka_unit_test(test_secrets_from_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
