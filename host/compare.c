/* compare.c — the comparison of a run's families (see compare.h). */
#include "compare.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "diagnostics.h"
#include "report.h"
#include "table.h"

/* The standard normal's 95% quantile, for the quantiles of exact moments. */
#define COMPARE_Z95 1.6448536269514722
/* reference.json carries the covariance up to this many parameters. */
#define COMPARE_COV_MAX 200

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

void vh_name_bracketed(const char *name, char *out, size_t size)
{
    const char *dot = strchr(name, '.');
    if (size == 0)
        return;
    if (dot == NULL || dot == name) {
        snprintf(out, size, "%s", name);
        return;
    }
    /* Only "base.<digits>(.<digits>)*" is an indexed CmdStan name. */
    for (const char *p = dot; *p; p++)
        if (!(*p == '.' ? p[1] >= '0' && p[1] <= '9' : *p >= '0' && *p <= '9')) {
            snprintf(out, size, "%s", name);
            return;
        }
    size_t k = 0;
    for (const char *p = name; *p && k + 2 < size; p++)
        out[k++] = *p == '.' ? (p == dot ? '[' : ',') : *p;
    if (k + 1 < size)
        out[k++] = ']';
    out[k] = '\0';
}

void vh_name_dotted(const char *name, char *out, size_t size)
{
    size_t k = 0;
    if (size == 0)
        return;
    for (const char *p = name; *p && k + 1 < size; p++) {
        char c = *p;
        if (c == '[' || (c == ',' && strchr(name, '[') != NULL))
            c = '.';
        else if (c == ']' && p[1] == '\0')
            continue;
        else if (c == ' ' && (p[-1] == ',' || p[-1] == '['))
            continue;
        else if (c == ',' || c == '"' || c == '\n' || c == '\r')
            c = '_';
        out[k++] = c;
    }
    out[k] = '\0';
}

/* ------------------------------------------------------------------ */
/* k-hat                                                               */
/* ------------------------------------------------------------------ */

double vh_khat_threshold(size_t draws)
{
    if (draws < 2)
        return NAN;
    return fmin(1.0 - 1.0 / log10((double)draws), 0.7);
}

const char *vh_khat_verdict(double khat, size_t draws)
{
    if (isnan(khat))
        return "n/a";
    if (khat >= 0.7)
        return "unreliable";
    double threshold = vh_khat_threshold(draws);
    if (!isnan(threshold) && khat >= threshold)
        return "too few draws";
    return khat < 0.5 ? "good" : "ok";
}

const char *vh_compare_verdict(const vh_compare_family *f)
{
    return f->khat_verdict != NULL ? f->khat_verdict : vh_khat_verdict(f->khat, (size_t)f->draws);
}

/* ------------------------------------------------------------------ */
/* The reference                                                       */
/* ------------------------------------------------------------------ */

void vh_reference_free(vh_reference *ref)
{
    if (ref == NULL)
        return;
    for (size_t i = 0; ref->names && i < ref->n; i++)
        free(ref->names[i]);
    free(ref->names);
    free(ref->source);
    free(ref->file);
    free(ref->mean);
    free(ref->sd);
    free(ref->q05);
    free(ref->q50);
    free(ref->q95);
    free(ref->cov);
    free(ref->draws);
    free(ref);
}

static vh_reference *reference_alloc(size_t n, vh_err *err)
{
    vh_reference *ref = calloc(1, sizeof *ref);
    if (ref != NULL) {
        ref->n = n;
        ref->names = calloc(n + 1, sizeof *ref->names);
        ref->mean = calloc(n + 1, sizeof *ref->mean);
        ref->sd = calloc(n + 1, sizeof *ref->sd);
        ref->q05 = calloc(n + 1, sizeof *ref->q05);
        ref->q50 = calloc(n + 1, sizeof *ref->q50);
        ref->q95 = calloc(n + 1, sizeof *ref->q95);
    }
    if (ref == NULL || !ref->names || !ref->mean || !ref->sd || !ref->q05 || !ref->q50 ||
        !ref->q95) {
        vh_reference_free(ref);
        vh_err_set(err, VH_EXIT_FAILURE, "out of memory for a reference of %zu parameters", n);
        return NULL;
    }
    return ref;
}

long vh_reference_find(const vh_reference *ref, const char *name)
{
    char canon[256];
    if (ref == NULL)
        return -1;
    vh_name_bracketed(name, canon, sizeof canon);
    for (size_t i = 0; i < ref->n; i++)
        if (strcmp(ref->names[i], canon) == 0)
            return (long)i;
    return -1;
}

/* An absolute form of path (for reference.json, read from elsewhere). */
static char *absolute_path(const char *path)
{
    char *real = realpath(path, NULL);
    return real != NULL ? real : strdup(path);
}

/* posteriordb's layout: name, mean, sd and optionally q05, q50, q95. */
static int reference_from_summaries(const char *path, const vh_table *t, vh_reference **out,
                                    vh_err *err)
{
    long c_name = vh_table_column(t, "name"), c_mean = vh_table_column(t, "mean");
    long c_sd = vh_table_column(t, "sd");
    long c_q[3] = {vh_table_column(t, "q05"), vh_table_column(t, "q50"),
                   vh_table_column(t, "q95")};
    if (t->n_rows == 0)
        return vh_err_set(err, VH_EXIT_USAGE, "%s: the reference lists no parameters", path);
    vh_reference *ref = reference_alloc(t->n_rows, err);
    if (ref == NULL)
        return -1;
    for (size_t i = 0; i < t->n_rows; i++) {
        char canon[256];
        vh_name_bracketed(vh_table_cell(t, i, c_name), canon, sizeof canon);
        ref->names[i] = strdup(canon);
        ref->mean[i] = vh_table_number(t, i, c_mean);
        ref->sd[i] = vh_table_number(t, i, c_sd);
        double *q[3] = {&ref->q05[i], &ref->q50[i], &ref->q95[i]};
        for (int k = 0; k < 3; k++)
            *q[k] = vh_table_number(t, i, c_q[k]);
        if (ref->names[i] == NULL) {
            vh_reference_free(ref);
            return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
        }
        if (canon[0] == '\0' || !isfinite(ref->mean[i]) || !(ref->sd[i] > 0) ||
            !isfinite(ref->sd[i])) {
            vh_reference_free(ref);
            return vh_err_set(err, VH_EXIT_USAGE,
                              "%s: row %zu ('%s') needs a name, a finite mean and a finite sd > 0",
                              path, i + 1, canon);
        }
    }
    *out = ref;
    return 0;
}

