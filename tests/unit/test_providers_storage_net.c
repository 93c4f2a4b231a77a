/* Unit tests for the storage and network providers (src/providers/storage.c,
 * src/providers/net.c): live data, checked against what the test reads
 * itself from statvfs, getifaddrs and sysfs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cim.h"

extern const struct cim_class *const cim_family_storage[];
extern const struct cim_class *const cim_family_net[];

/* ---- helpers ---- */

/* All instances of a class, enumerated once. */
struct coll {
    const struct cim_class *cls;
    struct wsm_arena arena;
    struct cim_instance *inst;
    size_t n;
};

static const struct cim_class *find(const char *name)
{
    for (const struct cim_class *const *c = cim_family_storage; *c; c++)
        if (!strcmp((*c)->name, name))
            return *c;
    for (const struct cim_class *const *c = cim_family_net; *c; c++)
        if (!strcmp((*c)->name, name))
            return *c;
    fail_msg("no class %s", name);
    return NULL;
}

static struct cim_val *new_values(struct wsm_arena *a, const struct cim_class *c)
{
    struct cim_val *v = wsm__arena_alloc(a, c->nprops * sizeof(*v));
    assert_non_null(v);
    memset(v, 0, c->nprops * sizeof(*v));
    return v;
}

static void collect(const char *name, struct coll *out)
{
    memset(out, 0, sizeof(*out));
    out->cls = find(name);
    wsm__arena_init(&out->arena);
    struct cim_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    void *it = NULL;
    assert_int_equal(out->cls->open(&ctx, &it), WSM_OK);
    size_t alloc = 0;
    for (;;) {
        if (out->n == alloc) {
            alloc = alloc ? alloc * 2 : 8;
            out->inst = realloc(out->inst, alloc * sizeof(*out->inst));
            assert_non_null(out->inst);
        }
        struct cim_instance *in = &out->inst[out->n];
        in->cls = out->cls;
        in->arena = &out->arena;
        in->v = new_values(&out->arena, out->cls);
        enum wsm_err e = out->cls->next(it, in);
        if (e == WSM_ERR_NOT_FOUND)
            break;
        assert_int_equal(e, WSM_OK);
        out->n++;
        assert_true(out->n < 100000);
    }
    /* After the end, the end again. */
    struct cim_instance extra = {out->cls, &out->arena, new_values(&out->arena, out->cls)};
    assert_int_equal(out->cls->next(it, &extra), WSM_ERR_NOT_FOUND);
    out->cls->close(it);
}

static void coll_free(struct coll *c)
{
    free(c->inst);
    wsm__arena_free(&c->arena);
}

static const struct cim_val *val(const struct cim_instance *in, const char *prop)
{
    int k = cim_prop_index(in->cls, prop);
    if (k < 0)
        fail_msg("%s has no property %s", in->cls->name, prop);
    return &in->v[k];
}

static const char *str(const struct cim_instance *in, const char *prop)
{
    return val(in, prop)->s;
}

static const struct cim_instance *find_inst(const struct coll *c, const char *prop,
                                            const char *value)
{
    for (size_t i = 0; i < c->n; i++) {
        const char *s = str(&c->inst[i], prop);
        if (s && !strcmp(s, value))
            return &c->inst[i];
    }
    return NULL;
}

static uint64_t u64(const struct cim_instance *in, const char *prop)
{
    const char *s = str(in, prop);
    if (!s)
        fail_msg("%s.%s is NULL", in->cls->name, prop);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || !isdigit((unsigned char)*s))
        fail_msg("%s.%s = '%s' is not a number", in->cls->name, prop, s);
    return v;
}

static int arr_has(const struct cim_val *v, const char *s)
{
    for (size_t i = 0; i < v->n; i++)
        if (v->items[i] && !strcmp(v->items[i], s))
            return 1;
    return 0;
}

