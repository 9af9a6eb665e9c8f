/* output.h — every output file, written atomically: files are made in a
 * staging folder beside output.dir and moved into place only when the run
 * has finished, so a failed or killed run never leaves a half-written
 * result, and a run refused before it starts leaves no folder. */
#ifndef VH_OUTPUT_H
#define VH_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "errors.h"

typedef struct vh_outdir vh_outdir;

/* Checks that `dir`'s parent exists (creating missing parents is allowed)
 * and is writable, and makes a staging folder beside it
 * (".<basename>.vihost-XXXXXX"), locked while this process lives; a
 * staging folder of the same output that a killed run left (its lock
 * free) is removed first.  Fails before anything runs (exit 2) with a
 * message naming the folder when it cannot be written. */
int vh_outdir_begin(const char *dir, vh_outdir **out, vh_err *err);
/* Opens `name` for writing inside the staging folder. */
FILE *vh_outdir_open(vh_outdir *dir, const char *name, vh_err *err);
/* Flushes and closes a file from vh_outdir_open; checks for write errors. */
int vh_outdir_close(vh_outdir *dir, FILE *file, vh_err *err);
/* Moves every staged file into `dir` (each by one rename, so readers see
 * old or new, never partial), creating `dir` when absent; then removes the
 * staging folder and frees `dir`.  On failure `dir` is not freed: call
 * vh_outdir_abort to remove what is still staged. */
int vh_outdir_commit(vh_outdir *dir, vh_err *err);
/* Removes the staging folder and everything in it; frees.  NULL is a no-op. */
void vh_outdir_abort(vh_outdir *dir);
/* The final folder's path. */
const char *vh_outdir_path(const vh_outdir *dir);

/* Numbers in CSV files: %.9g, "nan", "inf", "-inf". */
void vh_csv_number(FILE *out, double x);

/* summary.csv: name,mean,sd,q05,q50,q95. */
int vh_write_summary_csv(FILE *out, size_t n, const char *const *names,
                         const double *mean, const double *sd,
                         const double *q05, const double *q50,
                         const double *q95);

/* draws.csv in CmdStan's variational layout: `comments` (NULL-terminated,
 * each written as "# " + line), a header "lp__,log_p__,log_g__,<names>",
 * first the approximation's mean row (lp__, log_p__, log_g__ all 0), then
 * one row per draw: lp__ = 0, log_p__[d], log_g__[d], draws[d*n .. d*n+n). */
int vh_write_draws_csv(FILE *out, const char *const *comments, size_t n,
                       const char *const *names, const double *mean,
                       size_t n_draws, const double *log_p,
                       const double *log_g, const double *draws);
/* The same with comment lines between the header and the mean row
 * (`after_header`, NULL-terminated), where CmdStan writes its step-size
 * adaptation lines ("Stepsize adaptation complete.", "eta = 1") that
 * CmdStanPy reads. */
int vh_write_draws_csv_cmdstan(FILE *out, const char *const *comments,
                               const char *const *after_header, size_t n,
                               const char *const *names, const double *mean,
                               size_t n_draws, const double *log_p,
                               const double *log_g, const double *draws);

typedef struct vh_trace_row {
    uint64_t iter;
    double elbo;          /* the fresh estimate at this evaluation, of the lambda the
                           * fit would return now (the average when averaging) */
    double elbo_mcse;
    double rel_change;    /* NaN where none (written empty) */
    double step_norm;     /* ||lambda_t - lambda_{t-1}|| of the last step */
    double seconds;       /* since the start of the optimization */
    double grad_norm;     /* ||g|| of the last gradient estimate */
    double step_size;     /* the optimizer's learning rate (NaN: it has no getter) */
    double grad_snr;      /* ||g|| / its standard error, from the last estimate's
                           * draws; NaN (written empty) when grad_samples = 1 */
    uint64_t redraws;     /* redrawn gradient estimates and ELBO draws since the last row */
    uint64_t skipped;     /* steps skipped (each halving the step size) since the last row */
    const char *phase;    /* "adapt" (a step-size trial) or "fit" */
} vh_trace_row;

/* trace.csv: iter,elbo,elbo_mcse,rel_change,step_norm,seconds,grad_norm,
 * step_size,grad_snr,redraws,skipped,phase. */
int vh_write_trace_csv(FILE *out, size_t n, const vh_trace_row *rows);

typedef struct vh_component_info {
    const char *name;      /* component name */
    const char *file;      /* plugin file path */
    const char *version;   /* plugin library version */
} vh_component_info;

/* Everything result.json says.  A NaN double is written as null. */
typedef struct vh_result {
    vh_component_info target, family, optimizer;
    uint64_t seed;
    uint64_t iterations;
    int converged;
    const char *stop_reason;       /* "relative tolerance reached", ... */
    double elbo, elbo_mcse;
    double iw_elbo;
    double log_evidence, log_evidence_mcse;
    double khat;
    double ess;                    /* ESS of the importance weights */
    size_t iw_samples;
    uint64_t gradient_evaluations;
    double seconds;
    const char *target_gradient;   /* "analytic" or "finite differences" (a target with
                                    * VI_FLAG_NO_GRADIENT); NULL: not written */
    int has_log_evidence_exact;
    double log_evidence_exact;
    int has_kl_exact;
    double kl_exact;
    /* The importance-sampling diagnostics' details, written after the keys
     * above when khat_verdict is not NULL. */
    size_t importance_draws;       /* S: the draws behind elbo, iw_elbo, khat, ess */
    double iw_elbo_mcse;
    double khat_threshold;         /* min(1 - 1/log10 S, 0.7) */
    const char *khat_verdict;      /* "good", "ok", "too few draws", "unreliable", "n/a" */
    /* The approximation's exact moments over the unconstrained parameters
     * (a family with `moments`), written as "approximation" when q_mean is
     * not NULL; the covariance only for q_dim <= VH_RESULT_COV_MAX. */
    size_t q_dim;
    const char *const *q_names;
    const double *q_mean;
    const double *q_cov;           /* q_dim x q_dim, row-major */
} vh_result;

#define VH_RESULT_COV_MAX 50

/* result.json: an object with the keys above (components as objects
 * {name, plugin, version}), reals with 17 significant digits. */
int vh_write_result_json(FILE *out, const vh_result *result);

#endif
