/* The network family, filling: Win32_NetworkAdapter,
 * Win32_NetworkAdapterConfiguration (addresses, gateways, DNS) and
 * CIM_NetworkPort instances from what netread.c read. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cim.h"
#include "net_priv.h"

/* ---- filling instances ---------------------------------------------- */

/* Win32 AdapterType / AdapterTypeID for an ARPHRD type (NULL: none fits).
 * Windows shows Wi-Fi as Ethernet 802.3 too. */
static const char *adapter_type(const struct nic *n, unsigned *id)
{
    if (!n->have_type)
        return NULL;
    switch (n->type) {
    case ARPHRD_ETHER:
        *id = 0;
        return "Ethernet 802.3";
    case ARPHRD_IEEE802_TR:
        *id = 1;
        return "Token Ring 802.5";
    case ARPHRD_FDDI:
        *id = 2;
        return "Fiber Distributed Data Interface (FDDI)";
    case ARPHRD_PPP:
        *id = 3;
        return "Wide Area Network (WAN)";
    case ARPHRD_ARCNET:
        *id = 6;
        return "ARCNET";
    case ARPHRD_ATM:
        *id = 8;
        return "ATM";
    case ARPHRD_IEEE1394:
        *id = 13;
        return "1394";
    default:
        return NULL;
    }
}

static void set_caption(struct cim_instance *in, const struct nic *n)
{
    /* Windows: "[00000007] Intel(R) PRO/1000 MT Network Connection". */
    cim_set_fmt(in, "Caption", "[%08u] %s", n->index, n->name);
    cim_set_str(in, "Description", n->name);
}

static void fill_adapter(struct cim_instance *in, const struct nic *n, const char *host)
{
    cim_set_fmt(in, "DeviceID", "%u", n->index);
    cim_set_u64(in, "Index", n->index);
    cim_set_u64(in, "InterfaceIndex", n->index);
    cim_set_str(in, "Name", n->name);
    cim_set_str(in, "NetConnectionID", n->name);
    set_caption(in, n);
    if (n->driver[0])
        cim_set_str(in, "ServiceName", n->driver);
    cim_set_str(in, "CreationClassName", "Win32_NetworkAdapter");
    cim_set_str(in, "SystemCreationClassName", "Win32_ComputerSystem");
    cim_set_str(in, "SystemName", host);
    if (n->mac[0])
        cim_set_str(in, "MACAddress", n->mac);
    unsigned id = 0;
    const char *t = adapter_type(n, &id);
    if (t) {
        cim_set_str(in, "AdapterType", t);
        cim_set_u64(in, "AdapterTypeID", id);
    }
    if (n->have_speed)
        cim_set_u64(in, "Speed", n->speed);
    if (n->have_flags)
        cim_set_bool(in, "NetEnabled", (n->flags & IFF_UP) != 0);
    switch (n->link) {
    case LINK_ADMIN_DOWN:
        cim_set_u64(in, "NetConnectionStatus", 0); /* Disconnected */
        break;
    case LINK_UP:
        cim_set_u64(in, "NetConnectionStatus", 2); /* Connected */
        break;
    case LINK_NO_CARRIER:
        cim_set_u64(in, "NetConnectionStatus", 7); /* Media disconnected */
        break;
    case LINK_DORMANT:
        cim_set_u64(in, "NetConnectionStatus", 8); /* Authenticating */
        break;
    case LINK_NOT_PRESENT:
        cim_set_u64(in, "NetConnectionStatus", 4); /* Hardware not present */
        break;
    case LINK_UNKNOWN:
        break;
    }
    cim_set_bool(in, "PhysicalAdapter", n->physical);
}

/* The interface an address belongs to: getifaddrs names IPv4 addresses
 * by their label ("eth0:1"); ':' cannot occur in interface names. */
static int ifa_is(const struct ifaddrs *a, const char *name)
{
    size_t n = strlen(name);
    return !strncmp(a->ifa_name, name, n) && (a->ifa_name[n] == '\0' || a->ifa_name[n] == ':');
}

static unsigned prefix_len(const unsigned char *m, size_t n)
{
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++)
        for (unsigned char b = m[i]; b & 0x80; b = (unsigned char)(b << 1))
            bits++;
    return bits;
}

/* IPAddress and IPSubnet, IPv4 first then IPv6, as Windows lists them:
 * a dotted mask for IPv4, the prefix length for IPv6. Returns the count. */
