/* The host providers' unit tests: what their programs share
 * (providers_os.h): enumerating a class, checking an instance's values
 * against their CIM types, lookups by keys, and a fixture directory with
 * SMBIOS structures to put in it. */
#include "providers_os.h"

char os_test_sysroot[512];
char os_test_hostroot[512];

/* ---- helpers ---------------------------------------------------------- */

/* Property names the provider set on a class that lacks them: each must
 * at least exist in some class of the family (else it is a typo). */
char missed[128][64];
size_t nmissed;

void prop_miss(const struct cim_class *c, const char *p)
{
    (void)c;
    for (size_t k = 0; k < nmissed; k++)
        if (!strcmp(missed[k], p))
            return;
    if (nmissed < sizeof(missed) / sizeof(missed[0]))
        copy_str(missed[nmissed++], sizeof(missed[0]), p);
}

const struct cim_class *cls(const char *name)
{
    for (const struct cim_class *const *c = test_cim_family_os; *c; c++)
        if (!strcmp((*c)->name, name))
            return *c;
    fail_msg("no class %s", name);
    return NULL;
}

void collect(const char *name, struct coll *o)
{
    memset(o, 0, sizeof(*o));
    o->cls = cls(name);
    wsm__arena_init(&o->arena);
    struct cim_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    void *it = NULL;
    assert_int_equal(o->cls->open(&ctx, &it), WSM_OK);
    while (it) {
        assert_true(o->n < sizeof(o->inst) / sizeof(o->inst[0]));
        struct cim_instance *i = &o->inst[o->n];
        i->cls = o->cls;
        i->arena = &o->arena;
        i->v = wsm__arena_alloc(&o->arena, o->cls->nprops * sizeof(*i->v));
        assert_non_null(i->v);
        memset(i->v, 0, o->cls->nprops * sizeof(*i->v));
        enum wsm_err e = o->cls->next(it, i);
        if (e == WSM_ERR_NOT_FOUND)
            break;
        assert_int_equal(e, WSM_OK);
        o->n++;
    }
    o->cls->close(it);
    o->cls->close(NULL); /* harmless */
}

void release(struct coll *o)
{
    wsm__arena_free(&o->arena);
}

const char *val(const struct coll *o, size_t i, const char *prop)
{
    int k = -1;
    for (size_t j = 0; j < o->cls->nprops; j++)
        if (!strcmp(o->cls->props[j].name, prop))
            k = (int)j;
    if (k < 0)
        fail_msg("%s has no property %s", o->cls->name, prop);
    return o->inst[i].v[k].s;
}

unsigned long long num(const struct coll *o, size_t i, const char *prop)
{
    const char *s = val(o, i, prop);
    if (!s)
        fail_msg("%s.%s is NULL", o->cls->name, prop);
    return strtoull(s, NULL, 10);
}

void assert_val(const struct coll *o, size_t i, const char *prop, const char *want)
{
    const char *s = val(o, i, prop);
    if (!want) {
        if (s)
            fail_msg("%s.%s: want NULL, have \"%s\"", o->cls->name, prop, s);
        return;
    }
    if (!s)
        fail_msg("%s.%s: want \"%s\", have NULL", o->cls->name, prop, want);
    if (strcmp(s, want) != 0)
        fail_msg("%s.%s: want \"%s\", have \"%s\"", o->cls->name, prop, want, s);
}

static int digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

int two(const char *s, int lo, int hi)
{
    if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]))
        return 0;
    int v = (s[0] - '0') * 10 + (s[1] - '0');
    return v >= lo && v <= hi;
}

/* xs:dateTime as DSP0230 wants it, or an xs:duration. */
static int is_datetime(const char *s)
{
    if (s[0] == 'P') {
        if (!s[1])
            return 0;
        for (const char *p = s + 1; *p; p++)
            if (!strchr("0123456789YMDTHS.", *p))
                return 0;
        return 1;
    }
    if (strlen(s) < 20)
        return 0;
    for (int k = 0; k < 4; k++)
        if (!isdigit((unsigned char)s[k]))
            return 0;
    if (s[4] != '-' || !two(s + 5, 1, 12) || s[7] != '-' || !two(s + 8, 1, 31) || s[10] != 'T' ||
        !two(s + 11, 0, 23) || s[13] != ':' || !two(s + 14, 0, 59) || s[16] != ':' ||
        !two(s + 17, 0, 60))
        return 0;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return 0;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'Z')
        return p[1] == '\0';
    if ((*p == '+' || *p == '-') && two(p + 1, 0, 14) && p[3] == ':' && two(p + 4, 0, 59))
        return p[6] == '\0';
    return 0;
}

/* XML can carry it: UTF-8 without control characters. */
static int is_xml_text(const char *s)
{
    char *copy = strdup(s);
    assert_non_null(copy);
    int changed = os_test_clean_text(copy);
    free(copy);
    return !changed;
}

