/* Unit tests for the WQL parser, binder and matcher (src/providers/wql.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wql.h"

/* ---- a fake class --------------------------------------------------- */

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

static const struct cim_prop fake_props[NP] = {
    [P_NAME] = {"Name", CIM_STRING, CIM_KEY},       [P_CAPTION] = {"Caption", CIM_STRING, 0},
    [P_COUNT] = {"Count", CIM_UINT32, 0},           [P_BIG] = {"Big", CIM_UINT64, 0},
    [P_DELTA] = {"Delta", CIM_SINT64, 0},           [P_SMALL] = {"Small", CIM_SINT8, 0},
    [P_RATIO] = {"Ratio", CIM_REAL64, 0},           [P_ENABLED] = {"Enabled", CIM_BOOLEAN, 0},
    [P_INSTALLED] = {"Installed", CIM_DATETIME, 0}, [P_TAGS] = {"Tags", CIM_STRING, CIM_ARRAY},
    [P_PORTS] = {"Ports", CIM_UINT16, CIM_ARRAY},   [P_ID] = {"Id", CIM_UINT32, CIM_KEY},
    [P_WEIGHT] = {"Weight", CIM_REAL32, 0},
};

static const struct cim_class fake = {
    .name = "Fake_Thing",
    .props = fake_props,
    .nprops = NP,
};

struct fixture {
    struct cim_val v[NP];
    struct cim_instance inst;
};

static void fx_init(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    f->inst.cls = &fake;
    f->inst.v = f->v;
}

static void set(struct fixture *f, int i, const char *s)
{
    f->v[i].s = s;
}

static void set_arr(struct fixture *f, int i, const char **items, size_t n)
{
    f->v[i].items = items;
    f->v[i].n = n;
}

/* Parses, binds and matches "SELECT * FROM Fake_Thing WHERE <where>". */
static int m(struct fixture *f, const char *where)
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
static void parse_fails(const char *text, ...)
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
static void bind_fails(const char *text, ...)
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

static void binds(const char *text)
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

/* ---- parsing -------------------------------------------------------- */

static void test_parse_star(void **state)
{
    (void)state;
    struct wql_query *q = NULL;
    char err[128];
    assert_int_equal(wql_parse("SELECT * FROM Win32_Process", &q, err, sizeof(err)), WSM_OK);
    assert_string_equal(wql_class_name(q), "Win32_Process");
    assert_int_equal(wql_select_count(q), 0);
    assert_null(wql_select_name(q, 0));
    wql_free(q);

    /* Lower case keywords, odd whitespace, no space around '*'. */
    assert_int_equal(wql_parse("\tselect\n*from  cim_os\r\n", &q, err, sizeof(err)), WSM_OK);
    assert_string_equal(wql_class_name(q), "cim_os");
    wql_free(q);
    wql_free(NULL);
}

static void test_parse_list(void **state)
{
    (void)state;
    struct wql_query *q = NULL;
    char err[128];
    assert_int_equal(wql_parse("Select Name, caption ,COUNT From Fake_Thing", &q, err, sizeof(err)),
                     WSM_OK);
    assert_int_equal(wql_select_count(q), 3);
    assert_string_equal(wql_select_name(q, 0), "Name");
    assert_string_equal(wql_select_name(q, 1), "caption");
    assert_string_equal(wql_select_name(q, 2), "COUNT");
    assert_null(wql_select_name(q, 3));
    assert_string_equal(wql_class_name(q), "Fake_Thing");
    wql_free(q);

    /* 64 items are fine. */
    char text[2048] = "SELECT ";
    for (int i = 0; i < 64; i++)
        strcat(text, i ? ", Name" : "Name");
    strcat(text, " FROM Fake_Thing");
    assert_int_equal(wql_parse(text, &q, err, sizeof(err)), WSM_OK);
    assert_int_equal(wql_select_count(q), 64);
    wql_free(q);
}

