/*
 * linreg.c — Bayesian linear regression:
 *     y_n ~ N(x_n . beta, sigma^2),  n = 1..N,
 *     beta_d ~ N(prior_mean_d, prior_sd_d^2)  (or flat),
 *     sigma known, or sigma ~ half-normal / half-Cauchy / exponential / flat.
 * The design is the data matrix X, or columns built from data vectors by
 * the `predictors` option ("mom_hs, mom_iq, mom_hs:mom_iq": a:b is the
 * elementwise product), with an optional intercept column first; the
 * response is the data vector named by `response`.  That covers
 * posteriordb's blr, kidscore_interaction and kilpisjarvi.
 *
 * With sigma unknown the unconstrained vector is (beta, log sigma), the
 * log-Jacobian log sigma.  With `known_sigma` given it is beta alone and
 * the posterior is exactly Gaussian: precision
 *     Lambda = X^T X / sigma^2 + diag(1 / prior_sd^2),
 * mean Lambda^-1 (X^T y / sigma^2 + prior_mean / prior_sd^2); the target
 * then reports these through the vi.target.moments/1 extension
 * and, with a normal prior (normalized density), the exact log evidence
 *     log p(y) = log p(y, beta*) + D/2 log 2 pi - 1/2 log det Lambda
 * at beta* the posterior mean.  Items (minibatches) are the rows.
 *
 * With `qr: true` the coefficients are fitted in the coordinates of the
 * thin QR decomposition of the design, Stan's QR reparameterization:
 *     X = Q* R*,  Q* = Q sqrt(N - 1),  R* = R / sqrt(N - 1),
 *     theta = R* beta,  y ~ N(Q* theta, sigma^2),
 * the density carrying the constant log-Jacobian -sum log|R*_kk| of
 * beta = R*^-1 theta.  It is the same posterior (and the same log
 * evidence), but in coordinates where predictors on different scales or
 * strongly correlated (kidiq, kilpisjarvi) no longer make the problem
 * ill-conditioned; draws are still reported as beta, and the exact moments
 * are over theta.
 *
 * The likelihood runs through CBLAS in blocks of rows (residuals
 * y - X_b beta by dgemv, their squares by ddot, X_b^T r by dgemv); the
 * exact posterior's X^T X by dsyrk and its Cholesky factor and inverse by
 * LAPACKE (dpotrf, dpotri), R*^-1 by LAPACKE's dtrtri.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

#include "target_util.h"

enum { LR_SIGMA_HALF_NORMAL, LR_SIGMA_HALF_CAUCHY, LR_SIGMA_EXPONENTIAL,
       LR_SIGMA_FLAT };
static const char *const lr_sigma_priors[] = {"half_normal", "half_cauchy",
                                              "exponential", "flat", NULL};
enum { LR_BETA_NORMAL, LR_BETA_FLAT };
static const char *const lr_beta_priors[] = {"normal", "flat", NULL};

/* Rows of a block of residuals (in the workspace). */
#define LR_BLOCK 256
/* Longest data-variable name in `predictors`, and most factors per term. */
#define LR_TOKEN_SIZE 128
#define LR_MAX_FACTORS 8

typedef struct linreg_target {
    size_t n, d;             /* rows, coefficients */
    size_t dim;              /* d, or d + 1 with log sigma */
    double *x;               /* n x d design, row-major (owned) */
    const double *y;         /* n responses (the config's) */
    size_t beta_prior;
    double *prior_mean, *prior_prec, *prior_sd; /* d each */
    int known;               /* sigma given */
    double sigma;            /* when known */
    size_t sigma_prior;
    double sigma_scale;
    double *post_mean, *post_cov; /* d and d x d when the posterior is Gaussian */
    int qr;                  /* fitted in theta = R* beta; x then holds Q* */
    double *r_star, *r_inv;  /* d x d upper triangular: R* and R*^-1 (qr) */
    double qr_log_jac;       /* -sum log|R*_kk| */
    double log_z;
    int has_log_z;
    tu_names names, cnames;
} linreg_target;

