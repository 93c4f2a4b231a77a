#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 4096

struct wsm_arena_chunk {
    struct wsm_arena_chunk *next;
    size_t used, size;
    max_align_t data[];
};

void wsm__arena_init(struct wsm_arena *a)
{
    a->head = NULL;
}

void wsm__arena_free(struct wsm_arena *a)
{
    struct wsm_arena_chunk *c = a->head;
    while (c) {
        struct wsm_arena_chunk *n = c->next;
        free(c);
        c = n;
    }
    a->head = NULL;
}

void *wsm__arena_alloc(struct wsm_arena *a, size_t n)
{
    const size_t al = sizeof(max_align_t);
    if (n > SIZE_MAX / 2)
        return NULL;
    n = (n + al - 1) / al * al;
    struct wsm_arena_chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t sz = n > CHUNK ? n : CHUNK;
        c = malloc(sizeof(*c) + sz);
        if (!c)
            return NULL;
        c->used = 0;
        c->size = sz;
        c->next = a->head;
        a->head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

char *wsm__arena_strndup(struct wsm_arena *a, const char *s, size_t n)
{
    char *p = wsm__arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *wsm__arena_strdup(struct wsm_arena *a, const char *s)
{
    return wsm__arena_strndup(a, s, strlen(s));
}
