/*
 * studentt.c — the multivariate Student-t location-scale family, for heavy
 * tails:
 *     z = mu + L t,   t = g sqrt(nu / w),   g ~ N(0, I_D),  w ~ chi^2_nu,
 * so z ~ t_nu(mu, L L^T).  L is diagonal (`structure: diagonal`, lambda
 * holds omega = log L_ii) or lower triangular (`structure: full`, lambda
 * holds L's lower triangle row by row with log L_ii on the diagonal).  The
 * degrees of freedom nu are fixed (`dof`) or learned (`learn_dof: true`,
 * lambda's last entry is log nu).
 *
 * The base is not normal: sample_base draws eps = (g[1..D], u) with u
 * uniform on (0, 1), and forward maps u to w = F^-1_{chi^2_nu}(u) by
 * inverting the regularized incomplete gamma function, so the map is a
 * function of nu and reparameterizes it too: dw/dnu = -(dF/dnu) / f(w)
 * (implicit differentiation of F(w; nu) = u).
 *     log q(z) = lgamma((nu+D)/2) - lgamma(nu/2) - D/2 log(nu pi)
 *                - log|L| - (nu+D)/2 log(1 + |L^-1 (z - mu)|^2 / nu),
 *     H[q] = log|L| - lgamma((nu+D)/2) + lgamma(nu/2) + D/2 log(nu pi)
 *            + (nu+D)/2 (psi((nu+D)/2) - psi(nu/2)).
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

#include "family_util.h"

#define STUDENTT_MAX_DIM ((size_t)1 << 20)
/* Degrees of freedom beyond this are a normal for every practical purpose,
 * and the incomplete-gamma series would need too many terms. */
#define STUDENTT_MAX_DOF 1e6
#define STUDENTT_MIN_DOF 1e-3
/* Iteration caps of the special functions; each converges far sooner. */
#define STUDENTT_SERIES_MAX 100000
#define STUDENTT_NEWTON_MAX 100

typedef struct studentt_family {
    size_t dim;
    int full;           /* structure: full (else diagonal) */
    int learn_dof;
    double dof;         /* fixed nu, or its starting value */
    size_t n_scale;     /* D or D (D+1) / 2 */
    size_t n_params;
    double init_mu;
    double init_log_sd;
    fu_names names;
} studentt_family;

static const vi_option studentt_options[] = {
    {sizeof(vi_option), "dof", VI_OPTION_DOUBLE, 0, "5", STUDENTT_MIN_DOF, STUDENTT_MAX_DOF,
     "degrees of freedom nu (its starting value when learn_dof is true)"},
    {sizeof(vi_option), "learn_dof", VI_OPTION_BOOL, 0, "false", 0.0, 0.0,
     "fit nu along with the location and scale (lambda's last entry is log nu)"},
    {sizeof(vi_option), "structure", VI_OPTION_STRING, 0, "diagonal", 0.0, 0.0,
     "scale matrix: 'diagonal' or 'full' (lower-triangular L)"},
    {sizeof(vi_option), "init_mu", VI_OPTION_DOUBLE, 0, "0", -HUGE_VAL, HUGE_VAL,
     "starting value of every location mu[i]"},
    {sizeof(vi_option), "init_log_sd", VI_OPTION_DOUBLE, 0, "0", -FU_LOG_SD_LIMIT,
     FU_LOG_SD_LIMIT, "starting value of every log scale log L[i,i]"},
    VI_OPTION_END};

/* ------------------------------------------------------------------ */
/* Special functions                                                    */
/* ------------------------------------------------------------------ */

/* psi(x) for x > 0: recurrence up to x >= 10, then the asymptotic series. */
static double digamma(double x)
{
    double r = 0.0, x2;
    while (x < 10.0) {
        r -= 1.0 / x;
        x += 1.0;
    }
    x2 = 1.0 / (x * x);
    return r + log(x) - 0.5 / x -
           x2 * (1.0 / 12 - x2 * (1.0 / 120 - x2 * (1.0 / 252 - x2 * (1.0 / 240 -
                                                                      x2 / 132))));
}

