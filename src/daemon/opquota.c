/* MaxConcurrentOperationsPerUser (winrm/config/service): the requests one
 * user has under way at once, a Receive's long poll included (it is an
 * operation until it is answered). Past the quota a request gets Windows'
 * fault (ERROR_WSMAN_QUOTA_MAX_OPERATIONS) at once instead of running.
 * One table for the process: users are few, a list under a mutex will do. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "opquota.h"

/* Windows' default. */
#define DEFAULT_MAX 1500

struct op_user {
    struct op_user *next;
    unsigned n;
    char name[];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct op_user *users;

unsigned wsmd__max_operations_per_user(const struct wsmd_config *cfg)
{
    unsigned v = __atomic_load_n(&cfg->max_operations_per_user, __ATOMIC_RELAXED);
    return v ? v : DEFAULT_MAX;
}

enum wsm_err wsmd__ops_enter(const struct wsmd_config *cfg, const char *user)
{
    unsigned max = wsmd__max_operations_per_user(cfg);
    enum wsm_err e = WSM_OK;
    pthread_mutex_lock(&lock);
    struct op_user *u = users;
    while (u && strcmp(u->name, user) != 0)
        u = u->next;
    if (!u) {
        size_t l = strlen(user) + 1;
        u = malloc(sizeof(*u) + l);
        if (u) {
            u->n = 0;
            memcpy(u->name, user, l);
            u->next = users;
            users = u;
        }
    }
    if (!u)
        e = WSM_ERR_NOMEM;
    else if (u->n >= max)
        e = WSM_ERR_QUOTA_OPERATIONS;
    else
        u->n++;
    pthread_mutex_unlock(&lock);
    return e;
}

void wsmd__ops_leave(const char *user)
{
    pthread_mutex_lock(&lock);
    struct op_user **p = &users;
    while (*p && strcmp((*p)->name, user) != 0)
        p = &(*p)->next;
    struct op_user *u = *p;
    if (u && u->n > 0 && --u->n == 0) {
        /* Nothing under way: the record goes, so the list holds only
         * users with requests in progress. */
        *p = u->next;
        free(u);
    }
    pthread_mutex_unlock(&lock);
}
