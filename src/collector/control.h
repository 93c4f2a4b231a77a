/* wecutil's door into the running collector (control.c). */
#ifndef WSMD_CONTROL_H
#define WSMD_CONTROL_H

#include "state.h"
#include "wsm/wsm.h"

struct wsmd_collector;
struct wsmd_control;

/* Listens on dir/control.sock (a thread). */
enum wsm_err wsmd__control_start(struct wsmd_collector *col, const char *dir,
                                 struct wsmd_control **out);
void wsmd__control_stop(struct wsmd_control *ctl);

/* A source's state as wecutil gr and /metrics name it: "Active" (events
 * within the heartbeat interval), "Alive" (heard from within two), "Dead",
 * or "Ended" (it sent SubscriptionEnd). */
const char *wsmd__col_source_status(const struct wsmd_source_row *r, long heartbeat_ms,
                                    long long now_ms);

#endif
