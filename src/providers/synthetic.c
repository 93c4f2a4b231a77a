/* A synthetic class of N generated instances, for tests and benchmarks
 * only: it exists when the daemon runs with --synthetic N. It shows what
 * enumeration costs without the cost of reading the system. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>

#include "cim.h"

static const struct cim_prop syn_props[] = {
    {"InstanceID", CIM_STRING, CIM_KEY},
    {"Index", CIM_UINT64, 0},
    {"Name", CIM_STRING, 0},
    {"Value", CIM_SINT64, 0},
    {"Flag", CIM_BOOLEAN, 0},
    {"Created", CIM_DATETIME, 0},
    {"Tags", CIM_STRING, CIM_ARRAY},
    {"Note", CIM_STRING, CIM_WRITE},
};

/* Note is the one writable property: Put stores it here, by index. Notes
 * are bounded in size and count (at most one per instance). */
#define MAX_NOTE 1024
struct note {
    unsigned long index;
    char *text;
    struct note *next;
};
static pthread_mutex_t notes_lock = PTHREAD_MUTEX_INITIALIZER;
static struct note *notes;

static void note_fill(struct cim_instance *inst, unsigned long i)
{
    pthread_mutex_lock(&notes_lock);
    for (struct note *n = notes; n; n = n->next)
        if (n->index == i) {
            cim_set_str(inst, "Note", n->text);
            break;
        }
    pthread_mutex_unlock(&notes_lock);
}

static enum wsm_err note_set(unsigned long i, const char *text)
{
    if (strlen(text) > MAX_NOTE)
        return WSM_ERR_INVALID_REPRESENTATION;
    char *t = strdup(text);
    if (!t)
        return WSM_ERR_NOMEM;
    pthread_mutex_lock(&notes_lock);
    struct note *n = notes;
    while (n && n->index != i)
        n = n->next;
    if (!n && (n = calloc(1, sizeof(*n)))) {
        n->index = i;
        n->next = notes;
        notes = n;
    }
    if (n) {
        free(n->text);
        n->text = t;
    }
    pthread_mutex_unlock(&notes_lock);
    if (!n) {
        free(t);
        return WSM_ERR_NOMEM;
    }
    return WSM_OK;
}

void cim_synthetic_cleanup(void)
{
    pthread_mutex_lock(&notes_lock);
    while (notes) {
        struct note *n = notes->next;
        free(notes->text);
        free(notes);
        notes = n;
    }
    pthread_mutex_unlock(&notes_lock);
}

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
    /* Note stays NULL (xsi:nil) until a Put sets it. */
    note_fill(inst, i);
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

static enum wsm_err syn_put(const struct cim_ctx *ctx, struct cim_instance *target,
                            const struct wsm_pair *props, size_t n)
{
    (void)ctx;
    unsigned long i;
    char tail;
    const char *id = cim_get(target, "InstanceID");
    if (!id || sscanf(id, "synthetic-%lu%c", &i, &tail) != 1)
        return WSM_ERR_NOT_FOUND;
    for (size_t k = 0; k < n; k++) {
        if (strcasecmp(props[k].name, "Note") != 0)
            return WSM_ERR_INVALID_REPRESENTATION;
        enum wsm_err e = note_set(i, props[k].value);
        if (e)
            return e;
        cim_set_str(target, "Note", props[k].value);
    }
    return WSM_OK;
}

static const struct cim_class synthetic = {
    .name = "WSMD_Synthetic",
    .props = syn_props,
    .nprops = sizeof(syn_props) / sizeof(syn_props[0]),
    .open = syn_open,
    .next = syn_next,
    .close = syn_close,
    .get = syn_get,
    .put = syn_put,
};

const struct cim_class *const cim_family_synthetic[] = {&synthetic, NULL};
