/* A closed-loop Identify load through libwsm: THREADS threads, each with
 * its own session (one keep-alive connection), send authenticated
 * Identify requests back to back for SECONDS seconds.
 *
 *   identify_load URL USER AUTH THREADS SECONDS [CAFILE]
 *
 * AUTH is basic, negotiate, ntlm or kerberos; the password comes from
 * WSM_PASSWORD. With ntlm/negotiate/kerberos over http:// every body is
 * sealed (WinRM message encryption). CAFILE: trust it for https://.
 * WSM_SPN, if set, is the Negotiate target (default "HTTP@" the URL's host).
 * Prints "requests=N errors=E seconds=S rate=R". bench/secure runs it
 * for each transport against the same wsmd. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "wsm/wsm.h"

struct worker {
    pthread_t t;
    struct wsm_session_opts so;
    const char *cafile;
    double until;
    unsigned long done, errors;
    char first_error[256];
};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *run(void *arg)
{
    struct worker *w = arg;
    wsm_session *s;
    if (wsm_session_new(&w->so, &s) != WSM_OK) {
        snprintf(w->first_error, sizeof(w->first_error), "cannot make a session");
        w->errors++;
        return NULL;
    }
    if (w->cafile && wsm_session_set_string(s, "CAFile", w->cafile) != WSM_OK) {
        snprintf(w->first_error, sizeof(w->first_error), "CAFile refused");
        w->errors++;
        wsm_session_free(s);
        return NULL;
    }
    const char *spn = getenv("WSM_SPN");
    if (spn && *spn && w->so.auth != WSM_AUTH_BASIC &&
        wsm_session_set_string(s, "SPN", spn) != WSM_OK) {
        snprintf(w->first_error, sizeof(w->first_error), "SPN refused");
        w->errors++;
        wsm_session_free(s);
        return NULL;
    }
    while (now() < w->until) {
        struct wsm_identity id;
        enum wsm_err e = wsm_identify(s, &id, NULL);
        if (e) {
            if (!w->errors++)
                snprintf(w->first_error, sizeof(w->first_error), "%s: %s", wsm_strerror(e),
                         wsm_session_error(s));
            if (w->errors > 100)
                break;
            continue;
        }
        wsm_identity_clear(&id);
        w->done++;
    }
    wsm_session_free(s);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: identify_load URL USER AUTH THREADS SECONDS [CAFILE]\n");
        return 2;
    }
    enum wsm_auth auth;
    if (strcasecmp(argv[3], "basic") == 0)
        auth = WSM_AUTH_BASIC;
    else if (strcasecmp(argv[3], "negotiate") == 0)
        auth = WSM_AUTH_NEGOTIATE;
    else if (strcasecmp(argv[3], "ntlm") == 0)
        auth = WSM_AUTH_NTLM;
    else if (strcasecmp(argv[3], "kerberos") == 0)
        auth = WSM_AUTH_KERBEROS;
    else {
        fprintf(stderr, "identify_load: unknown AUTH %s\n", argv[3]);
        return 2;
    }
    int n = atoi(argv[4]);
    double secs = atof(argv[5]);
    if (n < 1 || n > 256 || secs <= 0) {
        fprintf(stderr, "identify_load: bad THREADS or SECONDS\n");
        return 2;
    }
    struct worker *w = calloc((size_t)n, sizeof(*w));
    if (!w)
        return 1;
    double t0 = now();
    for (int i = 0; i < n; i++) {
        w[i].so = (struct wsm_session_opts){
            .url = argv[1], .user = argv[2], .password = getenv("WSM_PASSWORD"), .auth = auth};
        w[i].cafile = argc > 6 ? argv[6] : NULL;
        w[i].until = t0 + secs;
        if (pthread_create(&w[i].t, NULL, run, &w[i]) != 0) {
            fprintf(stderr, "identify_load: cannot start a thread\n");
            return 1;
        }
    }
    unsigned long done = 0, errors = 0;
    const char *err = NULL;
    for (int i = 0; i < n; i++) {
        pthread_join(w[i].t, NULL);
        done += w[i].done;
        errors += w[i].errors;
        if (!err && w[i].errors)
            err = w[i].first_error;
    }
    double dt = now() - t0;
    printf("requests=%lu errors=%lu seconds=%.3f rate=%.0f\n", done, errors, dt, (double)done / dt);
    if (err)
        fprintf(stderr, "identify_load: first error: %s\n", err);
    free(w);
    return errors ? 1 : 0;
}
