/* Unit tests for the winrm tool's typed -format:json (src/cli/format.c,
 * src/cli/jsontype.c, the generated cimtypes.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "jsoncheck.h"

static char *json_of(const char *xml)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    assert_non_null(f);
    assert_int_equal(cli_print_item(f, xml, FMT_JSON), 0);
    fclose(f);
    assert_true(json_valid(out, len));
    return out;
}

#define P "xmlns:p=\"http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/"
#define XSI "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""

static void test_cim_types(void **state)
{
    (void)state;
    char *j = json_of("<p:Win32_OperatingSystem " P "Win32_OperatingSystem\" " XSI
                      " xmlns:cim=\"http://schemas.dmtf.org/wbem/wscim/1/common\">"
                      "<p:OSType>36</p:OSType><p:BuildNumber>1</p:BuildNumber>"
                      "<p:CurrentTimeZone>-60</p:CurrentTimeZone><p:Primary>true</p:Primary>"
                      "<p:InstallDate xsi:nil=\"true\"/><p:FreePhysicalMemory>0123"
                      "</p:FreePhysicalMemory><p:LastBootUpTime><cim:Datetime>"
                      "2026-12-07T03:47:09Z</cim:Datetime></p:LastBootUpTime>"
                      "</p:Win32_OperatingSystem>");
    assert_non_null(strstr(j, "\"OSType\": 36,"));
    assert_non_null(strstr(j, "\"BuildNumber\": \"1\","));   /* a string in the schema */
    assert_non_null(strstr(j, "\"CurrentTimeZone\": -60,")); /* sint16 */
    assert_non_null(strstr(j, "\"Primary\": true,"));
    assert_non_null(strstr(j, "\"InstallDate\": null,"));
    assert_non_null(strstr(j, "\"FreePhysicalMemory\": \"0123\",")); /* no JSON number */
    assert_non_null(strstr(j, "\"LastBootUpTime\": \"2026-12-07T03:47:09Z\""));
    free(j);
}

static void test_arrays_and_xsi_type(void **state)
{
    (void)state;
    char *j = json_of("<p:Win32_NetworkAdapterConfiguration " P
                      "Win32_NetworkAdapterConfiguration\" " XSI ">"
                      "<p:IPAddress>127.0.0.1</p:IPAddress>"
                      "<p:IPSubnet>255.0.0.0</p:IPSubnet><p:IPSubnet>128</p:IPSubnet>"
                      "<p:Other xsi:type=\"xs:unsignedInt\">7</p:Other>"
                      "<p:Ratio xsi:type=\"xs:double\">-.5</p:Ratio>"
                      "<p:Flag xsi:type=\"xs:boolean\">yes</p:Flag>"
                      "</p:Win32_NetworkAdapterConfiguration>");
    assert_non_null(strstr(j, "\"IPAddress\": [\"127.0.0.1\"],")); /* an array of one */
    assert_non_null(strstr(j, "\"IPSubnet\": [\"255.0.0.0\", \"128\"],"));
    assert_non_null(strstr(j, "\"Other\": 7,"));
    assert_non_null(strstr(j, "\"Ratio\": \"-.5\",")); /* not RFC 8259's number */
    assert_non_null(strstr(j, "\"Flag\": \"yes\""));
    free(j);
}

static void test_config_and_lang(void **state)
{
    (void)state;
    char *j = json_of("<cfg:Service xmlns:cfg=\"http://schemas.microsoft.com/wbem/wsman/1/config/"
                      "service\" xml:lang=\"en-US\"><cfg:MaxConnections>300</cfg:MaxConnections>"
                      "<cfg:AllowUnencrypted>false</cfg:AllowUnencrypted><cfg:RootSDDL>O:NS"
                      "</cfg:RootSDDL><cfg:Auth><cfg:Basic>true</cfg:Basic></cfg:Auth>"
                      "</cfg:Service>");
    assert_null(strstr(j, "lang"));
    assert_non_null(strstr(j, "\"MaxConnections\": 300,"));
    assert_non_null(strstr(j, "\"AllowUnencrypted\": false,"));
    assert_non_null(strstr(j, "\"RootSDDL\": \"O:NS\","));
    assert_non_null(strstr(j, "\"Basic\": true"));
    free(j);
    /* Unknown classes: strings, as before. */
    j = json_of("<q:Mine xmlns:q=\"urn:x\"><q:N>5</q:N><q:B>true</q:B></q:Mine>");
    assert_non_null(strstr(j, "\"N\": \"5\","));
    assert_non_null(strstr(j, "\"B\": \"true\""));
    free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cim_types),
        cmocka_unit_test(test_arrays_and_xsi_type),
        cmocka_unit_test(test_config_and_lang),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
