/* Network, part two: Win32_NetworkAdapterConfiguration's data. The
 * addresses (getifaddrs), default gateways (/proc/net/route,
 * /proc/net/ipv6_route) and resolvers (/etc/resolv.conf) are read once per
 * iterator, when it opens (net.c); the kernel's TCP/IP settings
 * (/proc/sys/net) with each instance. The interfaces themselves and the
 * other two classes are in net.c (net_priv.h).
 * Where each value comes from: docs/internals/providers-storage-net.md.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <net/route.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cim.h"
#include "net_priv.h"

/* ---- the property table ----------------------------------------------- */

const struct cim_prop net__config_props[] = {
    {"ArpAlwaysSourceRoute", CIM_BOOLEAN, 0},
    {"ArpUseEtherSNAP", CIM_BOOLEAN, 0},
    {"Caption", CIM_STRING, 0},
    {"DatabasePath", CIM_STRING, 0},
    {"DeadGWDetectEnabled", CIM_BOOLEAN, 0},
    {"DefaultIPGateway", CIM_STRING, CIM_ARRAY},
    {"DefaultTOS", CIM_UINT8, 0},
    {"DefaultTTL", CIM_UINT8, 0},
    {"Description", CIM_STRING, 0},
    {"DHCPEnabled", CIM_BOOLEAN, 0},
    {"DHCPLeaseExpires", CIM_DATETIME, 0},
    {"DHCPLeaseObtained", CIM_DATETIME, 0},
    {"DHCPServer", CIM_STRING, 0},
    {"DNSDomain", CIM_STRING, 0},
    {"DNSDomainSuffixSearchOrder", CIM_STRING, CIM_ARRAY},
    {"DNSEnabledForWINSResolution", CIM_BOOLEAN, 0},
    {"DNSHostName", CIM_STRING, 0},
    {"DNSServerSearchOrder", CIM_STRING, CIM_ARRAY},
    {"DomainDNSRegistrationEnabled", CIM_BOOLEAN, 0},
    {"ForwardBufferMemory", CIM_UINT32, 0},
    {"FullDNSRegistrationEnabled", CIM_BOOLEAN, 0},
    {"GatewayCostMetric", CIM_UINT16, CIM_ARRAY},
    {"IGMPLevel", CIM_UINT8, 0},
    {"Index", CIM_UINT32, CIM_KEY},
    {"InterfaceIndex", CIM_UINT32, 0},
    {"IPAddress", CIM_STRING, CIM_ARRAY},
    {"IPConnectionMetric", CIM_UINT32, 0},
    {"IPEnabled", CIM_BOOLEAN, 0},
    {"IPFilterSecurityEnabled", CIM_BOOLEAN, 0},
    {"IPPortSecurityEnabled", CIM_BOOLEAN, 0},
    {"IPSecPermitIPProtocols", CIM_STRING, CIM_ARRAY},
    {"IPSecPermitTCPPorts", CIM_STRING, CIM_ARRAY},
    {"IPSecPermitUDPPorts", CIM_STRING, CIM_ARRAY},
    {"IPSubnet", CIM_STRING, CIM_ARRAY},
    {"IPUseZeroBroadcast", CIM_BOOLEAN, 0},
    {"IPXAddress", CIM_STRING, 0},
    {"IPXEnabled", CIM_BOOLEAN, 0},
    {"IPXFrameType", CIM_UINT32, CIM_ARRAY},
    {"IPXMediaType", CIM_UINT32, 0},
    {"IPXNetworkNumber", CIM_STRING, CIM_ARRAY},
    {"IPXVirtualNetNumber", CIM_STRING, 0},
    {"KeepAliveInterval", CIM_UINT32, 0},
    {"KeepAliveTime", CIM_UINT32, 0},
    {"MACAddress", CIM_STRING, 0},
    {"MTU", CIM_UINT32, 0},
    {"NumForwardPackets", CIM_UINT32, 0},
    {"PMTUBHDetectEnabled", CIM_BOOLEAN, 0},
    {"PMTUDiscoveryEnabled", CIM_BOOLEAN, 0},
    {"ServiceName", CIM_STRING, 0},
    {"SettingID", CIM_STRING, 0},
    {"TcpipNetbiosOptions", CIM_UINT32, 0},
    {"TcpMaxConnectRetransmissions", CIM_UINT32, 0},
    {"TcpMaxDataRetransmissions", CIM_UINT32, 0},
    {"TcpNumConnections", CIM_UINT32, 0},
    {"TcpUseRFC1122UrgentPointer", CIM_BOOLEAN, 0},
    {"TcpWindowSize", CIM_UINT16, 0},
    {"WINSEnableLMHostsLookup", CIM_BOOLEAN, 0},
    {"WINSHostLookupFile", CIM_STRING, 0},
    {"WINSPrimaryServer", CIM_STRING, 0},
    {"WINSScopeID", CIM_STRING, 0},
    {"WINSSecondaryServer", CIM_STRING, 0},
};

