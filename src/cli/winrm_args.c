/* winrm's command line: the operations and their aliases, the switches
 * (wsmd__winrm_parse_args fills a struct cmd and checks which go together), the
 * usage messages, and the joining of a {...} the shell split at spaces.
 * Kept apart from winrm.c, which connects and runs what is parsed here,
 * so that the table of switches (which tests/interop/test_man.py reads
 * against man/winrm.txt) is in one place. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "switches.h"
#include "args.h"
#include "format.h"
#include "help.h"
#include "winrm_priv.h"

static const struct {
    const char *name;
    enum verb verb;
} verbs[] = {
    {"get", V_GET},
    {"g", V_GET},
    {"set", V_SET},
    {"s", V_SET},
    {"put", V_SET},
    {"p", V_SET},
    {"create", V_CREATE},
    {"c", V_CREATE},
    {"delete", V_DELETE},
    {"d", V_DELETE},
    {"enumerate", V_ENUMERATE},
    {"e", V_ENUMERATE},
    {"enum", V_ENUMERATE},
    {"invoke", V_INVOKE},
    {"i", V_INVOKE},
    {"identify", V_IDENTIFY},
    {"id", V_IDENTIFY},
    {"subscribe", V_SUBSCRIBE}, /* ours: winrm_sub.c */
    {"sub", V_SUBSCRIBE},
};

static int usage(FILE *f)
{
    winrm_print_usage(f); /* help.c, from man/winrm.txt */
    return f == stderr ? 2 : 0;
}

int wsmd__winrm_usage_error(const char *fmt, const char *arg)
{
    fputs("winrm: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nType \"winrm -?\" for help.\n", stderr);
    return 2;
}

static enum verb find_verb(const char *name)
{
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (!strcasecmp(verbs[i].name, name))
            return verbs[i].verb;
    return V_NONE;
}

