/* The process and service providers' unit tests (test_providers_process.c,
 * test_providers_procmethods.c, test_providers_service.c) and the helpers
 * they share (providers_process_helpers.c): classes and methods by name,
 * instances, calls, contexts, and children watched through /proc. */
#ifndef WSMD_TEST_PROVIDERS_PROCESS_H
#define WSMD_TEST_PROVIDERS_PROCESS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cim.h"

extern const struct cim_class *const cim_family_process[];
extern const struct cim_class *const cim_family_service[];

#define NOBODY 65534

/* An instance with its own arena. */
struct inst {
    struct wsm_arena a;
    struct cim_instance i;
};

/* Output parameters of one invoke. */
struct call {
    struct wsm_arena a;
    struct cim_val out[8];
    const struct cim_method *m;
};

const struct cim_class *cls(const char *name);
const struct cim_method *method(const struct cim_class *c, const char *name);
void inst_init(struct inst *x, const struct cim_class *c);
void inst_free(struct inst *x);
struct cim_ctx plain_ctx(void);
struct cim_ctx user_ctx(uid_t uid);
enum wsm_err get_pid(const char *class_name, const char *handle, struct inst *x);
unsigned long long num(const struct cim_instance *i, const char *prop);
enum wsm_err invoke(struct call *c, const struct cim_ctx *ctx, const struct cim_class *k,
                    const char *m, const struct cim_instance *target, const struct wsm_pair *in,
                    size_t nin);
const char *out_val(const struct call *c, const char *name);
unsigned rv_of(const struct call *c);
void call_free(struct call *c);
void sleep_ms(long ms);
void read_cmdline(pid_t pid, char *buf, size_t cap);
char proc_state(pid_t pid);
int wait_gone(pid_t pid, long ms);
unsigned status_uid(pid_t pid);
int count_open_fds(void);
void assert_no_children(pid_t created);
unsigned create(const struct cim_ctx *ctx, const char *cmd, const char *dir, pid_t *pid);
unsigned terminate(const struct cim_ctx *ctx, pid_t pid);
void kill_quietly(pid_t pid);

#endif
