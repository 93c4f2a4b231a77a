#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "envelope.h"

void wsmd__config_defaults(struct wsmd_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_envelope = WSM_DEFAULT_MAX_ENVELOPE;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->threads = n < 1 ? 1 : n > 8 ? 8 : (int)n;
    cfg->max_connections = 300; /* Windows' MaxConnections */
}

void wsmd__config_clear(struct wsmd_config *cfg)
{
    free(cfg->users_path);
    free(cfg->pam_service);
    cfg->users_path = cfg->pam_service = NULL;
}

static int is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return 0;
}

enum wsm_err wsmd__config_add_listener(struct wsmd_config *cfg, const char *url)
{
    if (cfg->nlisteners == WSMD_MAX_LISTENERS)
        return WSM_ERR_INVALID_ARG;
    struct wsmd_listener *l = &cfg->listeners[cfg->nlisteners];
    memset(l, 0, sizeof(*l));
    const char *p;
    if (strncasecmp(url, "http://", 7) == 0) {
        p = url + 7;
        l->port = 5985;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        p = url + 8;
        l->https = 1;
        l->port = 5986;
    } else {
        fprintf(stderr, "wsmd: listener URL must start with http:// or https://: %s\n", url);
        return WSM_ERR_INVALID_ARG;
    }
    const char *hend;
    if (*p == '[') {
        hend = strchr(p, ']');
        if (!hend)
            goto bad;
        if ((size_t)(hend - p - 1) >= sizeof(l->host))
            goto bad;
        memcpy(l->host, p + 1, (size_t)(hend - p - 1));
        hend++;
    } else {
        hend = p + strcspn(p, ":/");
        if ((size_t)(hend - p) >= sizeof(l->host) || hend == p)
            goto bad;
        memcpy(l->host, p, (size_t)(hend - p));
    }
    if (strcmp(l->host, "localhost") == 0)
        strcpy(l->host, "127.0.0.1");
    if (*hend == ':') {
        char *end;
        long port = strtol(hend + 1, &end, 10);
        if (end == hend + 1 || port < 0 || port > 65535 || (*end && *end != '/'))
            goto bad;
        l->port = (int)port;
        hend = end;
    }
    if (*hend && strcmp(hend, "/") != 0 && strcmp(hend, "/wsman") != 0)
        goto bad;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, l->host, &a4) != 1 && inet_pton(AF_INET6, l->host, &a6) != 1)
        goto bad;
    snprintf(l->url, sizeof(l->url), "%s", url);
    l->loopback = is_loopback(l->host);
    cfg->nlisteners++;
    return WSM_OK;
bad:
    fprintf(stderr, "wsmd: bad listener URL (want http[s]://ADDRESS[:PORT][/wsman]): %s\n", url);
    return WSM_ERR_INVALID_ARG;
}

static int parse_bool(const char *v, int *out)
{
    if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes")) {
        *out = 1;
        return 0;
    }
    if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no")) {
        *out = 0;
        return 0;
    }
    return -1;
}

enum wsm_err wsmd__config_set(struct wsmd_config *cfg, const char *key, const char *value)
{
    char *end;
    if (!strcasecmp(key, "MaxEnvelopeSize") || !strcasecmp(key, "MaxEnvelopeSizekb")) {
        unsigned long v = strtoul(value, &end, 10);
        if (end == value || *end || v == 0 || v > 64UL * 1024 * 1024)
            return WSM_ERR_INVALID_ARG;
        cfg->max_envelope = !strcasecmp(key, "MaxEnvelopeSizekb") ? v * 1024 : v;
        return WSM_OK;
    }
    if (!strcasecmp(key, "AllowUnencrypted"))
        return parse_bool(value, &cfg->allow_unencrypted) ? WSM_ERR_INVALID_ARG : WSM_OK;
    if (!strcasecmp(key, "Listen"))
        return wsmd__config_add_listener(cfg, value);
    if (!strcasecmp(key, "Users") || !strcasecmp(key, "PamService")) {
        char *d = strdup(value);
        if (!d)
            return WSM_ERR_NOMEM;
        char **slot = !strcasecmp(key, "Users") ? &cfg->users_path : &cfg->pam_service;
        free(*slot);
        *slot = d;
        return WSM_OK;
    }
    if (!strcasecmp(key, "EnumerationTimeoutms")) {
        long v = strtol(value, &end, 10);
        if (end == value || *end || v < 100 || v > 2147483647L)
            return WSM_ERR_INVALID_ARG;
        cfg->enum_timeout_ms = v;
        return WSM_OK;
    }
    if (!strcasecmp(key, "MaxShellsPerUser") || !strcasecmp(key, "MaxProcessesPerShell") ||
        !strcasecmp(key, "IdleTimeout") || !strcasecmp(key, "MaxMemoryPerShellMB")) {
        long v = strtol(value, &end, 10);
        if (end == value || *end || v < 1 || v > 2147483647L)
            return WSM_ERR_INVALID_ARG;
        if (!strcasecmp(key, "MaxShellsPerUser"))
            cfg->max_shells_per_user = (unsigned)(v > 100000 ? 100000 : v);
        else if (!strcasecmp(key, "MaxProcessesPerShell"))
            cfg->max_processes_per_shell = (unsigned)(v > 100000 ? 100000 : v);
        else if (!strcasecmp(key, "IdleTimeout"))
            cfg->idle_timeout_ms = v < 1000 ? 1000 : v; /* ms, as winrs config */
        else
            cfg->max_memory_per_shell_mb = (unsigned)v;
        return WSM_OK;
    }
    if (!strcasecmp(key, "Threads") || !strcasecmp(key, "MaxConnections")) {
        long v = strtol(value, &end, 10);
        if (end == value || *end || v < 1 || v > 100000)
            return WSM_ERR_INVALID_ARG;
        if (!strcasecmp(key, "Threads"))
            cfg->threads = (int)(v > 64 ? 64 : v);
        else
            cfg->max_connections = (unsigned)v;
        return WSM_OK;
    }
    return WSM_ERR_INVALID_ARG;
}

enum wsm_err wsmd__config_load(struct wsmd_config *cfg, const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        fprintf(stderr, "wsmd: cannot open %s\n", path);
        return WSM_ERR_IO;
    }
    char line[1024];
    int lineno = 0;
    enum wsm_err e = WSM_OK;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *k = line;
        while (isspace((unsigned char)*k))
            k++;
        if (!*k)
            continue;
        char *eq = strchr(k, '=');
        if (!eq) {
            e = WSM_ERR_INVALID_ARG;
        } else {
            char *v = eq + 1;
            char *ke = eq;
            while (ke > k && isspace((unsigned char)ke[-1]))
                ke--;
            *ke = '\0';
            while (isspace((unsigned char)*v))
                v++;
            size_t vl = strlen(v);
            while (vl && isspace((unsigned char)v[vl - 1]))
                v[--vl] = '\0';
            e = wsmd__config_set(cfg, k, v);
        }
        if (e) {
            fprintf(stderr, "wsmd: %s:%d: invalid setting\n", path, lineno);
            break;
        }
    }
    fclose(f);
    return e;
}
