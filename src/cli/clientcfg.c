/* winrm/config/client, kept by the client in a per-user file (clientcfg.h).
 * Windows keeps these settings in the registry and its winrm.cmd changes
 * them locally, with no request; so does ours. The file is the tool's
 * own, rewritten whole on each set. */
#include "clientcfg.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "args.h"

void cli_clientcfg_defaults(struct cli_clientcfg *c)
{
    memset(c, 0, sizeof(*c));
    c->basic = c->kerberos = c->negotiate = c->certificate = 1;
    c->http_port = 5985;
    c->https_port = 5986;
}

int cli_clientcfg_path(char *out, size_t n)
{
    const char *x = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    int k = x && *x         ? snprintf(out, n, "%s/wsmd/client.conf", x)
            : home && *home ? snprintf(out, n, "%s/.config/wsmd/client.conf", home)
                            : -1;
    return k > 0 && (size_t)k < n ? 0 : -1;
}

/* The properties: where they are, their file key. */
enum kind { K_BOOL, K_PORT, K_HOSTS, K_AUTH };
struct prop {
    const char *section, *name;
    enum kind kind;
    size_t off;
};
#define OFF(f) offsetof(struct cli_clientcfg, f)
static const struct prop props[] = {
    {"", "AllowUnencrypted", K_BOOL, OFF(allow_unencrypted)},
    {"auth", "Basic", K_BOOL, OFF(basic)},
    {"auth", "Kerberos", K_BOOL, OFF(kerberos)},
    {"auth", "Negotiate", K_BOOL, OFF(negotiate)},
    {"auth", "Certificate", K_BOOL, OFF(certificate)},
    {"defaultports", "HTTP", K_PORT, OFF(http_port)},
    {"defaultports", "HTTPS", K_PORT, OFF(https_port)},
    {"", "TrustedHosts", K_HOSTS, OFF(trusted_hosts)},
    {"", "DefaultAuth", K_AUTH, OFF(default_auth)},
};
#define NPROPS (sizeof(props) / sizeof(props[0]))

static int put(struct cli_clientcfg *c, const struct prop *p, const char *v, char *err, size_t n)
{
    char *at = (char *)c + p->off;
    switch (p->kind) {
    case K_BOOL:
        if (strcasecmp(v, "true") && strcasecmp(v, "false"))
            break;
        *(int *)at = !strcasecmp(v, "true");
        return 0;
    case K_PORT: {
        char *end;
        unsigned long x = strtoul(v, &end, 10);
        if (!*v || *end || !isdigit((unsigned char)*v) || x < 1 || x > 65535)
            break;
        *(unsigned *)at = (unsigned)x;
        return 0;
    }
    case K_HOSTS: {
        size_t len = strlen(v);
        int ok = len < sizeof(c->trusted_hosts);
        for (size_t i = 0; i < len && ok; i++)
            ok = isalnum((unsigned char)v[i]) || strchr(".-_*,:[]% ", v[i]);
        if (!ok)
            break;
        memcpy(at, v, len + 1);
        return 0;
    }
    case K_AUTH: {
        enum wsm_auth a;
        if (cli_parse_auth(v, &a) != 0 || a == WSM_AUTH_CERTIFICATE || a == WSM_AUTH_NONE)
            break;
        snprintf(at, sizeof(c->default_auth), "%s", v);
        for (char *q = at; *q; q++)
            *q = (char)tolower((unsigned char)*q);
        return 0;
    }
    }
    static const char *const want[] = {"true or false", "a port from 1 to 65535",
                                       ("host names or addresses separated by commas, * as a "
                                        "wildcard"),
                                       "basic, negotiate, ntlm or kerberos"};
    snprintf(err, n, "the value of %s (\"%.64s\") is invalid: want %s", p->name, v, want[p->kind]);
    return -1;
}

int cli_clientcfg_set(struct cli_clientcfg *c, const char *section, const char *name,
                      const char *value, char *err, size_t n)
{
    for (size_t i = 0; i < NPROPS; i++)
        if (!strcasecmp(props[i].section, section) && !strcasecmp(props[i].name, name))
            return put(c, &props[i], value, err, n);
    snprintf(err, n, "Parameter name does not match any properties on resource: %s", name);
    return -1;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t l = strlen(s);
    while (l && isspace((unsigned char)s[l - 1]))
        s[--l] = '\0';
    return s;
}

