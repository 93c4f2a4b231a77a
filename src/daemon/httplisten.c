/* HTTP front end, the listeners: one libmicrohttpd daemon per Listen
 * address (TLS through GnuTLS for HTTPS), the connection callbacks
 * (admission by the connection guard, Negotiate state per connection),
 * libmicrohttpd's log, and the front end's start, quiesce and stop. HTTPS
 * listeners differ only by the TLS layer and by allowing Basic on any
 * address. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "certauth.h"
#include "connguard.h"
#include "http_priv.h"
#include "log.h"
#include "negotiate.h"
#include "parkwatch.h"
#include "proxyproto.h"
#include "tlscert.h"

/* GnuTLS priorities of HTTPS listeners: TLS 1.2 and 1.3 only, our order.
 * With AES instructions AES-128-GCM goes first, as Mozilla's server guide
 * and Go's TLS order it: it is as safe here and about 1.75 times as fast as
 * AES-256-GCM, which GnuTLS lists first (openssl speed, 16 KB records: 3.5
 * against 2.0 GB/s), and shell output is most of what HTTPS carries.
 * Without them GnuTLS' own order (ChaCha20 before AES) stays. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE"
#define TLS_PRIORITIES_AES                                                                         \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:"            \
    "+CHACHA20-POLY1305:+AES-128-CCM:+AES-256-CCM:+AES-128-CBC:+AES-256-CBC:%SERVER_PRECEDENCE"
#define MHD_LOG_PER_SEC 10
/* libmicrohttpd's per-connection pool holds the request line and headers:
 * 48 KiB takes an Authorization header of some 40 KB (a Kerberos ticket
 * with a large PAC) with room for the rest. Above 32 KiB MHD maps the pool
 * (mmap), but it zeroes the whole pool after each request, so every
 * connection that has made one keeps all of it resident: this is most of
 * what an idle keep-alive connection costs (a connected event source: 48 KB,
 * bench/collect). */
#define WSMD_HTTP_POOL (48 * 1024)

static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    const struct wsmd_listener *l = cls;
    return wsmd__connguard_admit(l->srv->guard, addr, addrlen) ? MHD_YES : MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    const struct wsmd_listener *l = cls;
    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        /* Before libmicrohttpd closes the fd: the reaper must not touch it. */
        wsmd__connguard_close(l->srv->guard, c);
        if (l->https)
            wsmd__certauth_forget(l->srv->certauth, c); /* the certificate's verdict */
        /* The handshake and the keys die with the TCP connection. */
        wsmd__nego_conn_free(*socket_context);
        *socket_context = NULL;
        return;
    }
    if (toe != MHD_CONNECTION_NOTIFY_STARTED)
        return;
    if (l->srv->nego) {
        *socket_context = wsmd__nego_conn_new(l->srv->nego); /* NULL: no Negotiate here */
        if (l->https)
            wsmd__nego_conn_set_tls(*socket_context); /* channel binding */
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci) {
        int one = 1;
        /* Replies go out in one write; never wait for an ACK to send. */
        setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        const union MHD_ConnectionInfo *ai =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        wsmd__connguard_open(l->srv->guard, c, ci->connect_fd, ai ? ai->client_addr : NULL,
                             (unsigned)(l - l->srv->cfg.listeners));
    }
}

static const char *tls_priorities(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("aes") || !__builtin_cpu_supports("pclmul"))
        return TLS_PRIORITIES;
#endif
    return TLS_PRIORITIES_AES;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    /* A peer that goes away, or that the connection guard shut down, is
     * no error of ours; one line per such connection would let anyone
     * write the log at the rate they open connections. */
    if (!strncmp(msg, "Connection socket is closed", 27) ||
        !strncmp(msg, "Connection was closed by remote side", 36))
        return;
    /* Whatever else libmicrohttpd says (a full connection table: one line
     * per refused connection) is kept to MHD_LOG_PER_SEC lines a second. */
    static struct wsmd_lograte rate = WSMD_LOGRATE_INIT;
    wsmd__log_limited(&rate, MHD_LOG_PER_SEC, "event=http-error message=\"%s\"", msg);
}

/* Starts one listener: on its address, or on the socket the privsep monitor
 * bound (l->has_lfd). Also for a listener created over WS-Management
 * (cfglisten.c), while the others serve. */
