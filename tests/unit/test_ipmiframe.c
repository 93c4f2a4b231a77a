/* Unit tests for wsmd's side of IPMI: the frame codec it shares with
 * wsmd-ipmi (src/providers/ipmiframe.c), the IpmiHosts parser and its
 * permission check (ipmihosts.c), and the CIM scale of readings (ipmi.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipmi.h"

int wsmd__ipmi_unit_modifier(const struct ipmi_sensor *s);

/* ---- frames -------------------------------------------------------------- */

static struct ipmi_sensor sample(void)
{
    struct ipmi_sensor s;
    memset(&s, 0, sizeof(s));
    s.record_id = 5;
    s.number = 4;
    s.owner = 0x20;
    s.lun = 1;
    s.entity_id = 10;
    s.entity_instance = 1;
    s.type = 2;
    s.reading_type = 1;
    s.unit_base = 4;
    s.m = -3;
    s.b = 250;
    s.r_exp = -1;
    s.b_exp = -2;
    snprintf(s.name, sizeof(s.name), "12V");
    s.raw = 120;
    s.has_value = 1;
    s.value = 12.0;
    s.state = 0x08;
    s.thr_readable = 0x3f;
    s.thr_settable = 0x09;
    s.thr_present = 0x21;
    s.thr[IPMI_LNC] = 11.4;
    s.thr[IPMI_UNR] = 14.0;
    s.rflags = IPMI_RF_SCANNING_OFF;
    return s;
}

static void test_sensor_roundtrip(void **state)
{
    (void)state;
    struct ipmi_sensor s = sample(), t;
    struct ipmi_wbuf w;
    ipmiw_init(&w, IPMI_FRAME_MAX);
    ipmiw_begin(&w, 77, IPMI_OP_SENSORS | IPMI_OP_REPLY, IPMI_ST_OK);
    ipmiw_str(&w, IPMI_T_BMC, "bmc1");
    ipmi_sensor_encode(&w, &s);
    assert_int_equal(ipmiw_finish(&w), 0);
    struct ipmi_frame f;
    assert_int_equal(ipmi_frame_parse(w.p, w.len, IPMI_FRAME_MAX, &f), 0);
    assert_int_equal(f.id, 77);
    assert_int_equal(f.op, IPMI_OP_SENSORS | IPMI_OP_REPLY);
    struct ipmi_rd r;
    struct ipmi_field fl;
    char bmc[IPMI_NAME_MAX + 1];
    ipmi_rd_init(&r, f.body, f.blen);
    assert_int_equal(ipmi_rd_next(&r, &fl), 1);
    assert_int_equal(fl.tag, IPMI_T_BMC);
    assert_int_equal(ipmi_field_str(&fl, bmc, sizeof(bmc)), 0);
    assert_string_equal(bmc, "bmc1");
    assert_int_equal(ipmi_rd_next(&r, &fl), 1);
    assert_int_equal(fl.tag, IPMI_T_RECORD);
    assert_int_equal(ipmi_sensor_decode(fl.v, fl.len, &t), 0);
    assert_int_equal(ipmi_rd_next(&r, &fl), 0);
    assert_int_equal(t.record_id, 5);
    assert_int_equal(t.number, 4);
    assert_int_equal(t.owner, 0x20);
    assert_int_equal(t.lun, 1);
    assert_int_equal(t.entity_id, 10);
    assert_int_equal(t.m, -3);
    assert_int_equal(t.b, 250);
    assert_int_equal(t.r_exp, -1);
    assert_int_equal(t.b_exp, -2);
    assert_string_equal(t.name, "12V");
    assert_true(t.has_value);
    assert_true(t.value == 12.0);
    assert_int_equal(t.state, 0x08);
    assert_int_equal(t.thr_readable, 0x3f);
    assert_int_equal(t.thr_settable, 0x09);
    assert_int_equal(t.thr_present, 0x21);
    assert_true(t.thr[IPMI_LNC] == 11.4 && t.thr[IPMI_UNR] == 14.0);
    assert_int_equal(t.rflags, IPMI_RF_SCANNING_OFF);
    /* Every shorter prefix of the frame is refused whole. */
    for (size_t n = 0; n < w.len; n++)
        assert_int_equal(ipmi_frame_parse(w.p, n, IPMI_FRAME_MAX, &f), -1);
    ipmiw_free(&w);
}