static void test_parse_precedence(void **state)
{
    (void)state;
    struct fixture f;
    fx_init(&f);
    /* OR is loosest: Count = 1 OR (Count = 2 AND Big = 3). */
    set(&f, P_COUNT, "1");
    set(&f, P_BIG, "0");
    assert_true(m(&f, "Count = 1 OR Count = 2 AND Big = 3"));
    set(&f, P_COUNT, "2");
    assert_false(m(&f, "Count = 1 OR Count = 2 AND Big = 3"));
    set(&f, P_BIG, "3");
    assert_true(m(&f, "Count = 1 OR Count = 2 AND Big = 3"));
    /* Parentheses override. */
    set(&f, P_COUNT, "1");
    set(&f, P_BIG, "0");
    assert_false(m(&f, "(Count = 1 OR Count = 2) AND Big = 3"));
    assert_true(m(&f, "(Count = 1 OR Count = 2) AND (Big = 3 OR Big = 0)"));
    assert_true(m(&f, "((((Count = 1))))"));
    /* NOT binds tighter than AND: (NOT Count = 1) AND Big = 3. */
    set(&f, P_COUNT, "2");
    set(&f, P_BIG, "4");
    assert_false(m(&f, "NOT Count = 1 AND Big = 3"));
    assert_true(m(&f, "NOT (Count = 1 AND Big = 3)"));
    set(&f, P_BIG, "3");
    assert_true(m(&f, "NOT Count = 1 AND Big = 3"));
    assert_true(m(&f, "not not Count = 2"));
    assert_true(m(&f, "Count = 9 or Count = 8 or Count = 2"));
    assert_false(m(&f, "Count = 2 and Big = 3 and Name = 'x'"));
    assert_true(m(&f, "NOT Count = 9 OR Count = 9"));
}

static void test_parse_strings(void **state)
{
    (void)state;
    struct fixture f;
    fx_init(&f);
    set(&f, P_NAME, "it's");
    assert_true(m(&f, "Name = 'it\\'s'"));
    assert_true(m(&f, "Name = \"it's\""));
    assert_true(m(&f, "Name = \"it\\'s\""));
    set(&f, P_NAME, "a \"b\" \\ c");
    assert_true(m(&f, "Name = \"a \\\"b\\\" \\\\ c\""));
    assert_true(m(&f, "Name = 'a \"b\" \\\\ c'"));
    set(&f, P_NAME, "");
    assert_true(m(&f, "Name = ''"));
    assert_true(m(&f, "Name = \"\""));
    /* Keywords inside strings are just text. */
    set(&f, P_NAME, "SELECT * FROM x WHERE");
    assert_true(m(&f, "Name = 'select * from x where'"));
    /* UTF-8 passes through. */
    set(&f, P_NAME, "caf\xc3\xa9");
    assert_true(m(&f, "Name = 'CAF\xc3\xa9'"));
}

static void test_parse_numbers(void **state)
{
    (void)state;
    struct fixture f;
    fx_init(&f);
    set(&f, P_DELTA, "-5");
    set(&f, P_SMALL, "-128");
    set(&f, P_RATIO, "-25");
    assert_true(m(&f, "Delta = -5"));
    assert_true(m(&f, "Delta>-10"));
    assert_true(m(&f, "Delta<=-5"));
    assert_true(m(&f, "Small = -128 AND Small < -127"));
    assert_true(m(&f, "Ratio = -2.5e1"));
    assert_true(m(&f, "Ratio = -25.0"));
    assert_true(m(&f, "Ratio < -.5"));
    assert_true(m(&f, "Ratio > -1E3"));
    set(&f, P_RATIO, "0.5");
    assert_true(m(&f, "Ratio = .5"));
    assert_true(m(&f, "Ratio = 5e-1"));
    /* The literal on the left: the operator is mirrored. */
    set(&f, P_COUNT, "7");
    assert_true(m(&f, "5 < Count"));
    assert_true(m(&f, "7 = Count"));
    assert_false(m(&f, "7 > Count"));
    assert_true(m(&f, "10 >= Count"));
    assert_true(m(&f, "7 <= Count"));
    assert_false(m(&f, "8 <= Count"));
    assert_true(m(&f, "8 > Count"));
    assert_true(m(&f, "7 <> Count") == 0);
    set(&f, P_NAME, "x");
    assert_true(m(&f, "'X' = Name"));
}

