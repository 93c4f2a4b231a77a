/* Network, part three: Win32_NetworkAdapter and CIM_NetworkPort filled in
 * from one interface as net.c read it (struct nic): the Win32 and DMTF
 * codes for its type, link state and address. Separate from net.c, which
 * lists the interfaces, reads sysfs and holds the class operations, so that
 * each file stays one subject and a readable size; net_config.c fills the
 * third class. All three share net_priv.h.
 * Where each value comes from: docs/internals/providers-storage-net.md.
 */
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <unistd.h>

#include "cim.h"
#include "net_priv.h"

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

void net__set_caption(struct cim_instance *in, const struct nic *n)
{
    /* Windows: "[00000007] Intel(R) PRO/1000 MT Network Connection". */
    cim_set_fmt(in, "Caption", "[%08u] %s", n->index, n->name);
    cim_set_str(in, "Description", n->name);
}

void net__fill_adapter(struct cim_instance *in, const struct nic *n, const char *host)
{
    cim_set_fmt(in, "DeviceID", "%u", n->index);
    cim_set_u64(in, "Index", n->index);
    cim_set_u64(in, "InterfaceIndex", n->index);
    cim_set_str(in, "Name", n->name);
    cim_set_str(in, "NetConnectionID", n->name);
    net__set_caption(in, n);
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
    cim_set_bool(in, "Installed", 1); /* the kernel has it: its driver is loaded */
    if (n->mac_plain[0]) {
        /* As on CIM_NetworkPort: the DMTF form of the address, and the
         * burned-in one when addr_assign_type says it is that. */
        const char *addrs[1] = {n->mac_plain};
        cim_set_strv(in, "NetworkAddresses", addrs, 1);
        if (n->perm_addr)
            cim_set_str(in, "PermanentAddress", n->mac_plain);
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

void net__fill_port(struct cim_instance *in, const struct nic *n, const char *host)
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
