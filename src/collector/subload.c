/* Subscriptions: the Version GUID, who may use one, loading a folder. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <nettle/sha1.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server.h"
#include "sub_priv.h"
#include "throttle.h" /* wsmd__log_escape */

/* ---- Version ------------------------------------------------------------------ */

static void hash_field(struct sha1_ctx *h, char tag, const char *v)
{
    unsigned char hdr[9];
    size_t n = v ? strlen(v) : 0;
    hdr[0] = (unsigned char)tag;
    for (int i = 0; i < 8; i++)
        hdr[1 + i] = (unsigned char)((unsigned long long)n >> (8 * i));
    sha1_update(h, sizeof(hdr), hdr);
    if (n)
        sha1_update(h, n, (const uint8_t *)v);
}

static void hash_num(struct sha1_ctx *h, char tag, long long v)
{
    char t[32];
    snprintf(t, sizeof(t), "%lld", v);
    hash_field(h, tag, t);
}

/* A name-based (version 5) UUID over every parameter that reaches the
 * source through the Subscribe envelope, and nothing else: the same file
 * gives the same Version on every start and every node, a change a source
 * must see changes it (the source then subscribes again), and editing the
 * Description, the allow/deny lists or the outputs does not. The collector's
 * address, the bookmark and the source's identity are per request and not
 * part of it. */
void wsmd__sub_version(struct wsmd_sub *s)
{
    /* Our namespace UUID for subscription versions (RFC 4122 4.3). */
    static const uint8_t ns[16] = {0x6b, 0x1e, 0x4c, 0x52, 0x2f, 0x0a, 0x4d, 0x37,
                                   0x9c, 0x51, 0x3e, 0x77, 0xa4, 0x08, 0xd2, 0x6f};
    static const char hex[] = "0123456789ABCDEF";
    struct sha1_ctx h;
    uint8_t d[SHA1_DIGEST_SIZE];

    sha1_init(&h);
    sha1_update(&h, sizeof(ns), ns);
    hash_field(&h, 'I', s->id);
    hash_field(&h, 'U', s->uri);
    hash_field(&h, 'Q', s->query);
    hash_field(&h, 'F', s->content_format);
    hash_num(&h, 'R', s->read_existing);
    hash_field(&h, 'L', s->locale);
    hash_num(&h, 'M', s->max_items);
    hash_num(&h, 'T', s->max_latency_ms);
    hash_num(&h, 'H', s->heartbeat_ms);
    hash_field(&h, 'D', s->delivery_mode);
    hash_field(&h, 'C', s->issuer_cas);
    sha1_digest(&h, sizeof(d), d);
    d[6] = (uint8_t)((d[6] & 0x0f) | 0x50);
    d[8] = (uint8_t)((d[8] & 0x3f) | 0x80);
    int o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            s->version[o++] = '-';
        s->version[o++] = hex[d[i] >> 4];
        s->version[o++] = hex[d[i] & 15];
    }
    s->version[o] = '\0';
}

/* ---- who may use it ------------------------------------------------------------- */

static int glob_any(char *const *v, size_t n, const char *principal)
{
    /* FNM_NOESCAPE: a backslash is a character of "DOMAIN\user", not an escape. */
    for (size_t i = 0; i < n; i++)
        if (fnmatch(v[i], principal, FNM_CASEFOLD | FNM_NOESCAPE) == 0)
            return 1;
    return 0;
}

int wsmd__sub_allows(const struct wsmd_sub *s, const char *principal)
{
    if (!s || !principal || !*principal)
        return 0;
    if (glob_any(s->deny, s->ndeny, principal))
        return 0;
    return s->nallow == 0 || glob_any(s->allow, s->nallow, principal);
}

int wsmd__sub_served(const struct wsmd_sub *s)
{
    return s && s->enabled && s->source_initiated;
}

/* ---- a folder of files -------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_file(const char *path, char **data, size_t *len, mode_t *mode)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -EISDIR; /* (or any other not regular file) */
    }
    if ((unsigned long long)st.st_size > WSMD_SUB_MAX_FILE) {
        close(fd);
        return -EFBIG;
    }
    *mode = st.st_mode;
    size_t cap = (size_t)st.st_size, n = 0;
    char *b = malloc(cap + 1);
    if (!b) {
        close(fd);
        return -ENOMEM;
    }
    while (n < cap) {
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    b[n] = '\0';
    *data = b;
    *len = n;
    return 0;
}

