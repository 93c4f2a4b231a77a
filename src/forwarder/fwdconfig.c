/* The forwarder's configuration keys (docs/internals/forwarder.md):
 *   EventForwarding = Server=URL,Refresh=N[,IssuerCA=THUMBPRINT]
 *                        the GPO's "SubscriptionManager" value; repeatable
 *   ForwarderPrincipal = host/fqdn@REALM   Kerberos with the keytab
 *   ForwarderKeytab = FILE                 (default /etc/krb5.keytab)
 *   ForwarderCertificate = FILE, ForwarderKey = FILE   a client certificate
 *                        (https:// collectors)
 *   ForwarderCredentials = FILE   "user:password" for Basic; root's only
 *   ForwarderCAFile = FILE        CAs to trust for https:// collectors
 * and, as root before the split, the descriptors the unprivileged network
 * process reads them through. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "forwarder.h"
#include "fwd_priv.h"
#include "log.h"
#include "server.h"

void wsmd__fwd_target_clear(struct wsmd_fwd_target *t)
{
    free(t->url);
    free(t->issuer_ca);
    memset(t, 0, sizeof(*t));
}

/* "Server=http://host:5985/wsman/SubscriptionManager/WEC,Refresh=60",
 * keys without case, in any order; Server required. */
enum wsm_err wsmd__fwd_target_parse(const char *value, struct wsmd_fwd_target *t, char *why,
                                    size_t whylen)
{
    memset(t, 0, sizeof(*t));
    t->refresh_s = 900; /* Windows' default when the GPO gives none */
    const char *p = value;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        size_t n = strcspn(p, ",");
        const char *eq = memchr(p, '=', n);
        if (!eq) {
            snprintf(why, whylen, "expected NAME=VALUE, got \"%.*s\"", (int)(n > 40 ? 40 : n), p);
            goto bad;
        }
        size_t kn = (size_t)(eq - p), vn = n - kn - 1;
        const char *v = eq + 1;
        while (kn && p[kn - 1] == ' ')
            kn--;
        while (vn && (*v == ' ')) {
            v++;
            vn--;
        }
        while (vn && v[vn - 1] == ' ')
            vn--;
        for (size_t i = 0; i < vn; i++)
            if ((unsigned char)v[i] < 0x21 || v[i] == 0x7f) {
                snprintf(why, whylen, "a space or control character in a value");
                goto bad;
            }
        if (kn == 6 && !strncasecmp(p, "Server", 6)) {
            free(t->url);
            if (!(t->url = strndup(v, vn)))
                goto nomem;
        } else if (kn == 7 && !strncasecmp(p, "Refresh", 7)) {
            char num[16];
            char *end;
            if (!vn || vn >= sizeof(num)) {
                snprintf(why, whylen, "Refresh must be seconds (1-86400)");
                goto bad;
            }
            memcpy(num, v, vn);
            num[vn] = '\0';
            unsigned long r = strtoul(num, &end, 10);
            if (*end || num[0] < '0' || num[0] > '9' || r < 1 || r > 86400) {
                snprintf(why, whylen, "Refresh must be seconds (1-86400)");
                goto bad;
            }
            t->refresh_s = (unsigned)r;
        } else if (kn == 8 && !strncasecmp(p, "IssuerCA", 8)) {
            free(t->issuer_ca);
            if (!(t->issuer_ca = strndup(v, vn)))
                goto nomem;
        } else {
            snprintf(why, whylen, "unknown part \"%.*s\" (Server, Refresh, IssuerCA)",
                     (int)(kn > 40 ? 40 : kn), p);
            goto bad;
        }
        p += n;
    }
    if (!t->url || (strncasecmp(t->url, "http://", 7) && strncasecmp(t->url, "https://", 8)) ||
        strlen(t->url) > 1024) {
        snprintf(why, whylen, "Server= must be an http:// or https:// URL");
        goto bad;
    }
    if (t->issuer_ca && strncasecmp(t->url, "https://", 8)) {
        snprintf(why, whylen, "IssuerCA= goes with an https:// Server");
        goto bad;
    }
    return WSM_OK;