/* Whether a value's text is a valid lexical form of its CIM type. */
static int parses_as(enum cim_type t, const char *s)
{
    char *end;
    if (t == CIM_STRING)
        return 1;
    if (t == CIM_BOOLEAN)
        return !strcmp(s, "true") || !strcmp(s, "false");
    if (t == CIM_DATETIME)
        return strlen(s) >= 10;
    if (t == CIM_REAL32 || t == CIM_REAL64) {
        strtod(s, &end);
        return *s && !*end;
    }
    errno = 0;
    if (t >= CIM_UINT8 && t <= CIM_UINT64) {
        if (!isdigit((unsigned char)*s))
            return 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || *end)
            return 0;
        static const unsigned long long max[] = {UINT8_MAX, UINT16_MAX, UINT32_MAX, UINT64_MAX};
        return v <= max[t - CIM_UINT8];
    }
    if (!isdigit((unsigned char)*s) && *s != '-')
        return 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return 0;
    static const long long lo[] = {INT8_MIN, INT16_MIN, INT32_MIN, INT64_MIN};
    static const long long hi[] = {INT8_MAX, INT16_MAX, INT32_MAX, INT64_MAX};
    return v >= lo[t - CIM_SINT8] && v <= hi[t - CIM_SINT8];
}

/* The text of every key, joined, to compare identities. */
static void key_text(const struct cim_instance *in, char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < in->cls->nprops; i++)
        if (in->cls->props[i].flags & CIM_KEY)
            o += (size_t)snprintf(buf + o, o < n ? n - o : 0, "%s\x1f",
                                  in->v[i].s ? in->v[i].s : "(null)");
}

static const char *const all_classes[] = {
    "Win32_LogicalDisk",
    "CIM_LogicalDisk",
    "CIM_FileSystem",
    "Win32_NetworkAdapter",
    "Win32_NetworkAdapterConfiguration",
    "CIM_NetworkPort",
};
#define NCLASSES (sizeof(all_classes) / sizeof(all_classes[0]))

/* ---- tests ---- */

static void test_family_tables(void **state)
{
    (void)state;
    static const char *const storage[] = {"Win32_LogicalDisk", "CIM_LogicalDisk", "CIM_FileSystem"};
    static const char *const net[] = {"Win32_NetworkAdapter", "Win32_NetworkAdapterConfiguration",
                                      "CIM_NetworkPort"};
    size_t i;
    for (i = 0; cim_family_storage[i]; i++) {
        assert_true(i < 3);
        assert_string_equal(cim_family_storage[i]->name, storage[i]);
    }
    assert_int_equal(i, 3);
    for (i = 0; cim_family_net[i]; i++) {
        assert_true(i < 3);
        assert_string_equal(cim_family_net[i]->name, net[i]);
    }
    assert_int_equal(i, 3);

    for (size_t c = 0; c < NCLASSES; c++) {
        const struct cim_class *cls = find(all_classes[c]);
        assert_non_null(cls->open);
        assert_non_null(cls->next);
        assert_non_null(cls->close);
        assert_non_null(cls->get);
        size_t keys = 0;
        for (size_t p = 0; p < cls->nprops; p++) {
            const struct cim_prop *pr = &cls->props[p];
            if (pr->flags & CIM_KEY) {
                keys++;
                assert_false(pr->flags & CIM_ARRAY);
            }
            assert_false(pr->flags & CIM_WRITE); /* nothing is writable */
            for (size_t q = p + 1; q < cls->nprops; q++)
                if (!strcasecmp(pr->name, cls->props[q].name))
                    fail_msg("%s: %s twice", cls->name, pr->name);
        }
        assert_true(keys >= 1);
        cls->close(NULL); /* must be harmless */
    }
}

static void test_enumerate_all(void **state)
{
    (void)state;
    for (size_t c = 0; c < NCLASSES; c++) {
        struct coll co;
        collect(all_classes[c], &co);
        if (co.n < 1)
            fail_msg("%s: no instances", all_classes[c]);
        char(*ids)[1024] = calloc(co.n, sizeof(*ids));
        assert_non_null(ids);
        for (size_t i = 0; i < co.n; i++) {
            const struct cim_instance *in = &co.inst[i];
            for (size_t p = 0; p < co.cls->nprops; p++) {
                const struct cim_prop *pr = &co.cls->props[p];
                const struct cim_val *v = &in->v[p];
                if (pr->flags & CIM_KEY) {
                    if (!v->s || !*v->s)
                        fail_msg("%s[%zu]: key %s is empty", co.cls->name, i, pr->name);
                }
                if (pr->flags & CIM_ARRAY) {
                    assert_null(v->s);
                    if (v->n)
                        assert_non_null(v->items);
                    for (size_t k = 0; k < v->n; k++)
                        if (!v->items[k] || !parses_as(pr->type, v->items[k]))
                            fail_msg("%s.%s[%zu] = '%s' is not a valid value", co.cls->name,
                                     pr->name, k, v->items[k] ? v->items[k] : "(null)");
                } else {
                    assert_int_equal(v->n, 0);
                    if (v->s && !parses_as(pr->type, v->s))
                        fail_msg("%s.%s = '%s' is not a valid value", co.cls->name, pr->name, v->s);
                }
            }
            key_text(in, ids[i], sizeof(ids[i]));
            for (size_t j = 0; j < i; j++)
                if (!strcmp(ids[i], ids[j]))
                    fail_msg("%s: two instances with keys %s", co.cls->name, ids[i]);
        }
        free(ids);
        coll_free(&co);
    }
}

