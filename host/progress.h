/* progress.h — the one-line progress display on stderr (iteration, ELBO,
 * relative change, iterations per second), drawn only when stderr is a
 * terminal and at most ten times a second. */
#ifndef VH_PROGRESS_H
#define VH_PROGRESS_H

#include <stdint.h>

typedef struct vh_progress {
    int enabled;
    const char *label;        /* "meanfield", shown first */
    double start;             /* vh_now() at init */
    double last_draw;         /* when the line was last drawn */
    double elbo;              /* latest fresh ELBO estimate (NaN: none) */
    double rel_change;        /* latest relative change (NaN: none) */
} vh_progress;

/* Enabled when `wanted` and stderr is a terminal. */
void vh_progress_init(vh_progress *progress, int wanted, const char *label);
/* Records the latest evaluation. */
void vh_progress_note(vh_progress *progress, double elbo, double rel_change);
/* Redraws the line if a tenth of a second has passed since the last. */
void vh_progress_tick(vh_progress *progress, uint64_t iteration);
/* Clears the line. */
void vh_progress_finish(vh_progress *progress);

#endif