static size_t set_addresses(struct cim_instance *in, const struct net_iter *s, const struct nic *n)
{
    size_t cnt = 0;
    for (const struct ifaddrs *a = s->ifa; a; a = a->ifa_next)
        if (a->ifa_addr && ifa_is(a, n->name) &&
            (a->ifa_addr->sa_family == AF_INET || a->ifa_addr->sa_family == AF_INET6))
            cnt++;
    if (!cnt)
        return 0;
    char *text = malloc(cnt * 2 * INET6_ADDRSTRLEN);
    const char **addr = malloc(cnt * sizeof(*addr)), **mask = malloc(cnt * sizeof(*mask));
    size_t k = 0;
    for (int pass = 0; text && addr && mask && pass < 2; pass++) {
        int fam = pass == 0 ? AF_INET : AF_INET6;
        for (const struct ifaddrs *a = s->ifa; a && k < cnt; a = a->ifa_next) {
            if (!a->ifa_addr || !ifa_is(a, n->name) || a->ifa_addr->sa_family != fam)
                continue;
            char *at = text + k * 2 * INET6_ADDRSTRLEN, *mt = at + INET6_ADDRSTRLEN;
            const void *ap, *mp = NULL;
            size_t mlen;
            if (fam == AF_INET) {
                ap = &((const struct sockaddr_in *)(const void *)a->ifa_addr)->sin_addr;
                if (a->ifa_netmask)
                    mp = &((const struct sockaddr_in *)(const void *)a->ifa_netmask)->sin_addr;
                mlen = 4;
            } else {
                ap = &((const struct sockaddr_in6 *)(const void *)a->ifa_addr)->sin6_addr;
                if (a->ifa_netmask)
                    mp = &((const struct sockaddr_in6 *)(const void *)a->ifa_netmask)->sin6_addr;
                mlen = 16;
            }
            if (!inet_ntop(fam, ap, at, INET6_ADDRSTRLEN))
                continue;
            if (!mp)
                snprintf(mt, INET6_ADDRSTRLEN, "%s", fam == AF_INET ? "0.0.0.0" : "0");
            else if (fam == AF_INET)
                inet_ntop(AF_INET, mp, mt, INET6_ADDRSTRLEN);
            else
                snprintf(mt, INET6_ADDRSTRLEN, "%u", prefix_len(mp, mlen));
            addr[k] = at;
            mask[k] = mt;
            k++;
        }
    }
    if (k) {
        cim_set_strv(in, "IPAddress", addr, k);
        cim_set_strv(in, "IPSubnet", mask, k);
    }
    free(text);
    free(addr);
    free(mask);
    return k;
}

static void fill_config(struct cim_instance *in, const struct nic *n, const struct net_iter *s)
{
    cim_set_u64(in, "Index", n->index);
    cim_set_u64(in, "InterfaceIndex", n->index);
    set_caption(in, n);
    cim_set_str(in, "SettingID", n->name);
    if (n->driver[0])
        cim_set_str(in, "ServiceName", n->driver);
    if (n->mac[0])
        cim_set_str(in, "MACAddress", n->mac);
    if (n->have_mtu)
        cim_set_u64(in, "MTU", n->mtu);
    size_t naddr = set_addresses(in, s, n);
    cim_set_bool(in, "IPEnabled", naddr > 0);

    const char *gw[MAX_GATEWAYS];
    size_t ngw = 0;
    for (size_t i = 0; i < s->ngw; i++)
        if (!strcmp(s->gw[i].ifname, n->name))
            gw[ngw++] = s->gw[i].addr;
    if (ngw)
        cim_set_strv(in, "DefaultIPGateway", gw, ngw);

    /* systemd-networkd keeps a lease file per DHCP interface; other
     * managers leave no trace we can read cheaply: unknown (NULL). */
    char path[64];
    struct stat st;
    snprintf(path, sizeof(path), "/run/systemd/netif/leases/%u", n->index);
    if (stat(path, &st) == 0)
        cim_set_bool(in, "DHCPEnabled", 1);

    /* resolv.conf is system-wide: given to each interface that has an
     * address, except loopback (Windows has no loopback adapter here). */
    if (naddr && !net__is_loopback(n)) {
        cim_set_str(in, "DNSHostName", s->host);
        if (s->domain)
            cim_set_str(in, "DNSDomain", s->domain);
        if (s->nsearch)
            cim_set_strv(in, "DNSDomainSuffixSearchOrder", (const char *const *)s->search,
                         s->nsearch);
        if (s->nns)
            cim_set_strv(in, "DNSServerSearchOrder", (const char *const *)s->ns, s->nns);
    }
}

