/* Private to the network provider family (cim_family_net): what net.c
 * (the interfaces, the class operations and the class list),
 * net_adapter.c (Win32_NetworkAdapter's and CIM_NetworkPort's values) and
 * net_config.c (Win32_NetworkAdapterConfiguration's addresses, gateways,
 * resolvers and TCP/IP settings) share, with the net__ prefix. */
#ifndef WSMD_PROVIDERS_NET_PRIV_H
#define WSMD_PROVIDERS_NET_PRIV_H

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdint.h>

#include "cim.h"

#define MAX_GATEWAYS 64
#define MAX_NAMESERVERS 16
#define MAX_SEARCH 16
#define RESOLV_CAP (64 * 1024)

enum link {
    LINK_UNKNOWN,
    LINK_ADMIN_DOWN, /* ip link set down */
    LINK_UP,
    LINK_NO_CARRIER, /* up, but no link (cable out, no peer) */
    LINK_DORMANT,    /* waiting for an external event (802.1X) */
    LINK_NOT_PRESENT,
};

struct nic {
    unsigned index;
    char name[IF_NAMESIZE];
    int have_flags;
    unsigned flags;
    int have_type;
    unsigned type; /* ARPHRD_* */
    char mac[18];  /* "AA:BB:CC:DD:EE:FF", "" if none */
    char mac_plain[13];
    int perm_addr; /* addr_assign_type says the address is the burned-in one */
    int have_speed;
    uint64_t speed; /* bits/s */
    int have_mtu;
    unsigned mtu;
    int physical;
    char driver[256];
    int duplex; /* 1 full, 0 half, -1 unknown */
    enum link link;
};

struct gateway {
    char ifname[IF_NAMESIZE];
    char addr[INET6_ADDRSTRLEN];
};

enum which { W32_ADAPTER, W32_CONFIG, DMTF_PORT };

struct net_iter {
    enum which which;
    struct if_nameindex *names; /* sorted by index */
    size_t count, pos;
    char host[65];
    /* W32_CONFIG only */
    struct ifaddrs *ifa;
    struct gateway gw[MAX_GATEWAYS];
    size_t ngw;
    char *ns[MAX_NAMESERVERS];
    size_t nns;
    char *search[MAX_SEARCH];
    size_t nsearch;
    char *domain;
    char *resolv; /* the text ns, search and domain point into */
};

/* Win32_NetworkAdapterConfiguration's properties (net_config.c). */
#define NET_NCONFIG_PROPS 61
extern const struct cim_prop net__config_props[];

int net__is_loopback(const struct nic *n);
/* Caption "[%08u] name", as Windows formats it. */
void net__set_caption(struct cim_instance *in, const struct nic *n);
/* The default gateways of /proc/net/route and ipv6_route, into s. */
void net__load_gateways(struct net_iter *s);
/* The nameservers, search list and domain of /etc/resolv.conf, into s. */
void net__load_resolv(struct net_iter *s);
void net__fill_config(struct cim_instance *in, const struct nic *n, const struct net_iter *s);
/* Win32_NetworkAdapter's and CIM_NetworkPort's values for n (net_adapter.c). */
void net__fill_adapter(struct cim_instance *in, const struct nic *n, const char *host);
void net__fill_port(struct cim_instance *in, const struct nic *n, const char *host);

#endif
