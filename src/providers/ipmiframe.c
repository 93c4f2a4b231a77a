/* The wsmd <-> wsmd-ipmi frame codec (ipmiframe.h; docs/internals/ipmi.md). */
#include "ipmiframe.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void put_le(unsigned char *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

void ipmiw_init(struct ipmi_wbuf *w, size_t max)
{
    memset(w, 0, sizeof(*w));
    w->max = max;
}

void ipmiw_free(struct ipmi_wbuf *w)
{
    free(w->p);
    memset(w, 0, sizeof(*w));
}

static unsigned char *room(struct ipmi_wbuf *w, size_t n)
{
    if (w->fail)
        return NULL;
    if (n > w->max || w->len > w->max - n) {
        w->fail = 1;
        return NULL;
    }
    if (w->len + n > w->cap) {
        size_t c = w->cap ? w->cap : 256;
        while (c < w->len + n)
            c *= 2;
        unsigned char *p = realloc(w->p, c);
        if (!p) {
            w->fail = 1;
            return NULL;
        }
        w->p = p;
        w->cap = c;
    }
    unsigned char *r = w->p + w->len;
    w->len += n;
    return r;
}

void ipmiw_begin(struct ipmi_wbuf *w, uint32_t id, uint16_t op, uint16_t status)
{
    w->len = 0;
    w->rec_at = 0;
    w->fail = 0;
    unsigned char *p = room(w, IPMI_HEAD);
    if (!p)
        return;
    put_le(p, 0, 4);
    put_le(p + 4, id, 4);
    put_le(p + 8, op, 2);
    put_le(p + 10, status, 2);
}

static unsigned char *field(struct ipmi_wbuf *w, uint16_t tag, size_t n)
{
    if (n > 0xffff) {
        w->fail = 1;
        return NULL;
    }
    unsigned char *p = room(w, 4 + n);
    if (!p)
        return NULL;
    put_le(p, tag, 2);
    put_le(p + 2, n, 2);
    return p + 4;
}

void ipmiw_uint(struct ipmi_wbuf *w, uint16_t tag, uint64_t v, unsigned bytes)
{
    unsigned char *p = field(w, tag, bytes);
    if (p)
        put_le(p, v, bytes);
}

void ipmiw_dbl(struct ipmi_wbuf *w, uint16_t tag, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    ipmiw_uint(w, tag, bits, 8);
}

void ipmiw_bytes(struct ipmi_wbuf *w, uint16_t tag, const void *src, size_t n)
{
    unsigned char *p = field(w, tag, n);
    if (p && n)
        memcpy(p, src, n);
}

void ipmiw_str(struct ipmi_wbuf *w, uint16_t tag, const char *s)
{
    ipmiw_bytes(w, tag, s ? s : "", s ? strlen(s) : 0);
}

void ipmiw_rec_begin(struct ipmi_wbuf *w)
{
    if (w->rec_at) {
        w->fail = 1; /* records do not nest */
        return;
    }
    size_t at = w->len;
    if (field(w, IPMI_T_RECORD, 0))
        w->rec_at = at;
}

void ipmiw_rec_end(struct ipmi_wbuf *w)
{
    if (!w->rec_at) {
        w->fail = 1;
        return;
    }
    size_t n = w->len - w->rec_at - 4;
    if (n > 0xffff)
        w->fail = 1;
    else if (!w->fail)
        put_le(w->p + w->rec_at + 2, n, 2);
    w->rec_at = 0;
}

int ipmiw_finish(struct ipmi_wbuf *w)
{
    if (w->fail || w->rec_at || w->len < IPMI_HEAD)
        return -1;
    put_le(w->p, w->len - 4, 4);
    return 0;
}

long ipmi_frame_len(const unsigned char hdr[4], size_t max)
{
    uint64_t n = get_le(hdr, 4);
    if (n < IPMI_HEAD - 4 || n > max - 4)
        return -1;
    return (long)n;
}

int ipmi_frame_parse(const unsigned char *p, size_t n, size_t max, struct ipmi_frame *f)
{
    if (n < IPMI_HEAD)
        return -1;
    long len = ipmi_frame_len(p, max);
    if (len < 0 || (size_t)len != n - 4)
        return -1;
    f->id = (uint32_t)get_le(p + 4, 4);
    f->op = (uint16_t)get_le(p + 8, 2);
    f->status = (uint16_t)get_le(p + 10, 2);
    f->body = p + IPMI_HEAD;
    f->blen = n - IPMI_HEAD;
    return 0;
}

void ipmi_rd_init(struct ipmi_rd *r, const void *p, size_t n)
{
    r->p = p;
    r->n = n;
    r->pos = 0;
}

