/* The store of WS-Enumeration contexts (enum.c's Enumerate, Pull,
 * Release, GetStatus): their list, expiry and quotas.
 *
 * Contexts have random ids, belong to the user that made them, and expire
 * after EnumerationTimeoutms without use. Apart from enum.c's replies so
 * that all locking over the list is in one place: a context is taken for
 * exclusive use (busy) and given back, and it is charged memory against a
 * per-user and a total budget while stored. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cimops.h"
#include "enumopts.h"
#include "wql.h"

#define ENUM_TIMEOUT_MS 240000 /* Windows' EnumerationTimeoutms */
#define MAX_CONTEXTS 2000
#define MAX_CONTEXTS_PER_USER 200
/* Memory a context is charged: a fixed estimate of what it holds (the
 * struct, its filter, the provider's iterator: Win32_Process keeps ~37 KB
 * of read buffers) plus the item it keeps for the next Pull. The budgets
 * bound what one user, and all users, can pin with contexts they never
 * pull: the count quota alone lets an item of MaxEnvelopeSize sit in each. */
#define CTX_BASE_BYTES (48u * 1024)
#define CTX_BUDGET_PER_USER_KB 16384UL /* MaxEnumerationMemoryPerUserKB */
#define CTX_BUDGET_TOTAL_KB 131072UL   /* MaxEnumerationMemoryKB */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long enum_timeout_ms = ENUM_TIMEOUT_MS;

void wsmd__enum_set_timeout(long ms)
{
    enum_timeout_ms = ms > 0 ? ms : ENUM_TIMEOUT_MS;
}

long wsmd__enum_timeout(void)
{
    return enum_timeout_ms;
}

static size_t budget_user = CTX_BUDGET_PER_USER_KB * 1024;
static size_t budget_total = CTX_BUDGET_TOTAL_KB * 1024;

void wsmd__enum_set_budgets(unsigned long user_kb, unsigned long total_kb)
{
    budget_user = (size_t)(user_kb ? user_kb : CTX_BUDGET_PER_USER_KB) * 1024;
    budget_total = (size_t)(total_kb ? total_kb : CTX_BUDGET_TOTAL_KB) * 1024;
}

static struct ectx *contexts;
static size_t ncontexts;
static size_t total_charge; /* sum of the stored contexts' charges */

long long wsmd__enum_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void wsmd__ectx_free(struct ectx *c)
{
    if (!c)
        return;
    if (c->it && c->cls->close)
        c->cls->close(c->it);
    wql_free(c->wql);
    wsm__arena_free(&c->sel_arena);
    free(c->pending);
    free(c->resource);
    free(c->assoc_src);
    free(c);
}

static size_t charge_of(const struct ectx *c)
{
    return CTX_BASE_BYTES + (c->pending ? c->pending_len : 0);
}

/* Called with lock held: c leaves the list. */
static void unlinked(struct ectx *c)
{
    ncontexts--;
    total_charge -= c->charge;
    c->charge = 0;
}

/* Called with lock held: unlinks expired contexts into *dead. */
static void expire(long long now, struct ectx **dead)
{
    for (struct ectx **p = &contexts; *p;) {
        struct ectx *c = *p;
        if (!c->busy && c->expires_ms <= now) {
            *p = c->next;
            unlinked(c);
            c->next = *dead;
            *dead = c;
        } else {
            p = &c->next;
        }
    }
}

static void free_list(struct ectx *c)
{
    while (c) {
        struct ectx *n = c->next;
        wsmd__ectx_free(c);
        c = n;
    }
}

void wsmd__enum_shutdown(void)
{
    pthread_mutex_lock(&lock);
    struct ectx *all = contexts;
    contexts = NULL;
    ncontexts = 0;
    total_charge = 0;
    pthread_mutex_unlock(&lock);
    free_list(all);
}

/* Takes the caller's context for exclusive use (busy), or NULL. Another
 * user's context, or one asked for under another ResourceURI than its
 * Enumerate's, is treated exactly as an unknown one: a context only
 * answers for the resource (and so the right) it was made for. */
struct ectx *wsmd__ectx_take(const char *id, const char *user, const char *resource)
{
    struct ectx *dead = NULL, *found = NULL;
    long long now = wsmd__enum_now_ms();
    pthread_mutex_lock(&lock);
    expire(now, &dead);
    for (struct ectx *c = contexts; c; c = c->next) {
        if (!strcmp(c->id, id) && !strcmp(c->owner, user) && !c->busy &&
            !strcasecmp(c->resource, resource ? resource : "")) {
            c->busy = 1;
            found = c;
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    free_list(dead);
    return found;
}

void wsmd__ectx_give_back(struct ectx *c)
{
    pthread_mutex_lock(&lock);
    /* The kept item may have changed: the charge follows it. */
    total_charge -= c->charge;
    c->charge = charge_of(c);
    total_charge += c->charge;
    c->busy = 0;
    c->expires_ms = wsmd__enum_now_ms() + enum_timeout_ms;
    pthread_mutex_unlock(&lock);
}

void wsmd__ectx_drop(struct ectx *c)
{
    pthread_mutex_lock(&lock);
    for (struct ectx **p = &contexts; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            unlinked(c);
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    wsmd__ectx_free(c);
}

/* Called with lock held: WSM_ERR_QUOTA if one more context of owner,
 * charged bytes, is past the count quotas or the memory budgets. */
static enum wsm_err over_quota(const char *owner, size_t bytes)
{
    size_t mine = 0, mine_bytes = 0;
    for (struct ectx *x = contexts; x; x = x->next)
        if (!strcmp(x->owner, owner)) {
            mine++;
            mine_bytes += x->charge;
        }
    if (ncontexts >= MAX_CONTEXTS || mine >= MAX_CONTEXTS_PER_USER ||
        mine_bytes + bytes > budget_user || total_charge + bytes > budget_total)
        return WSM_ERR_QUOTA;
    return WSM_OK;
}

/* Before any work (an iterator opened, a filter compiled): a user at
 * the quota is refused for the price of a list walk. */
enum wsm_err wsmd__ectx_quota_precheck(const char *owner)
{
    struct ectx *dead = NULL;
    pthread_mutex_lock(&lock);
    expire(wsmd__enum_now_ms(), &dead);
    enum wsm_err e = over_quota(owner, CTX_BASE_BYTES);
    pthread_mutex_unlock(&lock);
    free_list(dead);
    return e;
}

/* Keeps c, or frees it (quota): either way the caller no longer owns it. */
enum wsm_err wsmd__ectx_store(struct ectx *c)
{
    struct ectx *dead = NULL;
    size_t bytes = charge_of(c);
    pthread_mutex_lock(&lock);
    expire(wsmd__enum_now_ms(), &dead);
    enum wsm_err e = over_quota(c->owner, bytes);
    if (!e) {
        c->charge = bytes;
        total_charge += bytes;
        c->next = contexts;
        contexts = c;
        ncontexts++;
    }
    pthread_mutex_unlock(&lock);
    free_list(dead);
    if (e)
        wsmd__ectx_free(c);
    return e;
}
