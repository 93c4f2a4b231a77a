/* winrs: run a command on a remote host, with the syntax of winrs.exe. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "-?") || !strcmp(argv[1], "/?"))) {
        printf("usage: winrs -r:URL -u:USER -p:PASSWORD COMMAND...\n");
        return 0;
    }
    fprintf(stderr, "winrs: the remote shell client is not available in this version\n");
    return 1;
}