/* psi'(x) for x > 0, the same way. */
static double trigamma(double x)
{
    double r = 0.0, x2;
    while (x < 10.0) {
        r += 1.0 / (x * x);
        x += 1.0;
    }
    x2 = 1.0 / (x * x);
    return r + 1.0 / x + 0.5 * x2 +
           x2 / x * (1.0 / 6 - x2 * (1.0 / 30 - x2 * (1.0 / 42 - x2 * (1.0 / 30 -
                                                                      x2 * 5.0 / 66))));
}

/* The regularized incomplete gamma functions P(a, x) and Q = 1 - P, each
 * accurate to rounding: the series for P when x < a + 1, Lentz's continued
 * fraction for Q otherwise (Numerical Recipes 6.2). */
static void gamma_pq(double a, double x, double *p, double *q)
{
    double log_front, sum, term, ap;
    int n;
    if (x <= 0.0) {
        *p = 0.0;
        *q = 1.0;
        return;
    }
    log_front = a * log(x) - x - vi_lgamma(a);
    if (x < a + 1.0) {
        ap = a;
        sum = term = 1.0 / a;
        for (n = 0; n < STUDENTT_SERIES_MAX && fabs(term) > fabs(sum) * 1e-17; ++n) {
            ap += 1.0;
            term *= x / ap;
            sum += term;
        }
        *p = sum * exp(log_front);
        *q = 1.0 - *p;
    } else {
        const double tiny = DBL_MIN / DBL_EPSILON;
        double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d, an, del;
        for (n = 1; n < STUDENTT_SERIES_MAX; ++n) {
            an = -n * (n - a);
            b += 2.0;
            d = an * d + b;
            if (fabs(d) < tiny)
                d = tiny;
            c = b + an / c;
            if (fabs(c) < tiny)
                c = tiny;
            d = 1.0 / d;
            del = d * c;
            h *= del;
            if (fabs(del - 1.0) < 1e-16)
                break;
        }
        *q = exp(log_front) * h;
        *p = 1.0 - *q;
    }
}

/* x with P(a, x) = u, by Halley's method from Numerical Recipes' starting
 * guess (Wilson-Hilferty for a > 1); the error is measured on whichever of
 * P and Q is small, so both tails keep full relative accuracy. */
static double gamma_p_inverse(double a, double u)
{
    double x, t, lg = vi_lgamma(a), a1 = a - 1.0;
    int j;
    if (a > 1.0) {
        double pp = u < 0.5 ? u : 1.0 - u;
        t = sqrt(-2.0 * log(pp));
        x = (2.30753 + t * 0.27061) / (1.0 + t * (0.99229 + t * 0.04481)) - t;
        if (u < 0.5)
            x = -x;
        x = fmax(1e-3, a * pow(1.0 - 1.0 / (9.0 * a) - x / (3.0 * sqrt(a)), 3.0));
    } else {
        t = 1.0 - a * (0.253 + a * 0.12);
        x = u < t ? pow(u / t, 1.0 / a) : 1.0 - log(1.0 - (u - t) / (1.0 - t));
    }
    for (j = 0; j < STUDENTT_NEWTON_MAX; ++j) {
        double p, q, err, density, ratio, step;
        if (x <= 0.0)
            return 0.0;
        gamma_pq(a, x, &p, &q);
        err = u < 0.5 ? p - u : (1.0 - u) - q; /* both are P - u */
        density = exp(a1 * log(x) - x - lg);
        if (!(density > 0.0))
            break;
        ratio = err / density;
        step = ratio / (1.0 - 0.5 * fmin(1.0, ratio * (a1 / x - 1.0)));
        x -= step;
        if (x <= 0.0)
            x = 0.5 * (x + step);
        if (fabs(step) <= 4.0 * DBL_EPSILON * x)
            break;
    }
    return x;
}

/* dP(a, x)/da = sum_n T_n (log x - psi(a + n + 1)), T_n = x^(a+n) e^-x /
 * Gamma(a + n + 1): the series of P differentiated term by term. */
