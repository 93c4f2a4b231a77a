/* The host providers' unit tests (test_providers_os*.c, four programs)
 * and what they share: the helpers and the fixture /sys of
 * providers_os_helpers.c.
 *
 * os.c and its other files are included, not linked, to reach their
 * static parsers and to point their /sys root at a fixture: a test
 * program includes this header with PROVIDERS_OS_INCLUDE_SOURCES defined
 * first, the helpers without it. The family's one public symbol is
 * renamed so that the copy in the daemon core, if linked too, does not
 * collide. Nothing pulls the core's os.o or hw.o in (the registry's
 * reference to the family is weak), so their os__ helpers do not collide
 * with the included ones either. */
#ifndef WSMD_TEST_PROVIDERS_OS_H
#define WSMD_TEST_PROVIDERS_OS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <utmpx.h>

#include "arena.h"
#include "envelope.h"
#include "wsm/wsm.h"

struct cim_class;
extern char os_test_sysroot[512];  /* "": the real /sys */
extern char os_test_hostroot[512]; /* "": the real /proc, /etc, /run */
void prop_miss(const struct cim_class *c, const char *p);

#define OS_SYS_ROOT os_test_sysroot
#define OS_HOST_ROOT os_test_hostroot
#define OS_TEST_PROP_MISS(c, p) prop_miss(c, p)
#ifdef PROVIDERS_OS_INCLUDE_SOURCES
#define cim_family_os test_cim_family_os
#include "../../src/providers/os.c"
#include "../../src/providers/osinfo.c"
#include "../../src/providers/compsys.c"
#include "../../src/providers/hw.c"
#include "../../src/providers/cpu.c"
#include "../../src/providers/membios.c"
#undef cim_family_os
/* os.c's static clean_text, for the helpers (each program includes the
 * sources once). */
int os_test_clean_text(char *s);
int os_test_clean_text(char *s)
{
    return clean_text(s);
}
#else
#include "os_priv.h"
int os_test_clean_text(char *s);
extern const struct cim_class *const test_cim_family_os[];
#endif
#include "tmpdir.h"

/* The helpers the two halves share carry the os__ prefix (os_priv.h);
 * the tests call them by their short names. */
#define copy_str os__copy_str
#define trim os__trim
#define set_str os__set_str
#define set_u64 os__set_u64
#define machine_is_64 os__machine_is_64
#define meminfo_read os__meminfo_read
#define cpuinfo_read os__cpuinfo_read
#define kv_file_get os__kv_file_get
#define count_sessions os__count_sessions
#define root_source os__root_source
#define mem_free_kb os__mem_free_kb
#define set_s64 os__set_s64

/* Property names the provider set on a class that lacks them: each must
 * at least exist in some class of the family (else it is a typo). */
extern char missed[128][64];
extern size_t nmissed;

/* All instances of a class, enumerated once. */
struct coll {
    const struct cim_class *cls;
    struct wsm_arena arena;
    struct cim_instance inst[64];
    size_t n;
};

struct fixture {
    char dir[256];
};

const struct cim_class *cls(const char *name);
void collect(const char *name, struct coll *o);
void release(struct coll *o);
const char *val(const struct coll *o, size_t i, const char *prop);
unsigned long long num(const struct coll *o, size_t i, const char *prop);
void assert_val(const struct coll *o, size_t i, const char *prop, const char *want);
int two(const char *s, int lo, int hi);
void check_instance(const struct cim_instance *i);
enum wsm_err lookup(const struct cim_class *c, const struct wsm_pair *keys, size_t n,
                    struct cim_instance *inst);
int is_bios(const struct cim_class *c);
int have_dmi(void);
char *slurp(const char *path);
void pretty_name(char *out, size_t n);
unsigned long long memtotal_kb(void);
void mkdirs(const char *root, const char *rel);
void put(const char *root, const char *rel, const void *data, size_t n);
void puts_(const char *root, const char *rel, const char *text);
int fx_setup(void **state);
int fx_teardown(void **state);
size_t smbios(unsigned char *out, size_t cap, unsigned type, size_t len, const unsigned char *fmt,
              const char *const *strs, size_t nstr);
void le16(unsigned char *p, unsigned v);
void le32(unsigned char *p, uint32_t v);
size_t dimm_ddr4(unsigned char *out, size_t cap);

#endif
