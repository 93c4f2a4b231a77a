/* enumerate: list the instances of a class with libwsm.
 *
 *   WSM_PASSWORD=secret enumerate URL USER RESOURCE [WQL [LIMIT]]
 *
 * (an empty WQL argument: no filter)
 * for instance
 *
 *   WSM_PASSWORD=secret enumerate http://127.0.0.1:5985 alice \
 *       wmicimv2/Win32_Service "select Name, State from Win32_Service" 10
 *
 * prints each instance as one line of XML. RESOURCE may be a full resource
 * URI or use winrm's aliases (wmicimv2/, cimv2/, ...). With LIMIT, it
 * stops after that many items: wsm_enum_free then Releases the
 * enumeration the service still holds.
 *
 * Only the public header is used: build it with
 *   cc enumerate.c -lwsm
 */
#include <stdio.h>
#include <stdlib.h>

#include <wsm/wsm.h>

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 6) {
        fprintf(stderr, "usage: WSM_PASSWORD=... %s URL USER RESOURCE [WQL [LIMIT]]\n", argv[0]);
        return 2;
    }
    const char *password = getenv("WSM_PASSWORD");
    unsigned long limit = argc > 5 ? strtoul(argv[5], NULL, 10) : 0;
    if (!password) {
        fprintf(stderr, "%s: set WSM_PASSWORD\n", argv[0]);
        return 2;
    }

    /* "wmicimv2/Win32_Service" -> "http://schemas.microsoft.com/...". */
    char uri[2048];
    if (!wsm_resource_expand(argv[3], uri, sizeof(uri))) {
        fprintf(stderr, "%s: resource URI too long\n", argv[0]);
        return 2;
    }

    /* One session: one connection, one thread at a time. */
    struct wsm_session_opts so = {
        .url = argv[1], .user = argv[2], .password = password, .auth = WSM_AUTH_BASIC};
    wsm_session *s = NULL;
    enum wsm_err e = wsm_session_new(&so, &s);
    if (e) {
        fprintf(stderr, "%s: %s\n", argv[0], wsm_strerror(e));
        return 1;
    }

    /* All options may stay zero: objects, 100 items per Pull, no filter.
     * A WQL query filters on the service (the dialect defaults to WQL). */
    struct wsm_enum_opts eo = {.filter = argc > 4 && argv[4][0] ? argv[4] : NULL};
    wsm_enum *en = NULL;
    e = wsm_enumerate(s, uri, &eo, &en);
    if (e) {
        /* A fault: wsm_session_error() has its text and Windows code. */
        fprintf(stderr, "%s: %s\n", argv[0], wsm_session_error(s));
        wsm_session_free(s);
        return 1;
    }

    /* Items come one at a time; the library Pulls the next batch when the
     * current one is used up, and says WSM_ERR_NOT_FOUND at the end. */
    unsigned long n = 0;
    char *item = NULL;
    while ((limit == 0 || n < limit) && (e = wsm_enum_next(en, &item)) == WSM_OK) {
        printf("%s\n", item); /* one standalone element, namespaces declared */
        free(item);
        n++;
    }
    int rc = 0;
    if (e != WSM_OK && e != WSM_ERR_NOT_FOUND) {
        fprintf(stderr, "%s: %s\n", argv[0], wsm_session_error(s));
        rc = 1;
    }
    fprintf(stderr, "%lu item(s)\n", n);

    /* Free the enumeration before its session (a Release if unfinished). */
    wsm_enum_free(en);
    wsm_session_free(s);
    return rc;
}
