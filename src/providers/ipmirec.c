/* The chassis, raw and FRU forms of the frames between wsmd and
 * wsmd-ipmi (ipmiframe.h, docs/internals/ipmi.md "The protocol"). MIT,
 * compiled into both, like ipmiframe.c; wsmd reads what the helper wrote
 * with the same distrust: every field's length is checked, strings carry
 * no NUL, a field that does not fit its slot makes the whole form
 * malformed rather than cut. */
#include <string.h>

#include "ipmiframe.h"

/* ---- Get Chassis Status ---------------------------------------------------- */

void ipmi_chassis_encode(struct ipmi_wbuf *w, const struct ipmi_chassis *c)
{
    ipmiw_uint(w, IPMI_T_POWER_STATE, c->power, 1);
    ipmiw_uint(w, IPMI_T_LAST_EVENT, c->last_event, 1);
    ipmiw_uint(w, IPMI_T_MISC_STATE, c->misc, 1);
}

/* A u8 field: 0, or -1 when the value is wider than a byte. */
static int get_u8(const struct ipmi_field *f, uint8_t *out)
{
    uint64_t v;
    if (ipmi_field_uint(f, &v) != 0 || v > 0xff)
        return -1;
    *out = (uint8_t)v;
    return 0;
}

int ipmi_chassis_decode(const unsigned char *body, size_t n, struct ipmi_chassis *c)
{
    struct ipmi_rd r;
    struct ipmi_field f;
    int k, bad = 0, have = 0;
    memset(c, 0, sizeof(*c));
    ipmi_rd_init(&r, body, n);
    while (!bad && (k = ipmi_rd_next(&r, &f)) == 1) {
        if (f.tag == IPMI_T_POWER_STATE) {
            bad = get_u8(&f, &c->power);
            have = 1;
        } else if (f.tag == IPMI_T_LAST_EVENT) {
            bad = get_u8(&f, &c->last_event);
        } else if (f.tag == IPMI_T_MISC_STATE) {
            bad = get_u8(&f, &c->misc);
        }
    }
    return bad || k < 0 || !have ? -1 : 0;
}

/* ---- raw requests ----------------------------------------------------------- */

void ipmi_raw_encode(struct ipmi_wbuf *w, const struct ipmi_raw *r, int request)
{
    if (request) {
        ipmiw_uint(w, IPMI_T_NETFN, r->netfn, 1);
        ipmiw_uint(w, IPMI_T_LUN, r->lun, 1);
        ipmiw_uint(w, IPMI_T_CMD, r->cmd, 1);
    } else {
        ipmiw_uint(w, IPMI_T_CC, r->cc, 1);
    }
    if (r->n > IPMI_RAW_MAX)
        w->fail = 1;
    else
        ipmiw_bytes(w, IPMI_T_DATA, r->data, r->n);
}

int ipmi_raw_decode(const unsigned char *body, size_t n, struct ipmi_raw *r, int request)
{
    struct ipmi_rd rd;
    struct ipmi_field f;
    int k, bad = 0;
    unsigned have = 0;
    memset(r, 0, sizeof(*r));
    ipmi_rd_init(&rd, body, n);
    while (!bad && (k = ipmi_rd_next(&rd, &f)) == 1) {
        switch (f.tag) {
        case IPMI_T_NETFN:
            bad = get_u8(&f, &r->netfn) || r->netfn > 0x3f;
            have |= 1;
            break;
        case IPMI_T_LUN:
            bad = get_u8(&f, &r->lun) || r->lun > 3;
            have |= 2;
            break;
        case IPMI_T_CMD:
            bad = get_u8(&f, &r->cmd);
            have |= 4;
            break;
        case IPMI_T_CC:
            bad = get_u8(&f, &r->cc);
            have |= 8;
            break;
        case IPMI_T_DATA:
            bad = f.len > IPMI_RAW_MAX;
            if (!bad) {
                memcpy(r->data, f.v, f.len);
                r->n = f.len;
            }
            break;
        default:
            break;
        }
    }
    /* A request names what to send; a reply has the BMC's code. */
    unsigned need = request ? 1 | 4 : 8;
    return bad || k < 0 || (have & need) != need ? -1 : 0;
}

/* ---- FRU areas --------------------------------------------------------------- */

static void put_text(struct ipmi_wbuf *w, uint16_t tag, const char *s)
{
    if (s[0])
        ipmiw_str(w, tag, s);
}

void ipmi_fru_encode(struct ipmi_wbuf *w, const struct ipmi_fru *f)
{
    ipmiw_rec_begin(w);
    ipmiw_uint(w, IPMI_T_FRU_AREA, f->area, 1);
    ipmiw_uint(w, IPMI_T_FRU_DEVICE, f->device, 1);
    put_text(w, IPMI_T_NAME, f->locator);
    if (f->area == IPMI_FRU_CHASSIS)
        ipmiw_uint(w, IPMI_T_FRU_TYPE, f->chassis_type, 1);
    if (f->date)
        ipmiw_uint(w, IPMI_T_FRU_DATE, f->date, 4);
    put_text(w, IPMI_T_FRU_MFG, f->mfg);
    put_text(w, IPMI_T_FRU_NAME, f->name);
    put_text(w, IPMI_T_FRU_SERIAL, f->serial);
    put_text(w, IPMI_T_FRU_PART, f->part);
    put_text(w, IPMI_T_FRU_VERSION, f->version);
    put_text(w, IPMI_T_FRU_ASSET, f->asset);
    ipmiw_rec_end(w);
}

int ipmi_fru_decode(const unsigned char *rec, size_t n, struct ipmi_fru *f)
{
    struct ipmi_rd r;
    struct ipmi_field fl;
    int k, bad = 0;
    uint64_t v;
    memset(f, 0, sizeof(*f));
    ipmi_rd_init(&r, rec, n);
    while (!bad && (k = ipmi_rd_next(&r, &fl)) == 1) {
        switch (fl.tag) {
        case IPMI_T_FRU_AREA:
            bad = get_u8(&fl, &f->area) || f->area < IPMI_FRU_CHASSIS || f->area > IPMI_FRU_PRODUCT;
            break;
        case IPMI_T_FRU_TYPE:
            bad = get_u8(&fl, &f->chassis_type);
            break;
        case IPMI_T_FRU_DEVICE:
            bad = get_u8(&fl, &f->device) || f->device == 0xff;
            break;
        case IPMI_T_NAME:
            bad = ipmi_field_str(&fl, f->locator, sizeof(f->locator));
            break;
        case IPMI_T_FRU_DATE:
            bad = ipmi_field_uint(&fl, &v) != 0 || v > 0xffffffffu;
            f->date = (uint32_t)v;
            break;
        case IPMI_T_FRU_MFG:
            bad = ipmi_field_str(&fl, f->mfg, sizeof(f->mfg));
            break;
        case IPMI_T_FRU_NAME:
            bad = ipmi_field_str(&fl, f->name, sizeof(f->name));
            break;
        case IPMI_T_FRU_SERIAL:
            bad = ipmi_field_str(&fl, f->serial, sizeof(f->serial));
            break;
        case IPMI_T_FRU_PART:
            bad = ipmi_field_str(&fl, f->part, sizeof(f->part));
            break;
        case IPMI_T_FRU_VERSION:
            bad = ipmi_field_str(&fl, f->version, sizeof(f->version));
            break;
        case IPMI_T_FRU_ASSET:
            bad = ipmi_field_str(&fl, f->asset, sizeof(f->asset));
            break;
        default:
            break;
        }
    }
    return bad || k < 0 || !f->area ? -1 : 0;
}