/* DMTF LinkTechnology (CIM_NetworkPort) for an ARPHRD type. */
static unsigned link_technology(const struct nic *n, const char **other)
{
    *other = NULL;
    if (!n->have_type)
        return 0; /* Unknown */
    char path[96];
    switch (n->type) {
    case ARPHRD_ETHER:
        snprintf(path, sizeof(path), "/sys/class/net/%s/wireless", n->name);
        if (access(path, F_OK) == 0)
            return 11; /* Wireless LAN */
        snprintf(path, sizeof(path), "/sys/class/net/%s/phy80211", n->name);
        return access(path, F_OK) == 0 ? 11 : 2; /* Ethernet */
    case ARPHRD_INFINIBAND:
        return 3;
    case ARPHRD_FCPP:
    case ARPHRD_FCAL:
    case ARPHRD_FCPL:
    case ARPHRD_FCFABRIC:
        return 4;
    case ARPHRD_FDDI:
        return 5;
    case ARPHRD_ATM:
        return 6;
    case ARPHRD_IEEE802_TR:
        return 7;
    case ARPHRD_DLCI:
    case ARPHRD_FRAD:
        return 8;
    case ARPHRD_IRDA:
        return 9;
    case ARPHRD_LOOPBACK:
        *other = "Loopback";
        return 1;
    case ARPHRD_PPP:
        *other = "PPP";
        return 1;
    default:
        return 1; /* Other */
    }
}

static void fill_port(struct cim_instance *in, const struct nic *n, const char *host)
{
    cim_set_str(in, "SystemCreationClassName", "CIM_ComputerSystem");
    cim_set_str(in, "SystemName", host);
    cim_set_str(in, "CreationClassName", "CIM_NetworkPort");
    cim_set_str(in, "DeviceID", n->name);
    cim_set_str(in, "Name", n->name);
    cim_set_str(in, "ElementName", n->name);
    cim_set_str(in, "Caption", n->name);
    if (n->mac_plain[0]) {
        const char *addrs[1] = {n->mac_plain};
        cim_set_strv(in, "NetworkAddresses", addrs, 1);
        /* The current address is the burned-in one unless it was set or
         * randomised (addr_assign_type); then the permanent one is unknown. */
        if (n->perm_addr)
            cim_set_str(in, "PermanentAddress", n->mac_plain);
    }
    if (n->have_speed)
        cim_set_u64(in, "Speed", n->speed);
    if (n->have_mtu)
        cim_set_u64(in, "ActiveMaximumTransmissionUnit", n->mtu);
    if (n->duplex >= 0)
        cim_set_bool(in, "FullDuplex", n->duplex);
    const char *other;
    cim_set_u64(in, "LinkTechnology", link_technology(n, &other));
    if (other)
        cim_set_str(in, "OtherLinkTechnology", other);
    cim_set_u64(in, "PortType", net__is_loopback(n) ? 2 /* Not Applicable */ : 0 /* Unknown */);
    if (n->have_flags)
        cim_set_u64(in, "EnabledState", (n->flags & IFF_UP) ? 2 : 3);
    const char *st = NULL;
    switch (n->link) {
    case LINK_UP:
        st = "2"; /* OK */
        break;
    case LINK_ADMIN_DOWN:
        st = "10"; /* Stopped */
        break;
    case LINK_NO_CARRIER:
        st = "13"; /* Lost Communication */
        break;
    case LINK_DORMANT:
        st = "15"; /* Dormant */
        break;
    case LINK_NOT_PRESENT:
    case LINK_UNKNOWN:
        st = "0"; /* Unknown */
        break;
    }
    cim_set_strv(in, "OperationalStatus", &st, 1);
}

void net__fill(const struct net_iter *s, struct cim_instance *in, unsigned index, const char *name)
{
    struct nic n;
    net__nic_read(in->arena, index, name, &n);
    if (s->which == W32_ADAPTER)
        fill_adapter(in, &n, s->host);
    else if (s->which == W32_CONFIG)
        fill_config(in, &n, s);
    else
        fill_port(in, &n, s->host);
}
