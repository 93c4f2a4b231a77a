/* Pulls every instance of a class through libwsm and reports the rate.
 *
 *   enum_bench URL USER RESOURCE_URI [MAX_ELEMENTS]
 *
 * The password comes from WSM_PASSWORD. Prints "items=N seconds=S rate=R". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wsm/wsm.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: enum_bench URL USER RESOURCE_URI [MAX_ELEMENTS]\n");
        return 2;
    }
    struct wsm_session_opts so = {.url = argv[1],
                                  .user = argv[2],
                                  .password = getenv("WSM_PASSWORD"),
                                  .auth = WSM_AUTH_BASIC};
    wsm_session *s;
    if (wsm_session_new(&so, &s) != WSM_OK) {
        fprintf(stderr, "enum_bench: cannot make a session\n");
        return 1;
    }
    struct wsm_enum_opts eo = {.max_elements = argc > 4 ? (unsigned)atoi(argv[4]) : 100,
                               .optimize = -1};
    double t0 = now();
    wsm_enum *e;
    enum wsm_err err = wsm_enumerate(s, argv[3], &eo, &e);
    unsigned long n = 0;
    size_t bytes = 0;
    while (!err) {
        char *item = NULL;
        err = wsm_enum_next(e, &item);
        if (err)
            break;
        bytes += strlen(item);
        free(item);
        n++;
    }
    double dt = now() - t0;
    int rc = 0;
    if (err != WSM_ERR_NOT_FOUND) {
        fprintf(stderr, "enum_bench: %s: %s\n", wsm_strerror(err), wsm_session_error(s));
        rc = 1;
    }
    if (!err || err == WSM_ERR_NOT_FOUND)
        wsm_enum_free(e);
    wsm_session_free(s);
    printf("items=%lu bytes=%zu seconds=%.3f rate=%.0f\n", n, bytes, dt, (double)n / dt);
    return rc;
}
