/*
 * logistic.c — Bayesian logistic regression:
 *     beta_d ~ N(0, prior_scale^2),  d = 1..D,
 *     y_n ~ Bernoulli(inv_logit(x_n . beta)),  n = 1..N,
 * with data N, D, X (N x D, one row per item) and y (N values in {0, 1}).
 * The prior is normalized; the likelihood is summed in blocks of rows, in
 * the stable forms log p(y_n) = -log1p_exp(-s_n eta_n) and
 * d/d eta_n = s_n inv_logit(-s_n eta_n), s_n = 2 y_n - 1, which lose
 * nothing when |eta| is large.  Supports minibatches (n_items,
 * log_density_subset).
 *
 * Speed: a block of rows (about 128 KB of X) is read from memory once:
 * eta = X_b beta, then the elementwise log1p/exp step, then grad += X_b^T r
 * while the block is still in cache.  Two kernels compute a block: a
 * portable one (CBLAS dgemv for both products, libm for the elementwise
 * step), and on x86-64 CPUs with AVX2 and FMA one with the elementwise step
 * vectorized four rows at a time (exp and log1p by polynomials accurate to
 * about 1 ulp) and the products in registers.  Option `kernel` chooses.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

#include "target_util.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define LOGISTIC_HAVE_AVX2 1
#include <immintrin.h>
#endif

#define LOGISTIC_PRIOR_SCALE_DEFAULT 10.0
/* Bytes of X per block of rows, and the bounds on the rows of a block. */
#define LOGISTIC_BLOCK_BYTES (128 * 1024)
#define LOGISTIC_BLOCK_MIN 8
#define LOGISTIC_BLOCK_MAX 4096

typedef struct logistic_target logistic_target;

/* Adds scale times the log likelihood of n rows (rows first..first+n, or
 * idx[first..first+n) when idx is not NULL) and, when grad is not NULL,
 * scale times its gradient into grad; returns the former.  `work` has
 * 2 block doubles. */
typedef double (*logistic_block_fn)(const logistic_target *t,
                                    const double *beta, const size_t *idx,
                                    size_t first, size_t n, double scale,
                                    double *grad, double *work);

struct logistic_target {
    size_t n_rows;         /* N */
    size_t dim;            /* D */
    const double *x;       /* N x D, row-major; the config's, which outlives us */
    const double *y;       /* N values in {0, 1}; the config's */
    double prior_scale;
    double log_prior_norm; /* -D (log prior_scale + 0.5 log 2 pi) */
    tu_names names;        /* beta[1..D] */
    size_t block;          /* rows per block */
    logistic_block_fn kernel;
};

static const vi_option logistic_options[] = {
    {sizeof(vi_option), "prior_scale", VI_OPTION_DOUBLE, 0, "10", 0.0,
     HUGE_VAL, "standard deviation of the normal prior on each coefficient "
               "(> 0)"},
    {sizeof(vi_option), "kernel", VI_OPTION_STRING, 0, "auto", 0.0, 0.0,
     "auto, avx2 or generic: how a block of rows is computed (auto: avx2 "
     "where the CPU has AVX2 and FMA); the results agree to rounding"},
    VI_OPTION_END};

static void logistic_destroy(void *self)
{
    logistic_target *t = (logistic_target *)self;
    if (t == NULL)
        return;
    tu_names_free(&t->names);
    free(t);
}

/* Reads an optional size (N or D) and checks it against the size implied
 * by X; `actual` is what X says. */
static int check_declared_size(const vi_host *host, const vi_config *config,
                               const char *key, size_t actual,
                               const char *what, vi_error *err)
{
    int64_t declared;
    int status = vi_config_get_int_or(host, config, key, -1, &declared, err);
    if (status != VI_OK || declared == -1) /* absent: X alone decides */
        return status;
    if (declared < 0 || (uint64_t)declared != (uint64_t)actual)
        return vi_error_set(err, VI_EINVAL,
                            "data variable '%s' = %lld does not match X, "
                            "which has %lu %s",
                            key, (long long)declared, (unsigned long)actual,
                            what);
    return VI_OK;
}

