/*
 * categorical.c — the `categorical_target` target (component names are
 * unique across kinds, and `categorical` is the family that fits it): a
 * target over a finite set, n states with given
 * probabilities (`probs`, or `log_probs`; either may be unnormalized, the
 * exact log evidence being log sum_k p_k).  Its one coordinate is the
 * state's index k = 0..n-1, and `constrain` reports the state's value
 * (`values`, by default 1..n: a die's faces):
 *     log p~(k) = log p_k at k = 0, 1, ..., n-1;  -infinity elsewhere.
 * A density on a finite set has no gradient, so log_density refuses a
 * gradient request (VI_EUNSUPPORTED) and the host fits this target with
 * the score-function gradient and the categorical family.  It offers
 * vi.target.finite/1 (states 0..n-1), from which the host computes the
 * exact log evidence and the exact KL(q || p) of a fit.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

#include "target_util.h"

#define CATEGORICAL_MAX_STATES ((size_t)1 << 24)

typedef struct categorical_target {
    size_t n;
    double *log_p;      /* n */
    double *values;     /* n: what constrain reports */
    double *states;     /* n: 0, 1, ..., n-1 */
    vi_target_finite finite;
} categorical_target;

static const vi_option categorical_options[] = {
    {sizeof(vi_option), "probs", VI_OPTION_ARRAY, 0, NULL, -HUGE_VAL, HUGE_VAL,
     "probabilities of the states (n values > 0; normalized by their sum); or give "
     "log_probs"},
    {sizeof(vi_option), "log_probs", VI_OPTION_ARRAY, 0, NULL, -HUGE_VAL, HUGE_VAL,
     "log probabilities of the states (n finite values, up to a constant); or give probs"},
    {sizeof(vi_option), "values", VI_OPTION_ARRAY, 0, NULL, -HUGE_VAL, HUGE_VAL,
     "the value each state reports in the outputs (n values); default 1, 2, ..., n"},
    VI_OPTION_END};

static void categorical_destroy(void *self)
{
    categorical_target *t = (categorical_target *)self;
    if (t == NULL)
        return;
    free(t->log_p);
    free(t->values);
    free(t->states);
    free(t);
}

/* A vector option or data variable of any length; *n 0 when absent. */
static int read_vector(const vi_host *host, const vi_config *config, const char *key,
                       const double **data, size_t *n, vi_error *err)
{
    size_t shape[VI_MAX_RANK], ndim;
    int status = host->config_get_array(config, key, data, shape, &ndim);
    *n = 0;
    if (status == VI_ENOTFOUND)
        return VI_OK;
    if (status != VI_OK || ndim != 1)
        return vi_error_set(err, VI_ETYPE, "'%s' must be a vector of reals", key);
    *n = shape[0];
    if (*n == 0 || *n > CATEGORICAL_MAX_STATES)
        return vi_error_set(err, VI_EINVAL, "'%s' must have 1..%lu values, got %lu", key,
                            (unsigned long)CATEGORICAL_MAX_STATES, (unsigned long)*n);
    return VI_OK;
}

