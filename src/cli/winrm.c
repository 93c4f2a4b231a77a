/* winrm: the WinRM command-line tool, with the syntax of winrm.cmd:
 *
 *   winrm get|set|create|delete|enumerate|invoke|identify ... [-SWITCH:VALUE ...]
 *         [@{KEY="VALUE"[;KEY="VALUE"]}]
 *
 * Exit status: 0 success, 1 a fault or another failure of the operation,
 * 2 a usage error.
 *
 * This file has main(): it sends quickconfig to its own command, answers
 * winrm/config/client from the per-user file, else connects as the
 * switches say. The command line is parsed in winrm_args.c, the input
 * read in winrm_input.c and winrm_xml.c, the operation run and printed in
 * winrm_ops.c (winrm_priv.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "args.h"
#include "prompt.h"
#include "clientcfg.h"
#include "faultfmt.h"
#include "quickconfig.h"
#include "winrm_priv.h"
#include "wsm/wsm.h"

/* -r: a URL, or HOST[:PORT] as winrm takes it. */
static char *remote_url(const struct cmd *c, const struct cli_clientcfg *cc)
{
    const char *r = c->remote ? c->remote : "127.0.0.1";
    char *url = NULL;
    if (strstr(r, "://"))
        return strdup(r);
    const char *close = r[0] == '[' ? strchr(r, ']') : NULL;
    int has_port = close ? close[1] == ':' : strchr(r, ':') != NULL;
    const char *scheme = c->usessl ? "https" : "http";
    /* winrm/config/client/DefaultPorts (5985, 5986 unless changed). */
    char port[16] = "";
    if (!has_port)
        snprintf(port, sizeof(port), ":%u", c->usessl ? cc->https_port : cc->http_port);
    if (asprintf(&url, "%s://%s%s/wsman", scheme, r, port) < 0)
        return NULL;
    return url;
}

/* winrm get|set winrm/config/client[/auth|/defaultports]: the per-user
 * file (clientcfg.h), no request, as winrm.cmd changes its registry.
 * Returns -1 when the resource is another one. */
static int local_client_config(const struct cmd *c)
{
    char uri[MAX_URI];
    const char *section = wsm_resource_expand(c->resource, uri, sizeof(uri)) && *uri
                              ? cli_clientcfg_section(uri)
                              : NULL;
    if (!section)
        return -1;
    struct cli_clientcfg cc;
    char err[600];
    struct kv hash = {0};
    int rc = 1;
    if (cli_clientcfg_load(&cc, err, sizeof(err)) != 0) {
        fprintf(stderr, "winrm: Error: client configuration: %s\n", err);
        return 1;
    }
    if (c->verb == V_SET) {
        if (!c->hash) {
            fprintf(stderr, "winrm: Error: No input provided through \"@{...}\" "
                            "commandline parameters.\n");
            return 2;
        }
        if (wsmd__winrm_parse_hash(c->hash, &hash) != 0)
            return 2;
        for (size_t i = 0; i < hash.n; i++)
            if (cli_clientcfg_set(&cc, section, hash.v[i].name, hash.v[i].value, err,
                                  sizeof(err)) != 0) {
                fprintf(stderr, "winrm: Error: %s\n", err);
                goto out;
            }
        if (cli_clientcfg_save(&cc, err, sizeof(err)) != 0) {
            fprintf(stderr, "winrm: Error: %s\n", err);
            goto out;
        }
    }
    rc = wsmd__winrm_print_result(cli_clientcfg_xml(&cc, section), c->fmt);
out:
    wsmd__winrm_kv_free(&hash);
    return rc;
}

