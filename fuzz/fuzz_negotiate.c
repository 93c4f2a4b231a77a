/* Fuzz target: Negotiate Authorization values (the scheme and base64
 * parser, the token classifier, the handshake state machine) against a
 * real acceptor (gss-ntlmssp with a user file made at start-up). The input
 * is one or more header values separated by newlines, all on one
 * connection, as a client would send them one request after another. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "negotiate.h"
#include "ntlmseal.h"
#include "server.h"
#include "userfile.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct wsmd_nego *nego;
static char dir[] = "/tmp/wsmd-fuzz-nego-XXXXXX", path[64];

/* Replaces the daemon's logger (log.c is not linked in): one line per
 * refused token would flood the fuzzer's output. */
void wsmd__log(const char *fmt, ...)
{
    (void)fmt;
}

static void cleanup(void)
{
    wsmd__nego_free(nego);
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof(path), "%s/users", dir);
    struct wsmd_userfile uf = {0};
    if (wsmd__userfile_set(&uf, "alice", "Secret123!") != WSM_OK ||
        wsmd__userfile_save(path, &uf) != WSM_OK)
        abort();
    wsmd__userfile_clear(&uf);
    unsetenv("NTLM_USER_FILE");
    struct wsmd_nego_config cfg = {.users_path = path, .service = "HTTP@localhost"};
    if (wsmd__nego_new(&cfg, &nego) != WSM_OK || !wsmd__nego_load(nego))
        abort(); /* gss-ntlmssp missing */
    /* The file stays for the whole run (gss-ntlmssp reads it per login). */
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    struct wsmd_nego_conn *c = wsmd__nego_conn_new(nego);
    char *line = buf, *save = NULL;
    int legs = 0;
    for (char *l = strtok_r(line, "\n", &save); l && legs < 4; l = strtok_r(NULL, "\n", &save)) {
        unsigned char *tok = NULL;
        size_t tl = 0;
        char scheme[16] = "";
        if (wsmd__nego_parse_header(l, scheme, sizeof(scheme), &tok, &tl) == WSM_OK) {
            if (tl == 0 || tl > 65536 || !wsmd__nego_is_scheme(l))
                abort();
            (void)wsmd__nego_token_kind(tok, tl);
            /* The NTLM flags reader (ntlmseal.c) that the handshake runs
             * on every token: raw NTLMSSP or inside a SPNEGO NegTokenResp. */
            uint32_t fl;
            for (unsigned type = 1; type <= 3; type++)
                if (wsm__ntlm_token_flags(tok, tl, type, &fl) == 0 && type == 1)
                    abort();
            free(tok);
        }
        char *www = NULL;
        int done = 0;
        enum wsm_err e = wsmd__nego_step(c, l, &www, &done);
        if (e != WSM_OK && (www || done))
            abort();
        if (e == WSM_OK && !done && (!www || strncmp(www, scheme, strlen(scheme)) != 0))
            abort();
        if (done && !wsmd__nego_user(c))
            abort();
        free(www);
        legs++;
    }
    wsmd__nego_conn_free(c);
    free(buf);
    return 0;
}
