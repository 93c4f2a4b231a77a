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
 *
 * This file: the classes, get and enumeration; netread.c reads the
 * interfaces, netfill.c fills the instances (net_priv.h).
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
#include "net_priv.h"

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

/* ---- class operations ----------------------------------------------- */

static enum wsm_err net_open(enum which which, void **it)
{
    struct net_iter *s;
    enum wsm_err e = net__iter_new(which, 1, &s);
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
        net__fill(s, inst, e->if_index, e->if_name);
        return WSM_OK;
    }
    return WSM_ERR_NOT_FOUND;
}

static void net_close(void *it)
{
    net__iter_free(it);
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
                : !net__parse_uint(v, 10, &a) || !net__parse_uint(keys[i].value, 10, &b) || a != b)
            return 0;
    }
    return 1;
}

/* Fills inst for one interface, then checks the keys asked for. */
static enum wsm_err get_one(const struct net_iter *s, struct cim_instance *inst, unsigned index,
                            const char *name, const struct wsm_pair *keys, size_t nkeys)
{
    net__fill(s, inst, index, name);
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
    if (!net__parse_uint(v, 10, &idx) || idx == 0 || idx > UINT32_MAX ||
        !if_indextoname((unsigned)idx, name))
        return WSM_ERR_NOT_FOUND;
    struct net_iter *s;
    enum wsm_err e = net__iter_new(which, 0, &s);
    if (e)
        return e;
    e = get_one(s, inst, (unsigned)idx, name, keys, nkeys);
    net__iter_free(s);
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
    if (!net__valid_ifname(v))
        return WSM_ERR_NOT_FOUND;
    struct net_iter *s;
    enum wsm_err e = net__iter_new(which, 1, &s);
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
    net__iter_free(s);
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
