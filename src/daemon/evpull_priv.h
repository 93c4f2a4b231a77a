/* Between evpull.c (Pull and Release) and evpullwait.c (the waiter
 * thread parking a Pull without a thread); the rest of the daemon sees
 * evsub.h. */
#ifndef WSMD_EVPULL_PRIV_H
#define WSMD_EVPULL_PRIV_H

#include "server.h"

/* CLOCK_MONOTONIC ms: the waits' deadlines. */
long long wsmd__evpull_mono_ms(void);
/* Parks the request until fd is readable (fd >= 0, which it owns) or
 * until deadline (ms, wsmd__evpull_mono_ms). */
enum wsm_err wsmd__evpull_park_until(struct wsmd_call *call, const char *ctx, int fd,
                                     long long deadline);
/* The resumed run takes its wait back (freed). */
void wsmd__evpull_claim(unsigned long token);

#endif
