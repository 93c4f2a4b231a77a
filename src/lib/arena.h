/* A bump allocator for one request: everything is freed at once. */
#ifndef WSM_ARENA_H
#define WSM_ARENA_H

#include <stddef.h>

struct wsm_arena_chunk;

struct wsm_arena {
    struct wsm_arena_chunk *head;
};

void wsm__arena_init(struct wsm_arena *a);
void wsm__arena_free(struct wsm_arena *a);
void *wsm__arena_alloc(struct wsm_arena *a, size_t n);
char *wsm__arena_strndup(struct wsm_arena *a, const char *s, size_t n);
char *wsm__arena_strdup(struct wsm_arena *a, const char *s);

#endif
