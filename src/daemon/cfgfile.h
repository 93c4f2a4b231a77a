/* Rewriting wsmd's configuration file (wsmd -c FILE) for winrm/config
 * writes (docs/internals/winrm-config.md "Writes"): one key changed in
 * place, or appended, or removed; comments, blank lines and every other
 * line kept byte for byte; the new file put in place atomically. */
#ifndef WSMD_CFGFILE_H
#define WSMD_CFGFILE_H

#include <stddef.h>

#include "buf.h"
#include "wsm/wsm.h"

/* One change: key = value, or the key's lines removed (value NULL). */
struct wsmd_cfgedit {
    const char *key;
    const char *value;
};

/* The longest value written (a key is a name from the fixed list). */
#define WSMD_CFGFILE_MAX_VALUE 256
/* The most edits of one request. */
#define WSMD_CFGFILE_MAX_EDITS 16

/* 1 if key is one the service may write (the keys of winrm/config/service,
 * service/auth, winrs and config that wsmd implements): the fixed list the
 * privsep monitor checks too. Without case, as the file is read. */
int wsmd__cfgfile_key_managed(const char *key);
/* The list itself, NULL-terminated (Restore removes all of them). */
extern const char *const wsmd__cfgfile_managed[];

/* 1 if value can be written on a line: at most WSMD_CFGFILE_MAX_VALUE
 * bytes, no control character (a newline would start another setting),
 * no '#' (the loader would cut it as a comment), no leading or trailing
 * blank (the loader trims them: the value would read back different). */
int wsmd__cfgfile_value_ok(const char *value);

/* Pure: text (len bytes) with the edits applied, into out. The first
 * line setting an edit's key (without case; a "Key = value" line, after
 * blanks, before any '#') gets the new value, keeping its indentation,
 * its spelling of the key and its trailing comment; later lines setting
 * the same key are dropped (the loader would let them win); a key not
 * present is appended at the end. Every other line is copied as it is.
 * WSM_ERR_INVALID_ARG for a key not in the list or a bad value. */
enum wsm_err wsmd__cfgfile_rewrite(const char *text, size_t len, const struct wsmd_cfgedit *ed,
                                   size_t n, struct wsm_buf *out);

/* Applies the edits to the file at path: read, rewrite, write a temporary
 * file beside it (same owner and mode), fsync, rename over it, fsync the
 * directory. A symbolic link is followed (the target is replaced). The
 * file is unchanged on any error. */
enum wsm_err wsmd__cfgfile_edit(const char *path, const struct wsmd_cfgedit *ed, size_t n);

#endif
