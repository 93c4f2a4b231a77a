/* `wsmd eventcreate`: Windows' eventcreate.exe for the journal, to write a
 * test event that a subscription then receives
 * (docs/internals/evsrc.md, "eventcreate").
 *
 *   wsmd eventcreate /T ERROR|WARNING|INFORMATION|SUCCESS /ID 1..1000
 *                    [/L APPLICATION|SYSTEM] [/SO SOURCE] /D "text"
 *
 * The entry goes to journald with sd_journal_sendv and carries the fields
 * the renderer reads back, so that it comes out of the channel /L names
 * with Provider Name SOURCE, EventID ID and the Level of /T. Switches take
 * '/' or '-' and any case, as Windows' do. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "eventcreate.h"
#include "sdj_dl.h"

/* Where sd_journal_sendv() writes (systemd's fixed path). */
#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static int usage(const char *why)
{
    if (why)
        fprintf(stderr, "ERROR: %s\n", why);
    fputs("Type \"wsmd eventcreate /?\" for usage.\n", stderr);
    return 2;
}

static int help(void)
{
    fputs("wsmd eventcreate /T type /ID id [/L log] [/SO source] /D description\n"
          "  /T   ERROR, WARNING, INFORMATION or SUCCESS (journal priority err, warning,\n"
          "       info, notice; event Level 2, 3, 4, 4)\n"
          "  /ID  the EventID, 1 to 1000\n"
          "  /L   APPLICATION (the default) or SYSTEM: the channel the event is in\n"
          "  /SO  the source: the event's Provider Name (default EventCreate)\n"
          "  /D   the description: the event's message\n",
          stdout);
    return 0;
}

static int is_switch(const char *a, const char *name)
{
    return (a[0] == '/' || a[0] == '-') && strcasecmp(a + 1, name) == 0;
}

/* A source name: printable, no '=' (it becomes SYSLOG_IDENTIFIER=...). */
static int source_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 256)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F)
            return 0;
    return 1;
}

int wsmd__eventcreate_main(int argc, char **argv)
{
    const char *type = NULL, *id = NULL, *log = "APPLICATION", *source = "EventCreate",
               *desc = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (is_switch(a, "?") || is_switch(a, "h") || strcmp(a, "--help") == 0)
            return help();
        const char **slot = is_switch(a, "T")    ? &type
                            : is_switch(a, "ID") ? &id
                            : is_switch(a, "L")  ? &log
                            : is_switch(a, "SO") ? &source
                            : is_switch(a, "D")  ? &desc
                                                 : NULL;
        if (!slot) {
            if (is_switch(a, "S") || is_switch(a, "U") || is_switch(a, "P"))
                return usage("/S, /U and /P are not supported: run it on that machine "
                             "(winrs -r:HOST wsmd eventcreate ...)");
            fprintf(stderr, "ERROR: Invalid argument/option - '%s'.\n", a);
            return usage(NULL);
        }
        if (i + 1 >= argc)
            return usage("a switch without its value");
        *slot = argv[++i];
    }
    if (!type || !id || !desc)
        return usage("/T, /ID and /D are required");

    static const struct {
        const char *name;
        const char *prio;
    } types[] = {{"ERROR", "3"}, {"WARNING", "4"}, {"INFORMATION", "6"}, {"SUCCESS", "5"}};
    const char *prio = NULL;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcasecmp(type, types[i].name) == 0) {
            prio = types[i].prio;
            type = types[i].name;
        }
    if (!prio)
        return usage("Invalid Type specified (ERROR, WARNING, INFORMATION, SUCCESS).");

    char *end;
    long n = strtol(id, &end, 10);
    if (!*id || *end || n < 1 || n > 1000)
        return usage("Invalid Event ID specified (1 to 1000).");

    /* The channel map puts facility user in Application and syslog in
     * System (channel.c); Security is for authentication, as on Windows,
     * where eventcreate cannot write there either. */
    const char *facility;
    if (strcasecmp(log, "APPLICATION") == 0)
        facility = "1", log = "APPLICATION";
    else if (strcasecmp(log, "SYSTEM") == 0)
        facility = "5", log = "SYSTEM";
    else
        return usage("Invalid log name (APPLICATION or SYSTEM).");
    if (!source_ok(source))
        return usage("Invalid source name.");

    /* sd_journal_sendv() drops the entry silently when no journald
     * listens: say so instead of claiming success. */
    struct stat st;
    if (stat(JOURNAL_SOCKET, &st) < 0 || !S_ISSOCK(st.st_mode)) {
        fputs("ERROR: no journald listens on " JOURNAL_SOCKET ".\n", stderr);
        return 1;
    }
    const struct wsmd_sdj *sd = wsmd__sdj();
    if (!sd) {
        fputs("ERROR: libsystemd.so.0 cannot be loaded: no journal to write to.\n", stderr);
        return 1;
    }
    char f_id[32], f_prio[16], f_fac[32];
    snprintf(f_id, sizeof(f_id), "EVENT_ID=%ld", n);
    snprintf(f_prio, sizeof(f_prio), "PRIORITY=%s", prio);
    snprintf(f_fac, sizeof(f_fac), "SYSLOG_FACILITY=%s", facility);
    char *f_src = NULL, *f_msg = NULL;
    if (asprintf(&f_src, "SYSLOG_IDENTIFIER=%s", source) < 0 ||
        asprintf(&f_msg, "MESSAGE=%s", desc) < 0) {
        fputs("ERROR: out of memory\n", stderr);
        return 1;
    }
    struct iovec iov[] = {
        {f_msg, strlen(f_msg)}, {f_prio, strlen(f_prio)}, {f_fac, strlen(f_fac)},
        {f_src, strlen(f_src)}, {f_id, strlen(f_id)},
    };
    int r = sd->sendv(iov, (int)(sizeof(iov) / sizeof(iov[0])));
    free(f_src);
    free(f_msg);
    if (r < 0) {
        fprintf(stderr, "ERROR: the journal refused the event: %s\n", strerror(-r));
        return 1;
    }
    printf("SUCCESS: An event of type '%s' was created in the '%s' log with '%s' as the "
           "source.\n",
           type, log, source);
    return 0;
}
