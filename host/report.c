/* report.c — report.html and its gnuplot figures (see report.h). */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <dirent.h>

#include "build-config.h"
#include "diagnostics.h"
#include "table.h"

extern char **environ;

/* Points of each density curve and ellipse. */
#define REPORT_GRID 200
#define REPORT_ELLIPSE 120
/* The figures use at most this many draws of each family. */
#define REPORT_MAX_DRAWS 5000
/* At most this many reference draws are scattered in the pair plot. */
#define REPORT_SCATTER_MAX 1500
/* The standard normal's 95% quantile: a 90% interval from a mean and sd. */
#define COMPARE_Z95_REPORT 1.6448536269514722
/* Room for a figure's file name. */
#define REPORT_NAME 64

static const char *const report_colors[] = {"#1b6ca8", "#d1495b", "#2e933c", "#edae49",
                                            "#6a4c93", "#00798c", "#8c564b", "#e377c2"};
#define REPORT_N_COLORS (sizeof report_colors / sizeof report_colors[0])

/* One finished family's data for the figures. */
typedef struct report_family {
    const vh_compare_family *f;
    const char *label;       /* legend: its folder, or its name for a single run */
    const char *color;
    size_t n_trace;
    double *iter, *elbo;     /* n_trace, finite rows only */
    size_t n_params, n_draws;
    char **names;            /* n_params, bracket form */
    double *draws;           /* n_draws x n_params */
} report_family;

/* Everything one report is made from. */
typedef struct report {
    const vh_comparison *cmp;
    report_family *fams;
    size_t n_fams;
    char *staging;           /* DIR/.report.vihost-XXXXXX */
    char **figures;          /* file names made, in page order */
    char **captions;
    size_t n_figures;
    size_t n_marginals, n_params_total;
    long pair_a, pair_b;     /* indices into fams[0].names, or -1 */
    double pair_corr;
    const char *pair_source;
} report;

/* ------------------------------------------------------------------ */
/* Loading                                                             */
/* ------------------------------------------------------------------ */

static char *join3(const char *a, const char *b, const char *c)
{
    size_t len = strlen(a) + strlen(b) + strlen(c) + 3;
    char *s = malloc(len);
    if (s != NULL) {
        if (strcmp(b, ".") == 0)
            snprintf(s, len, "%s/%s", a, c);
        else
            snprintf(s, len, "%s/%s/%s", a, b, c);
    }
    return s;
}

static void family_data_free(report_family *rf)
{
    free(rf->iter);
    free(rf->elbo);
    for (size_t j = 0; rf->names && j < rf->n_params; j++)
        free(rf->names[j]);
    free(rf->names);
    free(rf->draws);
}

static int load_trace(const char *dir, report_family *rf, vh_err *err)
{
    char *path = join3(dir, rf->f->dir, "trace.csv");
    vh_table *t = NULL;
    int rc = path == NULL ? vh_err_set(err, VH_EXIT_FAILURE, "out of memory")
                          : vh_table_read(path, &t, err);
    free(path);
    if (rc != 0)
        return -1;
    long c_iter = vh_table_column(t, "iter"), c_elbo = vh_table_column(t, "elbo");
    /* Step-size trials (phase "adapt") each restart from the initial point:
     * the chart shows the fit itself. */
    long c_phase = vh_table_column(t, "phase");
    rf->iter = malloc((t->n_rows + 1) * sizeof *rf->iter);
    rf->elbo = malloc((t->n_rows + 1) * sizeof *rf->elbo);
    if (rf->iter == NULL || rf->elbo == NULL) {
        vh_table_free(t);
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    }
    for (size_t i = 0; i < t->n_rows; i++) {
        double x = vh_table_number(t, i, c_iter), y = vh_table_number(t, i, c_elbo);
        if (isfinite(x) && isfinite(y) && strcmp(vh_table_cell(t, i, c_phase), "adapt") != 0) {
            rf->iter[rf->n_trace] = x;
            rf->elbo[rf->n_trace++] = y;
        }
    }
    vh_table_free(t);
    return 0;
}

/* draws.csv: the parameter columns of the first REPORT_MAX_DRAWS draws,
 * without the first (mean) row. */
static int load_draws(const char *dir, report_family *rf, vh_err *err)
{
    char *path = join3(dir, rf->f->dir, "draws.csv");
    vh_table *t = NULL;
    int rc = path == NULL ? vh_err_set(err, VH_EXIT_FAILURE, "out of memory")
                          : vh_table_read_rows(path, REPORT_MAX_DRAWS + 1, &t, err);
    free(path);
    if (rc != 0)
        return -1;
    size_t n = 0, rows = t->n_rows > 0 ? t->n_rows - 1 : 0;
    rf->names = calloc(t->n_cols + 1, sizeof *rf->names);
    long *cols = calloc(t->n_cols + 1, sizeof *cols);
    rf->draws = malloc((rows * t->n_cols + 1) * sizeof *rf->draws);
    int failed = rf->names == NULL || cols == NULL || rf->draws == NULL;
    for (size_t j = 0; !failed && j < t->n_cols; j++) {
        size_t len = strlen(t->header[j]);
        if (len > 2 && strcmp(t->header[j] + len - 2, "__") == 0)
            continue;
        char canon[256];
        vh_name_bracketed(t->header[j], canon, sizeof canon);
        failed = (rf->names[n] = strdup(canon)) == NULL;
        cols[n++] = (long)j;
    }
    rf->n_params = n;
    rf->n_draws = rows;
    for (size_t d = 0; !failed && d < rows; d++)
        for (size_t j = 0; j < n; j++)
            rf->draws[d * n + j] = vh_table_number(t, d + 1, cols[j]);
    free(cols);
    vh_table_free(t);
    return failed ? vh_err_set(err, VH_EXIT_FAILURE, "out of memory") : 0;
}

