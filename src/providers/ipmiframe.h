/* The framed protocol between wsmd and its IPMI helper, wsmd-ipmi
 * (docs/internals/ipmi.md). MIT: compiled into both wsmd and the GPL
 * helper, which is allowed (MIT is GPL-compatible), never the other way.
 *
 * A frame, all integers little-endian:
 *
 *   u32 len      bytes that follow (8 .. IPMI_FRAME_MAX)
 *   u32 id       chosen by wsmd, echoed in the reply (replies may come
 *                out of order: one BMC is slower than another)
 *   u16 op       IPMI_OP_*; a reply has IPMI_OP_REPLY set
 *   u16 status   0 in requests; a reply's IPMI_ST_*
 *   fields...    u16 tag, u16 len, len bytes
 *
 * A field of tag IPMI_T_RECORD holds further fields (one level: records
 * do not nest): a reply is a list of typed records (a BMC, a sensor), an
 * error reply carries IPMI_T_MESSAGE. Integers are 1, 2, 4 or 8 bytes,
 * doubles 8 bytes IEEE 754, strings their bytes without a NUL (a NUL
 * inside is refused). Readers never trust a length: every field is
 * checked against what arrived. */
#ifndef WSMD_IPMIFRAME_H
#define WSMD_IPMIFRAME_H

#include <stddef.h>
#include <stdint.h>

#define IPMI_FRAME_MAX (1024u * 1024u) /* a reply: 1 MiB */
#define IPMI_REQUEST_MAX (64u * 1024u) /* a request wsmd sends (CONFIG included) */
#define IPMI_HEAD 12                   /* len, id, op, status */
#define IPMI_NAME_MAX 64               /* a BMC's name in IpmiHosts */
#define IPMI_HOST_MAX 255
#define IPMI_USER_MAX 16        /* IPMI 2.0: 16 bytes */
#define IPMI_PASS_MAX 20        /* IPMI 2.0: 20 bytes */
#define IPMI_SENSOR_NAME_MAX 64 /* SDR id strings are at most 16 */
#define IPMI_MESSAGE_MAX 255
#define IPMI_MAX_BMCS 256
#define IPMI_MAX_SEL 4096 /* entries per SEL reply (an IPMI SEL rarely holds 1000) */
#define IPMI_SEL_TEXT_MAX 160

enum ipmi_op {
    IPMI_OP_CONFIG = 1,          /* wsmd -> helper, first frame: one record per BMC; no reply */
    IPMI_OP_LIST = 2,            /* -> one record per BMC (IPMI_T_BMC...), no secrets */
    IPMI_OP_SENSORS = 3,         /* bmc -> one record per sensor */
    IPMI_OP_SEL = 4,             /* bmc -> the SEL's head, then a record per entry */
    IPMI_OP_FRU = 5,             /* bmc [, FRU_DEVICE] -> a record per FRU area (ipmirec.c) */
    IPMI_OP_CHASSIS_STATUS = 6,  /* bmc -> Get Chassis Status's bytes (ipmirec.c) */
    IPMI_OP_CHASSIS_CONTROL = 7, /* bmc, ACTION -> CC */
    IPMI_OP_RAW = 8,             /* bmc, NETFN, LUN, CMD, DATA -> CC, DATA */
    IPMI_OP_SEL_CLEAR = 9,       /* bmc -> nothing (the SEL is erased) */
    IPMI_OP_REPLY = 0x8000,
};

enum ipmi_status {
    IPMI_ST_OK = 0,
    IPMI_ST_BAD_REQUEST = 1, /* malformed frame or field */
    IPMI_ST_UNKNOWN_BMC = 2, /* no BMC of that name */
    IPMI_ST_UNREACHABLE = 3, /* no answer within the session timeout */
    IPMI_ST_AUTH = 4,        /* user, password, privilege or cipher refused */
    IPMI_ST_BMC_ERROR = 5,   /* the BMC answered with an error */
    IPMI_ST_UNSUPPORTED = 6, /* an op the helper does not serve */
    IPMI_ST_BUSY = 7,        /* the BMC's queue is full */
    IPMI_ST_INTERNAL = 8,
    IPMI_ST_MAX = 8,
};

