/* WINRS_SKIP_CMD_SHELL: a command line run without /bin/sh -c. The line is
 * split into argv the way a Windows program's runtime splits its command
 * line (the rules of CommandLineToArgvW and the MSVC runtime), since that is
 * what the Windows user who sent it expects; the program is then looked up
 * in the PATH of the command's environment, as execvp would, but by the
 * child itself with raw execve calls (spawn.c). */
#include "cmdline.h"

#include <stdlib.h>
#include <string.h>

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* One pass of the splitter: with out NULL it only counts (arguments and
 * bytes); else it writes each argument, NUL-terminated, and its start. */
static size_t split(const char *s, char **argv, char *out, size_t *bytes)
{
    size_t argc = 0, nb = 0;
    for (;;) {
        while (is_blank(*s))
            s++;
        if (!*s)
            break;
        if (argv)
            argv[argc] = out + nb;
        argc++;
        int quoted = 0;
        while (*s && (quoted || !is_blank(*s))) {
            if (*s == '\\') {
                size_t n = 0;
                while (s[n] == '\\')
                    n++;
                if (s[n] == '"') {
                    /* 2n backslashes and a quote: n backslashes, and the
                     * quote opens or closes; 2n+1: n and a literal quote. */
                    for (size_t i = 0; i < n / 2; i++, nb++)
                        if (out)
                            out[nb] = '\\';
                    s += n;
                    if (n % 2) {
                        if (out)
                            out[nb] = '"';
                        nb++;
                        s++;
                    }
                    continue;
                }
                /* Backslashes not before a quote are literal. */
                for (size_t i = 0; i < n; i++, nb++)
                    if (out)
                        out[nb] = '\\';
                s += n;
                continue;
            }
            if (*s == '"') {
                if (quoted && s[1] == '"') {
                    /* "" inside quotes: a literal quote (the runtime of
                     * Visual C++ 2008 and later). */
                    if (out)
                        out[nb] = '"';
                    nb++;
                    s += 2;
                    continue;
                }
                quoted = !quoted;
                s++;
                continue;
            }
            if (out)
                out[nb] = *s;
            nb++;
            s++;
        }
        if (out)
            out[nb] = '\0';
        nb++;
    }
    *bytes = nb;
    return argc;
}

char **shell__split_cmdline(const char *line, size_t *argc)
{
    size_t bytes = 0;
    size_t n = split(line, NULL, NULL, &bytes);
    *argc = n;
    if (n == 0)
        return NULL;
    char **v = malloc((n + 1) * sizeof(char *) + bytes);
    if (!v)
        return NULL;
    split(line, v, (char *)(v + n + 1), &bytes);
    v[n] = NULL;
    return v;
}

char **shell__exec_paths(const char *prog, char *const *envp, const char *def_path)
{
    if (!prog || !*prog)
        return NULL;
    const char *path = def_path;
    for (size_t i = 0; envp && envp[i]; i++)
        if (!strncmp(envp[i], "PATH=", 5))
            path = envp[i] + 5;
    size_t plen = strlen(prog), n = 1, bytes = plen + 1;
    if (!strchr(prog, '/')) {
        /* Each PATH entry; an empty one is the working directory, as
         * execvp has it. */
        n = 0;
        bytes = 0;
        for (const char *p = path;; p++) {
            const char *e = strchr(p, ':');
            size_t dl = e ? (size_t)(e - p) : strlen(p);
            n++;
            bytes += (dl ? dl : 1) + 1 + plen + 1;
            if (!e)
                break;
            p = e;
        }
    }
    char **v = malloc((n + 1) * sizeof(char *) + bytes);
    if (!v)
        return NULL;
    char *o = (char *)(v + n + 1);
    if (strchr(prog, '/')) {
        v[0] = o;
        memcpy(o, prog, plen + 1);
        v[1] = NULL;
        return v;
    }
    size_t k = 0;
    for (const char *p = path;; p++) {
        const char *e = strchr(p, ':');
        size_t dl = e ? (size_t)(e - p) : strlen(p);
        v[k++] = o;
        if (dl) {
            memcpy(o, p, dl);
            o += dl;
        } else {
            *o++ = '.';
        }
        *o++ = '/';
        memcpy(o, prog, plen + 1);
        o += plen + 1;
        if (!e)
            break;
        p = e;
    }
    v[k] = NULL;
    return v;
}
