/* wsmd's one configuration-file editor (the file of wsmd -c FILE): used by
 * winrm/config writes (cfgset.c: one key changed in place, appended or
 * removed), by listener and certificate-mapping changes (cfglines.c:
 * Listen and CertMapping lines appended or removed) and by `winrm
 * quickconfig` (src/cli/quickconfig.c). Comments, blank lines and every
 * other line are kept byte for byte; the new file is put in place
 * atomically (docs/internals/winrm-config.md "Writes").
 *
 * Self-contained (buf.h only): the winrm tool links it too. */
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
/* Files larger than this are not the configuration file. */
#define WSMD_CFGFILE_MAX_SIZE (1024 * 1024)

/* ---- the line scanner: a line as config.c's loader reads it ---- */

/* Where the parts of one line (n bytes, without its newline) are: the key
 * [ks, ke) and the value [vs, ve), both trimmed of blanks (isspace), and
 * the comment's '#' at cmt (n without one). 0 if the line sets no key
 * (blank, comment only, no '=', or an empty key). */
struct wsmd_cfgline {
    size_t ks, ke, vs, ve, cmt;
};
int wsmd__cfgfile_scan(const char *line, size_t n, struct wsmd_cfgline *out);

/* ---- pure edits of the text ---- */

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
 * line setting an edit's key (without case) gets the new value, keeping
 * its indentation, its spelling of the key and its trailing comment;
 * later lines setting the same key are dropped (the loader would let
 * them win); a key not present is appended at the end. Every other line
 * is copied as it is. WSM_ERR_INVALID_ARG for a bad value, more than
 * WSMD_CFGFILE_MAX_EDITS edits or an empty key. Any key may be set. */
enum wsm_err wsmd__cfgfile_set_text(const char *text, size_t len, const struct wsmd_cfgedit *ed,
                                    size_t n, struct wsm_buf *out);
/* The same for the service's writes: only the managed keys. */
enum wsm_err wsmd__cfgfile_rewrite(const char *text, size_t len, const struct wsmd_cfgedit *ed,
                                   size_t n, struct wsm_buf *out);

/* Pure, for keys that may repeat (Listen, CertMapping): text with the
 * lines setting key whose value same(value, remove) says is remove taken
 * out (remove NULL: none; *removed counts them), then "key = add"
 * appended (add NULL: none). Every other line is kept as it is. */
enum wsm_err wsmd__cfgfile_lines_text(const char *text, size_t len, const char *key,
                                      const char *add, const char *remove,
                                      int (*same)(const char *, const char *), struct wsm_buf *out,
                                      unsigned *removed);

/* ---- the writer ---- */

/* Rewrites the file at path through fn (the old text, len bytes, into
 * out): read, fn, write a temporary file beside it (same owner and mode),
 * fsync, rename over it, fsync the directory. A symbolic link is followed
 * (the target is replaced). When fn's text is the old one, nothing is
 * written. The file is unchanged on any error; fn's error is returned.
 * WSM_ERR_NOT_FOUND: no such file. */
typedef enum wsm_err (*wsmd_cfgfile_fn)(const char *text, size_t len, void *arg,
                                        struct wsm_buf *out);
enum wsm_err wsmd__cfgfile_write(const char *path, wsmd_cfgfile_fn fn, void *arg);

/* The writer with wsmd__cfgfile_rewrite (winrm set) and with
 * wsmd__cfgfile_lines_text (winrm create/delete). */
enum wsm_err wsmd__cfgfile_edit(const char *path, const struct wsmd_cfgedit *ed, size_t n);
enum wsm_err wsmd__cfgfile_edit_lines(const char *path, const char *key, const char *add,
                                      const char *remove, int (*same)(const char *, const char *),
                                      unsigned *removed);

#endif
