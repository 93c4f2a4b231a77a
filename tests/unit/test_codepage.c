/* Unit tests for the code page conversions of shell streams
 * (src/shell/encoding.c): UTF-8 to 437/850/1252 and back, '?' for a
 * character the code page lacks, bytes that are not UTF-8 kept, the code
 * pages refused, EBCDIC, and the Xpress framing of output and stdin. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "buf.h"
#include "encoding.h"
#include "xpress.h"

static void from_utf8(unsigned cp, const char *in, const char *want, size_t wlen)
{
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    assert_int_equal(wsmd__codepage_from_utf8(cp, (const unsigned char *)in, strlen(in), &b),
                     WSM_OK);
    assert_int_equal(b.len, wlen);
    assert_memory_equal(b.data, want, wlen);
    wsm__buf_free(&b);
}

static void test_to_codepages(void **state)
{
    (void)state;
    const char *t = "\xc3\xa9 \xc3\xbc \xc2\xbd \xe2\x94\x80 x"; /* é ü ½ ─ x */
    from_utf8(437, t, "\x82 \x81 \xab \xc4 x", 9);
    from_utf8(850, t, "\x82 \x81 \xab \xc4 x", 9);
    from_utf8(1252, t, "\xe9 \xfc \xbd ? x", 9); /* ─ is not in 1252 */
    from_utf8(65001, t, t, strlen(t));
    from_utf8(28591, "\xe2\x82\xac\xc3\xa9", "?\xe9", 2); /* € is not Latin-1 */
    /* not UTF-8 (a lone continuation, a lead without its bytes): kept */
    from_utf8(437,
              "a\x80"
              "b\xc3",
              "a\x80"
              "b\xc3",
              4);
    /* EBCDIC (IBM037): even ASCII changes */
    from_utf8(37, "A", "\xc1", 1);
}

static void test_from_codepages(void **state)
{
    (void)state;
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    assert_int_equal(wsmd__codepage_to_utf8(1252, (const unsigned char *)"\xe9\x80", 2, &b),
                     WSM_OK);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "\xc3\xa9\xe2\x82\xac", 5); /* é € */
    wsm__buf_reset(&b);
    /* 0x81 is undefined in 1252: '?' */
    assert_int_equal(wsmd__codepage_to_utf8(1252, (const unsigned char *)"\x81", 1, &b), WSM_OK);
    assert_int_equal(b.len, 1);
    assert_int_equal(b.data[0], '?');
    wsm__buf_free(&b);
}

static void test_names(void **state)
{
    (void)state;
    char buf[32];
    assert_string_equal(wsmd__codepage_name(437, buf, sizeof(buf)), "CP437");
    assert_string_equal(wsmd__codepage_name(65001, buf, sizeof(buf)), "UTF-8");
    assert_string_equal(wsmd__codepage_name(28592, buf, sizeof(buf)), "ISO-8859-2");
    assert_string_equal(wsmd__codepage_name(20866, buf, sizeof(buf)), "KOI8-R");
    assert_null(wsmd__codepage_name(1200, buf, sizeof(buf)));
    assert_null(wsmd__codepage_name(65000, buf, sizeof(buf)));
    assert_null(wsmd__codepage_name(50220, buf, sizeof(buf)));
}

static void test_output_and_input(void **state)
{
    (void)state;
    struct shell_enc enc = {437, 1, 1};
    struct shell_output out;
    memset(&out, 0, sizeof(out));
    wsm__buf_init(&out.out, 0);
    wsm__buf_init(&out.err, 0);
    wsm__buf_puts(&out.out, "\xc3\xa9\n");
    /* binary (not UTF-8) stderr goes as it is */
    wsm__buf_add(&out.err, "\xff\xfe", 2);
    assert_int_equal(wsmd__shell_enc_output(&enc, &out), WSM_OK);
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    assert_int_equal(wsm__xpress_unframe((unsigned char *)out.out.data, out.out.len, &b, 100),
                     WSM_OK);
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.data, "\x82\n", 2);
    wsm__buf_reset(&b);
    assert_int_equal(wsm__xpress_unframe((unsigned char *)out.err.data, out.err.len, &b, 100),
                     WSM_OK);
    assert_memory_equal(b.data, "\xff\xfe", 2);
    /* stdin: Xpress blocks, then 437 to UTF-8; binary stdin kept */
    struct wsm_buf z, in;
    wsm__buf_init(&z, 0);
    wsm__buf_init(&in, 0);
    assert_int_equal(wsm__xpress_frame((const unsigned char *)"\x82\n", 2, &z), WSM_OK);
    assert_int_equal(wsmd__shell_enc_input(&enc, (unsigned char *)z.data, z.len, &in, 100), WSM_OK);
    assert_int_equal(in.len, 3);
    assert_memory_equal(in.data, "\xc3\xa9\n", 3);
    wsm__buf_reset(&z);
    wsm__buf_reset(&in);
    assert_int_equal(wsm__xpress_frame((const unsigned char *)"\x82\x00", 2, &z), WSM_OK);
    assert_int_equal(wsmd__shell_enc_input(&enc, (unsigned char *)z.data, z.len, &in, 100), WSM_OK);
    assert_int_equal(in.len, 2);
    assert_memory_equal(in.data, "\x82\x00", 2);
    /* not Xpress: refused; past the bound: refused */
    wsm__buf_reset(&in);
    assert_int_equal(wsmd__shell_enc_input(&enc, (const unsigned char *)"\x05\x00", 2, &in, 100),
                     WSM_ERR_ENCODING);
    assert_int_equal(wsmd__shell_enc_input(&enc, (unsigned char *)z.data, z.len, &in, 1),
                     WSM_ERR_QUOTA);
    /* the room for blocks */
    assert_true(wsmd__shell_enc_room(&enc, 150000) < 150000 - 3 * 4);
    struct shell_enc plain = {65001, 0, 1};
    assert_int_equal(wsmd__shell_enc_room(&plain, 150000), 150000);
    wsm__buf_free(&z);
    wsm__buf_free(&in);
    wsm__buf_free(&b);
    wsm__buf_free(&out.out);
    wsm__buf_free(&out.err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_to_codepages),
        cmocka_unit_test(test_from_codepages),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_output_and_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