/* Reads X (N x D) and checks it against N and D when those are given. */
static int read_design(const vi_host *host, const vi_config *config,
                       logistic_target *t, vi_error *err)
{
    size_t shape[VI_MAX_RANK], ndim, i;
    int status = vi_config_get_array_required(host, config, "X", &t->x,
                                              shape, &ndim, err);
    if (status != VI_OK)
        return status;
    if (ndim != 2)
        return vi_error_set(err, VI_ETYPE,
                            "data variable 'X' must be an N x D matrix, got "
                            "an array of rank %lu",
                            (unsigned long)ndim);
    t->n_rows = shape[0];
    t->dim = shape[1];
    if (t->n_rows == 0 || t->dim == 0)
        return vi_error_set(err, VI_EINVAL,
                            "data variable 'X' is empty (%lu x %lu): need at "
                            "least one row and one column",
                            (unsigned long)t->n_rows, (unsigned long)t->dim);
    status = check_declared_size(host, config, "N", t->n_rows, "rows", err);
    if (status == VI_OK)
        status = check_declared_size(host, config, "D", t->dim, "columns",
                                     err);
    if (status != VI_OK)
        return status;
    for (i = 0; i < t->n_rows * t->dim; ++i)
        if (!isfinite(t->x[i]))
            return vi_error_set(err, VI_EINVAL,
                                "data variable 'X' has a non-finite value at "
                                "X[%lu,%lu]",
                                (unsigned long)(i / t->dim) + 1UL,
                                (unsigned long)(i % t->dim) + 1UL);
    return VI_OK;
}

/* Reads y: N values, each 0 or 1. */
static int read_outcomes(const vi_host *host, const vi_config *config,
                         logistic_target *t, vi_error *err)
{
    size_t shape[VI_MAX_RANK], ndim, count, i;
    int status = vi_config_get_array_required(host, config, "y", &t->y,
                                              shape, &ndim, err);
    if (status != VI_OK)
        return status;
    count = vi_shape_count(shape, ndim);
    if (ndim > 1 || count != t->n_rows)
        return vi_error_set(err, VI_ETYPE,
                            "data variable 'y' must be a vector of length N = "
                            "%lu (the rows of X), got %lu values in an array "
                            "of rank %lu",
                            (unsigned long)t->n_rows, (unsigned long)count,
                            (unsigned long)ndim);
    for (i = 0; i < count; ++i)
        if (t->y[i] != 0.0 && t->y[i] != 1.0)
            return vi_error_set(err, VI_EINVAL,
                                "data variable 'y' must hold 0 or 1, got "
                                "y[%lu] = %g",
                                (unsigned long)i + 1UL, t->y[i]);
    return VI_OK;
}

static int make_names(logistic_target *t, vi_error *err)
{
    size_t d;
    int status = tu_names_alloc(&t->names, t->dim, err);
    for (d = 0; status == VI_OK && d < t->dim; ++d)
        tu_name_index(&t->names, d, "beta", d);
    return status;
}

static int choose_kernel(const vi_host *host, const vi_config *config,
                         logistic_target *t, vi_error *err);

static int logistic_setup(const vi_host *host, const vi_config *config,
                          void *self, vi_error *err)
{
    logistic_target *t = (logistic_target *)self;
    int status = read_design(host, config, t, err);
    if (status == VI_OK)
        status = read_outcomes(host, config, t, err);
    if (status == VI_OK)
        status = tu_read_positive(host, config, "prior_scale",
                                  LOGISTIC_PRIOR_SCALE_DEFAULT,
                                  &t->prior_scale, err);
    if (status != VI_OK)
        return status;
    t->log_prior_norm =
        -(double)t->dim * (log(t->prior_scale) + 0.5 * VI_LOG_2PI);
    status = make_names(t, err);
    return status == VI_OK ? choose_kernel(host, config, t, err) : status;
}

static int logistic_create(const vi_host *host, const vi_config *config,
                           void **self, vi_error *err)
{
    return tu_create(host, config, sizeof(logistic_target), logistic_setup,
                     logistic_destroy, self, err);
}

static size_t logistic_dim(const void *self)
{
    return ((const logistic_target *)self)->dim;
}

static const char *logistic_param_name(const void *self, size_t i)
{
    return tu_name(&((const logistic_target *)self)->names, i);
}

