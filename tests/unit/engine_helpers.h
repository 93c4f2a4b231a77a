/* Helpers of the shell engine's unit tests (test_engine*.c): owners,
 * managers and shells, a waiter to count wake-ups, receiving until a
 * command is done, and /proc probes (fds, zombies, process states). */
#ifndef WSM_TESTS_ENGINE_HELPERS_H
#define WSM_TESTS_ENGINE_HELPERS_H

#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>

#include "engine.h"

#define ALICE "alice"
#define BOB "bob"

struct waitctx {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int count;
    pthread_t who;
    long long at;
};

struct shell_owner owner_named(const char *name);
void sleep_ms(long ms);
struct shell_mgr *mgr_with(void (*tweak)(struct shell_limits *));
void new_shell(struct shell_mgr *m, const char *who, const struct shell_opts *opts, char id[37]);
void wc_init(struct waitctx *w);
void wc_destroy(struct waitctx *w);
void on_wake(void *arg);
int wc_count(struct waitctx *w);
int wc_wait(struct waitctx *w, int n, long timeout_ms);
enum wsm_err drain(struct shell_mgr *m, const char *who, const char *sid, const char *cid,
                   size_t max, struct wsm_buf *out, struct wsm_buf *err, int *code,
                   long timeout_ms);
int run(struct shell_mgr *m, const char *who, const char *sid, const char *cmdline, char **out,
        char **err);
int count_fds(void);
char proc_state(pid_t pid, pid_t *ppid);
int zombie_children(void);
int dead(pid_t pid);
int wait_dead(pid_t pid, long timeout_ms);
void first_line(struct shell_mgr *m, const char *sid, const char *cid, char *line, size_t sz);

#endif
