/* checkpoint.h — output.checkpoint_every and `vihost run --resume`.
 *
 * Every `every` iterations the state of a running fit (lambda, the running
 * average, the optimizer's own state through save_state, the stopping
 * rule's buffers, the counters and the trace) is written to a checkpoint
 * file beside the output folder, ".<folder>.vihost-checkpoint", by a
 * temporary file and one rename, so a kill at any moment leaves the last
 * whole checkpoint.  Random numbers come from counter-based streams keyed
 * by the iteration, so the iteration is all of the RNG's state.  A run
 * started with --resume continues from it and ends with the bytes an
 * uninterrupted run writes, but for the seconds.  The file names the run
 * it belongs to by a fingerprint of the resolved run file, the data and
 * the plugin files; a checkpoint of another run is refused. */
#ifndef VH_CHECKPOINT_H
#define VH_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>
#include "data.h"
#include "engine.h"
#include "errors.h"
#include "node.h"
#include "stopping.h"

typedef struct vh_checkpoint vh_checkpoint;

/* The engine's state between two iterations, as pointers into it. */
typedef struct vh_engine_view {
    const vh_model *model;
    double *iterate;               /* n_params: the current lambda */
    double *average;               /* n_params: the running average */
    uint64_t *averaged;            /* iterates in it */
    const double **returned;       /* iterate, average or the stopping rule's average */
    unsigned *skips_in_a_row;
    double *init_elbo, *init_mcse; /* from step-size adaptation */
    uint64_t *row_redraws, *row_skipped;
    double *grad_norm, *grad_snr, *step_norm;
    vh_stopping *stopping;
    vh_fit *fit;                   /* counters and trace */
    size_t *trace_capacity;        /* rows fit->trace has room for */
    double *start;                 /* vh_now() when the fit started */
    struct vh_batcher *batcher;    /* the minibatch control variate's anchor; NULL: none */
} vh_engine_view;

/* A fingerprint of a run: the resolved run file `tree` (its
 * output.checkpoint_every left out, which changes nothing; the tree is
 * modified), the data's names and values, and each plugin file's path,
 * size and modification time.  Equal fingerprints: the same results. */
uint64_t vh_checkpoint_fingerprint(vh_node *tree, const vh_data *data,
                                   const char *const *plugin_files, size_t n_files);

/* Prepares the checkpoints of `model`'s fit whose outputs go to
 * `output_dir`: saved every `every` iterations (0: never).  With `resume`, reads the checkpoint when there is one; it must
 * carry `fingerprint` (exit 2 otherwise, and when it is damaged).  The
 * optimizer must have save_state (exit 2 otherwise).  `quiet`: no notes
 * on stderr. */
int vh_checkpoint_open(const vh_model *model, const char *output_dir, uint64_t every,
                       uint64_t fingerprint, int resume, int quiet, vh_checkpoint **out,
                       vh_err *err);

/* The iteration a resumed fit continues after; 0 when it starts afresh
 * (or its fit had finished). */
uint64_t vh_checkpoint_resumed_at(const vh_checkpoint *ck);

/* 1 when --resume found the mark of vh_checkpoint_keep_finished: this fit
 * had finished, and its outputs were in place, before the run stopped. */
int vh_checkpoint_finished(const vh_checkpoint *ck);

/* Puts the saved state into a freshly started engine (after the family's
 * init); fails (exit 2) when it does not fit this model. */
int vh_checkpoint_restore(vh_checkpoint *ck, const vh_engine_view *view, vh_err *err);

/* Saves the state after iteration t when t is a multiple of `every`.  A
 * checkpoint that cannot be written is a warning, once, and the run goes
 * on without checkpoints: they must never cost the run itself.  Fails only
 * when the optimizer cannot save its state (exit 4). */
int vh_checkpoint_save(vh_checkpoint *ck, const vh_engine_view *view, uint64_t t,
                       vh_err *err);

/* The fit's outputs are in place: the checkpoint has served; removed. */
void vh_checkpoint_finish(vh_checkpoint *ck);

/* The fit's outputs are in place but the run goes on (a list of
 * families): the checkpoint is replaced by a mark that it finished, so
 * that --resume keeps its outputs instead of fitting it again; without
 * checkpoints (every 0) or when it cannot be written, it is removed. */
void vh_checkpoint_keep_finished(vh_checkpoint *ck);

/* Removes the checkpoint (or mark) of the fit whose outputs go to
 * `output_dir`, once the whole run is done. */
void vh_checkpoint_remove(const char *output_dir);
void vh_checkpoint_free(vh_checkpoint *ck);

#endif