static void test_bmc_roundtrip_and_secret(void **state)
{
    (void)state;
    struct ipmi_bmc b, t;
    memset(&b, 0, sizeof(b));
    snprintf(b.name, sizeof(b.name), "rack1-bmc");
    snprintf(b.host, sizeof(b.host), "10.0.0.1");
    b.port = 623;
    snprintf(b.user, sizeof(b.user), "admin");
    snprintf(b.password, sizeof(b.password), "s3cret");
    b.cipher = 17;
    b.privilege = 3;
    b.timeout_ms = 1500;
    for (int secret = 0; secret < 2; secret++) {
        struct ipmi_wbuf w;
        ipmiw_init(&w, IPMI_REQUEST_MAX);
        ipmiw_begin(&w, 0, IPMI_OP_CONFIG, 0);
        ipmi_bmc_encode(&w, &b, secret);
        assert_int_equal(ipmiw_finish(&w), 0);
        assert_true((memmem(w.p, w.len, "s3cret", 6) != NULL) == secret);
        struct ipmi_rd r;
        struct ipmi_field fl;
        ipmi_rd_init(&r, w.p + IPMI_HEAD, w.len - IPMI_HEAD);
        assert_int_equal(ipmi_rd_next(&r, &fl), 1);
        assert_int_equal(ipmi_bmc_decode(fl.v, fl.len, &t), 0);
        assert_string_equal(t.name, "rack1-bmc");
        assert_int_equal(t.port, 623);
        assert_int_equal(t.cipher, 17);
        assert_int_equal(t.privilege, 3);
        assert_int_equal(t.timeout_ms, 1500);
        assert_string_equal(t.password, secret ? "s3cret" : "");
        ipmiw_free(&w);
    }
}

static void test_sel_roundtrip(void **state)
{
    (void)state;
    struct ipmi_sel_entry e, t;
    memset(&e, 0, sizeof(e));
    e.record_id = 0x1234;
    for (int i = 0; i < 16; i++)
        e.raw[i] = (unsigned char)(i * 17);
    snprintf(e.sensor, sizeof(e.sensor), "CPU Temp");
    snprintf(e.event, sizeof(e.event), "Upper Non-critical - going high");
    struct ipmi_wbuf w;
    ipmiw_init(&w, IPMI_FRAME_MAX);
    ipmiw_begin(&w, 3, IPMI_OP_SEL | IPMI_OP_REPLY, 0);
    ipmi_sel_encode(&w, &e);
    assert_int_equal(ipmiw_finish(&w), 0);
    struct ipmi_rd r;
    struct ipmi_field fl;
    ipmi_rd_init(&r, w.p + IPMI_HEAD, w.len - IPMI_HEAD);
    assert_int_equal(ipmi_rd_next(&r, &fl), 1);
    assert_int_equal(ipmi_sel_decode(fl.v, fl.len, &t), 0);
    assert_int_equal(t.record_id, 0x1234);
    assert_memory_equal(t.raw, e.raw, 16);
    assert_string_equal(t.sensor, "CPU Temp");
    assert_string_equal(t.event, "Upper Non-critical - going high");
    assert_string_equal(t.type, "");
    /* Without its 16 bytes, or with 15, an entry is refused. */
    unsigned char no_raw[] = {0x20, 0, 2, 0, 1, 0};
    assert_int_equal(ipmi_sel_decode(no_raw, sizeof(no_raw), &t), -1);
    unsigned char short_raw[4 + 15] = {0x38, 0, 15, 0};
    assert_int_equal(ipmi_sel_decode(short_raw, sizeof(short_raw), &t), -1);
    ipmiw_free(&w);
}

