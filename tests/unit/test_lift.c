/* Unit tests for lifting CDATA out of delivery bodies (src/collector/lift.c):
 * the tree after lift + parse + restore is the tree of the body as it was. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <libxml/parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lift.h"

#define OPTS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA)

/* Parses body as it is and lifted; returns 1 if both parse (to the same
 * serialization), 0 if neither does; fails the test otherwise. *lifted_n:
 * whether anything was lifted. */
static int same(const char *body, int *lifted)
{
    xmlDocPtr a = xmlReadMemory(body, (int)strlen(body), NULL, "UTF-8", OPTS);
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    assert_int_equal(wsm__buf_puts(&b, body), WSM_OK);
    struct wsmd_lifted *l = NULL;
    assert_int_equal(wsmd__lift(&b, &l), WSM_OK);
    *lifted = l != NULL;
    if (l)
        assert_null(strstr(b.data, "<![CDATA["
                                   "xxxxxxxx")); /* the big ones went */
    xmlDocPtr c = xmlReadMemory(b.data, (int)b.len, NULL, "UTF-8", OPTS);
    if (c)
        assert_int_equal(wsmd__lift_restore(l, c), WSM_OK);
    assert_int_equal(!a, !c);
    int r = 0;
    if (a) {
        xmlChar *sa, *sc;
        int la, lc;
        xmlDocDumpMemory(a, &sa, &la);
        xmlDocDumpMemory(c, &sc, &lc);
        assert_int_equal(la, lc);
        assert_memory_equal(sa, sc, (size_t)la);
        xmlFree(sa);
        xmlFree(sc);
        r = 1;
    }
    xmlFreeDoc(a);
    xmlFreeDoc(c);
    wsmd__lift_free(l);
    wsm__buf_free(&b);
    return r;
}

static char big[300];

static void test_events_batch(void **state)
{
    (void)state;
    char body[8192];
    snprintf(body, sizeof(body),
             "<s:Envelope xmlns:s='urn:s' xmlns:w='urn:w'><s:Header><w:A>x</w:A></s:Header>"
             "<s:Body><w:Events><w:Event Action='e'><![CDATA[<Event>%s1</Event>]]></w:Event>"
             "<w:Event><![CDATA[<Event>%s2 &amp; < ]] ]></Event>]]></w:Event>"
             "<w:Event>\n  <![CDATA[%s3]]>\n</w:Event><w:Event><![CDATA[small]]></w:Event>"
             "<w:Event><![CDATA[%s\r\nCR LF\rCR\r\n\r\n]]></w:Event>"
             "</w:Events></s:Body></s:Envelope>",
             big, big, big, big);
    int lifted;
    assert_int_equal(same(body, &lifted), 1);
    assert_true(lifted);
}

static void test_where_cdata_is_not(void **state)
{
    (void)state;
    char body[8192];
    int lifted;
    /* In a comment and a processing instruction: text, not sections. */
    snprintf(body, sizeof(body), "<a><!-- <![CDATA[%s]]> --><?pi <![CDATA[%s]]> ?>t</a>", big, big);
    assert_int_equal(same(body, &lifted), 1);
    assert_false(lifted);
    /* Text next to sections, several in one node. */
    snprintf(body, sizeof(body), "<a>pre<![CDATA[%s]]>mid<![CDATA[%s<>&]]>post</a>", big, big);
    assert_int_equal(same(body, &lifted), 1);
    assert_true(lifted);
    /* Quoted '>' inside a tag does not end it. */
    snprintf(body, sizeof(body), "<a x='1&gt;2' y=\"q'q\"><![CDATA[%s]]></a>", big);
    assert_int_equal(same(body, &lifted), 1);
}

static void test_malformed_stays_malformed(void **state)
{
    (void)state;
    char body[8192];
    int lifted;
    const char *bad[] = {"<a><![CDATA[%s</a>", "<a><![CDATA[%s]]></b>", "<a x='<![CDATA[%s]]>'/>",
                         "<a><![CDATA[%s]]>"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(body, sizeof(body), bad[i], big);
        assert_int_equal(same(body, &lifted), 0);
    }
    /* A DOCTYPE: left for the envelope parser to refuse, nothing lifted. */
    snprintf(body, sizeof(body), "<!DOCTYPE a><a><![CDATA[%s]]></a>", big);
    same(body, &lifted);
    assert_false(lifted);
}

static void test_marker_guess_is_just_text(void **state)
{
    (void)state;
    char body[8192];
    int lifted;
    /* Text that looks like a marker, without this request's nonce. */
    snprintf(body, sizeof(body),
             "<a>wsmdcd00000000000000000000000000000000_0_<![CDATA[%s]]>wsmdcd_1_</a>", big);
    assert_int_equal(same(body, &lifted), 1);
    assert_true(lifted);
}

static void test_random_bodies(void **state)
{
    (void)state;
    const char *parts[] = {"<a>",   "</a>", "<b x='>'>", "</b>", "<![CDATA[", "]]>",
                           "<!--",  "-->",  "<?p ",      "?>",   "text",      big,
                           "&amp;", "'",    "\"",        "<",    ">"};
    srand(7);
    for (int round = 0; round < 3000; round++) {
        char body[16384] = "";
        size_t n = 0;
        int k = rand() % 14;
        for (int i = 0; i < k; i++) {
            const char *p = parts[rand() % (sizeof(parts) / sizeof(parts[0]))];
            size_t pl = strlen(p);
            if (n + pl + 1 >= sizeof(body))
                break;
            memcpy(body + n, p, pl + 1);
            n += pl;
        }
        int lifted;
        same(body, &lifted);
    }
}

int main(void)
{
    memset(big, 'x', sizeof(big) - 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_batch),
        cmocka_unit_test(test_where_cdata_is_not),
        cmocka_unit_test(test_malformed_stays_malformed),
        cmocka_unit_test(test_marker_guess_is_just_text),
        cmocka_unit_test(test_random_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
