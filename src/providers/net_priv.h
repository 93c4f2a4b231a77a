/* Between the files of the network family: net.c (classes, get and
 * enumeration), netread.c (an interface from sysfs, gateways, resolv.conf)
 * and netfill.c (instances filled from what was read). */
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

int net__parse_uint(const char *s, int base, unsigned long long *out);
void net__nic_read(struct wsm_arena *a, unsigned index, const char *name, struct nic *n);
int net__is_loopback(const struct nic *n);
/* Interface names are what the kernel accepts (dev_valid_name): they are
 * put in sysfs paths, so a selector must not smuggle a "/" or "..". */
int net__valid_ifname(const char *s);
void net__iter_free(struct net_iter *s);
enum wsm_err net__iter_new(enum which which, int want_names, struct net_iter **out);
void net__fill(const struct net_iter *s, struct cim_instance *in, unsigned index, const char *name);

#endif