int ipmi_rd_next(struct ipmi_rd *r, struct ipmi_field *f)
{
    if (r->pos == r->n)
        return 0;
    if (r->n - r->pos < 4)
        return -1;
    const unsigned char *h = r->p + r->pos;
    size_t len = (size_t)get_le(h + 2, 2);
    if (r->n - r->pos - 4 < len)
        return -1;
    f->tag = (uint16_t)get_le(h, 2);
    f->len = (uint16_t)len;
    f->v = h + 4;
    r->pos += 4 + len;
    return 1;
}

int ipmi_field_uint(const struct ipmi_field *f, uint64_t *v)
{
    if (f->len != 1 && f->len != 2 && f->len != 4 && f->len != 8)
        return -1;
    *v = get_le(f->v, f->len);
    return 0;
}

int ipmi_field_dbl(const struct ipmi_field *f, double *v)
{
    if (f->len != 8)
        return -1;
    uint64_t bits = get_le(f->v, 8);
    memcpy(v, &bits, sizeof(*v));
    return 0;
}

int ipmi_field_str(const struct ipmi_field *f, char *buf, size_t n)
{
    if (!n || f->len > n - 1 || (f->len && memchr(f->v, 0, f->len)))
        return -1;
    memcpy(buf, f->v, f->len);
    buf[f->len] = '\0';
    return 0;
}

/* ---- records ---------------------------------------------------------- */

void ipmi_bmc_encode(struct ipmi_wbuf *w, const struct ipmi_bmc *b, int with_secret)
{
    ipmiw_rec_begin(w);
    ipmiw_str(w, IPMI_T_BMC, b->name);
    ipmiw_str(w, IPMI_T_HOST, b->host);
    ipmiw_uint(w, IPMI_T_PORT, b->port, 2);
    ipmiw_str(w, IPMI_T_USER, b->user);
    if (with_secret)
        ipmiw_str(w, IPMI_T_PASSWORD, b->password);
    if (b->cipher >= 0)
        ipmiw_uint(w, IPMI_T_CIPHER, (uint64_t)b->cipher, 1);
    ipmiw_str(w, IPMI_T_WORKAROUNDS, b->workarounds);
    ipmiw_uint(w, IPMI_T_PRIVILEGE, (uint64_t)b->privilege, 1);
    ipmiw_uint(w, IPMI_T_TIMEOUT_MS, b->timeout_ms, 4);
    ipmiw_uint(w, IPMI_T_STATE, (uint64_t)b->state, 1);
    if (b->inband)
        ipmiw_uint(w, IPMI_T_INBAND, 1, 1);
    if (b->message[0])
        ipmiw_str(w, IPMI_T_MESSAGE, b->message);
    ipmiw_rec_end(w);
}

int ipmi_bmc_decode(const unsigned char *rec, size_t n, struct ipmi_bmc *b)
{
    struct ipmi_rd r;
    struct ipmi_field f;
    int k;
    uint64_t v;
    memset(b, 0, sizeof(*b));
    b->cipher = -1;
    ipmi_rd_init(&r, rec, n);
    while ((k = ipmi_rd_next(&r, &f)) == 1) {
        int bad = 0;
        switch (f.tag) {
        case IPMI_T_BMC:
            bad = ipmi_field_str(&f, b->name, sizeof(b->name));
            break;
        case IPMI_T_HOST:
            bad = ipmi_field_str(&f, b->host, sizeof(b->host));
            break;
        case IPMI_T_USER:
            bad = ipmi_field_str(&f, b->user, sizeof(b->user));
            break;
        case IPMI_T_PASSWORD:
            bad = ipmi_field_str(&f, b->password, sizeof(b->password));
            break;
        case IPMI_T_WORKAROUNDS:
            bad = ipmi_field_str(&f, b->workarounds, sizeof(b->workarounds));
            break;
        case IPMI_T_MESSAGE:
            bad = ipmi_field_str(&f, b->message, sizeof(b->message));
            break;
        case IPMI_T_INBAND:
            bad = ipmi_field_uint(&f, &v) != 0 || v > 1;
            b->inband = !bad && v;
            break;
        case IPMI_T_PORT:
        case IPMI_T_CIPHER:
        case IPMI_T_PRIVILEGE:
        case IPMI_T_TIMEOUT_MS:
        case IPMI_T_STATE:
            bad = ipmi_field_uint(&f, &v);
            if (bad)
                break;
            if (f.tag == IPMI_T_PORT)
                bad = v == 0 || v > 65535, b->port = (unsigned)v;
            else if (f.tag == IPMI_T_CIPHER)
                bad = v > 255, b->cipher = (int)v;
            else if (f.tag == IPMI_T_PRIVILEGE)
                bad = v > 5, b->privilege = (int)v;
            else if (f.tag == IPMI_T_TIMEOUT_MS)
                bad = v > 600000, b->timeout_ms = (unsigned)v;
            else
                bad = v > IPMI_BMC_DOWN, b->state = (int)v;
            break;
        default:
            break;
        }
        if (bad)
            return -1;
    }
    return k < 0 || !b->name[0] ? -1 : 0;
}

