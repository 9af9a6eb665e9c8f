/*
 * vihost/sdk.h — small inline helpers for plugin authors.
 *
 * Everything here is `static inline` and header-only, so a plugin that uses
 * it still links against nothing of vihost.  Every function is [any-thread]:
 * none keeps state, and none writes a global (not even `signgam`, which is
 * why vi_lgamma exists).
 *
 * Contents:
 *   errors        vi_error_set
 *   arithmetic    vi_log1p_exp, vi_log_sum_exp, vi_log_diff_exp,
 *                 vi_inv_logit, vi_lgamma
 *   densities     vi_normal_lpdf, vi_student_t_lpdf, vi_cauchy_lpdf
 *   transforms    vi_exp_transform
 *   descriptors   VI_COMPONENT, VI_OPTION_END
 *   names         vi_index_name, vi_index2_name
 *   configuration vi_config_get_double_or, vi_config_get_int_or,
 *                 vi_config_get_array_required, vi_shape_count
 *
 * Compiles warning-free as C11 and as C++.
 */
#ifndef VIHOST_SDK_H
#define VIHOST_SDK_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include <vihost/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Lets the compiler check vi_error_set's format string against its
 * arguments. */
#if defined(__GNUC__) || defined(__clang__)
#define VI_PRINTF_LIKE(fmt_index, first_arg) \
    __attribute__((format(printf, fmt_index, first_arg)))
#else
#define VI_PRINTF_LIKE(fmt_index, first_arg)
#endif

/* log(2 pi) and log(pi), spelled out because M_PI is not standard C. */
#define VI_LOG_2PI 1.8378770664093454835606594728112
#define VI_LOG_PI 1.1447298858494001741434273513531

/* ------------------------------------------------------------------ */
/* Errors                                                               */
/* ------------------------------------------------------------------ */

/* Fills `err` (when non-NULL) with `code` and a printf-formatted message,
 * truncated to fit, and returns `code`, so an error path is one line:
 *     return vi_error_set(err, VI_EINVAL, "option 'sigma' must be > 0, got %g", s);
 * Write one line without a trailing period, naming the option or data
 * variable at fault. */
static inline int vi_error_set(vi_error *err, int code, const char *fmt, ...)
    VI_PRINTF_LIKE(3, 4);
static inline int vi_error_set(vi_error *err, int code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list args;
        err->code = code;
        va_start(args, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, args);
        va_end(args);
    }
    return code;
}

/* ------------------------------------------------------------------ */
/* Stable arithmetic                                                    */
/* ------------------------------------------------------------------ */

/* log(1 + exp(x)) (softplus) without overflow for large x or loss of
 * precision for very negative x. */
static inline double vi_log1p_exp(double x)
{
    if (x > 0.0)
        return x + log1p(exp(-x));
    return log1p(exp(x));
}

/* log(sum_i exp(x[i])) over n values, shifted by the maximum so nothing
 * overflows.  n = 0 gives -INFINITY (the log of an empty sum); any +inf
 * gives +inf; a NaN gives NaN. */
static inline double vi_log_sum_exp(const double *x, size_t n)
{
    double max = -HUGE_VAL, sum = 0.0;
    size_t i;
    for (i = 0; i < n; ++i) {
        if (isnan(x[i]))
            return x[i];
        if (x[i] > max)
            max = x[i];
    }
    if (isinf(max)) /* all -inf (or n = 0), or some +inf */
        return max;
    for (i = 0; i < n; ++i)
        sum += exp(x[i] - max);
    return max + log(sum);
}

/* log(exp(a) - exp(b)) for a >= b.  a == b gives -INFINITY; a < b gives
 * NaN (the difference would be negative).  Uses log(-expm1(.)) when the
 * two are close and log1p(-exp(.)) when they are far apart, the accurate
 * branch of each (Maechler, "Accurately computing log(1 - exp(-|a|))"). */
static inline double vi_log_diff_exp(double a, double b)
{
    double d;
    if (isnan(a) || isnan(b) || a < b)
        return NAN;
    if (b == -HUGE_VAL)
        return a;
    if (a == HUGE_VAL)
        return b == HUGE_VAL ? NAN : HUGE_VAL;
    d = b - a; /* <= 0 */
    if (d > -0.69314718055994530942) /* -log 2 */
        return a + log(-expm1(d));
    return a + log1p(-exp(d));
}

/* The logistic sigmoid 1 / (1 + exp(-x)), without overflow in exp. */
static inline double vi_inv_logit(double x)
{
    if (x >= 0.0)
        return 1.0 / (1.0 + exp(-x));
    {
        double e = exp(x);
        return e / (1.0 + e);
    }
}

/* log Gamma(x) for x > 0 (NaN otherwise), to about 1e-14 relative error
 * (absolute near the zeros at 1 and 2).  Unlike lgamma from <math.h> it
 * writes no global (`signgam`), so it is safe in [any-thread] code.
 * Lanczos approximation, g = 7, nine terms; reflection below 0.5. */
