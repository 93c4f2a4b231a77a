/* Helpers of the WQL unit tests (test_wql*.c; wql_helpers.h): the fake
 * class Fake_Thing, its instance, and parse/bind/match steps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wql_helpers.h"

static const struct cim_prop fake_props[NP] = {
    [P_NAME] = {"Name", CIM_STRING, CIM_KEY},       [P_CAPTION] = {"Caption", CIM_STRING, 0},
    [P_COUNT] = {"Count", CIM_UINT32, 0},           [P_BIG] = {"Big", CIM_UINT64, 0},
    [P_DELTA] = {"Delta", CIM_SINT64, 0},           [P_SMALL] = {"Small", CIM_SINT8, 0},
    [P_RATIO] = {"Ratio", CIM_REAL64, 0},           [P_ENABLED] = {"Enabled", CIM_BOOLEAN, 0},
    [P_INSTALLED] = {"Installed", CIM_DATETIME, 0}, [P_TAGS] = {"Tags", CIM_STRING, CIM_ARRAY},
    [P_PORTS] = {"Ports", CIM_UINT16, CIM_ARRAY},   [P_ID] = {"Id", CIM_UINT32, CIM_KEY},
    [P_WEIGHT] = {"Weight", CIM_REAL32, 0},
};

const struct cim_class fake = {
    .name = "Fake_Thing",
    .props = fake_props,
    .nprops = NP,
};

void fx_init(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    f->inst.cls = &fake;
    f->inst.v = f->v;
}

void set(struct fixture *f, int i, const char *s)
{
    f->v[i].s = s;
}

void set_arr(struct fixture *f, int i, const char **items, size_t n)
{
    f->v[i].items = items;
    f->v[i].n = n;
}

/* Parses, binds and matches "SELECT * FROM Fake_Thing WHERE <where>". */
int m(struct fixture *f, const char *where)
{
    char text[2048], err[256];
    snprintf(text, sizeof(text), "SELECT * FROM Fake_Thing WHERE %s", where);
    struct wql_query *q = NULL;
    enum wsm_err rc = wql_parse(text, &q, err, sizeof(err));
    if (rc != WSM_OK)
        fail_msg("parse '%s': %s", where, err);
    rc = wql_bind(q, &fake, err, sizeof(err));
    if (rc != WSM_OK) {
        wql_free(q);
        fail_msg("bind '%s': %s", where, err);
    }
    int r = wql_match(q, &f->inst);
    wql_free(q);
    return r;
}

/* A parse that must fail; err must contain each of the NULL-terminated
 * fragments. */
void parse_fails(const char *text, ...)
{
    char err[256];
    struct wql_query *q = (struct wql_query *)&err; /* must be reset to NULL */
    enum wsm_err rc = wql_parse(text, &q, err, sizeof(err));
    if (rc != WSM_ERR_INVALID_ARG)
        fail_msg("'%s' parsed (rc %d)", text, (int)rc);
    assert_null(q);
    va_list ap;
    va_start(ap, text);
    const char *frag;
    while ((frag = va_arg(ap, const char *)) != NULL)
        if (!strstr(err, frag))
            fail_msg("'%s': error '%s' lacks '%s'", text, err, frag);
    va_end(ap);
}

/* A bind that must fail, with fragments as parse_fails. */
void bind_fails(const char *text, ...)
{
    char err[256];
    struct wql_query *q = NULL;
    if (wql_parse(text, &q, err, sizeof(err)) != WSM_OK)
        fail_msg("'%s' did not parse: %s", text, err);
    enum wsm_err rc = wql_bind(q, &fake, err, sizeof(err));
    int matched = wql_match(q, NULL);
    wql_free(q);
    if (rc != WSM_ERR_INVALID_ARG)
        fail_msg("'%s' bound (rc %d)", text, (int)rc);
    assert_int_equal(matched, 0); /* a failed bind leaves the query unbound */
    va_list ap;
    va_start(ap, text);
    const char *frag;
    while ((frag = va_arg(ap, const char *)) != NULL)
        if (!strstr(err, frag))
            fail_msg("'%s': error '%s' lacks '%s'", text, err, frag);
    va_end(ap);
}

void binds(const char *text)
{
    char err[256];
    struct wql_query *q = NULL;
    if (wql_parse(text, &q, err, sizeof(err)) != WSM_OK)
        fail_msg("'%s' did not parse: %s", text, err);
    enum wsm_err rc = wql_bind(q, &fake, err, sizeof(err));
    wql_free(q);
    if (rc != WSM_OK)
        fail_msg("'%s' did not bind: %s", text, err);
}