static size_t logistic_n_items(const void *self)
{
    return ((const logistic_target *)self)->n_rows;
}

/* Scratch: one block of linear predictors and one of outcomes. */
static size_t logistic_workspace_size(const void *self)
{
    return 2 * ((const logistic_target *)self)->block;
}

/* The normalized prior: writes its value and, when grad is non-NULL, its
 * gradient -beta / s^2 (overwriting grad). */
static double log_prior(const logistic_target *t, const double *beta,
                        double *grad)
{
    double inv_var = 1.0 / (t->prior_scale * t->prior_scale), sq = 0.0;
    size_t d;
    for (d = 0; d < t->dim; ++d) {
        sq += beta[d] * beta[d];
        if (grad != NULL)
            grad[d] = -beta[d] * inv_var;
    }
    return t->log_prior_norm - 0.5 * sq * inv_var;
}

/* Row r of a block: row first + r, or idx[first + r]. */
static size_t block_row(const size_t *idx, size_t first, size_t r)
{
    return idx != NULL ? idx[first + r] : first + r;
}

/* The portable kernel: CBLAS for X_b beta and X_b^T r (level 1 per row
 * for a subset, whose rows are scattered), libm for the rest. */
static double block_generic(const logistic_target *t, const double *beta,
                            const size_t *idx, size_t first, size_t n,
                            double scale, double *grad, double *work)
{
    const size_t dim = t->dim;
    const double *xb = t->x + first * dim;
    double *eta = work, total = 0.0;
    size_t r;
    if (idx == NULL)
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)dim, 1.0, xb,
                    (int)dim, beta, 1, 0.0, eta, 1);
    else
        for (r = 0; r < n; ++r)
            eta[r] = cblas_ddot((int)dim, t->x + idx[first + r] * dim, 1,
                                beta, 1);
    for (r = 0; r < n; ++r) { /* log likelihood; scale d/d eta in place */
        double sign = 2.0 * t->y[block_row(idx, first, r)] - 1.0;
        double s_eta = sign * eta[r];
        total -= vi_log1p_exp(-s_eta);
        eta[r] = scale * sign * vi_inv_logit(-s_eta);
    }
    if (grad != NULL && idx == NULL)
        cblas_dgemv(CblasRowMajor, CblasTrans, (int)n, (int)dim, 1.0, xb,
                    (int)dim, eta, 1, 1.0, grad, 1);
    else if (grad != NULL)
        for (r = 0; r < n; ++r)
            cblas_daxpy((int)dim, eta[r], t->x + idx[first + r] * dim, 1,
                        grad, 1);
    return scale * total;
}

#ifdef LOGISTIC_HAVE_AVX2
#define AVX2_FN __attribute__((target("avx2,fma")))
#define AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma")))

/* Lanes [0, count) of a vector: an all-ones mask for each (count >= 4: all). */
AVX2_INLINE __m256i avx2_lanes(size_t count)
{
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x((long long)(count < 4 ? count : 4)),
                              _mm256_setr_epi64x(0, 1, 2, 3));
}

AVX2_INLINE double avx2_sum(__m256d v)
{
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}

/* exp(x) for x <= 0 (below -708 it gives exp(-708), which no sum of a
 * probability can tell from 0): x = k ln 2 + r, |r| <= ln 2 / 2, e^r by
 * its Taylor polynomial of degree 12 in Estrin's form (error < 2e-16),
 * 2^k by building the exponent.  NaN stays NaN. */
