/* Fuzz target: the WQL parser, binder and matcher (src/providers/wql.c).
 * Parses the input as a query, binds it against a fake class and matches
 * it against a few fake instances (NULLs, arrays, extreme numbers, odd
 * text), checking the accessors' invariants on the way. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct cim_prop props[] = {
    {"Name", CIM_STRING, CIM_KEY},     {"ProcessId", CIM_UINT32, CIM_KEY},
    {"CommandLine", CIM_STRING, 0},    {"WorkingSetSize", CIM_UINT64, 0},
    {"Priority", CIM_SINT32, 0},       {"Delta", CIM_SINT64, 0},
    {"Small", CIM_SINT8, 0},           {"Ratio", CIM_REAL64, 0},
    {"Load", CIM_REAL32, 0},           {"Enabled", CIM_BOOLEAN, 0},
    {"CreationDate", CIM_DATETIME, 0}, {"Tags", CIM_STRING, CIM_ARRAY},
    {"Ports", CIM_UINT16, CIM_ARRAY},  {"Flags", CIM_BOOLEAN, CIM_ARRAY},
};
#define NP (sizeof(props) / sizeof(props[0]))

static const struct cim_class cls = {.name = "Win32_Process", .props = props, .nprops = NP};

static const char *tags[] = {"alpha", NULL, "Beta", "caf\xc3\xa9", "", "100%_[x]"};
static const char *ports[] = {"22", "8080", "65535", "bogus"};
static const char *flags[] = {"true", "false"};

/* Three instances: typical values, extremes and junk, all NULL. */
static const char *const rows[3][NP] = {
    {"svchost.exe", "4", "C:\\Windows\\system32\\svchost.exe -k netsvcs", "123456789", "8", "-5",
     "-1", "0.1", "1.5E2", "true", "2026-11-25T23:45:01.500000Z", NULL, NULL, NULL},
    {"", "4294967295", "\xff\xfe[%_", "18446744073709551615", "-2147483648", "-9223372036854775808",
     "-128", "NaN", "-INF", "maybe", "P1DT2H3M4.5S", NULL, NULL, NULL},
    {NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > WQL_MAX_TEXT + 64)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    char err[128];
    struct wql_query *q = NULL;
    enum wsm_err rc = wql_parse(text, &q, err, sizeof(err));
    if (rc != WSM_OK) {
        if (q || strlen(err) >= sizeof(err) || err[0] == '\0')
            abort();
        free(text);
        return 0;
    }
    if (!q || !wql_class_name(q) || wql_select_count(q) > WQL_MAX_SELECT)
        abort();
    for (size_t i = 0; i < wql_select_count(q); i++)
        if (!wql_select_name(q, i))
            abort();
    if (wql_select_name(q, wql_select_count(q)))
        abort();

    if (wql_bind(q, &cls, err, sizeof(err)) == WSM_OK) {
        struct cim_val v[NP];
        for (size_t r = 0; r < 3; r++) {
            memset(v, 0, sizeof(v));
            for (size_t i = 0; i < NP; i++)
                v[i].s = rows[r][i];
            if (r == 0) {
                v[11].items = tags, v[11].n = sizeof(tags) / sizeof(tags[0]);
                v[12].items = ports, v[12].n = sizeof(ports) / sizeof(ports[0]);
                v[13].items = flags, v[13].n = sizeof(flags) / sizeof(flags[0]);
            } else if (r == 1) {
                v[11].items = tags, v[11].n = 0; /* empty, not NULL */
            }
            struct cim_instance inst = {.cls = &cls, .arena = NULL, .v = v};
            int a = wql_match(q, &inst), b = wql_match(q, &inst);
            if ((a != 0 && a != 1) || a != b)
                abort();
        }
        for (size_t i = 0; i <= NP; i++) {
            int s = wql_selects(q, i);
            if (i == NP ? s != 0 : (props[i].flags & CIM_KEY) && s != 1)
                abort();
        }
    } else if (strlen(err) >= sizeof(err) || err[0] == '\0') {
        abort();
    }
    wql_free(q);
    free(text);
    return 0;
}