/* The three storage classes show the same mounts, the three network
 * classes the same interfaces (all of them). */
static void test_same_sets(void **state)
{
    (void)state;
    struct coll w, d, f;
    collect("Win32_LogicalDisk", &w);
    collect("CIM_LogicalDisk", &d);
    collect("CIM_FileSystem", &f);
    assert_int_equal(w.n, d.n);
    assert_int_equal(w.n, f.n);
    for (size_t i = 0; i < w.n; i++) {
        const char *mp = str(&w.inst[i], "DeviceID");
        assert_non_null(find_inst(&d, "DeviceID", mp));
        assert_non_null(find_inst(&f, "Name", mp));
    }
    assert_non_null(find_inst(&w, "DeviceID", "/"));
    coll_free(&w);
    coll_free(&d);
    coll_free(&f);

    struct coll a, cfg, port;
    collect("Win32_NetworkAdapter", &a);
    collect("Win32_NetworkAdapterConfiguration", &cfg);
    collect("CIM_NetworkPort", &port);
    struct if_nameindex *ni = if_nameindex();
    assert_non_null(ni);
    size_t nif = 0;
    for (; ni[nif].if_index; nif++) {
        char idx[16];
        snprintf(idx, sizeof(idx), "%u", ni[nif].if_index);
        const struct cim_instance *in = find_inst(&a, "DeviceID", idx);
        if (!in)
            fail_msg("interface %s missing", ni[nif].if_name);
        assert_string_equal(str(in, "NetConnectionID"), ni[nif].if_name);
        assert_non_null(find_inst(&cfg, "Index", idx));
        assert_non_null(find_inst(&port, "DeviceID", ni[nif].if_name));
    }
    if_freenameindex(ni);
    assert_int_equal(a.n, nif);
    assert_int_equal(cfg.n, nif);
    assert_int_equal(port.n, nif);
    assert_non_null(find_inst(&port, "DeviceID", "lo"));
    coll_free(&a);
    coll_free(&cfg);
    coll_free(&port);
}

