/* errors.c — recording the one-line failure the user will see. */
#include "errors.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

int vh_err_setv(vh_err *err, int exit_code, const char *fmt, va_list ap)
{
    if (err == NULL)
        return -1;
    err->exit_code = exit_code;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    /* The user sees exactly one line, whatever text (a file name, a value
     * from a file) ended up in the message, and no control character of
     * that text (an escape sequence) reaches the terminal. */
    for (char *c = err->message; *c != '\0'; c++)
        if (*c == '\n' || *c == '\r' || *c == '\t')
            *c = ' ';
        else if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    /* Bytes that are not UTF-8 (an argument, a file name) become '?' too,
     * so the line is text to every terminal and tool. */
    for (unsigned char *p = (unsigned char *)err->message; *p != '\0';) {
        size_t n = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 && *p >= 0xC2 ? 2
                 : (*p & 0xF0) == 0xE0 ? 3 : (*p & 0xF8) == 0xF0 && *p <= 0xF4 ? 4 : 0;
        size_t k = 1;
        while (k < n && (p[k] & 0xC0) == 0x80)
            k++;
        if (n == 0 || k < n) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
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
