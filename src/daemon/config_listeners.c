/* The configuration's listeners: a listener URL (--listen, Listen =) to a
 * struct wsmd_listener, and at startup the https listener's certificate and
 * key (CertificateFile, KeyFile; docs/internals/https.md). Separate from
 * config.c, which reads keys and values, because these are what a listener
 * needs before wsmd binds it, not a setting's syntax. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "log.h"
#include "tlscert.h"

static enum wsm_err load_tls(struct wsmd_config *cfg, const struct wsmd_listener *https);

enum wsm_err wsmd__config_load_tls(struct wsmd_config *cfg)
{
    const struct wsmd_listener *https = NULL;
    for (size_t i = 0; i < cfg->nlisteners && !https; i++)
        if (cfg->listeners[i].https)
            https = &cfg->listeners[i];
    if (https)
        return load_tls(cfg, https);
    /* No https listener yet, but one may be created over WS-Management
     * (cfglisten.c): with both paths given the pair is read now, as root;
     * a bad pair is then a notice, not a reason to stop. */
    if (!cfg->tls_cert_path || !cfg->tls_key_path || load_tls(cfg, NULL) == WSM_OK)
        return WSM_OK;
    wsmd__log("event=notice message=\"CertificateFile/KeyFile unusable: no https listener can "
              "be created\"");
    free(cfg->tls_cert_pem);
    if (cfg->tls_key_pem)
        explicit_bzero(cfg->tls_key_pem, strlen(cfg->tls_key_pem));
    free(cfg->tls_key_pem);
    cfg->tls_cert_pem = cfg->tls_key_pem = NULL;
    return WSM_OK;
}

static enum wsm_err load_tls(struct wsmd_config *cfg, const struct wsmd_listener *https)
{
    if (!cfg->tls_cert_path || !cfg->tls_key_path) {
        fprintf(stderr,
                "wsmd: the https listener %s needs a certificate and its private key: "
                "--tls-cert FILE --tls-key FILE (CertificateFile, KeyFile in the config file)\n",
                https->url);
        return WSM_ERR_INVALID_ARG;
    }
    char why[600];
    enum wsm_err e = wsmd__tlscert_load("TLS ", cfg->tls_cert_path, cfg->tls_key_path,
                                        &cfg->tls_cert_pem, &cfg->tls_key_pem, why, sizeof(why));
    if (e)
        fprintf(stderr, "wsmd: %s\n", why);
    return e;
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
        l->port = WSMD_DEFAULT_HTTP_PORT;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        p = url + 8;
        l->https = 1;
        l->port = WSMD_DEFAULT_HTTPS_PORT;
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
