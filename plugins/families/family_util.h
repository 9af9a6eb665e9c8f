/*
 * family_util.h — helpers shared by the built-in families: the options
 * every Gaussian-based family reads (init_mu, init_log_sd) with their
 * checks, the create boilerplate, parameter-name tables, and the
 * lower-triangular scale factors (full or diagonal, with a log diagonal)
 * of fullrank, studentt and mixture.
 * Private to this folder (not installed); everything is static inline so
 * each plugin (its own shared object, exporting only vi_plugin_entry)
 * keeps only what it uses.  The factor helpers are pure: [any-thread].
 */
#ifndef VIHOST_FAMILY_UTIL_H
#define VIHOST_FAMILY_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

/* Bound on init_log_sd: exp(50) ~ 5e21, beyond that a starting scale is
 * surely a mistake. */
#define FU_LOG_SD_LIMIT 50.0

/* ------------------------------------------------------------------ */
/* Options                                                              */
/* ------------------------------------------------------------------ */

/* Checks that the option `key` read as `value` is finite. */
static inline int fu_check_finite(const char *key, double value, vi_error *err)
{
    if (!isfinite(value))
        return vi_error_set(err, VI_EINVAL, "option '%s' must be finite, got %g", key,
                            value);
    return VI_OK;
}

/* init_mu (default 0): the starting value of every mean; finite. */
static inline int fu_read_init_mu(const vi_host *host, const vi_config *config, double *out,
                                  vi_error *err)
{
    int status = vi_config_get_double_or(host, config, "init_mu", 0.0, out, err);
    return status == VI_OK ? fu_check_finite("init_mu", *out, err) : status;
}

/* init_log_sd (default 0): the starting log scale; within
 * +-FU_LOG_SD_LIMIT. */
static inline int fu_read_init_log_sd(const vi_host *host, const vi_config *config,
                                      double *out, vi_error *err)
{
    int status = vi_config_get_double_or(host, config, "init_log_sd", 0.0, out, err);
    if (status == VI_OK && !(fabs(*out) <= FU_LOG_SD_LIMIT))
        return vi_error_set(err, VI_EINVAL, "option 'init_log_sd' must be in [%g, %g], got %g",
                            -FU_LOG_SD_LIMIT, FU_LOG_SD_LIMIT, *out);
    return status;
}

/* init_mu, then init_log_sd. */
static inline int fu_read_init(const vi_host *host, const vi_config *config, double *init_mu,
                               double *init_log_sd, vi_error *err)
{
    int status = fu_read_init_mu(host, config, init_mu, err);
    return status == VI_OK ? fu_read_init_log_sd(host, config, init_log_sd, err) : status;
}

/* A whole-number option in [1, max] (a count: components, layers...);
 * *out is set only when it is valid. */
static inline int fu_read_count(const vi_host *host, const vi_config *config, const char *key,
                                int64_t fallback, int64_t max, size_t *out, vi_error *err)
{
    int64_t value;
    int status = vi_config_get_int_or(host, config, key, fallback, &value, err);
    if (status == VI_OK && (value < 1 || value > max))
        return vi_error_set(err, VI_EINVAL, "option '%s' must be in [1, %lld], got %lld", key,
                            (long long)max, (long long)value);
    if (status == VI_OK)
        *out = (size_t)value;
    return status;
}

/* 'structure': 'diagonal' (the default; *full = 0) or 'full' (*full = 1). */
static inline int fu_read_structure(const vi_host *host, const vi_config *config, int *full,
                                    vi_error *err)
{
    const char *structure = "diagonal";
    int status = host->config_get_string(config, "structure", &structure);
    if (status != VI_OK && status != VI_ENOTFOUND)
        return vi_error_set(err, status, "'structure' must be 'diagonal' or 'full'");
    if (strcmp(structure, "diagonal") != 0 && strcmp(structure, "full") != 0)
        return vi_error_set(err, VI_EINVAL,
                            "option 'structure' must be 'diagonal' or 'full', got '%s'",
                            structure);
    *full = strcmp(structure, "full") == 0;
    return VI_OK;
}