static void test_root_sizes(void **state)
{
    (void)state;
    struct coll w, d, f;
    collect("Win32_LogicalDisk", &w);
    collect("CIM_LogicalDisk", &d);
    collect("CIM_FileSystem", &f);
    struct statvfs st;
    assert_int_equal(statvfs("/", &st), 0);
    uint64_t fr = st.f_frsize ? st.f_frsize : st.f_bsize;
    uint64_t size = (uint64_t)st.f_blocks * fr, avail = (uint64_t)st.f_bavail * fr;
    /* Free space moves while the test runs. */
    uint64_t tol = avail / 100 > 64 * fr ? avail / 100 : 64 * fr;

    const struct cim_instance *root = find_inst(&w, "DeviceID", "/");
    assert_non_null(root);
    assert_int_equal(u64(root, "Size"), size);
    uint64_t free_ = u64(root, "FreeSpace");
    if ((free_ > avail ? free_ - avail : avail - free_) > tol)
        fail_msg("FreeSpace %llu, statvfs says %llu", (unsigned long long)free_,
                 (unsigned long long)avail);
    assert_true(free_ <= size);
    assert_string_equal(str(root, "Name"), "/");
    assert_non_null(str(root, "FileSystem"));
    uint64_t dt = u64(root, "DriveType");
    assert_true(dt == 2 || dt == 3 || dt == 4 || dt == 6);
    assert_int_equal(u64(root, "MaximumComponentLength"), st.f_namemax);
    assert_int_equal(u64(root, "Access"), (st.f_flag & ST_RDONLY) ? 1 : 3);
    assert_string_equal(str(root, "Compressed"), "false");
    /* SupportsDiskQuotas exactly where QuotasDisabled is known. */
    for (size_t k = 0; k < w.n; k++) {
        const char *qd = str(&w.inst[k], "QuotasDisabled");
        const char *sq = str(&w.inst[k], "SupportsDiskQuotas");
        if (qd)
            assert_string_equal(sq, "true");
        else
            assert_null(sq);
    }

    const struct cim_instance *disk = find_inst(&d, "DeviceID", "/");
    assert_non_null(disk);
    assert_int_equal(u64(disk, "BlockSize") * u64(disk, "NumberOfBlocks"), size);
    assert_string_equal(str(disk, "CreationClassName"), "CIM_LogicalDisk");

    const struct cim_instance *fs = find_inst(&f, "Name", "/");
    assert_non_null(fs);
    assert_int_equal(u64(fs, "FileSystemSize"), size);
    uint64_t av = u64(fs, "AvailableSpace");
    assert_true((av > avail ? av - avail : avail - av) <= tol);
    assert_string_equal(str(fs, "FileSystemType"), str(root, "FileSystem"));
    assert_string_equal(str(fs, "Root"), "/");
    assert_string_equal(str(fs, "ReadOnly"), (st.f_flag & ST_RDONLY) ? "true" : "false");
    assert_int_equal(u64(fs, "MaxFileNameLength"), st.f_namemax);

    /* Every disk: free space no larger than the size; DriveType known. */
    for (size_t i = 0; i < w.n; i++) {
        const struct cim_instance *in = &w.inst[i];
        if (str(in, "Size") && str(in, "FreeSpace"))
            assert_true(u64(in, "FreeSpace") <= u64(in, "Size"));
        uint64_t t = u64(in, "DriveType");
        assert_true(t >= 2 && t <= 6);
        assert_string_equal(str(in, "Name"), str(in, "DeviceID"));
        assert_int_equal(str(in, "DeviceID")[0], '/');
    }
    coll_free(&w);
    coll_free(&d);
    coll_free(&f);
}

/* The addresses getifaddrs gives an interface, as text. */
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
static int is_volatile(const char *prop)
{
    static const char *const v[] = {"FreeSpace", "AvailableSpace", "NumberOfFiles", NULL};
    for (const char *const *p = v; *p; p++)
        if (!strcmp(prop, *p))
            return 1;
    return 0;
}

static enum wsm_err get_with(const struct cim_class *c, const struct wsm_pair *keys, size_t n,
                             struct wsm_arena *a, struct cim_instance *out)
{
    struct cim_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    out->cls = c;
    out->arena = a;
    out->v = new_values(a, c);
    return c->get(&ctx, keys, n, out);
}