/* Mean, sd, quantiles and covariance of reference draws. */
static int reference_summarize_draws(vh_reference *ref, vh_err *err)
{
    size_t n = ref->n, m = ref->n_draws;
    double *scratch = malloc((m + 1) * sizeof *scratch);
    ref->cov = calloc(n * n + 1, sizeof *ref->cov);
    if (scratch == NULL || ref->cov == NULL) {
        free(scratch);
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory for %zu reference draws", m);
    }
    vh_summarize(ref->draws, m, n, ref->mean, ref->sd, ref->q05, ref->q50, ref->q95, scratch);
    free(scratch);
    for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b <= a; b++) {
            double s = 0.0;
            for (size_t d = 0; d < m; d++)
                s += (ref->draws[d * n + a] - ref->mean[a]) * (ref->draws[d * n + b] - ref->mean[b]);
            ref->cov[a * n + b] = ref->cov[b * n + a] = s / (double)(m - 1);
        }
    return 0;
}

/* Columns of draws; "__" columns left out.  A variational draws.csv
 * (log_p__ and log_g__ both 0 in the first row) starts with its mean row,
 * which is not a draw. */
static int reference_from_draws(const char *path, const vh_table *t, vh_reference **out,
                                vh_err *err)
{
    size_t n = 0;
    long *cols = calloc(t->n_cols + 1, sizeof *cols);
    if (cols == NULL)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    for (size_t j = 0; j < t->n_cols; j++) {
        size_t len = strlen(t->header[j]);
        if (!(len > 2 && strcmp(t->header[j] + len - 2, "__") == 0))
            cols[n++] = (long)j;
    }
    long lp = vh_table_column(t, "log_p__"), lg = vh_table_column(t, "log_g__");
    size_t skip = lp >= 0 && lg >= 0 && t->n_rows > 0 && vh_table_number(t, 0, lp) == 0.0 &&
                  vh_table_number(t, 0, lg) == 0.0;
    if (n == 0 || t->n_rows < skip + 2) {
        free(cols);
        return vh_err_set(err, VH_EXIT_USAGE,
                          "%s: not a reference: neither name,mean,sd summaries nor at least two "
                          "draws of named parameters", path);
    }
    vh_reference *ref = reference_alloc(n, err);
    int failed = ref == NULL;
    if (!failed) {
        ref->n_draws = t->n_rows - skip;
        ref->draws = malloc(ref->n_draws * n * sizeof *ref->draws);
        failed = ref->draws == NULL && vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    }
    for (size_t j = 0; !failed && j < n; j++) {
        char canon[256];
        vh_name_bracketed(t->header[cols[j]], canon, sizeof canon);
        failed = (ref->names[j] = strdup(canon)) == NULL &&
                 vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
        for (size_t d = 0; !failed && d < ref->n_draws; d++) {
            double x = vh_table_number(t, d + skip, cols[j]);
            ref->draws[d * n + j] = x;
            if (!isfinite(x))
                failed = vh_err_set(err, VH_EXIT_USAGE, "%s: draw %zu of '%s' is not a finite number",
                                    path, d + 1, canon);
        }
    }
    free(cols);
    if (failed || reference_summarize_draws(ref, err) != 0) {
        vh_reference_free(ref);
        return -1;
    }
    *out = ref;
    return 0;
}

int vh_reference_read_csv(const char *path, vh_reference **out, vh_err *err)
{
    vh_table *t = NULL;
    *out = NULL;
    if (vh_table_read(path, &t, err) != 0)
        return -1;
    int summaries = vh_table_column(t, "name") >= 0 && vh_table_column(t, "mean") >= 0 &&
                    vh_table_column(t, "sd") >= 0;
    int rc = summaries ? reference_from_summaries(path, t, out, err)
                       : reference_from_draws(path, t, out, err);
    vh_table_free(t);
    if (rc != 0)
        return -1;
    char what[64];
    snprintf(what, sizeof what, "%s", summaries ? "reference summaries" : "reference draws");
    (*out)->file = absolute_path(path);
    size_t len = strlen(what) + strlen((*out)->file ? (*out)->file : path) + 8;
    if (((*out)->source = malloc(len)) != NULL)
        snprintf((*out)->source, len, "%s in %s", what, (*out)->file ? (*out)->file : path);
    if ((*out)->file == NULL || (*out)->source == NULL) {
        vh_reference_free(*out);
        *out = NULL;
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    }
    return 0;
}

int vh_reference_from_moments(const char *source, size_t n, const char *const *names,
                              const double *mean, const double *cov,
                              vh_reference **out, vh_err *err)
{
    *out = NULL;
    vh_reference *ref = reference_alloc(n, err);
    if (ref == NULL)
        return -1;
    ref->source = strdup(source);
    ref->cov = malloc((n * n + 1) * sizeof *ref->cov);
    ref->exact = 1;
    int failed = ref->source == NULL || ref->cov == NULL;
    for (size_t i = 0; !failed && i < n; i++) {
        char canon[256];
        vh_name_bracketed(names[i] ? names[i] : "", canon, sizeof canon);
        failed = (ref->names[i] = strdup(canon)) == NULL;
        ref->mean[i] = mean[i];
        ref->sd[i] = sqrt(cov[i * n + i]);
        ref->q05[i] = mean[i] - COMPARE_Z95 * ref->sd[i];
        ref->q50[i] = mean[i];
        ref->q95[i] = mean[i] + COMPARE_Z95 * ref->sd[i];
    }
    if (failed) {
        vh_reference_free(ref);
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    }
    memcpy(ref->cov, cov, n * n * sizeof *cov);
    *out = ref;
    return 0;
}

