/* cli.h — the command line: `vihost run|list|describe`, --version, --help. */
#ifndef VH_CLI_H
#define VH_CLI_H

/* Parses argv, runs the command, prints any failure as one line on stderr
 * and returns the exit status of DESIGN.md. */
int vh_cli_main(int argc, char **argv);

#endif
