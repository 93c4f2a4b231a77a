/* The storage and network providers' unit tests: what their programs
 * share (providers_storage_net.h). */
#include "providers_storage_net.h"

/* ---- helpers ---- */

const struct cim_class *find(const char *name)
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

struct cim_val *new_values(struct wsm_arena *a, const struct cim_class *c)
{
    struct cim_val *v = wsm__arena_alloc(a, c->nprops * sizeof(*v));
    assert_non_null(v);
    memset(v, 0, c->nprops * sizeof(*v));
    return v;
}

void collect(const char *name, struct coll *out)
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

void coll_free(struct coll *c)
{
    free(c->inst);
    wsm__arena_free(&c->arena);
}

const struct cim_val *val(const struct cim_instance *in, const char *prop)
{
    int k = cim_prop_index(in->cls, prop);
    if (k < 0)
        fail_msg("%s has no property %s", in->cls->name, prop);
    return &in->v[k];
}

const char *str(const struct cim_instance *in, const char *prop)
{
    return val(in, prop)->s;
}

const struct cim_instance *find_inst(const struct coll *c, const char *prop, const char *value)
{
    for (size_t i = 0; i < c->n; i++) {
        const char *s = str(&c->inst[i], prop);
        if (s && !strcmp(s, value))
            return &c->inst[i];
    }
    return NULL;
}

uint64_t u64(const struct cim_instance *in, const char *prop)
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

int arr_has(const struct cim_val *v, const char *s)
{
    for (size_t i = 0; i < v->n; i++)
        if (v->items[i] && !strcmp(v->items[i], s))
            return 1;
    return 0;
}

/* Whether a value's text is a valid lexical form of its CIM type. */
int parses_as(enum cim_type t, const char *s)
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
void key_text(const struct cim_instance *in, char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < in->cls->nprops; i++)
        if (in->cls->props[i].flags & CIM_KEY)
            o += (size_t)snprintf(buf + o, o < n ? n - o : 0, "%s\x1f",
                                  in->v[i].s ? in->v[i].s : "(null)");
}

const char *const all_classes[] = {
    "Win32_LogicalDisk",
    "CIM_LogicalDisk",
    "CIM_FileSystem",
    "Win32_NetworkAdapter",
    "Win32_NetworkAdapterConfiguration",
    "CIM_NetworkPort",
};
const size_t nclasses = sizeof(all_classes) / sizeof(all_classes[0]);