static void check_lexical(const struct cim_class *c, size_t k, const char *s)
{
    const char *name = c->props[k].name;
    static const unsigned long long umax[] = {0xff, 0xffff, 0xffffffff, 0xffffffffffffffffull};
    static const long long smax[] = {0x7f, 0x7fff, 0x7fffffff, 0x7fffffffffffffffll};
    char *end;
    switch (c->props[k].type) {
    case CIM_STRING:
        if (!is_xml_text(s))
            fail_msg("%s.%s: not XML text", c->name, name);
        break;
    case CIM_BOOLEAN:
        if (strcmp(s, "true") && strcmp(s, "false"))
            fail_msg("%s.%s: \"%s\" is not a boolean", c->name, name, s);
        break;
    case CIM_UINT8:
    case CIM_UINT16:
    case CIM_UINT32:
    case CIM_UINT64: {
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (!digits(s) || errno || *end || v > umax[c->props[k].type - CIM_UINT8])
            fail_msg("%s.%s: \"%s\" is not a %d-bit unsigned", c->name, name, s,
                     8 << (c->props[k].type - CIM_UINT8));
        break;
    }
    case CIM_SINT8:
    case CIM_SINT16:
    case CIM_SINT32:
    case CIM_SINT64: {
        errno = 0;
        long long v = strtoll(s, &end, 10);
        long long m = smax[c->props[k].type - CIM_SINT8];
        if (!digits(s[0] == '-' ? s + 1 : s) || errno || *end || v > m || v < -m - 1)
            fail_msg("%s.%s: \"%s\" is not a signed integer of its size", c->name, name, s);
        break;
    }
    case CIM_REAL32:
    case CIM_REAL64:
        strtod(s, &end);
        if (end == s || *end)
            fail_msg("%s.%s: \"%s\" is not a real", c->name, name, s);
        break;
    case CIM_DATETIME:
        if (!is_datetime(s))
            fail_msg("%s.%s: \"%s\" is not a datetime", c->name, name, s);
        break;
    }
}

void check_instance(const struct cim_instance *i)
{
    const struct cim_class *c = i->cls;
    for (size_t k = 0; k < c->nprops; k++) {
        const struct cim_val *v = &i->v[k];
        if (c->props[k].flags & CIM_KEY) {
            if (!v->s || !v->s[0])
                fail_msg("%s: key %s is NULL or empty", c->name, c->props[k].name);
        }
        if (c->props[k].flags & CIM_ARRAY) {
            if (v->s)
                fail_msg("%s.%s: an array with a scalar value", c->name, c->props[k].name);
            assert_true((v->n == 0) == (v->items == NULL));
            for (size_t j = 0; j < v->n; j++) {
                assert_non_null(v->items[j]);
                check_lexical(c, k, v->items[j]);
            }
        } else {
            if (v->n || v->items)
                fail_msg("%s.%s: a scalar with items", c->name, c->props[k].name);
            if (v->s)
                check_lexical(c, k, v->s);
        }
    }
}

/* The dispatcher's comparison (src/daemon/cimops.c): strings without
 * case, numbers by value. */
static int keys_match(const struct cim_instance *i, const struct wsm_pair *keys, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        size_t k = 0;
        while (k < i->cls->nprops && strcasecmp(i->cls->props[k].name, keys[j].name))
            k++;
        if (k == i->cls->nprops || !i->v[k].s)
            return 0;
        enum cim_type t = i->cls->props[k].type;
        if (t != CIM_STRING && t != CIM_DATETIME && t != CIM_BOOLEAN) {
            if (strtold(i->v[k].s, NULL) != strtold(keys[j].value, NULL))
                return 0;
        } else if (strcasecmp(i->v[k].s, keys[j].value)) {
            return 0;
        }
    }
    return 1;
}

/* A Get: the class's get() if it has one, else a scan, as the dispatcher. */
enum wsm_err lookup(const struct cim_class *c, const struct wsm_pair *keys, size_t n,
                    struct cim_instance *inst)
{
    struct cim_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    inst->cls = c;
    memset(inst->v, 0, c->nprops * sizeof(*inst->v));
    if (c->get) {
        enum wsm_err e = c->get(&ctx, keys, n, inst);
        return e == WSM_OK && !keys_match(inst, keys, n) ? WSM_ERR_NOT_FOUND : e;
    }
    void *it = NULL;
    enum wsm_err e = c->open(&ctx, &it);
    if (e)
        return e;
    e = WSM_ERR_NOT_FOUND;
    while (it) {
        memset(inst->v, 0, c->nprops * sizeof(*inst->v));
        enum wsm_err r = c->next(it, inst);
        if (r) {
            if (r != WSM_ERR_NOT_FOUND)
                e = r;
            break;
        }
        if (keys_match(inst, keys, n)) {
            e = WSM_OK;
            break;
        }
    }
    c->close(it);
    return e;
}

