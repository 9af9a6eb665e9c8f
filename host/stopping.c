/* stopping.c — Stan ADVI's relative-tolerance rule (see stopping.h). */
#include "stopping.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

vh_rule vh_rule_parse(const char *name)
{
    if (strcmp(name, "relative") == 0)
        return VH_RULE_RELATIVE;
    if (strcmp(name, "none") == 0)
        return VH_RULE_NONE;
    return 0;
}

int vh_stopping_init(vh_stopping *stop, vh_rule rule, double tolerance,
                     uint64_t max_iterations, uint64_t eval_every)
{
    memset(stop, 0, sizeof *stop);
    stop->rule = rule;
    stop->tolerance = tolerance;
    double size = floor(0.1 * (double)max_iterations / (double)eval_every);
    stop->capacity = size > 2.0 ? (size_t)size : 2;
    stop->window = calloc(stop->capacity, sizeof *stop->window);
    stop->scratch = calloc(stop->capacity, sizeof *stop->scratch);
    stop->previous = 0.0;
    return stop->window && stop->scratch ? 0 : -1;
}

void vh_stopping_free(vh_stopping *stop)
{
    free(stop->window);
    free(stop->scratch);
    memset(stop, 0, sizeof *stop);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Stan takes element n/2 of the sorted window: the upper median. */
static double window_upper_median(vh_stopping *stop)
{
    memcpy(stop->scratch, stop->window, stop->count * sizeof *stop->scratch);
    qsort(stop->scratch, stop->count, sizeof *stop->scratch, compare_doubles);
    return stop->scratch[stop->count / 2];
}

int vh_stopping_update(vh_stopping *stop, double elbo, double *rel_change,
                       const char **reason)
{
    /* Stan divides by the new value: |(prev - new) / new|. */
    double rel = fabs((stop->previous - elbo) / elbo);
    stop->previous = elbo;
    *rel_change = rel;
    stop->window[stop->next] = rel;
    stop->next = (stop->next + 1) % stop->capacity;
    if (stop->count < stop->capacity)
        stop->count++;
    if (stop->rule != VH_RULE_RELATIVE)
        return 0;
    /* Summed oldest first, in the order Stan's circular buffer iterates. */
    size_t oldest = stop->count < stop->capacity ? 0 : stop->next;
    double sum = 0.0;
    for (size_t i = 0; i < stop->count; i++)
        sum += stop->window[(oldest + i) % stop->capacity];
    if (sum / (double)stop->count < stop->tolerance) {
        *reason = "mean relative ELBO change below tolerance";
        return 1;
    }
    if (window_upper_median(stop) < stop->tolerance) {
        *reason = "median relative ELBO change below tolerance";
        return 1;
    }
    return 0;
}
