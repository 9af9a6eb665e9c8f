/* errors.c — recording the one-line failure the user will see. */
#include "errors.h"

#include <stdio.h>
#include <string.h>

int vh_err_setv(vh_err *err, int exit_code, const char *fmt, va_list ap)
{
    if (err == NULL)
        return -1;
    err->exit_code = exit_code;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    /* The user sees exactly one line, whatever text (a file name, a value
     * from a file) ended up in the message. */
    for (char *c = err->message; *c != '\0'; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    return -1;
}

int vh_err_set(vh_err *err, int exit_code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vh_err_setv(err, exit_code, fmt, ap);
    va_end(ap);
    return -1;
}

void vh_err_clear(vh_err *err)
{
    if (err == NULL)
        return;
    err->exit_code = VH_EXIT_OK;
    err->message[0] = '\0';
}