void ipmi_sensor_encode(struct ipmi_wbuf *w, const struct ipmi_sensor *s)
{
    ipmiw_rec_begin(w);
    ipmiw_uint(w, IPMI_T_RECORD_ID, s->record_id, 2);
    ipmiw_uint(w, IPMI_T_NUMBER, s->number, 1);
    ipmiw_uint(w, IPMI_T_OWNER, s->owner, 1);
    ipmiw_uint(w, IPMI_T_LUN, s->lun, 1);
    ipmiw_uint(w, IPMI_T_ENTITY, (uint64_t)s->entity_id << 8 | s->entity_instance, 2);
    ipmiw_uint(w, IPMI_T_SENSOR_TYPE, s->type, 1);
    ipmiw_uint(w, IPMI_T_READING_TYPE, s->reading_type, 1);
    ipmiw_uint(w, IPMI_T_UNITS,
               (uint64_t)s->unit_pct << 24 | (uint64_t)s->unit_rate << 16 |
                   (uint64_t)s->unit_modifier << 8 | s->unit_base,
               4);
    ipmiw_uint(w, IPMI_T_DECODING,
               (uint64_t)(uint16_t)s->m << 48 | (uint64_t)(uint16_t)s->b << 32 |
                   (uint64_t)(uint8_t)s->r_exp << 24 | (uint64_t)(uint8_t)s->b_exp << 16 |
                   (uint64_t)s->linear,
               8);
    ipmiw_str(w, IPMI_T_NAME, s->name);
    ipmiw_uint(w, IPMI_T_RAW, s->raw, 1);
    if (s->has_value)
        ipmiw_dbl(w, IPMI_T_VALUE, s->value);
    ipmiw_uint(w, IPMI_T_SSTATE, s->state, 2);
    ipmiw_uint(w, IPMI_T_THR_MASK, (uint64_t)s->thr_readable << 8 | s->thr_settable, 2);
    for (int i = 0; i < IPMI_NTHR; i++)
        if (s->thr_present & (1u << i)) {
            unsigned char t[9];
            uint64_t bits;
            memcpy(&bits, &s->thr[i], sizeof(bits));
            t[0] = (unsigned char)i;
            put_le(t + 1, bits, 8);
            ipmiw_bytes(w, IPMI_T_THRESHOLD, t, sizeof(t));
        }
    if (s->rflags)
        ipmiw_uint(w, IPMI_T_RFLAGS, s->rflags, 1);
    ipmiw_rec_end(w);
}

int ipmi_sensor_decode(const unsigned char *rec, size_t n, struct ipmi_sensor *s)
{
    struct ipmi_rd r;
    struct ipmi_field f;
    int k, have_number = 0;
    uint64_t v = 0;
    memset(s, 0, sizeof(*s));
    ipmi_rd_init(&r, rec, n);
    while ((k = ipmi_rd_next(&r, &f)) == 1) {
        if (f.tag == IPMI_T_NAME) {
            if (ipmi_field_str(&f, s->name, sizeof(s->name)))
                return -1;
            continue;
        }
        if (f.tag == IPMI_T_VALUE) {
            if (ipmi_field_dbl(&f, &s->value))
                return -1;
            s->has_value = 1;
            continue;
        }
        if (f.tag == IPMI_T_THRESHOLD) {
            if (f.len != 9 || f.v[0] >= IPMI_NTHR)
                return -1;
            uint64_t bits = get_le(f.v + 1, 8);
            memcpy(&s->thr[f.v[0]], &bits, sizeof(double));
            s->thr_present |= (uint8_t)(1u << f.v[0]);
            continue;
        }
        if (f.tag < IPMI_T_RECORD_ID || f.tag > IPMI_T_RFLAGS)
            continue; /* a newer helper's field */
        if (ipmi_field_uint(&f, &v))
            return -1;
        switch (f.tag) {
        case IPMI_T_RECORD_ID:
            s->record_id = (uint16_t)v;
            break;
        case IPMI_T_NUMBER:
            s->number = (uint8_t)v;
            have_number = 1;
            break;
        case IPMI_T_OWNER:
            s->owner = (uint8_t)v;
            break;
        case IPMI_T_LUN:
            s->lun = (uint8_t)(v & 3);
            break;
        case IPMI_T_ENTITY:
            s->entity_id = (uint8_t)(v >> 8);
            s->entity_instance = (uint8_t)v;
            break;
        case IPMI_T_SENSOR_TYPE:
            s->type = (uint8_t)v;
            break;
        case IPMI_T_READING_TYPE:
            s->reading_type = (uint8_t)v;
            break;
        case IPMI_T_UNITS:
            s->unit_pct = (uint8_t)(v >> 24);
            s->unit_rate = (uint8_t)(v >> 16);
            s->unit_modifier = (uint8_t)(v >> 8);
            s->unit_base = (uint8_t)v;
            break;
        case IPMI_T_DECODING:
            s->m = (int16_t)(uint16_t)(v >> 48);
            s->b = (int16_t)(uint16_t)(v >> 32);
            s->r_exp = (int8_t)(uint8_t)(v >> 24);
            s->b_exp = (int8_t)(uint8_t)(v >> 16);
            s->linear = (uint8_t)v;
            break;
        case IPMI_T_RAW:
            s->raw = (uint8_t)v;
            break;
        case IPMI_T_SSTATE:
            s->state = (uint16_t)v;
            break;
        case IPMI_T_THR_MASK:
            s->thr_readable = (uint8_t)(v >> 8);
            s->thr_settable = (uint8_t)v;
            break;
        case IPMI_T_RFLAGS:
            s->rflags = (uint8_t)v;
            break;
        default:
            break;
        }
    }
    return k < 0 || !have_number ? -1 : 0;
}