static void test_bounds(void **state)
{
    (void)state;
    unsigned char hdr[4] = {0xff, 0xff, 0xff, 0x7f};
    assert_int_equal(ipmi_frame_len(hdr, IPMI_FRAME_MAX), -1); /* 2 GB */
    unsigned char small[4] = {7, 0, 0, 0};
    assert_int_equal(ipmi_frame_len(small, IPMI_FRAME_MAX), -1); /* below the header */
    unsigned char ok[4] = {8, 0, 0, 0};
    assert_int_equal(ipmi_frame_len(ok, IPMI_FRAME_MAX), 8);
    /* A field whose length runs past the end. */
    unsigned char f1[] = {3, 0, 9, 0, 'a', 'b'};
    struct ipmi_rd r;
    struct ipmi_field fl;
    ipmi_rd_init(&r, f1, sizeof(f1));
    assert_int_equal(ipmi_rd_next(&r, &fl), -1);
    /* A string with a NUL inside; one too long for its buffer. */
    unsigned char f2[] = {3, 0, 3, 0, 'a', 0, 'b'};
    char buf[8];
    ipmi_rd_init(&r, f2, sizeof(f2));
    assert_int_equal(ipmi_rd_next(&r, &fl), 1);
    assert_int_equal(ipmi_field_str(&fl, buf, sizeof(buf)), -1);
    assert_int_equal(ipmi_field_str(&fl, buf, 2), -1);
    /* Integers of odd sizes, doubles that are not 8 bytes. */
    uint64_t u;
    double d;
    assert_int_equal(ipmi_field_uint(&fl, &u), -1);
    assert_int_equal(ipmi_field_dbl(&fl, &d), -1);
    /* A sensor record without its number is refused. */
    unsigned char f3[] = {0x29, 0, 1, 0, 'x'};
    struct ipmi_sensor s;
    assert_int_equal(ipmi_sensor_decode(f3, sizeof(f3), &s), -1);
    /* A threshold index past the six. */
    unsigned char f4[] = {0x21, 0, 1, 0, 1, 0x2e, 0, 9, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(ipmi_sensor_decode(f4, sizeof(f4), &s), -1);
    f4[9] = 5;
    assert_int_equal(ipmi_sensor_decode(f4, sizeof(f4), &s), 0);
    /* The writer refuses past its cap and nested records. */
    struct ipmi_wbuf w;
    ipmiw_init(&w, 64);
    ipmiw_begin(&w, 1, 2, 0);
    char big[100];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ipmiw_str(&w, IPMI_T_MESSAGE, big);
    assert_int_equal(ipmiw_finish(&w), -1);
    ipmiw_begin(&w, 1, 2, 0);
    ipmiw_rec_begin(&w);
    ipmiw_rec_begin(&w);
    assert_int_equal(ipmiw_finish(&w), -1);
    ipmiw_begin(&w, 1, 2, 0);
    ipmiw_rec_begin(&w);
    assert_int_equal(ipmiw_finish(&w), -1); /* left open */
    ipmiw_free(&w);
}

static void test_frame_read_over_pipe(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct ipmi_wbuf w;
    ipmiw_init(&w, IPMI_FRAME_MAX);
    ipmiw_begin(&w, 9, IPMI_OP_LIST, 0);
    assert_int_equal(ipmiw_finish(&w), 0);
    assert_int_equal(ipmi_write_all(p[1], w.p, w.len), 0);
    unsigned char big[4] = {0, 0, 0x20, 0}; /* 2 MiB: over the reply cap */
    assert_int_equal(ipmi_write_all(p[1], big, 4), 0);
    close(p[1]);
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    assert_int_equal(ipmi_frame_read(p[0], &buf, &cap, &n, IPMI_FRAME_MAX), 1);
    assert_int_equal(n, w.len);
    assert_int_equal(ipmi_frame_read(p[0], &buf, &cap, &n, IPMI_FRAME_MAX), -1);
    assert_int_equal(ipmi_frame_read(p[0], &buf, &cap, &n, IPMI_FRAME_MAX), 0); /* EOF */
    close(p[0]);
    free(buf);
    ipmiw_free(&w);
}

/* ---- scale ------------------------------------------------------------- */

static void test_unit_modifier(void **state)
{
    (void)state;
    struct ipmi_sensor s;
    memset(&s, 0, sizeof(s));
    s.m = 1;
    assert_int_equal(wsmd__ipmi_unit_modifier(&s), 0);
    s.r_exp = -1; /* 12V: 0.1 V steps */
    assert_int_equal(wsmd__ipmi_unit_modifier(&s), -1);
    s.b = 5;
    s.b_exp = -2; /* an offset in hundredths of the step */
    assert_int_equal(wsmd__ipmi_unit_modifier(&s), -3);
    s.b = 0; /* no offset: B's exponent does not matter */
    assert_int_equal(wsmd__ipmi_unit_modifier(&s), -1);
    s.linear = 1; /* ln: non-linear, given in hundredths */
    assert_int_equal(wsmd__ipmi_unit_modifier(&s), -2);
}

/* ---- IpmiHosts ---------------------------------------------------------- */

static const char *parse(const char *text, struct ipmi_hosts *h)
{
    static char err[300];
    err[0] = '\0';
    return wsmd__ipmi_hosts_parse(text, strlen(text), h, err, sizeof(err)) == WSM_OK ? NULL : err;
}

static void test_hosts_parse(void **state)
{
    (void)state;
    struct ipmi_hosts h;
    assert_null(parse("# rack 1\n\n"
                      "bmc1 10.0.0.1:623 admin secret cipher=3 workaround=opensesspriv,sun20\n"
                      "  bmc2\t[fe80::1]:6230 oper pw privilege=operator timeout=1500 # note\n"
                      "bmc-3 host.example nobody x\r\n",
                      &h));
    assert_int_equal(h.n, 3);
    assert_string_equal(h.b[0].name, "bmc1");
    assert_string_equal(h.b[0].host, "10.0.0.1");
    assert_int_equal(h.b[0].port, 623);
    assert_string_equal(h.b[0].password, "secret");
    assert_int_equal(h.b[0].cipher, 3);
    assert_string_equal(h.b[0].workarounds, "opensesspriv,sun20");
    assert_string_equal(h.b[1].host, "fe80::1");
    assert_int_equal(h.b[1].port, 6230);
    assert_int_equal(h.b[1].privilege, 3);
    assert_int_equal(h.b[1].timeout_ms, 1500);
    assert_int_equal(h.b[1].cipher, -1);
    assert_string_equal(h.b[2].host, "host.example");
    assert_int_equal(h.b[2].port, 623);
    assert_string_equal(h.b[2].password, "x");
    wsmd__ipmi_hosts_clear(&h);
    assert_null(h.b);
}

static void test_hosts_refused(void **state)
{
    (void)state;
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"bmc1 10.0.0.1 admin\n", "line 1: expected NAME"},
        {"ok 1.2.3.4 a b\nbmc/1 1.2.3.4 a b\n", "line 2: the name"},
        {"bmc1 1.2.3.4:0 a b\n", "HOST:PORT"},
        {"bmc1 1.2.3.4:70000 a b\n", "HOST:PORT"},
        {"bmc1 fe80::1 a b\n", "HOST:PORT"},
        {"bmc1 1.2.3.4 a b cipher=18\n", "cipher"},
        {"bmc1 1.2.3.4 a b workaround=frobnicate\n", "unknown workaround"},
        {"bmc1 1.2.3.4 a b workaround=opensesspriv,idzero\n", "unknown workaround"},
        {"bmc1 1.2.3.4 a b privilege=root\n", "privilege"},
        {"bmc1 1.2.3.4 a b timeout=5\n", "timeout"},
        {"bmc1 1.2.3.4 a b color=red\n", "unknown option"},
        {"bmc1 1.2.3.4 a 123456789012345678901\n", "20 at most"},
        {"bmc1 1.2.3.4 a b\nbmc1 1.2.3.5 a b\n", "line 2: a BMC of that name"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct ipmi_hosts h = {0};
        const char *err = parse(bad[i].text, &h);
        if (!err || !strstr(err, bad[i].why))
            fail_msg("%s: got %s", bad[i].text, err ? err : "(accepted)");
        assert_null(h.b);
    }
}