int cli_clientcfg_load(struct cli_clientcfg *c, char *err, size_t n)
{
    cli_clientcfg_defaults(c);
    char path[4096];
    if (cli_clientcfg_path(path, sizeof(path)) != 0)
        return 0; /* nowhere to look: the defaults */
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT
                   ? 0
                   : (snprintf(err, n, "cannot read %s: %s", path, strerror(errno)), -1);
    char line[4096];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        char *h = strchr(line, '#');
        if (h)
            *h = '\0';
        char *k = trim(line);
        if (!*k)
            continue;
        char *eq = strchr(k, '=');
        char why[512];
        if (!eq) {
            snprintf(why, sizeof(why), "not a Key = value line");
            rc = -1;
        } else {
            *eq = '\0';
            k = trim(k);
            const struct prop *p = NULL;
            for (size_t i = 0; i < NPROPS && !p; i++)
                if (!strcasecmp(props[i].name, k))
                    p = &props[i];
            if (!p) {
                snprintf(why, sizeof(why), "unknown key %.64s", k);
                rc = -1;
            } else {
                rc = put(c, p, trim(eq + 1), why, sizeof(why));
            }
        }
        if (rc)
            snprintf(err, n, "%s:%d: %s", path, lineno, why);
    }
    fclose(f);
    return rc;
}

int cli_clientcfg_save(const struct cli_clientcfg *c, char *err, size_t n)
{
    char path[4096], dir[4096], tmp[4200];
    if (cli_clientcfg_path(path, sizeof(path)) != 0) {
        snprintf(err, n, "no HOME: nowhere to keep the client configuration");
        return -1;
    }
    /* The folders, as far as they are missing (~/.config, then wsmd). */
    snprintf(dir, sizeof(dir), "%s", path);
    *strrchr(dir, '/') = '\0';
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        mkdir(dir, 0700);
        *slash = '/';
    }
    mkdir(dir, 0700);
    snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        snprintf(err, n, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "# winrm/config/client (winrm set winrm/config/client @{...} writes this file)\n");
    fprintf(f, "TrustedHosts = %s\nAllowUnencrypted = %s\nDefaultAuth = %s\n", c->trusted_hosts,
            c->allow_unencrypted ? "true" : "false",
            c->default_auth[0] ? c->default_auth : "basic");
    fprintf(f, "Basic = %s\nKerberos = %s\nNegotiate = %s\nCertificate = %s\n",
            c->basic ? "true" : "false", c->kerberos ? "true" : "false",
            c->negotiate ? "true" : "false", c->certificate ? "true" : "false");
    fprintf(f, "HTTP = %u\nHTTPS = %u\n", c->http_port, c->https_port);
    int bad = fflush(f) != 0 || fsync(fd) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        snprintf(err, n, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

const char *cli_clientcfg_section(const char *uri)
{
    size_t n = strlen(CLI_CLIENT_URI);
    if (strncasecmp(uri, CLI_CLIENT_URI, n))
        return NULL;
    if (!uri[n])
        return "";
    if (!strcasecmp(uri + n, "/auth"))
        return "auth";
    if (!strcasecmp(uri + n, "/defaultports"))
        return "defaultports";
    return NULL;
}

static void el(FILE *f, const char *name, const char *v)
{
    if (!*v) {
        fprintf(f, "<cfg:%s/>", name);
        return;
    }
    fprintf(f, "<cfg:%s>", name);
    for (; *v; v++)
        fputs(*v == '&' ? "&amp;" : *v == '<' ? "&lt;" : *v == '>' ? "&gt;" : (char[2]){*v, 0}, f);
    fprintf(f, "</cfg:%s>", name);
}

static void section_xml(FILE *f, const struct cli_clientcfg *c, const char *s, int own)
{
    const char *name = !*s ? "Client" : !strcmp(s, "auth") ? "Auth" : "DefaultPorts";
    if (own)
        fprintf(f, "<cfg:%s xmlns:cfg=\"%s%s%s\" xml:lang=\"en-US\">", name, CLI_CLIENT_URI,
                *s ? "/" : "", s);
    else
        fprintf(f, "<cfg:%s>", name);
    char num[16];
    if (!*s) {
        el(f, "AllowUnencrypted", c->allow_unencrypted ? "true" : "false");
        section_xml(f, c, "auth", 0);
        section_xml(f, c, "defaultports", 0);
        el(f, "TrustedHosts", c->trusted_hosts);
        el(f, "DefaultAuth", c->default_auth[0] ? c->default_auth : "basic");
    } else if (!strcmp(s, "auth")) {
        el(f, "Basic", c->basic ? "true" : "false");
        el(f, "Kerberos", c->kerberos ? "true" : "false");
        el(f, "Negotiate", c->negotiate ? "true" : "false");
        el(f, "Certificate", c->certificate ? "true" : "false");
    } else {
        snprintf(num, sizeof(num), "%u", c->http_port);
        el(f, "HTTP", num);
        snprintf(num, sizeof(num), "%u", c->https_port);
        el(f, "HTTPS", num);
    }
    fprintf(f, "</cfg:%s>", name);
}

char *cli_clientcfg_xml(const struct cli_clientcfg *c, const char *section)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f)
        return NULL;
    section_xml(f, c, section, 1);
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* host matches pattern: without case, '*' for any run of characters. */
static int match(const char *pat, size_t pn, const char *host)
{
    if (!pn)
        return !*host;
    if (*pat == '*') {
        for (const char *h = host;; h++) {
            if (match(pat + 1, pn - 1, h))
                return 1;
            if (!*h)
                return 0;
        }
    }
    return *host && tolower((unsigned char)*pat) == tolower((unsigned char)*host) &&
           match(pat + 1, pn - 1, host + 1);
}

