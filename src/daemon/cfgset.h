/* winrm/config writes: Put of config, config/service, config/service/auth
 * and config/winrs, and Restore (docs/internals/winrm-config.md
 * "Writes"). */
#ifndef WSMD_CFGSET_H
#define WSMD_CFGSET_H

#include "cfgfile.h"
#include "server.h"

/* A change of a winrm/config section (dispatch.c asked for config-write
 * already): a Put is checked whole, written to the config file (through
 * the monitor when separated), then applied to the running service; the
 * reply shows the section as it now is. Restore (on winrm/config) removes
 * the keys below from the file and applies the defaults. Create, Delete
 * and other methods are wsa:ActionNotSupported. */
enum wsm_err wsmd__cfgset_change(struct wsmd_call *call);

/* Checks each edit as wsmd's own loader would (the key in the fixed list,
 * a value wsmd__config_set accepts, on one line), then rewrites the file
 * at path (one writer at a time). WSM_ERR_NOT_FOUND: no file (wsmd was
 * started without -c). The monitor's PS_CONFIG_SET and the single process
 * both end here. */
enum wsm_err wsmd__cfgset_write(const char *path, const struct wsmd_cfgedit *ed, size_t n);

#endif