static void test_hosts_file_permissions(void **state)
{
    (void)state;
    char path[] = "/tmp/ipmihosts.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "bmc1 127.0.0.1:623 admin Pw-Value-9\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct ipmi_hosts h = {0};
    char err[300];
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(wsmd__ipmi_hosts_load(path, (uid_t)-1, &h, err, sizeof(err)), WSM_OK);
    assert_int_equal(h.n, 1);
    wsmd__ipmi_hosts_clear(&h);
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(wsmd__ipmi_hosts_load(path, (uid_t)-1, &h, err, sizeof(err)),
                     WSM_ERR_ACCESS_DENIED);
    assert_non_null(strstr(err, "mode 0640; chmod 600"));
    assert_null(strstr(err, "Pw-Value-9"));
    assert_int_equal(chmod(path, 0602), 0);
    assert_int_equal(wsmd__ipmi_hosts_load(path, (uid_t)-1, &h, err, sizeof(err)),
                     WSM_ERR_ACCESS_DENIED);
    unlink(path);
    assert_int_equal(wsmd__ipmi_hosts_load(path, (uid_t)-1, &h, err, sizeof(err)), WSM_ERR_IO);
    /* Not a regular file. */
    assert_int_equal(wsmd__ipmi_hosts_load("/tmp", (uid_t)-1, &h, err, sizeof(err)) == WSM_OK, 0);
}