enum wsm_err wsmd__http_listener_start(struct wsmd_server *srv, struct wsmd_listener *l)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                     MHD_USE_ITC; /* MHD_quiesce_daemon: a listener deleted live */
    if (strchr(l->host, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((unsigned short)l->port);
        if (inet_pton(AF_INET6, l->host, &s6->sin6_addr) != 1)
            return WSM_ERR_INVALID_ARG;
        flags |= MHD_USE_IPv6;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((unsigned short)l->port);
        if (inet_pton(AF_INET, l->host, &s4->sin_addr) != 1)
            return WSM_ERR_INVALID_ARG;
    }
    /* TLS through libmicrohttpd's GnuTLS; only TLS 1.2 and 1.3. The
     * request path after the handshake is the same as for HTTP. */
    /* The certificate through a callback where libmicrohttpd has one,
     * so that SIGHUP can replace it (tlscert.h). */
    int live = l->https && wsmd__tlscert_live();
    struct MHD_OptionItem tls[] = {
        {live ? MHD_OPTION_HTTPS_CERT_CALLBACK : MHD_OPTION_HTTPS_MEM_CERT, 0,
         live ? wsmd__tlscert_callback() : srv->cfg.tls_cert_pem},
        {live ? MHD_OPTION_HTTPS_PRIORITIES : MHD_OPTION_HTTPS_MEM_KEY, 0,
         live ? (void *)tls_priorities() : srv->cfg.tls_key_pem},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)tls_priorities()},
        /* ClientCAFile: ask for (not require) a client certificate. */
        {srv->certauth ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0,
         (void *)wsmd__certauth_ca_pem(srv->certauth)},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_OptionItem plain[] = {{MHD_OPTION_END, 0, NULL}};
    /* The address, or the socket the privsep monitor bound. */
    struct MHD_OptionItem bind[] = {
        {l->has_lfd ? MHD_OPTION_LISTEN_SOCKET : MHD_OPTION_SOCK_ADDR, l->has_lfd ? l->lfd : 0,
         l->has_lfd ? NULL : (void *)&ss},
        {MHD_OPTION_END, 0, NULL},
    };
    if (l->https) {
        if (!srv->cfg.tls_cert_pem || !srv->cfg.tls_key_pem)
            return WSM_ERR_INVALID_ARG; /* wsmd__config_load_tls was not called */
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            wsmd__log("event=error message=\"libmicrohttpd was built without TLS\"");
            return WSM_ERR_UNSUPPORTED_FEATURE;
        }
        flags |= MHD_USE_TLS;
        char why[300];
        if (live && !wsmd__tlscert_ready() &&
            wsmd__tlscert_set(srv->cfg.tls_cert_pem, srv->cfg.tls_key_pem, why, sizeof(why)) !=
                WSM_OK) {
            wsmd__log("event=error message=\"%s\"", why);
            return WSM_ERR_INVALID_ARG;
        }
    }
    /* ProxyProtocol: our thread accepts and reads the header first
     * (proxyaccept.c); libmicrohttpd gets the connections from it. */
    l->proxy = wsmd__proxy_enabled(srv->cfg.proxy_protocol, l);
    if (l->proxy)
        flags |= MHD_USE_NO_LISTEN_SOCKET;
    if (!l->has_lfd) {
        /* Bound here rather than by libmicrohttpd: its error does not say
         * which address failed, ours does. */
        char why[300];
        if (wsmd__bind_listener(l, why, sizeof(why)) != 0) {
            fprintf(stderr, "wsmd: %s\n", why);
            return WSM_ERR_IO;
        }
        bind[0].option = MHD_OPTION_LISTEN_SOCKET;
        bind[0].value = l->lfd;
        bind[0].ptr_value = NULL;
    }
    if (l->proxy)
        bind[0].option = MHD_OPTION_END;
    l->srv = srv;
    l->mhd = MHD_start_daemon(
        flags, 0, accept_policy, l, wsmd__http_on_request, l, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
        NULL, MHD_OPTION_ARRAY, l->https ? tls : plain, MHD_OPTION_ARRAY, bind,
        MHD_OPTION_NOTIFY_COMPLETED, wsmd__http_on_completed, l, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, l, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)srv->cfg.threads,
        MHD_OPTION_CONNECTION_LIMIT, srv->cfg.max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)(WSMD_IDLE_TIMEOUT_MS / 1000),
        /* Headers of WinRM clients take a few KB, Kerberos tickets with a
         * PAC tens of KB (WSMD_HTTP_POOL); MHD clears the pool per request. */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)WSMD_HTTP_POOL, MHD_OPTION_END);
    if (!l->mhd) {
        if (l->has_lfd)
            close(l->lfd); /* this process's copy (the privsep monitor keeps its own) */
        l->has_lfd = 0;
        return WSM_ERR_IO;
    }
    if (l->proxy) {
        struct sockaddr_storage bound;
        socklen_t blen = sizeof(bound);
        if (getsockname(l->lfd, (struct sockaddr *)&bound, &blen) == 0)
            l->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                        : ((struct sockaddr_in *)&bound)->sin_port);
        if (wsmd__proxy_acceptor_start(srv, l, &l->pa) != WSM_OK) {
            MHD_stop_daemon(l->mhd);
            l->mhd = NULL;
            close(l->lfd);
            l->has_lfd = 0;
            return WSM_ERR_IO;
        }
    } else {
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_BIND_PORT);
        if (di && di->port)
            l->port = di->port;
    }
    wsmd__log("%s on %s://%s%s%s:%d%s%s", l->metrics ? "metrics" : "listening",
              l->https ? "https" : "http", strchr(l->host, ':') ? "[" : "", l->host,
              strchr(l->host, ':') ? "]" : "", l->port, l->metrics ? "/metrics" : "/wsman",
              l->proxy ? " proxy_protocol=true" : "");
    if (!l->metrics && !l->loopback && !l->https && !srv->cfg.allow_unencrypted)
        wsmd__log("event=notice message=\"Basic authentication is refused on %s: plain "
                  "HTTP on a non-loopback address\"",
                  l->url);
    return WSM_OK;
}

