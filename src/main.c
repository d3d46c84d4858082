/* main.c - the `tether` program: everything happens in cli_main(). */
#include "cli/cli.h"

#include <signal.h>

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    return cli_main(argc, argv);
}
