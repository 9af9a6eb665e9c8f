/*
 * target_util.h — helpers shared by the built-in targets: the create
 * boilerplate, reading and checking data variables and options (every
 * error names the variable and says what was expected), parameter names,
 * item-index checks, and dense Cholesky factors.
 * Private to this folder (not installed); everything is static inline so
 * each plugin keeps only what it uses, and [any-thread] where it matters.
 */
#ifndef VIHOST_TARGET_UTIL_H
#define VIHOST_TARGET_UTIL_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vihost/plugin.h>
#include <vihost/sdk.h>

/* Fills in a zeroed target object: reads the data and options, sizes and
 * names.  On failure the object is destroyed. */
typedef int (*tu_setup_fn)(const vi_host *host, const vi_config *config,
                           void *self, vi_error *err);

/* The body of every create: allocates a zeroed object of `size` bytes,
 * sets it up, and hands it out, or destroys it and returns setup's
 * status. */
static inline int tu_create(const vi_host *host, const vi_config *config,
                            size_t size, tu_setup_fn setup,
                            void (*destroy)(void *), void **self,
                            vi_error *err)
{
    void *t = calloc(1, size);
    int status;
    *self = NULL;
    if (t == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    status = setup(host, config, t, err);
    if (status != VI_OK) {
        destroy(t);
        return status;
    }
    *self = t;
    return VI_OK;
}

/* Bytes per parameter name: room for "theta_trans[" + 20 digits + "]" and
 * user-given names. */
#define TU_NAME_SIZE 64

/* n names, TU_NAME_SIZE bytes apart. */
typedef struct tu_names {
    size_t n;
    char *text;
} tu_names;

static inline int tu_names_alloc(tu_names *names, size_t n, vi_error *err)
{
    names->n = n;
    names->text = (char *)calloc(n + 1, TU_NAME_SIZE);
    if (names->text == NULL)
        return vi_error_set(err, VI_ENOMEM, "out of memory");
    return VI_OK;
}

/* The unconstrained names (n) and the constrained ones (n_constrained). */
static inline int tu_names_alloc_pair(tu_names *names, size_t n,
                                      tu_names *cnames, size_t n_constrained,
                                      vi_error *err)
{
    int status = tu_names_alloc(names, n, err);
    return status == VI_OK ? tu_names_alloc(cnames, n_constrained, err)
                           : status;
}

static inline void tu_names_free(tu_names *names)
{
    free(names->text);
    names->text = NULL;
    names->n = 0;
}

/* Name i, or NULL past the end. */
static inline const char *tu_name(const tu_names *names, size_t i)
{
    return i < names->n ? names->text + i * TU_NAME_SIZE : NULL;
}

static inline void tu_name_set(tu_names *names, size_t i, const char *text)
{
    snprintf(names->text + i * TU_NAME_SIZE, TU_NAME_SIZE, "%s", text);
}

/* Name i = "base[k+1]" (1-based, like Stan). */
static inline void tu_name_index(tu_names *names, size_t i, const char *base,
                                 size_t k)
{
    vi_index_name(names->text + i * TU_NAME_SIZE, TU_NAME_SIZE, base, k);
}

/* Checks that data[0..count) are finite; `key` names the variable. */
static inline int tu_check_finite(const double *data, size_t count,
                                  const char *key, vi_error *err)
{
    size_t i;
    for (i = 0; i < count; ++i)
        if (!isfinite(data[i]))
            return vi_error_set(err, VI_EINVAL,
                                "data variable '%s' has a non-finite value "
                                "at %s[%lu]",
                                key, key, (unsigned long)i + 1UL);
    return VI_OK;
}

/* Reads the vector `key` (a scalar counts as length 1).  want > 0 demands
 * that length; `want_what` says where it comes from ("N", "the length of
 * y").  Values must be finite. */
static inline int tu_read_vector(const vi_host *host, const vi_config *config,
                                 const char *key, size_t want,
                                 const char *want_what, const double **data,
                                 size_t *len, vi_error *err)
{
    size_t shape[VI_MAX_RANK], ndim;
    int status = vi_config_get_array_required(host, config, key, data, shape,
                                              &ndim, err);
    if (status != VI_OK)
        return status;
    if (ndim > 1)
        return vi_error_set(err, VI_ETYPE,
                            "data variable '%s' must be a vector, got an "
                            "array of rank %lu",
                            key, (unsigned long)ndim);
    *len = vi_shape_count(shape, ndim);
    if (want > 0 && *len != want)
        return vi_error_set(err, VI_ETYPE,
                            "data variable '%s' must have %lu values (%s), "
                            "got %lu",
                            key, (unsigned long)want, want_what,
                            (unsigned long)*len);
    if (*len == 0)
        return vi_error_set(err, VI_EINVAL,
                            "data variable '%s' is empty", key);
    return tu_check_finite(*data, *len, key, err);
}

/* Reads the matrix `key` (rows x cols, as an array of rows); rows > 0
 * demands that many rows.  Values must be finite. */
static inline int tu_read_matrix(const vi_host *host, const vi_config *config,
                                 const char *key, size_t want_rows,
                                 const char *want_what, const double **data,
                                 size_t *rows, size_t *cols, vi_error *err)
{
    size_t shape[VI_MAX_RANK], ndim;
    int status = vi_config_get_array_required(host, config, key, data, shape,
                                              &ndim, err);
    if (status != VI_OK)
        return status;
    if (ndim != 2)
        return vi_error_set(err, VI_ETYPE,
                            "data variable '%s' must be a matrix (an array "
                            "of rows), got an array of rank %lu",
                            key, (unsigned long)ndim);
    *rows = shape[0];
    *cols = shape[1];
    if (*rows == 0 || *cols == 0)
        return vi_error_set(err, VI_EINVAL,
                            "data variable '%s' is empty (%lu x %lu)", key,
                            (unsigned long)*rows, (unsigned long)*cols);
    if (want_rows > 0 && *rows != want_rows)
        return vi_error_set(err, VI_ETYPE,
                            "data variable '%s' must have %lu rows (%s), got "
                            "%lu",
                            key, (unsigned long)want_rows, want_what,
                            (unsigned long)*rows);
    return tu_check_finite(*data, *rows * *cols, key, err);
}

/* An optional declared size (N, J, D, ...): when `key` is present it must
 * equal `actual`, which `what` describes ("the length of y"). */
static inline int tu_check_size(const vi_host *host, const vi_config *config,
                                const char *key, size_t actual,
                                const char *what, vi_error *err)
{
    int64_t declared;
    int status = vi_config_get_int_or(host, config, key, -1, &declared, err);
    if (status != VI_OK || declared == -1) /* absent: the arrays decide */
        return status;
    if (declared < 0 || (uint64_t)declared != (uint64_t)actual)
        return vi_error_set(err, VI_EINVAL,
                            "data variable '%s' = %lld does not match %s, "
                            "which is %lu",
                            key, (long long)declared, what,
                            (unsigned long)actual);
    return VI_OK;
}

/* A required whole number in [lo, hi] (a data variable such as K). */
static inline int tu_read_count(const vi_host *host, const vi_config *config,
                                const char *key, int64_t lo, int64_t hi,
                                int64_t *out, vi_error *err)
{
    int status = host->config_get_int(config, key, out);
    if (status == VI_ENOTFOUND)
        return vi_error_set(err, status,
                            "'%s' is missing: give it as an option or as a "
                            "variable in the target's data file",
                            key);
    if (status != VI_OK)
        return vi_error_set(err, VI_ETYPE, "'%s' must be a whole number",
                            key);
    if (*out < lo || *out > hi)
        return vi_error_set(err, VI_EINVAL,
                            "'%s' must be in [%lld, %lld], got %lld", key,
                            (long long)lo, (long long)hi, (long long)*out);
    return VI_OK;
}

/* Checks that every value is a whole number in [lo, hi]. */
static inline int tu_check_whole(const double *data, size_t count,
                                 const char *key, double lo, double hi,
                                 vi_error *err)
{
    size_t i;
    char range[96];
    for (i = 0; i < count; ++i)
        if (data[i] != floor(data[i]) || data[i] < lo || data[i] > hi) {
            if (hi >= 9007199254740992.0) /* no practical upper end */
                snprintf(range, sizeof range, ">= %g", lo);
            else
                snprintf(range, sizeof range, "in [%g, %g]", lo, hi);
            return vi_error_set(err, VI_EINVAL,
                                "data variable '%s' must hold whole numbers "
                                "%s, got %s[%lu] = %g",
                                key, range, key, (unsigned long)i + 1UL,
                                data[i]);
        }
    return VI_OK;
}

/* A whole-number option in [lo, hi]. */
static inline int tu_read_int_in(const vi_host *host, const vi_config *config,
                                 const char *key, int64_t fallback,
                                 int64_t lo, int64_t hi, int64_t *out,
                                 vi_error *err)
{
    int status = vi_config_get_int_or(host, config, key, fallback, out, err);
    if (status == VI_OK && (*out < lo || *out > hi))
        return vi_error_set(err, VI_EINVAL,
                            "option '%s' must be in [%lld, %lld], got %lld",
                            key, (long long)lo, (long long)hi,
                            (long long)*out);
    return status;
}

/* A real option (or data variable) that must be finite and > 0. */
static inline int tu_read_positive(const vi_host *host,
                                   const vi_config *config, const char *key,
                                   double fallback, double *out,
                                   vi_error *err)
{
    int status = vi_config_get_double_or(host, config, key, fallback, out,
                                         err);
    if (status != VI_OK)
        return status;
    if (!(*out > 0.0) || !isfinite(*out))
        return vi_error_set(err, VI_EINVAL,
                            "option '%s' must be finite and > 0, got %g", key,
                            *out);
    return VI_OK;
}

/* A real option (or data variable) that must be finite. */
static inline int tu_read_finite(const vi_host *host, const vi_config *config,
                                 const char *key, double fallback,
                                 double *out, vi_error *err)
{
    int status = vi_config_get_double_or(host, config, key, fallback, out,
                                         err);
    if (status == VI_OK && !isfinite(*out))
        return vi_error_set(err, VI_EINVAL,
                            "option '%s' must be finite, got %g", key, *out);
    return status;
}

/* A string option that must be one of `choices` (NULL-terminated);
 * *index receives its position.  Absent: `fallback`. */
static inline int tu_read_choice(const vi_host *host, const vi_config *config,
                                 const char *key, const char *const *choices,
                                 size_t fallback, size_t *index,
                                 vi_error *err)
{
    const char *text;
    char list[256];
    size_t k, used = 0;
    int status = host->config_get_string(config, key, &text);
    *index = fallback;
    if (status == VI_ENOTFOUND)
        return VI_OK;
    if (status != VI_OK)
        return vi_error_set(err, VI_ETYPE, "option '%s' must be a string",
                            key);
    list[0] = '\0';
    for (k = 0; choices[k] != NULL; ++k) {
        if (strcmp(text, choices[k]) == 0) {
            *index = k;
            return VI_OK;
        }
        used += (size_t)snprintf(list + used, sizeof list - used, "%s'%s'",
                                 k == 0 ? "" : ", ", choices[k]);
        if (used >= sizeof list)
            used = sizeof list - 1;
    }
    return vi_error_set(err, VI_EINVAL, "option '%s' must be one of %s, got '%s'",
                        key, list, text);
}

/* Checks minibatch indices against the number of items. */
static inline int tu_check_items(const size_t *idx, size_t n, size_t n_items,
                                 vi_error *err)
{
    size_t i;
    for (i = 0; i < n; ++i)
        if (idx[i] >= n_items)
            return vi_error_set(err, VI_EINVAL,
                                "item index %lu is out of range: the data "
                                "have N = %lu items (indices 0..%lu)",
                                (unsigned long)idx[i],
                                (unsigned long)n_items,
                                (unsigned long)n_items - 1UL);
    return VI_OK;
}

/* The status for a log density that came out NaN. */
static inline int tu_nan_result(double lp, const char *what, vi_error *err)
{
    if (isnan(lp))
        return vi_error_set(err, VI_ENUMERIC, "log density is NaN (%s)",
                            what);
    return VI_OK;
}

/* In-place lower Cholesky factor of the symmetric a (d x d, row-major);
 * the strict upper triangle is zeroed.  Returns 0, or the 1-based row at
 * which a pivot was not positive. */
static inline size_t tu_cholesky_lower(double *a, size_t d)
{
    size_t i, j, k;
    for (i = 0; i < d; ++i) {
        for (j = 0; j <= i; ++j) {
            double sum = a[i * d + j];
            for (k = 0; k < j; ++k)
                sum -= a[i * d + k] * a[j * d + k];
            if (i == j) {
                if (!(sum > 0.0) || !isfinite(sum))
                    return i + 1;
                a[i * d + i] = sqrt(sum);
            } else {
                a[i * d + j] = sum / a[j * d + j];
            }
        }
        for (j = i + 1; j < d; ++j)
            a[i * d + j] = 0.0;
    }
    return 0;
}

/* log det (L L^T) = 2 sum log L_ii of a Cholesky factor L. */
static inline double tu_factor_log_det(const double *l, size_t d)
{
    double log_det = 0.0;
    size_t i;
    for (i = 0; i < d; ++i)
        log_det += 2.0 * log(l[i * d + i]);
    return log_det;
}

/* out = (L L^T)^-1 = L^-T L^-1 (d x d, symmetric) from the factor L; l is
 * destroyed (it becomes L^-1, by forward substitution column by column). */
static inline void tu_inverse_from_factor(double *l, double *out, size_t d)
{
    size_t i, j, k;
    for (j = 0; j < d; ++j) {
        l[j * d + j] = 1.0 / l[j * d + j];
        for (i = j + 1; i < d; ++i) {
            double sum = 0.0;
            for (k = j; k < i; ++k)
                sum += l[i * d + k] * l[k * d + j];
            l[i * d + j] = -sum / l[i * d + i];
        }
    }
    for (i = 0; i < d; ++i)
        for (j = 0; j <= i; ++j) {
            double sum = 0.0; /* sum_k Linv_ki Linv_kj */
            for (k = i; k < d; ++k)
                sum += l[k * d + i] * l[k * d + j];
            out[i * d + j] = out[j * d + i] = sum;
        }
}

#endif /* VIHOST_TARGET_UTIL_H */
