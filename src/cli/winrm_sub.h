/* winrm subscribe (a Linux addition: winrm.cmd has no subscriber). */
#ifndef WINRM_SUB_H
#define WINRM_SUB_H

#include <wsm/wsm.h>

#include "format.h"

struct winrm_sub_args {
    const char *uri;            /* full resource URI */
    const char *filter;         /* -filter: a QueryList, or a channel name */
    const char *bookmark_file;  /* -bookmark:FILE (may be NULL) */
    const char *content_format; /* -contentformat: (may be NULL) */
    unsigned long count;        /* -count:N; 0: no limit */
    unsigned max_elements;      /* -maxelements: per Pull; 0: the default */
    long wait_ms;               /* how long a Pull waits for the first event */
    int read_existing, follow;
    enum cli_format fmt;
    /* winrm_ops.c's error printer (a fault's code and text, as winrm does). */
    int (*report)(wsm_session *s, enum wsm_err e, enum cli_format fmt);
};

/* Subscribes, prints the events as they come, unsubscribes. Returns the
 * exit status. */
int winrm_subscribe(wsm_session *s, const struct winrm_sub_args *a);

#endif
