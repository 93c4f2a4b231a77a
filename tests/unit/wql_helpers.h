/* Helpers of the WQL unit tests (test_wql*.c): a fake class with a
 * property of every type the matcher compares, an instance of it to set
 * values on, and parse/bind/match steps that fail the test with the
 * query and the error. */
#ifndef WSM_TESTS_WQL_HELPERS_H
#define WSM_TESTS_WQL_HELPERS_H

#include <stddef.h>

#include "wql.h"

/* The fake class's properties (Fake_Thing). */
enum {
    P_NAME,
    P_CAPTION,
    P_COUNT,
    P_BIG,
    P_DELTA,
    P_SMALL,
    P_RATIO,
    P_ENABLED,
    P_INSTALLED,
    P_TAGS,
    P_PORTS,
    P_ID,
    P_WEIGHT,
    NP
};

extern const struct cim_class fake;

struct fixture {
    struct cim_val v[NP];
    struct cim_instance inst;
};

void fx_init(struct fixture *f);
void set(struct fixture *f, int i, const char *s);
void set_arr(struct fixture *f, int i, const char **items, size_t n);
/* Parses, binds and matches "SELECT * FROM Fake_Thing WHERE <where>". */
int m(struct fixture *f, const char *where);
/* A parse that must fail; err must contain each of the NULL-terminated
 * fragments. */
void parse_fails(const char *text, ...);
/* A bind that must fail, with fragments as parse_fails. */
void bind_fails(const char *text, ...);
/* A query that must parse and bind. */
void binds(const char *text);

#endif