static const vi_option linreg_options[] = {
    {sizeof(vi_option), "predictors", VI_OPTION_STRING, 0, "", -HUGE_VAL,
     HUGE_VAL, "columns from data vectors, comma-separated, a:b for a "
               "product (\"x1, x2, x1:x2\"); empty: the data matrix X"},
    {sizeof(vi_option), "intercept", VI_OPTION_BOOL, 0, "false", -HUGE_VAL,
     HUGE_VAL, "put a column of ones first"},
    {sizeof(vi_option), "response", VI_OPTION_STRING, 0, "y", -HUGE_VAL,
     HUGE_VAL, "the data vector of outcomes"},
    {sizeof(vi_option), "coef_names", VI_OPTION_STRING, 0, "", -HUGE_VAL,
     HUGE_VAL, "names of the coefficients, comma-separated (\"alpha, "
               "beta\"); empty: beta[1..D]"},
    {sizeof(vi_option), "beta_prior", VI_OPTION_STRING, 0, "normal",
     -HUGE_VAL, HUGE_VAL, "'normal' (prior_mean, prior_sd) or 'flat'"},
    {sizeof(vi_option), "prior_mean", VI_OPTION_ARRAY, 0, "0", -HUGE_VAL,
     HUGE_VAL, "mean of each coefficient's normal prior: one value or D"},
    {sizeof(vi_option), "prior_sd", VI_OPTION_ARRAY, 0, "10", -HUGE_VAL,
     HUGE_VAL, "sd of each coefficient's normal prior (> 0): one value or "
               "D"},
    {sizeof(vi_option), "known_sigma", VI_OPTION_DOUBLE, 0, NULL, 0.0,
     HUGE_VAL, "the noise sd when known (> 0): then the posterior is "
               "Gaussian and exact; absent: sigma is a parameter"},
    {sizeof(vi_option), "sigma_prior", VI_OPTION_STRING, 0, "half_normal",
     -HUGE_VAL, HUGE_VAL, "prior on sigma: 'half_normal', 'half_cauchy', "
                          "'exponential' (mean = scale) or 'flat'"},
    {sizeof(vi_option), "sigma_prior_scale", VI_OPTION_DOUBLE, 0, "10", 0.0,
     HUGE_VAL, "scale of the prior on sigma (> 0)"},
    {sizeof(vi_option), "qr", VI_OPTION_BOOL, 0, "false", -HUGE_VAL, HUGE_VAL,
     "fit in the coordinates of the design's QR decomposition (the same "
     "posterior, better conditioned); draws still report beta"},
    VI_OPTION_END};

static void linreg_destroy(void *self)
{
    linreg_target *t = (linreg_target *)self;
    if (t == NULL)
        return;
    free(t->x);
    free(t->prior_mean);
    free(t->prior_prec);
    free(t->prior_sd);
    free(t->post_mean);
    free(t->post_cov);
    free(t->r_star);
    free(t->r_inv);
    tu_names_free(&t->names);
    tu_names_free(&t->cnames);
    free(t);
}

/* Copies the next `sep`-separated item of *cursor, trimmed, into out and
 * advances past it.  Returns its length, or -1 when it does not fit. */
static int next_item(const char **cursor, char sep, char *out, size_t size)
{
    const char *start = *cursor, *end = strchr(start, sep);
    size_t len;
    if (end == NULL)
        end = start + strlen(start);
    *cursor = *end == sep ? end + 1 : end;
    while (start < end && (*start == ' ' || *start == '\t'))
        ++start;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
        --end;
    len = (size_t)(end - start);
    if (len >= size)
        return -1;
    memcpy(out, start, len);
    out[len] = '\0';
    return (int)len;
}

/* The number of `sep`-separated items in text (0 for an empty text). */
static size_t count_items(const char *text, char sep)
{
    size_t n = 1;
    if (strspn(text, " \t") == strlen(text))
        return 0;
    for (; *text != '\0'; ++text)
        n += *text == sep;
    return n;
}

/* Fills column `col` of the design with the product of the data vectors
 * named in `term` ("a:b"). */
static int fill_term(const vi_host *host, const vi_config *config,
                     linreg_target *t, const char *term, size_t col,
                     vi_error *err)
{
    char factor[LR_TOKEN_SIZE];
    const char *cursor = term;
    size_t i, len, factors = 0;
    for (i = 0; i < t->n; ++i)
        t->x[i * t->d + col] = 1.0;
    if (term[strlen(term) - 1] == ':') /* "a:" has an empty factor */
        cursor = "";
    while (*cursor != '\0' || factors == 0) {
        const double *v;
        int status;
        if (next_item(&cursor, ':', factor, sizeof factor) <= 0 ||
            ++factors > LR_MAX_FACTORS)
            return vi_error_set(err, VI_EINVAL,
                                "option 'predictors': term '%s' is not a "
                                "product of data-variable names like a:b",
                                term);
        status = tu_read_vector(host, config, factor, t->n,
                                "the length of the response", &v, &len, err);
        if (status != VI_OK)
            return status;
        for (i = 0; i < t->n; ++i)
            t->x[i * t->d + col] *= v[i];
    }
    return VI_OK;
}