static void test_parse_errors(void **state)
{
    (void)state;
    parse_fails("", "expected SELECT", "end of query", "position 1", NULL);
    parse_fails("DELETE * FROM x", "expected SELECT", "'DELETE'", NULL);
    parse_fails("SELECT", "expected a property name or *", NULL);
    parse_fails("SELECT * Fake_Thing", "expected FROM", "position 10", NULL);
    parse_fails("SELECT Name Fake_Thing", "expected FROM", "'Fake_Thing'", NULL);
    parse_fails("SELECT Name, FROM x", "expected a property name", "'FROM'", NULL);
    parse_fails("SELECT *, Name FROM x", "expected FROM", "','", NULL);
    parse_fails("SELECT * FROM", "expected a class name", NULL);
    parse_fails("SELECT * FROM 'x'", "expected a class name", NULL);
    parse_fails("SELECT * FROM x WHERE", "expected a condition", "end of query", NULL);
    parse_fails("SELECT * FROM x WHERE Name = 'abc", "unterminated string", "position 30", NULL);
    parse_fails("SELECT * FROM x WHERE Name = \"abc\\\"", "unterminated string", NULL);
    parse_fails("SELECT * FROM x WHERE Name = 'a\\", "unterminated string", NULL);
    parse_fails("SELECT * FROM x WHERE Name = 'a\\nb'", "invalid escape '\\n'", "position 32",
                NULL);
    parse_fails("SELECT * FROM x WHERE Name = 'a\\\tb'", "backslash before byte 0x09", NULL);
    parse_fails("SELECT * FROM x WHERE Name # 1", "unexpected character '#'", "position 28", NULL);
    parse_fails("SELECT * FROM x WHERE Name = 1;", "unexpected character ';'", NULL);
    parse_fails("SELECT * FROM x WHERE Name ! 1", "unexpected character '!'", NULL);
    parse_fails("SELECT * FROM x WHERE Name = \x01", "unexpected byte 0x01", NULL);
    parse_fails("SELECT * FROM x WHERE Name = 'a' garbage", "unexpected 'garbage'", "after the end",
                "position 34", NULL);
    parse_fails("SELECT * FROM x y", "unexpected 'y'", NULL);
    /* Quoted text in reasons is clipped and made printable ASCII. */
    parse_fails("SELECT * FROM x WHERE Name = 'a' 'b\x01\xc3\xa9"
                "c'",
                "unexpected ''b?"
                "??c''",
                NULL);
    parse_fails("SELECT * FROM x abcdefghijklmnopqrstuvwxyz0123", "'abcdefghijklmnopqrstuvwx...'",
                NULL);
    parse_fails("SELECT * FROM x WHERE Count = 1)", "unexpected ')'", NULL);
    parse_fails("SELECT * FROM x WHERE (Count = 1", "expected ')'", "position 23", NULL);
    parse_fails("SELECT * FROM x WHERE Count =", "expected a value", NULL);
    parse_fails("SELECT * FROM x WHERE Count = AND", "expected a value", "'AND'", NULL);
    parse_fails("SELECT * FROM x WHERE Count", "expected an operator", NULL);
    parse_fails("SELECT * FROM x WHERE Count = Name", "comparing two properties", NULL);
    parse_fails("SELECT * FROM x WHERE 1 = 1", "comparing two constants", NULL);
    parse_fails("SELECT * FROM x WHERE 1 AND Name = 'a'", "expected an operator", NULL);
    parse_fails("SELECT * FROM x WHERE Name LIKE 5", "LIKE needs a quoted pattern", NULL);
    parse_fails("SELECT * FROM x WHERE Name LIKE 'a[bc'", "unterminated [", NULL);
    parse_fails("SELECT * FROM x WHERE Name NOT = 'a'", "expected LIKE after NOT", NULL);
    parse_fails("SELECT * FROM x WHERE Name IS 5", "expected NULL after IS", NULL);
    parse_fails("SELECT * FROM x WHERE Name IS NOT", "expected NULL after IS", NULL);
    parse_fails("SELECT * FROM x WHERE Count < NULL", "NULL can only be compared", NULL);
    parse_fails("SELECT * FROM x WHERE NULL > Count", "NULL can only be compared", NULL);
    parse_fails("SELECT * FROM x WHERE Count = 12abc", "malformed number", NULL);
    parse_fails("SELECT * FROM x WHERE Count = 1.2.3", "malformed number", NULL);
    parse_fails("SELECT * FROM x WHERE Count = - 1", "unexpected character '-'", NULL);
    parse_fails("SELECT * FROM x WHERE Big = 18446744073709551616", "integer out of range", NULL);
    parse_fails("SELECT * FROM x WHERE Ratio = 1e999", "real out of range", NULL);
    parse_fails("SELECT * FROM x WHERE Count = 1 AND", "expected a condition", NULL);
    parse_fails("SELECT * FROM x WHERE NOT", "expected a condition", NULL);
    parse_fails("SELECT * FROM x WHERE ()", "expected a condition", "')'", NULL);

    /* err may be NULL or tiny; out is always reset. */
    struct wql_query *q = NULL;
    assert_int_equal(wql_parse("SELECT", &q, NULL, 0), WSM_ERR_INVALID_ARG);
    assert_null(q);
    char tiny[4];
    assert_int_equal(wql_parse("SELECT", &q, tiny, sizeof(tiny)), WSM_ERR_INVALID_ARG);
    assert_int_equal(strlen(tiny), 3);
    assert_int_equal(wql_parse(NULL, &q, tiny, sizeof(tiny)), WSM_ERR_INVALID_ARG);
}

static char *repeat(const char *head, const char *unit, size_t n, const char *mid,
                    const char *unit2, size_t n2)
{
    size_t len = strlen(head) + strlen(unit) * n + strlen(mid) + strlen(unit2) * n2 + 1;
    char *s = malloc(len);
    assert_non_null(s);
    strcpy(s, head);
    for (size_t i = 0; i < n; i++)
        strcat(s, unit);
    strcat(s, mid);
    for (size_t i = 0; i < n2; i++)
        strcat(s, unit2);
    return s;
}

