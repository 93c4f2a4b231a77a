/* What a WinRS Create and Command ask besides the command line: the
 * streams named at Create (rsp:InputStreams, rsp:OutputStreams), and a
 * Command's options (WINRS_CONSOLEMODE_STDIN, WINRS_SKIP_CMD_SHELL) and
 * CommandId (MS-WSMV 3.1.4.11; WSManRunShellCommandEx). */
#include <string.h>
#include <strings.h>

#include "handlers.h"
#include "ns.h"
#include "uuid.h"

/* A space-separated list of stream names into SHELL_STREAM_* bits; each
 * name must be one of allowed (what the list may hold). An empty list
 * names no stream at all. */
static enum wsm_err stream_list(const char *s, unsigned allowed, unsigned *out)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"stdin", SHELL_STREAM_STDIN},
                 {"stdout", SHELL_STREAM_STDOUT},
                 {"stderr", SHELL_STREAM_STDERR}};
    *out = 0;
    while (*s) {
        size_t n = strcspn(s, " \t\r\n");
        if (n) {
            unsigned bit = 0;
            for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (strlen(names[i].name) == n && !strncasecmp(s, names[i].name, n))
                    bit = names[i].bit;
            if (!(bit & allowed))
                return WSM_ERR_INVALID_STREAM;
            *out |= bit;
        }
        s += n;
        s += strspn(s, " \t\r\n");
    }
    return WSM_OK;
}

enum wsm_err wsmd__shell_create_streams(struct wsmd_call *call, xmlNodePtr shell, unsigned *streams)
{
    unsigned in = SHELL_STREAM_STDIN, out = SHELL_STREAM_STDOUT | SHELL_STREAM_STDERR;
    xmlNodePtr n = wsm__xml_child(shell, WSM_NS_SHELL, "InputStreams");
    const char *t;
    enum wsm_err e;
    if (n) {
        if (!(t = wsm__xml_text(&call->env->arena, n, 1)))
            return WSM_ERR_NOMEM;
        if ((e = stream_list(t, SHELL_STREAM_STDIN, &in)))
            return e;
    }
    n = wsm__xml_child(shell, WSM_NS_SHELL, "OutputStreams");
    if (n) {
        if (!(t = wsm__xml_text(&call->env->arena, n, 1)))
            return WSM_ERR_NOMEM;
        if ((e = stream_list(t, SHELL_STREAM_STDOUT | SHELL_STREAM_STDERR, &out)))
            return e;
    }
    /* 0 would mean "all" to the engine: a shell without any stream is
     * still told apart (it has the bit no stream uses). */
    *streams = (in | out) ? (in | out) : 8u;
    return WSM_OK;
}

const char *wsmd__shell_stream_names(unsigned streams, int output)
{
    if (!output)
        return (streams & SHELL_STREAM_STDIN) ? "stdin" : "";
    switch (streams & (SHELL_STREAM_STDOUT | SHELL_STREAM_STDERR)) {
    case SHELL_STREAM_STDOUT | SHELL_STREAM_STDERR:
        return "stdout stderr";
    case SHELL_STREAM_STDOUT:
        return "stdout";
    case SHELL_STREAM_STDERR:
        return "stderr";
    default:
        return "";
    }
}

/* TRUE/FALSE as Windows writes them; 1/0 and any case too. */
static enum wsm_err bool_option(struct wsmd_call *call, const char *name, int *out)
{
    const char *v = wsm__envelope_option(call->env, name);
    *out = 0;
    if (!v)
        return WSM_OK;
    if (!strcasecmp(v, "TRUE") || !strcmp(v, "1"))
        *out = 1;
    else if (strcasecmp(v, "FALSE") && strcmp(v, "0"))
        return WSM_ERR_INVALID_OPTIONS;
    return WSM_OK;
}

enum wsm_err wsmd__shell_cmd_opts(struct wsmd_call *call, xmlNodePtr cmdline,
                                  struct shell_cmd_opts *o)
{
    memset(o, 0, sizeof(*o));
    enum wsm_err e = bool_option(call, "WINRS_CONSOLEMODE_STDIN", &o->console);
    if (!e)
        e = bool_option(call, "WINRS_SKIP_CMD_SHELL", &o->skip_shell);
    if (e) {
        call->fault_message = "WINRS_CONSOLEMODE_STDIN and WINRS_SKIP_CMD_SHELL are TRUE or FALSE.";
        return e;
    }
    const char *id = wsm__xml_attr(cmdline, "CommandId");
    if (id) {
        if (!wsm__uuid_valid(id)) {
            call->fault_message = "The CommandId of a Command must be a GUID.";
            return WSM_ERR_INVALID_ARG;
        }
        o->id = id;
    }
    return WSM_OK;
}
