/* Fuzz target: what wsmd reads from wsmd-ipmi (src/providers/ipmiframe.c):
 * the frame header, the fields, and the typed records (BMCs, sensors, SEL entries, FRU
 * areas; the chassis and raw forms of ipmirec.c) in
 * them, the way ipmiclient.c and ipmi.c read a reply. The helper is a
 * separate program that may be buggy or compromised: nothing it sends may
 * make wsmd read out of bounds. A record that decodes is written again
 * and must decode to the same values. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipmiframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip_sensor(const struct ipmi_sensor *s)
{
    struct ipmi_wbuf w;
    ipmiw_init(&w, IPMI_FRAME_MAX);
    ipmiw_begin(&w, 1, IPMI_OP_SENSORS | IPMI_OP_REPLY, 0);
    ipmi_sensor_encode(&w, s);
    if (ipmiw_finish(&w) == 0) {
        struct ipmi_frame f;
        struct ipmi_rd r;
        struct ipmi_field fl;
        struct ipmi_sensor t;
        if (ipmi_frame_parse(w.p, w.len, IPMI_FRAME_MAX, &f) != 0)
            abort();
        ipmi_rd_init(&r, f.body, f.blen);
        if (ipmi_rd_next(&r, &fl) != 1 || fl.tag != IPMI_T_RECORD ||
            ipmi_sensor_decode(fl.v, fl.len, &t) != 0)
            abort();
        if (t.number != s->number || t.state != s->state || t.m != s->m || t.r_exp != s->r_exp ||
            strcmp(t.name, s->name) != 0 || t.thr_present != s->thr_present)
            abort();
    }
    ipmiw_free(&w);
}

/* A FRU area that decodes is written again and reads back the same. */
static void roundtrip_fru(const struct ipmi_fru *a)
{
    struct ipmi_wbuf w;
    ipmiw_init(&w, IPMI_FRAME_MAX);
    ipmiw_begin(&w, 1, IPMI_OP_FRU | IPMI_OP_REPLY, 0);
    ipmi_fru_encode(&w, a);
    if (ipmiw_finish(&w) == 0) {
        struct ipmi_frame f;
        struct ipmi_rd r;
        struct ipmi_field fl;
        struct ipmi_fru t;
        if (ipmi_frame_parse(w.p, w.len, IPMI_FRAME_MAX, &f) != 0)
            abort();
        ipmi_rd_init(&r, f.body, f.blen);
        if (ipmi_rd_next(&r, &fl) != 1 || ipmi_fru_decode(fl.v, fl.len, &t) != 0)
            abort();
        if (t.area != a->area || t.date != a->date || strcmp(t.serial, a->serial) != 0 ||
            strcmp(t.asset, a->asset) != 0 || strcmp(t.mfg, a->mfg) != 0)
            abort();
    }
    ipmiw_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 4)
        (void)ipmi_frame_len(data, IPMI_FRAME_MAX);
    struct ipmi_frame f;
    const unsigned char *body = data;
    size_t blen = size;
    /* A whole frame when it parses as one, else the bytes as fields. */
    if (ipmi_frame_parse(data, size, IPMI_FRAME_MAX, &f) == 0) {
        body = f.body;
        blen = f.blen;
    }
    /* The chassis and raw replies are top-level fields. */
    struct ipmi_chassis ch;
    struct ipmi_raw raw;
    (void)ipmi_chassis_decode(body, blen, &ch);
    if (ipmi_raw_decode(body, blen, &raw, 0) == 0 && raw.n > IPMI_RAW_MAX)
        abort();
    if (ipmi_raw_decode(body, blen, &raw, 1) == 0 && (raw.netfn > 0x3f || raw.lun > 3))
        abort();
    struct ipmi_rd r;
    struct ipmi_field fl;
    int k;
    ipmi_rd_init(&r, body, blen);
    while ((k = ipmi_rd_next(&r, &fl)) == 1) {
        uint64_t u;
        double d;
        char s[IPMI_MESSAGE_MAX + 1];
        (void)ipmi_field_uint(&fl, &u);
        (void)ipmi_field_dbl(&fl, &d);
        if (ipmi_field_str(&fl, s, sizeof(s)) == 0 && strlen(s) != fl.len)
            abort();
        if (fl.tag != IPMI_T_RECORD)
            continue;
        struct ipmi_sensor sn;
        if (ipmi_sensor_decode(fl.v, fl.len, &sn) == 0)
            roundtrip_sensor(&sn);
        struct ipmi_bmc b;
        if (ipmi_bmc_decode(fl.v, fl.len, &b) == 0 && !b.name[0])
            abort();
        struct ipmi_sel_entry e;
        if (ipmi_sel_decode(fl.v, fl.len, &e) == 0 && strlen(e.event) > IPMI_SEL_TEXT_MAX)
            abort();
        struct ipmi_fru fa;
        if (ipmi_fru_decode(fl.v, fl.len, &fa) == 0)
            roundtrip_fru(&fa);
    }
    return 0;
}