/* ------------------------------------------------------------------ */
/* reference.json                                                      */
/* ------------------------------------------------------------------ */

static json_t *json_num(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

static json_t *reference_to_json(const vh_reference *ref)
{
    json_t *obj = json_object(), *params = json_array();
    int bad = obj == NULL || params == NULL;
    bad |= json_object_set_new(obj, "source", json_string(ref->source)) != 0;
    bad |= json_object_set_new(obj, "file", ref->file ? json_string(ref->file) : json_null()) != 0;
    bad |= json_object_set_new(obj, "exact", json_boolean(ref->exact)) != 0;
    bad |= json_object_set_new(obj, "draws", json_integer((json_int_t)ref->n_draws)) != 0;
    for (size_t i = 0; !bad && i < ref->n; i++) {
        json_t *p = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o}", "name", ref->names[i],
                              "mean", json_num(ref->mean[i]), "sd", json_num(ref->sd[i]),
                              "q05", json_num(ref->q05[i]), "q50", json_num(ref->q50[i]),
                              "q95", json_num(ref->q95[i]));
        bad |= p == NULL || json_array_append_new(params, p) != 0;
    }
    bad |= json_object_set(obj, "parameters", params) != 0;
    if (!bad && ref->cov != NULL && ref->n <= COMPARE_COV_MAX) {
        json_t *rows = json_array();
        for (size_t a = 0; rows != NULL && !bad && a < ref->n; a++) {
            json_t *row = json_array();
            for (size_t b = 0; row != NULL && b < ref->n; b++)
                bad |= json_array_append_new(row, json_num(ref->cov[a * ref->n + b])) != 0;
            bad |= row == NULL || json_array_append_new(rows, row) != 0;
        }
        bad |= rows == NULL || json_object_set_new(obj, "cov", rows) != 0;
    }
    json_decref(params);
    if (bad) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

