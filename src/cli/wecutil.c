/* wecutil: Windows' Event Collector utility, for wsmd's collector.
 *
 *   wecutil [-c CONF] es | enum-subscription
 *   wecutil [-c CONF] gs | get-subscription NAME [/f:xml]
 *   wecutil [-c CONF] gr | get-subscriptionruntimestatus NAME
 *   wecutil [-c CONF] cs | create-subscription FILE
 *   wecutil [-c CONF] ss | set-subscription NAME /e:true|false
 *   wecutil [-c CONF] ds | delete-subscription NAME
 *   wecutil [-c CONF] rs | retry-subscription NAME
 *
 * It reaches the wsmd that CONF configures (default /etc/wsmd/wsmd.conf)
 * through StateDir/control.sock, which answers root, the daemon's account
 * and members of wsmd-admins. cs, ss and ds change the files of the
 * Subscriptions folder themselves, as the admin running wecutil, and then
 * ask wsmd to read them again: wsmd never writes into that folder. With a
 * shared StateDatabase the subscriptions are rows of the database instead:
 * the collector stores the change, and every node loads it. */
#include <ctype.h>
#include <errno.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "wecutil_help.h"

#define DEFAULT_CONF "/etc/wsmd/wsmd.conf"
#define MAX_FILE (1024 * 1024)

struct conf {
    char state_dir[1024];
    char subs_dir[1024];
};

static int usage(FILE *f)
{
    fputs(WECUTIL_HELP_TEXT, f); /* man/wecutil.txt, the source of wecutil(1) too */
    return f == stdout ? 0 : 2;
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    size_t i = 0;
    while (isspace((unsigned char)s[i]))
        i++;
    memmove(s, s + i, strlen(s + i) + 1);
}