static int report_load(report *r, vh_err *err)
{
    const vh_comparison *cmp = r->cmp;
    r->fams = calloc(cmp->n + 1, sizeof *r->fams);
    if (r->fams == NULL)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    for (size_t i = 0; i < cmp->n; i++) {
        const vh_compare_family *f = &cmp->families[i];
        if (!f->ok)
            continue;
        report_family *rf = &r->fams[r->n_fams++];
        rf->f = f;
        rf->label = strcmp(f->dir, ".") == 0 ? f->name : f->dir;
        rf->color = report_colors[i % REPORT_N_COLORS];
        if (load_trace(cmp->dir, rf, err) != 0 || load_draws(cmp->dir, rf, err) != 0)
            return -1;
    }
    if (r->n_fams == 0)
        return vh_err_set(err, VH_EXIT_USAGE, "no family of %s finished, so there is nothing "
                                              "to draw", cmp->dir);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Numbers for the figures                                             */
/* ------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Column j of n x stride draws, sorted, into out (finite values only);
 * returns how many. */
static size_t column_sorted(const double *draws, size_t n, size_t stride, size_t j, double *out)
{
    size_t k = 0;
    for (size_t d = 0; d < n; d++)
        if (isfinite(draws[d * stride + j]))
            out[k++] = draws[d * stride + j];
    qsort(out, k, sizeof *out, cmp_double);
    return k;
}

/* Gaussian kernel density of sorted x[0..n) on grid[0..g), bandwidth by
 * Silverman's rule of thumb. */
static void kde(const double *x, size_t n, const double *grid, size_t g, double *out)
{
    double mean = 0.0, ss = 0.0;
    for (size_t i = 0; i < n; i++)
        mean += x[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++)
        ss += (x[i] - mean) * (x[i] - mean);
    double sd = n > 1 ? sqrt(ss / (double)(n - 1)) : 0.0;
    double iqr = vh_quantile_sorted(x, n, 0.75) - vh_quantile_sorted(x, n, 0.25);
    double spread = iqr > 0 ? fmin(sd, iqr / 1.34) : sd;
    double h = 0.9 * spread * pow((double)n, -0.2);
    if (!(h > 0))
        h = 1e-3 * fmax(1.0, fabs(mean));
    double norm = 1.0 / ((double)n * h * sqrt(2.0 * M_PI));
    for (size_t k = 0; k < g; k++) {
        double s = 0.0;
        for (size_t i = 0; i < n; i++) {
            double u = (grid[k] - x[i]) / h;
            if (fabs(u) < 8.0)
                s += exp(-0.5 * u * u);
        }
        out[k] = s * norm;
    }
}

static int find_name(char *const *names, size_t n, const char *name)
{
    for (size_t j = 0; j < n; j++)
        if (strcmp(names[j], name) == 0)
            return (int)j;
    return -1;
}

/* ------------------------------------------------------------------ */
/* The gnuplot script                                                  */
/* ------------------------------------------------------------------ */

/* A gnuplot single-quoted string: no escapes inside but '' for a quote. */
static void gp_string(FILE *gp, const char *s)
{
    fputc('\'', gp);
    for (; *s; s++) {
        if (*s == '\'')
            fputc('\'', gp);
        fputc(*s == '\n' || *s == '\r' ? ' ' : *s, gp);
    }
    fputc('\'', gp);
}

static int report_add_figure(report *r, const char *name, const char *caption)
{
    char **f = realloc(r->figures, (r->n_figures + 1) * sizeof *f);
    if (f == NULL)
        return -1;
    r->figures = f;
    char **c = realloc(r->captions, (r->n_figures + 1) * sizeof *c);
    if (c == NULL)
        return -1;
    r->captions = c;
    r->figures[r->n_figures] = strdup(name);
    r->captions[r->n_figures] = strdup(caption);
    r->n_figures++;
    return r->figures[r->n_figures - 1] && r->captions[r->n_figures - 1] ? 0 : -1;
}

/* Starts a figure: its output file and size. */
static int gp_begin(report *r, FILE *gp, const char *name, const char *caption, int w, int h)
{
    fprintf(gp, "reset\nset terminal svg size %d,%d fixed noenhanced font 'sans,12' "
                "background rgb 'white'\nset output ", w, h);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", r->staging, name);
    gp_string(gp, path);
    fputs("\nset grid lc rgb '#e3e3e3'\nset border lc rgb '#555555'\n"
          "set key box opaque samplen 2\n", gp);
    return report_add_figure(r, name, caption);
}

/* The y-range that shows where the traces settle: early ELBOs can be far
 * below and would flatten everything else. */
static void elbo_range(const report *r, int has_log_z, double log_z, double *lo, double *hi)
{
    double top = has_log_z ? log_z : -INFINITY, low_final = has_log_z ? log_z : INFINITY;
    double bottom = INFINITY;
    for (size_t i = 0; i < r->n_fams; i++) {
        const report_family *rf = &r->fams[i];
        for (size_t k = 0; k < rf->n_trace; k++) {
            top = fmax(top, rf->elbo[k]);
            bottom = fmin(bottom, rf->elbo[k]);
        }
        if (rf->n_trace > 0)
            low_final = fmin(low_final, rf->elbo[rf->n_trace - 1]);
    }
    double span = fmax(top - low_final, fmax(0.5, 1e-3 * fabs(top)));
    *lo = fmax(bottom, top - 8.0 * span) - 0.3 * span;
    *hi = top + 0.8 * span;
}

static int figure_elbo(report *r, FILE *gp)
{
    double log_z = NAN;
    int has_log_z = 0;
    for (size_t i = 0; i < r->n_fams && !has_log_z; i++)
        if ((has_log_z = r->fams[i].f->has_log_z))
            log_z = r->fams[i].f->log_z;
    if (gp_begin(r, gp, "elbo.svg",
                 has_log_z ? "ELBO at each evaluation, every family; the dashed line is the "
                             "target's exact log Z, which no family's true ELBO exceeds (the "
                             "estimates scatter around it by their Monte Carlo error)"
                           : "ELBO at each evaluation, every family",
                 800, 460) != 0)
        return -1;
    double lo, hi;
    elbo_range(r, has_log_z, log_z, &lo, &hi);
    fprintf(gp, "set title 'ELBO during the fit'\nset xlabel 'iteration'\nset ylabel 'ELBO'\n"
                "set yrange [%.17g:%.17g]\nset key bottom right\n", lo, hi);
    for (size_t i = 0; i < r->n_fams; i++) {
        fprintf(gp, "$e%zu << EOD\n", i);
        for (size_t k = 0; k < r->fams[i].n_trace; k++)
            fprintf(gp, "%.17g %.17g\n", r->fams[i].iter[k], r->fams[i].elbo[k]);
        fputs("EOD\n", gp);
    }
    fputs("plot ", gp);
    for (size_t i = 0; i < r->n_fams; i++) {
        fprintf(gp, "%s$e%zu using 1:2 with linespoints lw 2 pt 7 ps 0.4 lc rgb '%s' title ",
                i ? ", " : "", i, r->fams[i].color);
        gp_string(gp, r->fams[i].label);
    }
    if (has_log_z)
        fprintf(gp, ", %.17g with lines dt 2 lw 2 lc rgb '#000000' title 'log Z = %.6g (exact)'",
                log_z, log_z);
    fputc('\n', gp);
    return 0;
}

/* The plotting range of parameter name: every family's central 99% and
 * the reference's mean +- 4 sd, widened a little. */
static void marginal_range(const report *r, const char *name, const vh_reference *ref,
                           double *scratch, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (size_t i = 0; i < r->n_fams; i++) {
        const report_family *rf = &r->fams[i];
        int j = find_name(rf->names, rf->n_params, name);
        if (j < 0)
            continue;
        size_t n = column_sorted(rf->draws, rf->n_draws, rf->n_params, (size_t)j, scratch);
        if (n == 0)
            continue;
        *lo = fmin(*lo, vh_quantile_sorted(scratch, n, 0.005));
        *hi = fmax(*hi, vh_quantile_sorted(scratch, n, 0.995));
    }
    long k = vh_reference_find(ref, name);
    if (k >= 0 && isfinite(ref->q05[k]) && isfinite(ref->q95[k]) && !ref->exact) {
        double w = ref->q95[k] - ref->q05[k];
        *lo = fmin(*lo, ref->q05[k] - 0.5 * w);
        *hi = fmax(*hi, ref->q95[k] + 0.5 * w);
    } else if (k >= 0 && isfinite(ref->mean[k]) && isfinite(ref->sd[k])) {
        *lo = fmin(*lo, ref->mean[k] - 4.0 * ref->sd[k]);
        *hi = fmax(*hi, ref->mean[k] + 4.0 * ref->sd[k]);
    }
    double pad = 0.08 * (*hi - *lo);
    if (!(pad > 0))
        pad = 0.5 + 0.05 * fabs(*lo);
    *lo -= pad;
    *hi += pad;
}

static void gp_curve(FILE *gp, const char *block, const double *grid, const double *y, size_t g)
{
    fprintf(gp, "%s << EOD\n", block);
    for (size_t k = 0; k < g; k++)
        fprintf(gp, "%.10g %.10g\n", grid[k], y[k]);
    fputs("EOD\n", gp);
}

/* The reference's curve for parameter k: a density of its draws or the
 * exact normal density.  Returns its legend, or NULL when there is none
 * (a reference of summaries has no density: reference_marks draws it). */
static const char *reference_curve(const vh_reference *ref, long k, const double *grid,
                                   double *scratch, double *y)
{
    if (ref == NULL || k < 0)
        return NULL;
    if (ref->n_draws > 1) {
        size_t n = column_sorted(ref->draws, ref->n_draws, ref->n, (size_t)k, scratch);
        if (n < 2)
            return NULL;
        kde(scratch, n, grid, REPORT_GRID, y);
        return "reference draws";
    }
    if (!ref->exact || !(ref->sd[k] > 0) || !isfinite(ref->mean[k]))
        return NULL;
    for (size_t i = 0; i < REPORT_GRID; i++) {
        double u = (grid[i] - ref->mean[k]) / ref->sd[k];
        y[i] = exp(-0.5 * u * u) / (ref->sd[k] * sqrt(2.0 * M_PI));
    }
    return "exact posterior";
}

/* A reference of summaries: its 5%-95% interval shaded and its mean as a
 * dashed line (objects behind the curves), with legend entries; returns
 * the plot clauses for the legend, or "" when there is nothing. */
static const char *reference_marks(const vh_reference *ref, long k, FILE *gp)
{
    if (ref == NULL || k < 0 || ref->exact || ref->n_draws > 1 || !isfinite(ref->mean[k]))
        return "";
    double lo = ref->q05[k], hi = ref->q95[k];
    if (!isfinite(lo) || !isfinite(hi)) {
        lo = ref->mean[k] - COMPARE_Z95_REPORT * ref->sd[k];
        hi = ref->mean[k] + COMPARE_Z95_REPORT * ref->sd[k];
    }
    fprintf(gp, "set object 1 rect from %.17g, graph 0 to %.17g, graph 1 behind "
                "fc rgb '#d9d9d9' fs solid 0.7 noborder\n"
                "set arrow 1 from %.17g, graph 0 to %.17g, graph 1 nohead dt 2 lw 2 "
                "lc rgb '#000000'\n", lo, hi, ref->mean[k], ref->mean[k]);
    return "NaN with boxes fs solid 0.7 noborder fc rgb '#d9d9d9' title 'reference 5%-95%', "
           "NaN with lines dt 2 lw 2 lc rgb '#000000' title 'reference mean'";
}

static int figure_marginal(report *r, FILE *gp, size_t index, const char *name, double *scratch,
                           double *grid, double *y)
{
    const vh_reference *ref = r->cmp->reference;
    char file[REPORT_NAME], caption[512], block[32];
    double lo, hi;
    marginal_range(r, name, ref, scratch, &lo, &hi);
    if (!isfinite(lo) || !isfinite(hi))
        return 0;
    snprintf(file, sizeof file, "marginal-%03zu.svg", index + 1);
    snprintf(caption, sizeof caption, "%s: the density of each family's draws", name);
    if (gp_begin(r, gp, file, caption, 460, 320) != 0)
        return -1;
    fputs("set title ", gp);
    gp_string(gp, name);
    fputs("\nset xlabel ", gp);
    gp_string(gp, name);
    fprintf(gp, "\nset ylabel 'density'\nset xrange [%.17g:%.17g]\nset yrange [0:*]\n"
                "set key top right font ',10'\nset offsets 0, 0, graph 0.45, 0\n", lo, hi);
    for (size_t k = 0; k < REPORT_GRID; k++)
        grid[k] = lo + (hi - lo) * (double)k / (REPORT_GRID - 1);
    /* Every data block first, then one plot command over them. */
    long k = vh_reference_find(ref, name);
    const char *ref_title = reference_curve(ref, k, grid, scratch, y);
    const char *marks = reference_marks(ref, k, gp);
    if (ref_title != NULL)
        gp_curve(gp, "$ref", grid, y, REPORT_GRID);
    int *drawn = calloc(r->n_fams + 1, sizeof *drawn);
    if (drawn == NULL)
        return -1;
    for (size_t i = 0; i < r->n_fams; i++) {
        const report_family *rf = &r->fams[i];
        int j = find_name(rf->names, rf->n_params, name);
        size_t n = j < 0 ? 0 : column_sorted(rf->draws, rf->n_draws, rf->n_params, (size_t)j, scratch);
        if (n < 2)
            continue;
        kde(scratch, n, grid, REPORT_GRID, y);
        snprintf(block, sizeof block, "$m%zu", i);
        gp_curve(gp, block, grid, y, REPORT_GRID);
        drawn[i] = 1;
    }
    fputs("plot ", gp);
    const char *sep = "";
    if (ref_title != NULL) {
        fputs("$ref using 1:2 with filledcurves y=0 fs transparent solid 0.2 noborder "
              "lc rgb '#606060' title ", gp);
        gp_string(gp, ref_title);
        sep = ", ";
    }
    if (marks[0] != '\0') {
        fputs(marks, gp);
        sep = ", ";
    }
    for (size_t i = 0; i < r->n_fams; i++) {
        if (!drawn[i])
            continue;
        fprintf(gp, "%s$m%zu using 1:2 with lines lw 2 lc rgb '%s' title ", sep, i,
                r->fams[i].color);
        gp_string(gp, r->fams[i].label);
        sep = ", ";
    }
    fputs(*sep ? "\n" : "NaN notitle\n", gp);
    free(drawn);
    return 0;
}

/* Mean and 2 x 2 covariance of columns a and b of n x stride draws. */
static void pair_moments(const double *draws, size_t n, size_t stride, size_t a, size_t b,
                         double m[2], double c[3])
{
    double sa = 0.0, sb = 0.0, saa = 0.0, sbb = 0.0, sab = 0.0;
    size_t k = 0;
    for (size_t d = 0; d < n; d++) {
        double x = draws[d * stride + a], y = draws[d * stride + b];
        if (!isfinite(x) || !isfinite(y))
            continue;
        sa += x;
        sb += y;
        k++;
    }
    m[0] = k ? sa / (double)k : NAN;
    m[1] = k ? sb / (double)k : NAN;
    for (size_t d = 0; d < n; d++) {
        double x = draws[d * stride + a] - m[0], y = draws[d * stride + b] - m[1];
        if (!isfinite(x) || !isfinite(y))
            continue;
        saa += x * x;
        sbb += y * y;
        sab += x * y;
    }
    double den = k > 1 ? (double)(k - 1) : NAN;
    c[0] = saa / den;
    c[1] = sab / den;
    c[2] = sbb / den;
}

/* The 2-sigma ellipse {x : (x - m)' C^-1 (x - m) = 4} as a data block. */
static void gp_ellipse(FILE *gp, const char *block, const double m[2], const double c[3])
{
    double l11 = sqrt(fmax(c[0], 0.0)), l21 = l11 > 0 ? c[1] / l11 : 0.0;
    double l22 = sqrt(fmax(c[2] - l21 * l21, 0.0));
    fprintf(gp, "%s << EOD\n", block);
    for (int k = 0; k <= REPORT_ELLIPSE; k++) {
        double t = 2.0 * M_PI * k / REPORT_ELLIPSE, u = cos(t), v = sin(t);
        fprintf(gp, "%.10g %.10g\n", m[0] + 2.0 * l11 * u, m[1] + 2.0 * (l21 * u + l22 * v));
    }
    fputs("EOD\n", gp);
}

/* The most correlated pair among the first family's parameters: from the
 * reference's covariance when it has one, else from the draws of the
 * family with the highest ELBO. */
static void choose_pair(report *r)
{
    const report_family *base = &r->fams[0], *best = &r->fams[0];
    const vh_reference *ref = r->cmp->reference;
    size_t n = base->n_params < 200 ? base->n_params : 200;
    for (size_t i = 0; i < r->n_fams; i++)
        if (r->fams[i].f->rank == 1)
            best = &r->fams[i];
    r->pair_a = r->pair_b = -1;
    r->pair_corr = 0.0;
    r->pair_source = ref != NULL && ref->cov != NULL ? "the reference" : best->label;
    for (size_t a = 0; a < n; a++)
        for (size_t b = a + 1; b < n; b++) {
            double corr = NAN;
            long ka = vh_reference_find(ref, base->names[a]);
            long kb = vh_reference_find(ref, base->names[b]);
            if (ref != NULL && ref->cov != NULL && ka >= 0 && kb >= 0)
                corr = ref->cov[ka * ref->n + kb] /
                       sqrt(ref->cov[ka * ref->n + ka] * ref->cov[kb * ref->n + kb]);
            else if (ref == NULL || ref->cov == NULL) {
                int ja = find_name(best->names, best->n_params, base->names[a]);
                int jb = find_name(best->names, best->n_params, base->names[b]);
                double m[2], c[3];
                if (ja < 0 || jb < 0)
                    continue;
                pair_moments(best->draws, best->n_draws, best->n_params, (size_t)ja,
                             (size_t)jb, m, c);
                corr = c[1] / sqrt(c[0] * c[2]);
            }
            if (isfinite(corr) && (r->pair_a < 0 || fabs(corr) > fabs(r->pair_corr))) {
                r->pair_a = (long)a;
                r->pair_b = (long)b;
                r->pair_corr = corr;
            }
        }
}

/* The reference in the pair plot: its draws, its exact contour, or its
 * means with +- 2 sd bars.  Writes the block; returns the plot clause. */
static const char *pair_reference(const report *r, FILE *gp, long ka, long kb)
{
    const vh_reference *ref = r->cmp->reference;
    if (ref == NULL || ka < 0 || kb < 0)
        return NULL;
    if (ref->n_draws > 1) {
        size_t step = (ref->n_draws + REPORT_SCATTER_MAX - 1) / REPORT_SCATTER_MAX;
        fputs("$pref << EOD\n", gp);
        for (size_t d = 0; d < ref->n_draws; d += step)
            fprintf(gp, "%.10g %.10g\n", ref->draws[d * ref->n + ka], ref->draws[d * ref->n + kb]);
        fputs("EOD\n", gp);
        return "$pref using 1:2 with points pt 7 ps 0.3 lc rgb '#a0a0a0' title 'reference draws'";
    }
    if (ref->cov != NULL) {
        double m[2] = {ref->mean[ka], ref->mean[kb]};
        double c[3] = {ref->cov[ka * ref->n + ka], ref->cov[ka * ref->n + kb],
                       ref->cov[kb * ref->n + kb]};
        gp_ellipse(gp, "$pref", m, c);
        return ref->exact ? "$pref using 1:2 with lines dt 2 lw 3 lc rgb '#000000' title "
                            "'exact posterior, 2-sigma'"
                          : "$pref using 1:2 with lines dt 2 lw 3 lc rgb '#000000' title "
                            "'reference, 2-sigma'";
    }
    fprintf(gp, "$pref << EOD\n%.10g %.10g %.10g %.10g\nEOD\n", ref->mean[ka], ref->mean[kb],
            2.0 * ref->sd[ka], 2.0 * ref->sd[kb]);
    return "$pref using 1:2:3:4 with xyerrorbars pt 7 ps 1 lw 2 lc rgb '#000000' title "
           "'reference mean +- 2 sd'";
}

static int figure_pair(report *r, FILE *gp)
{
    choose_pair(r);
    if (r->pair_a < 0)
        return 0;
    const char *na = r->fams[0].names[r->pair_a], *nb = r->fams[0].names[r->pair_b];
    char caption[640];
    snprintf(caption, sizeof caption,
             "%s against %s, the most correlated pair (correlation %.2f in %s): each family's "
             "2-sigma ellipse (from its draws' mean and covariance) and its mean",
             nb, na, r->pair_corr, r->pair_source);
    if (gp_begin(r, gp, "pair.svg", caption, 640, 620) != 0)
        return -1;
    fputs("set title ", gp);
    char title[600];
    snprintf(title, sizeof title, "%s vs %s: 2-sigma ellipses", nb, na);
    gp_string(gp, title);
    fputs("\nset xlabel ", gp);
    gp_string(gp, na);
    fputs("\nset ylabel ", gp);
    gp_string(gp, nb);
    fputs("\nset key outside bottom center horizontal\n", gp);
    const vh_reference *ref = r->cmp->reference;
    const char *ref_clause = pair_reference(r, gp, vh_reference_find(ref, na),
                                            vh_reference_find(ref, nb));
    for (size_t i = 0; i < r->n_fams; i++) {
        const report_family *rf = &r->fams[i];
        int ja = find_name(rf->names, rf->n_params, na), jb = find_name(rf->names, rf->n_params, nb);
        double m[2], c[3];
        char block[32];
        if (ja < 0 || jb < 0)
            continue;
        pair_moments(rf->draws, rf->n_draws, rf->n_params, (size_t)ja, (size_t)jb, m, c);
        snprintf(block, sizeof block, "$p%zu", i);
        gp_ellipse(gp, block, m, c);
        fprintf(gp, "$c%zu << EOD\n%.10g %.10g\nEOD\n", i, m[0], m[1]);
    }
    fputs("plot ", gp);
    const char *sep = "";
    if (ref_clause != NULL) {
        fputs(ref_clause, gp);
        sep = ", ";
    }
    for (size_t i = 0; i < r->n_fams; i++) {
        const report_family *rf = &r->fams[i];
        if (find_name(rf->names, rf->n_params, na) < 0 || find_name(rf->names, rf->n_params, nb) < 0)
            continue;
        fprintf(gp, "%s$p%zu using 1:2 with lines lw 2 lc rgb '%s' title ", sep, i, rf->color);
        gp_string(gp, rf->label);
        fprintf(gp, ", $c%zu using 1:2 with points pt 9 ps 1.4 lc rgb '%s' notitle", i, rf->color);
        sep = ", ";
    }
    fputs(*sep ? "\n" : "NaN notitle\n", gp);
    return 0;
}

/* The whole script, in memory. */
static int report_script(report *r, char **text, size_t *size)
{
    FILE *gp = open_memstream(text, size);
    if (gp == NULL)
        return -1;
    const report_family *base = &r->fams[0];
    size_t cap = 1;
    for (size_t i = 0; i < r->n_fams; i++)
        cap = r->fams[i].n_draws > cap ? r->fams[i].n_draws : cap;
    if (r->cmp->reference != NULL && r->cmp->reference->n_draws > cap)
        cap = r->cmp->reference->n_draws;
    double *scratch = malloc(cap * sizeof *scratch), *grid = malloc(REPORT_GRID * sizeof *grid);
    double *y = malloc(REPORT_GRID * sizeof *y);
    int failed = scratch == NULL || grid == NULL || y == NULL;
    fputs("set encoding utf8\n", gp);
    failed = failed || figure_elbo(r, gp) != 0;
    r->n_params_total = base->n_params;
    r->n_marginals = base->n_params < VH_REPORT_MAX_MARGINALS ? base->n_params
                                                               : VH_REPORT_MAX_MARGINALS;
    for (size_t j = 0; !failed && j < r->n_marginals; j++)
        failed = figure_marginal(r, gp, j, base->names[j], scratch, grid, y) != 0;
    failed = failed || figure_pair(r, gp) != 0;
    fputs("unset output\nexit\n", gp);
    free(scratch);
    free(grid);
    free(y);
    if (fclose(gp) != 0 || failed) {
        free(*text);
        *text = NULL;
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Running gnuplot                                                     */
/* ------------------------------------------------------------------ */

/* The gnuplot program as a path: 0 found, 1 not available (err says why). */
static int find_gnuplot(char *out, size_t size, vh_err *err)
{
    const char *prog = getenv("VIHOST_GNUPLOT");
    if (prog != NULL && prog[0] == '\0') {
        vh_err_set(err, VH_EXIT_FAILURE, "VIHOST_GNUPLOT is empty, so no figures are drawn");
        return 1;
    }
    if (prog == NULL)
        prog = "gnuplot";
    if (strchr(prog, '/') != NULL) {
        snprintf(out, size, "%s", prog);
        if (access(out, X_OK) == 0)
            return 0;
        vh_err_set(err, VH_EXIT_FAILURE, "gnuplot '%s' (VIHOST_GNUPLOT) is not an executable "
                                         "file", prog);
        return 1;
    }
    const char *path = getenv("PATH");
    for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
        size_t len = strcspn(p, ":");
        snprintf(out, size, "%.*s/%s", (int)len, p, prog);
        if (len > 0 && access(out, X_OK) == 0)
            return 0;
        p += len;
        if (*p == ':')
            p++;
    }
    vh_err_set(err, VH_EXIT_FAILURE, "%s not found on PATH (install the Debian package "
                                     "gnuplot-nox to get report.html)", prog);
    return 1;
}

/* The first line of gnuplot's messages, for an error. */
static void log_excerpt(const char *path, char *out, size_t size)
{
    FILE *f = fopen(path, "r");
    out[0] = '\0';
    if (f == NULL)
        return;
    char line[512];
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] != '\0' && strspn(line, " ^") != strlen(line)) {
            snprintf(out, size, "%.*s", (int)(size - 1), line);
            break;
        }
    }
    fclose(f);
}

