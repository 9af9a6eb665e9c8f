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
 *                 vi_inv_logit, vi_lgamma, vi_digamma, vi_lbeta, vi_lchoose
 *   densities     vi_normal_lpdf, vi_student_t_lpdf, vi_cauchy_lpdf,
 *                 vi_half_normal_lpdf, vi_half_cauchy_lpdf,
 *                 vi_exponential_lpdf, vi_gamma_lpdf, vi_lognormal_lpdf,
 *                 vi_beta_lpdf, vi_bernoulli_logit_lpmf,
 *                 vi_poisson_log_lpmf, vi_binomial_logit_lpmf,
 *                 vi_log_mix, vi_log_mix_n
 *   transforms    vi_exp_transform; lower_bound, upper_bound, interval,
 *                 ordered, simplex, corr_cholesky: vi_*_constrain,
 *                 vi_*_unconstrain, vi_*_backward; vi_simplex_log_backward
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

/* The digamma function psi(x) = d/dx log Gamma(x) for x > 0 (NaN
 * otherwise), to about 1e-15: psi(x) = psi(x + 1) - 1/x carries x up to
 * 10 or more, where the asymptotic series
 *     log x - 1/(2x) - 1/(12x^2) + 1/(120x^4) - 1/(252x^6) + 1/(240x^8)
 *       - 1/(132x^10) + 691/(32760x^12)
 * is accurate.  Writes no global; used for the shape gradients of the
 * gamma and beta densities. */
static inline double vi_digamma(double x)
{
    double shift = 0.0, inv, inv2;
    if (!(x > 0.0))
        return NAN;
    if (x == HUGE_VAL)
        return HUGE_VAL;
    while (x < 10.0) {
        shift -= 1.0 / x;
        x += 1.0;
    }
    inv = 1.0 / x;
    inv2 = inv * inv;
    return shift + log(x) - 0.5 * inv -
           inv2 * (1.0 / 12.0 -
                   inv2 * (1.0 / 120.0 -
                           inv2 * (1.0 / 252.0 -
                                   inv2 * (1.0 / 240.0 -
                                           inv2 * (1.0 / 132.0 -
                                                   inv2 * 691.0 / 32760.0)))));
}

/* log B(a, b) = log Gamma(a) + log Gamma(b) - log Gamma(a + b) for a, b > 0
 * (NaN otherwise). */
static inline double vi_lbeta(double a, double b)
{
    return vi_lgamma(a) + vi_lgamma(b) - vi_lgamma(a + b);
}

/* log of the binomial coefficient C(n, k) for whole 0 <= k <= n (given as
 * doubles, as data arrive); NaN otherwise. */