enum wsm_err wsmd__sub_load_dir(const char *dir, struct wsmd_sub ***out, size_t *n)
{
    DIR *d = opendir(dir);
    if (!d) {
        wsmd__log("event=subscriptions_dir dir=%s error=\"%s\"", dir, strerror(errno));
        return WSM_ERR_IO;
    }
    char **names = NULL;
    size_t nn = 0;
    enum wsm_err rc = WSM_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || l < 5 || strcasecmp(e->d_name + l - 4, ".xml") != 0)
            continue;
        char **nv = realloc(names, (nn + 1) * sizeof(*names));
        if (!nv || !(nv[nn] = strdup(e->d_name))) {
            names = nv ? nv : names;
            rc = WSM_ERR_NOMEM;
            break;
        }
        names = nv;
        nn++;
    }
    closedir(d);
    if (nn)
        qsort(names, nn, sizeof(*names), cmp_str);

    struct wsmd_sub **v = NULL;
    size_t nv = 0;
    for (size_t i = 0; i < nn && !rc; i++) {
        char path[4096], err[256], lpath[512], lid[256];
        char *data = NULL;
        size_t len = 0;
        struct wsmd_sub *s = NULL;
        mode_t mode = 0;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        wsmd__log_escape(lpath, sizeof(lpath), path);
        int r = read_file(path, &data, &len, &mode);
        if (r) {
            wsmd__log("event=subscription_skipped file=%s error=\"%s\"", lpath, strerror(-r));
            continue;
        }
        enum wsm_err pe = wsmd__sub_parse(data, len, &s, err, sizeof(err));
        free(data);
        if (pe == WSM_ERR_NOMEM) {
            rc = pe;
            break;
        }
        if (pe) {
            for (char *p = err; *p; p++)
                if (*p == '"' || (unsigned char)*p < 0x20)
                    *p = '\'';
            wsmd__log("event=subscription_skipped file=%s error=\"%s\"", lpath, err);
            continue;
        }
        /* A password in a file others can read, or change, is not a
         * secret: refused as sshd refuses such a key. The group may read
         * (root:wsmd 0640 lets the network process in, nobody else). */
        if (wsmd__sub_has_password(s) && (mode & (S_IRWXO | S_IWGRP))) {
            wsmd__log("event=subscription_skipped file=%s error=\"the file holds a password and "
                      "others can read or write it (mode %04o): chmod o-rwx,g-w\"",
                      lpath, (unsigned)(mode & 07777));
            wsmd__sub_free(s);
            continue;
        }
        int dup = 0;
        for (size_t j = 0; j < nv && !dup; j++)
            dup = strcasecmp(v[j]->id, s->id) == 0;
        if (dup) {
            wsmd__log("event=subscription_skipped file=%s error=\"SubscriptionId already "
                      "loaded from another file\"",
                      lpath);
            wsmd__sub_free(s);
            continue;
        }
        struct wsmd_sub **g = realloc(v, (nv + 1) * sizeof(*v));
        if (!g || !(s->file = strdup(path))) {
            v = g ? g : v;
            wsmd__sub_free(s);
            rc = WSM_ERR_NOMEM;
            break;
        }
        v = g;
        v[nv++] = s;
        wsmd__log_escape(lid, sizeof(lid), s->id);
        wsmd__log("event=subscription_loaded file=%s id=%s version=%s type=%s served=%s "
                  "sources=%zu",
                  lpath, lid, s->version,
                  s->source_initiated ? "SourceInitiated" : "CollectorInitiated",
                  wsmd__sub_served(s) ? "yes" : "no", s->nsources);
    }
    for (size_t i = 0; i < nn; i++)
        free(names[i]);
    free(names);
    if (rc) {
        wsmd__sub_free_all(v, nv);
        return rc;
    }
    *out = v;
    *n = nv;
    return WSM_OK;
}