/* Sends all of buf to fd; no SIGPIPE should gnuplot quit early. */
static int send_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, buf, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        buf += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Runs gnuplot with the script piped into its standard input (a socket
 * pair, so that a gnuplot that dies early cannot kill vihost by SIGPIPE). */
static int run_gnuplot(const char *program, const char *log, const char *script, size_t size,
                       vh_err *err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return vh_err_set(err, VH_EXIT_FAILURE, "cannot start gnuplot: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char *argv[] = {(char *)program, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, program, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(sv[1]);
    if (rc != 0) {
        close(sv[0]);
        return vh_err_set(err, VH_EXIT_FAILURE, "cannot start %s: %s", program, strerror(rc));
    }
    int sent = send_all(sv[0], script, size);
    shutdown(sv[0], SHUT_WR);
    close(sv[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (sent != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char why[400];
        log_excerpt(log, why, sizeof why);
        return vh_err_set(err, VH_EXIT_FAILURE, "%s failed drawing the figures%s%s", program,
                          why[0] ? ": " : "", why);
    }
    return 0;
}

/* Every figure gnuplot was asked for is there and ends its SVG. */
static int check_figures(const report *r, vh_err *err)
{
    for (size_t i = 0; i < r->n_figures; i++) {
        char path[4096], tail[64] = "";
        snprintf(path, sizeof path, "%s/%s", r->staging, r->figures[i]);
        FILE *f = fopen(path, "rb");
        long size = -1;
        if (f != NULL && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 16 &&
            fseek(f, size > 32 ? size - 32 : 0, SEEK_SET) == 0) {
            size_t n = fread(tail, 1, sizeof tail - 1, f);
            tail[n] = '\0';
        }
        if (f != NULL)
            fclose(f);
        if (strstr(tail, "</svg>") == NULL)
            return vh_err_set(err, VH_EXIT_FAILURE, "gnuplot did not finish %s", r->figures[i]);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The page                                                            */
/* ------------------------------------------------------------------ */

static void html_text(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(*s, out);
        }
    }
}

static void html_pm(FILE *out, double x, double mcse)
{
    if (!isfinite(x)) {
        fputs("<td>–</td>", out);
        return;
    }
    fprintf(out, "<td>%.6g", x);
    if (isfinite(mcse))
        fprintf(out, " <small>± %.2g</small>", mcse);
    fputs("</td>", out);
}

static void html_num(FILE *out, const char *fmt, double x)
{
    fputs("<td>", out);
    if (isfinite(x))
        fprintf(out, fmt, x);
    else
        fputs("–", out);
    fputs("</td>", out);
}

static const char *verdict_class(const char *verdict)
{
    return strcmp(verdict, "good") == 0 ? "good"
           : strcmp(verdict, "ok") == 0 ? "fair"
           : strcmp(verdict, "n/a") == 0 ? "" : "bad";
}

static void html_row(FILE *out, const vh_compare_family *f, int with_kl, int with_ref)
{
    fputs("<tr><th>", out);
    html_text(out, strcmp(f->dir, ".") == 0 ? f->name : f->dir);
    fputs("</th>", out);
    if (!f->ok) {
        fprintf(out, "<td class=\"bad left\" colspan=\"%d\">failed (exit %d): ",
                8 + 2 * with_kl + 2 * with_ref, f->exit_code);
        html_text(out, f->error);
        fputs("</td></tr>\n", out);
        return;
    }
    html_pm(out, f->elbo, f->elbo_mcse);
    html_pm(out, f->iw_elbo, f->iw_elbo_mcse);
    html_pm(out, f->log_evidence, f->log_evidence_mcse);
    html_num(out, "%.2f", f->khat);
    const char *verdict = vh_compare_verdict(f);
    fprintf(out, "<td class=\"%s left\">%s</td>", verdict_class(verdict), verdict);
    if (with_kl) {
        double gap = f->has_log_z ? f->log_z - f->elbo : NAN;
        html_pm(out, gap, f->has_log_z ? f->elbo_mcse : NAN);
        html_num(out, "%.3g", f->has_log_z ? sqrt(fmax(gap, 0.0) / 2.0) : NAN);
    }
    if (with_ref) {
        html_num(out, "%.3g", f->max_mean_error);
        if (f->n_compared > 0)
            fprintf(out, "<td>%.3g – %.3g</td>", f->sd_ratio_min, f->sd_ratio_max);
        else
            fputs("<td>–</td>", out);
    }
    fprintf(out, "<td>%llu%s</td><td>%llu</td>", (unsigned long long)f->iterations,
            f->converged ? "" : " <small>(not converged)</small>",
            (unsigned long long)f->gradient_evaluations);
    html_num(out, "%.3g", f->seconds);
    fputs("</tr>\n", out);
}

static void html_table(FILE *out, const vh_comparison *cmp)
{
    int with_kl = 0, with_ref = cmp->reference != NULL;
    for (size_t i = 0; i < cmp->n; i++)
        with_kl |= cmp->families[i].ok && cmp->families[i].has_log_z;
    fputs("<table>\n<tr><th>family</th><th>ELBO</th><th>IW-ELBO</th><th>log Z (IS)</th>"
          "<th>k-hat</th><th>verdict</th>", out);
    if (with_kl)
        fputs("<th>KL gap</th><th>TV ≤</th>", out);
    if (with_ref)
        fputs("<th>max |mean err| / sd</th><th>sd ratio</th>", out);
    fputs("<th>iterations</th><th>gradients</th><th>seconds</th></tr>\n", out);
    for (int rank = 1; rank <= (int)cmp->n; rank++)
        for (size_t i = 0; i < cmp->n; i++)
            if (cmp->families[i].rank == rank)
                html_row(out, &cmp->families[i], with_kl, with_ref);
    for (size_t i = 0; i < cmp->n; i++)
        if (cmp->families[i].rank == 0)
            html_row(out, &cmp->families[i], with_kl, with_ref);
    fputs("</table>\n", out);
}

static void html_notes(FILE *out, const report *r)
{
    const vh_comparison *cmp = r->cmp;
    size_t draws = 0;
    for (size_t i = 0; i < cmp->n; i++)
        if (cmp->families[i].ok && cmp->families[i].draws > draws)
            draws = (size_t)cmp->families[i].draws;
    fputs("<ul class=\"notes\">\n<li>Rows are in ELBO order, highest first. Every number "
          "comes from the S draws made after each fit; ± is the Monte Carlo standard "
          "error.</li>\n", out);
    fprintf(out, "<li>k-hat is the Pareto k of the largest importance weights p~(z)/q(z) "
                 "(PSIS): good &lt; 0.5 ≤ ok &lt; 0.7 ≤ unreliable; at S = %zu draws the "
                 "sample-size threshold min(1 − 1/log10 S, 0.7) is %.3g, and a k-hat between it "
                 "and 0.7 says “too few draws”.</li>\n", draws, vh_khat_threshold(draws));
    for (size_t i = 0; i < cmp->n; i++)
        if (cmp->families[i].ok && cmp->families[i].has_log_z) {
            fprintf(out, "<li>The target knows log Z = %.9g exactly, so KL(q ‖ p) = log Z − "
                         "ELBO (the KL gap) and the total-variation distance is at most "
                         "√(KL/2).</li>\n", cmp->families[i].log_z);
            break;
        }
    if (cmp->reference != NULL) {
        fputs("<li>Reference: ", out);
        html_text(out, cmp->reference->source);
        fputs(".</li>\n", out);
    } else if (cmp->reference_note != NULL) {
        fputs("<li>No reference: ", out);
        html_text(out, cmp->reference_note);
        fputs(".</li>\n", out);
    }
    fputs("</ul>\n", out);
}

static void html_figure(FILE *out, const report *r, size_t i)
{
    fputs("<figure><img src=\"figures/", out);
    html_text(out, r->figures[i]);
    fputs("\" alt=\"", out);
    html_text(out, r->captions[i]);
    fputs("\"><figcaption>", out);
    html_text(out, r->captions[i]);
    fputs("</figcaption></figure>\n", out);
}

static const char report_style[] =
    "body{font-family:system-ui,sans-serif;color:#222;max-width:1180px;margin:1.5em auto;"
    "padding:0 1em;line-height:1.45}\n"
    "table{border-collapse:collapse;font-size:.92em;margin:.5em 0}\n"
    "th,td{border:1px solid #ccc;padding:.3em .55em;text-align:right;vertical-align:top}\n"
    "tr th:first-child,.left{text-align:left}\n"
    "tr:first-child th{background:#f2f2f2}\n"
    ".good{color:#1b7f3b}.fair{color:#a66a00}.bad{color:#b00020}\n"
    "small{color:#666}\ncode{background:#f4f4f4;padding:0 .25em}\n"
    "figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #e5e5e5}\n"
    "figcaption{font-size:.9em;color:#444}\n"
    ".grid{display:flex;flex-wrap:wrap;gap:1em}.grid figure{flex:0 1 460px;margin:0}\n";

static int write_html(const report *r, FILE *out)
{
    const vh_comparison *cmp = r->cmp;
    const char *target = r->fams[0].f->target ? r->fams[0].f->target : "?";
    fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                 "<title>vihost: %zu famil%s on target '", cmp->n, cmp->n == 1 ? "y" : "ies");
    html_text(out, target);
    fprintf(out, "'</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>%zu famil%s on "
                 "target <code>", report_style, cmp->n, cmp->n == 1 ? "y" : "ies");
    html_text(out, target);
    fprintf(out, "</code></h1>\n<p><small>vihost %s · folder <code>", PACKAGE_VERSION);
    html_text(out, cmp->dir);
    fputs("</code> · redraw with <code>vihost report ", out);
    html_text(out, cmp->dir);
    fputs("</code></small></p>\n<h2>Summary</h2>\n", out);
    html_table(out, cmp);
    html_notes(out, r);
    size_t k = 0;
    fputs("<h2>ELBO during the fit</h2>\n", out);
    if (k < r->n_figures && strcmp(r->figures[k], "elbo.svg") == 0)
        html_figure(out, r, k++);
    fprintf(out, "<h2>Marginal densities</h2>\n<p>Each family's draws as a kernel density "
                 "estimate%s. %zu of %zu parameters shown.</p>\n<div class=\"grid\">\n",
            cmp->reference ? ", over the reference (shaded)" : "", r->n_marginals,
            r->n_params_total);
    for (; k < r->n_figures && strncmp(r->figures[k], "marginal-", 9) == 0; k++)
        html_figure(out, r, k);
    fputs("</div>\n<h2>The most correlated pair</h2>\n", out);
    if (k < r->n_figures && strcmp(r->figures[k], "pair.svg") == 0)
        html_figure(out, r, k++);
    else
        fputs("<p>Only one parameter: no pair plot.</p>\n", out);
    fputs("</body>\n</html>\n", out);
    return ferror(out) ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* Putting it in place                                                 */
/* ------------------------------------------------------------------ */

static void remove_staging(const char *staging)
{
    DIR *d = opendir(staging);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            unlinkat(dirfd(d), e->d_name, 0);
    }
    if (d != NULL)
        closedir(d);
    rmdir(staging);
}

/* SVG files in figures/ that this report did not make (a previous one
 * with more parameters) are removed, so the folder matches the page. */
static void remove_stale_figures(const report *r, const char *figdir)
{
    DIR *d = opendir(figdir);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".svg") != 0)
            continue;
        int ours = 0;
        for (size_t i = 0; i < r->n_figures && !ours; i++)
            ours = strcmp(r->figures[i], e->d_name) == 0;
        if (!ours)
            unlinkat(dirfd(d), e->d_name, 0);
    }
    if (d != NULL)
        closedir(d);
}

