/* Fuzz target: WINRS_SKIP_CMD_SHELL's command line splitter and PATH
 * lookup (src/shell/cmdline.c). Splits the input as a Windows command line
 * and checks the invariants: as many arguments as told, none empty unless
 * quoted, no argument longer than the line, the candidate paths each end
 * in "/" and the program (or are the program when it names a path). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *line = malloc(size + 1);
    if (!line)
        return 0;
    memcpy(line, data, size);
    line[size] = '\0';
    size_t argc = 0;
    char **argv = shell__split_cmdline(line, &argc);
    size_t len = strlen(line);
    if (argv) {
        size_t n = 0;
        while (argv[n]) {
            if (strlen(argv[n]) > len)
                abort();
            n++;
        }
        if (n != argc || n == 0)
            abort();
        char *const envp[] = {(char *)"PATH=/a::/b/c", (char *)"X=1", NULL};
        char **paths = shell__exec_paths(argv[0], envp, "/bin");
        if (argv[0][0] && !paths)
            abort();
        for (size_t i = 0; paths && paths[i]; i++) {
            size_t pl = strlen(paths[i]), al = strlen(argv[0]);
            if (strchr(argv[0], '/')) {
                if (strcmp(paths[i], argv[0]) != 0 || paths[1])
                    abort();
            } else if (pl < al + 2 || strcmp(paths[i] + pl - al, argv[0]) != 0 ||
                       paths[i][pl - al - 1] != '/') {
                abort();
            }
        }
        free(paths);
        free(argv);
    } else {
        /* NULL: a blank line (or no memory, argc > 0). */
        if (argc == 0 && strspn(line, " \t\r\n") != len)
            abort();
    }
    free(line);
    return 0;
}
