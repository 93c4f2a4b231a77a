/* Network: interfaces as Win32_NetworkAdapter, Win32_NetworkAdapterConfiguration
 * and CIM_NetworkPort (the same interfaces in the three classes).
 *
 * The list of interfaces is if_nameindex() (the daemon's network
 * namespace), taken when an iterator opens and walked in ifindex order;
 * each instance then reads /sys/class/net/<name>/ for itself. The
 * configuration class also needs addresses (getifaddrs), default gateways
 * (/proc/net/route, /proc/net/ipv6_route) and resolvers
 * (/etc/resolv.conf): those are read once per iterator, when it opens.
 * The values of Win32_NetworkAdapter and CIM_NetworkPort are filled in
 * net_adapter.c, the configuration class's in net_config.c.
 * Where each value comes from: docs/internals/providers-storage-net.md.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
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

/* ---- property tables ------------------------------------------------ */

static const struct cim_prop adapter_props[] = {
    {"AdapterType", CIM_STRING, 0},
    {"AdapterTypeID", CIM_UINT16, 0},
    {"AutoSense", CIM_BOOLEAN, 0},
    {"Availability", CIM_UINT16, 0},
    {"Caption", CIM_STRING, 0},
    {"ConfigManagerErrorCode", CIM_UINT32, 0},
    {"ConfigManagerUserConfig", CIM_BOOLEAN, 0},
    {"CreationClassName", CIM_STRING, 0},
    {"Description", CIM_STRING, 0},
    {"DeviceID", CIM_STRING, CIM_KEY},
    {"ErrorCleared", CIM_BOOLEAN, 0},
    {"ErrorDescription", CIM_STRING, 0},
    {"GUID", CIM_STRING, 0},
    {"Index", CIM_UINT32, 0},
    {"InstallDate", CIM_DATETIME, 0},
    {"Installed", CIM_BOOLEAN, 0},
    {"InterfaceIndex", CIM_UINT32, 0},
    {"LastErrorCode", CIM_UINT32, 0},
    {"MACAddress", CIM_STRING, 0},
    {"Manufacturer", CIM_STRING, 0},
    {"MaxNumberControlled", CIM_UINT32, 0},
    {"MaxSpeed", CIM_UINT64, 0},
    {"Name", CIM_STRING, 0},
    {"NetConnectionID", CIM_STRING, 0},
    {"NetConnectionStatus", CIM_UINT16, 0},
    {"NetEnabled", CIM_BOOLEAN, 0},
    {"NetworkAddresses", CIM_STRING, CIM_ARRAY},
    {"PermanentAddress", CIM_STRING, 0},
    {"PhysicalAdapter", CIM_BOOLEAN, 0},
    {"PNPDeviceID", CIM_STRING, 0},
    {"PowerManagementCapabilities", CIM_UINT16, CIM_ARRAY},
    {"PowerManagementSupported", CIM_BOOLEAN, 0},
    {"ProductName", CIM_STRING, 0},
    {"ServiceName", CIM_STRING, 0},
    {"Speed", CIM_UINT64, 0},
    {"Status", CIM_STRING, 0},
    {"StatusInfo", CIM_UINT16, 0},
    {"SystemCreationClassName", CIM_STRING, 0},
    {"SystemName", CIM_STRING, 0},
    {"TimeOfLastReset", CIM_DATETIME, 0},
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

int net__is_loopback(const struct nic *n)
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
        net__load_gateways(s);
        net__load_resolv(s);
    }
    *out = s;
    return WSM_OK;
}

/* ---- filling instances (the adapter and port classes: net_adapter.c) - */

static void fill(const struct net_iter *s, struct cim_instance *in, unsigned index,
                 const char *name)
{
    struct nic n;
    nic_read(in->arena, index, name, &n);
    if (s->which == W32_ADAPTER)
        net__fill_adapter(in, &n, s->host);
    else if (s->which == W32_CONFIG)
        net__fill_config(in, &n, s);
    else
        net__fill_port(in, &n, s->host);
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
    .props = net__config_props,
    .nprops = NET_NCONFIG_PROPS,
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