/* Moves `name` from the staging folder to folder `to`. */
static int move_into(const char *staging, const char *name, const char *to, vh_err *err)
{
    char *from = join3(staging, ".", name), *dest = join3(to, ".", name);
    int rc = from && dest ? rename(from, dest) : -1;
    if (rc != 0)
        vh_err_set(err, VH_EXIT_FAILURE, "cannot move %s into %s: %s", name, to,
                   from && dest ? strerror(errno) : "out of memory");
    free(from);
    free(dest);
    return rc;
}

static int report_install(const report *r, vh_err *err)
{
    struct stat st;
    char *figdir = join3(r->cmp->dir, ".", "figures");
    if (figdir == NULL)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    int rc = 0;
    if (mkdir(figdir, 0777) != 0 && (errno != EEXIST || stat(figdir, &st) != 0 ||
                                     !S_ISDIR(st.st_mode)))
        rc = vh_err_set(err, VH_EXIT_FAILURE, "cannot make %s: %s", figdir, strerror(errno));
    for (size_t i = 0; rc == 0 && i < r->n_figures; i++)
        rc = move_into(r->staging, r->figures[i], figdir, err);
    if (rc == 0) {
        remove_stale_figures(r, figdir);
        rc = move_into(r->staging, "report.html", r->cmp->dir, err);
    }
    free(figdir);
    return rc;
}