static void test_parse_limits(void **state)
{
    (void)state;
    struct wql_query *q = NULL;
    char err[256];
    const char *w = "SELECT * FROM Fake_Thing WHERE ";

    /* 32 levels of parentheses parse; 33 do not. */
    char *s = repeat(w, "(", 32, "Count = 1", ")", 32);
    assert_int_equal(wql_parse(s, &q, err, sizeof(err)), WSM_OK);
    wql_free(q);
    free(s);
    s = repeat(w, "(", 33, "Count = 1", ")", 33);
    parse_fails(s, "nested too deeply", "more than 32", "position 64", NULL);
    free(s);
    /* Same for NOT, and for a mix. */
    s = repeat(w, "NOT ", 32, "Count = 1", "", 0);
    assert_int_equal(wql_parse(s, &q, err, sizeof(err)), WSM_OK);
    wql_free(q);
    free(s);
    s = repeat(w, "NOT ", 33, "Count = 1", "", 0);
    parse_fails(s, "nested too deeply", NULL);
    free(s);
    s = repeat(w, "NOT (", 17, "Count = 1", ")", 17);
    parse_fails(s, "nested too deeply", NULL);
    free(s);
    /* Deep nesting of unbalanced input fails on depth, not on the stack. */
    s = repeat(w, "(", 4000, "", "", 0);
    parse_fails(s, "nested too deeply", NULL);
    free(s);

    /* 255 comparisons under one OR are 256 nodes; 256 are too many. */
    s = repeat(w, "Count = 1 OR ", 254, "Count = 1", "", 0);
    assert_int_equal(wql_parse(s, &q, err, sizeof(err)), WSM_OK);
    wql_free(q);
    free(s);
    s = repeat(w, "Count = 1 OR ", 255, "Count = 1", "", 0);
    parse_fails(s, "expression too long", "more than 256", NULL);
    free(s);

    /* 65 select items. */
    s = repeat("SELECT Name", ", Name", 64, " FROM Fake_Thing", "", 0);
    parse_fails(s, "too many properties in SELECT", "more than 64", NULL);
    free(s);

    /* 8192 bytes parse; 8193 do not. */
    s = malloc(8194);
    assert_non_null(s);
    memset(s, ' ', 8193);
    s[8193] = '\0';
    memcpy(s, "SELECT * FROM Fake_Thing", 24);
    parse_fails(s, "query too long", "more than 8192", NULL);
    s[8192] = '\0';
    assert_int_equal(wql_parse(s, &q, err, sizeof(err)), WSM_OK);
    wql_free(q);
    free(s);
}

/* ---- binding -------------------------------------------------------- */

static void test_bind(void **state)
{
    (void)state;
    /* Names are case-insensitive. */
    binds("select NAME, count from FAKE_THING where ENABLED = true and tags = 'a'");
    /* Strings that parse as the numeric or boolean type are accepted. */
    binds("SELECT * FROM Fake_Thing WHERE Count = '42' AND Ratio > '1.5' AND Big < '-3'");
    binds("SELECT * FROM Fake_Thing WHERE Enabled = 'TRUE' OR Enabled = 0 OR Enabled = 1");
    binds("SELECT * FROM Fake_Thing WHERE Count > 4.5 AND Ratio = 3 AND Weight < 2");
    binds("SELECT * FROM Fake_Thing WHERE Installed > '2026' AND Name LIKE '%'");
    binds("SELECT * FROM Fake_Thing WHERE Count LIKE '1%' AND Ports IS NULL AND Id = NULL");

    bind_fails("SELECT Name, Nope FROM Fake_Thing", "unknown property 'Nope' in SELECT",
               "Fake_Thing", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Count = 1 AND Nope = 2",
               "unknown property 'Nope' in WHERE", "position 46", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Nope IS NULL", "unknown property 'Nope'", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE NOT Nope LIKE 'a'", "unknown property 'Nope'", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Count = 'abc'", "'abc'", "not a number", "uint32",
               "position 40", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Ratio = '1.5x'", "not a number", "real64", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Count = ''", "not a number", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Big = '18446744073709551616'", "out of range", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Count = TRUE", "TRUE", "uint32", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Name = 5", "5", "string property 'Name'", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Installed = 2026", "datetime", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Tags = FALSE", "string", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Enabled = 'yes'", "not a boolean", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Count = 'x\ty\xc3\xa9'",
               "'x?y?"
               "?'",
               NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Enabled = 2", "not a boolean", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Enabled = 1.0", "not a boolean", NULL);
}