/* ------------------------------------------------------------------ */
/* Creation                                                             */
/* ------------------------------------------------------------------ */

/* The message for a target dimension outside 1..max_dim. */
static inline int fu_bad_dim(const char *family, size_t max_dim, size_t dim, vi_error *err)
{
    return vi_error_set(err, VI_EINVAL,
                        "the %s family needs a target of dimension 1..%lu, got %lu", family,
                        (unsigned long)max_dim, (unsigned long)dim);
}

/* Fills in a zeroed family object for a target of dimension dim: reads
 * the options, sizes and names.  On failure the object is destroyed. */
typedef int (*fu_setup_fn)(const vi_host *host, const vi_config *config, size_t dim,
                           void *self, vi_error *err);

/* The body of a create, once dim is checked: allocates a zeroed object of
 * `size` bytes, sets it up, and hands it out, or destroys it and returns
 * setup's status. */
static inline int fu_create(const vi_host *host, const vi_config *config, size_t dim,
                            size_t size, fu_setup_fn setup, void (*destroy)(void *),
                            void **self, vi_error *err)
{
    void *f = calloc(1, size);
    int status;
    *self = NULL;
    if (f == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    status = setup(host, config, dim, f, err);
    if (status != VI_OK) {
        destroy(f);
        return status;
    }
    *self = f;
    return VI_OK;
}

/* ------------------------------------------------------------------ */
/* Parameter names                                                      */
/* ------------------------------------------------------------------ */

/* n names, `stride` bytes apart: the stride fits the longest, so no
 * offset table is needed even for D^2 names. */
typedef struct fu_names {
    size_t n;
    size_t stride;
    char *text;
} fu_names;

/* Decimal digits of `largest` (at least 1): size a stride with it. */
static inline size_t fu_digits(size_t largest)
{
    size_t digits = 1;
    for (; largest >= 10; largest /= 10)
        ++digits;
    return digits;
}

static inline int fu_names_alloc(fu_names *names, size_t n, size_t stride, vi_error *err)
{
    names->n = n;
    names->stride = stride;
    names->text = (char *)malloc(n * stride);
    if (names->text == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory for %lu parameter names",
                            (unsigned long)n);
    return VI_OK;
}

static inline void fu_names_free(fu_names *names)
{
    free(names->text);
    names->text = NULL;
}

/* Name i, or NULL past the end. */
static inline const char *fu_name(const fu_names *names, size_t i)
{
    return i < names->n ? names->text + i * names->stride : NULL;
}

/* The slot of name i, to write. */
static inline char *fu_name_slot(fu_names *names, size_t i)
{
    return names->text + i * names->stride;
}

/* Names p, p+1, ... = "base[1]" .. "base[count]"; advances *p. */
static inline void fu_name_vector(fu_names *names, size_t *p, const char *base, size_t count)
{
    size_t i;
    for (i = 0; i < count; ++i, ++*p)
        vi_index_name(fu_name_slot(names, *p), names->stride, base, i);
}

/* Names of a lower-triangular factor with `band` subdiagonals (0: the
 * diagonal only; dim - 1 or more: full), row by row: "L[i,j]" below the
 * diagonal and "log_L[i,i]" on it, since the diagonal is stored as a log.
 * Needs a stride of 2 fu_digits(dim) + 10.  Advances *p. */
static inline void fu_name_factor(fu_names *names, size_t *p, size_t dim, size_t band)
{
    size_t i, j;
    for (i = 0; i < dim; ++i)
        for (j = i > band ? i - band : 0; j <= i; ++j, ++*p)
            vi_index2_name(fu_name_slot(names, *p), names->stride, i == j ? "log_L" : "L", i,
                           j);
}

/* ------------------------------------------------------------------ */
/* Lower-triangular scale factors                                       */
/* ------------------------------------------------------------------ */

/* A lower-triangular D x D factor L stored in s: when `full`, its lower
 * triangle row by row (L[1,1], L[2,1], L[2,2], L[3,1], ...), D (D+1)/2
 * values; else its diagonal only, D values.  Each diagonal entry is
 * stored as log L_ii, so L stays nonsingular with no constraint. */

/* Offset in s of L[i][j], j <= i (0-based; the diagonal only when not
 * full). */
static inline size_t fu_tri_index(int full, size_t i, size_t j)
{
    return full ? i * (i + 1) / 2 + j : i;
}

/* L[i][j] (j <= i), the diagonal exponentiated; 0 off the diagonal of a
 * diagonal factor. */
static inline double fu_tri_entry(int full, const double *s, size_t i, size_t j)
{
    double v;
    if (!full && i != j)
        return 0.0;
    v = s[fu_tri_index(full, i, j)];
    return i == j ? exp(v) : v;
}

/* log det L = sum log L_ii. */
static inline double fu_tri_log_det(int full, const double *s, size_t dim)
{
    double sum = 0.0;
    size_t i;
    for (i = 0; i < dim; ++i)
        sum += s[fu_tri_index(full, i, i)];
    return sum;
}

/* z = mu + L e. */
static inline void fu_tri_apply(int full, const double *s, size_t dim, const double *mu,
                                const double *e, double *z)
{
    size_t i, j;
    for (i = 0; i < dim; ++i) {
        double sum = mu[i];
        for (j = full ? 0 : i; j <= i; ++j)
            sum += fu_tri_entry(full, s, i, j) * e[j];
        z[i] = sum;
    }
}

/* dmu += dz and ds += dz^T dz/ds of z = mu + L e: dL_ij += dz_i e_j, with
 * a factor L_ii on the log diagonal. */
static inline void fu_tri_backward(int full, const double *s, size_t dim, const double *e,
                                   const double *dz, double *dmu, double *ds)
{
    size_t i, j;
    for (i = 0; i < dim; ++i) {
        dmu[i] += dz[i];
        for (j = full ? 0 : i; j < i; ++j)
            ds[fu_tri_index(full, i, j)] += dz[i] * e[j];
        ds[fu_tri_index(full, i, i)] += dz[i] * e[i] * fu_tri_entry(full, s, i, i);
    }
}

/* t = L^-1 (z - mu) by forward substitution; returns |t|^2. */
static inline double fu_tri_solve(int full, const double *s, size_t dim, const double *mu,
                                  const double *z, double *t)
{
    size_t i, j;
    double sq = 0.0;
    for (i = 0; i < dim; ++i) {
        double sum = z[i] - mu[i];
        for (j = full ? 0 : i; j < i; ++j)
            sum -= fu_tri_entry(full, s, i, j) * t[j];
        t[i] = sum / fu_tri_entry(full, s, i, i);
        sq += t[i] * t[i];
    }
    return sq;
}

/* g = L^-T (scale t) by back substitution. */
static inline void fu_tri_solve_t(int full, const double *s, size_t dim, double scale,
                                  const double *t, double *g)
{
    size_t i, k;
    for (i = dim; i-- > 0;) {
        double sum = scale * t[i];
        for (k = i + 1; full && k < dim; ++k)
            sum -= fu_tri_entry(full, s, k, i) * g[k];
        g[i] = sum / fu_tri_entry(full, s, i, i);
    }
}

/* start + (L L^T)_ij = start + sum_{k <= j} L_ik L_jk, for j <= i. */
static inline double fu_tri_cov(int full, const double *s, size_t i, size_t j, double start)
{
    double sum = start;
    size_t k;
    for (k = 0; k <= j; ++k)
        sum += fu_tri_entry(full, s, i, k) * fu_tri_entry(full, s, j, k);
    return sum;
}

/* ------------------------------------------------------------------ */
/* Starting values                                                      */
/* ------------------------------------------------------------------ */

/* A fixed pseudo-random value of variance 1 (uniform on [-sqrt 3,
 * sqrt 3]) for index i: a splitmix64 hash, so init stays pure and
 * reproducible. */
static inline double fu_start_pattern(uint64_t i)
{
    uint64_t x = i + 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    x ^= x >> 31;
    return 1.7320508075688772 * (2.0 * ((double)(x >> 11) * 0x1.0p-53) - 1.0);
}

#endif /* VIHOST_FAMILY_UTIL_H */
