/* A synthetic class of N generated instances, for tests and benchmarks
 * only: it exists when the daemon runs with --synthetic N. It shows what
 * enumeration costs without the cost of reading the system. */
#include <stdio.h>
#include <stdlib.h>

#include "cim.h"

static const struct cim_prop props[] = {
    {"InstanceID", CIM_STRING, CIM_KEY},
    {"Index", CIM_UINT64, 0},
    {"Name", CIM_STRING, 0},
    {"Value", CIM_SINT64, 0},
    {"Flag", CIM_BOOLEAN, 0},
    {"Created", CIM_DATETIME, 0},
    {"Tags", CIM_STRING, CIM_ARRAY},
    {"Note", CIM_STRING, 0},
};

struct iter {
    unsigned long i, n;
};

static enum wsm_err syn_open(const struct cim_ctx *ctx, void **it)
{
    struct iter *s = calloc(1, sizeof(*s));
    if (!s)
        return WSM_ERR_NOMEM;
    s->n = ctx->synthetic_count;
    *it = s;
    return WSM_OK;
}

static void fill(struct cim_instance *inst, unsigned long i)
{
    static const char *const tags[] = {"alpha", "beta"};
    cim_set_fmt(inst, "InstanceID", "synthetic-%lu", i);
    cim_set_u64(inst, "Index", i);
    cim_set_fmt(inst, "Name", "item %lu", i);
    cim_set_s64(inst, "Value", (int64_t)(i % 1000) - 500);
    cim_set_bool(inst, "Flag", i % 2 == 0);
    cim_set_time(inst, "Created", 1700000000 + (time_t)i, 0);
    cim_set_strv(inst, "Tags", tags, i % 3);
    /* Note stays NULL: every instance shows an xsi:nil property. */
}

static enum wsm_err syn_next(void *it, struct cim_instance *inst)
{
    struct iter *s = it;
    if (!s || s->i >= s->n)
        return WSM_ERR_NOT_FOUND;
    fill(inst, s->i++);
    return WSM_OK;
}

static void syn_close(void *it)
{
    free(it);
}

static enum wsm_err syn_get(const struct cim_ctx *ctx, const struct wsm_pair *keys, size_t n,
                            struct cim_instance *inst)
{
    unsigned long i;
    char tail;
    if (n != 1 || sscanf(keys[0].value, "synthetic-%lu%c", &i, &tail) != 1 ||
        i >= ctx->synthetic_count)
        return WSM_ERR_NOT_FOUND;
    fill(inst, i);
    return WSM_OK;
}

static const struct cim_class synthetic = {
    .name = "WSMD_Synthetic",
    .props = props,
    .nprops = sizeof(props) / sizeof(props[0]),
    .open = syn_open,
    .next = syn_next,
    .close = syn_close,
    .get = syn_get,
};

const struct cim_class *const cim_family_synthetic[] = {&synthetic, NULL};