enum ipmi_tag {
    IPMI_T_RECORD = 1,
    IPMI_T_MESSAGE = 2, /* string: what went wrong */
    IPMI_T_BMC = 3,     /* string: a BMC's name */
    /* CONFIG and LIST records */
    IPMI_T_HOST = 0x10,
    IPMI_T_PORT = 0x11,
    IPMI_T_USER = 0x12,
    IPMI_T_PASSWORD = 0x13, /* CONFIG only */
    IPMI_T_CIPHER = 0x14,
    IPMI_T_WORKAROUNDS = 0x15, /* string: FreeIPMI's names, comma separated */
    IPMI_T_PRIVILEGE = 0x16,   /* 2 user, 3 operator, 4 admin */
    IPMI_T_TIMEOUT_MS = 0x17,
    IPMI_T_STATE = 0x18,  /* LIST: enum ipmi_bmc_state */
    IPMI_T_INBAND = 0x19, /* u8 1: the local BMC, through the device named by HOST */
    /* sensor records */
    IPMI_T_RECORD_ID = 0x20,
    IPMI_T_NUMBER = 0x21,
    IPMI_T_OWNER = 0x22,
    IPMI_T_LUN = 0x23,
    IPMI_T_ENTITY = 0x24, /* u16: id << 8 | instance */
    IPMI_T_SENSOR_TYPE = 0x25,
    IPMI_T_READING_TYPE = 0x26, /* event/reading type code */
    IPMI_T_UNITS = 0x27,        /* u32: pct << 24 | rate << 16 | modifier unit << 8 | base unit */
    IPMI_T_DECODING = 0x28,     /* u64: see ipmi_sensor.{m,b,r_exp,b_exp,linear} */
    IPMI_T_NAME = 0x29,
    IPMI_T_RAW = 0x2a,       /* the raw reading byte */
    IPMI_T_VALUE = 0x2b,     /* double: the converted reading (absent: none) */
    IPMI_T_SSTATE = 0x2c,    /* u16: threshold comparison bits, or discrete state bits */
    IPMI_T_THR_MASK = 0x2d,  /* u16: readable mask << 8 | settable mask (bit 0 LNC .. 5 UNR) */
    IPMI_T_THRESHOLD = 0x2e, /* 9 bytes: index (0 LNC, 1 LC, 2 LNR, 3 UNC, 4 UC, 5 UNR), double */
    IPMI_T_RFLAGS = 0x2f,    /* u8: IPMI_RF_* */
    /* SEL replies: top-level fields (Get SEL Info) ... */
    IPMI_T_SEL_ENTRIES = 0x30, /* u16 */
    IPMI_T_SEL_FREE = 0x31,    /* u16: free bytes */
    IPMI_T_SEL_ADDED = 0x32,   /* u32: most recent addition (IPMI timestamp) */
    IPMI_T_SEL_ERASED = 0x33,  /* u32: most recent erase */
    IPMI_T_SEL_CUT = 0x34,     /* u8: 1 when entries past IPMI_MAX_SEL were left out */
    /* ... and a record per entry: RECORD_ID, NAME (the sensor's), and */
    IPMI_T_SEL_RAW = 0x38,   /* the 16 bytes of the entry, as the BMC gave them */
    IPMI_T_SEL_TYPE = 0x39,  /* string: the sensor type's name */
    IPMI_T_SEL_EVENT = 0x3a, /* string: the event, as FreeIPMI's ipmi-sel words it */
    /* CHASSIS_STATUS replies: Get Chassis Status's data bytes (IPMI 2.0 s28.2) */
    IPMI_T_POWER_STATE = 0x40, /* u8: current power state (bit 0 on, 1 overload, ...) */
    IPMI_T_LAST_EVENT = 0x41,  /* u8: last power event */
    IPMI_T_MISC_STATE = 0x42,  /* u8: misc. chassis state (bit 0 intrusion, ...) */
    /* CHASSIS_CONTROL: the request's action; RAW: the request and reply */
    IPMI_T_ACTION = 0x43, /* u8: Chassis Control's 0 down, 1 up, 2 cycle, 3 reset, 5 soft */
    IPMI_T_NETFN = 0x44,  /* u8: a request's NetFn (6 bits) */
    IPMI_T_CMD = 0x45,    /* u8: its command */
    IPMI_T_CC = 0x46,     /* u8: the BMC's completion code */
    IPMI_T_DATA = 0x47,   /* bytes: request data, or the response data after the CC */
    /* FRU replies: a record per area (IPMI FRU spec 1.0: chassis, board, product) */
    IPMI_T_FRU_DEVICE = 0x50,  /* u8: the FRU device id (request: absent, every device) */
    IPMI_T_FRU_AREA = 0x51,    /* u8: enum ipmi_fru_area */
    IPMI_T_FRU_TYPE = 0x52,    /* u8: the chassis type (SMBIOS numbering) */
    IPMI_T_FRU_MFG = 0x53,     /* string: manufacturer */
    IPMI_T_FRU_NAME = 0x54,    /* string: product (or board) name */
    IPMI_T_FRU_SERIAL = 0x55,  /* string */
    IPMI_T_FRU_PART = 0x56,    /* string: part / model number */
    IPMI_T_FRU_VERSION = 0x57, /* string */
    IPMI_T_FRU_ASSET = 0x58,   /* string: asset tag */
    IPMI_T_FRU_DATE = 0x59,    /* u32: board manufacturing time, seconds since 1970 */
};

