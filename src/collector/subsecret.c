/* The passwords of CollectorInitiated subscriptions with a shared
 * StateDatabase. The rows hold what wsmd__sub_write_xml writes, never a
 * password (a database is read by more people and backups than a node's
 * /etc); each node keeps the passwords in its own Subscriptions folder, in
 * the subscription's file as on one node, and this puts them into the
 * definitions loaded from the database. A password is taken where the
 * file's user name for it is the row's (CommonUserName, or a source's
 * UserName with the same Address), so a row edited elsewhere to another
 * user never gets this one's password. The file obeys the rule of
 * subload.c: readable by no one else, writable by no group. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector_priv.h"
#include "server.h"
#include "throttle.h" /* wsmd__log_escape */

static char *read_file(const char *path, size_t *len, mode_t *mode)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK); /* a FIFO: no wait */
    if (fd < 0)
        return NULL;
    struct stat st;
    char *b = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        (unsigned long long)st.st_size <= WSMD_SUB_MAX_FILE &&
        (b = malloc((size_t)st.st_size + 1)) != NULL) {
        size_t n = 0;
        ssize_t r;
        while (n < (size_t)st.st_size &&
               ((r = read(fd, b + n, (size_t)st.st_size - n)) > 0 || (r < 0 && errno == EINTR)))
            n += r > 0 ? (size_t)r : 0;
        b[n] = '\0';
        *len = n;
        *mode = st.st_mode;
    }
    close(fd);
    return b;
}

static int same_user(const char *a, const char *b)
{
    return a && b && !strcasecmp(a, b);
}

static int take(char **dst, char **src)
{
    if (*dst || !*src)
        return 0;
    *dst = *src; /* moved: the file's copy is freed without it */
    *src = NULL;
    return 1;
}

/* The passwords of f into s, where the users agree; how many were taken. */
static int merge(struct wsmd_sub *s, struct wsmd_sub *f)
{
    int n = 0;
    if (same_user(s->common_user, f->common_user))
        n += take(&s->common_password, &f->common_password);
    for (size_t i = 0; i < s->nsources; i++) {
        struct wsmd_sub_source *a = &s->sources[i];
        for (size_t j = 0; j < f->nsources; j++) {
            struct wsmd_sub_source *b = &f->sources[j];
            if (!strcasecmp(a->address, b->address) && same_user(a->user, b->user))
                n += take(&a->password, &b->password);
        }
    }
    return n;
}

void wsmd__col_subs_secrets(struct wsmd_collector *col, struct wsmd_sub **v, size_t n)
{
    int want = 0;
    for (size_t i = 0; i < n && !want; i++)
        want = !v[i]->source_initiated && !wsmd__sub_has_password(v[i]);
    const char *dir = col->srv->cfg.subscriptions_dir_open ? col->srv->cfg.subscriptions_dir_open
                                                           : col->srv->cfg.subscriptions_dir;
    DIR *d = want && dir ? opendir(dir) : NULL;
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || l < 5 || strcasecmp(e->d_name + l - 4, ".xml"))
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        size_t len = 0;
        mode_t mode = 0;
        char *data = read_file(path, &len, &mode), err[256], lpath[512];
        struct wsmd_sub *f = NULL;
        if (data && wsmd__sub_parse(data, len, &f, err, sizeof(err)) == WSM_OK &&
            wsmd__sub_has_password(f) && (mode & (S_IRWXO | S_IWGRP))) {
            wsmd__log_escape(lpath, sizeof(lpath), path);
            wsmd__log("event=subscription_secret_skipped file=%s error=\"the file holds a "
                      "password and others can read or write it (mode %04o): chmod o-rwx,g-w\"",
                      lpath, (unsigned)(mode & 07777));
        } else if (f && !f->source_initiated) {
            for (size_t i = 0; i < n; i++)
                if (!strcasecmp(v[i]->id, f->id) && merge(v[i], f)) {
                    char lid[256];
                    wsmd__log_escape(lid, sizeof(lid), v[i]->id);
                    wsmd__log("event=subscription_secrets id=%s source=file", lid);
                }
        }
        if (data) {
            volatile char *p = data; /* it holds a password (UTF-16: NULs within) */
            for (size_t i = 0; i < len; i++)
                p[i] = 0;
            free(data);
        }
        wsmd__sub_free(f); /* wipes what was not taken */
    }
    closedir(d);
}