static double json_get_number(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static double json_matrix_at(const json_t *m, size_t a, size_t b)
{
    const json_t *v = json_array_get(json_array_get(m, a), b);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static int reference_json_params(const json_t *doc, vh_reference **out, vh_err *err)
{
    const json_t *params = json_object_get(doc, "parameters");
    size_t n = json_array_size(params);
    if (n == 0)
        return vh_err_set(err, VH_EXIT_USAGE, "reference.json lists no parameters");
    vh_reference *ref = reference_alloc(n, err);
    if (ref == NULL)
        return -1;
    int failed = 0;
    for (size_t i = 0; !failed && i < n; i++) {
        const json_t *p = json_array_get(params, i);
        const char *name = json_string_value(json_object_get(p, "name"));
        failed = (ref->names[i] = strdup(name ? name : "")) == NULL;
        ref->mean[i] = json_get_number(p, "mean");
        ref->sd[i] = json_get_number(p, "sd");
        ref->q05[i] = json_get_number(p, "q05");
        ref->q50[i] = json_get_number(p, "q50");
        ref->q95[i] = json_get_number(p, "q95");
    }
    const json_t *cov = json_object_get(doc, "cov");
    if (!failed && json_array_size(cov) == n && (ref->cov = malloc(n * n * sizeof *ref->cov)))
        for (size_t a = 0; a < n; a++)
            for (size_t b = 0; b < n; b++)
                ref->cov[a * n + b] = json_matrix_at(cov, a, b);
    if (failed) {
        vh_reference_free(ref);
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    }
    *out = ref;
    return 0;
}

/* reference.json back into a reference; reference draws are read again
 * from their CSV when it is still there. */
static int reference_read_json(const char *path, vh_reference **out, char **note, vh_err *err)
{
    json_error_t jerr;
    *out = NULL;
    json_t *doc = json_load_file(path, 0, &jerr);
    if (doc == NULL || !json_is_object(doc)) {
        json_decref(doc);
        return vh_err_set(err, VH_EXIT_USAGE, "%s:%d: not a reference.json: %s", path,
                          jerr.line, jerr.text);
    }
    const char *file = json_string_value(json_object_get(doc, "file"));
    json_int_t draws = json_integer_value(json_object_get(doc, "draws"));
    vh_err ignored;
    vh_reference *ref = NULL;
    if (file != NULL && draws > 0 && vh_reference_read_csv(file, &ref, &ignored) == 0) {
        *out = ref;
        json_decref(doc);
        return 0;
    }
    if (file != NULL && draws > 0 && (*note = malloc(strlen(file) + 96)) != NULL)
        sprintf(*note, "the reference draws in %s are gone; only their summaries are shown",
                file);
    int rc = reference_json_params(doc, &ref, err);
    if (rc == 0) {
        const char *source = json_string_value(json_object_get(doc, "source"));
        ref->source = strdup(source ? source : "reference.json");
        ref->file = file ? strdup(file) : NULL;
        ref->exact = json_is_true(json_object_get(doc, "exact"));
        *out = ref;
    }
    json_decref(doc);
    return rc;
}

static int reference_write_json(FILE *out, const vh_reference *ref)
{
    json_t *obj = reference_to_json(ref);
    int bad = obj == NULL ||
              json_dumpf(obj, out, JSON_INDENT(2) | JSON_REAL_PRECISION(17) |
                                       JSON_PRESERVE_ORDER) != 0;
    json_decref(obj);
    if (!bad)
        fputc('\n', out);
    return bad || ferror(out) ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* Families                                                            */
/* ------------------------------------------------------------------ */

vh_comparison *vh_comparison_new(const char *dir)
{
    vh_comparison *cmp = calloc(1, sizeof *cmp);
    if (cmp != NULL && (cmp->dir = strdup(dir)) == NULL) {
        free(cmp);
        return NULL;
    }
    return cmp;
}

static void family_clear(vh_compare_family *f)
{
    free(f->name);
    free(f->dir);
    free(f->error);
    free(f->target);
    free(f->max_mean_error_param);
    free(f->khat_verdict);
}

void vh_comparison_free(vh_comparison *cmp)
{
    if (cmp == NULL)
        return;
    for (size_t i = 0; i < cmp->n; i++)
        family_clear(&cmp->families[i]);
    free(cmp->families);
    vh_reference_free(cmp->reference);
    free(cmp->reference_note);
    free(cmp->dir);
    free(cmp);
}

static void family_reset_numbers(vh_compare_family *f)
{
    f->elbo = f->elbo_mcse = f->iw_elbo = f->iw_elbo_mcse = NAN;
    f->log_evidence = f->log_evidence_mcse = f->khat = f->khat_threshold = NAN;
    f->ess = f->seconds = f->log_z = f->kl_exact = NAN;
    f->max_mean_error = f->sd_ratio_min = f->sd_ratio_max = NAN;
}

int vh_comparison_add(vh_comparison *cmp, const char *name, const char *subdir,
                      int exit_code, const char *error)
{
    vh_compare_family *more = realloc(cmp->families, (cmp->n + 1) * sizeof *more);
    if (more == NULL)
        return -1;
    cmp->families = more;
    vh_compare_family *f = &cmp->families[cmp->n];
    memset(f, 0, sizeof *f);
    family_reset_numbers(f);
    f->name = strdup(name);
    f->dir = strdup(subdir);
    f->ok = error == NULL;
    f->exit_code = exit_code;
    f->error = error ? strdup(error) : NULL;
    cmp->n++;
    if (f->name == NULL || f->dir == NULL || (error != NULL && f->error == NULL))
        return -1;
    return 0;
}

void vh_comparison_set_reference(vh_comparison *cmp, vh_reference *ref, const char *note)
{
    vh_reference_free(cmp->reference);
    free(cmp->reference_note);
    cmp->reference = ref;
    cmp->reference_note = note ? strdup(note) : NULL;
}

static char *family_path(const vh_comparison *cmp, const vh_compare_family *f,
                         const char *file)
{
    size_t len = strlen(cmp->dir) + strlen(f->dir) + strlen(file) + 3;
    char *path = malloc(len);
    if (path != NULL) {
        if (strcmp(f->dir, ".") == 0)
            snprintf(path, len, "%s/%s", cmp->dir, file);
        else
            snprintf(path, len, "%s/%s/%s", cmp->dir, f->dir, file);
    }
    return path;
}

/* A failed row from a family whose files cannot be read. */
static void family_fail(vh_compare_family *f, int exit_code, const char *why)
{
    free(f->error);
    f->error = strdup(why);
    f->ok = 0;
    f->exit_code = exit_code;
    family_reset_numbers(f);
}

static uint64_t json_get_count(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        return (uint64_t)json_integer_value(v);
    if (json_is_string(v))
        return strtoull(json_string_value(v), NULL, 10);
    return 0;
}

static void family_take_result(vh_compare_family *f, const json_t *doc)
{
    const char *target = json_string_value(json_object_get(json_object_get(doc, "target"), "name"));
    const char *family = json_string_value(json_object_get(json_object_get(doc, "family"), "name"));
    free(f->target);
    f->target = target ? strdup(target) : NULL;
    if (f->name != NULL && f->name[0] == '\0' && family != NULL) {
        /* A single run's folder: the family is named in its result. */
        char *name = strdup(family);
        if (name != NULL) {
            free(f->name);
            f->name = name;
        }
    }
    f->elbo = json_get_number(doc, "elbo");
    f->elbo_mcse = json_get_number(doc, "elbo_mcse");
    f->iw_elbo = json_get_number(doc, "iw_elbo");
    f->iw_elbo_mcse = json_get_number(doc, "iw_elbo_mcse");
    f->log_evidence = json_get_number(doc, "log_evidence");
    f->log_evidence_mcse = json_get_number(doc, "log_evidence_mcse");
    f->khat = json_get_number(doc, "khat");
    f->ess = json_get_number(doc, "ess");
    f->seconds = json_get_number(doc, "seconds");
    f->iterations = json_get_count(doc, "iterations");
    f->gradient_evaluations = json_get_count(doc, "gradient_evaluations");
    f->iw_samples = json_get_count(doc, "iw_samples");
    f->draws = json_get_count(doc, "importance_draws");
    f->converged = json_is_true(json_object_get(doc, "converged"));
    const char *verdict = json_string_value(json_object_get(doc, "khat_verdict"));
    f->khat_verdict = verdict != NULL ? strdup(verdict) : NULL;
    /* JSON has no -inf: a null k-hat judged "good" is the flat tail's. */
    if (isnan(f->khat) && verdict != NULL && strcmp(verdict, "good") == 0)
        f->khat = -INFINITY;
    f->khat_threshold = json_get_number(doc, "khat_threshold");
    if (isnan(f->khat_threshold))
        f->khat_threshold = vh_khat_threshold((size_t)f->draws);
    f->log_z = json_get_number(doc, "log_evidence_exact");
    f->has_log_z = isfinite(f->log_z);
    f->kl_exact = json_get_number(doc, "kl_exact");
    f->has_kl_exact = isfinite(f->kl_exact);
}

/* Per-parameter mean and sd of the fit, by name. */
typedef struct family_moments {
    size_t n;
    const char **names;
    double *mean, *sd;
} family_moments;

static void moments_free(family_moments *m)
{
    free(m->names);
    free(m->mean);
    free(m->sd);
    memset(m, 0, sizeof *m);
}

static int moments_alloc(family_moments *m, size_t n)
{
    m->n = n;
    m->names = calloc(n + 1, sizeof *m->names);
    m->mean = calloc(n + 1, sizeof *m->mean);
    m->sd = calloc(n + 1, sizeof *m->sd);
    return m->names && m->mean && m->sd ? 0 : -1;
}

/* The approximation's exact moments from result.json (unconstrained). */
static int moments_from_approximation(const json_t *doc, family_moments *m)
{
    const json_t *a = json_object_get(doc, "approximation");
    const json_t *names = json_object_get(a, "names"), *mean = json_object_get(a, "mean");
    const json_t *sd = json_object_get(a, "sd");
    size_t n = json_array_size(names);
    if (n == 0 || json_array_size(mean) != n || json_array_size(sd) != n ||
        moments_alloc(m, n) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        m->names[i] = json_string_value(json_array_get(names, i));
        const json_t *mu = json_array_get(mean, i), *s = json_array_get(sd, i);
        m->mean[i] = json_is_number(mu) ? json_number_value(mu) : NAN;
        m->sd[i] = json_is_number(s) ? json_number_value(s) : NAN;
        if (m->names[i] == NULL)
            return -1;
    }
    return 0;
}

static int moments_from_summary(const vh_table *t, family_moments *m)
{
    long c_name = vh_table_column(t, "name"), c_mean = vh_table_column(t, "mean");
    long c_sd = vh_table_column(t, "sd");
    if (c_name < 0 || c_mean < 0 || c_sd < 0 || moments_alloc(m, t->n_rows) != 0)
        return -1;
    for (size_t i = 0; i < t->n_rows; i++) {
        m->names[i] = vh_table_cell(t, i, c_name);
        m->mean[i] = vh_table_number(t, i, c_mean);
        m->sd[i] = vh_table_number(t, i, c_sd);
    }
    return 0;
}

/* The largest |mean error| / reference sd and the range of sd ratios. */
static int family_against_reference(vh_compare_family *f, const family_moments *m,
                                    const vh_reference *ref)
{
    f->n_compared = 0;
    f->max_mean_error = f->sd_ratio_min = f->sd_ratio_max = NAN;
    for (size_t i = 0; i < m->n; i++) {
        long r = vh_reference_find(ref, m->names[i]);
        if (r < 0 || !(ref->sd[r] > 0))
            continue;
        double e = fabs(m->mean[i] - ref->mean[r]) / ref->sd[r];
        double ratio = m->sd[i] / ref->sd[r];
        if (f->n_compared == 0 || e > f->max_mean_error || isnan(e)) {
            f->max_mean_error = e;
            free(f->max_mean_error_param);
            if ((f->max_mean_error_param = strdup(ref->names[r])) == NULL)
                return -1;
        }
        f->sd_ratio_min = f->n_compared == 0 ? ratio : fmin(f->sd_ratio_min, ratio);
        f->sd_ratio_max = f->n_compared == 0 ? ratio : fmax(f->sd_ratio_max, ratio);
        f->n_compared++;
    }
    return 0;
}

/* Reads one finished family's files. */
static int family_load(const vh_comparison *cmp, vh_compare_family *f)
{
    char why[600];
    char *result = family_path(cmp, f, "result.json"), *summary = family_path(cmp, f, "summary.csv");
    json_error_t jerr;
    json_t *doc = result ? json_load_file(result, 0, &jerr) : NULL;
    vh_table *t = NULL;
    vh_err err;
    int rc = 0;
    if (result == NULL || summary == NULL) {
        rc = -1;
    } else if (doc == NULL || !json_is_object(doc)) {
        snprintf(why, sizeof why, "cannot read %s: %s", result, doc ? "not an object" : jerr.text);
        family_fail(f, VH_EXIT_USAGE, why);
    } else if (vh_table_read(summary, &t, &err) != 0) {
        family_fail(f, VH_EXIT_USAGE, err.message);
    } else {
        family_take_result(f, doc);
        family_moments m = {0};
        const vh_reference *ref = cmp->reference;
        int have = ref && ref->exact && moments_from_approximation(doc, &m) == 0;
        if (ref && !have) {
            moments_free(&m);
            have = moments_from_summary(t, &m) == 0;
        }
        if (have)
            rc = family_against_reference(f, &m, ref);
        moments_free(&m);
    }
    vh_table_free(t);
    json_decref(doc);
    free(result);
    free(summary);
    return rc;
}

static void comparison_rank(vh_comparison *cmp)
{
    for (size_t i = 0; i < cmp->n; i++) {
        vh_compare_family *f = &cmp->families[i];
        f->rank = 0;
        if (!f->ok || isnan(f->elbo))
            continue;
        f->rank = 1;
        for (size_t j = 0; j < cmp->n; j++) {
            const vh_compare_family *g = &cmp->families[j];
            if (g->ok && !isnan(g->elbo) && (g->elbo > f->elbo || (g->elbo == f->elbo && j < i)))
                f->rank++;
        }
    }
}

int vh_comparison_load(vh_comparison *cmp, vh_err *err)
{
    for (size_t i = 0; i < cmp->n; i++)
        if (cmp->families[i].ok && family_load(cmp, &cmp->families[i]) != 0)
            return vh_err_set(err, VH_EXIT_FAILURE, "out of memory comparing the families");
    comparison_rank(cmp);
    return 0;
}

/* ------------------------------------------------------------------ */
/* compare.csv                                                         */
/* ------------------------------------------------------------------ */

static const char *const compare_columns[] = {
    "family", "dir", "status", "elbo_rank", "elbo", "elbo_mcse", "iw_elbo", "iw_elbo_mcse",
    "iw_samples", "log_evidence", "log_evidence_mcse", "khat", "khat_threshold",
    "khat_verdict", "ess", "importance_draws", "log_evidence_exact", "kl_gap", "kl_gap_mcse",
    "tv_bound", "kl_exact", "max_mean_error", "max_mean_error_param", "sd_ratio_min",
    "sd_ratio_max", "iterations", "converged", "gradient_evaluations", "seconds", "exit_status",
    "error", NULL};

/* A text field, quoted when it must be. */
static void csv_text(FILE *out, const char *s)
{
    if (s == NULL)
        return;
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s == '\n' || *s == '\r' ? ' ' : *s, out);
    }
    fputc('"', out);
}

/* A number; empty when it is not one (not available). */
static void csv_num(FILE *out, double x)
{
    fputc(',', out);
    if (isfinite(x))
        fprintf(out, "%.9g", x);
    else if (isinf(x))
        fputs(x > 0 ? "inf" : "-inf", out);
}

static void csv_count(FILE *out, uint64_t n, int known)
{
    fputc(',', out);
    if (known)
        fprintf(out, "%llu", (unsigned long long)n);
}

/* The KL gap log Z - ELBO, its MCSE and the total-variation bound. */
static void family_kl(const vh_compare_family *f, double *gap, double *mcse, double *tv)
{
    *gap = *mcse = *tv = NAN;
    if (!f->ok || !f->has_log_z)
        return;
    *gap = f->log_z - f->elbo;
    *mcse = f->elbo_mcse;
    *tv = sqrt(fmax(*gap, 0.0) / 2.0);
}

static void csv_row(FILE *out, const vh_compare_family *f)
{
    double gap, gap_mcse, tv;
    family_kl(f, &gap, &gap_mcse, &tv);
    csv_text(out, f->name);
    fputc(',', out);
    csv_text(out, f->dir);
    fputs(f->ok ? ",ok" : ",failed", out);
    csv_count(out, (uint64_t)f->rank, f->rank > 0);
    csv_num(out, f->elbo);
    csv_num(out, f->elbo_mcse);
    csv_num(out, f->iw_elbo);
    csv_num(out, f->iw_elbo_mcse);
    csv_count(out, f->iw_samples, f->ok);
    csv_num(out, f->log_evidence);
    csv_num(out, f->log_evidence_mcse);
    csv_num(out, f->khat);
    csv_num(out, f->ok ? f->khat_threshold : NAN);
    fputc(',', out);
    if (f->ok)
        csv_text(out, vh_compare_verdict(f));
    csv_num(out, f->ess);
    csv_count(out, f->draws, f->ok);
    csv_num(out, f->ok && f->has_log_z ? f->log_z : NAN);
    csv_num(out, gap);
    csv_num(out, gap_mcse);
    csv_num(out, tv);
    csv_num(out, f->ok && f->has_kl_exact ? f->kl_exact : NAN);
    csv_num(out, f->max_mean_error);
    fputc(',', out);
    if (f->ok && f->n_compared > 0)
        csv_text(out, f->max_mean_error_param);
    csv_num(out, f->sd_ratio_min);
    csv_num(out, f->sd_ratio_max);
    csv_count(out, f->iterations, f->ok);
    fputs(f->ok ? (f->converged ? ",true" : ",false") : ",", out);
    csv_count(out, f->gradient_evaluations, f->ok);
    csv_num(out, f->seconds);
    csv_count(out, (uint64_t)f->exit_code, !f->ok);
    fputc(',', out);
    if (!f->ok)
        csv_text(out, f->error);
    fputc('\n', out);
}

int vh_write_compare_csv(FILE *out, const vh_comparison *cmp)
{
    for (size_t k = 0; compare_columns[k] != NULL; k++)
        fprintf(out, "%s%s", k ? "," : "", compare_columns[k]);
    fputc('\n', out);
    for (size_t i = 0; i < cmp->n; i++)
        csv_row(out, &cmp->families[i]);
    return ferror(out) ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* compare.md                                                          */
/* ------------------------------------------------------------------ */

/* "1.23 ± 0.04", or "–" when x is not a number. */
static void md_pm(FILE *out, double x, double mcse)
{
    if (!isfinite(x)) {
        fputs(" – |", out);
        return;
    }
    fprintf(out, " %.6g", x);
    if (isfinite(mcse))
        fprintf(out, " ± %.2g", mcse);
    fputs(" |", out);
}

static void md_num(FILE *out, const char *fmt, double x)
{
    fputc(' ', out);
    if (isfinite(x))
        fprintf(out, fmt, x);
    else
        fputs("–", out);
    fputs(" |", out);
}

/* Table text: '|' would end a cell. */
static void md_text(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '|')
            fputc('\\', out);
        fputc(*s == '\n' || *s == '\r' ? ' ' : *s, out);
    }
}

