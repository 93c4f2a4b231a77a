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
 *                         bind it where only the scraper reaches) */
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

enum wsm_err wsmd__colconfig_set(struct wsmd_config *cfg, const char *key, const char *value)
{
    char **slot = !strcasecmp(key, "Subscriptions")   ? &cfg->subscriptions_dir
                  : !strcasecmp(key, "EventLogDir")   ? &cfg->event_log_dir
                  : !strcasecmp(key, "StateDir")      ? &cfg->state_dir
                  : !strcasecmp(key, "SyslogTarget")  ? &cfg->syslog_target
                  : !strcasecmp(key, "NatsOutput")    ? &cfg->nats_output
                  : !strcasecmp(key, "MetricsListen") ? &cfg->metrics_listen
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
    if (!cfg->state_dir) {
        char path[4096];
        const char *home = getenv("HOME");
        if (geteuid() == 0)
            snprintf(path, sizeof(path), "/var/lib/wsmd");
        else
            snprintf(path, sizeof(path), "%s/.local/state/wsmd", home && *home ? home : ".");
        if (!(cfg->state_dir = strdup(path)))
            return WSM_ERR_NOMEM;
    }
    return WSM_OK;
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
    free(cfg->state_dir_open);
    free(cfg->event_log_dir_open);
    free(cfg->subscriptions_dir_open);
    cfg->metrics_listen = cfg->state_dir_open = cfg->event_log_dir_open = NULL;
    cfg->subscriptions_dir_open = NULL;
    cfg->subscriptions_dir = cfg->event_log_dir = cfg->state_dir = cfg->syslog_target = NULL;
}
