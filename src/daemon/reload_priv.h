/* Between reload.c (applying a reload) and reloadtext.c (reading the
 * config text). */
#ifndef WSMD_RELOAD_PRIV_H
#define WSMD_RELOAD_PRIV_H

#include <stddef.h>

/* How a changed key takes effect. */
enum kclass {
    K_LIVE,    /* applied by the reload */
    K_RESTART, /* read at startup only */
    K_LISTEN,  /* listeners: opened and closed by the reload (reloadlisten.c) */
};

/* The key's class, or -1 for a key the table does not know. */
int wsmd__reload_key_class(const char *key);
/* The command line whose options wsmd__reload_parse applies around the
 * text, as main() does. */
void wsmd__reload_set_args(int argc, char **argv);
/* The whole file as text (wsmd__cfgtext_read), or NULL with
 * why[] set ("file=... reason=..."). */
char *wsmd__reload_read_text(const char *path, char *why, size_t whylen);
/* Copies s for a quoted log field: '"', '\\', '%' and control bytes as
 * %XX. */
void wsmd__reload_escape(char *dst, size_t n, const char *s);
/* Calls fn once for each key whose values (in order) differ between the
 * two texts; returns how many. */
int wsmd__reload_changed(const char *old_text, const char *new_text,
                         void (*fn)(void *arg, const char *key), void *arg);

#endif
