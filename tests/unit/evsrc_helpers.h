/* Helpers of the event source's unit tests (test_evsrc*.c): a journal
 * entry made of "NAME=value" strings. Static inline: include after
 * cmocka.h (mk asserts). */
#ifndef WSM_TESTS_EVSRC_HELPERS_H
#define WSM_TESTS_EVSRC_HELPERS_H

#include <string.h>

#include "evsrc_priv.h"

/* An entry from "NAME=value" strings (values without NULs here). */
struct entry {
    struct wsmd_evfield f[32];
    struct wsmd_evin ev;
};

static inline void mk(struct entry *en, const char *const *kv)
{
    memset(en, 0, sizeof(*en));
    size_t n = 0;
    for (; kv[n]; n++) {
        const char *eq = strchr(kv[n], '=');
        assert_non_null(eq);
        en->f[n] = (struct wsmd_evfield){kv[n], (size_t)(eq - kv[n]), eq + 1, strlen(eq + 1)};
    }
    en->ev.f = en->f;
    en->ev.n = n;
    en->ev.realtime_usec = 1796638096661334ULL; /* 2026-12-07T10:08:16.661334Z */
    en->ev.seqnum = 42;
    wsmd__evin_derive(&en->ev);
}

#define ENTRY(en, ...)                                                                             \
    do {                                                                                           \
        static const char *const kv_[] = {__VA_ARGS__, NULL};                                      \
        mk(en, kv_);                                                                               \
    } while (0)

#endif
