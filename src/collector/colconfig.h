/* The collector's keys of the configuration file (colconfig.c). */
#ifndef WSMD_COLCONFIG_H
#define WSMD_COLCONFIG_H

#include "wsm/wsm.h"

struct wsmd_config;

/* WSM_ERR_NOT_FOUND: not a key of the collector's. */
enum wsm_err wsmd__colconfig_set(struct wsmd_config *cfg, const char *key, const char *value);
/* After the file: the defaults of the folders when the collector is on. */
enum wsm_err wsmd__colconfig_finish(struct wsmd_config *cfg);
void wsmd__colconfig_clear(struct wsmd_config *cfg);
/* StateDir, when the file sets none: /var/lib/wsmd for root, else
 * ~/.local/state/wsmd. One for the collector and the event source's
 * subscriptions (evstoredb.c). */
enum wsm_err wsmd__colconfig_default_state_dir(struct wsmd_config *cfg);

#endif