enum ipmi_fru_area { IPMI_FRU_CHASSIS = 1, IPMI_FRU_BOARD = 2, IPMI_FRU_PRODUCT = 3 };

enum ipmi_bmc_state { IPMI_BMC_UNKNOWN = 0, IPMI_BMC_UP = 1, IPMI_BMC_DOWN = 2 };

/* Threshold indexes, in IPMI's bit order of the comparison status. */
enum { IPMI_LNC, IPMI_LC, IPMI_LNR, IPMI_UNC, IPMI_UC, IPMI_UNR, IPMI_NTHR };

enum {
    IPMI_RF_SCANNING_OFF = 1, /* sensor scanning disabled */
    IPMI_RF_UNAVAILABLE = 2,  /* reading unavailable (not present, initializing) */
};

/* ---- writing --------------------------------------------------------- */

struct ipmi_wbuf {
    unsigned char *p;
    size_t len, cap, max;
    size_t rec_at; /* where the open record's header is, 0: none */
    int fail;      /* no memory, or past max: the frame is not sent */
};

/* max: IPMI_REQUEST_MAX or IPMI_FRAME_MAX (counting the 4 length bytes). */
void ipmiw_init(struct ipmi_wbuf *w, size_t max);
void ipmiw_free(struct ipmi_wbuf *w);
void ipmiw_begin(struct ipmi_wbuf *w, uint32_t id, uint16_t op, uint16_t status);
void ipmiw_uint(struct ipmi_wbuf *w, uint16_t tag, uint64_t v, unsigned bytes);
void ipmiw_dbl(struct ipmi_wbuf *w, uint16_t tag, double v);
void ipmiw_str(struct ipmi_wbuf *w, uint16_t tag, const char *s);
void ipmiw_bytes(struct ipmi_wbuf *w, uint16_t tag, const void *p, size_t n);
void ipmiw_rec_begin(struct ipmi_wbuf *w);
void ipmiw_rec_end(struct ipmi_wbuf *w);
/* Patches the length: 0, or -1 if anything failed. */
int ipmiw_finish(struct ipmi_wbuf *w);

/* ---- reading --------------------------------------------------------- */

/* The payload length a frame's first 4 bytes announce, or -1 when it is
 * below the header's or above max. */
long ipmi_frame_len(const unsigned char hdr[4], size_t max);

struct ipmi_frame {
    uint32_t id;
    uint16_t op, status;
    const unsigned char *body; /* the fields */
    size_t blen;
};
/* p: a whole frame (with its 4 length bytes), n its size. 0 or -1. */
int ipmi_frame_parse(const unsigned char *p, size_t n, size_t max, struct ipmi_frame *f);

struct ipmi_field {
    uint16_t tag;
    uint16_t len;
    const unsigned char *v;
};
struct ipmi_rd {
    const unsigned char *p;
    size_t n, pos;
};
void ipmi_rd_init(struct ipmi_rd *r, const void *p, size_t n);
/* 1: f is the next field; 0: the end; -1: a field runs past the end. */
int ipmi_rd_next(struct ipmi_rd *r, struct ipmi_field *f);

/* Typed reads of one field: 0, or -1 when its length does not fit. */
int ipmi_field_uint(const struct ipmi_field *f, uint64_t *v);
int ipmi_field_dbl(const struct ipmi_field *f, double *v);
/* Copies into buf (n bytes with the NUL); -1 if longer than n-1 or a NUL
 * is inside. */
int ipmi_field_str(const struct ipmi_field *f, char *buf, size_t n);

/* ---- typed records --------------------------------------------------- */

struct ipmi_bmc {
    char name[IPMI_NAME_MAX + 1];
    char host[IPMI_HOST_MAX + 1];
    unsigned port;
    char user[IPMI_USER_MAX + 1];
    char password[IPMI_PASS_MAX + 1];
    int cipher;                         /* -1: the helper's default (3) */
    char workarounds[256];              /* comma separated FreeIPMI names */
    int privilege;                      /* 2 user, 3 operator, 4 admin */
    unsigned timeout_ms;                /* 0: the helper's default */
    int state;                          /* LIST: enum ipmi_bmc_state */
    int inband;                         /* the local BMC: host is its device (/dev/ipmi0) */
    char message[IPMI_MESSAGE_MAX + 1]; /* LIST: the last error */
};

