/* stopping.h — when to stop (stop.rule):
 *
 *   relative  Stan ADVI's rule, bit for bit: at every ELBO evaluation the
 *             relative change |(previous - elbo) / elbo| (1 at the first,
 *             since Stan's previous value starts at 0) enters a circular
 *             buffer of max(floor(0.1 max_iterations / eval_every), 2)
 *             values; stop when their mean, or their upper median (element
 *             n/2 of the sorted buffer), is below the tolerance.
 *   mcse      on the ELBO estimates every iteration makes from its own
 *             gradient draws: stop when the mean over the newer half of
 *             the last `window` iterations differs from the mean over the
 *             older half by less than max(tolerance |ELBO|, z MCSE), MCSE
 *             the standard error of that difference.
 *   rhat      on the iterates of lambda: stop when the split-R-hat of the
 *             last `window` iterates (its four quarters taken as four
 *             chains) is below the threshold for every coordinate; the fit
 *             then returns the average of that window.
 *   none      only the budgets stop the run.
 *
 * mcse and rhat are checked at each quarter of the window. */
#ifndef VH_STOPPING_H
#define VH_STOPPING_H

#include <stddef.h>
#include <stdint.h>

typedef enum vh_rule {
    VH_RULE_RELATIVE = 1,
    VH_RULE_NONE = 2,
    VH_RULE_MCSE = 3,
    VH_RULE_RHAT = 4
} vh_rule;

/* Parses "relative", "mcse", "rhat", "none"; 0 when unknown. */
vh_rule vh_rule_parse(const char *name);

/* The running statistics of the quarters of a window (mcse: one value per
 * iteration; rhat: the n_params values of lambda).  Each quarter sums
 * x - ref and its square, ref the quarter's first value, so that the
 * variance of iterates far from 0 loses no digits. */
typedef struct vh_quarters {
    size_t width;          /* values per iteration */
    uint64_t length;       /* iterations per quarter */
    double *ref;           /* 5 x width: the ring of the last 4 quarters and the current */
    double *sum;           /* 5 x width */
    double *sq;            /* 5 x width */
    uint64_t filled;       /* iterations in the current quarter */
    size_t complete;       /* quarters completed so far */
    size_t current;        /* ring slot of the current quarter */
} vh_quarters;

typedef struct vh_stopping {
    vh_rule rule;
    double tolerance;
    /* relative: Stan's circular buffer */
    double *window;        /* relative changes, oldest first from `next` when full */
    double *scratch;       /* for the median, same length */
    size_t capacity;
    size_t count;
    size_t next;
    double previous;       /* the previous ELBO estimate; 0 before any, as in Stan */
    /* mcse and rhat */
    vh_quarters quarters;
    double z;              /* mcse */
    double threshold;      /* rhat */
    double *average;       /* rhat: n_params, the window's mean at the last check */
    double statistic;      /* the last check's R-hat (rhat) or |change| / bound (mcse); NaN before */
} vh_stopping;

/* Stan's window: max(floor(0.1 * max_iterations / eval_every), 2). */
int vh_stopping_init(vh_stopping *stop, vh_rule rule, double tolerance,
                     uint64_t max_iterations, uint64_t eval_every);
/* For mcse and rhat (a no-op returning 0 for the others): the window in
 * iterations (>= 4; rounded down to a multiple of 4), n_params for rhat,
 * z for mcse, the R-hat threshold for rhat.  -1 when out of memory. */
int vh_stopping_set_window(vh_stopping *stop, size_t n_params, uint64_t window, double z,
                           double threshold);
void vh_stopping_free(vh_stopping *stop);

/* Feeds the ELBO estimate of one evaluation.  *rel_change gets
 * |(previous - elbo) / elbo| (1 at the first, as in Stan).  Returns 1 and
 * sets *reason when the relative rule says stop. */
int vh_stopping_update(vh_stopping *stop, double elbo, double *rel_change,
                       const char **reason);

/* Feeds one iteration: lambda after its step and the ELBO estimate from
 * its gradient draws.  Returns 1 and sets *reason when mcse or rhat says
 * stop; for rhat, vh_stopping_average then holds the window's mean. */
int vh_stopping_iterate(vh_stopping *stop, const double *lambda, double elbo,
                        const char **reason);

/* rhat: the mean of lambda over the window at the last check; NULL before
 * the first check and for the other rules. */
const double *vh_stopping_average(const vh_stopping *stop);

/* The split-R-hat of k chains of N values each, from their means and
 * unbiased variances (Gelman et al., BDA3 11.4): sqrt(var+ / W), var+ =
 * (N - 1) / N W + B / N.  1 when every chain is constant and equal. */
double vh_rhat(const double *means, const double *variances, size_t k, double n);

#endif