static void test_get(void **state)
{
    (void)state;
    for (size_t c = 0; c < NCLASSES; c++) {
        struct coll co;
        collect(all_classes[c], &co);
        const struct cim_class *cls = co.cls;
        for (size_t i = 0; i < co.n; i++) {
            const struct cim_instance *in = &co.inst[i];
            struct wsm_pair keys[8];
            size_t nk = 0;
            for (size_t p = 0; p < cls->nprops; p++)
                if (cls->props[p].flags & CIM_KEY) {
                    keys[nk].name = cls->props[p].name;
                    keys[nk].value = in->v[p].s;
                    nk++;
                }
            struct cim_instance got;
            assert_int_equal(get_with(cls, keys, nk, &co.arena, &got), WSM_OK);
            for (size_t p = 0; p < cls->nprops; p++) {
                const struct cim_val *x = &in->v[p], *y = &got.v[p];
                if (is_volatile(cls->props[p].name))
                    continue;
                if ((x->s == NULL) != (y->s == NULL) || (x->s && strcmp(x->s, y->s)) ||
                    x->n != y->n)
                    fail_msg("%s.%s: enumerated '%s', got '%s'", cls->name, cls->props[p].name,
                             x->s ? x->s : "(null)", y->s ? y->s : "(null)");
                for (size_t k = 0; k < x->n; k++)
                    assert_string_equal(x->items[k], y->items[k]);
            }

            /* The identifying key changed: no such instance. */
            static const char *const wrong[] = {"/no/such/mount", "999999", "nosuch0",
                                                "../../../etc",   "0",      "",
                                                "lo/../eth0",     "-1",     "4294967297"};
            for (size_t w = 0; w < sizeof(wrong) / sizeof(wrong[0]); w++) {
                struct wsm_pair bad[8];
                memcpy(bad, keys, sizeof(bad));
                bad[nk - 1].value = wrong[w]; /* the last key is the one that identifies */
                enum wsm_err e = get_with(cls, bad, nk, &co.arena, &got);
                if (e != WSM_ERR_NOT_FOUND)
                    fail_msg("%s get %s: %d", cls->name, wrong[w], e);
            }
            /* Any other key wrong: no such instance either. */
            for (size_t k = 0; k + 1 < nk; k++) {
                struct wsm_pair bad[8];
                memcpy(bad, keys, sizeof(bad));
                bad[k].value = "Wrong";
                assert_int_equal(get_with(cls, bad, nk, &co.arena, &got), WSM_ERR_NOT_FOUND);
            }
            /* Keys compare as the dispatcher compares them: strings without
             * case, numbers by value; selectors that are no key are ignored. */
            struct wsm_pair alt[9];
            memcpy(alt, keys, sizeof(keys));
            char upper[8][256], padded[32];
            for (size_t k = 0; k + 1 < nk; k++) {
                snprintf(upper[k], sizeof(upper[k]), "%s", keys[k].value);
                for (char *q = upper[k]; *q; q++)
                    *q = (char)toupper((unsigned char)*q);
                alt[k].value = upper[k];
            }
            if (cls->props[cim_prop_index(cls, keys[nk - 1].name)].type == CIM_UINT32) {
                snprintf(padded, sizeof(padded), "00%s", keys[nk - 1].value);
                alt[nk - 1].value = padded;
            }
            alt[nk].name = "__cimnamespace";
            alt[nk].value = "root/cimv2";
            assert_int_equal(get_with(cls, alt, nk + 1, &co.arena, &got), WSM_OK);
            for (size_t k = 0; k < nk; k++)
                assert_string_equal(cim_get(&got, keys[k].name), keys[k].value);
            /* Without the identifying key the request is malformed. */
            assert_int_equal(get_with(cls, keys, nk - 1, &co.arena, &got),
                             WSM_ERR_INVALID_SELECTORS);
        }
        coll_free(&co);
    }
    /* An interface name in another case finds the interface, as WMI's
     * case-insensitive keys would (unless a name matches exactly). */
    if (!if_nametoindex("LO")) {
        struct wsm_arena a;
        struct cim_instance got;
        struct wsm_pair k = {"DeviceID", "LO"};
        wsm__arena_init(&a);
        assert_int_equal(get_with(find("CIM_NetworkPort"), &k, 1, &a, &got), WSM_OK);
        assert_string_equal(cim_get(&got, "DeviceID"), "lo");
        wsm__arena_free(&a);
    }
}

/* Mount table corner cases, in a private mount namespace (needs
 * CAP_SYS_ADMIN; skipped without it): an escaped mount point, tmpfs on
 * /tmp as a RAM disk, a bind mount of a subtree left out, a mount hidden
 * by a later one on the same path shown once. The child reports the
 * line of the first failed check as its exit status. */
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "child check failed: %s (line %d)\n", #c, __LINE__);                   \
            _exit(__LINE__ % 200 + 2);                                                             \
        }                                                                                          \
    } while (0)

static size_t child_disks(struct wsm_arena *a, const char *want, const char **drive_type,
                          const char **size)
{
    const struct cim_class *c = find("Win32_LogicalDisk");
    struct cim_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    void *it = NULL;
    size_t hits = 0;
    CHECK(c->open(&ctx, &it) == WSM_OK);
    for (;;) {
        struct cim_instance in = {c, a, new_values(a, c)};
        if (c->next(it, &in) != WSM_OK)
            break;
        const char *id = cim_get(&in, "DeviceID");
        if (id && !strcmp(id, want)) {
            hits++;
            *drive_type = cim_get(&in, "DriveType");
            *size = cim_get(&in, "Size");
        }
    }
    c->close(it);
    return hits;
}

