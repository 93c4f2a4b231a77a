/* Helpers of the collector's output tests (test_output*.c): a temporary
 * EventLogDir per test, one event and its metadata, outputs opened on the
 * directory. Static inline: each program is one file plus this, included
 * after cmocka.h. */
#ifndef WSM_TESTS_OUTPUT_HELPERS_H
#define WSM_TESTS_OUTPUT_HELPERS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"

static char dir[64];

static inline int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/wsmd-output-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static inline int teardown(void **state)
{
    (void)state;
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const struct wsmd_event_meta meta = {
    .subscription = "sub-1",
    .client = "WS1$@EXAMPLE.COM",
    .source_addr = "192.0.2.7",
    .received = "2026-12-07T06:45:01.123Z",
};

static inline struct wsmd_event event(const char *xml, long long rid)
{
    return (struct wsmd_event){
        .xml = xml,
        .xml_len = strlen(xml),
        .well_formed = 1,
        .computer = "WS1.example.com",
        .channel = "Security",
        .provider = "Microsoft-Windows-Security-Auditing",
        .time_created = "2026-12-07T06:45:00.1234567Z",
        .level = "0",
        .event_id = 4624,
        .record_id = rid,
    };
}

static inline struct wsmd_outputs *open_outputs(const char *target)
{
    struct wsmd_output_cfg cfg = {.event_log_dir = dir, .syslog_target = target};
    struct wsmd_outputs *o = NULL;
    assert_int_equal(wsmd__outputs_open(&cfg, &o), WSM_OK);
    return o;
}

#endif
