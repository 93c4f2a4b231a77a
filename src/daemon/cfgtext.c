/* The configuration file's text, read and walked line by line (cfgtext.h):
 * the one reader behind wsmd__config_load and the reloads. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfgtext.h"
#include "config.h"

char *wsmd__cfgtext_read(const char *path, const char **why, int *errnum)
{
    *errnum = 0;
    *why = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        *errnum = errno;
        *why = "cannot open";
        return NULL;
    }
    /* One byte more than allowed: a file that fills it is too large. */
    char *buf = malloc(CONFIG_TEXT_MAX + 1);
    size_t got = 0;
    while (buf && got <= CONFIG_TEXT_MAX) {
        ssize_t n = read(fd, buf + got, CONFIG_TEXT_MAX + 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
        if (got == CONFIG_TEXT_MAX + 1)
            break;
    }
    close(fd);
    if (!buf)
        return NULL;
    if (got > CONFIG_TEXT_MAX || memchr(buf, '\0', got)) {
        *why = got > CONFIG_TEXT_MAX ? "larger than 64 KB" : "a NUL byte: not a text file";
        free(buf);
        return NULL;
    }
    buf[got] = '\0';
    return buf;
}

void wsmd__cfgline_init(struct wsmd_cfgline *r, const char *text)
{
    memset(r, 0, sizeof(*r));
    r->rest = text;
}

int wsmd__cfgline_next(struct wsmd_cfgline *r)
{
    while (*r->rest) {
        r->line++;
        r->key = r->value = NULL;
        const char *eol = strchr(r->rest, '\n');
        size_t len = eol ? (size_t)(eol - r->rest) : strlen(r->rest);
        if (len > CONFIG_LINE_MAX) {
            r->fail = CFGT_LONG_LINE;
            return -1;
        }
        memcpy(r->buf, r->rest, len);
        r->buf[len] = '\0';
        r->rest += len + (eol ? 1 : 0);
        char *hash = strchr(r->buf, '#');
        if (hash)
            *hash = '\0';
        char *k = r->buf;
        while (isspace((unsigned char)*k))
            k++;
        if (!*k)
            continue;
        r->key = k;
        char *eq = strchr(k, '=');
        if (!eq) {
            r->fail = CFGT_NOT_KV;
            return -1;
        }
        char *v = eq + 1, *ke = eq;
        while (ke > k && isspace((unsigned char)ke[-1]))
            ke--;
        *ke = '\0';
        while (isspace((unsigned char)*v))
            v++;
        size_t vl = strlen(v);
        while (vl && isspace((unsigned char)v[vl - 1]))
            v[--vl] = '\0';
        r->value = v;
        return 1;
    }
    return 0;
}

enum wsm_err wsmd__cfgtext_apply(struct wsmd_config *cfg, const char *text, struct wsmd_cfgline *r)
{
    wsmd__cfgline_init(r, text);
    int got;
    while ((got = wsmd__cfgline_next(r)) > 0) {
        enum wsm_err e = wsmd__config_set(cfg, r->key, r->value);
        if (e) {
            r->fail = e == WSM_ERR_NOT_FOUND ? CFGT_UNKNOWN : CFGT_BAD_VALUE;
            return e;
        }
    }
    return got < 0 ? WSM_ERR_INVALID_ARG : WSM_OK;
}
