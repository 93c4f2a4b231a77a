/* winrm's input from the command line, as the library takes it:
 * @{KEY="VALUE";...} and the {...} of -options: and -filter: as lists of
 * pairs (struct kv), RESOURCE?KEY=VALUE+... as a resource URI (aliases
 * expanded) and its selectors, and the text of -file:. Shared by the
 * operations (winrm_ops.c), the XML they build (winrm_xml.c) and the
 * local client configuration (winrm.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "winrm_priv.h"
#include "wsm/wsm.h"

void wsmd__winrm_kv_free(struct kv *k)
{
    free(k->store);
    free(k->v);
    memset(k, 0, sizeof(*k));
}

static int kv_add(struct kv *k, const char *name, const char *value)
{
    struct wsm_selector *v = realloc(k->v, (k->n + 1) * sizeof(*v));
    if (!v)
        return -1;
    k->v = v;
    v[k->n].name = name;
    v[k->n].value = value;
    k->n++;
    return 0;
}

static int is_key_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == ':';
}

static char *skip_ws(char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* {KEY="VALUE";KEY=$null;...} as winrm reads it. Keys are unique. A value
 * may also come unquoted, up to the next ';' (a shell took the quotes).
 * Returns 0, or prints why and returns -1. */
int wsmd__winrm_parse_hash(const char *text, struct kv *out)
{
    static const char syntax[] =
        "Syntax Error: input must be of the form {KEY=\"VALUE\"[;KEY=\"VALUE\"]}";
    size_t len = strlen(text);
    memset(out, 0, sizeof(*out));
    if (len < 2 || text[0] != '{' || text[len - 1] != '}') {
        fprintf(stderr, "winrm: %s\n", syntax);
        return -1;
    }
    out->store = strdup(text + 1);
    if (!out->store)
        return -1;
    out->store[len - 2] = '\0';
    char *p = skip_ws(out->store);
    while (*p) {
        char *key = p;
        while (is_key_char(*p))
            p++;
        char *key_end = p;
        p = skip_ws(p);
        if (key_end == key || *p != '=')
            goto bad;
        *key_end = '\0';
        p = skip_ws(p + 1);
        char *value, *end;
        if (*p == '"') {
            value = ++p;
            if (!(p = strchr(p, '"')))
                goto bad;
            end = p++;
        } else if (!strncasecmp(p, "$null", 5) && strchr(" \t;", p[5])) {
            value = NULL;
            end = NULL;
            p += 5;
        } else {
            value = p;
            p += strcspn(p, ";");
            end = p;
            while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
        }
        p = skip_ws(p);
        char sep = *p;
        if (end)
            *end = '\0'; /* may be the separator itself: it is in sep */
        if (sep == ';') {
            p = skip_ws(p + 1);
            if (!*p)
                goto bad; /* a trailing ';' */
        } else if (sep) {
            goto bad;
        }
        for (size_t i = 0; i < out->n; i++) {
            if (!strcmp(out->v[i].name, key)) {
                fprintf(
                    stderr,
                    "winrm: Error: Multiple matching parameter names not allowed in @{...}: %s\n",
                    key);
                wsmd__winrm_kv_free(out);
                return -1;
            }
        }
        if (kv_add(out, key, value) != 0) {
            wsmd__winrm_kv_free(out);
            return -1;
        }
    }
    return 0;
bad:
    fprintf(stderr, "winrm: %s\n", syntax);
    wsmd__winrm_kv_free(out);
    return -1;
}

/* Splits RESOURCE?k=v+k2=v2 into the URI (alias expanded, into uri) and
 * the selectors. */
int wsmd__winrm_parse_resource(const char *arg, char *uri, size_t n, struct kv *sel)
{
    memset(sel, 0, sizeof(*sel));
    size_t base = strcspn(arg, "?");
    char *head = strndup(arg, base);
    if (!head)
        return -1;
    const char *full = wsm_resource_expand(head, uri, n);
    free(head);
    if (!full || !*uri) {
        wsmd__winrm_usage_error("invalid resource URI: %s", arg);
        return -1;
    }
    if (!arg[base])
        return 0;
    if (!(sel->store = strdup(arg + base + 1)))
        return -1;
    for (char *p = sel->store, *next; p && *p; p = next) {
        next = strchr(p, '+');
        if (next)
            *next++ = '\0';
        char *eq = strchr(p, '=');
        if (!eq || eq == p) {
            wsmd__winrm_usage_error("invalid selector in %s (KEY=VALUE[+KEY=VALUE] expected)", arg);
            wsmd__winrm_kv_free(sel);
            return -1;
        }
        *eq = '\0';
        if (kv_add(sel, p, eq + 1) != 0) {
            wsmd__winrm_kv_free(sel);
            return -1;
        }
    }
    return 0;
}

char *wsmd__winrm_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "winrm: Error: File does not exist: '%s'\n", path);
        return NULL;
    }
    char *data = NULL;
    size_t len = 0, cap = 0, r;
    char chunk[8192];
    while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (len + r + 1 > cap) {
            cap = (len + r + 1) * 2;
            char *p = realloc(data, cap);
            if (!p) {
                free(data);
                fclose(f);
                return NULL;
            }
            data = p;
        }
        memcpy(data + len, chunk, r);
        len += r;
    }
    fclose(f);
    if (!data)
        data = calloc(1, 1);
    else
        data[len] = '\0';
    return data;
}
