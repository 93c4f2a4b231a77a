/* Unit tests for the network provider (src/providers/net.c): addresses
 * and gateways against getifaddrs and the routing table, MAC addresses
 * and link state against sysfs. */
#include "providers_storage_net.h"

static size_t own_addresses(const char *ifname, char out[][INET6_ADDRSTRLEN], size_t max)
{
    struct ifaddrs *ifa;
    size_t n = 0;
    assert_int_equal(getifaddrs(&ifa), 0);
    for (struct ifaddrs *a = ifa; a; a = a->ifa_next) {
        size_t l = strlen(ifname);
        if (!a->ifa_addr || strncmp(a->ifa_name, ifname, l) ||
            (a->ifa_name[l] && a->ifa_name[l] != ':'))
            continue;
        const void *p;
        if (a->ifa_addr->sa_family == AF_INET)
            p = &((struct sockaddr_in *)(void *)a->ifa_addr)->sin_addr;
        else if (a->ifa_addr->sa_family == AF_INET6)
            p = &((struct sockaddr_in6 *)(void *)a->ifa_addr)->sin6_addr;
        else
            continue;
        if (n < max && inet_ntop(a->ifa_addr->sa_family, p, out[n], INET6_ADDRSTRLEN))
            n++;
    }
    freeifaddrs(ifa);
    return n;
}

/* Default gateways of an interface: IPv4 ones from /proc/net/route as
 * text, and the number of distinct IPv6 ones in /proc/net/ipv6_route. */
static size_t own_gateways(const char *ifname, char out[][INET6_ADDRSTRLEN], size_t max, size_t *n6)
{
    char line[512], dev[64], nh[64], seen[16][64];
    size_t n = 0;
    *n6 = 0;
    FILE *f = fopen("/proc/net/route", "r");
    while (f && fgets(line, sizeof(line), f)) {
        unsigned dst, gw, flags, mask;
        if (sscanf(line, "%63s %x %x %x %*d %*d %*d %x", dev, &dst, &gw, &flags, &mask) != 5)
            continue;
        if (strcmp(dev, ifname) || dst || mask || !gw || (flags & 3) != 3 || n >= max)
            continue;
        struct in_addr a = {.s_addr = gw};
        inet_ntop(AF_INET, &a, out[n++], INET6_ADDRSTRLEN);
    }
    if (f)
        fclose(f);
    f = fopen("/proc/net/ipv6_route", "r");
    while (f && fgets(line, sizeof(line), f)) {
        char dst[64];
        unsigned plen, flags;
        if (sscanf(line, "%63s %x %*s %*x %63s %*x %*x %*x %x %63s", dst, &plen, nh, &flags, dev) !=
            5)
            continue;
        if (strcmp(dev, ifname) || plen || strspn(dst, "0") != 32 || strspn(nh, "0") == 32 ||
            (flags & 3) != 3)
            continue;
        int dup = 0;
        for (size_t i = 0; i < *n6; i++)
            dup |= !strcmp(seen[i], nh);
        if (!dup && *n6 < 16)
            snprintf(seen[(*n6)++], sizeof(seen[0]), "%s", nh);
    }
    if (f)
        fclose(f);
    return n;
}