AVX2_INLINE __m256d avx2_exp_nonpositive(__m256d x)
{
#define C(v) _mm256_set1_pd(v)
    const __m256d shift = C(0x1.8p52);
    x = _mm256_max_pd(C(-708.0), x);
    __m256d t = _mm256_fmadd_pd(x, C(1.4426950408889634), shift);
    __m256d k = _mm256_sub_pd(t, shift);
    __m256d r = _mm256_fnmadd_pd(k, C(0x1.62e42fefa39efp-1), x);
    r = _mm256_fnmadd_pd(k, C(0x1.abc9e3b39803fp-56), r);
    __m256d r2 = _mm256_mul_pd(r, r), r4 = _mm256_mul_pd(r2, r2);
    __m256d r8 = _mm256_mul_pd(r4, r4);
    __m256d q0 = _mm256_fmadd_pd(r, C(1.0), C(1.0));
    __m256d q1 = _mm256_fmadd_pd(r, C(1.0 / 6.0), C(0.5));
    __m256d q2 = _mm256_fmadd_pd(r, C(1.0 / 120.0), C(1.0 / 24.0));
    __m256d q3 = _mm256_fmadd_pd(r, C(1.0 / 5040.0), C(1.0 / 720.0));
    __m256d q4 = _mm256_fmadd_pd(r, C(1.0 / 362880.0), C(1.0 / 40320.0));
    __m256d q5 = _mm256_fmadd_pd(r, C(1.0 / 39916800.0), C(1.0 / 3628800.0));
    __m256d s0 = _mm256_fmadd_pd(q1, r2, q0), s1 = _mm256_fmadd_pd(q3, r2, q2);
    __m256d s2 = _mm256_fmadd_pd(q5, r2, q4);
    __m256d t0 = _mm256_fmadd_pd(s1, r4, s0);
    __m256d t1 = _mm256_fmadd_pd(C(1.0 / 479001600.0), r4, s2);
    __m256d p = _mm256_fmadd_pd(t1, r8, t0);
    __m256i ki = _mm256_sub_epi64(_mm256_castpd_si256(t), _mm256_castpd_si256(shift));
    __m256i scale = _mm256_slli_epi64(_mm256_add_epi64(ki, _mm256_set1_epi64x(1023)), 52);
    return _mm256_mul_pd(p, _mm256_castsi256_pd(scale));
}

/* log(1 + e) for e in [0, 1], given u = 1 + e (rounded) and inv = 1 / u:
 * log u = k ln 2 + log m, m = u or u / 2 in [0.70, 1.42], and
 * log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.172, by its series to
 * s^23; the rounding of u is put back by (e - (u - 1)) / u. */
AVX2_INLINE __m256d avx2_log1p_unit(__m256d e, __m256d u, __m256d inv)
{
    const __m256d one = C(1.0);
    __m256d c = _mm256_mul_pd(_mm256_sub_pd(e, _mm256_sub_pd(u, one)), inv);
    __m256d big = _mm256_cmp_pd(u, C(1.4142135623730951), _CMP_GT_OQ);
    __m256d m = _mm256_blendv_pd(u, _mm256_mul_pd(u, C(0.5)), big);
    __m256d k = _mm256_and_pd(big, one);
    __m256d f = _mm256_sub_pd(m, one);
    __m256d s = _mm256_div_pd(f, _mm256_add_pd(C(2.0), f));
    __m256d s2 = _mm256_mul_pd(s, s), z2 = _mm256_mul_pd(s2, s2);
    __m256d z4 = _mm256_mul_pd(z2, z2), z8 = _mm256_mul_pd(z4, z4);
    __m256d a0 = _mm256_fmadd_pd(s2, C(2.0 / 5.0), C(2.0 / 3.0));
    __m256d a1 = _mm256_fmadd_pd(s2, C(2.0 / 9.0), C(2.0 / 7.0));
    __m256d a2 = _mm256_fmadd_pd(s2, C(2.0 / 13.0), C(2.0 / 11.0));
    __m256d a3 = _mm256_fmadd_pd(s2, C(2.0 / 17.0), C(2.0 / 15.0));
    __m256d a4 = _mm256_fmadd_pd(s2, C(2.0 / 21.0), C(2.0 / 19.0));
    __m256d b0 = _mm256_fmadd_pd(a1, z2, a0), b1 = _mm256_fmadd_pd(a3, z2, a2);
    __m256d b2 = _mm256_fmadd_pd(C(2.0 / 23.0), z2, a4);
    __m256d p = _mm256_fmadd_pd(b2, z8, _mm256_fmadd_pd(b1, z4, b0));
    __m256d lg = _mm256_fmadd_pd(_mm256_mul_pd(s, s2), p, _mm256_add_pd(s, s));
    __m256d lo = _mm256_fmadd_pd(k, C(0x1.abc9e3b39803fp-56), c);
    return _mm256_fmadd_pd(k, C(0x1.62e42fefa39efp-1), _mm256_add_pd(lg, lo));
}

