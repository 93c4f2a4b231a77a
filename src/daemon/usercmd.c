/* `wsmd user add|del|list NAME --users FILE`: the user file's editor
 * (userfile.c does the reading and writing), with the password read from
 * stdin, twice and unechoed on a terminal. Separate from main.c because it
 * is a command of its own that never starts the service. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "main_priv.h"
#include "userfile.h"

/* One line of stdin; on a terminal, without echo and after prompt. */
static int read_password(const char *prompt, char *buf, size_t n)
{
    struct termios old, quiet;
    int tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        /* Echo off before the prompt shows: what is typed once it shows
         * must never appear. */
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
        fprintf(stderr, "%s", prompt);
    }
    char *r = fgets(buf, (int)n, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fprintf(stderr, "\n");
    }
    if (!r)
        return -1;
    size_t l = strlen(buf);
    if (l == n - 1 && buf[l - 1] != '\n')
        return -1; /* too long */
    while (l && (buf[l - 1] == '\n' || buf[l - 1] == '\r'))
        buf[--l] = '\0';
    return l ? 0 : -1;
}

/* On a terminal the password is asked twice: a typo unseen (no echo)
 * would otherwise lock the user out. From a pipe, one line. */
static int read_new_password(char *pw, size_t n)
{
    if (read_password("Password: ", pw, n) != 0) {
        fprintf(stderr, "wsmd: no password on standard input (or longer than %zu)\n", n - 1);
        return -1;
    }
    if (!isatty(STDIN_FILENO))
        return 0;
    char again[WSMD_MAX_PASSWORD];
    int same =
        read_password("Retype password: ", again, sizeof(again)) == 0 && strcmp(pw, again) == 0;
    explicit_bzero(again, sizeof(again));
    if (!same) {
        fprintf(stderr, "wsmd: the passwords do not match; nothing changed\n");
        explicit_bzero(pw, n);
        return -1;
    }
    return 0;
}

int wsmd__user_cmd(int argc, char **argv)
{
    const char *verb = NULL, *name = NULL, *users = NULL;
    int force = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--users") == 0 && i + 1 < argc)
            users = argv[++i];
        else if (strncmp(argv[i], "--users=", 8) == 0)
            users = argv[i] + 8;
        else if (strcmp(argv[i], "--force") == 0 || strcmp(argv[i], "-f") == 0)
            force = 1;
        else if (!verb)
            verb = argv[i];
        else if (!name)
            name = argv[i];
        else
            return wsmd__main_usage(stderr);
    }
    if (!verb || !users)
        return wsmd__main_usage(stderr);
    if (strcmp(verb, "add") != 0 && access(users, F_OK) != 0 && errno == ENOENT) {
        /* Read as empty by the daemon, but here a typo in the path is the
         * likelier cause. */
        fprintf(stderr,
                "wsmd: the user file %s does not exist (create it with: wsmd user add "
                "NAME --users %s)\n",
                users, users);
        return 1;
    }
    struct wsmd_userfile uf;
    char why[512];
    if (wsmd__userfile_read(users, 0, &uf, why, sizeof(why)) != WSM_OK) {
        /* Strict: the file is rewritten, a line it cannot read would be lost. */
        fprintf(stderr, "wsmd: cannot read %s\n", why[0] ? why : users);
        return 1;
    }
    int rc = 0;
    enum wsm_err e = WSM_OK;
    const char *done = NULL;
    if (strcmp(verb, "list") == 0) {
        for (size_t i = 0; i < uf.n; i++)
            printf("%s\n", uf.users[i].name);
    } else if (strcmp(verb, "add") == 0 && name) {
        char pw[WSMD_MAX_PASSWORD];
        if (!wsmd__username_ok(name)) {
            fprintf(stderr, "wsmd: invalid user name\n");
            rc = 1;
        } else if (wsmd__userfile_find(&uf, name) && !force) {
            fprintf(stderr,
                    "wsmd: user %s is already in %s (to change the password: wsmd user "
                    "add %s --users %s --force)\n",
                    name, users, name, users);
            rc = 1;
        } else if (read_new_password(pw, sizeof(pw)) != 0) {
            rc = 1;
        } else {
            e = wsmd__userfile_set(&uf, name, pw);
            explicit_bzero(pw, sizeof(pw));
            if (!e)
                e = wsmd__userfile_save(users, &uf);
            done = "added user %s to %s\n";
            if (!e && geteuid() == 0 && !getpwnam(name))
                /* The first hour's trap: as root, shells run as the local
                 * account of the same name. */
                fprintf(stderr,
                        "wsmd: note: %s is not a local account: wsmd run as root runs "
                        "its commands as the account of that name (create it: useradd "
                        "-m %s)\n",
                        name, name);
        }
    } else if (strcmp(verb, "del") == 0 && name) {
        e = wsmd__userfile_del(&uf, name);
        if (!e)
            e = wsmd__userfile_save(users, &uf);
        done = "removed user %s from %s\n";
    } else {
        rc = wsmd__main_usage(stderr);
    }
    if (e) {
        fprintf(stderr, "wsmd: %s: %s\n", name ? name : users, wsm_strerror(e));
        rc = 1;
    } else if (done && !rc) {
        printf(done, name, users);
    }
    wsmd__userfile_clear(&uf);
    return rc;
}