static int report_make(report *r, const char *program, vh_err *err)
{
    char *script = NULL, log[4096], page[4096];
    size_t size = 0;
    if (report_script(r, &script, &size) != 0)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory writing the figures' script");
    snprintf(log, sizeof log, "%s/gnuplot.log", r->staging);
    int rc = run_gnuplot(program, log, script, size, err);
    free(script);
    if (rc != 0 || check_figures(r, err) != 0)
        return -1;
    snprintf(page, sizeof page, "%s/report.html", r->staging);
    FILE *out = fopen(page, "w");
    if (out == NULL)
        return vh_err_set(err, VH_EXIT_FAILURE, "cannot write %s: %s", page, strerror(errno));
    int bad = write_html(r, out) != 0;
    bad |= fclose(out) != 0;
    if (bad)
        return vh_err_set(err, VH_EXIT_FAILURE, "cannot write %s", page);
    return report_install(r, err);
}

int vh_report_write(const vh_comparison *cmp, vh_err *err)
{
    char program[4096];
    report r;
    memset(&r, 0, sizeof r);
    r.cmp = cmp;
    if (find_gnuplot(program, sizeof program, err) != 0)
        return 1;
    int rc = report_load(&r, err);
    if (rc == 0) {
        size_t len = strlen(cmp->dir) + 32;
        if ((r.staging = malloc(len)) == NULL)
            rc = vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
        else {
            snprintf(r.staging, len, "%s/.report.vihost-XXXXXX", cmp->dir);
            if (mkdtemp(r.staging) == NULL) {
                rc = vh_err_set(err, VH_EXIT_FAILURE, "cannot write in %s: %s", cmp->dir,
                                strerror(errno));
                free(r.staging);
                r.staging = NULL;
            }
        }
    }
    if (rc == 0)
        rc = report_make(&r, program, err);
    if (r.staging != NULL)
        remove_staging(r.staging);
    free(r.staging);
    for (size_t i = 0; i < r.n_fams; i++)
        family_data_free(&r.fams[i]);
    free(r.fams);
    for (size_t i = 0; i < r.n_figures; i++) {
        free(r.figures[i]);
        free(r.captions[i]);
    }
    free(r.figures);
    free(r.captions);
    return rc == 0 ? 0 : -1;
}