static void test_addresses(void **state)
{
    (void)state;
    struct coll cfg;
    collect("Win32_NetworkAdapterConfiguration", &cfg);
    const struct cim_instance *lo = find_inst(&cfg, "SettingID", "lo");
    assert_non_null(lo);
    char own[256][INET6_ADDRSTRLEN];
    size_t nown = own_addresses("lo", own, 256);
    int has_v4 = 0, has_v6 = 0;
    for (size_t i = 0; i < nown; i++) {
        has_v4 |= !strcmp(own[i], "127.0.0.1");
        has_v6 |= !strcmp(own[i], "::1");
    }
    const struct cim_val *ip = val(lo, "IPAddress"), *sn = val(lo, "IPSubnet");
    if (has_v4) {
        assert_true(arr_has(ip, "127.0.0.1"));
        assert_string_equal(str(lo, "IPEnabled"), "true");
    }
    if (has_v6)
        assert_true(arr_has(ip, "::1"));
    for (size_t k = 0; k < ip->n; k++) {
        if (!strcmp(ip->items[k], "127.0.0.1"))
            assert_string_equal(sn->items[k], "255.0.0.0");
        if (!strcmp(ip->items[k], "::1"))
            assert_string_equal(sn->items[k], "128");
    }
    /* No resolvers on loopback. */
    assert_null(val(lo, "DNSServerSearchOrder")->items);

    for (size_t i = 0; i < cfg.n; i++) {
        const struct cim_instance *in = &cfg.inst[i];
        const char *name = str(in, "SettingID");
        ip = val(in, "IPAddress");
        sn = val(in, "IPSubnet");
        assert_int_equal(ip->n, sn->n);
        assert_true((ip->items == NULL) == (sn->items == NULL));
        assert_string_equal(str(in, "IPEnabled"), ip->n ? "true" : "false");
        /* Exactly the addresses getifaddrs knows, IPv4 ones first. */
        nown = own_addresses(name, own, 256);
        assert_int_equal(ip->n, nown);
        int seen_v6 = 0;
        for (size_t k = 0; k < ip->n; k++) {
            int found = 0;
            for (size_t j = 0; j < nown; j++)
                found |= !strcmp(own[j], ip->items[k]);
            if (!found)
                fail_msg("%s: %s is not an address of it", name, ip->items[k]);
            struct in_addr a4;
            struct in6_addr a6;
            if (inet_pton(AF_INET, ip->items[k], &a4) == 1) {
                assert_false(seen_v6);
                assert_int_equal(inet_pton(AF_INET, sn->items[k], &a4), 1);
            } else {
                assert_int_equal(inet_pton(AF_INET6, ip->items[k], &a6), 1);
                seen_v6 = 1;
                assert_true(parses_as(CIM_UINT8, sn->items[k]));
                assert_true(atoi(sn->items[k]) <= 128);
            }
        }
        assert_int_equal(u64(in, "Index"), if_nametoindex(name));
        assert_int_equal(u64(in, "InterfaceIndex"), u64(in, "Index"));
        /* Gateways: this interface's default routes, no others. */
        const struct cim_val *gw = val(in, "DefaultIPGateway");
        char gw4[64][INET6_ADDRSTRLEN];
        size_t n6, n4 = own_gateways(name, gw4, 64, &n6), got4 = 0, got6 = 0;
        for (size_t k = 0; k < gw->n; k++) {
            struct in6_addr a6;
            if (inet_pton(AF_INET, gw->items[k], &a6) == 1) {
                int found = 0;
                for (size_t j = 0; j < n4; j++)
                    found |= !strcmp(gw4[j], gw->items[k]);
                if (!found)
                    fail_msg("%s: gateway %s is not in its routes", name, gw->items[k]);
                got4++;
            } else {
                assert_int_equal(inet_pton(AF_INET6, gw->items[k], &a6), 1);
                got6++;
            }
        }
        assert_int_equal(got4, n4);
        assert_int_equal(got6, n6);
    }
    coll_free(&cfg);
}

/* /sys/class/net/<if>/address upper-cased, or "" if it is no MAC. */
static void sysfs_mac(const char *ifname, char *out, size_t n)
{
    char path[128];
    snprintf(path, sizeof(path), "/sys/class/net/%s/address", ifname);
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (fgets(out, (int)n, f)) {
        out[strcspn(out, "\n")] = '\0';
        for (char *p = out; *p; p++)
            *p = (char)toupper((unsigned char)*p);
    }
    fclose(f);
    if (strlen(out) != 17 || !strcmp(out, "00:00:00:00:00:00"))
        out[0] = '\0';
}

static unsigned long long proc_num(const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "/proc/sys/net/%s", name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    unsigned long long v = 0;
    assert_int_equal(fscanf(f, "%llu", &v), 1);
    fclose(f);
    return v;
}