/* Builds the design from `predictors`, or copies the data matrix X;
 * prepends the intercept column when asked. */
static int build_design(const vi_host *host, const vi_config *config,
                        linreg_target *t, const char *predictors,
                        int intercept, vi_error *err)
{
    char term[LR_TOKEN_SIZE * LR_MAX_FACTORS];
    const double *data = NULL;
    size_t first = intercept ? 1 : 0, terms = count_items(predictors, ','),
           rows, cols = terms, i, k;
    int status = VI_OK;
    if (terms == 0) {
        status = tu_read_matrix(host, config, "X", t->n,
                                "the length of the response", &data, &rows,
                                &cols, err);
        if (status == VI_OK)
            status = tu_check_size(host, config, "D", cols,
                                   "the columns of X", err);
        if (status != VI_OK)
            return status;
    }
    t->d = cols + first;
    if (t->n > SIZE_MAX / sizeof(double) / t->d)
        return vi_error_set(err, VI_ENOMEM, "the design is too large");
    t->x = (double *)malloc(t->n * t->d * sizeof *t->x);
    if (t->x == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    for (i = 0; i < t->n; ++i) {
        if (intercept)
            t->x[i * t->d] = 1.0;
        for (k = 0; data != NULL && k < cols; ++k)
            t->x[i * t->d + first + k] = data[i * cols + k];
    }
    for (k = 0; status == VI_OK && k < terms; ++k) {
        if (next_item(&predictors, ',', term, sizeof term) <= 0)
            return vi_error_set(err, VI_EINVAL,
                                "option 'predictors' has an empty or too "
                                "long term (item %lu)",
                                (unsigned long)k + 1UL);
        status = fill_term(host, config, t, term, first + k, err);
    }
    return status;
}

/* Reads the response and the design. */
static int read_data(const vi_host *host, const vi_config *config,
                     linreg_target *t, vi_error *err)
{
    const char *response = "y", *predictors = "";
    int intercept = 0, status;
    if (host->config_get_string(config, "response", &response) == VI_ETYPE ||
        host->config_get_string(config, "predictors", &predictors) == VI_ETYPE ||
        host->config_get_bool(config, "intercept", &intercept) == VI_ETYPE)
        return vi_error_set(err, VI_ETYPE,
                            "options 'response' and 'predictors' must be "
                            "strings, 'intercept' true or false");
    status = tu_read_vector(host, config, response, 0, NULL, &t->y, &t->n,
                            err);
    if (status == VI_OK)
        status = tu_check_size(host, config, "N", t->n,
                               "the length of the response", err);
    if (status == VI_OK)
        status = build_design(host, config, t, predictors, intercept, err);
    return status;
}

/* Reads a per-coefficient array option: one value (broadcast) or d. */
static int read_per_coef(const vi_host *host, const vi_config *config,
                         const char *key, size_t d, double *out,
                         vi_error *err)
{
    const double *data;
    size_t shape[VI_MAX_RANK], ndim, count, k;
    int status = vi_config_get_array_required(host, config, key, &data, shape,
                                              &ndim, err);
    if (status != VI_OK)
        return status;
    count = vi_shape_count(shape, ndim);
    if (ndim > 1 || (count != 1 && count != d))
        return vi_error_set(err, VI_ETYPE,
                            "option '%s' must be one value or a vector of %lu "
                            "(one per coefficient), got %lu values",
                            key, (unsigned long)d, (unsigned long)count);
    for (k = 0; k < d; ++k) {
        out[k] = data[count == 1 ? 0 : k];
        if (!isfinite(out[k]))
            return vi_error_set(err, VI_EINVAL,
                                "option '%s' has a non-finite value", key);
    }
    return VI_OK;
}

static int read_priors(const vi_host *host, const vi_config *config,
                       linreg_target *t, vi_error *err)
{
    size_t k;
    int status = tu_read_choice(host, config, "beta_prior", lr_beta_priors,
                                LR_BETA_NORMAL, &t->beta_prior, err);
    t->prior_mean = (double *)calloc(t->d, sizeof *t->prior_mean);
    t->prior_prec = (double *)calloc(t->d, sizeof *t->prior_prec);
    t->prior_sd = (double *)calloc(t->d, sizeof *t->prior_sd);
    if (t->prior_mean == NULL || t->prior_prec == NULL || t->prior_sd == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    if (status == VI_OK && t->beta_prior == LR_BETA_NORMAL)
        status = read_per_coef(host, config, "prior_mean", t->d,
                               t->prior_mean, err);
    if (status == VI_OK && t->beta_prior == LR_BETA_NORMAL)
        status = read_per_coef(host, config, "prior_sd", t->d, t->prior_sd,
                               err);
    for (k = 0; status == VI_OK && t->beta_prior == LR_BETA_NORMAL &&
                k < t->d; ++k) {
        if (!(t->prior_sd[k] > 0.0))
            return vi_error_set(err, VI_EINVAL,
                                "option 'prior_sd' must be > 0, got %g for "
                                "coefficient %lu",
                                t->prior_sd[k], (unsigned long)k + 1UL);
        t->prior_prec[k] = 1.0 / (t->prior_sd[k] * t->prior_sd[k]);
    }
    if (status != VI_OK)
        return status;
    t->known = host->config_has(config, "known_sigma");
    if (t->known)
        return tu_read_positive(host, config, "known_sigma", 1.0, &t->sigma,
                                err);
    status = tu_read_choice(host, config, "sigma_prior", lr_sigma_priors,
                            LR_SIGMA_HALF_NORMAL, &t->sigma_prior, err);
    if (status == VI_OK)
        status = tu_read_positive(host, config, "sigma_prior_scale", 10.0,
                                  &t->sigma_scale, err);
    return status;
}

/* Names: coef_names or beta[1..d] (theta_qr[k] for the unconstrained
 * coordinates with qr), then log_sigma / sigma. */
static int make_names(const vi_host *host, const vi_config *config,
                      linreg_target *t, int qr, vi_error *err)
{
    const char *given = "";
    char name[TU_NAME_SIZE];
    size_t k, n_given;
    int status = tu_names_alloc_pair(&t->names, t->dim, &t->cnames, t->dim,
                                     err);
    if (status != VI_OK)
        return status;
    if (host->config_get_string(config, "coef_names", &given) == VI_ETYPE)
        return vi_error_set(err, VI_ETYPE,
                            "option 'coef_names' must be a string");
    n_given = count_items(given, ',');
    if (n_given != 0 && n_given != t->d)
        return vi_error_set(err, VI_EINVAL,
                            "option 'coef_names' names %lu coefficients but "
                            "the design has %lu columns",
                            (unsigned long)n_given, (unsigned long)t->d);
    for (k = 0; k < t->d; ++k) {
        if (n_given == 0)
            vi_index_name(name, sizeof name, "beta", k);
        else if (next_item(&given, ',', name, sizeof name) <= 0)
            return vi_error_set(err, VI_EINVAL,
                                "option 'coef_names': name %lu is empty or "
                                "longer than %d characters",
                                (unsigned long)k + 1UL, TU_NAME_SIZE - 1);
        tu_name_set(&t->names, k, name);
        tu_name_set(&t->cnames, k, name);
        if (qr)
            tu_name_index(&t->names, k, "theta_qr", k);
    }
    if (!t->known) {
        tu_name_set(&t->names, t->d, "log_sigma");
        tu_name_set(&t->cnames, t->d, "sigma");
    }
    return VI_OK;
}

static void linreg_evaluate(const linreg_target *t, const double *u,
                            const size_t *idx, size_t count, double scale,
                            double *lp, double *grad, double *work);

/* Precision and shift of the Gaussian posterior (known sigma); the
 * factor, mean, covariance and log evidence from them.  A flat prior with
 * a rank-deficient design leaves no posterior: that is not an error here,
 * since the density is still defined; moments then say unsupported. */
static int exact_posterior(linreg_target *t, vi_error *err)
{
    size_t d = t->d, i, j;
    double inv_var = 1.0 / (t->sigma * t->sigma), log_det, lp;
    double *prec = (double *)calloc(d * d, sizeof *prec);
    double *shift = (double *)calloc(d, sizeof *shift);
    double *work = (double *)calloc(LR_BLOCK + 2 * d, sizeof *work);
    t->post_mean = (double *)calloc(d, sizeof *t->post_mean);
    t->post_cov = (double *)calloc(d * d, sizeof *t->post_cov);
    if (prec == NULL || shift == NULL || work == NULL || t->post_mean == NULL ||
        t->post_cov == NULL) {
        free(prec);
        free(shift);
        free(work);
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    }
    /* Lambda = X^T X / sigma^2 + prior precision (lower triangle) and the
     * shift X^T y / sigma^2 + prior precision * prior mean. */
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)d, (int)t->n, inv_var, t->x,
                (int)d, 0.0, prec, (int)d);
    cblas_dgemv(CblasRowMajor, CblasTrans, (int)t->n, (int)d, inv_var, t->x, (int)d, t->y, 1,
                0.0, shift, 1);
    for (i = 0; i < d; ++i) {
        prec[i * d + i] += t->prior_prec[i];
        shift[i] += t->prior_prec[i] * t->prior_mean[i];
    }
    /* Row-major lower is column-major upper: LAPACK's own layout, so
     * LAPACKE makes no transposed copy. */
    if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', (lapack_int)d, prec, (lapack_int)d) == 0) {
        log_det = 0.0;
        for (i = 0; i < d; ++i)
            log_det += 2.0 * log(prec[i * d + i]);
        LAPACKE_dpotri(LAPACK_COL_MAJOR, 'U', (lapack_int)d, prec, (lapack_int)d);
        for (i = 0; i < d; ++i)
            for (j = 0; j <= i; ++j)
                t->post_cov[i * d + j] = t->post_cov[j * d + i] = prec[i * d + j];
        cblas_dsymv(CblasRowMajor, CblasLower, (int)d, 1.0, t->post_cov, (int)d, shift, 1,
                    0.0, t->post_mean, 1);
        linreg_evaluate(t, t->post_mean, NULL, t->n, 1.0, &lp, NULL, work);
        t->log_z = lp + 0.5 * (double)d * VI_LOG_2PI - 0.5 * log_det;
        t->has_log_z = t->beta_prior == LR_BETA_NORMAL && isfinite(t->log_z);
    } else {
        free(t->post_mean);
        free(t->post_cov);
        t->post_mean = t->post_cov = NULL;
    }
    free(prec);
    free(shift);
    free(work);
    return VI_OK;
}