/* net.c's class takes the count as a constant. */
_Static_assert(sizeof(net__config_props) / sizeof(net__config_props[0]) == NET_NCONFIG_PROPS,
               "NET_NCONFIG_PROPS is not the table's length");

/* ---- gateways and resolvers ------------------------------------------ */

static void add_gateway(struct net_iter *s, const char *ifname, const char *addr)
{
    for (size_t i = 0; i < s->ngw; i++)
        if (!strcmp(s->gw[i].ifname, ifname) && !strcmp(s->gw[i].addr, addr))
            return;
    if (s->ngw >= MAX_GATEWAYS)
        return;
    snprintf(s->gw[s->ngw].ifname, sizeof(s->gw[0].ifname), "%s", ifname);
    snprintf(s->gw[s->ngw].addr, sizeof(s->gw[0].addr), "%s", addr);
    s->ngw++;
}

/* Reads a line of at most n-1 bytes; a longer line is consumed and
 * dropped (returns 0 for it, -1 at the end). */
static int read_line(FILE *f, char *buf, size_t n)
{
    if (!fgets(buf, (int)n, f))
        return -1;
    size_t len = strlen(buf);
    if (len && buf[len - 1] == '\n') {
        buf[len - 1] = '\0';
        return 1;
    }
    if (feof(f))
        return 1;
    int c;
    while ((c = fgetc(f)) != EOF && c != '\n')
        ;
    return 0;
}

/* Default routes of the main table. A routing table can be the whole
 * Internet (a million lines): streamed, only default routes kept. */
void net__load_gateways(struct net_iter *s)
{
    char line[512], ifname[IF_NAMESIZE], addr[INET6_ADDRSTRLEN];
    FILE *f = fopen("/proc/net/route", "re");
    int r;
    if (f) {
        while ((r = read_line(f, line, sizeof(line))) >= 0) {
            unsigned dst, gw, flags, mask;
            if (r == 0 ||
                sscanf(line, "%15s %x %x %x %*d %*d %*d %x", ifname, &dst, &gw, &flags, &mask) != 5)
                continue; /* the header, or a malformed line */
            if (dst || mask || !gw || !(flags & RTF_UP) || !(flags & RTF_GATEWAY))
                continue;
            /* The kernel prints the network-order word as a host integer:
             * read back the same way, the bytes are the address again. */
            struct in_addr in = {.s_addr = gw};
            if (inet_ntop(AF_INET, &in, addr, sizeof(addr)))
                add_gateway(s, ifname, addr);
        }
        fclose(f);
    }
    f = fopen("/proc/net/ipv6_route", "re");
    if (!f)
        return;
    while ((r = read_line(f, line, sizeof(line))) >= 0) {
        char dst[33], nh[33];
        unsigned plen, flags;
        if (r == 0 || sscanf(line, "%32s %x %*32s %*x %32s %*x %*x %*x %x %15s", dst, &plen, nh,
                             &flags, ifname) != 5)
            continue;
        if (plen || strspn(dst, "0") != 32 || strspn(nh, "0") == 32 ||
            strspn(nh, "0123456789abcdefABCDEF") != 32 || !(flags & RTF_UP) ||
            !(flags & RTF_GATEWAY))
            continue;
        struct in6_addr a6;
        for (int i = 0; i < 16; i++) {
            unsigned b = 0;
            sscanf(nh + 2 * i, "%2x", &b);
            a6.s6_addr[i] = (unsigned char)b;
        }
        if (inet_ntop(AF_INET6, &a6, addr, sizeof(addr)))
            add_gateway(s, ifname, addr);
    }
    fclose(f);
}