static int comparison_has_log_z(const vh_comparison *cmp, double *log_z)
{
    for (size_t i = 0; i < cmp->n; i++)
        if (cmp->families[i].ok && cmp->families[i].has_log_z) {
            *log_z = cmp->families[i].log_z;
            return 1;
        }
    return 0;
}

static void md_header(FILE *out, int with_kl, int with_ref)
{
    fputs("| family | ELBO ± MCSE | IW-ELBO ± MCSE | log Z (IS) ± MCSE | k-hat | verdict |", out);
    if (with_kl)
        fputs(" KL gap ± MCSE | TV ≤ |", out);
    if (with_ref)
        fputs(" max \\|mean err\\| / sd | sd ratio |", out);
    fputs(" iterations | gradients | seconds |\n|---|---:|---:|---:|---:|---|", out);
    if (with_kl)
        fputs("---:|---:|", out);
    if (with_ref)
        fputs("---:|---:|", out);
    fputs("---:|---:|---:|\n", out);
}

static void md_row(FILE *out, const vh_compare_family *f, int with_kl, int with_ref)
{
    fputs("| ", out);
    md_text(out, f->dir);
    fputs(" |", out);
    if (!f->ok) {
        int cells = 8 + 2 * with_kl + 2 * with_ref;
        fprintf(out, " failed (exit %d) |", f->exit_code);
        for (int k = 1; k < cells; k++)
            fputs(" |", out);
        fputc('\n', out);
        return;
    }
    md_pm(out, f->elbo, f->elbo_mcse);
    md_pm(out, f->iw_elbo, f->iw_elbo_mcse);
    md_pm(out, f->log_evidence, f->log_evidence_mcse);
    md_num(out, "%.2f", f->khat);
    fprintf(out, " %s |", vh_compare_verdict(f));
    if (with_kl) {
        double gap, mcse, tv;
        family_kl(f, &gap, &mcse, &tv);
        md_pm(out, gap, mcse);
        md_num(out, "%.3g", tv);
    }
    if (with_ref) {
        md_num(out, "%.3g", f->max_mean_error);
        if (f->n_compared > 0)
            fprintf(out, " %.3g – %.3g |", f->sd_ratio_min, f->sd_ratio_max);
        else
            fputs(" – |", out);
    }
    fprintf(out, " %llu%s | %llu |", (unsigned long long)f->iterations,
            f->converged ? "" : " (not converged)", (unsigned long long)f->gradient_evaluations);
    md_num(out, "%.3g", f->seconds);
    fputc('\n', out);
}

