/* Memory budget of buffered shell output and input (src/shell/budget.c).
 * Private to the shell engine; every function runs under the engine lock.
 *
 * A stream's ring takes its whole capacity when its first byte arrives, so
 * the budget counts ring storage, not bytes: without it, one user's 30
 * shells x 25 commands x 2 streams of unread output hold 1.5 GB. */
#ifndef WSMD_SHELL_BUDGET_H
#define WSMD_SHELL_BUDGET_H

#include <stddef.h>

/* One account's share; shared by its shells and their commands. */
struct budget_user {
    struct budget_user *next;
    char *name;
    size_t used;
    unsigned refs;
    /* Stream buffers allowed past max_user (at most one): a Receive that
     * waits on a command whose pipe gets no buffer because the account's
     * other commands hold them all would otherwise wait forever. */
    unsigned over;
};

struct shell_budget {
    size_t max_total; /* 0: no cap */
    size_t max_user;  /* 0: no cap */
    size_t used;
    struct budget_user *users;
};

/* The record of name (made on first use), with one more reference; NULL
 * when out of memory. */
struct budget_user *shell__budget_user(struct shell_budget *b, const char *name);
void shell__budget_put(struct shell_budget *b, struct budget_user *u);
/* 0 and n bytes charged to u and the total, or -1 (nothing charged) when
 * that would pass either cap. */
int shell__budget_take(struct shell_budget *b, struct budget_user *u, size_t n);
void shell__budget_give(struct shell_budget *b, struct budget_user *u, size_t n);
/* Could u be charged n more bytes now? */
int shell__budget_room(const struct shell_budget *b, const struct budget_user *u, size_t n);

#endif
