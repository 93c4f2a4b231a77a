/* winrm: the WinRM command-line tool, with the syntax of winrm.cmd. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "args.h"
#include "format.h"
#include "wsm/wsm.h"

static int usage(FILE *f)
{
    fprintf(f,
            "usage: winrm identify|id [-r:URL] [-u:USER] [-p:PASSWORD] [-a:basic|none]\n"
            "             [-format:text|xml|pretty|json]\n"
            "The password may also come from the environment variable WSM_PASSWORD.\n"
            "-a:none sends an anonymous Identify (header WSMANIDENTIFY: unauthenticated).\n");
    return f == stderr ? 2 : 0;
}

int main(int argc, char **argv)
{
    const char *verb = NULL, *remote = "http://127.0.0.1:5985/wsman", *user = NULL;
    const char *pass = getenv("WSM_PASSWORD"), *auth = NULL;
    enum cli_format fmt = FMT_TEXT;

    for (int i = 1; i < argc; i++) {
        const char *v;
        const char *a = argv[i];
        if (cli_switch(a, "r|remote", &v) && v)
            remote = v;
        else if (cli_switch(a, "u|username", &v) && v)
            user = v;
        else if (cli_switch(a, "p|password", &v) && v)
            pass = v;
        else if (cli_switch(a, "a|authentication", &v) && v)
            auth = v;
        else if (cli_switch(a, "format|f", &v) && v) {
            if (cli_parse_format(v, &fmt) != 0) {
                fprintf(stderr, "winrm: unknown format %s\n", v);
                return 2;
            }
        } else if (cli_switch(a, "?|h|help", &v))
            return usage(stdout);
        else if (!verb && a[0] != '-')
            verb = a;
        else {
            fprintf(stderr, "winrm: unexpected argument %s\n", a);
            return usage(stderr);
        }
    }
    if (!verb)
        return usage(stderr);
    if (strcasecmp(verb, "identify") != 0 && strcasecmp(verb, "id") != 0) {
        fprintf(stderr, "winrm: the verb '%s' is not supported by this version\n", verb);
        return 2;
    }
    struct wsm_session_opts o = {.url = remote, .user = user, .password = pass};
    if (auth && !strcasecmp(auth, "none"))
        o.auth = WSM_AUTH_NONE;
    else if (!auth || !strcasecmp(auth, "basic"))
        o.auth = WSM_AUTH_BASIC;
    else {
        fprintf(stderr, "winrm: authentication '%s' is not supported by this version\n", auth);
        return 2;
    }
    if (o.auth == WSM_AUTH_BASIC && (!user || !pass)) {
        fprintf(stderr, "winrm: Basic authentication needs -u: and -p: (or WSM_PASSWORD)\n");
        return 2;
    }
    wsm_session *s;
    enum wsm_err e = wsm_session_new(&o, &s);
    if (e) {
        fprintf(stderr, "winrm: %s\n", wsm_strerror(e));
        return 1;
    }
    struct wsm_identity id;
    char *xml = NULL;
    e = wsm_identify(s, &id, &xml);
    int rc = 0;
    if (e) {
        fprintf(stderr, "winrm: %s: %s\n", wsm_strerror(e), wsm_session_error(s));
        rc = 1;
    } else {
        cli_print(stdout, xml, fmt);
        wsm_identity_clear(&id);
    }
    free(xml);
    wsm_session_free(s);
    return rc;
}