int cli_clientcfg_trusted(const struct cli_clientcfg *c, const char *host)
{
    for (const char *p = c->trusted_hosts; *p;) {
        while (*p == ',' || *p == ' ')
            p++;
        size_t n = strcspn(p, ",");
        size_t m = n;
        while (m && p[m - 1] == ' ')
            m--;
        /* [v6] in the list matches the bare address too. */
        const char *q = p;
        if (m >= 2 && q[0] == '[' && q[m - 1] == ']') {
            q++;
            m -= 2;
        }
        if (m && match(q, m, host))
            return 1;
        p += n;
    }
    return 0;
}

static int loopback(const char *h)
{
    return !strcasecmp(h, "localhost") || !strncmp(h, "127.", 4) || !strcmp(h, "::1") ||
           !strcasecmp(h, "0:0:0:0:0:0:0:1");
}

const char *cli_clientcfg_check(const struct cli_clientcfg *c, enum wsm_auth a, const char *url,
                                int unencrypted, unsigned long *code)
{
    const char *p = strstr(url, "://");
    int https = !strncasecmp(url, "https:", 6);
    char host[256] = "";
    if (p) {
        p += 3;
        size_t n = *p == '[' ? strcspn(p + 1, "]") : strcspn(p, ":/");
        if (*p == '[')
            p++;
        snprintf(host, sizeof(host), "%.*s", (int)(n < 255 ? n : 255), p);
    }
    *code = 0x80004005UL; /* E_FAIL: Windows' own number is not known here */
    if ((a == WSM_AUTH_BASIC && !c->basic) || (a == WSM_AUTH_KERBEROS && !c->kerberos) ||
        ((a == WSM_AUTH_NEGOTIATE || a == WSM_AUTH_NTLM) && !c->negotiate) ||
        (a == WSM_AUTH_CERTIFICATE && !c->certificate)) {
        static char msg[256];
        snprintf(msg, sizeof(msg),
                 "The WinRM client cannot process the request. %s authentication is currently "
                 "disabled in the client configuration. Change the client configuration and "
                 "try the request again.",
                 a == WSM_AUTH_BASIC         ? "Basic"
                 : a == WSM_AUTH_KERBEROS    ? "Kerberos"
                 : a == WSM_AUTH_CERTIFICATE ? "Certificate"
                                             : "Negotiate");
        return msg;
    }
    if (https || loopback(host))
        return NULL;
    if ((a == WSM_AUTH_BASIC || unencrypted) && !c->allow_unencrypted)
        return "The WinRM client cannot process the request. Unencrypted traffic is currently "
               "disabled in the client configuration. Change the client configuration and try "
               "the request again.";
    if ((a == WSM_AUTH_NEGOTIATE || a == WSM_AUTH_NTLM) && !cli_clientcfg_trusted(c, host)) {
        *code = 0x803380E4UL;
        return "The WinRM client cannot process the request. If the authentication scheme is "
               "different from Kerberos, or if the client computer is not joined to a domain, "
               "then HTTPS transport must be used or the destination machine must be added to "
               "the TrustedHosts configuration setting. Use winrm.cmd to configure "
               "TrustedHosts. Note that computers in the TrustedHosts list might not be "
               "authenticated. You can get more information about that by running the "
               "following command: winrm help config.";
    }
    return NULL;
}
