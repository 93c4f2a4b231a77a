/* What the process has learnt about the servers it talks to, by host and
 * port, for the sessions that come after (winrs opens three to one server;
 * receive-ahead fetchers have connections of their own). For now one
 * fact: OMI 1.9.1 closes the connection on a multipart/encrypted body
 * whose MIME part headers begin with a tab, and takes them without it
 * (wsm__conn_gss_post in client_gss.c finds out; client-transport.md). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "client_internal.h"

#define MAX_SERVERS 16

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char no_tab[MAX_SERVERS][300];
static unsigned next_slot;

static void key_of(const struct wsm_http_target *t, char *k, size_t n)
{
    snprintf(k, n, "%s:%s", t->host ? t->host : "", t->port ? t->port : "");
}

int wsm__quirk_no_tab(const struct wsm_http_target *t)
{
    char k[sizeof(no_tab[0])];
    int found = 0;
    key_of(t, k, sizeof(k));
    pthread_mutex_lock(&mu);
    for (unsigned i = 0; i < MAX_SERVERS && !found; i++)
        found = !strcmp(no_tab[i], k);
    pthread_mutex_unlock(&mu);
    return found;
}

void wsm__quirk_set_no_tab(const struct wsm_http_target *t)
{
    if (wsm__quirk_no_tab(t))
        return;
    pthread_mutex_lock(&mu);
    key_of(t, no_tab[next_slot % MAX_SERVERS], sizeof(no_tab[0]));
    next_slot++;
    pthread_mutex_unlock(&mu);
}