static double gamma_p_da(double a, double x)
{
    double log_x = log(x), psi = digamma(a + 1.0), sum = 0.0, total = 0.0;
    double log_t = a * log_x - x - vi_lgamma(a + 1.0);
    int n;
    for (n = 0; n < STUDENTT_SERIES_MAX; ++n) {
        double t = exp(log_t);
        sum += t * (log_x - psi);
        total += t;
        if ((double)n > x - a && t < 1e-17 * total)
            break;
        log_t += log_x - log(a + n + 1.0);
        psi += 1.0 / (a + n + 1.0);
    }
    return sum;
}

/* w = F^-1_{chi^2_nu}(u) and, when dw is non-NULL, dw/dnu. */
static double chi2_quantile(double nu, double u, double *dw)
{
    double a = 0.5 * nu, x = gamma_p_inverse(a, u);
    if (dw != NULL) {
        /* P(a, x) = u:  dx/da = -(dP/da) / (dP/dx);  w = 2x, a = nu/2. */
        double density = exp((a - 1.0) * log(x) - x - vi_lgamma(a));
        *dw = density > 0.0 ? -gamma_p_da(a, x) / density : 0.0;
    }
    return 2.0 * x;
}

/* log of the t normalizer: lgamma((nu+D)/2) - lgamma(nu/2) - D/2 log(nu pi);
 * its derivative in nu into *d when non-NULL. */
static double log_norm(double nu, double dim, double *d)
{
    if (d != NULL)
        *d = 0.5 * (digamma(0.5 * (nu + dim)) - digamma(0.5 * nu)) - 0.5 * dim / nu;
    return vi_lgamma(0.5 * (nu + dim)) - vi_lgamma(0.5 * nu) - 0.5 * dim * (log(nu) + VI_LOG_PI);
}

/* ------------------------------------------------------------------ */
/* Parameters                                                           */
/* ------------------------------------------------------------------ */

static size_t scale_at(const studentt_family *f) { return f->dim; }
static size_t dof_at(const studentt_family *f) { return f->dim + f->n_scale; }

/* Offset in lambda of L[i][j] (j <= i; diagonal only when not full). */
static size_t factor_index(const studentt_family *f, size_t i, size_t j)
{
    return f->dim + fu_tri_index(f->full, i, j);
}

static double factor_entry(const studentt_family *f, const double *lambda, size_t i, size_t j)
{
    return fu_tri_entry(f->full, lambda + scale_at(f), i, j);
}

static double dof_of(const studentt_family *f, const double *lambda)
{
    return f->learn_dof ? exp(lambda[dof_at(f)]) : f->dof;
}

static double log_det_factor(const studentt_family *f, const double *lambda)
{
    return fu_tri_log_det(f->full, lambda + scale_at(f), f->dim);
}

static void studentt_destroy(void *self)
{
    studentt_family *f = (studentt_family *)self;
    if (f == NULL)
        return;
    fu_names_free(&f->names);
    free(f);
}

static int make_names(studentt_family *f, vi_error *err)
{
    size_t p = 0;
    int status = fu_names_alloc(&f->names, f->n_params, 2 * fu_digits(f->dim) + 10, err);
    if (status != VI_OK)
        return status;
    fu_name_vector(&f->names, &p, "mu", f->dim);
    fu_name_factor(&f->names, &p, f->dim, f->full ? f->dim : 0);
    if (f->learn_dof)
        snprintf(fu_name_slot(&f->names, p++), f->names.stride, "log_nu");
    return VI_OK;
}

static int read_options(const vi_host *host, const vi_config *config, studentt_family *f,
                        vi_error *err)
{
    int status = fu_read_structure(host, config, &f->full, err), learn = 0;
    if (status == VI_OK)
        status = vi_config_get_double_or(host, config, "dof", 5.0, &f->dof, err);
    if (status == VI_OK && !(f->dof >= STUDENTT_MIN_DOF && f->dof <= STUDENTT_MAX_DOF))
        status = vi_error_set(err, VI_EINVAL, "option 'dof' must be in [%g, %g], got %g",
                              STUDENTT_MIN_DOF, STUDENTT_MAX_DOF, f->dof);
    if (status == VI_OK) {
        status = host->config_get_bool(config, "learn_dof", &learn);
        if (status == VI_ENOTFOUND)
            status = VI_OK;
        else if (status != VI_OK)
            status = vi_error_set(err, status, "'learn_dof' must be true or false");
        f->learn_dof = learn != 0;
    }
    if (status == VI_OK)
        status = fu_read_init(host, config, &f->init_mu, &f->init_log_sd, err);
    return status;
}