/* Returns -1 to go on, or the exit status. */
int wsmd__winrm_parse_args(int argc, char **argv, struct cmd *c)
{
    const char *positional[3] = {NULL, NULL, NULL};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        const char *a = argv[i];
        if (a[0] == '@') {
            if (c->hash)
                return wsmd__winrm_usage_error("more than one @{...}: %s", a);
            c->hash = a + 1;
        } else if (cli_switch(a, "?|h|help", &v)) {
            return usage(stdout);
        } else if (cli_switch(a, "r|remote|machine", &v) && v) {
            c->remote = v;
        } else if (cli_switch(a, "u|username", &v) && v) {
            c->user = v;
        } else if (cli_switch(a, "p|password", &v) && v) {
            c->pass = v;
        } else if (cli_switch(a, "a|auth|authentication", &v) && v) {
            c->auth = v;
        } else if (cli_switch(a, "f|format", &v) && v) {
            if (cli_parse_format(v, &c->fmt) != 0)
                return wsmd__winrm_usage_error("Invalid option for -format: \"%s\"", v);
        } else if (cli_switch(a, "filter", &v)) {
            c->filter = v ? v : "";
            c->have_filter = 1;
        } else if (cli_switch(a, "dialect", &v) && v) {
            c->dialect = v;
        } else if (cli_switch(a, "fragment", &v) && v) {
            c->fragment = v;
        } else if (cli_switch(a, "options", &v) && v) {
            c->options = v;
        } else if (cli_switch(a, "returntype", &v) && v) {
            c->return_type = v;
        } else if (cli_switch(a, "file", &v) && v) {
            c->file = v;
        } else if (cli_switch(a, "maxelements", &v) && v) {
            char *end;
            unsigned long n = strtoul(v, &end, 10);
            if (end == v || *end || n == 0 || n > 32000)
                return wsmd__winrm_usage_error("invalid -maxelements: %s (1 to 32000)", v);
            c->max_elements = (unsigned)n;
        } else if (cli_switch(a, "count", &v) && v) {
            char *end;
            unsigned long n = strtoul(v, &end, 10);
            if (end == v || *end || n == 0)
                return wsmd__winrm_usage_error("invalid -count: %s (1 or more)", v);
            c->count = n;
        } else if (cli_switch(a, "bookmark", &v) && v) {
            c->bookmark = v;
        } else if (cli_switch(a, "contentformat", &v) && v) {
            if (strcasecmp(v, "raw") && strcasecmp(v, "renderedtext"))
                return wsmd__winrm_usage_error("invalid -contentformat: %s (Raw or RenderedText)",
                                               v);
            c->content_format = strcasecmp(v, "raw") ? "RenderedText" : "Raw";
        } else if (cli_switch(a, "readexisting", &v) && !v) {
            c->read_existing = 1;
        } else if (cli_switch(a, "follow", &v) && !v) {
            c->follow = 1;
        } else if (cli_switch(a, "timeout", &v) && v) {
            c->timeout = v;
        } else if (cli_switch(a, "associations", &v) && !v) {
            c->associations = 1;
        } else if (cli_switch(a, "skipcacheck", &v) && !v) {
            c->skip_ca = 1;
        } else if (cli_switch(a, "skipcncheck", &v) && !v) {
            c->skip_cn = 1;
        } else if (cli_switch(a, "usessl|ssl", &v) && !v) {
            c->usessl = 1;
        } else if (cli_switch(a, "unencrypted|un", &v) && !v) {
            c->unencrypted = 1;
        } else if (cli_switch(a, "certificate", &v) && v) {
            c->cert = v;
        } else if (cli_switch(a, "key|keyfile", &v) && v) {
            c->key = v;
        } else if (cli_switch(a, "cacert|cafile", &v) && v) {
            c->cacert = v;
        } else if (cli_switch(a, "spn", &v) && v) {
            c->spn = v;
        } else if (cli_switch(a, "skiprevocationcheck|shallow|basepropertiesonly", &v) && !v) {
            /* Accepted; nothing to do here. */
        } else if (cli_switch_accepted("winrm", a)) {
            /* -encoding:utf-8: requests are UTF-8 anyway. */
        } else if (cli_refused_switch("winrm", a)) {
            fprintf(stderr, "winrm: %s: not supported: %s\n", a, cli_refused_switch("winrm", a));
            return 2;
        } else if (((a[0] != '-' && a[0] != '/') ||
                    (npos == 1 && !strcasecmp(positional[0], "helpmsg"))) &&
                   npos < 3) {
            /* helpmsg's code may be negative, as Windows prints HRESULTs. */
            positional[npos++] = a;
        } else {
            return wsmd__winrm_usage_error("Unknown switch or unexpected argument: %s", a);
        }
    }
    if (!npos)
        return usage(stderr);
    if (!strcasecmp(positional[0], "help") || !strcasecmp(positional[0], "helpmsg")) {
        if (npos > 2)
            return wsmd__winrm_usage_error("%s: wrong number of arguments (winrm -? for help)",
                                           positional[0]);
        return positional[0][4] ? winrm_helpmsg(positional[1]) : winrm_help(positional[1]);
    }
    c->verb = find_verb(positional[0]);
    if (c->verb == V_NONE)
        return wsmd__winrm_usage_error("Unknown operation name: '%s'", positional[0]);
    int want = c->verb == V_IDENTIFY ? 1 : c->verb == V_INVOKE ? 3 : 2;
    if (npos != want)
        return wsmd__winrm_usage_error("%s: wrong number of arguments (winrm -? for help)",
                                       positional[0]);
    if (c->verb == V_INVOKE) {
        c->method = positional[1];
        c->resource = positional[2];
    } else if (want == 2) {
        c->resource = positional[1];
    }
    if ((c->hash || c->file) && c->verb != V_SET && c->verb != V_CREATE && c->verb != V_INVOKE)
        return wsmd__winrm_usage_error(
            "%s", "Input was supplied to an operation that does not accept input.");
    if (c->hash && c->file)
        return wsmd__winrm_usage_error(
            "%s", "Use either @{KEY=VALUE} or input from an XML file, but not both.");
    if (c->verb != V_SUBSCRIBE &&
        (c->count || c->bookmark || c->content_format || c->read_existing || c->follow))
        return wsmd__winrm_usage_error(
            "%s", "-count, -bookmark, -contentFormat, -readExisting and -follow "
                  "go with subscribe");
    if (c->verb == V_SUBSCRIBE && (!c->have_filter || !*c->filter))
        return wsmd__winrm_usage_error(
            "%s", "subscribe: -filter:QUERYLIST or -filter:CHANNEL is required");
    if (c->verb == V_SUBSCRIBE && (c->return_type || c->associations || c->dialect))
        return wsmd__winrm_usage_error("%s",
                                       "-returnType, -associations and -dialect go with enumerate");
    if (c->verb != V_ENUMERATE && c->verb != V_SUBSCRIBE &&
        (c->have_filter || c->return_type || c->associations || c->max_elements))
        return wsmd__winrm_usage_error(
            "%s", "-filter, -returnType, -associations and -maxelements go with enumerate");
    if (c->fragment && c->verb != V_GET && c->verb != V_SET)
        return wsmd__winrm_usage_error("%s", "-fragment goes with get and set");
    return -1;
}

static int brace_depth(const char *s)
{
    int d = 0, quoted = 0;
    for (; *s; s++) {
        if (*s == '"')
            quoted = !quoted;
        else if (!quoted && *s == '{')
            d++;
        else if (!quoted && *s == '}')
            d--;
    }
    return d;
}

/* @{...}, or a switch whose value is {...} (-options:, -filter:). */
static int opens_hash(const char *a)
{
    if (a[0] == '@')
        return a[1] == '{';
    if (a[0] != '-' && a[0] != '/')
        return 0;
    const char *colon = strchr(a, ':');
    return colon && colon[1] == '{';
}

/* winrm reads its command line whole and keeps a {...} together across
 * spaces; here the shell has already split it: join an argument with an
 * open '{' and the ones after it up to the closing '}'. The strings are
 * malloc'd (args[0] is argv[0]); NULL on allocation failure. */
char **wsmd__winrm_join_braces(int argc, char **argv, int *outc)
{
    char **args = calloc((size_t)argc + 1, sizeof(*args));
    int n = 0;
    if (!args)
        return NULL;
    for (int i = 0; i < argc; i++) {
        char *a = strdup(argv[i]);
        while (a && i > 0 && i + 1 < argc && opens_hash(a) && brace_depth(a) > 0) {
            char *joined = NULL;
            i++;
            if (asprintf(&joined, "%s %s", a, argv[i]) < 0)
                joined = NULL;
            free(a);
            a = joined;
        }
        if (!a)
            goto fail;
        args[n++] = a;
    }
    *outc = n;
    return args;
fail:
    for (int k = 0; k < n; k++)
        free(args[k]);
    free(args);
    return NULL;
}
