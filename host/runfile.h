/* runfile.h — the YAML run file: read with libyaml, overridden by --set,
 * checked against the host's own schema (every key, type and range, with
 * file:line:column and the nearest valid key), and resolved with every
 * default filled in.  Component options are checked later, against each
 * component's option table, by config.h. */
#ifndef VH_RUNFILE_H
#define VH_RUNFILE_H

#include <stddef.h>
#include <stdint.h>
#include "errors.h"
#include "node.h"

/* One `target:`, `family:` or `optimizer:` section. */
typedef struct vh_component_spec {
    char *plugin;            /* a component name, or a path to a .so (contains '/' or ends in .so; resolved against the run file's folder) */
    const vh_node *options;  /* the `options:` MAPPING (into the tree), or NULL */
    char *data;              /* target only: the data file's path, resolved against the run file's folder; NULL when none */
    vh_pos pos;              /* where the section stands (for "missing key" errors) */
} vh_component_spec;

typedef struct vh_runfile {
    char *path;              /* as given */
    char *base_dir;          /* the run file's folder */
    vh_node *root;           /* the resolved tree: every default filled in */

    int64_t version;         /* vihost: (only 1) */
    uint64_t seed;           /* seed: default 1 */
    char **plugin_path;      /* plugin_path: a string or a list; resolved against base_dir */
    size_t n_plugin_path;

    vh_component_spec target;      /* required */
    vh_component_spec *families;   /* family: one section or a list; default meanfield */
    size_t n_families;
    vh_component_spec optimizer;   /* default adam */

    char *gradient;          /* objective.gradient: "reparam" */
    uint64_t grad_samples;   /* objective.grad_samples: default 1, >= 1 */
    uint64_t elbo_samples;   /* objective.elbo_samples: default 100, >= 2 */
    char *base;              /* objective.base: "pseudo" */
    uint64_t batch_size;     /* objective.batch_size: items per minibatch; 0 (default): all */
    uint64_t anchor_every;   /* objective.anchor_every: iterations between moves of the
                              * minibatch control variate's anchor; 0: no control variate */

    uint64_t max_iterations; /* stop.max_iterations: default 10000, >= 1 */
    char *rule;              /* stop.rule: relative, mcse, rhat or none */
    double tolerance;        /* stop.tolerance: > 0 */
    uint64_t eval_every;     /* stop.eval_every: >= 1 */
    uint64_t window;         /* stop.window: iterations, >= 4 (mcse, rhat) */
    double z;                /* stop.z: > 0 (mcse) */
    double rhat_threshold;   /* stop.rhat_threshold: > 1 (rhat) */
    uint64_t max_gradients;  /* stop.max_gradients: 0 for no limit */
    double max_seconds;      /* stop.max_seconds: >= 0, 0 for no limit */

    char *averaging;         /* averaging.method: none, polyak or polynomial */
    uint64_t averaging_start;/* averaging.start: polyak from this iteration on */
    double averaging_power;  /* averaging.power: polynomial decay, >= 0 */

    int adapt;               /* adapt.enabled: Stan's step-size adaptation */
    uint64_t adapt_iterations; /* adapt.iterations: per candidate step size, >= 1 */

    char *output_dir;        /* output.dir: default "results/<run file stem>", relative to the current directory */
    uint64_t draws;          /* output.draws: default 1000, >= 0 */
    uint64_t iw_samples;     /* output.iw_samples: draws per group of the IW-ELBO, default 10, >= 1 */
    uint64_t checkpoint_every; /* output.checkpoint_every: save the fit's state every so many
                                * iterations for `vihost run --resume`; 0 (default) never */

    char *reference;         /* reference: a reference posterior CSV, resolved against base_dir; NULL when none */
    uint64_t threads;        /* threads: 1..256, or 0 for `auto` (the default): one per CPU */
    const vh_node *sweep;    /* sweep: the grid (a mapping into the tree), or NULL */
} vh_runfile;

/* Reads `path`, applies `sets` ("dotted.key=value", value read as a YAML
 * flow node, so lists work), validates and resolves.  Errors exit 2 and
 * name file:line:column, or the --set argument. */
int vh_runfile_load(const char *path, const char *const *sets, size_t n_sets,
                    vh_runfile **out, vh_err *err);
/* The same for run-file text already in memory (len bytes, need not end
 * in NUL): `path` names it in messages and its folder is where relative
 * paths lead; nothing is read from disk.  For the fuzzers and tests. */
int vh_runfile_load_text(const char *path, const char *text, size_t len,
                         const char *const *sets, size_t n_sets, vh_runfile **out,
                         vh_err *err);
void vh_runfile_free(vh_runfile *run);

/* The valid values of objective.gradient, objective.base, stop.rule and
 * averaging.method,
 * NULL-terminated (for messages and docs). */
extern const char *const vh_runfile_gradients[];
extern const char *const vh_runfile_bases[];
extern const char *const vh_runfile_rules[];
extern const char *const vh_runfile_averagings[];

#endif