struct ipmi_sensor {
    uint16_t record_id;
    uint8_t number, owner, lun, entity_id, entity_instance;
    uint8_t type, reading_type;
    uint8_t unit_base, unit_modifier, unit_rate, unit_pct;
    int16_t m, b;
    int8_t r_exp, b_exp;
    uint8_t linear; /* linearization: 0 linear */
    char name[IPMI_SENSOR_NAME_MAX + 1];
    uint8_t raw;
    int has_value;
    double value;
    uint16_t state;
    uint8_t thr_readable, thr_settable;
    uint8_t thr_present; /* thresholds that were read (bit per index) */
    double thr[IPMI_NTHR];
    uint8_t rflags;
};

struct ipmi_sel_entry {
    uint16_t record_id;
    unsigned char raw[16];
    char sensor[IPMI_SENSOR_NAME_MAX + 1];
    char type[64];
    char event[IPMI_SEL_TEXT_MAX + 1];
};

#define IPMI_RAW_MAX 255     /* request or response data of one IPMI message */
#define IPMI_FRU_TEXT_MAX 96 /* a FRU string (63 bytes of 8-bit, 84 of 6-bit text) */

/* Get Chassis Status (ipmirec.c): the three state bytes. */
struct ipmi_chassis {
    uint8_t power, last_event, misc;
};

/* A RAW request or its reply; CHASSIS_CONTROL's reply is a cc alone. */
struct ipmi_raw {
    uint8_t netfn, lun, cmd, cc;
    uint16_t n; /* bytes of data */
    unsigned char data[IPMI_RAW_MAX];
};

/* One FRU area; fields the area does not have stay empty. */
struct ipmi_fru {
    uint8_t area;   /* enum ipmi_fru_area */
    uint8_t device; /* the FRU device id (IPMI_T_FRU_DEVICE in the record) */
    char locator[IPMI_SENSOR_NAME_MAX + 1]; /* its FRU Device Locator's name (IPMI_T_NAME) */
    uint8_t chassis_type;
    uint32_t date; /* 0: none */
    char mfg[IPMI_FRU_TEXT_MAX + 1], name[IPMI_FRU_TEXT_MAX + 1], serial[IPMI_FRU_TEXT_MAX + 1],
        part[IPMI_FRU_TEXT_MAX + 1], version[IPMI_FRU_TEXT_MAX + 1], asset[IPMI_FRU_TEXT_MAX + 1];
};

/* with_secret: a CONFIG record (the password goes too). */
void ipmi_bmc_encode(struct ipmi_wbuf *w, const struct ipmi_bmc *b, int with_secret);
/* rec: the value of an IPMI_T_RECORD. 0, or -1 when malformed or the
 * name is missing. Unknown tags are skipped (a newer helper may add). */
int ipmi_bmc_decode(const unsigned char *rec, size_t n, struct ipmi_bmc *b);
void ipmi_sensor_encode(struct ipmi_wbuf *w, const struct ipmi_sensor *s);
int ipmi_sensor_decode(const unsigned char *rec, size_t n, struct ipmi_sensor *s);
void ipmi_sel_encode(struct ipmi_wbuf *w, const struct ipmi_sel_entry *e);
/* -1 when malformed or the 16 raw bytes are missing. */
int ipmi_sel_decode(const unsigned char *rec, size_t n, struct ipmi_sel_entry *e);

/* ipmirec.c: chassis, raw and FRU. The chassis and raw forms are a
 * reply's top-level fields (body, n: the frame's fields); a FRU area is a
 * record. Decoders: 0, or -1 when malformed or a field is missing. */
void ipmi_chassis_encode(struct ipmi_wbuf *w, const struct ipmi_chassis *c);
int ipmi_chassis_decode(const unsigned char *body, size_t n, struct ipmi_chassis *c);
/* request: NETFN, LUN, CMD and DATA; else (a reply) CC and DATA. */
void ipmi_raw_encode(struct ipmi_wbuf *w, const struct ipmi_raw *r, int request);
int ipmi_raw_decode(const unsigned char *body, size_t n, struct ipmi_raw *r, int request);
void ipmi_fru_encode(struct ipmi_wbuf *w, const struct ipmi_fru *f);
int ipmi_fru_decode(const unsigned char *rec, size_t n, struct ipmi_fru *f);

/* Reads a whole frame from a blocking fd into *buf (grown up to max).
 * 1 read (its size in *n), 0 EOF before a frame, -1 error or an
 * oversized / truncated frame (errno set). */
int ipmi_frame_read(int fd, unsigned char **buf, size_t *cap, size_t *n, size_t max);
/* Writes all of it: 0 or -1. */
int ipmi_write_all(int fd, const void *p, size_t n);

#endif