/* Thin QR of x (n x d, row-major) in place by modified Gram-Schmidt with
 * one reorthogonalization ("twice is enough"): x becomes Q, r (d x d,
 * zeroed) R.  Returns 0, or the 1-based column that is numerically a
 * combination of the columns before it. */
static size_t thin_qr(double *x, size_t n, size_t d, double *r)
{
    size_t i, j, k;
    int pass;
    for (k = 0; k < d; ++k) {
        double norm0 = 0.0, norm = 0.0;
        for (i = 0; i < n; ++i)
            norm0 += x[i * d + k] * x[i * d + k];
        for (pass = 0; pass < 2; ++pass)
            for (j = 0; j < k; ++j) {
                double c = 0.0;
                for (i = 0; i < n; ++i)
                    c += x[i * d + j] * x[i * d + k];
                r[j * d + k] += c;
                for (i = 0; i < n; ++i)
                    x[i * d + k] -= c * x[i * d + j];
            }
        for (i = 0; i < n; ++i)
            norm += x[i * d + k] * x[i * d + k];
        norm = sqrt(norm);
        if (!(norm > 1e-10 * sqrt(norm0)))
            return k + 1;
        r[k * d + k] = norm;
        for (i = 0; i < n; ++i)
            x[i * d + k] /= norm;
    }
    return 0;
}