static void test_bind_select_mask(void **state)
{
    (void)state;
    struct wql_query *q = NULL;
    char err[128];
    assert_int_equal(wql_parse("SELECT caption, COUNT FROM Fake_Thing", &q, err, sizeof(err)),
                     WSM_OK);
    assert_int_equal(wql_selects(q, P_CAPTION), 0); /* not bound yet */
    assert_int_equal(wql_match(q, NULL), 0);
    assert_int_equal(wql_bind(q, &fake, err, sizeof(err)), WSM_OK);
    for (size_t i = 0; i < NP; i++) {
        int want = i == P_CAPTION || i == P_COUNT || i == P_NAME || i == P_ID;
        assert_int_equal(wql_selects(q, i), want);
    }
    assert_int_equal(wql_selects(q, NP), 0);
    assert_int_equal(wql_match(q, NULL), 1); /* no WHERE */

    /* Rebinding to a class without Count fails and unbinds. */
    static const struct cim_prop other_props[] = {{"Caption", CIM_STRING, 0}};
    static const struct cim_class other = {.name = "Other", .props = other_props, .nprops = 1};
    assert_int_equal(wql_bind(q, &other, err, sizeof(err)), WSM_ERR_INVALID_ARG);
    assert_non_null(strstr(err, "'COUNT'"));
    assert_int_equal(wql_selects(q, 0), 0);
    assert_int_equal(wql_bind(q, &fake, err, sizeof(err)), WSM_OK);
    assert_int_equal(wql_selects(q, P_COUNT), 1);
    wql_free(q);

    assert_int_equal(wql_parse("SELECT * FROM Fake_Thing", &q, err, sizeof(err)), WSM_OK);
    assert_int_equal(wql_bind(q, &fake, err, sizeof(err)), WSM_OK);
    for (size_t i = 0; i < NP; i++)
        assert_int_equal(wql_selects(q, i), 1);
    wql_free(q);
}

/* ---- matching ------------------------------------------------------- */

static void test_match_strings(void **state)
{
    (void)state;
    struct fixture f;
    fx_init(&f);
    set(&f, P_NAME, "Beta");
    assert_true(m(&f, "Name = 'beta'"));
    assert_true(m(&f, "Name = 'BETA'"));
    assert_false(m(&f, "Name = 'bet'"));
    assert_true(m(&f, "Name <> 'alpha'"));
    assert_true(m(&f, "Name != 'alpha'"));
    assert_false(m(&f, "Name <> 'BETA'"));
    assert_true(m(&f, "Name > 'ALPHA'"));
    assert_true(m(&f, "Name >= 'beta'"));
    assert_true(m(&f, "Name < 'gamma'"));
    assert_true(m(&f, "Name < 'BETAS'"));
    assert_true(m(&f, "Name <= 'Beta'"));
    assert_false(m(&f, "Name < 'beta'"));
    assert_false(m(&f, "Name > 'c'"));
    /* Datetimes compare as text. */
    set(&f, P_INSTALLED, "2026-11-25T23:45:01.500000Z");
    assert_true(m(&f, "Installed > '2026-01-01'"));
    assert_true(m(&f, "Installed < '2027'"));
    assert_true(m(&f, "Installed >= '2026-11-25T23:45:01.500000Z'"));
    assert_true(m(&f, "Installed = '2026-11-25t23:45:01.500000z'"));
    assert_false(m(&f, "Installed < '2026-11-25T23:45:01'"));
}

