/* The configuration file's text: read whole, walked line by line, and
 * applied key by key. One reader serves the start (wsmd__config_load) and
 * every reload (reloadtext.c), so both accept the same files and can name
 * the line and key they refuse, each in its own words (stderr at start, a
 * log line on reload). */
#ifndef WSMD_CFGTEXT_H
#define WSMD_CFGTEXT_H

#include <stddef.h>

#include "server.h"

/* What the file may hold; a line's longest. */
#define CONFIG_TEXT_MAX (64 * 1024)
#define CONFIG_LINE_MAX 1023

/* The whole file as text (at most CONFIG_TEXT_MAX bytes, no NUL byte), or
 * NULL with *why: "cannot open" (*errnum: errno), "larger than 64 KB", "a
 * NUL byte: not a text file", or NULL for out of memory. */
char *wsmd__cfgtext_read(const char *path, const char **why, int *errnum);

/* Why a line was refused (struct wsmd_cfgline.fail). */
enum wsmd_cfgfail {
    CFGT_OK,
    CFGT_NOT_KV,    /* not "Key = value" (key: the line, comment cut) */
    CFGT_LONG_LINE, /* longer than CONFIG_LINE_MAX */
    CFGT_UNKNOWN,   /* a key wsmd__config_set does not know */
    CFGT_BAD_VALUE, /* a known key with a value it refuses */
};

/* A walk over a text's lines: "Key = value", '#' to the end of the line a
 * comment, blank lines skipped, both sides trimmed. */
struct wsmd_cfgline {
    const char *rest;  /* the text not read yet */
    unsigned line;     /* the number of the line last read (from 1) */
    char *key, *value; /* that line's, in buf */
    enum wsmd_cfgfail fail;
    char buf[CONFIG_LINE_MAX + 1];
};

void wsmd__cfgline_init(struct wsmd_cfgline *r, const char *text);
/* 1: the next "Key = value" line is in r->key and r->value; 0: the end of
 * the text; -1: r->line is not one (r->fail says why). */
int wsmd__cfgline_next(struct wsmd_cfgline *r);

/* Each line of text through wsmd__config_set, in order, up to the first
 * that fails: then r->line, r->key, r->value and r->fail name it, and the
 * result is config_set's (WSM_ERR_NOT_FOUND: an unknown key) or
 * WSM_ERR_INVALID_ARG for a line that is not one. */
enum wsm_err wsmd__cfgtext_apply(struct wsmd_config *cfg, const char *text, struct wsmd_cfgline *r);

#endif