/* mean <- R* mean and cov <- R* cov R*^T: the exact moments in theta. */
static int moments_to_qr(linreg_target *t, vi_error *err)
{
    size_t d = t->d, i, j, k;
    double *tmp = (double *)calloc(d * d + d, sizeof *tmp);
    if (tmp == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    for (i = 0; i < d; ++i)
        for (j = 0; j < d; ++j)
            for (k = i; k < d; ++k) /* tmp = R* cov */
                tmp[i * d + j] += t->r_star[i * d + k] * t->post_cov[k * d + j];
    for (i = 0; i < d; ++i) {
        for (k = i; k < d; ++k)
            tmp[d * d + i] += t->r_star[i * d + k] * t->post_mean[k];
        for (j = 0; j < d; ++j) {
            double sum = 0.0;
            for (k = j; k < d; ++k) /* (R* cov) R*^T */
                sum += tmp[i * d + k] * t->r_star[j * d + k];
            t->post_cov[i * d + j] = sum;
        }
    }
    memcpy(t->post_mean, tmp + d * d, d * sizeof *tmp);
    free(tmp);
    return VI_OK;
}

/* Replaces the design by Q* and keeps R* and R*^-1 (the `qr` option). */
static int setup_qr(linreg_target *t, vi_error *err)
{
    size_t d = t->d, i, k, bad;
    double s = sqrt(t->n > 1 ? (double)(t->n - 1) : 1.0);
    if (t->n < d)
        return vi_error_set(err, VI_EINVAL,
                            "option 'qr' needs at least as many rows (N = %lu) "
                            "as coefficients (%lu)",
                            (unsigned long)t->n, (unsigned long)d);
    t->r_star = (double *)calloc(d * d, sizeof *t->r_star);
    t->r_inv = (double *)calloc(d * d, sizeof *t->r_inv);
    if (t->r_star == NULL || t->r_inv == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    bad = thin_qr(t->x, t->n, d, t->r_star);
    if (bad != 0)
        return vi_error_set(err, VI_EINVAL,
                            "option 'qr': column %lu of the design is "
                            "numerically a combination of the columns before "
                            "it; drop it, or use qr: false",
                            (unsigned long)bad);
    for (i = 0; i < t->n * d; ++i)
        t->x[i] *= s;
    for (i = 0; i < d * d; ++i)
        t->r_star[i] /= s;
    /* R*^-1: row-major upper triangular is column-major lower. */
    memcpy(t->r_inv, t->r_star, d * d * sizeof *t->r_inv);
    if (LAPACKE_dtrtri(LAPACK_COL_MAJOR, 'L', 'N', (lapack_int)d, t->r_inv, (lapack_int)d) != 0)
        return vi_error_set(err, VI_ENUMERIC, "option 'qr': R* is singular");
    for (k = 0; k < d; ++k)
        t->qr_log_jac -= log(t->r_star[k * d + k]);
    t->qr = 1;
    return t->post_mean != NULL ? moments_to_qr(t, err) : VI_OK;
}

static int linreg_setup(const vi_host *host, const vi_config *config,
                        void *self, vi_error *err)
{
    linreg_target *t = (linreg_target *)self;
    int want_qr = 0;
    int status = read_data(host, config, t, err);
    if (status == VI_OK)
        status = read_priors(host, config, t, err);
    if (status == VI_OK &&
        host->config_get_bool(config, "qr", &want_qr) == VI_ETYPE)
        status = vi_error_set(err, VI_ETYPE, "option 'qr' must be true or false");
    if (status == VI_OK) {
        t->dim = t->known ? t->d : t->d + 1;
        status = make_names(host, config, t, want_qr, err);
    }
    if (status == VI_OK && t->known) /* in beta, before any QR */
        status = exact_posterior(t, err);
    if (status == VI_OK && want_qr)
        status = setup_qr(t, err);
    return status;
}

static int linreg_create(const vi_host *host, const vi_config *config,
                         void **self, vi_error *err)
{
    return tu_create(host, config, sizeof(linreg_target), linreg_setup,
                     linreg_destroy, self, err);
}

static size_t linreg_dim(const void *self)
{
    return ((const linreg_target *)self)->dim;
}

static const char *linreg_param_name(const void *self, size_t i)
{
    return tu_name(&((const linreg_target *)self)->names, i);
}

static const char *linreg_constrained_name(const void *self, size_t i)
{
    return tu_name(&((const linreg_target *)self)->cnames, i);
}

static size_t linreg_n_items(const void *self)
{
    return ((const linreg_target *)self)->n;
}

/* The prior on sigma, with d/dsigma in *d_sigma. */
static double sigma_prior(const linreg_target *t, double sigma,
                          double *d_sigma)
{
    switch (t->sigma_prior) {
    case LR_SIGMA_HALF_NORMAL:
        return vi_half_normal_lpdf(sigma, t->sigma_scale, d_sigma, NULL);
    case LR_SIGMA_HALF_CAUCHY:
        return vi_half_cauchy_lpdf(sigma, t->sigma_scale, d_sigma, NULL);
    case LR_SIGMA_EXPONENTIAL:
        return vi_exponential_lpdf(sigma, 1.0 / t->sigma_scale, d_sigma,
                                   NULL);
    default:
        *d_sigma = 0.0;
        return 0.0;
    }
}

/* The prior on beta; grad[0..d) overwritten. */
static double beta_prior(const linreg_target *t, const double *beta,
                         double *grad)
{
    size_t k;
    double total = 0.0, d_beta = 0.0;
    for (k = 0; k < t->d; ++k) {
        if (t->beta_prior == LR_BETA_NORMAL)
            total += vi_normal_lpdf(beta[k], t->prior_mean[k],
                                    t->prior_sd[k], &d_beta, NULL, NULL);
        if (grad != NULL)
            grad[k] = d_beta;
    }
    return total;
}

/* Sum of squared residuals r = y - x . u over rows idx[0..count) (rows
 * 0..count when idx is NULL), adding g_scale X^T r into grad when not
 * NULL: blocks of contiguous rows through dgemv, a subset's scattered
 * rows through ddot and daxpy.  `res` holds LR_BLOCK residuals. */
static double residual_squares(const linreg_target *t, const double *u, const size_t *idx,
                               size_t count, double g_scale, double *grad, double *res)
{
    const int d = (int)t->d;
    double ss = 0.0;
    size_t start, i;
    for (start = 0; start < count; start += LR_BLOCK) {
        size_t n = count - start < LR_BLOCK ? count - start : LR_BLOCK;
        const double *xb = t->x + start * t->d;
        if (idx == NULL) {
            memcpy(res, t->y + start, n * sizeof *res);
            cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)n, d, -1.0, xb, d, u, 1, 1.0, res,
                        1);
            ss += cblas_ddot((int)n, res, 1, res, 1);
            if (grad != NULL)
                cblas_dgemv(CblasRowMajor, CblasTrans, (int)n, d, g_scale, xb, d, res, 1, 1.0,
                            grad, 1);
            continue;
        }
        for (i = 0; i < n; ++i) {
            const double *row = t->x + idx[start + i] * t->d;
            double r = t->y[idx[start + i]] - cblas_ddot(d, row, 1, u, 1);
            ss += r * r;
            if (grad != NULL)
                cblas_daxpy(d, g_scale * r, row, 1, grad, 1);
        }
    }
    return ss;
}