static int studentt_setup(const vi_host *host, const vi_config *config, size_t dim, void *self,
                          vi_error *err)
{
    studentt_family *f = (studentt_family *)self;
    int status;
    f->dim = dim;
    status = read_options(host, config, f, err);
    if (status != VI_OK)
        return status;
    f->n_scale = f->full ? dim * (dim + 1) / 2 : dim;
    f->n_params = dim + f->n_scale + (f->learn_dof ? 1 : 0);
    return make_names(f, err);
}

static int studentt_create(const vi_host *host, const vi_config *config, size_t dim,
                           void **self, vi_error *err)
{
    *self = NULL;
    if (dim == 0 || dim > STUDENTT_MAX_DIM)
        return fu_bad_dim("studentt", STUDENTT_MAX_DIM, dim, err);
    return fu_create(host, config, dim, sizeof(studentt_family), studentt_setup,
                     studentt_destroy, self, err);
}

static size_t studentt_n_params(const void *self)
{
    return ((const studentt_family *)self)->n_params;
}

/* g (D normals), then u (one uniform). */
static size_t studentt_base_dim(const void *self)
{
    return ((const studentt_family *)self)->dim + 1;
}

static const char *studentt_param_name(const void *self, size_t i)
{
    return fu_name(&((const studentt_family *)self)->names, i);
}

/* Scratch: t and a second D-vector. */
static size_t studentt_workspace_size(const void *self)
{
    return 2 * ((const studentt_family *)self)->dim;
}

static int studentt_init(const void *self, double *lambda, vi_error *err)
{
    const studentt_family *f = (const studentt_family *)self;
    size_t i;
    (void)err;
    for (i = 0; i < f->dim; ++i)
        lambda[i] = f->init_mu;
    for (i = 0; i < f->n_scale; ++i)
        lambda[scale_at(f) + i] = 0.0;
    for (i = 0; i < f->dim; ++i)
        lambda[factor_index(f, i, i)] = f->init_log_sd;
    if (f->learn_dof)
        lambda[dof_at(f)] = log(f->dof);
    return VI_OK;
}

static int studentt_sample_base(const void *self, vi_rng *rng, const vi_host *host,
                                double *eps, vi_error *err)
{
    const studentt_family *f = (const studentt_family *)self;
    size_t i;
    (void)err;
    for (i = 0; i < f->dim; ++i)
        eps[i] = host->rng_normal(rng);
    eps[f->dim] = host->rng_uniform(rng);
    return VI_OK;
}

static int bad_base(const studentt_family *f, const double *eps, vi_error *err)
{
    return vi_error_set(err, VI_EDOMAIN, "base draw u = eps[%lu] = %g is outside (0, 1)",
                        (unsigned long)f->dim + 1UL, eps[f->dim]);
}

/* t = g sqrt(nu / w(u)); returns the scale c = sqrt(nu / w) and, when
 * dc is non-NULL, dc/dnu. */
static double base_scale(double nu, double u, double *dc)
{
    double dw, w = chi2_quantile(nu, u, dc != NULL ? &dw : NULL), c = sqrt(nu / w);
    if (dc != NULL)
        *dc = 0.5 * c * (1.0 / nu - dw / w);
    return c;
}

static int studentt_forward(const void *self, const double *lambda, const double *eps,
                            double *z, double *log_q, double *work, vi_error *err)
{
    const studentt_family *f = (const studentt_family *)self;
    size_t dim = f->dim, i;
    double nu = dof_of(f, lambda), *t = work, c, sq = 0.0;
    if (!(eps[dim] > 0.0 && eps[dim] < 1.0))
        return bad_base(f, eps, err);
    c = base_scale(nu, eps[dim], NULL);
    for (i = 0; i < dim; ++i) {
        t[i] = c * eps[i];
        sq += t[i] * t[i];
    }
    fu_tri_apply(f->full, lambda + scale_at(f), dim, lambda, t, z);
    if (log_q != NULL)
        *log_q = log_norm(nu, (double)dim, NULL) - log_det_factor(f, lambda) -
                 0.5 * (nu + (double)dim) * log1p(sq / nu);
    return VI_OK;
}