/* Four rows: -log p(y) = max(-s, 0) + log1p(exp(-|s|)) with s = sign eta,
 * returned; *w = scale sign inv_logit(-s). */
AVX2_INLINE __m256d avx2_rows4(__m256d y, __m256d eta, __m256d scale, __m256d *w)
{
    const __m256d one = C(1.0), zero = _mm256_setzero_pd();
    __m256d sign = _mm256_fmsub_pd(C(2.0), y, one);
    __m256d s = _mm256_mul_pd(sign, eta);
    __m256d e = avx2_exp_nonpositive(_mm256_or_pd(s, C(-0.0)));
    __m256d u = _mm256_add_pd(one, e), inv = _mm256_div_pd(one, u);
    __m256d num = _mm256_blendv_pd(one, e, _mm256_cmp_pd(s, zero, _CMP_GT_OQ));
    *w = _mm256_mul_pd(_mm256_mul_pd(scale, sign), _mm256_mul_pd(num, inv));
    return _mm256_add_pd(_mm256_max_pd(zero, _mm256_sub_pd(zero, s)),
                         avx2_log1p_unit(e, u, inv));
}

/* The elementwise step of n rows, outcomes y[0..n), linear predictors
 * eta[0..n) replaced by scale d/d eta; returns the sum of -log p(y). */
AVX2_FN static double avx2_rows(const double *y, size_t n, double *eta, double scale)
{
    __m256d total = _mm256_setzero_pd(), total2 = total, w, w2, sc = C(scale);
    size_t r = 0;
    for (; r + 8 <= n; r += 8) { /* two independent chains */
        total = _mm256_add_pd(total, avx2_rows4(_mm256_loadu_pd(y + r),
                                                _mm256_loadu_pd(eta + r), sc, &w));
        total2 = _mm256_add_pd(total2, avx2_rows4(_mm256_loadu_pd(y + r + 4),
                                                  _mm256_loadu_pd(eta + r + 4), sc, &w2));
        _mm256_storeu_pd(eta + r, w);
        _mm256_storeu_pd(eta + r + 4, w2);
    }
    for (; r < n; r += 4) {
        __m256i m = avx2_lanes(n - r);
        __m256d v = avx2_rows4(_mm256_maskload_pd(y + r, m), _mm256_maskload_pd(eta + r, m),
                               sc, &w);
        total = _mm256_add_pd(total, _mm256_and_pd(_mm256_castsi256_pd(m), v));
        _mm256_maskstore_pd(eta + r, m, w);
    }
    return avx2_sum(_mm256_add_pd(total, total2));
}

/* x . beta for one row of dim values. */
AVX2_INLINE double avx2_dot(const double *x, const double *beta, size_t dim)
{
    __m256d a0 = _mm256_setzero_pd(), a1 = a0;
    size_t d = 0;
    for (; d + 8 <= dim; d += 8) {
        a0 = _mm256_fmadd_pd(_mm256_loadu_pd(x + d), _mm256_loadu_pd(beta + d), a0);
        a1 = _mm256_fmadd_pd(_mm256_loadu_pd(x + d + 4), _mm256_loadu_pd(beta + d + 4), a1);
    }
    if (d < dim) {
        __m256i m = avx2_lanes(dim - d);
        a0 = _mm256_fmadd_pd(_mm256_maskload_pd(x + d, m), _mm256_maskload_pd(beta + d, m), a0);
        d += 4;
    }
    if (d < dim) {
        __m256i m = avx2_lanes(dim - d);
        a1 = _mm256_fmadd_pd(_mm256_maskload_pd(x + d, m), _mm256_maskload_pd(beta + d, m), a1);
    }
    return avx2_sum(_mm256_add_pd(a0, a1));
}

/* grad[c0, c0 + 4k) += sum_r w[r] x_r[c0, ...) for k <= 6 vectors kept in
 * registers, the last one masked by `last`. */
