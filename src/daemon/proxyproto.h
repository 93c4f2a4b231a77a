/* The PROXY protocol (HAProxy's, versions 1 and 2): the header a TCP proxy
 * sends before the client's bytes, naming the client's address. The parser
 * (proxyproto.c) and the acceptor that reads it before libmicrohttpd sees
 * the connection (proxyaccept.c). See docs/internals/connections.md. */
#ifndef WSMD_PROXYPROTO_H
#define WSMD_PROXYPROTO_H

#include <stddef.h>
#include <sys/socket.h>

#include "wsm/wsm.h"

/* Version 1: one line of at most 107 bytes, CR LF included. */
#define WSMD_PROXY_V1_MAX 107
/* Version 2: 16 bytes and the length they give. Addresses take at most 216
 * bytes (AF_UNIX); TLVs (ALPN, authority, a cloud's endpoint id) come after.
 * A header longer than this is refused rather than read. */
#define WSMD_PROXY_V2_MAX 1024

enum wsmd_proxy_res {
    WSMD_PROXY_MORE = 0, /* a prefix of a valid header: read more */
    WSMD_PROXY_OK = 1,   /* a complete header, described in the result */
    WSMD_PROXY_BAD = -1, /* not a PROXY header, or an invalid one */
};

struct wsmd_proxy_hdr {
    size_t len;   /* bytes the header takes: the client's own bytes follow */
    int version;  /* 1 or 2 */
    int has_addr; /* 0: LOCAL (v2) or UNKNOWN (v1), or a family other than
                     TCP over IPv4/IPv6: keep the peer's address */
    struct sockaddr_storage src;
    socklen_t src_len;
};

/* Reads the header at the start of buf[0..n). Never reads past n, nor past
 * the size bounds above (a longer header is WSMD_PROXY_BAD, whatever
 * follows). */
enum wsmd_proxy_res wsmd__proxy_parse(const unsigned char *buf, size_t n,
                                      struct wsmd_proxy_hdr *out);

/* 1 when buf[0..n) starts like a PROXY header of either version (n >= 6 for
 * "PROXY ", or 12 for the v2 signature; a shorter prefix also counts). For
 * refusing one on a listener that does not enable the protocol. */
int wsmd__proxy_looks_like(const unsigned char *buf, size_t n);

struct wsmd_listener;
struct wsmd_server;
/* A listener with ProxyProtocol: its own thread accepts on l->lfd, reads
 * each connection's header within the deadline, and hands the connection to
 * l->mhd (started with MHD_USE_NO_LISTEN_SOCKET) with the client's address. */
struct wsmd_proxy_acceptor;
enum wsm_err wsmd__proxy_acceptor_start(struct wsmd_server *srv, struct wsmd_listener *l,
                                        struct wsmd_proxy_acceptor **out);
/* Stops accepting and closes the connections still waiting for a header.
 * Returns the listening socket, which stays open (the caller closes it). */
int wsmd__proxy_acceptor_stop(struct wsmd_proxy_acceptor *a);

/* Whether ProxyProtocol's value (NULL: not set) enables it on l. */
int wsmd__proxy_enabled(const char *value, const struct wsmd_listener *l);
/* Whether value is valid for ProxyProtocol: a boolean, or listener URLs
 * separated by spaces or commas. */
int wsmd__proxy_value_ok(const char *value);

#endif
