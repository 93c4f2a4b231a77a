/* Windows switches of winrm and winrs (winrm.vbs, winrs.exe) that these
 * tools do not do: each is refused with the reason, instead of the generic
 * "unknown switch", so that a script written for Windows fails clearly.
 * docs/clients.md lists every switch and what it does here. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "switches.h"

struct refused {
    const char *names; /* '|'-separated, without the leading '-' */
    const char *why;
};

static const struct refused winrm_refused[] = {
    {"defaultcreds", "implicit credentials: give -u/-p, or -a:Negotiate/Kerberos with a ticket"},
    {"spnport", "no port in the SPN: give the whole SPN with -spn:SERVICE@HOST"},
    {"proxyaccess|proxyauth|proxyusername|proxypassword",
     "proxies come from http_proxy/https_proxy in the environment"},
    {"c", "client certificates by thumbprint need a certificate store: give -certificate:PEM "
          "and -key:PEM"},
};

static const struct refused winrs_refused[] = {
    {"allowdelegate|ad", "credential delegation (CredSSP) is not supported"},
    {"t|timeout", "deprecated in Windows' winrs; shells end after winrm/config/winrs "
                  "IdleTimeout"},
};

/* The switch's name: after '-' or '/', up to ':'. */
static int name_is(const char *arg, const char *names)
{
    const char *n = arg + 1;
    size_t len = strcspn(n, ":");
    for (const char *p = names; *p;) {
        size_t l = strcspn(p, "|");
        if (l == len && !strncasecmp(p, n, len))
            return 1;
        p += l;
        if (*p == '|')
            p++;
    }
    return 0;
}

const char *cli_refused_switch(const char *tool, const char *arg)
{
    if (!arg || (arg[0] != '-' && arg[0] != '/'))
        return NULL;
    const struct refused *t = strcmp(tool, "winrs") ? winrm_refused : winrs_refused;
    size_t n = strcmp(tool, "winrs") ? sizeof(winrm_refused) / sizeof(winrm_refused[0])
                                     : sizeof(winrs_refused) / sizeof(winrs_refused[0]);
    for (size_t i = 0; i < n; i++)
        if (name_is(arg, t[i].names))
            return t[i].why;
    if (!strcmp(tool, "winrm") && name_is(arg, "encoding")) {
        const char *v = strchr(arg, ':');
        if (v && !strcasecmp(v + 1, "utf-8"))
            return NULL; /* what is sent anyway */
        return "requests are sent in UTF-8 only (-encoding:utf-8)";
    }
    return NULL;
}

int cli_switch_accepted(const char *tool, const char *arg)
{
    /* -encoding:utf-8: the requests are UTF-8 already. */
    return !strcmp(tool, "winrm") && arg && (arg[0] == '-' || arg[0] == '/') &&
           name_is(arg, "encoding") && strchr(arg, ':') &&
           !strcasecmp(strchr(arg, ':') + 1, "utf-8");
}
