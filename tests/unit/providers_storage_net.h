/* The storage and network providers' unit tests (test_providers_storage_net.c,
 * test_providers_storage.c, test_providers_net.c) and the helpers they
 * share (providers_storage_net_helpers.c): enumerating a class, reading an
 * instance's values, the classes of both families. */
#ifndef WSMD_TEST_PROVIDERS_STORAGE_NET_H
#define WSMD_TEST_PROVIDERS_STORAGE_NET_H

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

/* The classes of both families, by name. */
extern const char *const all_classes[];
extern const size_t nclasses;
#define NCLASSES nclasses

/* All instances of a class, enumerated once. */
struct coll {
    const struct cim_class *cls;
    struct wsm_arena arena;
    struct cim_instance *inst;
    size_t n;
};

const struct cim_class *find(const char *name);
struct cim_val *new_values(struct wsm_arena *a, const struct cim_class *c);
void collect(const char *name, struct coll *out);
void coll_free(struct coll *c);
const struct cim_val *val(const struct cim_instance *in, const char *prop);
const char *str(const struct cim_instance *in, const char *prop);
const struct cim_instance *find_inst(const struct coll *c, const char *prop, const char *value);
uint64_t u64(const struct cim_instance *in, const char *prop);
int arr_has(const struct cim_val *v, const char *s);
int parses_as(enum cim_type t, const char *s);
void key_text(const struct cim_instance *in, char *buf, size_t n);

#endif