nomem:
    wsmd__fwd_target_clear(t);
    return WSM_ERR_NOMEM;
bad:
    wsmd__fwd_target_clear(t);
    return WSM_ERR_INVALID_ARG;
}

static int path_ok(const char *v)
{
    if (v[0] != '/' || strlen(v) > 1024)
        return 0;
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

enum wsm_err wsmd__fwdconfig_set(struct wsmd_config *cfg, const char *key, const char *value)
{
    struct wsmd_fwdcfg *f = cfg->fwd;
    if (strncasecmp(key, "Forwarder", 9) && strcasecmp(key, "EventForwarding"))
        return WSM_ERR_NOT_FOUND;
    if (!f) {
        if (!(f = cfg->fwd = calloc(1, sizeof(*f))))
            return WSM_ERR_NOMEM;
        for (size_t i = 0; i < FWD_NFD; i++)
            f->fd[i] = -1;
        f->state_fd = -1;
    }
    if (!strcasecmp(key, "EventForwarding")) {
        char why[160];
        struct wsmd_fwd_target t;
        enum wsm_err e = wsmd__fwd_target_parse(value, &t, why, sizeof(why));
        if (e == WSM_ERR_INVALID_ARG)
            fprintf(stderr, "wsmd: EventForwarding: %s\n", why);
        if (e)
            return e;
        if (f->ntargets == FWD_MAX_TARGETS) {
            wsmd__fwd_target_clear(&t);
            fprintf(stderr, "wsmd: EventForwarding: at most %d collectors\n", FWD_MAX_TARGETS);
            return WSM_ERR_INVALID_ARG;
        }
        f->targets[f->ntargets++] = t;
        return WSM_OK;
    }
    char **slot = !strcasecmp(key, "ForwarderPrincipal")     ? &f->principal
                  : !strcasecmp(key, "ForwarderKeytab")      ? &f->path[FWD_KEYTAB]
                  : !strcasecmp(key, "ForwarderCertificate") ? &f->path[FWD_CERT]
                  : !strcasecmp(key, "ForwarderKey")         ? &f->path[FWD_KEY]
                  : !strcasecmp(key, "ForwarderCredentials") ? &f->path[FWD_CREDS]
                  : !strcasecmp(key, "ForwarderCAFile")      ? &f->path[FWD_CA]
                                                             : NULL;
    if (!slot)
        return WSM_ERR_NOT_FOUND;
    if (slot == &f->principal) {
        if (!*value || strlen(value) > 255 || strpbrk(value, " \t\r\n"))
            return WSM_ERR_INVALID_ARG;
    } else if (!path_ok(value)) {
        return WSM_ERR_INVALID_ARG;
    }
    char *d = strdup(value);
    if (!d)
        return WSM_ERR_NOMEM;
    free(*slot);
    *slot = d;
    return WSM_OK;
}

void wsmd__fwdconfig_clear(struct wsmd_config *cfg)
{
    struct wsmd_fwdcfg *f = cfg->fwd;
    if (!f)
        return;
    for (size_t i = 0; i < f->ntargets; i++)
        wsmd__fwd_target_clear(&f->targets[i]);
    for (size_t i = 0; i < FWD_NFD; i++) {
        free(f->path[i]);
        if (f->fd[i] >= 0)
            close(f->fd[i]);
    }
    free(f->principal);
    free(f->state_dir);
    if (f->state_fd >= 0)
        close(f->state_fd);
    free(f);
    cfg->fwd = NULL;
}

/* Opens one credential file as root. The Basic credentials file must be
 * root's own and unreadable by others: it holds a password. */
static int open_secret(int which, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        fprintf(stderr, "wsmd: %s %s: %s\n", wsmd__fwd_key_name(which), path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (1 << 20)) {
        fprintf(stderr, "wsmd: %s %s: not a regular file of at most 1 MiB\n",
                wsmd__fwd_key_name(which), path);
        close(fd);
        return -1;
    }
    if (which == FWD_CREDS && (st.st_uid != geteuid() || (st.st_mode & 077))) {
        fprintf(stderr,
                "wsmd: ForwarderCredentials %s: must belong to uid %u and be readable by it "
                "only (chmod 600)\n",
                path, (unsigned)geteuid());
        close(fd);
        return -1;
    }
    return fd;
}

const char *wsmd__fwd_key_name(int which)
{
    static const char *const n[FWD_NFD] = {"ForwarderKeytab", "ForwarderCertificate",
                                           "ForwarderKey", "ForwarderCredentials",
                                           "ForwarderCAFile"};
    return which >= 0 && which < FWD_NFD ? n[which] : "?";
}

enum wsm_err wsmd__fwd_prepare(struct wsmd_config *cfg, unsigned uid, unsigned gid)
{
    struct wsmd_fwdcfg *f = cfg->fwd;
    /* Without a collector the keytab and certificate still serve the
     * event source's push deliveries that ask for Kerberos or a client
     * certificate (fwdlend.c); only what is configured is opened. */
    if (!f || (!f->ntargets && !f->path[FWD_KEYTAB] && !f->path[FWD_CERT]))
        return WSM_OK;
    /* Which credentials: Basic when a credentials file is named, else a
     * client certificate when one is, else the keytab (Kerberos, as a
     * domain-joined Windows machine). A keytab named beside the others is
     * opened too: push deliveries may use it. */
    if (f->ntargets && !f->path[FWD_CREDS] && !f->path[FWD_CERT] && !f->path[FWD_KEYTAB] &&
        !(f->path[FWD_KEYTAB] = strdup("/etc/krb5.keytab")))
        return WSM_ERR_NOMEM;
    for (int i = 0; i < FWD_NFD; i++) {
        if (!f->path[i] || (i == FWD_CREDS && !f->ntargets))
            continue;
        if ((f->fd[i] = open_secret(i, f->path[i])) < 0)
            return WSM_ERR_INVALID_ARG;
    }
    /* MachineID of the Enumerate: the host name, as the journal reader
     * writes it in <Computer> (a collector may compare the two). */
    if (gethostname(f->machine_id, sizeof(f->machine_id) - 1) != 0)
        snprintf(f->machine_id, sizeof(f->machine_id), "localhost");
    if (!f->ntargets)
        return WSM_OK; /* no bookmarks to keep */
    /* The bookmarks: StateDir/forwarder, the network process's. */
    char dir[1200];
    const char *base = cfg->state_dir;
    char def[1100];
    if (!base) {
        const char *home = getenv("HOME");
        if (geteuid() == 0)
            snprintf(def, sizeof(def), "/var/lib/wsmd");
        else
            snprintf(def, sizeof(def), "%s/.local/state/wsmd", home && *home ? home : ".");
        base = def;
    }
    snprintf(dir, sizeof(dir), "%s/forwarder", base);
    if (mkdir(base, 0750) != 0 && errno != EEXIST) {
        fprintf(stderr, "wsmd: StateDir %s: %s\n", base, strerror(errno));
        return WSM_ERR_IO;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "wsmd: StateDir %s: %s\n", dir, strerror(errno));
        return WSM_ERR_IO;
    }
    if (uid != (unsigned)-1 && chown(dir, uid, gid) != 0) {
        fprintf(stderr, "wsmd: StateDir %s: cannot give it to uid %u: %s\n", dir, uid,
                strerror(errno));
        return WSM_ERR_IO;
    }
    f->state_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (f->state_fd < 0 || !(f->state_dir = strdup(dir))) {
        fprintf(stderr, "wsmd: StateDir %s: %s\n", dir, strerror(errno));
        return WSM_ERR_IO;
    }
    return WSM_OK;
}