/* log prior + scale * log likelihood of rows idx[0..count) (rows
 * 0..count when idx is NULL), with the log-Jacobians; grad (dim values)
 * overwritten when non-NULL.  `work` holds LR_BLOCK residuals, then with
 * qr beta = R*^-1 theta and the prior's gradient in beta (d each). */
static void linreg_evaluate(const linreg_target *t, const double *u,
                            const size_t *idx, size_t count, double scale,
                            double *lp, double *grad, double *work)
{
    size_t d = t->d;
    double log_jac = 0.0, ss, d_sigma = 0.0, total;
    double sigma = t->known ? t->sigma
                            : vi_lower_bound_constrain(u[d], 0.0, &log_jac);
    double inv_var = 1.0 / (sigma * sigma), *res = work, *beta = work + LR_BLOCK;
    if (t->qr) { /* the prior at beta = R*^-1 theta, its gradient mapped back */
        memcpy(beta, u, d * sizeof *beta);
        cblas_dtrmv(CblasRowMajor, CblasUpper, CblasNoTrans, CblasNonUnit, (int)d, t->r_inv,
                    (int)d, beta, 1);
        total = beta_prior(t, beta, grad != NULL ? beta + d : NULL) + t->qr_log_jac;
        if (grad != NULL) {
            memcpy(grad, beta + d, d * sizeof *grad);
            cblas_dtrmv(CblasRowMajor, CblasUpper, CblasTrans, CblasNonUnit, (int)d, t->r_inv,
                        (int)d, grad, 1);
        }
    } else
        total = beta_prior(t, u, grad);
    ss = residual_squares(t, u, idx, count, scale * inv_var, grad, res);
    total += scale * (-0.5 * ss * inv_var -
                      (double)count * (log(sigma) + 0.5 * VI_LOG_2PI));
    if (!t->known) {
        total += sigma_prior(t, sigma, &d_sigma) + log_jac;
        d_sigma += scale * (ss * inv_var - (double)count) / sigma;
        if (grad != NULL)
            grad[d] = vi_lower_bound_backward(u[d], 0.0, d_sigma);
    }
    *lp = total;
}

