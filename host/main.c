/* main.c — the vihost executable. */
#include "cli.h"

int main(int argc, char **argv)
{
    return vh_cli_main(argc, argv);
}