/* Connects as the command line says and runs the operation. */
static int session_main(const struct cmd *cp)
{
    const struct cmd c = *cp;
    int rc;

    struct cli_clientcfg cc;
    char cerr[600];
    if (cli_clientcfg_load(&cc, cerr, sizeof(cerr)) != 0) {
        fprintf(stderr, "winrm: Error: client configuration: %s\n", cerr);
        return 1;
    }
    struct wsm_session_opts o = {.user = c.user, .password = c.pass};
    o.auth = c.cert ? WSM_AUTH_CERTIFICATE : WSM_AUTH_BASIC;
    if (!c.cert && !c.auth && cc.default_auth[0])
        cli_parse_auth(cc.default_auth, &o.auth); /* DefaultAuth: checked when read */
    if (c.auth && cli_parse_auth(c.auth, &o.auth) != 0)
        return wsmd__winrm_usage_error(
            "unknown authentication mechanism: '%s' (basic, negotiate, ntlm, "
            "kerberos, clientcert, none)",
            c.auth);
    if (o.auth == WSM_AUTH_NONE && c.verb != V_IDENTIFY)
        return wsmd__winrm_usage_error("%s", "-auth:none is only for identify");
    long timeout_ms = 0;
    if (c.timeout) {
        char *end;
        timeout_ms = strtol(c.timeout, &end, 10);
        if (end == c.timeout || *end || timeout_ms <= 0)
            return wsmd__winrm_usage_error("invalid -timeout: %s", c.timeout);
        o.timeout_ms = timeout_ms;
    }
    char *url = remote_url(&c, &cc);
    if (!url)
        return 1;
    char typed[256]; /* a password asked on the terminal (prompt.h) */
    int pr = cli_want_password(o.auth, c.user, c.pass)
                 ? cli_ask_password("winrm", c.user, url, typed, sizeof(typed))
                 : -1;
    if (pr == -2) {
        free(url);
        return 1;
    }
    if (pr == 0)
        o.password = typed;
    const char *why =
        cli_auth_check(o.auth, c.user, o.password, !strncasecmp(url, "https:", 6), c.cert);
    if (why) {
        free(url);
        return wsmd__winrm_usage_error("%s", why);
    }
    unsigned long code;
    if (o.auth != WSM_AUTH_NONE &&
        (why = cli_clientcfg_check(&cc, o.auth, url, c.unencrypted, &code))) {
        /* As winrm.cmd: refused by the client's own configuration. */
        free(url);
        cli_print_fault(stderr, c.fmt, code, why);
        return 1;
    }
    o.url = url;
    wsm_session *s;
    enum wsm_err e = wsm_session_new(&o, &s);
    explicit_bzero(typed, sizeof(typed));
    free(url);
    if (e) {
        fprintf(stderr, "winrm: %s\n", wsm_strerror(e));
        return 1;
    }
    if (timeout_ms && wsm_session_set(s, "OperationTimeout", timeout_ms) != WSM_OK) {
        wsm_session_free(s);
        return wsmd__winrm_usage_error("invalid -timeout: %s", c.timeout);
    }
    if (c.skip_ca)
        wsm_session_set(s, "SkipCACheck", 1);
    if (c.skip_cn)
        wsm_session_set(s, "SkipCNCheck", 1);
    if (c.unencrypted)
        wsm_session_set(s, "AllowUnencrypted", 1);
    if ((c.cert && wsm_session_set_string(s, "CertificateFile", c.cert) != WSM_OK) ||
        (c.key && wsm_session_set_string(s, "KeyFile", c.key) != WSM_OK) ||
        (c.cacert && wsm_session_set_string(s, "CAFile", c.cacert) != WSM_OK)) {
        wsm_session_free(s);
        fprintf(stderr, "winrm: out of memory\n");
        return 1;
    }
    if (c.spn && wsm_session_set_string(s, "SPN", c.spn) != WSM_OK) {
        wsm_session_free(s);
        return wsmd__winrm_usage_error("-spn:%s goes with negotiate, ntlm and kerberos", c.spn);
    }
    rc = wsmd__winrm_run(s, &c);
    wsm_session_free(s);
    fflush(stdout);
    return rc;
}

/* 1 if the operation (the first argument that is no switch) is
 * quickconfig or qc: a local command with its own switches. */
static int is_quickconfig(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-c") || !strcmp(a, "--config"))
            i++;
        else if (a[0] != '-' && a[0] != '/' && a[0] != '@')
            return !strcasecmp(a, "quickconfig") || !strcasecmp(a, "qc");
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (is_quickconfig(argc, argv))
        return winrm_quickconfig(argc, argv);
    struct cmd c = {.pass = getenv("WSM_PASSWORD"), .fmt = FMT_TEXT};
    int n = 0;
    char **args = wsmd__winrm_join_braces(argc, argv, &n);
    if (!args) {
        fprintf(stderr, "winrm: out of memory\n");
        return 1;
    }
    int rc = wsmd__winrm_parse_args(n, args, &c);
    if (rc < 0 && (c.verb == V_GET || c.verb == V_SET) && c.resource)
        rc = local_client_config(&c);
    if (rc < 0)
        rc = session_main(&c);
    for (int i = 0; i < n; i++)
        free(args[i]);
    free(args);
    return rc;
}