/* A block of residuals; with qr, beta and the prior gradient. */
static size_t linreg_workspace_size(const void *self)
{
    const linreg_target *t = (const linreg_target *)self;
    return LR_BLOCK + (t->qr ? 2 * t->d : 0);
}

static int linreg_log_density(const void *self, const double *theta,
                              double *lp, double *grad, double *work,
                              vi_error *err)
{
    const linreg_target *t = (const linreg_target *)self;
    linreg_evaluate(t, theta, NULL, t->n, 1.0, lp, grad, work);
    return tu_nan_result(*lp, "is theta finite?", err);
}

static int linreg_log_density_subset(const void *self, const double *theta,
                                     const size_t *idx, size_t n,
                                     double scale, double *lp, double *grad,
                                     double *work, vi_error *err)
{
    const linreg_target *t = (const linreg_target *)self;
    int status = tu_check_items(idx, n, t->n, err);
    if (status != VI_OK)
        return status;
    linreg_evaluate(t, theta, idx, n, scale, lp, grad, work);
    return tu_nan_result(*lp, "is theta finite?", err);
}

static int linreg_constrain(const void *self, const double *theta,
                            double *out, vi_error *err)
{
    const linreg_target *t = (const linreg_target *)self;
    size_t k, j, d = t->d;
    (void)err;
    for (k = 0; k < d; ++k) {
        out[k] = t->qr ? 0.0 : theta[k];
        for (j = k; t->qr && j < d; ++j)
            out[k] += t->r_inv[k * d + j] * theta[j];
    }
    if (!t->known)
        out[t->d] = exp(theta[t->d]);
    return VI_OK;
}

