/* The network family, reading: one interface from sysfs (flags, type,
 * MAC, speed, driver, link state), and an iterator's context (the
 * interfaces by index, default gateways, resolv.conf), every reader
 * bounded. */
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

/* ---- one interface, from sysfs --------------------------------------- */

static const char *sysnet(struct wsm_arena *a, const char *ifname, const char *attr)
{
    char path[96];
    snprintf(path, sizeof(path), "/sys/class/net/%s/%s", ifname, attr);
    return cim_read_file(a, path);
}

int net__parse_uint(const char *s, int base, unsigned long long *out)
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

void net__nic_read(struct wsm_arena *a, unsigned index, const char *name, struct nic *n)
{
    unsigned long long v;
    memset(n, 0, sizeof(*n));
    n->index = index;
    snprintf(n->name, sizeof(n->name), "%s", name);
    n->duplex = -1;

    if ((n->have_flags = net__parse_uint(sysnet(a, name, "flags"), 16, &v)))
        n->flags = (unsigned)v;
    if ((n->have_type = net__parse_uint(sysnet(a, name, "type"), 10, &v)))
        n->type = (unsigned)v;
    parse_mac(sysnet(a, name, "address"), n);
    n->perm_addr = net__parse_uint(sysnet(a, name, "addr_assign_type"), 10, &v) && v == 0;
    /* speed is -1 or EINVAL when the driver does not know. */
    if (net__parse_uint(sysnet(a, name, "speed"), 10, &v) && v > 0 && v < UINT64_MAX / 1000000) {
        n->have_speed = 1;
        n->speed = v * 1000000;
    }
    if ((n->have_mtu = net__parse_uint(sysnet(a, name, "mtu"), 10, &v)))
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

int net__is_loopback(const struct nic *n)
{
    return (n->have_flags && (n->flags & IFF_LOOPBACK)) ||
           (n->have_type && n->type == ARPHRD_LOOPBACK);
}

/* Interface names are what the kernel accepts (dev_valid_name): they are
 * put in sysfs paths, so a selector must not smuggle a "/" or "..". */
int net__valid_ifname(const char *s)
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

void net__iter_free(struct net_iter *s)
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

enum wsm_err net__iter_new(enum which which, int want_names, struct net_iter **out)
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
                net__iter_free(s);
                return short_of;
            }
        }
        load_gateways(s);
        load_resolv(s);
    }
    *out = s;
    return WSM_OK;
}
