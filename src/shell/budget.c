/* Memory budget of buffered shell output (see budget.h). */
#include "budget.h"

#include <stdlib.h>
#include <string.h>

struct budget_user *shell__budget_user(struct shell_budget *b, const char *name)
{
    struct budget_user *u;
    for (u = b->users; u; u = u->next)
        if (strcmp(u->name, name) == 0) {
            u->refs++;
            return u;
        }
    u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    u->name = strdup(name);
    if (!u->name) {
        free(u);
        return NULL;
    }
    u->refs = 1;
    u->next = b->users;
    b->users = u;
    return u;
}

void shell__budget_put(struct shell_budget *b, struct budget_user *u)
{
    if (!u || --u->refs)
        return;
    /* The last shell or command of the account is gone: so is its record,
     * so that the list stays as long as the accounts with shells. */
    for (struct budget_user **p = &b->users; *p; p = &(*p)->next)
        if (*p == u) {
            *p = u->next;
            break;
        }
    free(u->name);
    free(u);
}

int shell__budget_room(const struct shell_budget *b, const struct budget_user *u, size_t n)
{
    if (b->max_total && (b->used > b->max_total || n > b->max_total - b->used))
        return 0;
    if (u && b->max_user && (u->used > b->max_user || n > b->max_user - u->used))
        return 0;
    return 1;
}

int shell__budget_take(struct shell_budget *b, struct budget_user *u, size_t n)
{
    if (!shell__budget_room(b, u, n))
        return -1;
    b->used += n;
    if (u)
        u->used += n;
    return 0;
}

void shell__budget_give(struct shell_budget *b, struct budget_user *u, size_t n)
{
    b->used -= n < b->used ? n : b->used;
    if (u)
        u->used -= n < u->used ? n : u->used;
}