/* log_p from probs or log_probs (exactly one of them). */
static int read_probs(const vi_host *host, const vi_config *config, categorical_target *t,
                      vi_error *err)
{
    const double *probs = NULL, *log_probs = NULL;
    size_t np, nl, k;
    int status = read_vector(host, config, "probs", &probs, &np, err);
    if (status == VI_OK)
        status = read_vector(host, config, "log_probs", &log_probs, &nl, err);
    if (status != VI_OK)
        return status;
    if ((np == 0) == (nl == 0))
        return vi_error_set(err, VI_EINVAL, "give exactly one of 'probs' and 'log_probs'");
    t->n = np != 0 ? np : nl;
    if ((t->log_p = (double *)malloc(t->n * sizeof(double))) == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    for (k = 0; k < t->n; ++k) {
        t->log_p[k] = probs != NULL ? log(probs[k]) : log_probs[k];
        if (!isfinite(t->log_p[k]))
            return vi_error_set(err, VI_EINVAL, "'%s[%lu]' is %g: every state needs a "
                                "probability > 0 (leave impossible states out)",
                                probs != NULL ? "probs" : "log_probs", (unsigned long)k + 1UL,
                                probs != NULL ? probs[k] : log_probs[k]);
    }
    return VI_OK;
}

static int read_values(const vi_host *host, const vi_config *config, categorical_target *t,
                       vi_error *err)
{
    const double *values = NULL;
    size_t n, k;
    int status = read_vector(host, config, "values", &values, &n, err);
    if (status != VI_OK)
        return status;
    if (values != NULL && n != t->n)
        return vi_error_set(err, VI_EINVAL, "'values' has %lu entries but there are %lu "
                            "states", (unsigned long)n, (unsigned long)t->n);
    t->values = (double *)malloc(t->n * sizeof(double));
    t->states = (double *)malloc(t->n * sizeof(double));
    if (t->values == NULL || t->states == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    for (k = 0; k < t->n; ++k) {
        if (values != NULL && !isfinite(values[k]))
            return vi_error_set(err, VI_EINVAL, "'values[%lu]' must be finite",
                                (unsigned long)k + 1UL);
        t->values[k] = values != NULL ? values[k] : (double)(k + 1);
        t->states[k] = (double)k;
    }
    return VI_OK;
}

static int categorical_setup(const vi_host *host, const vi_config *config, void *self,
                             vi_error *err)
{
    categorical_target *t = (categorical_target *)self;
    int status = read_probs(host, config, t, err);
    if (status == VI_OK)
        status = read_values(host, config, t, err);
    t->finite.struct_size = sizeof t->finite;
    t->finite.n_states = t->n;
    t->finite.states = t->states;
    return status;
}

static int categorical_create(const vi_host *host, const vi_config *config, void **self,
                              vi_error *err)
{
    return tu_create(host, config, sizeof(categorical_target), categorical_setup,
                     categorical_destroy, self, err);
}

static size_t categorical_dim(const void *self)
{
    (void)self;
    return 1;
}

static const char *categorical_param_name(const void *self, size_t i)
{
    (void)self;
    return i == 0 ? "state" : NULL;
}

/* The state k at theta, or n when theta is not one of 0..n-1. */
static size_t state_of(const categorical_target *t, double theta)
{
    if (!(theta >= 0.0 && theta < (double)t->n) || theta != floor(theta))
        return t->n;
    return (size_t)theta;
}

static int categorical_log_density(const void *self, const double *theta, double *lp,
                                   double *grad, double *work, vi_error *err)
{
    const categorical_target *t = (const categorical_target *)self;
    size_t k = state_of(t, theta[0]);
    (void)work;
    if (grad != NULL)
        return vi_error_set(err, VI_EUNSUPPORTED, "a target over a finite set has no "
                            "gradient; fit it with objective.gradient: score");
    *lp = k < t->n ? t->log_p[k] : -INFINITY;
    return VI_OK;
}

static size_t categorical_constrained_dim(const void *self)
{
    (void)self;
    return 1;
}

static const char *categorical_constrained_name(const void *self, size_t i)
{
    (void)self;
    return i == 0 ? "value" : NULL;
}

static int categorical_constrain(const void *self, const double *theta, double *out,
                                 vi_error *err)
{
    const categorical_target *t = (const categorical_target *)self;
    size_t k = state_of(t, theta[0]);
    if (k >= t->n)
        return vi_error_set(err, VI_EDOMAIN, "theta = %g is not a state (0..%lu)", theta[0],
                            (unsigned long)t->n - 1UL);
    out[0] = t->values[k];
    return VI_OK;
}

static int categorical_log_evidence(const void *self, double *log_z, vi_error *err)
{
    const categorical_target *t = (const categorical_target *)self;
    (void)err;
    *log_z = vi_log_sum_exp(t->log_p, t->n);
    return VI_OK;
}

static const void *categorical_get_extension(const void *self, const char *id)
{
    const categorical_target *t = (const categorical_target *)self;
    return strcmp(id, VI_TARGET_FINITE_ID) == 0 ? &t->finite : NULL;
}

static const vi_target_desc categorical_target_desc = {
    .struct_size = sizeof(vi_target_desc),
    .kind = VI_KIND_TARGET,
    .name = "categorical_target",
    .summary = "a distribution over n states given by (log-)probabilities; exact log "
               "evidence and KL",
    .flags = 0,
    .options = categorical_options,
    .create = categorical_create,
    .destroy = categorical_destroy,
    .dim = categorical_dim,
    .param_name = categorical_param_name,
    .workspace_size = NULL,
    .log_density = categorical_log_density,
    .get_extension = categorical_get_extension,
    .constrained_dim = categorical_constrained_dim,
    .constrained_name = categorical_constrained_name,
    .constrain = categorical_constrain,
    .log_evidence = categorical_log_evidence};

static const vi_component_head *const categorical_components[] = {
    VI_COMPONENT(categorical_target_desc), NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "categorical_target",
    .version = "0.1.0",
    .description = "a target over a finite set of states (exact answers known)",
    .init = NULL,
    .deinit = NULL,
    .components = categorical_components};