/* ipmirec.c: the chassis, raw and FRU forms. */
static void finish_and_parse(struct ipmi_wbuf *w, struct ipmi_frame *f)
{
    assert_int_equal(ipmiw_finish(w), 0);
    assert_int_equal(ipmi_frame_parse(w->p, w->len, IPMI_FRAME_MAX, f), 0);
}

static void test_chassis_raw_fru(void **state)
{
    (void)state;
    struct ipmi_wbuf w;
    struct ipmi_frame f;
    /* Chassis status: the three bytes back; without the power byte, no. */
    struct ipmi_chassis c = {0x61, 0x10, 0x09}, c2;
    ipmiw_init(&w, IPMI_FRAME_MAX);
    ipmiw_begin(&w, 1, IPMI_OP_CHASSIS_STATUS | IPMI_OP_REPLY, 0);
    ipmi_chassis_encode(&w, &c);
    finish_and_parse(&w, &f);
    assert_int_equal(ipmi_chassis_decode(f.body, f.blen, &c2), 0);
    assert_memory_equal(&c, &c2, sizeof(c));
    assert_int_equal(ipmi_chassis_decode(f.body + 5, f.blen - 5, &c2), -1);
    for (size_t cut = 1; cut < f.blen; cut++)
        if (cut % 5) /* not on a field's boundary */
            assert_int_equal(ipmi_chassis_decode(f.body, cut, &c2), -1);
    ipmiw_free(&w);

    /* Raw: a request needs NetFn and command; a reply its code. */
    struct ipmi_raw q = {.netfn = 0x0a, .lun = 1, .cmd = 0x43, .n = 3, .data = {1, 2, 3}}, q2;
    ipmiw_init(&w, IPMI_REQUEST_MAX);
    ipmiw_begin(&w, 2, IPMI_OP_RAW, 0);
    ipmi_raw_encode(&w, &q, 1);
    finish_and_parse(&w, &f);
    assert_int_equal(ipmi_raw_decode(f.body, f.blen, &q2, 1), 0);
    assert_int_equal(q2.netfn, 0x0a);
    assert_int_equal(q2.lun, 1);
    assert_int_equal(q2.cmd, 0x43);
    assert_int_equal(q2.n, 3);
    assert_int_equal(q2.data[2], 3);
    assert_int_equal(ipmi_raw_decode(f.body, f.blen, &q2, 0), -1); /* no completion code */
    ipmiw_free(&w);
    /* NetFn above 6 bits, LUN above 3, data past 255 bytes: refused. */
    unsigned char bad[8] = {IPMI_T_NETFN, 0, 1, 0, 0x40, IPMI_T_CMD, 0, 1};
    assert_int_equal(ipmi_raw_decode(bad, 5, &q2, 1), -1);
    unsigned char big[4 + 300] = {IPMI_T_DATA, 0, 300 & 0xff, 300 >> 8};
    assert_int_equal(ipmi_raw_decode(big, sizeof(big), &q2, 0), -1);
    struct ipmi_raw over = {.n = IPMI_RAW_MAX + 1};
    ipmiw_init(&w, IPMI_FRAME_MAX);
    ipmiw_begin(&w, 3, IPMI_OP_RAW | IPMI_OP_REPLY, 0);
    ipmi_raw_encode(&w, &over, 0);
    assert_int_equal(ipmiw_finish(&w), -1);
    ipmiw_free(&w);

    /* A FRU area: every string back; an unknown area or a string too
     * long for its slot is malformed. */
    struct ipmi_fru a, a2;
    memset(&a, 0, sizeof(a));
    a.area = IPMI_FRU_BOARD;
    a.date = 1704067200;
    strcpy(a.mfg, "SimBoards Inc");
    strcpy(a.name, "SIM-MB-1");
    strcpy(a.serial, "MB-0000001");
    strcpy(a.part, "PN-MB-01");
    a.device = 3;
    strcpy(a.locator, "PSU1 FRU");
    ipmiw_init(&w, IPMI_FRAME_MAX);
    ipmiw_begin(&w, 4, IPMI_OP_FRU | IPMI_OP_REPLY, 0);
    ipmi_fru_encode(&w, &a);
    finish_and_parse(&w, &f);
    struct ipmi_rd r;
    struct ipmi_field fl;
    ipmi_rd_init(&r, f.body, f.blen);
    assert_int_equal(ipmi_rd_next(&r, &fl), 1);
    assert_int_equal(ipmi_fru_decode(fl.v, fl.len, &a2), 0);
    assert_memory_equal(&a, &a2, sizeof(a));
    for (size_t cut = 0; cut < fl.len; cut++) {
        int k = ipmi_fru_decode(fl.v, cut, &a2);
        if (k == 0) /* cut on a field boundary: a shorter area, never more */
            assert_true(strlen(a2.part) <= strlen(a.part));
    }
    ipmiw_free(&w);
    unsigned char area4[5] = {IPMI_T_FRU_AREA, 0, 1, 0, 4};
    assert_int_equal(ipmi_fru_decode(area4, sizeof(area4), &a2), -1);
    unsigned char longtext[5 + 4 + IPMI_FRU_TEXT_MAX + 1] = {
        IPMI_T_FRU_AREA, 0, 1, 0, 1, IPMI_T_FRU_SERIAL, 0, IPMI_FRU_TEXT_MAX + 1, 0};
    memset(longtext + 9, 'A', IPMI_FRU_TEXT_MAX + 1);
    assert_int_equal(ipmi_fru_decode(longtext, sizeof(longtext), &a2), -1);
    assert_int_equal(ipmi_fru_decode(longtext, sizeof(longtext) - 1, &a2), -1); /* truncated */
    /* Device FFh is reserved (no FRU device has it). */
    unsigned char dev255[10] = {IPMI_T_FRU_AREA, 0, 1, 0, 1, IPMI_T_FRU_DEVICE, 0, 1, 0, 0xff};
    assert_int_equal(ipmi_fru_decode(dev255, sizeof(dev255), &a2), -1);
    dev255[9] = 7;
    assert_int_equal(ipmi_fru_decode(dev255, sizeof(dev255), &a2), 0);
    assert_int_equal(a2.device, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sensor_roundtrip),
        cmocka_unit_test(test_bmc_roundtrip_and_secret),
        cmocka_unit_test(test_sel_roundtrip),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_frame_read_over_pipe),
        cmocka_unit_test(test_unit_modifier),
        cmocka_unit_test(test_hosts_parse),
        cmocka_unit_test(test_hosts_refused),
        cmocka_unit_test(test_hosts_file_permissions),
        cmocka_unit_test(test_chassis_raw_fru),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
