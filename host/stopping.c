/* stopping.c — the stopping rules (see stopping.h). */
#include "stopping.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define VH_QUARTERS 4
#define VH_RING (VH_QUARTERS + 1)

vh_rule vh_rule_parse(const char *name)
{
    if (strcmp(name, "relative") == 0)
        return VH_RULE_RELATIVE;
    if (strcmp(name, "mcse") == 0)
        return VH_RULE_MCSE;
    if (strcmp(name, "rhat") == 0)
        return VH_RULE_RHAT;
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
    stop->statistic = NAN;
    /* Stan: static_cast<int>(std::max(0.1 * max_iterations / eval_elbo, 2.0)). */
    double size = floor(0.1 * (double)max_iterations / (double)eval_every);
    /* Only the relative rule reads the buffer back: the others need no
     * more than the previous value (a huge max_iterations under a time
     * budget must not ask for memory it never uses). */
    stop->capacity = rule == VH_RULE_RELATIVE && size > 2.0 ? (size_t)size : 2;
    stop->window = calloc(stop->capacity, sizeof *stop->window);
    stop->scratch = calloc(stop->capacity, sizeof *stop->scratch);
    stop->previous = 0.0;
    return stop->window && stop->scratch ? 0 : -1;
}

int vh_stopping_set_window(vh_stopping *stop, size_t n_params, uint64_t window, double z,
                           double threshold)
{
    vh_quarters *q = &stop->quarters;
    if (stop->rule != VH_RULE_MCSE && stop->rule != VH_RULE_RHAT)
        return 0;
    stop->z = z;
    stop->threshold = threshold;
    q->width = stop->rule == VH_RULE_RHAT ? n_params : 1;
    q->length = window >= VH_QUARTERS ? window / VH_QUARTERS : 1;
    q->ref = calloc(VH_RING * q->width + 1, sizeof *q->ref);
    q->sum = calloc(VH_RING * q->width + 1, sizeof *q->sum);
    q->sq = calloc(VH_RING * q->width + 1, sizeof *q->sq);
    stop->average = calloc(q->width + 1, sizeof *stop->average);
    return q->ref && q->sum && q->sq && stop->average ? 0 : -1;
}

void vh_stopping_free(vh_stopping *stop)
{
    free(stop->window);
    free(stop->scratch);
    free(stop->quarters.ref);
    free(stop->quarters.sum);
    free(stop->quarters.sq);
    free(stop->average);
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

double vh_rhat(const double *means, const double *variances, size_t k, double n)
{
    double grand = 0.0, within = 0.0, between = 0.0;
    for (size_t j = 0; j < k; j++) {
        grand += means[j];
        within += variances[j];
    }
    grand /= (double)k;
    within /= (double)k;
    for (size_t j = 0; j < k; j++)
        between += (means[j] - grand) * (means[j] - grand);
    between *= n / (double)(k - 1);
    if (!(within > 0.0))
        return between > 0.0 ? INFINITY : 1.0;
    double var_plus = (n - 1.0) / n * within + between / n;
    return sqrt(var_plus / within);
}

/* Adds one iteration's values to the current quarter; 1 when that
 * completed a quarter. */
static int quarters_add(vh_quarters *q, const double *x)
{
    size_t w = q->width, c = q->current * w;
    if (q->filled == 0) {
        memcpy(q->ref + c, x, w * sizeof *x);
        memset(q->sum + c, 0, w * sizeof *q->sum);
        memset(q->sq + c, 0, w * sizeof *q->sq);
    }
    for (size_t i = 0; i < w; i++) {
        double d = x[i] - q->ref[c + i];
        q->sum[c + i] += d;
        q->sq[c + i] += d * d;
    }
    if (++q->filled < q->length)
        return 0;
    q->filled = 0;
    q->complete++;
    q->current = (q->current + 1) % VH_RING;
    return 1;
}

/* Mean and unbiased variance of value i in the quarter that is `age`
 * quarters old (1: the newest complete one). */
static void quarter_moments(const vh_quarters *q, size_t age, size_t i, double *mean,
                            double *var)
{
    size_t slot = (q->current + VH_RING - age) % VH_RING, at = slot * q->width + i;
    double n = (double)q->length, m = q->sum[at] / n;
    *mean = q->ref[at] + m;
    *var = n > 1.0 ? fmax(q->sq[at] - n * m * m, 0.0) / (n - 1.0) : 0.0;
}

/* rhat: the largest R-hat over lambda's coordinates, and the window mean. */
static int check_rhat(vh_stopping *stop, const char **reason)
{
    const vh_quarters *q = &stop->quarters;
    double worst = 1.0;
    for (size_t i = 0; i < q->width; i++) {
        double means[VH_QUARTERS], vars[VH_QUARTERS], total = 0.0;
        for (size_t a = 0; a < VH_QUARTERS; a++) {
            quarter_moments(q, VH_QUARTERS - a, i, &means[a], &vars[a]);
            total += means[a];
        }
        stop->average[i] = total / VH_QUARTERS;
        double r = vh_rhat(means, vars, VH_QUARTERS, (double)q->length);
        if (!(r <= worst))
            worst = r;
    }
    stop->statistic = worst;
    if (worst < stop->threshold) {
        *reason = "split-R-hat of the iterates below the threshold";
        return 1;
    }
    return 0;
}

/* mcse: the change between the window's halves against its bound. */
static int check_mcse(vh_stopping *stop, const char **reason)
{
    const vh_quarters *q = &stop->quarters;
    double half[2] = {0.0, 0.0}, var_of_mean[2] = {0.0, 0.0};
    double n = (double)q->length;
    for (size_t h = 0; h < 2; h++) {
        double m[2], v[2];
        /* Older half: quarters 4 and 3 old; newer half: 2 and 1. */
        quarter_moments(q, 4 - 2 * h, 0, &m[0], &v[0]);
        quarter_moments(q, 3 - 2 * h, 0, &m[1], &v[1]);
        double mean = 0.5 * (m[0] + m[1]);
        /* The pooled variance of the half's 2n values about its mean. */
        double ss = (n - 1.0) * (v[0] + v[1]) + n * ((m[0] - mean) * (m[0] - mean) +
                                                     (m[1] - mean) * (m[1] - mean));
        half[h] = mean;
        var_of_mean[h] = 2.0 * n > 1.0 ? ss / (2.0 * n - 1.0) / (2.0 * n) : 0.0;
    }
    double change = fabs(half[1] - half[0]);
    double mcse = sqrt(var_of_mean[0] + var_of_mean[1]);
    double bound = fmax(stop->tolerance * fabs(half[1]), stop->z * mcse);
    stop->statistic = bound > 0.0 ? change / bound : INFINITY;
    if (isfinite(change) && change < bound) {
        *reason = "windowed ELBO change within its Monte Carlo error";
        return 1;
    }
    return 0;
}

int vh_stopping_iterate(vh_stopping *stop, const double *lambda, double elbo,
                        const char **reason)
{
    if (stop->rule != VH_RULE_MCSE && stop->rule != VH_RULE_RHAT)
        return 0;
    vh_quarters *q = &stop->quarters;
    if (!quarters_add(q, stop->rule == VH_RULE_RHAT ? lambda : &elbo) ||
        q->complete < VH_QUARTERS)
        return 0;
    return stop->rule == VH_RULE_RHAT ? check_rhat(stop, reason) : check_mcse(stop, reason);
}

const double *vh_stopping_average(const vh_stopping *stop)
{
    if (stop->rule != VH_RULE_RHAT || stop->quarters.complete < VH_QUARTERS)
        return NULL;
    return stop->average;
}
