/* compare.h — comparing the families of one run: compare.csv and
 * compare.md in the comparison folder, from each family's result.json and
 * summary.csv, judged against a reference posterior where there is one.
 *
 * The reference is posteriordb's reference.csv layout (name,mean,sd,q05,
 * q50,q95: summaries of the constrained parameters), a CSV of reference
 * draws (one column per parameter, CmdStan's `#` comments and `__` columns
 * allowed), or the target's exact moments (vi.target.moments/1, over the
 * unconstrained parameters, used only for targets without `constrain`).
 * It is saved as reference.json in the comparison folder, so that
 * `vihost report DIR` can rebuild the report from the files alone. */
#ifndef VH_COMPARE_H
#define VH_COMPARE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "errors.h"
#include "output.h"

typedef struct vh_reference {
    char *source;          /* "exact moments of target 'mvnormal'", "reference summaries in FILE" */
    char *file;            /* the CSV it came from (absolute), or NULL */
    size_t n;              /* parameters */
    char **names;          /* n, in bracket form: "theta[1]" */
    double *mean, *sd;     /* n */
    double *q05, *q50, *q95; /* n; NaN where unknown */
    double *cov;           /* n x n, or NULL when unknown */
    size_t n_draws;        /* reference draws, or 0 */
    double *draws;         /* n_draws x n, or NULL */
    int exact;             /* the moments are exact (a Gaussian target) */
} vh_reference;

/* Reads a reference CSV: summaries when the header has `name`, `mean` and
 * `sd`, else draws (columns ending in "__" are left out; CmdStan's dotted
 * names "x.1" become "x[1]").  Errors exit 2 naming the file. */
int vh_reference_read_csv(const char *path, vh_reference **out, vh_err *err);
/* A reference from exact moments (cov n x n; copied). */
int vh_reference_from_moments(const char *source, size_t n, const char *const *names,
                              const double *mean, const double *cov,
                              vh_reference **out, vh_err *err);
void vh_reference_free(vh_reference *ref);
/* The index of `name` (bracket or dotted form) in ref, or -1. */
long vh_reference_find(const vh_reference *ref, const char *name);

/* "x.1.2" (CmdStan's CSV names) -> "x[1,2]"; other names unchanged.
 * Writes at most size bytes. */
void vh_name_bracketed(const char *name, char *out, size_t size);
/* "x[1,2]" -> "x.1.2" as CmdStan writes CSV headers; characters that a
 * CSV header cannot hold unquoted (',', '"', line breaks) become '_'. */
void vh_name_dotted(const char *name, char *out, size_t size);

/* The k-hat verdict at S draws: "good" (k < 0.5), "ok" (0.5 <= k < 0.7),
 * "unreliable" (k >= 0.7), "too few draws" (k below 0.7 but at or above
 * the sample-size threshold min(1 - 1/log10 S, 0.7) of Vehtari et al.),
 * "n/a" when k is not a number. */
const char *vh_khat_verdict(double khat, size_t draws);
double vh_khat_threshold(size_t draws);

/* One family of the comparison. */
typedef struct vh_compare_family {
    char *name;            /* the family component ("meanfield") */
    char *dir;             /* its subfolder ("meanfield", "meanfield-2") */
    int ok;                /* fitted and written */
    int exit_code;         /* when not ok */
    char *error;           /* when not ok: why */
    /* From result.json (NaN / 0 when absent). */
    char *target;
    double elbo, elbo_mcse, iw_elbo, iw_elbo_mcse, log_evidence, log_evidence_mcse;
    double khat, khat_threshold, ess, seconds, log_z, kl_exact;
    uint64_t iterations, gradient_evaluations, iw_samples, draws;
    int converged, has_log_z, has_kl_exact;
    char *khat_verdict;         /* result.json's, or NULL: then from khat and draws */
    /* Against the reference (NaN when there is none). */
    double max_mean_error;      /* max |mean - ref mean| / ref sd */
    char *max_mean_error_param;
    double sd_ratio_min, sd_ratio_max;
    size_t n_compared;          /* parameters matched to the reference */
    int rank;                   /* by ELBO, 1 = highest; 0 when not ok */
} vh_compare_family;

/* A family's k-hat verdict: result.json's, else from its k-hat and S. */
const char *vh_compare_verdict(const vh_compare_family *f);

typedef struct vh_comparison {
    char *dir;                  /* the comparison folder */
    vh_compare_family *families;
    size_t n;
    vh_reference *reference;    /* owned; NULL when none */
    char *reference_note;       /* why there is none, or NULL */
} vh_comparison;

vh_comparison *vh_comparison_new(const char *dir);
void vh_comparison_free(vh_comparison *cmp);
/* Adds a family; `error` NULL when it finished (its files are then read by
 * vh_comparison_load). */
int vh_comparison_add(vh_comparison *cmp, const char *name, const char *subdir,
                      int exit_code, const char *error);
/* Takes ownership of ref (may be NULL, then `note` says why). */
void vh_comparison_set_reference(vh_comparison *cmp, vh_reference *ref, const char *note);
/* Reads each finished family's result.json and summary.csv, compares
 * them with the reference and ranks them.  A family whose files cannot be
 * read becomes a failed row; this fails only when memory runs out. */
int vh_comparison_load(vh_comparison *cmp, vh_err *err);

/* compare.csv, compare.md and (with a reference) reference.json. */
int vh_comparison_write(const vh_comparison *cmp, vh_outdir *out, vh_err *err);
int vh_write_compare_csv(FILE *out, const vh_comparison *cmp);
int vh_write_compare_md(FILE *out, const vh_comparison *cmp);

/* For `vihost report DIR`: a comparison folder (compare.csv, and
 * reference.json when there was a reference) or a single run's folder
 * (result.json), loaded as above.  Exit 2 when DIR is neither. */
int vh_comparison_read(const char *dir, vh_comparison **out, vh_err *err);

/* A few lines for the terminal: the families ranked by ELBO. */
void vh_comparison_print(FILE *out, const vh_comparison *cmp);

/* For a run with one family and a `reference:` file: one line on `out`
 * with the fit in `dir` against the reference.  Takes ref. */
void vh_reference_print_fit(FILE *out, const char *dir, vh_reference *ref);

/* How one family of a comparison run ended. */
typedef struct vh_compare_outcome {
    const char *name;      /* the family component */
    const char *dir;       /* its subfolder's name */
    int exit_code;         /* 0: finished and written */
    const char *error;     /* why not, when exit_code != 0 */
} vh_compare_outcome;

/* The end of a comparison run: compare.csv, compare.md and reference.json
 * staged in `out` (the comparison folder `dir`) and committed (out is then
 * freed), then report.html (skipped with a note on stderr when gnuplot is
 * absent; a report that fails is a warning, not an error), then the
 * ranking on stdout.  `quiet` silences all but warnings.  Takes ref. */
int vh_comparison_finish(const char *dir, const vh_compare_outcome *ends, size_t n,
                         vh_reference *ref, const char *ref_note, vh_outdir *out, int quiet,
                         vh_err *err);

#endif
