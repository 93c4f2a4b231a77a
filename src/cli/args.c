#include "args.h"

#include <string.h>
#include <strings.h>

int cli_switch(const char *arg, const char *names, const char **value)
{
    if (arg[0] != '-' && arg[0] != '/')
        return 0;
    arg++;
    if (*arg == '-')
        arg++;
    size_t alen = strcspn(arg, ":=");
    const char *p = names;
    while (*p) {
        size_t nlen = strcspn(p, "|");
        if (nlen == alen && strncasecmp(arg, p, nlen) == 0) {
            *value = arg[alen] ? arg + alen + 1 : NULL;
            return 1;
        }
        p += nlen;
        if (*p == '|')
            p++;
    }
    return 0;
}
