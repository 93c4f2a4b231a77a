/* Network: interfaces as Win32_NetworkAdapter, Win32_NetworkAdapterConfiguration
 * and CIM_NetworkPort (the same interfaces in the three classes).
 *
 * The list of interfaces is if_nameindex() (the daemon's network
 * namespace), taken when an iterator opens and walked in ifindex order;
 * each instance then reads /sys/class/net/<name>/ for itself. The
 * configuration class also needs addresses (getifaddrs), default gateways
 * (/proc/net/route, /proc/net/ipv6_route) and resolvers
 * (/etc/resolv.conf): those are read once per iterator, when it opens.
 * Where each value comes from: docs/internals/providers-storage-net.md.
 */
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

#define MAX_GATEWAYS 64
#define MAX_NAMESERVERS 16
#define MAX_SEARCH 16
#define RESOLV_CAP (64 * 1024)

/* ---- property tables ------------------------------------------------ */

static const struct cim_prop adapter_props[] = {
    {"DeviceID", CIM_STRING, CIM_KEY},
    {"Index", CIM_UINT32, 0},
    {"InterfaceIndex", CIM_UINT32, 0},
    {"Name", CIM_STRING, 0},
    {"NetConnectionID", CIM_STRING, 0},
    {"Caption", CIM_STRING, 0},
    {"Description", CIM_STRING, 0},
    {"ProductName", CIM_STRING, 0},
    {"Manufacturer", CIM_STRING, 0},
    {"ServiceName", CIM_STRING, 0},
    {"CreationClassName", CIM_STRING, 0},
    {"SystemCreationClassName", CIM_STRING, 0},
    {"SystemName", CIM_STRING, 0},
    {"MACAddress", CIM_STRING, 0},
    {"AdapterType", CIM_STRING, 0},
    {"AdapterTypeID", CIM_UINT16, 0},
    {"Speed", CIM_UINT64, 0},
    {"NetEnabled", CIM_BOOLEAN, 0},
    {"NetConnectionStatus", CIM_UINT16, 0},
    {"PhysicalAdapter", CIM_BOOLEAN, 0},
};

static const struct cim_prop config_props[] = {
    {"Index", CIM_UINT32, CIM_KEY},
    {"InterfaceIndex", CIM_UINT32, 0},
    {"Caption", CIM_STRING, 0},
    {"Description", CIM_STRING, 0},
    {"SettingID", CIM_STRING, 0},
    {"ServiceName", CIM_STRING, 0},
    {"MACAddress", CIM_STRING, 0},
    {"MTU", CIM_UINT32, 0},
    {"IPEnabled", CIM_BOOLEAN, 0},
    {"IPAddress", CIM_STRING, CIM_ARRAY},
    {"IPSubnet", CIM_STRING, CIM_ARRAY},
    {"DefaultIPGateway", CIM_STRING, CIM_ARRAY},
    {"DHCPEnabled", CIM_BOOLEAN, 0},
    {"DNSHostName", CIM_STRING, 0},
    {"DNSDomain", CIM_STRING, 0},
    {"DNSDomainSuffixSearchOrder", CIM_STRING, CIM_ARRAY},
    {"DNSServerSearchOrder", CIM_STRING, CIM_ARRAY},
};

static const struct cim_prop port_props[] = {
    {"SystemCreationClassName", CIM_STRING, CIM_KEY},
    {"SystemName", CIM_STRING, CIM_KEY},
    {"CreationClassName", CIM_STRING, CIM_KEY},
    {"DeviceID", CIM_STRING, CIM_KEY},
    {"Name", CIM_STRING, 0},
    {"ElementName", CIM_STRING, 0},
    {"Caption", CIM_STRING, 0},
    {"PermanentAddress", CIM_STRING, 0},
    {"NetworkAddresses", CIM_STRING, CIM_ARRAY},
    {"Speed", CIM_UINT64, 0},
    {"ActiveMaximumTransmissionUnit", CIM_UINT64, 0},
    {"FullDuplex", CIM_BOOLEAN, 0},
    {"LinkTechnology", CIM_UINT16, 0},
    {"OtherLinkTechnology", CIM_STRING, 0},
    {"PortType", CIM_UINT16, 0},
    {"EnabledState", CIM_UINT16, 0},
    {"OperationalStatus", CIM_UINT16, CIM_ARRAY},
};

/* ---- one interface, from sysfs --------------------------------------- */

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

static const char *sysnet(struct wsm_arena *a, const char *ifname, const char *attr)
{
    char path[96];
    snprintf(path, sizeof(path), "/sys/class/net/%s/%s", ifname, attr);
    return cim_read_file(a, path);
}