static inline double vi_lgamma(double x)
{
    static const double coef[9] = {
        0.99999999999980993,     676.5203681218851,
        -1259.1392167224028,     771.32342877765313,
        -176.61502916214059,     12.507343278686905,
        -0.13857109526572012,    9.9843695780195716e-6,
        1.5056327351493116e-7};
    double sum, t;
    int k;
    if (!(x > 0.0))
        return NAN;
    if (x == HUGE_VAL)
        return HUGE_VAL;
    if (x < 0.5) /* Gamma(x) Gamma(1 - x) = pi / sin(pi x) */
        return VI_LOG_PI - log(sin(3.14159265358979323846 * x)) -
               vi_lgamma(1.0 - x);
    x -= 1.0;
    sum = coef[0];
    for (k = 1; k < 9; ++k)
        sum += coef[k] / (x + (double)k);
    t = x + 7.5;
    return 0.5 * VI_LOG_2PI + (x + 0.5) * log(t) - t + log(sum);
}

/* ------------------------------------------------------------------ */
/* Log densities with gradients                                         */
/* ------------------------------------------------------------------ */

/* Writes `value` through `p` when p is non-NULL. */
static inline void vi_put_(double *p, double value)
{
    if (p != NULL)
        *p = value;
}

/* log N(x | mu, sigma^2), the full normalized density:
 *     -0.5 ((x - mu) / sigma)^2 - log sigma - 0.5 log(2 pi).
 * Its partial derivatives go to d_x, d_mu, d_sigma, any of which may be
 * NULL:  d_x = -(x - mu) / sigma^2,  d_mu = -d_x,
 *        d_sigma = (((x - mu) / sigma)^2 - 1) / sigma.
 * sigma must be > 0; otherwise everything is NaN. */
static inline double vi_normal_lpdf(double x, double mu, double sigma,
                                    double *d_x, double *d_mu,
                                    double *d_sigma)
{
    double z;
    if (!(sigma > 0.0)) {
        vi_put_(d_x, NAN);
        vi_put_(d_mu, NAN);
        vi_put_(d_sigma, NAN);
        return NAN;
    }
    z = (x - mu) / sigma;
    vi_put_(d_x, -z / sigma);
    vi_put_(d_mu, z / sigma);
    vi_put_(d_sigma, (z * z - 1.0) / sigma);
    return -0.5 * z * z - log(sigma) - 0.5 * VI_LOG_2PI;
}

/* log Student-t(x | nu, mu, sigma), the full normalized density with nu
 * degrees of freedom, location mu and scale sigma:
 *     lgamma((nu+1)/2) - lgamma(nu/2) - 0.5 log(nu pi) - log sigma
 *       - (nu+1)/2 log1p(z^2 / nu),   z = (x - mu) / sigma.
 * Partial derivatives (any pointer may be NULL; nu is held fixed):
 *     d_x = -(nu+1) z / (sigma (nu + z^2)),  d_mu = -d_x,
 *     d_sigma = ((nu+1) z^2 / (nu + z^2) - 1) / sigma.
 * nu and sigma must be > 0; otherwise everything is NaN. */
static inline double vi_student_t_lpdf(double x, double nu, double mu,
                                       double sigma, double *d_x,
                                       double *d_mu, double *d_sigma)
{
    double z, z2, w;
    if (!(sigma > 0.0) || !(nu > 0.0)) {
        vi_put_(d_x, NAN);
        vi_put_(d_mu, NAN);
        vi_put_(d_sigma, NAN);
        return NAN;
    }
    z = (x - mu) / sigma;
    z2 = z * z;
    w = (nu + 1.0) / (nu + z2); /* (nu+1) / (nu + z^2), bounded */
    vi_put_(d_x, -w * z / sigma);
    vi_put_(d_mu, w * z / sigma);
    vi_put_(d_sigma, (w * z2 - 1.0) / sigma);
    return vi_lgamma(0.5 * (nu + 1.0)) - vi_lgamma(0.5 * nu) -
           0.5 * (log(nu) + VI_LOG_PI) - log(sigma) -
           0.5 * (nu + 1.0) * log1p(z2 / nu);
}

/* log Cauchy(x | mu, sigma), the full normalized density:
 *     -log pi - log sigma - log1p(z^2),   z = (x - mu) / sigma.
 * Partial derivatives (any pointer may be NULL):
 *     d_x = -2 z / (sigma (1 + z^2)),  d_mu = -d_x,
 *     d_sigma = (2 z^2 / (1 + z^2) - 1) / sigma.
 * sigma must be > 0; otherwise everything is NaN. */
static inline double vi_cauchy_lpdf(double x, double mu, double sigma,
                                    double *d_x, double *d_mu,
                                    double *d_sigma)
{
    double z, z2, w;
    if (!(sigma > 0.0)) {
        vi_put_(d_x, NAN);
        vi_put_(d_mu, NAN);
        vi_put_(d_sigma, NAN);
        return NAN;
    }
    z = (x - mu) / sigma;
    z2 = z * z;
    w = 2.0 / (1.0 + z2);
    vi_put_(d_x, -w * z / sigma);
    vi_put_(d_mu, w * z / sigma);
    vi_put_(d_sigma, (w * z2 - 1.0) / sigma);
    return -VI_LOG_PI - log(sigma) - log1p(z2);
}