/* "By ELBO: a > b (0.52 ± 0.03 lower) > c (...)"; the gap to the one above,
 * with the MCSE of the difference (independent errors assumed). */
static void md_ranking(FILE *out, const vh_comparison *cmp)
{
    const vh_compare_family *prev = NULL;
    fputs("By ELBO:", out);
    for (int rank = 1; rank <= (int)cmp->n; rank++)
        for (size_t i = 0; i < cmp->n; i++) {
            const vh_compare_family *f = &cmp->families[i];
            if (f->rank != rank)
                continue;
            fprintf(out, "%s **", prev ? " >" : "");
            md_text(out, f->dir);
            fputs("**", out);
            if (prev)
                fprintf(out, " (%.3g ± %.2g lower)", prev->elbo - f->elbo,
                        sqrt(f->elbo_mcse * f->elbo_mcse + prev->elbo_mcse * prev->elbo_mcse));
            prev = f;
        }
    fputs(prev ? ".\n" : " no family finished.\n", out);
}

static void md_notes(FILE *out, const vh_comparison *cmp, int with_kl, double log_z)
{
    size_t draws = 0;
    for (size_t i = 0; i < cmp->n; i++)
        if (cmp->families[i].ok && cmp->families[i].draws > draws)
            draws = (size_t)cmp->families[i].draws;
    fputs("\n- ELBO: mean of log p~(z) - log q(z) over the S draws made after the fit; "
          "IW-ELBO: the same draws in groups of `iw_samples` (`output.iw_samples`), "
          "the mean over groups of log(mean of the weights); log Z (IS): log(mean of all S "
          "weights), with its delta-method MCSE.\n", out);
    fprintf(out, "- k-hat: Pareto k of the largest importance weights (PSIS, Vehtari et al.): "
                 "good < 0.5 <= ok < 0.7 <= unreliable; below 0.7 but at or above the "
                 "sample-size threshold min(1 - 1/log10 S, 0.7) = %.3g at S = %zu: too few draws.\n",
            vh_khat_threshold(draws), draws);
    if (with_kl)
        fprintf(out, "- The target knows log Z = %.9g, so log Z = ELBO + KL(q || p): the KL gap "
                     "log Z - ELBO is the exact KL divergence up to the ELBO's Monte Carlo error, "
                     "and TV(q, p) <= sqrt(KL / 2) (Pinsker).\n", log_z);
    if (cmp->reference != NULL)
        fprintf(out, "- Reference: %s (%zu parameters%s). max |mean err| / sd: the largest "
                     "|mean - reference mean| / reference sd over the parameters; sd ratio: the "
                     "range of sd / reference sd.\n",
                cmp->reference->source, cmp->reference->n,
                cmp->reference->exact ? ", exact" : "");
    else if (cmp->reference_note != NULL)
        fprintf(out, "- No reference: %s.\n", cmp->reference_note);
}