int is_bios(const struct cim_class *c)
{
    return !strcmp(c->name, "Win32_BIOS") || !strcmp(c->name, "CIM_BIOSElement");
}

int have_dmi(void)
{
    struct stat st;
    return stat("/sys/class/dmi/id", &st) == 0 && S_ISDIR(st.st_mode);
}

/* The whole of a small file, or NULL. */
char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 20);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* PRETTY_NAME as the test reads it itself: the same os-release(5) rules,
 * written without the provider's parser. */
void pretty_name(char *out, size_t n)
{
    char *text = slurp("/etc/os-release");
    if (!text)
        text = slurp("/usr/lib/os-release");
    snprintf(out, n, "Linux");
    if (!text)
        return;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "PRETTY_NAME=", 12) != 0)
            continue;
        char *v = line + 12;
        size_t len = strlen(v);
        if (len >= 2 && (v[0] == '"' || v[0] == '\'') && v[len - 1] == v[0]) {
            v[len - 1] = '\0';
            v++;
        }
        if (*v)
            snprintf(out, n, "%s", v);
    }
    free(text);
}

unsigned long long memtotal_kb(void)
{
    char *text = slurp("/proc/meminfo");
    assert_non_null(text);
    char *p = strstr(text, "MemTotal:");
    assert_non_null(p);
    unsigned long long kb = strtoull(p + 9, NULL, 10);
    free(text);
    return kb;
}

/* ---- a fixture /sys: SMBIOS, DMI, ACPI, CPU topology --------------------- */

void mkdirs(const char *root, const char *rel)
{
    char path[1024];
    if (!root || !rel) /* (keeps gcc's format-truncation analysis quiet) */
        return;
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    mkdir(path, 0755);
}

void put(const char *root, const char *rel, const void *data, size_t n)
{
    char path[1024];
    assert_non_null(root);
    assert_non_null(rel);
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    mkdirs(root, path + strlen(root) + 1);
    *slash = '/';
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

void puts_(const char *root, const char *rel, const char *text)
{
    put(root, rel, text, strlen(text));
}

int fx_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    if (test_tmpdir_make(f->dir, sizeof(f->dir), "os")) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

int fx_teardown(void **state)
{
    struct fixture *f = *state;
    os_test_sysroot[0] = '\0';
    os_test_hostroot[0] = '\0';
    test_tmpdir_remove(f->dir);
    free(f);
    return 0;
}

/* A structure: formatted area of len bytes (type, len, handle set here),
 * then the strings, then the double NUL. */
size_t smbios(unsigned char *out, size_t cap, unsigned type, size_t len, const unsigned char *fmt,
              const char *const *strs, size_t nstr)
{
    assert_true(len <= cap);
    memcpy(out, fmt, len);
    out[0] = (unsigned char)type;
    out[1] = (unsigned char)len;
    size_t n = len;
    for (size_t k = 0; k < nstr; k++) {
        size_t sl = strlen(strs[k]) + 1;
        assert_true(n + sl < cap);
        memcpy(out + n, strs[k], sl);
        n += sl;
    }
    if (nstr == 0)
        out[n++] = '\0';
    out[n++] = '\0';
    return n;
}

void le16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

void le32(unsigned char *p, uint32_t v)
{
    for (int k = 0; k < 4; k++)
        p[k] = (unsigned char)(v >> (8 * k));
}

/* A DDR4 DIMM as SMBIOS 3.3 describes it: 32 GiB through Extended Size. */
size_t dimm_ddr4(unsigned char *out, size_t cap)
{
    unsigned char f[0x5c];
    memset(f, 0, sizeof(f));
    le16(f + 0x08, 72);
    le16(f + 0x0a, 64);
    le16(f + 0x0c, 0x7fff);
    f[0x0e] = 0x09; /* DIMM */
    f[0x10] = 1;
    f[0x11] = 2;
    f[0x12] = 0x1a; /* DDR4 */
    le16(f + 0x13, 0x0080);
    le16(f + 0x15, 3200);
    f[0x17] = 3;
    f[0x18] = 4;
    f[0x1a] = 5;
    f[0x1b] = 0x02;
    le32(f + 0x1c, 32768);
    le16(f + 0x20, 2933);
    le16(f + 0x22, 1200);
    le16(f + 0x24, 1200);
    le16(f + 0x26, 1200);
    static const char *const s[] = {"DIMM_A1", "BANK 0", "Samsung", "12345678",
                                    "M393A4K40DB3-CWE    "};
    return smbios(out, cap, 17, sizeof(f), f, s, 5);
}