/* dmu += dz;  dL_ij += dz_i t_j;  dlog L_ii += dz_i t_i L_ii;
 * dlog nu += nu (L^T dz) . g dc/dnu. */
static int studentt_backward(const void *self, const double *lambda, const double *eps,
                             const double *dz, double *dlambda, double *work, vi_error *err)
{
    const studentt_family *f = (const studentt_family *)self;
    size_t dim = f->dim, i, j;
    double nu = dof_of(f, lambda), dc, c, along = 0.0;
    (void)work;
    if (!(eps[dim] > 0.0 && eps[dim] < 1.0))
        return bad_base(f, eps, err);
    c = base_scale(nu, eps[dim], f->learn_dof ? &dc : NULL);
    for (i = 0; i < dim; ++i) {
        dlambda[i] += dz[i];
        for (j = f->full ? 0 : i; j <= i; ++j) {
            double l = factor_entry(f, lambda, i, j);
            dlambda[factor_index(f, i, j)] += dz[i] * c * eps[j] * (i == j ? l : 1.0);
            along += dz[i] * l * eps[j];
        }
    }
    if (f->learn_dof)
        dlambda[dof_at(f)] += nu * along * dc;
    return VI_OK;
}

static int studentt_entropy(const void *self, const double *lambda, double *h, double *dlambda,
                            double *work, vi_error *err)
{
    const studentt_family *f = (const studentt_family *)self;
    double nu = dof_of(f, lambda), dim = (double)f->dim;
    double half = 0.5 * (nu + dim), gap = digamma(half) - digamma(0.5 * nu);
    size_t i;
    (void)work;
    (void)err;
    *h = log_det_factor(f, lambda) - log_norm(nu, dim, NULL) + half * gap;
    if (dlambda == NULL)
        return VI_OK;
    for (i = 0; i < f->dim; ++i)
        dlambda[factor_index(f, i, i)] += 1.0;
    if (f->learn_dof) /* dH/dnu = D/(2 nu) + (nu+D)/4 (psi'((nu+D)/2) - psi'(nu/2)) */
        dlambda[dof_at(f)] +=
            nu * (0.5 * dim / nu + 0.5 * half * (trigamma(half) - trigamma(0.5 * nu)));
    return VI_OK;
}

/* t = L^-1 (z - mu) into t; returns |t|^2. */
static double standardize(const studentt_family *f, const double *lambda, const double *z,
                          double *t)
{
    return fu_tri_solve(f->full, lambda + scale_at(f), f->dim, lambda, z, t);
}

static double log_q_at(const studentt_family *f, const double *lambda, double sq, double nu)
{
    return log_norm(nu, (double)f->dim, NULL) - log_det_factor(f, lambda) -
           0.5 * (nu + (double)f->dim) * log1p(sq / nu);
}

static int studentt_log_q(const void *self, const double *lambda, const double *z, double *lq,
                          double *work, vi_error *err)
{
    const studentt_family *f = (const studentt_family *)self;
    (void)err;
    *lq = log_q_at(f, lambda, standardize(f, lambda, z, work), dof_of(f, lambda));
    return VI_OK;
}

/* g = L^-T (kappa t), kappa = (nu + D) / (nu + |t|^2), so that
 * d log q / dz = -g.  t in work, g into out; returns |t|^2. */
static double pulled_back(const studentt_family *f, const double *lambda, const double *z,
                          double *t, double *out)
{
    double nu = dof_of(f, lambda), sq = standardize(f, lambda, z, t);
    double kappa = (nu + (double)f->dim) / (nu + sq);
    fu_tri_solve_t(f->full, lambda + scale_at(f), f->dim, kappa, t, out);
    return sq;
}

static int studentt_log_q_grad_z(const void *self, const double *lambda, const double *z,
                                 double *lq, double *dz, double *work, vi_error *err)
{
    const studentt_family *f = (const studentt_family *)self;
    size_t i;
    double sq = pulled_back(f, lambda, z, work, dz);
    (void)err;
    for (i = 0; i < f->dim; ++i)
        dz[i] = -dz[i];
    *lq = log_q_at(f, lambda, sq, dof_of(f, lambda));
    return VI_OK;
}