static inline double vi_lchoose(double n, double k)
{
    if (!(k >= 0.0 && k <= n) || k != floor(k) || n != floor(n))
        return NAN;
    return vi_lgamma(n + 1.0) - vi_lgamma(k + 1.0) - vi_lgamma(n - k + 1.0);
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

/* Writes zero through each non-NULL pointer: the derivatives of a log
 * density outside its support, where it is -INFINITY. */
static inline void vi_put_zero3_(double *a, double *b, double *c)
{
    vi_put_(a, 0.0);
    vi_put_(b, 0.0);
    vi_put_(c, 0.0);
}

/* Writes NaN through each non-NULL pointer: invalid parameters. */
static inline double vi_put_nan3_(double *a, double *b, double *c)
{
    vi_put_(a, NAN);
    vi_put_(b, NAN);
    vi_put_(c, NAN);
    return NAN;
}

/* The densities below follow one convention.  Each returns the full
 * normalized log density (or mass) and writes its partial derivatives
 * through the d_* pointers, any of which may be NULL.  Invalid parameters
 * (a scale <= 0, a count that is not a whole number) give NaN everywhere.
 * A point outside the support (x < 0 for a half-normal) gives -INFINITY,
 * which log_density may return as "zero density", and zero derivatives. */

/* log HalfNormal(x | sigma) = log 2 + log N(x | 0, sigma^2) for x >= 0:
 *     log 2 - 0.5 log(2 pi) - log sigma - 0.5 (x / sigma)^2.
 *     d_x = -x / sigma^2,  d_sigma = ((x / sigma)^2 - 1) / sigma. */
static inline double vi_half_normal_lpdf(double x, double sigma, double *d_x,
                                         double *d_sigma)
{
    double z;
    if (!(sigma > 0.0) || isnan(x))
        return vi_put_nan3_(d_x, d_sigma, NULL);
    if (x < 0.0) {
        vi_put_zero3_(d_x, d_sigma, NULL);
        return -HUGE_VAL;
    }
    z = x / sigma;
    vi_put_(d_x, -z / sigma);
    vi_put_(d_sigma, (z * z - 1.0) / sigma);
    return 0.69314718055994530942 - 0.5 * VI_LOG_2PI - log(sigma) -
           0.5 * z * z;
}

/* log HalfCauchy(x | sigma) = log 2 + log Cauchy(x | 0, sigma) for x >= 0:
 *     log 2 - log pi - log sigma - log1p((x / sigma)^2).
 *     d_x = -2 z / (sigma (1 + z^2)),  d_sigma = (2 z^2 / (1 + z^2) - 1) / sigma,
 * z = x / sigma. */
static inline double vi_half_cauchy_lpdf(double x, double sigma, double *d_x,
                                         double *d_sigma)
{
    double z, z2, w;
    if (!(sigma > 0.0) || isnan(x))
        return vi_put_nan3_(d_x, d_sigma, NULL);
    if (x < 0.0) {
        vi_put_zero3_(d_x, d_sigma, NULL);
        return -HUGE_VAL;
    }
    z = x / sigma;
    z2 = z * z;
    w = 2.0 / (1.0 + z2);
    vi_put_(d_x, -w * z / sigma);
    vi_put_(d_sigma, (w * z2 - 1.0) / sigma);
    return 0.69314718055994530942 - VI_LOG_PI - log(sigma) - log1p(z2);
}

/* log Exponential(x | rate) = log rate - rate x for x >= 0.
 *     d_x = -rate,  d_rate = 1 / rate - x. */
static inline double vi_exponential_lpdf(double x, double rate, double *d_x,
                                         double *d_rate)
{
    if (!(rate > 0.0) || isnan(x))
        return vi_put_nan3_(d_x, d_rate, NULL);
    if (x < 0.0) {
        vi_put_zero3_(d_x, d_rate, NULL);
        return -HUGE_VAL;
    }
    vi_put_(d_x, -rate);
    vi_put_(d_rate, 1.0 / rate - x);
    return log(rate) - rate * x;
}

/* log Gamma(x | shape, rate) for x > 0 (rate parameterization, mean
 * shape / rate, as Stan's gamma):
 *     shape log rate - lgamma(shape) + (shape - 1) log x - rate x.
 *     d_x = (shape - 1) / x - rate,
 *     d_shape = log rate - digamma(shape) + log x,  d_rate = shape / rate - x. */
static inline double vi_gamma_lpdf(double x, double shape, double rate,
                                   double *d_x, double *d_shape, double *d_rate)
{
    double log_x;
    if (!(shape > 0.0) || !(rate > 0.0) || isnan(x))
        return vi_put_nan3_(d_x, d_shape, d_rate);
    if (!(x > 0.0)) {
        vi_put_zero3_(d_x, d_shape, d_rate);
        return -HUGE_VAL;
    }
    log_x = log(x);
    vi_put_(d_x, (shape - 1.0) / x - rate);
    vi_put_(d_shape, log(rate) - vi_digamma(shape) + log_x);
    vi_put_(d_rate, shape / rate - x);
    return shape * log(rate) - vi_lgamma(shape) + (shape - 1.0) * log_x -
           rate * x;
}

/* log LogNormal(x | mu, sigma) for x > 0, z = (log x - mu) / sigma:
 *     -0.5 z^2 - log sigma - 0.5 log(2 pi) - log x.
 *     d_x = -(z / sigma + 1) / x,  d_mu = z / sigma,
 *     d_sigma = (z^2 - 1) / sigma. */
static inline double vi_lognormal_lpdf(double x, double mu, double sigma,
                                       double *d_x, double *d_mu,
                                       double *d_sigma)
{
    double log_x, z;
    if (!(sigma > 0.0) || isnan(x) || isnan(mu))
        return vi_put_nan3_(d_x, d_mu, d_sigma);
    if (!(x > 0.0)) {
        vi_put_zero3_(d_x, d_mu, d_sigma);
        return -HUGE_VAL;
    }
    log_x = log(x);
    z = (log_x - mu) / sigma;
    vi_put_(d_x, -(z / sigma + 1.0) / x);
    vi_put_(d_mu, z / sigma);
    vi_put_(d_sigma, (z * z - 1.0) / sigma);
    return -0.5 * z * z - log(sigma) - 0.5 * VI_LOG_2PI - log_x;
}

/* log Beta(x | a, b) for 0 < x < 1:
 *     (a - 1) log x + (b - 1) log1p(-x) - log B(a, b).
 *     d_x = (a - 1) / x - (b - 1) / (1 - x),
 *     d_a = log x - digamma(a) + digamma(a + b),
 *     d_b = log1p(-x) - digamma(b) + digamma(a + b). */
static inline double vi_beta_lpdf(double x, double a, double b, double *d_x,
                                  double *d_a, double *d_b)
{
    double log_x, log1m_x, psi_ab;
    if (!(a > 0.0) || !(b > 0.0) || isnan(x))
        return vi_put_nan3_(d_x, d_a, d_b);
    if (!(x > 0.0 && x < 1.0)) {
        vi_put_zero3_(d_x, d_a, d_b);
        return -HUGE_VAL;
    }
    log_x = log(x);
    log1m_x = log1p(-x);
    vi_put_(d_x, (a - 1.0) / x - (b - 1.0) / (1.0 - x));
    if (d_a != NULL || d_b != NULL) {
        psi_ab = vi_digamma(a + b);
        vi_put_(d_a, log_x - vi_digamma(a) + psi_ab);
        vi_put_(d_b, log1m_x - vi_digamma(b) + psi_ab);
    }
    return (a - 1.0) * log_x + (b - 1.0) * log1m_x - vi_lbeta(a, b);
}

/* log Bernoulli(y | inv_logit(eta)) for y in {0, 1}, in the stable forms
 * -log1p_exp(-eta) (y = 1) and -log1p_exp(eta) (y = 0), which lose
 * nothing when |eta| is large.  d_eta = y - inv_logit(eta).  Any other y
 * gives NaN. */
static inline double vi_bernoulli_logit_lpmf(double y, double eta,
                                             double *d_eta)
{
    if ((y != 0.0 && y != 1.0) || isnan(eta))
        return vi_put_nan3_(d_eta, NULL, NULL);
    vi_put_(d_eta, y == 1.0 ? vi_inv_logit(-eta) : -vi_inv_logit(eta));
    return y == 1.0 ? -vi_log1p_exp(-eta) : -vi_log1p_exp(eta);
}

/* log Poisson(n | exp(eta)) for a whole n >= 0 (a double, as data arrive):
 *     n eta - exp(eta) - lgamma(n + 1).   d_eta = n - exp(eta).
 * Any other n gives NaN. */
static inline double vi_poisson_log_lpmf(double n, double eta, double *d_eta)
{
    double rate;
    if (!(n >= 0.0) || n != floor(n) || isnan(eta))
        return vi_put_nan3_(d_eta, NULL, NULL);
    rate = exp(eta);
    vi_put_(d_eta, n - rate);
    return (n == 0.0 ? 0.0 : n * eta) - rate - vi_lgamma(n + 1.0);
}

/* log Binomial(n | trials, inv_logit(eta)) for whole 0 <= n <= trials:
 *     log C(trials, n) - n log1p_exp(-eta) - (trials - n) log1p_exp(eta).
 *     d_eta = n - trials inv_logit(eta).
 * Any other n or trials gives NaN. */
static inline double vi_binomial_logit_lpmf(double n, double trials,
                                            double eta, double *d_eta)
{
    double lchoose = vi_lchoose(trials, n);
    if (isnan(lchoose) || isnan(eta))
        return vi_put_nan3_(d_eta, NULL, NULL);
    vi_put_(d_eta, n * vi_inv_logit(-eta) - (trials - n) * vi_inv_logit(eta));
    return lchoose - (n == 0.0 ? 0.0 : n * vi_log1p_exp(-eta)) -
           (trials == n ? 0.0 : (trials - n) * vi_log1p_exp(eta));
}

/* The two-component mixture, as Stan's log_mix(theta, lp1, lp2):
 *     log(theta exp(lp1) + (1 - theta) exp(lp2)),  0 <= theta <= 1,
 * by log-sum-exp.  With r = theta exp(lp1 - result), the responsibility of
 * the first component:  d_lp1 = r,  d_lp2 = 1 - r,
 *     d_theta = exp(lp1 - result) - exp(lp2 - result).
 * theta outside [0, 1] gives NaN; lp1 = lp2 = -INFINITY gives -INFINITY
 * and NaN derivatives. */
static inline double vi_log_mix(double theta, double lp1, double lp2,
                                double *d_theta, double *d_lp1, double *d_lp2)
{
    double terms[2], result;
    if (!(theta >= 0.0 && theta <= 1.0))
        return vi_put_nan3_(d_theta, d_lp1, d_lp2);
    terms[0] = log(theta) + lp1;
    terms[1] = log1p(-theta) + lp2;
    result = vi_log_sum_exp(terms, 2);
    vi_put_(d_lp1, exp(terms[0] - result));
    vi_put_(d_lp2, exp(terms[1] - result));
    vi_put_(d_theta, exp(lp1 - result) - exp(lp2 - result));
    return result;
}

/* The K-component mixture from log weights:
 *     log sum_k exp(log_w[k] + lp[k])
 * (the weights need not be normalized).  When resp is non-NULL it
 * receives the responsibilities exp(log_w[k] + lp[k] - result), which
 * are both d/d lp[k] and d/d log_w[k].  K = 0 gives -INFINITY. */
static inline double vi_log_mix_n(size_t K, const double *log_w,
                                  const double *lp, double *resp)
{
    double max = -HUGE_VAL, sum = 0.0, result;
    size_t k;
    for (k = 0; k < K; ++k) {
        double term = log_w[k] + lp[k];
        if (isnan(term))
            return term;
        if (term > max)
            max = term;
    }
    if (isinf(max)) {
        for (k = 0; resp != NULL && k < K; ++k)
            resp[k] = NAN;
        return max;
    }
    for (k = 0; k < K; ++k)
        sum += exp(log_w[k] + lp[k] - max);
    result = max + log(sum);
    for (k = 0; resp != NULL && k < K; ++k)
        resp[k] = exp(log_w[k] + lp[k] - result);
    return result;
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

/* Every transform below maps unconstrained values u to constrained ones x
 * and comes in three parts:
 *   ..._constrain(u, ...)    x, and the log-Jacobian log|det dx/du| added
 *                            into *log_jacobian (when non-NULL: add, so one
 *                            accumulator serves every parameter);
 *   ..._unconstrain(x, ...)  the inverse, u from x (for starting points and
 *                            tests); NaN (or -inf/+inf at the boundary)
 *                            when x is outside the constraint;
 *   ..._backward(u, ..., g_x) the chain rule: given g_x = d f / d x for any
 *                            f, the gradient in u of f(x(u)) + log-Jacobian,
 *                            the term a target adds to its gradient.
 * So a target computes lp from x, adds the log-Jacobian, and turns its
 * gradient in x into one in u with _backward.  Every part is [any-thread]
 * and allocation-free. */

/* x = lb + exp(u), x > lb.  log-Jacobian u. */
static inline double vi_lower_bound_constrain(double u, double lb,
                                              double *log_jacobian)
{
    if (log_jacobian != NULL)
        *log_jacobian += u;
    return lb + exp(u);
}

static inline double vi_lower_bound_unconstrain(double x, double lb)
{
    return x > lb ? log(x - lb) : x == lb ? -HUGE_VAL : NAN;
}

/* d/du [f(lb + exp(u)) + u] = g_x exp(u) + 1. */
static inline double vi_lower_bound_backward(double u, double lb, double g_x)
{
    (void)lb;
    return g_x * exp(u) + 1.0;
}

/* x = ub - exp(u), x < ub.  log-Jacobian u. */
static inline double vi_upper_bound_constrain(double u, double ub,
                                              double *log_jacobian)
{
    if (log_jacobian != NULL)
        *log_jacobian += u;
    return ub - exp(u);
}

static inline double vi_upper_bound_unconstrain(double x, double ub)
{
    return x < ub ? log(ub - x) : x == ub ? -HUGE_VAL : NAN;
}

/* d/du [f(ub - exp(u)) + u] = -g_x exp(u) + 1. */
static inline double vi_upper_bound_backward(double u, double ub, double g_x)
{
    (void)ub;
    return 1.0 - g_x * exp(u);
}

/* x = lo + (hi - lo) inv_logit(u), lo < x < hi, computed from the nearer
 * end so that x keeps its precision near either bound.  log-Jacobian
 *     log(hi - lo) + log s + log(1 - s),  s = inv_logit(u),
 * in the stable form log(hi - lo) - log1p_exp(-u) - log1p_exp(u). */
static inline double vi_interval_constrain(double u, double lo, double hi,
                                           double *log_jacobian)
{
    if (log_jacobian != NULL)
        *log_jacobian += log(hi - lo) - vi_log1p_exp(-u) - vi_log1p_exp(u);
    if (u > 0.0)
        return hi - (hi - lo) * vi_inv_logit(-u);
    return lo + (hi - lo) * vi_inv_logit(u);
}

static inline double vi_interval_unconstrain(double x, double lo, double hi)
{
    if (!(x >= lo && x <= hi))
        return NAN;
    if (x == lo)
        return -HUGE_VAL;
    if (x == hi)
        return HUGE_VAL;
    return log(x - lo) - log(hi - x);
}

/* d/du [f(x(u)) + log-Jacobian] = g_x (hi - lo) s (1 - s) + 1 - 2 s. */
static inline double vi_interval_backward(double u, double lo, double hi,
                                          double g_x)
{
    double s = vi_inv_logit(u), t = vi_inv_logit(-u); /* s and 1 - s */
    return g_x * (hi - lo) * s * t + (t - s);
}

/* An increasing vector x[0] < x[1] < ... < x[n-1] from n values:
 *     x[0] = u[0],  x[k] = x[k-1] + exp(u[k]).
 * log-Jacobian sum_{k >= 1} u[k]. */
static inline void vi_ordered_constrain(const double *u, size_t n, double *x,
                                        double *log_jacobian)
{
    size_t k;
    double lj = 0.0;
    if (n == 0)
        return;
    x[0] = u[0];
    for (k = 1; k < n; ++k) {
        x[k] = x[k - 1] + exp(u[k]);
        lj += u[k];
    }
    if (log_jacobian != NULL)
        *log_jacobian += lj;
}

/* u from a strictly increasing x (NaN where it is not). */
static inline void vi_ordered_unconstrain(const double *x, size_t n, double *u)
{
    size_t k;
    if (n == 0)
        return;
    u[0] = x[0];
    for (k = 1; k < n; ++k)
        u[k] = x[k] > x[k - 1] ? log(x[k] - x[k - 1]) : NAN;
}

/* g_u[k] = (sum_{j >= k} g_x[j]) dx[k]/du[k] + [k >= 1]: x[j] depends on
 * u[k] for every j >= k, through exp(u[k]) (or 1 for k = 0).  g_u may be
 * the same array as g_x. */
static inline void vi_ordered_backward(const double *u, size_t n,
                                       const double *g_x, double *g_u)
{
    double tail = 0.0;
    size_t k;
    for (k = n; k-- > 0;) {
        tail += g_x[k];
        g_u[k] = k == 0 ? tail : tail * exp(u[k]) + 1.0;
    }
}

/* A simplex x (K values, x[k] > 0, sum 1) from K - 1 values, by Stan's
 * stick-breaking: with the stick s_0 = 1,
 *     z_k = inv_logit(u[k] - log(K - 1 - k)),  x[k] = s_k z_k,
 *     s_{k+1} = s_k (1 - z_k),   k = 0..K-2;   x[K-1] = s_{K-1}.
 * u = 0 gives the uniform simplex.  log-Jacobian
 *     sum_k log z_k + log(1 - z_k) + log s_k.
 * The stick is carried as a logarithm, so tiny weights keep their
 * precision; log_x (K values, may be NULL) receives log x exactly that
 * way, for densities that need log x[k] (a Dirichlet, mixture weights). */
static inline void vi_simplex_constrain(const double *u, size_t K, double *x,
                                        double *log_x, double *log_jacobian)
{
    double log_stick = 0.0, lj = 0.0;
    size_t k;
    if (K == 0)
        return;
    for (k = 0; k + 1 < K; ++k) {
        double v = u[k] - log((double)(K - 1 - k));
        double log_z = -vi_log1p_exp(-v), log_1mz = -vi_log1p_exp(v);
        double lx = log_stick + log_z;
        lj += log_z + log_1mz + log_stick;
        x[k] = exp(lx);
        if (log_x != NULL)
            log_x[k] = lx;
        log_stick += log_1mz;
    }
    x[K - 1] = exp(log_stick);
    if (log_x != NULL)
        log_x[K - 1] = log_stick;
    if (log_jacobian != NULL)
        *log_jacobian += lj;
}

/* u (K - 1 values) from a simplex x (K values); NaN where x is not one. */
static inline void vi_simplex_unconstrain(const double *x, size_t K, double *u)
{
    double stick = 1.0;
    size_t k;
    for (k = 0; k + 1 < K; ++k) {
        double z = stick > 0.0 ? x[k] / stick : NAN;
        u[k] = (z > 0.0 && z < 1.0)
                   ? log(z) - log1p(-z) + log((double)(K - 1 - k))
                   : NAN;
        stick -= x[k];
    }
}

/* Reverse-mode chain rule through the stick-breaking (g_x has K values,
 * g_u receives K - 1; they must not overlap).  Walking back from the last
 * stick with a = d/d s_{k+1}, starting at g_x[K-1]:
 *     g_u[k] = s_k z_k (1 - z_k) (g_x[k] - a) + 1 - 2 z_k,
 *     a     <- g_x[k] z_k + a (1 - z_k) + 1 / s_k.
 * g_u holds log s_k on the way forward, so nothing is allocated. */
static inline void vi_simplex_backward(const double *u, size_t K,
                                       const double *g_x, double *g_u)
{
    double log_stick = 0.0, a;
    size_t k;
    if (K < 2)
        return;
    for (k = 0; k + 1 < K; ++k) {
        double v = u[k] - log((double)(K - 1 - k));
        g_u[k] = log_stick;
        log_stick -= vi_log1p_exp(v);
    }
    a = g_x[K - 1];
    for (k = K - 1; k-- > 0;) {
        double v = u[k] - log((double)(K - 1 - k));
        double z = vi_inv_logit(v), omz = vi_inv_logit(-v);
        double stick = exp(g_u[k]);
        g_u[k] = stick * z * omz * (g_x[k] - a) + (omz - z);
        a = g_x[k] * z + a * omz + 1.0 / stick;
    }
}

/* The same chain rule for an f written in log x (a Dirichlet density,
 * mixture weights): given g_lx = d f / d log x (K values), g_u (K - 1
 * values, not overlapping g_lx) receives d/du [f + log-Jacobian].  With
 * b = d/d log s_{k+1}, starting at g_lx[K-1]:
 *     g_u[k] = g_lx[k] (1 - z_k) - b z_k + 1 - 2 z_k,
 *     b     <- g_lx[k] + b + 1.
 * No division by x, so it stays exact when weights are tiny. */
static inline void vi_simplex_log_backward(const double *u, size_t K,
                                           const double *g_lx, double *g_u)
{
    double b;
    size_t k;
    if (K < 2)
        return;
    b = g_lx[K - 1];
    for (k = K - 1; k-- > 0;) {
        double v = u[k] - log((double)(K - 1 - k));
        double z = vi_inv_logit(v), omz = vi_inv_logit(-v);
        g_u[k] = g_lx[k] * omz - b * z + (omz - z);
        b += g_lx[k] + 1.0;
    }
}

/* log(1 - tanh(u)^2) = 2 log 2 - 2|u| - 2 log1p(exp(-2|u|)), exact for any
 * u (the direct form underflows to -inf for |u| > 19). */
static inline double vi_log1m_tanh2_(double u)
{
    double a = fabs(u);
    return 2.0 * 0.69314718055994530942 - 2.0 * a - 2.0 * log1p(exp(-2.0 * a));
}

/* The Cholesky factor L (K x K, row-major, lower triangular, each row of
 * unit length, so L L^T is a correlation matrix) from K(K-1)/2 values, as
 * Stan's cholesky_factor_corr: the canonical partial correlations
 * z = tanh(u), taken row by row over the strict lower triangle
 * (L[1,0], L[2,0], L[2,1], L[3,0], ...), then for each row i
 *     L[i][j] = z_j w_j  (j < i),   L[i][i] = w_i,
 *     w_j = sqrt(1 - sum_{k < j} L[i][k]^2) = prod_{k < j} sqrt(1 - z_k^2).
 * log-Jacobian  sum log(1 - z^2) + sum_{i, 1 <= j < i} log w_j.
 * The product form carries log w exactly, with log(1 - tanh(u)^2) in a
 * form that does not underflow, so rows stay exact near the boundary
 * (|u| large, a partial correlation near +-1). */
static inline void vi_corr_cholesky_constrain(const double *u, size_t K,
                                              double *L, double *log_jacobian)
{
    size_t i, j, at = 0;
    double lj = 0.0;
    for (i = 0; i < K * K; ++i)
        L[i] = 0.0;
    if (K == 0)
        return;
    L[0] = 1.0;
    for (i = 1; i < K; ++i) {
        double log_w = 0.0; /* log w_j */
        for (j = 0; j < i; ++j, ++at) {
            double l1m = vi_log1m_tanh2_(u[at]); /* log(1 - z^2) */
            if (j > 0)
                lj += log_w;
            lj += l1m;
            L[i * K + j] = tanh(u[at]) * exp(log_w);
            log_w += 0.5 * l1m;
        }
        L[i * K + i] = exp(log_w);
    }
    if (log_jacobian != NULL)
        *log_jacobian += lj;
}

/* u (K(K-1)/2 values) from such a factor L (NaN where a row is not of
 * unit length or not strictly inside the unit ball). */
static inline void vi_corr_cholesky_unconstrain(const double *L, size_t K,
                                                double *u)
{
    size_t i, j, at = 0;
    for (i = 1; i < K; ++i) {
        double s = 0.0;
        for (j = 0; j < i; ++j, ++at) {
            double x = L[i * K + j], z = x / sqrt(1.0 - s);
            u[at] = (z > -1.0 && z < 1.0) ? atanh(z) : NAN;
            s += x * x;
        }
    }
}

/* Reverse-mode chain rule through vi_corr_cholesky_constrain: g_L holds
 * d f / d L (K x K, row-major; entries above the diagonal are ignored),
 * g_u receives K(K-1)/2 values (they must not overlap).  Rows are
 * independent.  In row i, with r_j = 2 log w_j = sum_{k<j} log(1 - z_k^2)
 * and A the adjoint of r carried back from A = g_L[i][i] w_i / 2, for
 * j = i-1 down to 0:
 *     g_u = g_L[i][j] w_j (1 - z_j^2) - 2 z_j (1 + A),
 *     A  <- A + g_L[i][j] z_j w_j / 2 + [j >= 1] / 2.
 * g_u holds w_j on the way forward, so nothing is allocated. */
static inline void vi_corr_cholesky_backward(const double *u, size_t K,
                                             const double *g_L, double *g_u)
{
    size_t i, j;
    for (i = 1; i < K; ++i) {
        size_t row = i * (i - 1) / 2; /* row i's first value in u */
        double log_w = 0.0, a;
        for (j = 0; j < i; ++j) {
            g_u[row + j] = exp(log_w);
            log_w += 0.5 * vi_log1m_tanh2_(u[row + j]);
        }
        a = 0.5 * g_L[i * K + i] * exp(log_w);
        for (j = i; j-- > 0;) {
            double z = tanh(u[row + j]), w = g_u[row + j];
            double one_m_z2 = exp(vi_log1m_tanh2_(u[row + j]));
            double g = g_L[i * K + j];
            g_u[row + j] = g * w * one_m_z2 - 2.0 * z * (1.0 + a);
            a += 0.5 * g * z * w + (j > 0 ? 0.5 : 0.0);
        }
    }
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