static int parse_uint(const char *s, int base, unsigned long long *out)
{
    if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
        return 0;
    char *end;
    unsigned long long v = strtoull(s, &end, base);
    if (*end)
        return 0;
    *out = v;
    return 1;
}

/* An EUI-48 address as sysfs prints it; anything else (tunnels, InfiniBand,
 * all zeros) is not a MAC address. */
static void parse_mac(const char *s, struct nic *n)
{
    unsigned b[6];
    char tail;
    n->mac[0] = n->mac_plain[0] = '\0';
    if (!s || strlen(s) != 17 ||
        sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) !=
            6)
        return;
    if (!(b[0] | b[1] | b[2] | b[3] | b[4] | b[5]))
        return;
    snprintf(n->mac, sizeof(n->mac), "%02X:%02X:%02X:%02X:%02X:%02X", b[0], b[1], b[2], b[3], b[4],
             b[5]);
    snprintf(n->mac_plain, sizeof(n->mac_plain), "%02X%02X%02X%02X%02X%02X", b[0], b[1], b[2], b[3],
             b[4], b[5]);
}

static enum link link_state(const struct nic *n, const char *oper, const char *carrier)
{
    if (!n->have_flags)
        return LINK_UNKNOWN;
    if (!(n->flags & IFF_UP))
        return LINK_ADMIN_DOWN;
    if (oper && !strcmp(oper, "up"))
        return LINK_UP;
    if (oper && !strcmp(oper, "dormant"))
        return LINK_DORMANT;
    if (oper && !strcmp(oper, "notpresent"))
        return LINK_NOT_PRESENT;
    if (oper && (!strcmp(oper, "down") || !strcmp(oper, "lowerlayerdown")))
        return LINK_NO_CARRIER;
    /* "unknown" (lo, tun, many virtual drivers): the carrier decides. */
    if (carrier && !strcmp(carrier, "1"))
        return LINK_UP;
    if (carrier && !strcmp(carrier, "0"))
        return LINK_NO_CARRIER;
    return LINK_UNKNOWN;
}

static void nic_read(struct wsm_arena *a, unsigned index, const char *name, struct nic *n)
{
    unsigned long long v;
    memset(n, 0, sizeof(*n));
    n->index = index;
    snprintf(n->name, sizeof(n->name), "%s", name);
    n->duplex = -1;

    if ((n->have_flags = parse_uint(sysnet(a, name, "flags"), 16, &v)))
        n->flags = (unsigned)v;
    if ((n->have_type = parse_uint(sysnet(a, name, "type"), 10, &v)))
        n->type = (unsigned)v;
    parse_mac(sysnet(a, name, "address"), n);
    n->perm_addr = parse_uint(sysnet(a, name, "addr_assign_type"), 10, &v) && v == 0;
    /* speed is -1 or EINVAL when the driver does not know. */
    if (parse_uint(sysnet(a, name, "speed"), 10, &v) && v > 0 && v < UINT64_MAX / 1000000) {
        n->have_speed = 1;
        n->speed = v * 1000000;
    }
    if ((n->have_mtu = parse_uint(sysnet(a, name, "mtu"), 10, &v)))
        n->mtu = (unsigned)v;

    char path[96], target[256];
    snprintf(path, sizeof(path), "/sys/class/net/%s/device", name);
    n->physical = access(path, F_OK) == 0;
    snprintf(path, sizeof(path), "/sys/class/net/%s/device/driver", name);
    ssize_t len = readlink(path, target, sizeof(target) - 1);
    if (len > 0) {
        target[len] = '\0';
        const char *base = strrchr(target, '/');
        snprintf(n->driver, sizeof(n->driver), "%s", base ? base + 1 : target);
    }
    const char *dup = sysnet(a, name, "duplex");
    if (dup && !strcmp(dup, "full"))
        n->duplex = 1;
    else if (dup && !strcmp(dup, "half"))
        n->duplex = 0;
    n->link = link_state(n, sysnet(a, name, "operstate"), sysnet(a, name, "carrier"));
}

static int is_loopback(const struct nic *n)
{
    return (n->have_flags && (n->flags & IFF_LOOPBACK)) ||
           (n->have_type && n->type == ARPHRD_LOOPBACK);
}

/* Interface names are what the kernel accepts (dev_valid_name): they are
 * put in sysfs paths, so a selector must not smuggle a "/" or "..". */
static int valid_ifname(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= IF_NAMESIZE || !strcmp(s, ".") || !strcmp(s, ".."))
        return 0;
    for (; *s; s++)
        if (*s == '/' || *s == ':' || isspace((unsigned char)*s))
            return 0;
    return 1;
}