static void test_match_integers(void **state)
{
    (void)state;
    struct fixture f;
    fx_init(&f);
    set(&f, P_COUNT, "10");
    assert_true(m(&f, "Count = 10"));
    assert_true(m(&f, "Count = '10'"));
    assert_true(m(&f, "Count = 010"));
    assert_false(m(&f, "Count = 9"));
    assert_true(m(&f, "Count <> 9"));
    assert_true(m(&f, "Count != 9"));
    assert_false(m(&f, "Count <> 10"));
    assert_true(m(&f, "Count < 11"));
    assert_false(m(&f, "Count < 10"));
    assert_true(m(&f, "Count <= 10"));
    assert_true(m(&f, "Count > 9")); /* numeric, not text: "10" < "9" as text */
    assert_false(m(&f, "Count > 10"));
    assert_true(m(&f, "Count >= 10"));
    assert_true(m(&f, "Count > -1"));
    /* Against a real literal. */
    assert_true(m(&f, "Count > 9.5"));
    assert_true(m(&f, "Count < 10.5"));
    assert_true(m(&f, "Count = 10.0"));
    assert_true(m(&f, "Count = '1e1'"));

    /* uint64 near 2^64. */
    set(&f, P_BIG, "18446744073709551615");
    assert_true(m(&f, "Big = 18446744073709551615"));
    assert_false(m(&f, "Big = 18446744073709551614"));
    assert_true(m(&f, "Big > 18446744073709551614"));
    assert_false(m(&f, "Big < 18446744073709551615"));
    assert_true(m(&f, "Big >= 9223372036854775808"));
    assert_true(m(&f, "Big > -9223372036854775808"));
    assert_true(m(&f, "Big > 18446744073709551614.0"));
    set(&f, P_BIG, "18446744073709551614");
    assert_true(m(&f, "Big < 18446744073709551615"));
    assert_true(m(&f, "Big <> 18446744073709551615"));
    set(&f, P_BIG, "0");
    assert_true(m(&f, "Big = -0"));
    assert_true(m(&f, "Big < 18446744073709551615 AND Big >= 0"));

    /* Negative sint64, down to its minimum. */
    set(&f, P_DELTA, "-9223372036854775808");
    assert_true(m(&f, "Delta = -9223372036854775808"));
    assert_true(m(&f, "Delta < -9223372036854775807"));
    assert_true(m(&f, "Delta > -9223372036854775809"));
    assert_true(m(&f, "Delta < 0"));
    assert_true(m(&f, "Delta < 9223372036854775807"));
    assert_false(m(&f, "Delta > -1"));
    set(&f, P_DELTA, "-3");
    assert_true(m(&f, "Delta > -4 AND Delta < -2 AND Delta <> 3"));
    assert_true(m(&f, "Delta > -3.5"));
    set(&f, P_DELTA, "0");
    assert_true(m(&f, "Delta = 0 AND Delta > -1 AND Delta < 1"));
    set(&f, P_SMALL, "-1");
    assert_true(m(&f, "Small = '-1'"));
    assert_true(m(&f, "Small < 0"));

    /* A value that is not an integer (provider bug) compares false. */
    set(&f, P_COUNT, "ten");
    assert_false(m(&f, "Count = 10"));
    assert_false(m(&f, "Count <> 10"));
    assert_true(m(&f, "NOT Count = 10"));
    set(&f, P_COUNT, "");
    assert_false(m(&f, "Count < 10"));
    set(&f, P_COUNT, "99999999999999999999999");
    assert_false(m(&f, "Count > 1"));
}

static void test_match_reals(void **state)
{
    (void)state;
    struct fixture f;
    fx_init(&f);
    set(&f, P_RATIO, "0.1");
    assert_true(m(&f, "Ratio = 0.1"));
    assert_true(m(&f, "Ratio = '0.1'"));
    assert_true(m(&f, "Ratio <> 0.2"));
    assert_true(m(&f, "Ratio < 1"));
    assert_true(m(&f, "Ratio <= 0.1"));
    assert_true(m(&f, "Ratio > -1e3"));
    assert_true(m(&f, "Ratio >= 0"));
    assert_false(m(&f, "Ratio > 0.1"));
    set(&f, P_WEIGHT, "1.5E2");
    assert_true(m(&f, "Weight = 150"));
    assert_true(m(&f, "Weight > 149.9"));
    /* NaN is unordered: only <> holds. INF orders. */
    set(&f, P_RATIO, "NaN");
    assert_false(m(&f, "Ratio = 0"));
    assert_false(m(&f, "Ratio < 0"));
    assert_false(m(&f, "Ratio >= 0"));
    assert_true(m(&f, "Ratio <> 0"));
    set(&f, P_RATIO, "-INF");
    assert_true(m(&f, "Ratio < -1e300"));
    set(&f, P_RATIO, "1.5abc");
    assert_false(m(&f, "Ratio > 0"));
    set(&f, P_RATIO, "");
    assert_false(m(&f, "Ratio <> 0"));
}

static void test_match_booleans(void **state)
{
    (void)state;
    struct fixture f;
    fx_init(&f);
    set(&f, P_ENABLED, "true");
    assert_true(m(&f, "Enabled = TRUE"));
    assert_true(m(&f, "Enabled = true"));
    assert_true(m(&f, "Enabled = 'True'"));
    assert_true(m(&f, "Enabled = 1"));
    assert_true(m(&f, "TRUE = Enabled"));
    assert_false(m(&f, "Enabled = FALSE"));
    assert_true(m(&f, "Enabled <> FALSE"));
    assert_true(m(&f, "Enabled > FALSE"));
    assert_false(m(&f, "Enabled < TRUE"));
    set(&f, P_ENABLED, "false");
    assert_true(m(&f, "Enabled = FALSE"));
    assert_true(m(&f, "Enabled = 'false'"));
    assert_true(m(&f, "Enabled = 0"));
    assert_true(m(&f, "NOT Enabled = TRUE"));
    set(&f, P_ENABLED, "maybe");
    assert_false(m(&f, "Enabled = TRUE"));
    assert_false(m(&f, "Enabled = FALSE"));
}