/* ------------------------------------------------------------------ */
/* Transforms to unconstrained space                                    */
/* ------------------------------------------------------------------ */

/* The map from unconstrained u to a positive parameter, sigma = exp(u).
 * Writes log|d sigma / d u| = u into *log_jacobian (when non-NULL): add it
 * to the log density so the target is a density over u.  Its derivative
 * in u is 1, so a target adds 1 to the gradient entry of u, besides the
 * chain-rule term d lp / d sigma * sigma. */
static inline double vi_exp_transform(double u, double *log_jacobian)
{
    vi_put_(log_jacobian, u);
    return exp(u);
}

/* ------------------------------------------------------------------ */
/* Descriptors and option tables                                        */
/* ------------------------------------------------------------------ */

/* A descriptor object (vi_target_desc, vi_family_desc or
 * vi_optimizer_desc) as an entry of vi_plugin.components:
 *     static const vi_component_head *const components[] = {
 *         VI_COMPONENT(my_target), NULL};
 * Takes the descriptor itself, not its address.
 * In C++, also declare the entry `extern "C"`, since a namespace-scope
 * const has internal linkage there:
 *     extern "C" VI_EXPORT const vi_plugin vi_plugin_entry = {...};     */
#define VI_COMPONENT(desc) ((const vi_component_head *)(const void *)&(desc))

/* The entry that ends an option table (key NULL), with the stride the
 * host walks the table by. */
#define VI_OPTION_END {sizeof(vi_option), NULL, (vi_option_type)0, 0, NULL, 0.0, 0.0, NULL}

/* ------------------------------------------------------------------ */
/* Parameter names                                                      */
/* ------------------------------------------------------------------ */

/* Writes "base[i+1]" (1-based, like Stan) into buf. */
static inline void vi_index_name(char *buf, size_t size, const char *base,
                                 size_t i)
{
    snprintf(buf, size, "%s[%zu]", base, i + 1);
}

/* Writes "base[i+1,j+1]" (1-based, like Stan) into buf. */
static inline void vi_index2_name(char *buf, size_t size, const char *base,
                                  size_t i, size_t j)
{
    snprintf(buf, size, "%s[%zu,%zu]", base, i + 1, j + 1);
}

/* ------------------------------------------------------------------ */
/* Configuration                                                        */
/* ------------------------------------------------------------------ */

/* The number of elements of an array of rank ndim (1 for a scalar). */
static inline size_t vi_shape_count(const size_t *shape, size_t ndim)
{
    size_t count = 1, k;
    for (k = 0; k < ndim; ++k)
        count *= shape[k];
    return count;
}

/* Reads a real option or data variable into *out; *out = fallback when it
 * is absent.  (The host fills in option-table defaults, so the fallback
 * matters only for keys outside the table or a host that does not.)
 * Returns VI_OK or a status with err naming `key`. */
static inline int vi_config_get_double_or(const vi_host *host,
                                          const vi_config *config,
                                          const char *key, double fallback,
                                          double *out, vi_error *err)
{
    int status = host->config_get_double(config, key, out);
    if (status == VI_ENOTFOUND) {
        *out = fallback;
        return VI_OK;
    }
    if (status == VI_ETYPE)
        return vi_error_set(err, status, "'%s' must be a real number", key);
    if (status != VI_OK)
        return vi_error_set(err, status, "could not read '%s' (status %d)",
                            key, status);
    return VI_OK;
}

/* As vi_config_get_double_or, for a whole number. */
static inline int vi_config_get_int_or(const vi_host *host,
                                       const vi_config *config,
                                       const char *key, int64_t fallback,
                                       int64_t *out, vi_error *err)
{
    int status = host->config_get_int(config, key, out);
    if (status == VI_ENOTFOUND) {
        *out = fallback;
        return VI_OK;
    }
    if (status == VI_ETYPE)
        return vi_error_set(err, status, "'%s' must be a whole number", key);
    if (status != VI_OK)
        return vi_error_set(err, status, "could not read '%s' (status %d)",
                            key, status);
    return VI_OK;
}

/* Reads a real array that must be present, from the options or the data
 * file; shape needs room for VI_MAX_RANK extents.  When it is absent the
 * error says where it may be given. */
static inline int vi_config_get_array_required(const vi_host *host,
                                               const vi_config *config,
                                               const char *key,
                                               const double **data,
                                               size_t *shape, size_t *ndim,
                                               vi_error *err)
{
    int status = host->config_get_array(config, key, data, shape, ndim);
    if (status == VI_ENOTFOUND)
        return vi_error_set(err, status,
                            "'%s' is missing: give it as an option or as a "
                            "variable in the target's data file",
                            key);
    if (status == VI_ETYPE)
        return vi_error_set(err, status, "'%s' must be a real array", key);
    if (status != VI_OK)
        return vi_error_set(err, status, "could not read '%s' (status %d)",
                            key, status);
    return VI_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* VIHOST_SDK_H */