static void mount_child(void)
{
    struct wsm_arena a;
    const char *dt = NULL, *root_dt = NULL, *sz = NULL, *root_provider;
    wsm__arena_init(&a);
    CHECK(mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0);
    CHECK(mount("wsmdtest", "/tmp", "tmpfs", 0, "size=1m") == 0);

    CHECK(child_disks(&a, "/", &root_dt, &sz) == 1);
    struct cim_instance rin = {find("Win32_LogicalDisk"), &a, NULL};
    rin.v = new_values(&a, rin.cls);
    struct wsm_pair rk = {"DeviceID", "/"};
    CHECK(rin.cls->get(NULL, &rk, 1, &rin) == WSM_OK);
    root_provider = cim_get(&rin, "ProviderName");

    CHECK(child_disks(&a, "/tmp", &dt, &sz) == 1);
    CHECK(dt && !strcmp(dt, "6"));
    CHECK(sz && !strcmp(sz, "1048576"));

    /* The root filesystem again, at a path with a space and a tab. */
    CHECK(mkdir("/tmp/a b\tc", 0755) == 0);
    /* Recursive: a user namespace may not bind "/" without what is on it. */
    CHECK(mount("/", "/tmp/a b\tc", "none", MS_BIND | MS_REC, NULL) == 0);
    if (root_dt && !strcmp(root_dt, "3") && root_provider && !strncmp(root_provider, "/dev/", 5)) {
        CHECK(child_disks(&a, "/tmp/a b\tc", &dt, &sz) == 1);
        struct cim_instance in = {find("CIM_FileSystem"), &a, NULL};
        in.v = new_values(&a, in.cls);
        struct wsm_pair k = {"Name", "/tmp/a b\tc"};
        CHECK(in.cls->get(NULL, &k, 1, &in) == WSM_OK);
        CHECK(!strcmp(cim_get(&in, "Root"), "/tmp/a b\tc"));
    }
    /* A subtree bound elsewhere is not a disk. */
    CHECK(mkdir("/tmp/sub", 0755) == 0);
    CHECK(mount("/etc", "/tmp/sub", "none", MS_BIND | MS_REC, NULL) == 0);
    CHECK(child_disks(&a, "/tmp/sub", &dt, &sz) == 0);

    /* A second /tmp hides the first and everything under it. */
    CHECK(mount("wsmdtest2", "/tmp", "tmpfs", 0, "size=2m") == 0);
    CHECK(child_disks(&a, "/tmp", &dt, &sz) == 1);
    CHECK(sz && !strcmp(sz, "2097152"));
    CHECK(child_disks(&a, "/tmp/a b\tc", &dt, &sz) == 0);
    wsm__arena_free(&a);
    _exit(0);
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int r = fputs(text, f) < 0;
    return fclose(f) || r ? -1 : 0;
}

/* A user namespace where we are root, with a mount namespace of its own. */
static int userns(void)
{
    char map[64];
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
        return -1;
    snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
    if (write_file("/proc/self/uid_map", map))
        return -1;
    write_file("/proc/self/setgroups", "deny");
    snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)gid);
    return write_file("/proc/self/gid_map", map);
}

static void test_mount_namespace(void **state)
{
    (void)state;
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* As root, or as anyone where user namespaces are allowed. */
        char ok = unshare(CLONE_NEWNS) == 0 || userns() == 0 ? 'y' : 'n';
        if (write(pipefd[1], &ok, 1) != 1 || ok != 'y')
            _exit(0);
        mount_child();
    }
    close(pipefd[1]);
    char ok = 'n';
    if (read(pipefd[0], &ok, 1) != 1)
        ok = 'n';
    close(pipefd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (ok != 'y')
        skip(); /* no CAP_SYS_ADMIN */
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* Windows' order: WMI gives an instance's properties sorted by name,
 * case ignored; the Win32 tables list them so. */
static void check_wmi_order(const struct cim_class *const *family)
{
    for (const struct cim_class *const *c = family; *c; c++) {
        if (strncmp((*c)->name, "Win32_", 6))
            continue;
        for (size_t k = 1; k < (*c)->nprops; k++)
            if (strcasecmp((*c)->props[k - 1].name, (*c)->props[k].name) >= 0)
                fail_msg("%s: %s before %s", (*c)->name, (*c)->props[k - 1].name,
                         (*c)->props[k].name);
    }
}

static void test_windows_order(void **state)
{
    (void)state;
    check_wmi_order(cim_family_storage);
    check_wmi_order(cim_family_net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_family_tables), cmocka_unit_test(test_enumerate_all),
        cmocka_unit_test(test_same_sets),     cmocka_unit_test(test_root_sizes),
        cmocka_unit_test(test_addresses),     cmocka_unit_test(test_mac_and_state),
        cmocka_unit_test(test_get),           cmocka_unit_test(test_mount_namespace),
        cmocka_unit_test(test_windows_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
