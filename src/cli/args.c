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

int cli_parse_auth(const char *v, enum wsm_auth *out)
{
    static const struct {
        const char *name;
        enum wsm_auth auth;
    } names[] = {
        {"basic", WSM_AUTH_BASIC},
        {"negotiate", WSM_AUTH_NEGOTIATE},
        {"ntlm", WSM_AUTH_NTLM},
        {"kerberos", WSM_AUTH_KERBEROS},
        {"certificate", WSM_AUTH_CERTIFICATE},
        {"clientcert", WSM_AUTH_CERTIFICATE}, /* winrm.cmd's spelling */
        {"cert", WSM_AUTH_CERTIFICATE},
        {"none", WSM_AUTH_NONE},
    };
    for (size_t i = 0; v && i < sizeof(names) / sizeof(names[0]); i++) {
        if (!strcasecmp(v, names[i].name)) {
            *out = names[i].auth;
            return 0;
        }
    }
    return -1;
}

const char *cli_auth_check(enum wsm_auth a, const char *user, const char *pass, int https,
                           const char *cert)
{
    switch (a) {
    case WSM_AUTH_BASIC:
        if (!user || !pass)
            return "Basic authentication needs -u: and -p: (or WSM_PASSWORD)";
        return NULL;
    case WSM_AUTH_NTLM:
    case WSM_AUTH_NEGOTIATE:
        /* Without -u: the default credentials (the Kerberos ccache, or
         * gss-ntlmssp's NTLM_USER_FILE). */
        if (user && !pass && a == WSM_AUTH_NTLM)
            return "NTLM authentication needs -p: (or WSM_PASSWORD) with -u:";
        return NULL;
    case WSM_AUTH_CERTIFICATE:
        if (!https)
            return "certificate authentication needs https (-r:https://... or -usessl)";
        if (!cert)
            return "certificate authentication needs -certificate:FILE";
        return NULL;
    default:
        return NULL;
    }
}