static void test_match_null(void **state)
{
    (void)state;
    struct fixture f;
    fx_init(&f); /* everything NULL */
    assert_false(m(&f, "Name = 'x'"));
    assert_false(m(&f, "Name <> 'x'"));
    assert_false(m(&f, "Name < 'x'"));
    assert_false(m(&f, "Name LIKE '%'"));
    assert_false(m(&f, "Count = 0"));
    assert_false(m(&f, "Count <> 0"));
    assert_false(m(&f, "Enabled = FALSE"));
    /* Two-valued logic: NOT of a comparison with NULL is true. */
    assert_true(m(&f, "NOT Name = 'x'"));
    assert_true(m(&f, "Name NOT LIKE 'x%'"));
    assert_true(m(&f, "Name IS NULL"));
    assert_false(m(&f, "Name IS NOT NULL"));
    assert_true(m(&f, "Name = NULL"));
    assert_true(m(&f, "NULL = Name"));
    assert_false(m(&f, "Name <> NULL"));
    assert_false(m(&f, "Name != NULL"));
    assert_true(m(&f, "Count IS NULL AND Ratio IS NULL AND Enabled is null"));
    set(&f, P_NAME, "x");
    assert_false(m(&f, "Name IS NULL"));
    assert_true(m(&f, "name is not null"));
    assert_true(m(&f, "Name <> NULL"));
    assert_true(m(&f, "NULL <> Name"));
    assert_false(m(&f, "Name = NULL"));
    /* The empty string is not NULL. */
    set(&f, P_NAME, "");
    assert_true(m(&f, "Name IS NOT NULL"));
    assert_true(m(&f, "Name = ''"));
}

static void test_match_arrays(void **state)
{
    (void)state;
    struct fixture f;
    fx_init(&f);
    /* NULL array. */
    assert_true(m(&f, "Tags IS NULL"));
    assert_false(m(&f, "Tags = 'a'"));
    assert_false(m(&f, "Tags <> 'a'"));
    /* Empty array: not NULL, matches nothing. */
    const char *empty[1] = {NULL};
    set_arr(&f, P_TAGS, empty, 0);
    assert_false(m(&f, "Tags IS NULL"));
    assert_true(m(&f, "Tags IS NOT NULL"));
    assert_false(m(&f, "Tags = 'a'"));
    assert_false(m(&f, "Tags LIKE '%'"));
    /* Any element. */
    const char *tags[] = {"alpha", NULL, "Beta", "gamma"};
    set_arr(&f, P_TAGS, tags, 4);
    assert_true(m(&f, "Tags = 'beta'"));
    assert_true(m(&f, "'GAMMA' = Tags"));
    assert_false(m(&f, "Tags = 'delta'"));
    assert_true(m(&f, "Tags LIKE 'g%'"));
    assert_false(m(&f, "Tags LIKE 'd%'"));
    assert_true(m(&f, "Tags < 'b'"));
    assert_true(m(&f, "Tags <> 'alpha'"));
    assert_true(m(&f, "NOT Tags = 'delta'"));
    assert_false(m(&f, "Tags IS NULL"));
    const char *one[] = {"alpha"};
    set_arr(&f, P_TAGS, one, 1);
    assert_false(m(&f, "Tags <> 'alpha'"));
    /* Numeric arrays. */
    const char *ports[] = {"22", "8080"};
    set_arr(&f, P_PORTS, ports, 2);
    assert_true(m(&f, "Ports = 22"));
    assert_true(m(&f, "Ports > 1000"));
    assert_false(m(&f, "Ports < 10"));
    assert_true(m(&f, "Ports < 100 AND Ports > 8000"));
    assert_true(m(&f, "Ports LIKE '80%'"));
}