static void test_mac_and_state(void **state)
{
    (void)state;
    struct coll a, cfg, port;
    collect("Win32_NetworkAdapter", &a);
    collect("Win32_NetworkAdapterConfiguration", &cfg);
    collect("CIM_NetworkPort", &port);
    size_t compared = 0;
    for (size_t i = 0; i < a.n; i++) {
        const struct cim_instance *in = &a.inst[i];
        const char *name = str(in, "NetConnectionID");
        char mac[64], plain[13], path[128];
        sysfs_mac(name, mac, sizeof(mac));
        const struct cim_instance *c = find_inst(&cfg, "Index", str(in, "DeviceID"));
        const struct cim_instance *p = find_inst(&port, "DeviceID", name);
        assert_non_null(c);
        assert_non_null(p);
        if (mac[0]) {
            assert_non_null(str(in, "MACAddress"));
            assert_string_equal(str(in, "MACAddress"), mac);
            assert_string_equal(str(c, "MACAddress"), mac);
            size_t o = 0;
            for (const char *q = mac; *q; q++)
                if (*q != ':')
                    plain[o++] = *q;
            plain[o] = '\0';
            assert_true(arr_has(val(p, "NetworkAddresses"), plain));
            assert_true(arr_has(val(in, "NetworkAddresses"), plain));
            if (str(p, "PermanentAddress"))
                assert_string_equal(str(p, "PermanentAddress"), plain);
            /* Win32 as CIM_NetworkPort: addr_assign_type 0 only. */
            if (str(in, "PermanentAddress"))
                assert_string_equal(str(in, "PermanentAddress"), plain);
            assert_true((str(in, "PermanentAddress") == NULL) ==
                        (str(p, "PermanentAddress") == NULL));
            compared++;
        } else {
            assert_null(str(in, "MACAddress"));
            assert_null(str(p, "PermanentAddress"));
            assert_null(str(in, "PermanentAddress"));
        }
        assert_int_equal(u64(in, "InterfaceIndex"), if_nametoindex(name));
        assert_string_equal(str(in, "Installed"), "true");
        /* The kernel's TCP/IP settings on the adapters that have IP. */
        if (!strcmp(str(c, "IPEnabled"), "true")) {
            assert_int_equal(u64(c, "DefaultTTL"), proc_num("ipv4/ip_default_ttl"));
            assert_int_equal(u64(c, "KeepAliveTime"), proc_num("ipv4/tcp_keepalive_time") * 1000);
            assert_int_equal(u64(c, "KeepAliveInterval"),
                             proc_num("ipv4/tcp_keepalive_intvl") * 1000);
            assert_int_equal(u64(c, "TcpMaxConnectRetransmissions"),
                             proc_num("ipv4/tcp_syn_retries"));
            assert_int_equal(u64(c, "TcpMaxDataRetransmissions"), proc_num("ipv4/tcp_retries2"));
            assert_string_equal(str(c, "PMTUDiscoveryEnabled"),
                                proc_num("ipv4/ip_no_pmtu_disc") ? "false" : "true");
        } else {
            assert_null(str(c, "DefaultTTL"));
        }
        assert_null(str(c, "WINSPrimaryServer"));
        assert_null(str(in, "GUID")); /* no fact */
        assert_string_equal(str(in, "Name"), name);
        snprintf(path, sizeof(path), "/sys/class/net/%s/device", name);
        assert_string_equal(str(in, "PhysicalAdapter"), access(path, F_OK) == 0 ? "true" : "false");

        /* Administrative state as the kernel has it. */
        unsigned flags = 0;
        snprintf(path, sizeof(path), "/sys/class/net/%s/flags", name);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        assert_int_equal(fscanf(f, "%x", &flags), 1);
        fclose(f);
        int up = (flags & IFF_UP) != 0;
        assert_string_equal(str(in, "NetEnabled"), up ? "true" : "false");
        assert_int_equal(u64(p, "EnabledState"), up ? 2 : 3);
        const struct cim_val *os = val(p, "OperationalStatus");
        assert_int_equal(os->n, 1);
        if (!up) {
            assert_int_equal(u64(in, "NetConnectionStatus"), 0);
            assert_string_equal(os->items[0], "10");
        } else if (str(in, "NetConnectionStatus") && u64(in, "NetConnectionStatus") == 2) {
            assert_string_equal(os->items[0], "2");
        }
        /* Speed: sysfs Mb/s, or NULL when the driver does not know. */
        snprintf(path, sizeof(path), "/sys/class/net/%s/speed", name);
        long mbps = -1;
        f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%ld", &mbps) != 1)
                mbps = -1;
            fclose(f);
        }
        if (mbps > 0) {
            assert_int_equal(u64(in, "Speed"), (uint64_t)mbps * 1000000);
            assert_int_equal(u64(p, "Speed"), (uint64_t)mbps * 1000000);
        } else {
            assert_null(str(in, "Speed"));
            assert_null(str(p, "Speed"));
        }
    }
    /* Loopback: virtual, no MAC, "Other" link technology. */
    const struct cim_instance *lo = find_inst(&a, "NetConnectionID", "lo");
    assert_non_null(lo);
    assert_string_equal(str(lo, "PhysicalAdapter"), "false");
    assert_null(str(lo, "MACAddress"));
    const struct cim_instance *lop = find_inst(&port, "DeviceID", "lo");
    assert_int_equal(u64(lop, "LinkTechnology"), 1);
    print_message("compared %zu MAC addresses with sysfs\n", compared);
    coll_free(&a);
    coll_free(&cfg);
    coll_free(&port);
}

/* Properties whose value may change between two reads of a live system. */

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_mac_and_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
