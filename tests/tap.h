/* tap.h — a tiny TAP producer for the C test programs (Automake's TAP
 * driver reads it).  Each test program: tap_plan(n) or tap_plan_lazy(),
 * then ok()/is_close() per assertion, then return tap_done(). */
#ifndef VH_TAP_H
#define VH_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct tap_state {
    int planned;
    int run;
    int failed;
} tap_state;

static tap_state tap_state_of_program; /* one per test program, written only by these helpers */

static inline void tap_plan(int n)
{
    tap_state_of_program.planned = n;
    printf("1..%d\n", n);
    fflush(stdout);
}

static inline int ok(int pass, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline int ok(int pass, const char *fmt, ...)
{
    va_list ap;
    tap_state_of_program.run++;
    if (!pass)
        tap_state_of_program.failed++;
    printf("%s %d - ", pass ? "ok" : "not ok", tap_state_of_program.run);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    return pass;
}

/* Prints a diagnostic line ("# ..."). */
static inline void diag(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static inline void diag(const char *fmt, ...)
{
    va_list ap;
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

/* |got - want| <= abs_tol + rel_tol * |want|, and neither is NaN. */
static inline int is_close(double got, double want, double abs_tol,
                           double rel_tol, const char *what)
{
    int pass = isfinite(got) && isfinite(want) &&
               fabs(got - want) <= abs_tol + rel_tol * fabs(want);
    ok(pass, "%s: got %.10g, want %.10g", what, got, want);
    return pass;
}

/* Ends the program: a plan line when none was given up front, and the exit
 * status (0 only when every assertion passed and the plan was met). */
static inline int tap_done(void)
{
    if (tap_state_of_program.planned == 0)
        printf("1..%d\n", tap_state_of_program.run);
    else if (tap_state_of_program.planned != tap_state_of_program.run) {
        printf("# planned %d tests but ran %d\n", tap_state_of_program.planned,
               tap_state_of_program.run);
        return 1;
    }
    return tap_state_of_program.failed ? 1 : 0;
}

#endif