static void test_match_like(void **state)
{
    (void)state;
    struct fixture f;
    fx_init(&f);
    set(&f, P_NAME, "svchost.exe");
    /* % */
    assert_true(m(&f, "Name LIKE 'svc%'"));
    assert_true(m(&f, "Name LIKE '%.exe'"));
    assert_true(m(&f, "Name LIKE '%host%'"));
    assert_true(m(&f, "Name LIKE '%'"));
    assert_true(m(&f, "Name LIKE '%%'"));
    assert_true(m(&f, "Name LIKE 's%h%t%e'"));
    assert_false(m(&f, "Name LIKE '%.dll'"));
    assert_false(m(&f, "Name LIKE 'host%'"));
    assert_false(m(&f, "Name LIKE 'svchost'"));
    assert_true(m(&f, "Name LIKE 'svchost.exe'"));
    /* Case-insensitive. */
    assert_true(m(&f, "Name LIKE 'SVCHOST.EXE'"));
    assert_true(m(&f, "Name LIKE 'S%E'"));
    /* _ */
    assert_true(m(&f, "Name LIKE 'svchos_.exe'"));
    assert_true(m(&f, "Name LIKE '___host.___'"));
    assert_false(m(&f, "Name LIKE '__host.exe'"));
    assert_false(m(&f, "Name LIKE 'svchost.exe_'"));
    assert_true(m(&f, "Name LIKE '_%_'"));
    /* Sets and ranges. */
    assert_true(m(&f, "Name LIKE '[rst]vchost.exe'"));
    assert_false(m(&f, "Name LIKE '[abc]vchost.exe'"));
    assert_true(m(&f, "Name LIKE '[a-z]vchost%'"));
    assert_true(m(&f, "Name LIKE '[A-Z]vchost%'")); /* case-insensitive sets too */
    assert_true(m(&f, "Name LIKE '[S]%'"));
    assert_false(m(&f, "Name LIKE '[0-9]%'"));
    assert_true(m(&f, "Name LIKE '[^0-9]%'"));
    assert_false(m(&f, "Name LIKE '[^s]%'"));
    assert_false(m(&f, "Name LIKE '[^a-z]%'"));
    assert_true(m(&f, "Name LIKE '[^a]%'"));
    assert_true(m(&f, "Name LIKE '%[.]exe'"));
    assert_true(m(&f, "Name LIKE '[a-cr-t]vchost.exe'"));
    assert_true(m(&f, "Name LIKE '[q-]%'") == 0);
    /* Literal wildcards through sets. */
    set(&f, P_NAME, "100%_done]");
    assert_true(m(&f, "Name LIKE '100[%][_]done[]]'"));
    assert_false(m(&f, "Name LIKE '100[%][_]doneX'"));
    set(&f, P_NAME, "a-b");
    assert_true(m(&f, "Name LIKE 'a[-]b'"));
    assert_true(m(&f, "Name LIKE 'a[x-]b'"));
    /* NOT LIKE. */
    set(&f, P_NAME, "svchost.exe");
    assert_true(m(&f, "Name NOT LIKE '%.dll'"));
    assert_false(m(&f, "Name NOT LIKE '%.exe'"));
    assert_true(m(&f, "NOT Name LIKE '%.dll'"));
    /* Empty value and pattern. */
    set(&f, P_NAME, "");
    assert_true(m(&f, "Name LIKE ''"));
    assert_true(m(&f, "Name LIKE '%'"));
    assert_false(m(&f, "Name LIKE '_'"));
    /* _ is one UTF-8 character, not one byte. */
    set(&f, P_NAME, "caf\xc3\xa9");
    assert_true(m(&f, "Name LIKE 'caf_'"));
    assert_false(m(&f, "Name LIKE 'caf__'"));
    assert_true(m(&f, "Name LIKE 'caf[\xc3\xa9\xc3\xa8]'"));
    set(&f, P_NAME, "\xe2\x82\xac"); /* 3 bytes */
    assert_true(m(&f, "Name LIKE '_'"));
    set(&f, P_NAME, "\xf0\x9f\x98\x80x"); /* 4 bytes, then x */
    assert_true(m(&f, "Name LIKE '_X'"));
    assert_true(m(&f, "Name LIKE '[\xf0\x9f\x98\x80]%'"));
    /* Bytes that are not UTF-8 are one character each. */
    set(&f, P_NAME, "\xff\xfe");
    assert_false(m(&f, "Name LIKE '_'"));
    assert_true(m(&f, "Name LIKE '__'"));
    set(&f, P_NAME, "\xe2\x82"); /* truncated sequence */
    assert_true(m(&f, "Name LIKE '__'"));
    set(&f, P_NAME, "\xc3(");
    assert_true(m(&f, "Name LIKE '_('"));
    /* LIKE on a number's text. */
    set(&f, P_COUNT, "1234");
    assert_true(m(&f, "Count LIKE '12%'"));
    /* Pathological backtracking stays fast. */
    char val[4001];
    memset(val, 'a', 4000);
    val[4000] = '\0';
    set(&f, P_NAME, val);
    assert_false(m(&f, "Name LIKE '%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%b'"));
    assert_true(m(&f, "Name LIKE '%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_star),       cmocka_unit_test(test_parse_list),
        cmocka_unit_test(test_parse_precedence), cmocka_unit_test(test_parse_strings),
        cmocka_unit_test(test_parse_numbers),    cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_limits),     cmocka_unit_test(test_bind),
        cmocka_unit_test(test_bind_select_mask), cmocka_unit_test(test_match_strings),
        cmocka_unit_test(test_match_integers),   cmocka_unit_test(test_match_reals),
        cmocka_unit_test(test_match_booleans),   cmocka_unit_test(test_match_null),
        cmocka_unit_test(test_match_arrays),     cmocka_unit_test(test_match_like),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
