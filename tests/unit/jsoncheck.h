/* A strict RFC 8259 validator for tests and fuzz targets: written apart
 * from the JSON writer it checks, so that the two do not share a mistake.
 * json_valid(s, n) is 1 when s[0..n) is exactly one JSON value (with
 * optional surrounding whitespace) whose strings are UTF-8 with no raw
 * control characters. */
#ifndef WSMD_TEST_JSONCHECK_H
#define WSMD_TEST_JSONCHECK_H

#include <stddef.h>
#include <string.h>

struct jc {
    const unsigned char *p, *end;
    int depth;
};

static void jc_ws(struct jc *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int jc_hex(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int jc_string(struct jc *j)
{
    if (j->p >= j->end || *j->p != '"')
        return 0;
    j->p++;
    while (j->p < j->end) {
        unsigned c = *j->p;
        if (c == '"') {
            j->p++;
            return 1;
        }
        if (c < 0x20)
            return 0;
        if (c == '\\') {
            if (j->end - j->p < 2)
                return 0;
            c = j->p[1];
            if (c == 'u') {
                if (j->end - j->p < 6)
                    return 0;
                for (int i = 2; i < 6; i++)
                    if (!jc_hex(j->p[i]))
                        return 0;
                j->p += 6;
            } else if (strchr("\"\\/bfnrt", (int)c) && c) {
                j->p += 2;
            } else {
                return 0;
            }
            continue;
        }
        if (c < 0x80) {
            j->p++;
            continue;
        }
        /* UTF-8, RFC 3629 */
        size_t n = c >= 0xC2 && c < 0xE0   ? 2
                   : c >= 0xE0 && c < 0xF0 ? 3
                   : c >= 0xF0 && c < 0xF5 ? 4
                                           : 0;
        if (!n || (size_t)(j->end - j->p) < n)
            return 0;
        for (size_t i = 1; i < n; i++)
            if ((j->p[i] & 0xC0) != 0x80)
                return 0;
        if ((c == 0xE0 && j->p[1] < 0xA0) || (c == 0xED && j->p[1] >= 0xA0) ||
            (c == 0xF0 && j->p[1] < 0x90) || (c == 0xF4 && j->p[1] >= 0x90))
            return 0;
        j->p += n;
    }
    return 0;
}

static int jc_digits(struct jc *j)
{
    const unsigned char *s = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    return j->p > s;
}

static int jc_number(struct jc *j)
{
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p < j->end && *j->p == '0')
        j->p++;
    else if (!jc_digits(j))
        return 0;
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (!jc_digits(j))
            return 0;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (!jc_digits(j))
            return 0;
    }
    return 1;
}

static int jc_lit(struct jc *j, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
        return 0;
    j->p += n;
    return 1;
}

static int jc_value(struct jc *j)
{
    jc_ws(j);
    if (j->p >= j->end || ++j->depth > 64)
        return 0;
    int ok;
    switch (*j->p) {
    case '{':
        j->p++;
        jc_ws(j);
        if (j->p < j->end && *j->p == '}') {
            j->p++;
            ok = 1;
            break;
        }
        for (;;) {
            jc_ws(j);
            if (!jc_string(j))
                return 0;
            jc_ws(j);
            if (j->p >= j->end || *j->p++ != ':')
                return 0;
            if (!jc_value(j))
                return 0;
            jc_ws(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == '}') {
                j->p++;
                break;
            }
            return 0;
        }
        ok = 1;
        break;
    case '[':
        j->p++;
        jc_ws(j);
        if (j->p < j->end && *j->p == ']') {
            j->p++;
            ok = 1;
            break;
        }
        for (;;) {
            if (!jc_value(j))
                return 0;
            jc_ws(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == ']') {
                j->p++;
                break;
            }
            return 0;
        }
        ok = 1;
        break;
    case '"':
        ok = jc_string(j);
        break;
    case 't':
        ok = jc_lit(j, "true");
        break;
    case 'f':
        ok = jc_lit(j, "false");
        break;
    case 'n':
        ok = jc_lit(j, "null");
        break;
    default:
        ok = jc_number(j);
    }
    j->depth--;
    return ok;
}

static inline int json_valid(const char *s, size_t n)
{
    struct jc j = {(const unsigned char *)s, (const unsigned char *)s + n, 0};
    if (!jc_value(&j))
        return 0;
    jc_ws(&j);
    return j.p == j.end;
}

#endif