/* A listener deleted live: it accepts no new connection from now on; those
 * it has go on until they close. Returns the listening socket (the caller
 * closes it), or -1. */
int wsmd__http_listener_quiesce(struct wsmd_listener *l)
{
    if (l->pa) {
        int fd = wsmd__proxy_acceptor_stop(l->pa);
        l->pa = NULL;
        return fd;
    }
    return l->mhd ? (int)MHD_quiesce_daemon(l->mhd) : -1;
}

/* Connections still open on a quiesced listener (0: it may be stopped). */
unsigned wsmd__http_listener_connections(struct wsmd_listener *l)
{
    const union MHD_DaemonInfo *di =
        l->mhd ? MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS) : NULL;
    return di ? di->num_connections : 0;
}

enum wsm_err wsmd__http_start(struct wsmd_server *srv)
{
    srv->parked = calloc(1, sizeof(*srv->parked));
    if (!srv->parked)
        return WSM_ERR_NOMEM;
    pthread_mutex_init(&srv->parked->lock, NULL);
    wsmd__connguard_size(&srv->cfg);
    if (wsmd__connguard_new(&srv->cfg, &srv->guard) != WSM_OK)
        return WSM_ERR_NOMEM;
    if (wsmd__parkwatch_start(wsmd__http_park_gone, srv, &srv->parked->watch) != WSM_OK)
        return WSM_ERR_INTERNAL;
    for (size_t i = 0; i < srv->cfg.nlisteners; i++) {
        enum wsm_err e = wsmd__http_listener_start(srv, &srv->cfg.listeners[i]);
        if (e)
            return e;
    }
    return WSM_OK;
}

void wsmd__http_stop(struct wsmd_server *srv)
{
    if (srv->parked) {
        /* First: it must not resume connections of a stopping daemon. */
        pthread_mutex_lock(&srv->parked->lock);
        struct wsmd_parkwatch *w = srv->parked->watch;
        srv->parked->watch = NULL;
        pthread_mutex_unlock(&srv->parked->lock);
        wsmd__parkwatch_stop(w);
    }
    for (size_t i = 0; i < srv->cfg.nlisteners; i++) {
        struct wsmd_listener *l = &srv->cfg.listeners[i];
        if (l->pa) {
            /* Its listening socket is ours, not libmicrohttpd's. */
            int fd = wsmd__proxy_acceptor_stop(l->pa);
            l->pa = NULL;
            if (fd >= 0)
                close(fd);
        }
        if (srv->cfg.listeners[i].mhd) {
            MHD_stop_daemon(srv->cfg.listeners[i].mhd);
            srv->cfg.listeners[i].mhd = NULL;
        }
    }
    wsmd__connguard_free(srv->guard); /* every connection is closed now */
    srv->guard = NULL;
    if (srv->parked) {
        pthread_mutex_destroy(&srv->parked->lock);
        free(srv->parked);
        srv->parked = NULL;
    }
}