static int linreg_log_evidence(const void *self, double *log_z, vi_error *err)
{
    const linreg_target *t = (const linreg_target *)self;
    if (!t->has_log_z)
        return vi_error_set(err, VI_EUNSUPPORTED,
                            "the log evidence is known only with "
                            "'known_sigma' and a normal prior on beta");
    *log_z = t->log_z;
    return VI_OK;
}

static int linreg_moments(const void *self, double *mean, double *cov,
                          vi_error *err)
{
    const linreg_target *t = (const linreg_target *)self;
    if (t->post_mean == NULL)
        return vi_error_set(err, VI_EUNSUPPORTED,
                            "the posterior is Gaussian only with "
                            "'known_sigma' (and a proper posterior)");
    if (mean != NULL)
        memcpy(mean, t->post_mean, t->d * sizeof *mean);
    if (cov != NULL)
        memcpy(cov, t->post_cov, t->d * t->d * sizeof *cov);
    return VI_OK;
}

static const vi_target_moments linreg_moments_ext = {
    sizeof(vi_target_moments), linreg_moments};

static const void *linreg_get_extension(const void *self, const char *id)
{
    (void)self;
    if (strcmp(id, VI_TARGET_MOMENTS_ID) == 0)
        return &linreg_moments_ext;
    return NULL;
}

static const vi_target_desc linreg_target_desc = {
    .struct_size = sizeof(vi_target_desc),
    .kind = VI_KIND_TARGET,
    .name = "linreg",
    .summary = "Bayesian linear regression; exact Gaussian posterior and log "
               "evidence when the noise sd is known",
    .flags = 0,
    .options = linreg_options,
    .create = linreg_create,
    .destroy = linreg_destroy,
    .dim = linreg_dim,
    .param_name = linreg_param_name,
    .workspace_size = linreg_workspace_size,
    .log_density = linreg_log_density,
    .get_extension = linreg_get_extension,
    .constrained_dim = linreg_dim,
    .constrained_name = linreg_constrained_name,
    .constrain = linreg_constrain,
    .n_items = linreg_n_items,
    .log_density_subset = linreg_log_density_subset,
    .log_evidence = linreg_log_evidence};

static const vi_component_head *const linreg_components[] = {
    VI_COMPONENT(linreg_target_desc), NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "linreg",
    .version = "0.1.0",
    .description = "Bayesian linear regression",
    .init = NULL,
    .deinit = NULL,
    .components = linreg_components};
