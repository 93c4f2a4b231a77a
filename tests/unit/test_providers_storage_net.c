/* Unit tests for the storage and network providers (src/providers/storage.c,
 * src/providers/net.c) as families: their tables, every class enumerated
 * from live data, the same set of instances in each class of a family,
 * get by keys, and Windows' property order. Storage alone:
 * test_providers_storage.c; network alone: test_providers_net.c. */
#include "providers_storage_net.h"
#include "wmiorder.h"

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

/* Windows' order (wmiorder.h) in both families. */
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
        cmocka_unit_test(test_same_sets),     cmocka_unit_test(test_get),
        cmocka_unit_test(test_windows_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