int vh_write_compare_md(FILE *out, const vh_comparison *cmp)
{
    double log_z = NAN;
    int with_kl = comparison_has_log_z(cmp, &log_z), with_ref = cmp->reference != NULL;
    const char *target = NULL;
    for (size_t i = 0; i < cmp->n && target == NULL; i++)
        target = cmp->families[i].target;
    fprintf(out, "# Comparison of %zu families%s%s%s\n\n", cmp->n, target ? " on target '" : "",
            target ? target : "", target ? "'" : "");
    md_header(out, with_kl, with_ref);
    for (size_t i = 0; i < cmp->n; i++)
        md_row(out, &cmp->families[i], with_kl, with_ref);
    fputc('\n', out);
    md_ranking(out, cmp);
    md_notes(out, cmp, with_kl, log_z);
    int failures = 0;
    for (size_t i = 0; i < cmp->n; i++) {
        const vh_compare_family *f = &cmp->families[i];
        if (f->ok)
            continue;
        fprintf(out, "%s- **", failures++ ? "" : "\nFailed:\n\n");
        md_text(out, f->dir);
        fprintf(out, "** (exit %d): ", f->exit_code);
        md_text(out, f->error);
        fputc('\n', out);
    }
    return ferror(out) ? -1 : 0;
}

int vh_comparison_write(const vh_comparison *cmp, vh_outdir *out, vh_err *err)
{
    static const char *const names[] = {"compare.csv", "compare.md", "reference.json"};
    int n = cmp->reference != NULL ? 3 : 2;
    for (int k = 0; k < n; k++) {
        FILE *file = vh_outdir_open(out, names[k], err);
        if (file == NULL)
            return -1;
        int bad = k == 0 ? vh_write_compare_csv(file, cmp)
                  : k == 1 ? vh_write_compare_md(file, cmp)
                           : reference_write_json(file, cmp->reference);
        if (vh_outdir_close(out, file, err) != 0 || bad)
            return vh_err_set(err, VH_EXIT_FAILURE, "cannot write %s in %s", names[k],
                              vh_outdir_path(out));
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Reading a finished comparison                                        */
/* ------------------------------------------------------------------ */

static int path_exists(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

static int comparison_rows(vh_comparison *cmp, const vh_table *t, vh_err *err)
{
    long c_family = vh_table_column(t, "family"), c_dir = vh_table_column(t, "dir");
    long c_status = vh_table_column(t, "status"), c_error = vh_table_column(t, "error");
    long c_exit = vh_table_column(t, "exit_status");
    if (c_family < 0 || c_dir < 0 || c_status < 0)
        return vh_err_set(err, VH_EXIT_USAGE,
                          "%s/compare.csv lacks the family, dir and status columns", cmp->dir);
    for (size_t i = 0; i < t->n_rows; i++) {
        int ok = strcmp(vh_table_cell(t, i, c_status), "ok") == 0;
        const char *dir = vh_table_cell(t, i, c_dir);
        if (strchr(dir, '/') != NULL || strcmp(dir, "..") == 0 || dir[0] == '\0')
            return vh_err_set(err, VH_EXIT_USAGE, "%s/compare.csv row %zu: bad dir '%s'",
                              cmp->dir, i + 1, dir);
        double code = vh_table_number(t, i, c_exit);
        int exit_code = isfinite(code) && code > 0 ? (int)code : VH_EXIT_FAILURE;
        if (vh_comparison_add(cmp, vh_table_cell(t, i, c_family), dir, ok ? 0 : exit_code,
                              ok ? NULL : vh_table_cell(t, i, c_error)) != 0)
            return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    }
    return 0;
}

int vh_comparison_read(const char *dir, vh_comparison **out, vh_err *err)
{
    char path[4096];
    vh_table *t = NULL;
    *out = NULL;
    vh_comparison *cmp = vh_comparison_new(dir);
    if (cmp == NULL)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    int rc = 0;
    if (path_exists(dir, "compare.csv")) {
        snprintf(path, sizeof path, "%s/compare.csv", dir);
        rc = vh_table_read(path, &t, err) != 0 || comparison_rows(cmp, t, err) != 0 ? -1 : 0;
    } else if (path_exists(dir, "result.json")) {
        rc = vh_comparison_add(cmp, "", ".", 0, NULL) != 0
                 ? vh_err_set(err, VH_EXIT_FAILURE, "out of memory") : 0;
    } else {
        rc = vh_err_set(err, VH_EXIT_USAGE,
                        "'%s' holds neither compare.csv nor result.json (give the output.dir of a "
                        "finished run)", dir);
    }
    vh_table_free(t);
    if (rc == 0 && path_exists(dir, "reference.json")) {
        vh_reference *ref = NULL;
        char *note = NULL;
        snprintf(path, sizeof path, "%s/reference.json", dir);
        rc = reference_read_json(path, &ref, &note, err);
        vh_comparison_set_reference(cmp, ref, NULL);
        cmp->reference_note = note;
    }
    if (rc == 0)
        rc = vh_comparison_load(cmp, err);
    if (rc != 0) {
        vh_comparison_free(cmp);
        return -1;
    }
    *out = cmp;
    return 0;
}

/* ------------------------------------------------------------------ */
/* The terminal                                                        */
/* ------------------------------------------------------------------ */

void vh_comparison_print(FILE *out, const vh_comparison *cmp)
{
    double log_z = NAN;
    int with_kl = comparison_has_log_z(cmp, &log_z);
    fprintf(out, "comparison of %zu families (by ELBO):\n", cmp->n);
    for (int rank = 1; rank <= (int)cmp->n; rank++)
        for (size_t i = 0; i < cmp->n; i++) {
            const vh_compare_family *f = &cmp->families[i];
            if (f->rank != rank)
                continue;
            fprintf(out, "  %d. %-14s ELBO %.6g +- %.2g   k-hat %.2f (%s)", rank, f->dir,
                    f->elbo, f->elbo_mcse, f->khat, vh_compare_verdict(f));
            if (with_kl)
                fprintf(out, "   KL gap %.3g", f->log_z - f->elbo);
            if (f->n_compared > 0)
                fprintf(out, "   mean err %.2g sd", f->max_mean_error);
            fputc('\n', out);
        }
    for (size_t i = 0; i < cmp->n; i++)
        if (!cmp->families[i].ok)
            fprintf(out, "  -  %-14s failed: %s\n", cmp->families[i].dir,
                    cmp->families[i].error ? cmp->families[i].error : "");
}

void vh_reference_print_fit(FILE *out, const char *dir, vh_reference *ref)
{
    vh_comparison *cmp = vh_comparison_new(dir);
    vh_err err;
    if (cmp == NULL || vh_comparison_add(cmp, "", ".", 0, NULL) != 0) {
        vh_comparison_free(cmp);
        vh_reference_free(ref);
        return;
    }
    vh_comparison_set_reference(cmp, ref, NULL);
    const vh_compare_family *f = &cmp->families[0];
    if (vh_comparison_load(cmp, &err) == 0 && f->ok && f->n_compared > 0)
        fprintf(out, "  against the reference (%zu of %zu parameters): max |mean error| %.3g sd "
                     "(%s), sd ratio %.3g to %.3g\n",
                f->n_compared, ref->n, f->max_mean_error, f->max_mean_error_param,
                f->sd_ratio_min, f->sd_ratio_max);
    else if (f->ok)
        fprintf(out, "  against the reference: no parameter of the fit is named in %s\n",
                ref->file ? ref->file : "it");
    vh_comparison_free(cmp);
}

/* ------------------------------------------------------------------ */
/* The end of a comparison run                                         */
/* ------------------------------------------------------------------ */

int vh_comparison_finish(const char *dir, const vh_compare_outcome *ends, size_t n,
                         vh_reference *ref, const char *ref_note, vh_outdir *out, int quiet,
                         vh_err *err)
{
    vh_comparison *cmp = vh_comparison_new(dir);
    int rc = cmp == NULL ? vh_err_set(err, VH_EXIT_FAILURE, "out of memory") : 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (vh_comparison_add(cmp, ends[i].name, ends[i].dir, ends[i].exit_code,
                              ends[i].exit_code ? ends[i].error : NULL) != 0)
            rc = vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    if (cmp != NULL)
        vh_comparison_set_reference(cmp, ref, ref_note);
    else
        vh_reference_free(ref);
    if (rc == 0)
        rc = vh_comparison_load(cmp, err) != 0 || vh_comparison_write(cmp, out, err) != 0 ||
                     vh_outdir_commit(out, err) != 0 ? -1 : 0;
    if (rc == 0) {
        vh_err rerr;
        vh_err_clear(&rerr);
        int report = vh_report_write(cmp, &rerr);
        if (report == 1 && !quiet)
            fprintf(stderr, "vihost: note: report.html skipped: %s\n", rerr.message);
        else if (report < 0)
            fprintf(stderr, "vihost: warning: report.html not written: %s\n", rerr.message);
        if (!quiet) {
            vh_comparison_print(stdout, cmp);
            printf("  compare.csv, compare.md%s in %s/\n", report == 0 ? ", report.html" : "",
                   dir);
        }
    }
    vh_comparison_free(cmp);
    return rc;
}
