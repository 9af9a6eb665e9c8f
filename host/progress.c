/* progress.c — the one-line progress display (see progress.h). */
#include "progress.h"

#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "engine.h"

void vh_progress_init(vh_progress *progress, int wanted, const char *label)
{
    progress->enabled = wanted && isatty(STDERR_FILENO);
    progress->label = label;
    progress->start = vh_now();
    progress->last_draw = 0.0;
    progress->elbo = NAN;
    progress->rel_change = NAN;
}

void vh_progress_note(vh_progress *progress, double elbo, double rel_change)
{
    progress->elbo = elbo;
    progress->rel_change = rel_change;
}

void vh_progress_tick(vh_progress *progress, uint64_t iteration)
{
    if (!progress->enabled)
        return;
    double now = vh_now();
    if (now - progress->last_draw < 0.1)
        return;
    progress->last_draw = now;
    double rate = iteration / fmax(now - progress->start, 1e-9);
    fprintf(stderr, "\r\033[K%s  iter %llu  ELBO %.6g  rel %.3g  %.0f it/s",
            progress->label, (unsigned long long)iteration, progress->elbo,
            progress->rel_change, rate);
    fflush(stderr);
}

void vh_progress_finish(vh_progress *progress)
{
    if (progress->enabled && progress->last_draw > 0.0) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
    }
}