/* ---- per-iterator context ------------------------------------------- */

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
static void load_gateways(struct net_iter *s)
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
static void load_resolv(struct net_iter *s)
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

static int by_index(const void *a, const void *b)
{
    const struct if_nameindex *x = a, *y = b;
    return x->if_index < y->if_index ? -1 : x->if_index > y->if_index;
}

static void iter_free(struct net_iter *s)
{
    if (!s)
        return;
    if (s->names)
        if_freenameindex(s->names);
    if (s->ifa)
        freeifaddrs(s->ifa);
    free(s->resolv);
    free(s);
}

static enum wsm_err iter_new(enum which which, int want_names, struct net_iter **out)
{
    struct net_iter *s = calloc(1, sizeof(*s));
    if (!s)
        return WSM_ERR_NOMEM;
    s->which = which;
    if (want_names) {
        if (!(s->names = if_nameindex())) {
            free(s);
            return WSM_ERR_IO;
        }
        while (s->names[s->count].if_index)
            s->count++;
        qsort(s->names, s->count, sizeof(*s->names), by_index);
    }
    cim_system_name(s->host, sizeof(s->host));
    if (which == W32_CONFIG) {
        if (getifaddrs(&s->ifa) != 0) {
            enum wsm_err short_of = cim_errno_shortage(errno);
            s->ifa = NULL; /* no addresses known: IPAddress stays NULL */
            if (short_of) {
                /* out of fds or memory: a fault, not adapters without addresses */
                iter_free(s);
                return short_of;
            }
        }
        load_gateways(s);
        load_resolv(s);
    }
    *out = s;
    return WSM_OK;
}

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
    if (naddr && !is_loopback(n)) {
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
    cim_set_u64(in, "PortType", is_loopback(n) ? 2 /* Not Applicable */ : 0 /* Unknown */);
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

static void fill(const struct net_iter *s, struct cim_instance *in, unsigned index,
                 const char *name)
{
    struct nic n;
    nic_read(in->arena, index, name, &n);
    if (s->which == W32_ADAPTER)
        fill_adapter(in, &n, s->host);
    else if (s->which == W32_CONFIG)
        fill_config(in, &n, s);
    else
        fill_port(in, &n, s->host);
}

/* ---- class operations ----------------------------------------------- */

static enum wsm_err net_open(enum which which, void **it)
{
    struct net_iter *s;
    enum wsm_err e = iter_new(which, 1, &s);
    if (!e)
        *it = s;
    return e;
}

static enum wsm_err net_next(void *it, struct cim_instance *inst)
{
    struct net_iter *s = it;
    while (s && s->pos < s->count) {
        const struct if_nameindex *e = &s->names[s->pos++];
        /* Gone (or renamed) since the list was taken: skip it. A failure
         * to look (no fd for the socket it uses) is not "gone". */
        errno = 0;
        unsigned idx = if_nametoindex(e->if_name);
        if (!idx && cim_errno_shortage(errno))
            return cim_errno_shortage(errno);
        if (idx != e->if_index)
            continue;
        fill(s, inst, e->if_index, e->if_name);
        return WSM_OK;
    }
    return WSM_ERR_NOT_FOUND;
}

static void net_close(void *it)
{
    iter_free(it);
}

static const char *key_value(const struct wsm_pair *keys, size_t n, const char *name)
{
    const char *v = NULL;
    for (size_t i = 0; i < n; i++)
        if (!strcasecmp(keys[i].name, name))
            v = keys[i].value;
    return v;
}

/* Every key given must match the instance made, as the dispatcher
 * compares them (strings case-insensitively, numbers by value);
 * selectors that name no key (__cimnamespace) are not ours to judge. */
static int keys_match(const struct cim_instance *inst, const struct wsm_pair *keys, size_t nkeys)
{
    for (size_t i = 0; i < nkeys; i++) {
        int k = cim_prop_index(inst->cls, keys[i].name);
        if (k < 0 || !(inst->cls->props[k].flags & CIM_KEY))
            continue;
        const char *v = inst->v[k].s;
        unsigned long long a, b;
        if (!v || !keys[i].value)
            return 0;
        if (inst->cls->props[k].type == CIM_STRING
                ? strcasecmp(v, keys[i].value) != 0
                : !parse_uint(v, 10, &a) || !parse_uint(keys[i].value, 10, &b) || a != b)
            return 0;
    }
    return 1;
}

/* Fills inst for one interface, then checks the keys asked for. */
static enum wsm_err get_one(const struct net_iter *s, struct cim_instance *inst, unsigned index,
                            const char *name, const struct wsm_pair *keys, size_t nkeys)
{
    fill(s, inst, index, name);
    if (keys_match(inst, keys, nkeys))
        return WSM_OK;
    memset(inst->v, 0, inst->cls->nprops * sizeof(*inst->v));
    return WSM_ERR_NOT_FOUND;
}

/* Get by ifindex (decimal, as the key's text). */
static enum wsm_err get_by_index(enum which which, const char *keyname, const struct wsm_pair *keys,
                                 size_t nkeys, struct cim_instance *inst)
{
    const char *v = key_value(keys, nkeys, keyname);
    unsigned long long idx;
    char name[IF_NAMESIZE];
    if (!v)
        return WSM_ERR_INVALID_SELECTORS;
    if (!parse_uint(v, 10, &idx) || idx == 0 || idx > UINT32_MAX ||
        !if_indextoname((unsigned)idx, name))
        return WSM_ERR_NOT_FOUND;
    struct net_iter *s;
    enum wsm_err e = iter_new(which, 0, &s);
    if (e)
        return e;
    e = get_one(s, inst, (unsigned)idx, name, keys, nkeys);
    iter_free(s);
    return e;
}

/* Get by interface name: exact, or failing that case-insensitive (as the
 * dispatcher compares string keys). */
static enum wsm_err get_by_name(enum which which, const char *keyname, const struct wsm_pair *keys,
                                size_t nkeys, struct cim_instance *inst)
{
    const char *v = key_value(keys, nkeys, keyname);
    char name[IF_NAMESIZE];
    if (!v)
        return WSM_ERR_INVALID_SELECTORS;
    if (!valid_ifname(v))
        return WSM_ERR_NOT_FOUND;
    struct net_iter *s;
    enum wsm_err e = iter_new(which, 1, &s);
    if (e)
        return e;
    unsigned idx = if_nametoindex(v);
    if (idx) {
        snprintf(name, sizeof(name), "%s", v);
    } else {
        for (size_t i = 0; !idx && i < s->count; i++)
            if (!strcasecmp(s->names[i].if_name, v)) {
                idx = s->names[i].if_index;
                snprintf(name, sizeof(name), "%s", s->names[i].if_name);
            }
    }
    e = idx ? get_one(s, inst, idx, name, keys, nkeys) : WSM_ERR_NOT_FOUND;
    iter_free(s);
    return e;
}

static enum wsm_err open_adapter(const struct cim_ctx *ctx, void **it)
{
    (void)ctx;
    return net_open(W32_ADAPTER, it);
}

static enum wsm_err open_config(const struct cim_ctx *ctx, void **it)
{
    (void)ctx;
    return net_open(W32_CONFIG, it);
}

static enum wsm_err open_port(const struct cim_ctx *ctx, void **it)
{
    (void)ctx;
    return net_open(DMTF_PORT, it);
}

static enum wsm_err get_adapter(const struct cim_ctx *ctx, const struct wsm_pair *keys, size_t n,
                                struct cim_instance *inst)
{
    (void)ctx;
    return get_by_index(W32_ADAPTER, "DeviceID", keys, n, inst);
}

static enum wsm_err get_config(const struct cim_ctx *ctx, const struct wsm_pair *keys, size_t n,
                               struct cim_instance *inst)
{
    (void)ctx;
    return get_by_index(W32_CONFIG, "Index", keys, n, inst);
}

static enum wsm_err get_port(const struct cim_ctx *ctx, const struct wsm_pair *keys, size_t n,
                             struct cim_instance *inst)
{
    (void)ctx;
    return get_by_name(DMTF_PORT, "DeviceID", keys, n, inst);
}

#define NPROPS(p) (sizeof(p) / sizeof((p)[0]))

static const struct cim_class win32_networkadapter = {
    .name = "Win32_NetworkAdapter",
    .props = adapter_props,
    .nprops = NPROPS(adapter_props),
    .open = open_adapter,
    .next = net_next,
    .close = net_close,
    .get = get_adapter,
};

static const struct cim_class win32_networkadapterconfiguration = {
    .name = "Win32_NetworkAdapterConfiguration",
    .props = config_props,
    .nprops = NPROPS(config_props),
    .open = open_config,
    .next = net_next,
    .close = net_close,
    .get = get_config,
};

static const struct cim_class cim_networkport = {
    .name = "CIM_NetworkPort",
    .props = port_props,
    .nprops = NPROPS(port_props),
    .open = open_port,
    .next = net_next,
    .close = net_close,
    .get = get_port,
};

const struct cim_class *const cim_family_net[] = {
    &win32_networkadapter,
    &win32_networkadapterconfiguration,
    &cim_networkport,
    NULL,
};
