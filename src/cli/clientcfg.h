/* winrm/config/client on the client side: a per-user file
 * ($XDG_CONFIG_HOME/wsmd/client.conf, else ~/.config/wsmd/client.conf)
 * that `winrm get|set winrm/config/client[/auth|/defaultports]` read and
 * write locally (no request), and that the tool honours before it
 * connects: TrustedHosts, AllowUnencrypted, the schemes of client/auth,
 * the default ports, and DefaultAuth (ours: the -a: used without one). */
#ifndef WSM_CLI_CLIENTCFG_H
#define WSM_CLI_CLIENTCFG_H

#include <stdio.h>

#include "format.h"
#include "wsm/wsm.h"

#define CLI_CLIENT_URI "http://schemas.microsoft.com/wbem/wsman/1/config/client"

struct cli_clientcfg {
    char trusted_hosts[2048];                    /* "" (Windows' default): none; "*": any */
    int allow_unencrypted;                       /* false */
    int basic, kerberos, negotiate, certificate; /* client/auth: all true */
    unsigned http_port, https_port;              /* 5985, 5986 */
    char default_auth[16];                       /* "": Basic (see clientcfg.c) */
};

/* Windows' defaults. */
void cli_clientcfg_defaults(struct cli_clientcfg *c);
/* The file's path into out; -1 without HOME and XDG_CONFIG_HOME. */
int cli_clientcfg_path(char *out, size_t n);
/* The defaults, then the file if there is one. -1 with the reason in err
 * (the line, the key, unknown or bad value). */
int cli_clientcfg_load(struct cli_clientcfg *c, char *err, size_t n);
/* One property of section ("" for client, "auth", "defaultports"), as
 * winrm set names it: 0, or -1 with the reason in err. */
int cli_clientcfg_set(struct cli_clientcfg *c, const char *section, const char *name,
                      const char *value, char *err, size_t n);
/* Writes the file (temp file + rename; the folder made when missing). */
int cli_clientcfg_save(const struct cli_clientcfg *c, char *err, size_t n);
/* The section as winrm get shows a resource: its XML (malloc'd). */
char *cli_clientcfg_xml(const struct cli_clientcfg *c, const char *section);

/* The section of a winrm/config/client resource URI ("", "auth",
 * "defaultports"), or NULL if uri is not one. */
const char *cli_clientcfg_section(const char *uri);

/* 1 if host (no brackets, no port) is in TrustedHosts: comma-separated
 * names or addresses, without case; "*" any; "*.suffix" and "prefix*". */
int cli_clientcfg_trusted(const struct cli_clientcfg *c, const char *host);

/* What keeps a request to url with scheme a from going, as Windows'
 * client says it (and *code, its error number), or NULL. unencrypted: the
 * -unencrypted switch. A loopback destination is never refused for
 * TrustedHosts or AllowUnencrypted: the traffic does not leave the host. */
const char *cli_clientcfg_check(const struct cli_clientcfg *c, enum wsm_auth a, const char *url,
                                int unencrypted, unsigned long *code);

#endif