/* At fixed z, with t = L^-1 (z - mu) and g = L^-T (kappa t):
 *   d/dmu = g,  d/dL_ij = g_i t_j,  d/dlog L_ii = g_i t_i L_ii - 1,
 *   d/dnu = dlog_norm/dnu - 0.5 log1p(|t|^2/nu) + (nu+D) |t|^2 / (2 nu (nu + |t|^2)). */
static int studentt_log_q_grad_lambda(const void *self, const double *lambda, const double *z,
                                      double *lq, double *dlambda, double *work,
                                      vi_error *err)
{
    const studentt_family *f = (const studentt_family *)self;
    size_t dim = f->dim, i, j;
    double *t = work, *g = dlambda, nu = dof_of(f, lambda), dnorm;
    double sq = pulled_back(f, lambda, z, t, g);
    (void)err;
    for (i = 0; i < dim; ++i)
        for (j = f->full ? 0 : i; j <= i; ++j)
            dlambda[factor_index(f, i, j)] =
                i == j ? g[i] * t[i] * factor_entry(f, lambda, i, i) - 1.0 : g[i] * t[j];
    *lq = log_q_at(f, lambda, sq, nu);
    if (f->learn_dof) {
        log_norm(nu, (double)dim, &dnorm);
        dlambda[dof_at(f)] = nu * (dnorm - 0.5 * log1p(sq / nu) +
                                   0.5 * (nu + (double)dim) * sq / (nu * (nu + sq)));
    }
    return VI_OK;
}

/* mean = mu (nu > 1), cov = nu / (nu - 2) L L^T (nu > 2). */
static int studentt_moments(const void *self, const double *lambda, double *mean, double *cov,
                            double *work, vi_error *err)
{
    const studentt_family *f = (const studentt_family *)self;
    size_t dim = f->dim, i, j;
    double nu = dof_of(f, lambda);
    (void)work;
    if ((mean != NULL && !(nu > 1.0)) || (cov != NULL && !(nu > 2.0)))
        return vi_error_set(err, VI_EDOMAIN, "a Student-t with nu = %g has no %s", nu,
                            nu > 1.0 ? "covariance (needs nu > 2)" : "mean (needs nu > 1)");
    if (mean != NULL)
        for (i = 0; i < dim; ++i)
            mean[i] = lambda[i];
    if (cov != NULL)
        for (i = 0; i < dim; ++i)
            for (j = 0; j <= i; ++j)
                cov[i * dim + j] = cov[j * dim + i] =
                    fu_tri_cov(f->full, lambda + scale_at(f), i, j, 0.0) * nu / (nu - 2.0);
    return VI_OK;
}

static const vi_family_desc studentt_family_desc = {
    .struct_size = sizeof(vi_family_desc),
    .kind = VI_KIND_FAMILY,
    .name = "studentt",
    .summary = "multivariate Student-t location-scale family (diagonal or full scale; "
               "dof fixed or learned) for heavy tails",
    .flags = 0,
    .options = studentt_options,
    .create = studentt_create,
    .destroy = studentt_destroy,
    .n_params = studentt_n_params,
    .base_dim = studentt_base_dim,
    .param_name = studentt_param_name,
    .workspace_size = studentt_workspace_size,
    .init = studentt_init,
    .sample_base = studentt_sample_base,
    .forward = studentt_forward,
    .backward = studentt_backward,
    .entropy = studentt_entropy,
    .log_q = studentt_log_q,
    .log_q_grad_z = studentt_log_q_grad_z,
    .log_q_grad_lambda = studentt_log_q_grad_lambda,
    .moments = studentt_moments};

static const vi_component_head *const studentt_components[] = {
    VI_COMPONENT(studentt_family_desc), NULL};

VI_EXPORT const vi_plugin vi_plugin_entry = {
    .struct_size = sizeof(vi_plugin),
    .abi = {VI_ABI_MAJOR, VI_ABI_MINOR, 0},
    .name = "studentt",
    .version = "0.1.0",
    .description = "the multivariate Student-t variational family",
    .init = NULL,
    .deinit = NULL,
    .components = studentt_components};