/* nameserver, search and domain lines, as the resolver reads them: the
 * last of search/domain wins. */
void net__load_resolv(struct net_iter *s)
{
    FILE *f = fopen("/etc/resolv.conf", "re");
    if (!f)
        return;
    s->resolv = malloc(RESOLV_CAP + 1);
    size_t len = s->resolv ? fread(s->resolv, 1, RESOLV_CAP, f) : 0;
    fclose(f);
    if (!s->resolv)
        return;
    s->resolv[len] = '\0';
    char *save = NULL;
    for (char *line = strtok_r(s->resolv, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *p = line, *word, *sp;
        word = strtok_r(p, " \t", &sp);
        if (!word || word[0] == '#' || word[0] == ';')
            continue;
        if (!strcmp(word, "nameserver")) {
            char *a = strtok_r(NULL, " \t", &sp);
            if (a && s->nns < MAX_NAMESERVERS)
                s->ns[s->nns++] = a;
        } else if (!strcmp(word, "search") || !strcmp(word, "domain")) {
            s->nsearch = 0;
            s->domain = NULL;
            char *d;
            while ((d = strtok_r(NULL, " \t", &sp)) && s->nsearch < MAX_SEARCH)
                s->search[s->nsearch++] = d;
            if (!strcmp(word, "domain") && s->nsearch)
                s->domain = s->search[0];
        }
    }
}

/* ---- one instance ----------------------------------------------------- */

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

/* A number of a /proc/sys/net file; -1 if unreadable. */
static long long sysctl_num(const char *name)
{
    char path[128], buf[64];
    snprintf(path, sizeof(path), "/proc/sys/net/%s", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t r = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (r <= 0)
        return -1;
    buf[r] = '\0';
    char *end;
    long long v = strtoll(buf, &end, 10);
    return end == buf || v < 0 ? -1 : v;
}

/* Windows' TCP/IP registry settings, from the kernel's equivalents:
 * DefaultTTL ip_default_ttl; KeepAliveTime and KeepAliveInterval
 * tcp_keepalive_time and _intvl (seconds, in ms as Windows counts);
 * TcpMaxConnectRetransmissions tcp_syn_retries; TcpMaxDataRetransmissions
 * tcp_retries2; PMTUDiscoveryEnabled not ip_no_pmtu_disc. */
static void set_tcpip(struct cim_instance *in)
{
    long long v;
    if ((v = sysctl_num("ipv4/ip_default_ttl")) >= 0 && v <= 255)
        cim_set_u64(in, "DefaultTTL", (uint64_t)v);
    if ((v = sysctl_num("ipv4/tcp_keepalive_time")) >= 0 && v <= 4294967)
        cim_set_u64(in, "KeepAliveTime", (uint64_t)v * 1000);
    if ((v = sysctl_num("ipv4/tcp_keepalive_intvl")) >= 0 && v <= 4294967)
        cim_set_u64(in, "KeepAliveInterval", (uint64_t)v * 1000);
    if ((v = sysctl_num("ipv4/tcp_syn_retries")) >= 0 && v <= 0xffffffffLL)
        cim_set_u64(in, "TcpMaxConnectRetransmissions", (uint64_t)v);
    if ((v = sysctl_num("ipv4/tcp_retries2")) >= 0 && v <= 0xffffffffLL)
        cim_set_u64(in, "TcpMaxDataRetransmissions", (uint64_t)v);
    if ((v = sysctl_num("ipv4/ip_no_pmtu_disc")) >= 0)
        cim_set_bool(in, "PMTUDiscoveryEnabled", v == 0);
}

void net__fill_config(struct cim_instance *in, const struct nic *n, const struct net_iter *s)
{
    cim_set_u64(in, "Index", n->index);
    cim_set_u64(in, "InterfaceIndex", n->index);
    net__set_caption(in, n);
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

    /* The kernel's TCP/IP settings are global, as Windows' are; Windows
     * gives them on the adapters that have IP, and so do we. */
    if (naddr)
        set_tcpip(in);

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
