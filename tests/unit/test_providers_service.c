/* Unit tests for the service provider (src/providers/service.c,
 * svcbus.c, svcmethods.c) on a machine without systemd: empty classes,
 * get, methods and Put answered as unsupported, and the tables. */
#include "providers_process.h"

/* ---- services without systemd ---- */

static void test_service_without_systemd(void **state)
{
    (void)state;
    if (access("/run/systemd/system", F_OK) == 0)
        skip();
    const char *names[] = {"Win32_Service", "CIM_Service"};
    for (int n = 0; n < 2; n++) {
        const struct cim_class *c = cls(names[n]);
        void *it = (void *)1;
        assert_int_equal(c->open(NULL, &it), WSM_OK);
        assert_null(it);
        struct inst x;
        inst_init(&x, c);
        assert_int_equal(c->next(it, &x.i), WSM_ERR_NOT_FOUND);
        c->close(it);
        struct wsm_pair k = {"Name", "ssh"};
        assert_int_equal(c->get(NULL, &k, 1, &x.i), WSM_ERR_UNSUPPORTED_FEATURE);
        cim_set_str(&x.i, "Name", "ssh");
        struct cim_ctx ctx = plain_ctx();
        for (size_t m = 0; m < c->nmethods; m++) {
            struct call call;
            struct wsm_pair in = {"StartMode", "Manual"};
            assert_int_equal(
                invoke(&call, &ctx, c, c->methods[m].name, &x.i, &in, c->methods[m].nin ? 1 : 0),
                WSM_ERR_UNSUPPORTED_FEATURE);
            call_free(&call);
        }
        inst_free(&x);
    }
}

/* Put of Win32_Service.StartMode: the checks that come before systemd. */
static void test_service_put(void **state)
{
    (void)state;
    const struct cim_class *c = cls("Win32_Service");
    assert_non_null(c->put);
    assert_null(cls("CIM_Service")->put);
    int k = cim_prop_index(c, "StartMode");
    assert_true(k >= 0 && (c->props[k].flags & CIM_WRITE));
    for (size_t i = 0; i < c->nprops; i++)
        if ((int)i != k)
            assert_false(c->props[i].flags & CIM_WRITE);
    struct inst x;
    inst_init(&x, c);
    cim_set_str(&x.i, "Name", "ssh");
    cim_set_str(&x.i, "StartMode", "Manual");
    struct cim_ctx ctx = plain_ctx();
    struct wsm_pair boot = {"StartMode", "Boot"}, junk = {"StartMode", "Sometimes"};
    assert_int_equal(c->put(&ctx, &x.i, &boot, 1), WSM_ERR_INVALID_REPRESENTATION);
    assert_int_equal(c->put(&ctx, &x.i, &junk, 1), WSM_ERR_INVALID_REPRESENTATION);
    /* The same mode: nothing to do, no right needed. */
    struct wsm_pair same = {"StartMode", "manual"};
    struct cim_ctx other = user_ctx(65534);
    other.switch_user = 1;
    assert_int_equal(c->put(&other, &x.i, &same, 1), WSM_OK);
    assert_int_equal(c->put(&other, &x.i, NULL, 0), WSM_OK);
    /* Another mode needs root. */
    struct wsm_pair autom = {"StartMode", "Automatic"};
    assert_int_equal(c->put(&other, &x.i, &autom, 1), WSM_ERR_ACCESS_DENIED);
    if (geteuid() == 0 && access("/run/systemd/system", F_OK) != 0)
        assert_int_equal(c->put(&ctx, &x.i, &autom, 1), WSM_ERR_UNSUPPORTED_FEATURE);
    assert_string_equal(cim_get(&x.i, "StartMode"), "Manual"); /* unchanged */
    inst_free(&x);
}

static void test_service_tables(void **state)
{
    (void)state;
    /* The names scripts use, with their WMI types. */
    const struct cim_class *w = cls("Win32_Service");
    assert_true(w->props[cim_prop_index(w, "Name")].flags & CIM_KEY);
    assert_int_equal(w->props[cim_prop_index(w, "Started")].type, CIM_BOOLEAN);
    assert_int_equal(w->props[cim_prop_index(w, "ProcessId")].type, CIM_UINT32);
    const char *wm[] = {"StartService", "StopService", "PauseService", "ResumeService",
                        "ChangeStartMode"};
    for (int i = 0; i < 5; i++)
        method(w, wm[i]);
    const struct cim_class *c = cls("CIM_Service");
    const char *keys[] = {"SystemCreationClassName", "SystemName", "CreationClassName", "Name"};
    size_t nkeys = 0;
    for (size_t i = 0; i < c->nprops; i++)
        nkeys += (c->props[i].flags & CIM_KEY) != 0;
    assert_int_equal(nkeys, 4);
    for (int i = 0; i < 4; i++)
        assert_true(c->props[cim_prop_index(c, keys[i])].flags & CIM_KEY);
    method(c, "StartService");
    method(c, "StopService");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_without_systemd),
        cmocka_unit_test(test_service_tables),
        cmocka_unit_test(test_service_put),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
