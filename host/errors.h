/* errors.h — how a failure travels inside the host to the one line the user
 * sees, and the exit statuses of DESIGN.md. */
#ifndef VH_ERRORS_H
#define VH_ERRORS_H

#include <stdarg.h>

enum {
    VH_EXIT_OK = 0,       /* done, converged or not */
    VH_EXIT_FAILURE = 1,  /* an unexpected failure (out of memory, I/O mid-run) */
    VH_EXIT_USAGE = 2,    /* bad command line, run file or data file */
    VH_EXIT_PLUGIN = 3,   /* a plugin could not be loaded or refused its config */
    VH_EXIT_NUMERIC = 4   /* the run failed numerically */
};

#define VH_ERR_SIZE 1024

/* The first failure of an operation.  `exit_code` is one of VH_EXIT_*;
 * `message` is one line: what, where, and what to do. */
typedef struct vh_err {
    int exit_code;
    char message[VH_ERR_SIZE];
} vh_err;

/* Records a failure: sets exit_code and formats the message.  Always
 * returns -1 so callers can write `return vh_err_set(...)`.  err may be
 * NULL. */
int vh_err_set(vh_err *err, int exit_code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int vh_err_setv(vh_err *err, int exit_code, const char *fmt, va_list ap);

/* Clears an error to "no failure". */
void vh_err_clear(vh_err *err);

#endif