AVX2_INLINE void avx2_xtw_pass(const logistic_target *t, const size_t *idx, size_t first,
                               size_t n, const double *w, double *grad, size_t c0,
                               size_t k, __m256i last)
{
    __m256d g0 = _mm256_setzero_pd(), g1 = g0, g2 = g0, g3 = g0, g4 = g0, g5 = g0;
    size_t r, v;
    for (r = 0; r < n; r++) {
        const double *x = t->x + block_row(idx, first, r) * t->dim + c0;
        __m256d ww = _mm256_broadcast_sd(w + r);
        if (k == 1) {
            g0 = _mm256_fmadd_pd(ww, _mm256_maskload_pd(x, last), g0);
            continue;
        }
        g0 = _mm256_fmadd_pd(ww, _mm256_loadu_pd(x), g0);
        if (k == 2) {
            g1 = _mm256_fmadd_pd(ww, _mm256_maskload_pd(x + 4, last), g1);
            continue;
        }
        g1 = _mm256_fmadd_pd(ww, _mm256_loadu_pd(x + 4), g1);
        if (k == 3) {
            g2 = _mm256_fmadd_pd(ww, _mm256_maskload_pd(x + 8, last), g2);
            continue;
        }
        g2 = _mm256_fmadd_pd(ww, _mm256_loadu_pd(x + 8), g2);
        if (k == 4) {
            g3 = _mm256_fmadd_pd(ww, _mm256_maskload_pd(x + 12, last), g3);
            continue;
        }
        g3 = _mm256_fmadd_pd(ww, _mm256_loadu_pd(x + 12), g3);
        if (k == 5) {
            g4 = _mm256_fmadd_pd(ww, _mm256_maskload_pd(x + 16, last), g4);
            continue;
        }
        g4 = _mm256_fmadd_pd(ww, _mm256_loadu_pd(x + 16), g4);
        g5 = _mm256_fmadd_pd(ww, _mm256_maskload_pd(x + 20, last), g5);
    }
    __m256d g[6] = {g0, g1, g2, g3, g4, g5};
    for (v = 0; v < k; v++) {
        __m256i m = v + 1 == k ? last : _mm256_set1_epi64x(-1);
        double *at = grad + c0 + 4 * v;
        _mm256_maskstore_pd(at, m, _mm256_add_pd(_mm256_maskload_pd(at, m), g[v]));
    }
}

/* The AVX2 kernel: dot products row by row (one stream through memory),
 * the vectorized elementwise step, then X_b^T r from cache in passes of up
 * to 24 columns. */
AVX2_FN static double block_avx2(const logistic_target *t, const double *beta,
                                 const size_t *idx, size_t first, size_t n,
                                 double scale, double *grad, double *work)
{
    const size_t dim = t->dim;
    double *eta = work, *ys = work + t->block;
    const double *y = t->y + first;
    size_t r, c0;
    for (r = 0; r < n; r++)
        eta[r] = avx2_dot(t->x + block_row(idx, first, r) * dim, beta, dim);
    if (idx != NULL) {
        for (r = 0; r < n; r++)
            ys[r] = t->y[idx[first + r]];
        y = ys;
    }
    double total = avx2_rows(y, n, eta, scale);
    if (grad != NULL) {
        size_t nv = (dim + 3) / 4, passes = (nv + 5) / 6, per = (nv + passes - 1) / passes;
        for (c0 = 0; c0 < dim; c0 += 4 * per) {
            size_t k = (dim - c0 + 3) / 4 < per ? (dim - c0 + 3) / 4 : per;
            __m256i last = avx2_lanes(dim - c0 - 4 * (k - 1));
            avx2_xtw_pass(t, idx, first, n, eta, grad, c0, k, last);
        }
    }
    return -scale * total;
}
#undef C
#endif /* LOGISTIC_HAVE_AVX2 */