/* The two keys wecutil needs, read as wsmd reads its file. */
static int read_conf(const char *path, int given, struct conf *c)
{
    const char *home = getenv("HOME");
    if (geteuid() == 0)
        snprintf(c->state_dir, sizeof(c->state_dir), "/var/lib/wsmd");
    else
        snprintf(c->state_dir, sizeof(c->state_dir), "%s/.local/state/wsmd",
                 home && *home ? home : ".");
    c->subs_dir[0] = '\0';
    FILE *f = fopen(path, "re");
    if (!f) {
        if (!given)
            return 0; /* no default file: the default folders */
        fprintf(stderr, "wecutil: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[2048];
    while (fgets(line, sizeof(line), f)) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        char *k = line, *v = eq + 1;
        trim(k);
        trim(v);
        if (!strcasecmp(k, "StateDir"))
            snprintf(c->state_dir, sizeof(c->state_dir), "%s", v);
        else if (!strcasecmp(k, "Subscriptions"))
            snprintf(c->subs_dir, sizeof(c->subs_dir), "%s", v);
    }
    fclose(f);
    return 0;
}

/* One request; the reply's text after "OK\n" in *reply (malloc'd). 0 ok,
 * 1 the collector said no (message printed), -1 not reachable. */
static int ask(const struct conf *c, const char *req, const char *body, size_t blen, char **reply)
{
    *reply = NULL;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/control.sock", c->state_dir);
    if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr,
                "wecutil: the collector is not running or not reachable at %s (%s): is wsmd "
                "running with this configuration's StateDir and a Subscriptions folder?\n",
                sa.sun_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    size_t rl = strlen(req);
    int ok = send(fd, req, rl, MSG_NOSIGNAL) == (ssize_t)rl && send(fd, "\n", 1, MSG_NOSIGNAL) == 1;
    for (size_t off = 0; ok && off < blen;) {
        ssize_t w = send(fd, body + off, blen - off, MSG_NOSIGNAL);
        ok = w > 0;
        off += ok ? (size_t)w : 0;
    }
    shutdown(fd, SHUT_WR);
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    while (ok && buf) {
        if (len + 4096 > cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb)
                break;
            buf = nb;
        }
        ssize_t r = recv(fd, buf + len, cap - len - 1, 0);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    if (!buf)
        return -1;
    buf[len] = '\0';
    if (strncmp(buf, "OK", 2) == 0) {
        char *nl = strchr(buf, '\n');
        memmove(buf, nl ? nl + 1 : buf + len, strlen(nl ? nl + 1 : buf + len) + 1);
        *reply = buf;
        return 0;
    }
    fprintf(stderr, "wecutil: %s", strncmp(buf, "ERR ", 4) == 0 ? buf + 4 : "no answer\n");
    free(buf);
    return 1;
}

static int simple(const struct conf *c, const char *req)
{
    char *r;
    int rc = ask(c, req, NULL, 0, &r);
    if (rc == 0)
        fputs(r, stdout);
    free(r);
    return rc ? 1 : 0;
}

static int reload(const struct conf *c)
{
    char *r;
    int rc = ask(c, "reload", NULL, 0, &r);
    free(r);
    return rc ? 1 : 0;
}

/* The file of subscription name, as the collector loaded it. */
static char *path_of(const struct conf *c, const char *name)
{
    char req[600], *r;
    snprintf(req, sizeof(req), "path %s", name);
    if (ask(c, req, NULL, 0, &r) != 0)
        return NULL;
    trim(r);
    if (!r[0]) {
        fprintf(stderr, "wecutil: no file is known for %s\n", name);
        free(r);
        return NULL;
    }
    return r;
}

/* 1 when the collector keeps its subscriptions in a shared database (a
 * wsmd that does not know the question keeps files). */
static int db_backed(const struct conf *c)
{
    char *r = NULL;
    int rc = ask(c, "backend", NULL, 0, &r);
    int db = rc == 0 && r && !strncmp(r, "postgresql", 10);
    free(r);
    return db;
}

/* A change to the shared subscriptions, made by the collector. */
static int db_change(const struct conf *c, const char *req, const char *body, size_t blen)
{
    char *r = NULL;
    int rc = ask(c, req, body, blen, &r);
    free(r);
    return rc ? 1 : 0;
}

/* like: the file replaced keeps its owner and mode (a file holding a
 * password stays unreadable to others; wsmd refuses it otherwise). NULL and
 * a password in data: 0640 with the group of the folder, the account of
 * the daemon's (docs/collector.md); else the umask's. */
static int write_atomic(const char *path, const char *data, size_t len, const struct stat *like)
{
    char tmp[2100];
    snprintf(tmp, sizeof(tmp), "%s.wecutil.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wxe");
    int ok = f != NULL;
    if (ok && like) {
        ok = fchmod(fileno(f), like->st_mode & 07777) == 0;
        if (ok && fchown(fileno(f), like->st_uid, like->st_gid) != 0 && geteuid() == 0)
            ok = 0; /* not root: the file is the admin's own, as before */
    } else if (ok && (memmem(data, len, "Password>", 9) || memmem(data, len, "Password >", 10))) {
        char dir[2100];
        snprintf(dir, sizeof(dir), "%s", path);
        char *sl = strrchr(dir, '/');
        struct stat ds;
        if (sl)
            *sl = '\0';
        ok = fchmod(fileno(f), 0640) == 0;
        if (ok && sl && stat(dir, &ds) == 0 && fchown(fileno(f), (uid_t)-1, ds.st_gid) != 0)
            ok = 0;
    }
    if (!ok || fwrite(data, 1, len, f) != len || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        fprintf(stderr, "wecutil: cannot write %s: %s\n", tmp, strerror(errno));
        if (f) {
            fclose(f);
            unlink(tmp);
        }
        return -1;
    }
    fclose(f);
    if (rename(tmp, path) != 0) {
        fprintf(stderr, "wecutil: cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int create(const struct conf *c, const char *file)
{
    int db = db_backed(c);
    if (!db && !c->subs_dir[0]) {
        fprintf(stderr, "wecutil: the configuration names no Subscriptions folder\n");
        return 1;
    }
    FILE *f = fopen(file, "re");
    if (!f) {
        fprintf(stderr, "wecutil: cannot open %s: %s\n", file, strerror(errno));
        return 1;
    }
    char *data = malloc(MAX_FILE + 1);
    size_t len = data ? fread(data, 1, MAX_FILE + 1, f) : 0;
    fclose(f);
    if (!data || len > MAX_FILE) {
        fprintf(stderr, "wecutil: %s is too large\n", file);
        free(data);
        return 1;
    }
    if (db) {
        int rc = db_change(c, "create", data, len);
        free(data);
        return rc;
    }
    char *id = NULL;
    int rc = ask(c, "check", data, len, &id); /* the collector's own parser */
    if (rc == 0) {
        trim(id);
        char req[600], *r = NULL;
        snprintf(req, sizeof(req), "path %s", id);
        if (!id[0] || strchr(id, '/') || id[0] == '.' || strlen(id) > 200) {
            fprintf(stderr, "wecutil: the SubscriptionId \"%s\" cannot name a file\n", id);
            rc = 1;
        } else if (ask(c, req, NULL, 0, &r) == 0) {
            fprintf(stderr, "wecutil: The subscription %s already exists.\n", id);
            rc = 1;
        } else {
            char path[2048];
            snprintf(path, sizeof(path), "%s/%s.xml", c->subs_dir, id);
            rc = write_atomic(path, data, len, NULL) == 0 ? reload(c) : 1;
        }
        free(r);
    }
    free(id);
    free(data);
    return rc ? 1 : 0;
}

/* ss NAME /e:BOOL: the file's Enabled element changed, the rest kept. */
static int set_enabled(const struct conf *c, const char *name, const char *value)
{
    if (db_backed(c)) {
        char req[700];
        snprintf(req, sizeof(req), "setenabled %s %s", name, value);
        return db_change(c, req, NULL, 0);
    }
    char *path = path_of(c, name);
    if (!path)
        return 1;
    xmlDocPtr doc = xmlReadFile(path, NULL, XML_PARSE_NONET);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    int rc = 1;
    if (!root) {
        fprintf(stderr, "wecutil: cannot read %s\n", path);
    } else {
        xmlNodePtr en = NULL;
        for (xmlNodePtr n = root->children; n && !en; n = n->next)
            if (n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, "Enabled"))
                en = n;
        if (!en)
            en = xmlNewChild(root, root->ns, BAD_CAST "Enabled", NULL);
        xmlNodeSetContent(en, BAD_CAST value);
        xmlChar *out = NULL;
        int olen = 0;
        xmlDocDumpMemoryEnc(doc, &out, &olen, "UTF-8");
        struct stat st;
        if (out && stat(path, &st) == 0 &&
            write_atomic(path, (const char *)out, (size_t)olen, &st) == 0)
            rc = reload(c);
        xmlFree(out);
    }
    xmlFreeDoc(doc);
    free(path);
    return rc;
}

static int delete (const struct conf *c, const char *name)
{
    if (db_backed(c)) {
        char req[700];
        snprintf(req, sizeof(req), "delete %s", name);
        return db_change(c, req, NULL, 0);
    }
    char *path = path_of(c, name);
    if (!path)
        return 1;
    int rc = 1;
    if (unlink(path) != 0)
        fprintf(stderr, "wecutil: cannot remove %s: %s\n", path, strerror(errno));
    else
        rc = reload(c);
    free(path);
    return rc;
}

static int is(const char *v, const char *a, const char *b)
{
    return !strcasecmp(v, a) || !strcasecmp(v, b);
}

/* "/e:true", "/enabled:false" -> "true"/"false"; NULL otherwise. */
static const char *enabled_switch(const char *a)
{
    const char *v = NULL;
    if (!strncasecmp(a, "/e:", 3) || !strncasecmp(a, "-e:", 3))
        v = a + 3;
    else if (!strncasecmp(a, "/enabled:", 9))
        v = a + 9;
    if (!v)
        return NULL;
    return !strcasecmp(v, "true") ? "true" : !strcasecmp(v, "false") ? "false" : NULL;
}

int main(int argc, char **argv)
{
    const char *conf = DEFAULT_CONF;
    int given = 0, i = 1;
    if (i < argc && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help") ||
                     !strcmp(argv[i], "-?") || !strcmp(argv[i], "/?")))
        return usage(stdout);
    if (i + 1 < argc && !strcmp(argv[i], "-c")) {
        conf = argv[i + 1];
        given = 1;
        i += 2;
    }
    if (i >= argc)
        return usage(stderr);
    struct conf c;
    if (read_conf(conf, given, &c) != 0)
        return 1;
    const char *verb = argv[i++];
    const char *arg = i < argc ? argv[i++] : NULL;
    char req[700];
    if (is(verb, "es", "enum-subscription"))
        return simple(&c, "es");
    if (!arg)
        return usage(stderr);
    if (strlen(arg) > 512 || strchr(arg, '\n')) {
        fprintf(stderr, "wecutil: bad name\n");
        return 2;
    }
    if (is(verb, "gs", "get-subscription")) {
        int xml =
            i < argc && (!strcasecmp(argv[i], "/f:xml") || !strcasecmp(argv[i], "/format:xml"));
        snprintf(req, sizeof(req), "%s %s", xml ? "gsxml" : "gs", arg);
        return simple(&c, req);
    }
    if (is(verb, "gr", "get-subscriptionruntimestatus")) {
        snprintf(req, sizeof(req), "gr %s", arg);
        return simple(&c, req);
    }
    if (is(verb, "rs", "retry-subscription")) {
        snprintf(req, sizeof(req), "path %s", arg);
        char *r;
        int rc = ask(&c, req, NULL, 0, &r); /* it must exist */
        free(r);
        return rc ? 1 : reload(&c);
    }
    if (is(verb, "cs", "create-subscription"))
        return create(&c, arg);
    if (is(verb, "ds", "delete-subscription"))
        return delete (&c, arg);
    if (is(verb, "ss", "set-subscription")) {
        const char *v = i < argc ? enabled_switch(argv[i]) : NULL;
        if (!v) {
            fprintf(stderr, "wecutil: ss NAME /e:true|false (the only setting wecutil changes "
                            "here; edit the file for the rest)\n");
            return 2;
        }
        return set_enabled(&c, arg, v);
    }
    return usage(stderr);
}