void ipmi_sel_encode(struct ipmi_wbuf *w, const struct ipmi_sel_entry *e)
{
    ipmiw_rec_begin(w);
    ipmiw_uint(w, IPMI_T_RECORD_ID, e->record_id, 2);
    ipmiw_bytes(w, IPMI_T_SEL_RAW, e->raw, sizeof(e->raw));
    if (e->sensor[0])
        ipmiw_str(w, IPMI_T_NAME, e->sensor);
    if (e->type[0])
        ipmiw_str(w, IPMI_T_SEL_TYPE, e->type);
    if (e->event[0])
        ipmiw_str(w, IPMI_T_SEL_EVENT, e->event);
    ipmiw_rec_end(w);
}

int ipmi_sel_decode(const unsigned char *rec, size_t n, struct ipmi_sel_entry *e)
{
    struct ipmi_rd r;
    struct ipmi_field f;
    int k = 0, have_raw = 0, bad = 0;
    uint64_t v = 0;
    memset(e, 0, sizeof(*e));
    ipmi_rd_init(&r, rec, n);
    while (!bad && (k = ipmi_rd_next(&r, &f)) == 1) {
        switch (f.tag) {
        case IPMI_T_RECORD_ID:
            bad = ipmi_field_uint(&f, &v);
            e->record_id = (uint16_t)v;
            break;
        case IPMI_T_SEL_RAW:
            bad = f.len != sizeof(e->raw);
            if (!bad)
                memcpy(e->raw, f.v, sizeof(e->raw));
            have_raw = 1;
            break;
        case IPMI_T_NAME:
            bad = ipmi_field_str(&f, e->sensor, sizeof(e->sensor));
            break;
        case IPMI_T_SEL_TYPE:
            bad = ipmi_field_str(&f, e->type, sizeof(e->type));
            break;
        case IPMI_T_SEL_EVENT:
            bad = ipmi_field_str(&f, e->event, sizeof(e->event));
            break;
        default:
            break;
        }
    }
    return bad || k < 0 || !have_raw ? -1 : 0;
}

/* ---- fd helpers -------------------------------------------------------- */

static int read_full(int fd, unsigned char *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            return got ? -2 : 0;
        got += (size_t)r;
    }
    return 1;
}

int ipmi_frame_read(int fd, unsigned char **buf, size_t *cap, size_t *n, size_t max)
{
    unsigned char hdr[4];
    int r = read_full(fd, hdr, 4);
    if (r <= 0) {
        if (r == -2)
            errno = EPROTO;
        return r;
    }
    long len = ipmi_frame_len(hdr, max);
    if (len < 0) {
        errno = EMSGSIZE;
        return -1;
    }
    size_t total = (size_t)len + 4;
    if (*cap < total) {
        unsigned char *p = realloc(*buf, total);
        if (!p)
            return -1;
        *buf = p;
        *cap = total;
    }
    memcpy(*buf, hdr, 4);
    r = read_full(fd, *buf + 4, (size_t)len);
    if (r != 1) {
        if (r == 0 || r == -2)
            errno = EPROTO;
        return -1;
    }
    *n = total;
    return 1;
}

int ipmi_write_all(int fd, const void *p, size_t n)
{
    const unsigned char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}
