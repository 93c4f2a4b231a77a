/* MaxConcurrentOperationsPerUser: requests under way per user (opquota.c). */
#ifndef WSMD_OPQUOTA_H
#define WSMD_OPQUOTA_H

#include "server.h"

/* The quota in force (the configured one, else Windows' 1500). */
unsigned wsmd__max_operations_per_user(const struct wsmd_config *cfg);
/* One more operation of user: WSM_ERR_QUOTA_OPERATIONS (nothing counted)
 * when user has the quota's worth under way. */
enum wsm_err wsmd__ops_enter(const struct wsmd_config *cfg, const char *user);
/* That operation is over (answered, or its connection gone). */
void wsmd__ops_leave(const char *user);

#endif