/* Chooses the kernel (option `kernel`) and the rows of a block. */
static int choose_kernel(const vi_host *host, const vi_config *config,
                         logistic_target *t, vi_error *err)
{
    const char *kernel = "auto";
    int status = host->config_get_string(config, "kernel", &kernel);
    int avx2 = 0;
    size_t rows = LOGISTIC_BLOCK_BYTES / (sizeof(double) * t->dim);
    if (status != VI_OK && status != VI_ENOTFOUND)
        return vi_error_set(err, VI_ETYPE, "option 'kernel' must be a string");
#ifdef LOGISTIC_HAVE_AVX2
    __builtin_cpu_init();
    avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    if (strcmp(kernel, "auto") != 0 && strcmp(kernel, "avx2") != 0 &&
        strcmp(kernel, "generic") != 0)
        return vi_error_set(err, VI_EINVAL,
                            "option 'kernel' must be 'auto', 'avx2' or 'generic', got '%s'",
                            kernel);
    if (strcmp(kernel, "avx2") == 0 && !avx2)
        return vi_error_set(err, VI_EUNSUPPORTED,
                            "option 'kernel' is 'avx2', but this CPU (or this build) "
                            "lacks AVX2 and FMA; use 'auto' or 'generic'");
    if (strcmp(kernel, "generic") == 0)
        avx2 = 0;
    t->kernel = block_generic;
#ifdef LOGISTIC_HAVE_AVX2
    if (avx2)
        t->kernel = block_avx2;
#endif
    rows = rows < LOGISTIC_BLOCK_MIN ? LOGISTIC_BLOCK_MIN
           : rows > LOGISTIC_BLOCK_MAX ? LOGISTIC_BLOCK_MAX : rows;
    t->block = rows < t->n_rows ? rows : t->n_rows;
    return VI_OK;
}

/* Returns scale * sum of the log likelihoods of `count` rows — rows
 * idx[0..count) or, when idx is NULL, rows 0..count — and adds scale times
 * their gradient into grad (when non-NULL), block by block. */
static double add_log_likelihood(const logistic_target *t, const double *beta,
                                 const size_t *idx, size_t count, double scale,
                                 double *grad, double *work)
{
    double total = 0.0;
    size_t start;
    for (start = 0; start < count; start += t->block) {
        size_t n = count - start < t->block ? count - start : t->block;
        total += t->kernel(t, beta, idx, start, n, scale, grad, work);
    }
    return total;
}

static int logistic_log_density(const void *self, const double *theta,
                                double *lp, double *grad, double *work,
                                vi_error *err)
{
    const logistic_target *t = (const logistic_target *)self;
    *lp = log_prior(t, theta, grad) +
          add_log_likelihood(t, theta, NULL, t->n_rows, 1.0, grad, work);
    if (isnan(*lp))
        return vi_error_set(err, VI_ENUMERIC,
                            "log density is NaN (is beta finite?)");
    return VI_OK;
}

static int logistic_log_density_subset(const void *self, const double *theta,
                                       const size_t *idx, size_t n,
                                       double scale, double *lp, double *grad,
                                       double *work, vi_error *err)
{
    const logistic_target *t = (const logistic_target *)self;
    size_t i;
    for (i = 0; i < n; ++i)
        if (idx[i] >= t->n_rows)
            return vi_error_set(err, VI_EINVAL,
                                "item index %lu is out of range: the data "
                                "have N = %lu items (indices 0..%lu)",
                                (unsigned long)idx[i],
                                (unsigned long)t->n_rows,
                                (unsigned long)t->n_rows - 1UL);
    *lp = log_prior(t, theta, grad) +
          add_log_likelihood(t, theta, idx, n, scale, grad, work);
    if (isnan(*lp))
        return vi_error_set(err, VI_ENUMERIC,
                            "log density is NaN (is beta finite?)");
    return VI_OK;
}

static const vi_target_desc logistic_target_desc = {
    .struct_size = sizeof(vi_target_desc),
    .kind = VI_KIND_TARGET,
    .name = "logistic",
    .summary = "Bayesian logistic regression with a normal prior on the "
               "coefficients",
    .flags = 0,
    .options = logistic_options,
    .create = logistic_create,
    .destroy = logistic_destroy,
    .dim = logistic_dim,
    .param_name = logistic_param_name,
    .workspace_size = logistic_workspace_size,
    .log_density = logistic_log_density,
    .n_items = logistic_n_items,
    .log_density_subset = logistic_log_density_subset};

static const vi_component_head *const logistic_components[] = {
    VI_COMPONENT(logistic_target_desc), NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "logistic",
    .version = "0.1.0",
    .description = "Bayesian logistic regression",
    .init = NULL,
    .deinit = NULL,
    .components = logistic_components};
