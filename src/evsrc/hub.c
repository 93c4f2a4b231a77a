/* The journal's hubs (docs/internals/evsrc.md, "Reading"): the one
 * sd_journal that all readers of a journal (the system journal, or one
 * JournalDirectory) share, made on the first reader and closed with the
 * last, and its thread, which waits on sd-journal's inotify descriptor,
 * watches the journal's tail and wakes every reader through its eventfd.
 *
 * Apart from reader.c, which moves a reader's position over the shared
 * read pointer: this file opens, watches and closes journals and never
 * reads an entry. Why one journal is shared at all (inotify instances,
 * mapped memory) is reader.c's top comment. */
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "reader_priv.h"

#define DATA_THRESHOLD (64 * 1024) /* a field's bytes read (sd-journal's default) */

static pthread_mutex_t hubs_mu = PTHREAD_MUTEX_INITIALIZER;
static struct hub *hubs;

void wsmd__evr_wake(int fd)
{
    uint64_t one = 1;
    if (write(fd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is already far from 0, the reader is awake. */
    }
}

/* Whether the journal's last entry changed since *tail (hub locked; the
 * owner's position is saved first, the read pointer moves). */
static int tail_moved(struct hub *h, char **tail)
{
    char *cur = NULL;
    if (wsmd__evr_save_owner(h) != WSM_OK || h->sd->seek_tail(h->j) < 0 ||
        h->sd->previous(h->j) <= 0 || h->sd->get_cursor(h->j, &cur) < 0 || !cur)
        return 0;
    int moved = !*tail || strcmp(*tail, cur) != 0;
    free(*tail);
    *tail = cur;
    return moved;
}

/* journald signals appends through inotify only 250 ms after a change (it
 * coalesces its "post change" notifications), so the thread also looks at
 * the journal's tail every TAIL_MS (a seek to the tail: microseconds) and
 * wakes the readers when it moved. Readers are thus woken at most about
 * 1000 / TAIL_MS times a second: each wake-and-read costs a reader one seek
 * (about 10 us) when others moved the shared read pointer meanwhile, which
 * is what bounds the cost of 1,000 subscriptions on a busy journal. */
#define TAIL_MS 50

static void *hub_thread(void *arg)
{
    struct hub *h = arg;
    pthread_mutex_lock(&h->mu);
    int jfd = h->sd->get_fd(h->j);
    char *tail = NULL;
    tail_moved(h, &tail);
    pthread_mutex_unlock(&h->mu);
    for (;;) {
        struct pollfd p[2] = {{.fd = jfd, .events = POLLIN}, {.fd = h->stop_fd, .events = POLLIN}};
        if (poll(p, 2, TAIL_MS) < 0)
            continue;
        if (p[1].revents)
            break;
        pthread_mutex_lock(&h->mu);
        if (p[0].revents) {
            /* The owner's position first: after a rotation or a vacuum
             * sd_journal_process drops the current entry, and a position
             * read after it would be lost (the reader would read its last
             * entries again). */
            wsmd__evr_save_owner(h);
            h->sd->process(h->j); /* reads the inotify events: the fd is drained */
        }
        if (tail_moved(h, &tail) || p[0].revents)
            for (struct wsmd_evreader *r = h->readers; r; r = r->next)
                wsmd__evr_wake(r->efd);
        pthread_mutex_unlock(&h->mu);
    }
    free(tail);
    return NULL;
}

static void hub_free(struct hub *h)
{
    if (h->j)
        h->sd->close(h->j);
    if (h->stop_fd >= 0)
        close(h->stop_fd);
    wsm__buf_free(&h->data);
    free(h->offs);
    free(h->lens);
    free(h->f);
    free(h->dir);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* The hub of dir (NULL: the system journal), made on first use. */
enum wsm_err wsmd__evr_hub_get(const char *dir, struct hub **out)
{
    const struct wsmd_sdj *sd = wsmd__sdj();
    if (!sd)
        return WSM_ERR_IO;
    pthread_mutex_lock(&hubs_mu);
    for (struct hub *h = hubs; h; h = h->next) {
        if ((!dir && !h->dir) || (dir && h->dir && strcmp(dir, h->dir) == 0)) {
            h->refs++;
            pthread_mutex_unlock(&hubs_mu);
            *out = h;
            return WSM_OK;
        }
    }
    enum wsm_err err = WSM_ERR_NOMEM;
    struct hub *h = calloc(1, sizeof(*h));
    if (!h)
        goto fail;
    pthread_mutex_init(&h->mu, NULL);
    h->stop_fd = -1;
    h->sd = sd;
    wsm__buf_init(&h->data, 0);
    h->offs = calloc(MAX_FIELDS, sizeof(*h->offs));
    h->lens = calloc(MAX_FIELDS, sizeof(*h->lens));
    h->f = calloc(MAX_FIELDS, sizeof(*h->f));
    if ((dir && !(h->dir = strdup(dir))) || !h->offs || !h->lens || !h->f)
        goto fail;
    err = WSM_ERR_IO;
    int e = dir ? sd->open_directory(&h->j, dir, 0) : sd->open(&h->j, SD_JOURNAL_LOCAL_ONLY);
    if (e < 0) {
        h->j = NULL;
        goto fail;
    }
    /* sd-journal skips the files it may not read and opens nothing without
     * a word: a reader without the systemd-journal group would see an empty
     * journal forever. No file opened is "no journal". */
    uint64_t bytes = 0;
    if (sd->get_usage(h->j, &bytes) < 0 || bytes == 0)
        goto fail;
    sd->set_data_threshold(h->j, DATA_THRESHOLD);
    /* The inotify watches exist from here on: nothing written after a
     * reader's first seek can be missed. */
    if (sd->get_fd(h->j) < 0 || (h->stop_fd = eventfd(0, EFD_CLOEXEC)) < 0)
        goto fail;
    if (pthread_create(&h->thread, NULL, hub_thread, h) != 0)
        goto fail;
    h->refs = 1;
    h->next = hubs;
    hubs = h;
    pthread_mutex_unlock(&hubs_mu);
    *out = h;
    return WSM_OK;
fail:
    pthread_mutex_unlock(&hubs_mu);
    if (h)
        hub_free(h);
    return err;
}

void wsmd__evr_hub_put(struct hub *h)
{
    pthread_mutex_lock(&hubs_mu);
    if (--h->refs > 0) {
        pthread_mutex_unlock(&hubs_mu);
        return;
    }
    for (struct hub **p = &hubs; *p; p = &(*p)->next)
        if (*p == h) {
            *p = h->next;
            break;
        }
    pthread_mutex_unlock(&hubs_mu);
    wsmd__evr_wake(h->stop_fd);
    pthread_join(h->thread, NULL);
    hub_free(h);
}
