/* The collector's configuration keys (docs/collector.md):
 *   Subscriptions = DIR   subscription files (wecutil's XML); turns the
 *                         collector on
 *   EventLogDir = DIR     the file outputs (default /var/log/wsmd)
 *   StateDir = DIR        the state database (default /var/lib/wsmd, or
 *                         ~/.local/state/wsmd when not root)
 *   SyslogTarget = unix:/path | udp://host:port | tcp://host:port
 *   NatsOutput = nats://HOST:PORT [subject=T] [stream=S] [window=SEC] [timeout=MS]
 *                         every event also to NATS JetStream (natsout.h)
 *   MetricsListen = http://ADDRESS:PORT   Prometheus' /metrics (no login:
 *                         bind it where only the scraper reaches)
 *   StateDatabase = postgresql://USER@HOST:PORT/DBNAME   the state (and the
 *                         subscriptions) in PostgreSQL, shared by several
 *                         nodes (state_pg.c); default: SQLite in StateDir
 *   CollectorAddress = HOST[:PORT]   the address NotifyTo names (a load
 *                         balancer's); default: the Host the source used */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "colconfig.h"
#include "config.h"
#ifdef WSMD_HAVE_NATS
#include "natsout.h"
#endif
#include "server.h"

static int path_ok(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > 1024)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            return 0;
    return 1;
}

static int target_ok(const char *v)
{
    if (!path_ok(v))
        return 0;
    if (!strncmp(v, "unix:", 5))
        return v[5] == '/';
    if (strncmp(v, "udp://", 6) != 0 && strncmp(v, "tcp://", 6) != 0)
        return 0;
    const char *colon = strrchr(v + 6, ':');
    if (!colon || colon == v + 6)
        return 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    return !*end && port > 0 && port < 65536;
}

/* HOST[:PORT] (a name, an IPv4 address or a [v6] literal): it is written
 * into every NotifyTo URL, so nothing that could leave the authority. */
static int address_ok(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > 255)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = v[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '-' || ch == ':' || ch == '[' || ch == ']' || ch == '_'))
            return 0;
    }
    const char *colon = v[0] == '[' ? strstr(v, "]:") : strchr(v, ':');
    if (v[0] == '[' && !strchr(v, ']'))
        return 0;
    if (colon && v[0] == '[')
        colon++;
    if (colon && v[0] != '[' && strchr(colon + 1, ':'))
        return 0; /* a bare IPv6 address: it needs its brackets in a URL */
    if (colon) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (*end || colon[1] == '\0' || port <= 0 || port > 65535)
            return 0;
    }
    return 1;
}

enum wsm_err wsmd__colconfig_set(struct wsmd_config *cfg, const char *key, const char *value)
{
    char **slot = !strcasecmp(key, "Subscriptions")      ? &cfg->subscriptions_dir
                  : !strcasecmp(key, "EventLogDir")      ? &cfg->event_log_dir
                  : !strcasecmp(key, "StateDir")         ? &cfg->state_dir
                  : !strcasecmp(key, "SyslogTarget")     ? &cfg->syslog_target
                  : !strcasecmp(key, "NatsOutput")       ? &cfg->nats_output
                  : !strcasecmp(key, "MetricsListen")    ? &cfg->metrics_listen
                  : !strcasecmp(key, "StateDatabase")    ? &cfg->state_database
                  : !strcasecmp(key, "CollectorAddress") ? &cfg->collector_address
                                                         : NULL;
    if (!slot)
        return WSM_ERR_NOT_FOUND;
    if (slot == &cfg->syslog_target ? !target_ok(value) : !path_ok(value))
        return WSM_ERR_INVALID_ARG;
#ifdef WSMD_HAVE_NATS
    if (slot == &cfg->nats_output && !wsmd__nats_spec_ok(value))
        return WSM_ERR_INVALID_ARG;
#else
    if (slot == &cfg->nats_output)
        return WSM_ERR_UNSUPPORTED_FEATURE; /* built without libnats */
#endif
    if (slot == &cfg->metrics_listen && strncasecmp(value, "http://", 7) != 0)
        return WSM_ERR_INVALID_ARG; /* a plain listener (see docs/collector.md) */
    /* libpq reads both URI forms; a key=value string is refused here so
     * that the key says what it holds. */
    if (slot == &cfg->state_database && strncmp(value, "postgresql://", 13) != 0 &&
        strncmp(value, "postgres://", 11) != 0)
        return WSM_ERR_INVALID_ARG;
    if (slot == &cfg->collector_address && !address_ok(value))
        return WSM_ERR_INVALID_ARG;
    char *d = strdup(value);
    if (!d)
        return WSM_ERR_NOMEM;
    free(*slot);
    *slot = d;
    return WSM_OK;
}

enum wsm_err wsmd__colconfig_finish(struct wsmd_config *cfg)
{
    if (!cfg->subscriptions_dir)
        return WSM_OK;
    if (cfg->metrics_listen) {
        /* After every WinRM listener (the default one included). */
        if (wsmd__config_add_listener(cfg, cfg->metrics_listen) != WSM_OK)
            return WSM_ERR_INVALID_ARG;
        cfg->listeners[cfg->nlisteners - 1].metrics = 1;
    }
    if (!cfg->event_log_dir && !(cfg->event_log_dir = strdup("/var/log/wsmd")))
        return WSM_ERR_NOMEM;
    return wsmd__colconfig_default_state_dir(cfg);
}

enum wsm_err wsmd__colconfig_default_state_dir(struct wsmd_config *cfg)
{
    if (cfg->state_dir)
        return WSM_OK;
    char path[4096];
    const char *home = getenv("HOME");
    if (geteuid() == 0)
        snprintf(path, sizeof(path), "/var/lib/wsmd");
    else
        snprintf(path, sizeof(path), "%s/.local/state/wsmd", home && *home ? home : ".");
    return (cfg->state_dir = strdup(path)) ? WSM_OK : WSM_ERR_NOMEM;
}

void wsmd__colconfig_clear(struct wsmd_config *cfg)
{
    free(cfg->subscriptions_dir);
    free(cfg->event_log_dir);
    free(cfg->state_dir);
    free(cfg->syslog_target);
    free(cfg->nats_output);
    cfg->nats_output = NULL;
    free(cfg->metrics_listen);
    free(cfg->state_database);
    free(cfg->collector_address);
    cfg->state_database = cfg->collector_address = NULL;
    free(cfg->state_dir_open);
    free(cfg->event_log_dir_open);
    free(cfg->subscriptions_dir_open);
    cfg->metrics_listen = cfg->state_dir_open = cfg->event_log_dir_open = NULL;
    cfg->subscriptions_dir_open = NULL;
    cfg->subscriptions_dir = cfg->event_log_dir = cfg->state_dir = cfg->syslog_target = NULL;
}
