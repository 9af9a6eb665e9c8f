/* run.c — `vihost run` (see run.h). */
#include "run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "build-config.h"
#include "checkpoint.h"
#include "compare.h"
#include "config.h"
#include "data.h"
#include "diagnostics.h"
#include "dist.h"
#include "draws.h"
#include "engine.h"
#include "estimators.h"
#include "finite.h"
#include "guard.h"
#include "hostapi.h"
#include "loader.h"
#include "output.h"
#include "rng.h"
#include "runfile.h"
#include "sweep.h"
#include "threads.h"

/* The approximation's covariance goes into result.json up to this
 * dimension (its diagonal, the sds, needs the whole matrix). */
#define RUN_Q_COV_MAX 2000

/* One resolved and configured component. */
typedef struct run_component {
    const vh_component *component;
    vi_config *config;
    vh_host_context context;   /* its vi_host; must not move while an instance lives */
    char label[160];           /* "family 'meanfield'" */
} run_component;

/* Everything checked before the first iteration. */
typedef struct run_plan {
    vh_runfile *run;
    vh_registry registry;
    char **search;
    char search_text[1024];
    vh_data *data;
    run_component target;
    run_component optimizer;
    run_component *families;
    char **family_dirs;        /* output folder of each family */
    vh_reference *reference;   /* the run file's `reference:`, read before any fit */
    const vh_dist *dist;       /* the MPI ranks of this run; only rank 0 writes */
    vh_pool *pool;             /* the run's threads (`threads:`), made once */
} run_plan;

static void plan_free(run_plan *plan)
{
    vh_config_free(plan->target.config);
    vh_config_free(plan->optimizer.config);
    for (size_t i = 0; plan->run && i < plan->run->n_families; i++) {
        if (plan->families)
            vh_config_free(plan->families[i].config);
        if (plan->family_dirs)
            free(plan->family_dirs[i]);
    }
    free(plan->families);
    free(plan->family_dirs);
    vh_data_free(plan->data);
    vh_reference_free(plan->reference);
    vh_search_path_free(plan->search);
    vh_registry_free(&plan->registry);
    vh_runfile_free(plan->run);
    vh_pool_free(plan->pool);
    memset(plan, 0, sizeof *plan);
}

static void describe_search(run_plan *plan)
{
    size_t used = 0;
    plan->search_text[0] = '\0';
    for (char **d = plan->search; d && *d && used < sizeof plan->search_text; d++)
        used += (size_t)snprintf(plan->search_text + used, sizeof plan->search_text - used,
                                 "%s%s", d == plan->search ? "" : ":", *d);
}

/* Resolves spec's component of `kind` and validates its options. */
static int plan_component(run_plan *plan, const vh_component_spec *spec, vi_kind kind,
                          const vh_data *data, int verbose, run_component *out,
                          vh_err *err)
{
    if (vh_registry_resolve(&plan->registry, spec->plugin, kind, plan->search_text,
                            &out->component, err) != 0)
        return -1;
    const vh_component *c = out->component;
    snprintf(out->label, sizeof out->label, "%s '%s'", vh_kind_name(kind), c->name);
    vh_hostapi_init(&out->context, out->label, verbose ? VI_LOG_INFO : VI_LOG_WARNING);
    return vh_config_build(c->head->options, spec->options, data, plan->run->path,
                           out->label, spec->pos, &out->config, err);
}

static int plan_family_dirs(run_plan *plan, vh_err *err)
{
    size_t n = plan->run->n_families;
    plan->family_dirs = calloc(n, sizeof *plan->family_dirs);
    if (plan->family_dirs == NULL)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *name = plan->families[i].component->name;
        size_t same = 0;
        for (size_t j = 0; j < i; j++)
            same += strcmp(plan->families[j].component->name, name) == 0;
        size_t len = strlen(plan->run->output_dir) + strlen(name) + 32;
        if ((plan->family_dirs[i] = malloc(len)) == NULL)
            return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
        if (n == 1)
            snprintf(plan->family_dirs[i], len, "%s", plan->run->output_dir);
        else if (same == 0)
            snprintf(plan->family_dirs[i], len, "%s/%s", plan->run->output_dir, name);
        else
            snprintf(plan->family_dirs[i], len, "%s/%s-%zu", plan->run->output_dir, name,
                     same + 1);
    }
    return 0;
}

/* The threads of `threads: auto`: the CPUs, shared among the MPI ranks on
 * this machine. */
static size_t run_threads(const vh_runfile *run, const vh_dist *dist)
{
    size_t cpus = vh_cpu_count(), local = (size_t)vh_dist_local_size(dist);
    if (run->threads > 0)
        return (size_t)run->threads;
    return cpus > local ? cpus / local : 1;
}

/* OpenBLAS's own threads would fight the run's for the cores: one each,
 * set before any plugin loads OpenBLAS (it reads this when loaded).  A
 * user's setting stands for a one-thread, one-process run. */
static void run_blas_threads(const vh_runfile *run, const vh_dist *dist)
{
    if (run_threads(run, dist) > 1 || vh_dist_size(dist) > 1 ||
        getenv("OPENBLAS_NUM_THREADS") == NULL)
        setenv("OPENBLAS_NUM_THREADS", "1", 1);
}

static int plan_prepare(const vh_run_request *req, run_plan *plan, vh_err *err)
{
    memset(plan, 0, sizeof *plan);
    vh_registry_init(&plan->registry);
    plan->registry.allow_insecure = req->allow_insecure_plugins;
    if (vh_runfile_load(req->file, req->sets, req->n_sets, &plan->run, err) != 0)
        return -1;
    vh_runfile *run = plan->run;
    size_t n_search;
    plan->dist = req->dist;
    run_blas_threads(run, plan->dist);
    plan->search = vh_search_path(req->plugin_dirs, req->n_plugin_dirs,
                                  (const char *const *)run->plugin_path,
                                  run->n_plugin_path, &n_search);
    describe_search(plan);
    vh_registry_scan(&plan->registry, (const char *const *)plan->search, n_search);
    if (run->target.data != NULL && vh_data_load(run->target.data, &plan->data, err) != 0)
        return -1;
    if (run->reference != NULL &&
        vh_reference_read_csv(run->reference, &plan->reference, err) != 0)
        return -1;
    if (plan_component(plan, &run->target, VI_KIND_TARGET, plan->data, req->verbose,
                       &plan->target, err) != 0 ||
        plan_component(plan, &run->optimizer, VI_KIND_OPTIMIZER, NULL, req->verbose,
                       &plan->optimizer, err) != 0)
        return -1;
    plan->families = calloc(run->n_families, sizeof *plan->families);
    if (plan->families == NULL)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    for (size_t i = 0; i < run->n_families; i++)
        if (plan_component(plan, &run->families[i], VI_KIND_FAMILY, NULL, req->verbose,
                           &plan->families[i], err) != 0)
            return -1;
    return plan_family_dirs(plan, err);
}

static int refused(vh_err *err, const run_component *rc, const vi_error *perr, int status)
{
    return vh_err_set(err, VH_EXIT_PLUGIN, "%s (%s) refused its configuration: %s (status %d)",
                      rc->label, rc->component->library->path,
                      perr->message[0] ? perr->message : "no message", status);
}

static void instances_destroy(vh_model *m)
{
    if (m->optimizer_self)
        m->optimizer->destroy(m->optimizer_self);
    if (m->family_self)
        m->family->destroy(m->family_self);
    if (m->target_self)
        m->target->destroy(m->target_self);
    memset(m, 0, sizeof *m);
}

static int instances_create(run_plan *plan, size_t f, vh_model *m, vh_err *err)
{
    run_component *rt = &plan->target, *rf = &plan->families[f], *ro = &plan->optimizer;
    vi_error perr = {sizeof perr, 0, ""};
    int status;
    memset(m, 0, sizeof *m);
    m->target = (const vi_target_desc *)rt->component->head;
    m->family = (const vi_family_desc *)rf->component->head;
    m->optimizer = (const vi_optimizer_desc *)ro->component->head;
    m->target_label = rt->label;
    m->family_label = rf->label;
    m->optimizer_label = ro->label;
    m->family_host = &rf->context.host;
    m->gradient = vh_gradient_parse(plan->run->gradient);
    if ((status = m->target->create(&rt->context.host, rt->config, &m->target_self, &perr)))
        return refused(err, rt, &perr, status);
    size_t dim = m->target->dim(m->target_self);
    if (vh_guard_size(rt->label, rt->component->library->path, "dimension", dim, 1, err))
        return -1;
    if ((status = m->family->create(&rf->context.host, rf->config, dim, &m->family_self,
                                    &perr)))
        return refused(err, rf, &perr, status);
    size_t n = m->family->n_params(m->family_self);
    if (vh_guard_size(rf->label, rf->component->library->path,
                      "number of variational parameters (n_params)", n, 1, err))
        return -1;
    if ((status = m->optimizer->create(&ro->context.host, ro->config, n,
                                       &m->optimizer_self, &perr)))
        return refused(err, ro, &perr, status);
    vh_model_measure(m);
    return vh_guard_model(m, rt->component->library->path, rf->component->library->path,
                          err);
}

/* The draws a finished fit is judged and reported by. */
typedef struct run_draws {
    size_t n;              /* draws made: max(output.draws, objective.elbo_samples) */
    size_t n_written;      /* rows of draws.csv: output.draws */
    size_t cdim;           /* constrained dimension */
    const char **names;    /* cdim names, owned by the target instance */
    double *values;        /* n x cdim constrained draws */
    double *log_p;         /* n: log p~(z) */
    double *log_g;         /* n: log q(z) */
    double *log_w;         /* n: log p~(z) - log q(z) */
    double *mean_row;      /* cdim: the approximation's mean, constrained */
    double *z_sum;         /* dim: running sum of unconstrained draws */
} run_draws;

static void run_draws_free(run_draws *rd)
{
    free(rd->names);
    free(rd->values);
    free(rd->log_p);
    free(rd->log_g);
    free(rd->log_w);
    free(rd->mean_row);
    free(rd->z_sum);
    memset(rd, 0, sizeof *rd);
}

static int constrain_point(const vh_model *m, const double *z, double *out, vh_err *err)
{
    if (m->target->constrain == NULL) {
        memcpy(out, z, m->dim * sizeof *z);
        return 0;
    }
    vi_error perr = {sizeof perr, 0, ""};
    int status = m->target->constrain(m->target_self, z, out, &perr);
    if (status != 0)
        return vh_err_set(err, VH_EXIT_NUMERIC, "%s: constrain failed: %s (status %d)",
                          m->target_label, perr.message[0] ? perr.message : "no message",
                          status);
    return 0;
}

static int run_draws_alloc(const vh_model *m, const vh_runfile *run, run_draws *rd,
                           vh_err *err)
{
    memset(rd, 0, sizeof *rd);
    rd->n_written = (size_t)run->draws;
    rd->n = run->draws > run->elbo_samples ? (size_t)run->draws : (size_t)run->elbo_samples;
    rd->cdim = m->target->constrained_dim ? m->target->constrained_dim(m->target_self) : m->dim;
    rd->names = calloc(rd->cdim + 1, sizeof *rd->names);
    rd->values = calloc(rd->n * rd->cdim + 1, sizeof *rd->values);
    rd->log_p = calloc(rd->n, sizeof *rd->log_p);
    rd->log_g = calloc(rd->n, sizeof *rd->log_g);
    rd->log_w = calloc(rd->n, sizeof *rd->log_w);
    rd->mean_row = calloc(rd->cdim + 1, sizeof *rd->mean_row);
    rd->z_sum = calloc(m->dim + 1, sizeof *rd->z_sum);
    if (!rd->names || !rd->values || !rd->log_p || !rd->log_g || !rd->log_w ||
        !rd->mean_row || !rd->z_sum)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory for %zu output draws", rd->n);
    for (size_t j = 0; j < rd->cdim; j++) {
        rd->names[j] = m->target->constrained_name
                           ? m->target->constrained_name(m->target_self, j)
                           : m->target->param_name(m->target_self, j);
        if (rd->names[j] == NULL)
            return vh_err_set(err, VH_EXIT_PLUGIN, "%s gave no name for coordinate %zu",
                              m->target_label, j + 1);
    }
    return 0;
}

/* The approximation's mean (exact when the family has `moments`, else the
 * draws' average), mapped to the constrained space. */
static int run_draws_mean(const vh_model *m, const double *lambda, run_draws *rd,
                          double *z, double *work, vh_err *err)
{
    vi_error perr = {sizeof perr, 0, ""};
    /* Over a finite set the mean is sum_j q_j x_j of the constrained
     * states: the mean state itself need not be a state. */
    if (vh_family_finite(m) != NULL && vh_target_finite(m) != NULL)
        return vh_finite_mean(m, lambda, rd->cdim, rd->mean_row, err);
    if (m->family->moments == NULL ||
        m->family->moments(m->family_self, lambda, z, NULL, work, &perr) != 0)
        for (size_t i = 0; i < m->dim; i++)
            z[i] = rd->z_sum[i] / (double)rd->n;
    return constrain_point(m, z, rd->mean_row, err);
}

/* The output draws on the run's threads and MPI ranks (draws.h), then
 * constrained and summed in draw order as below. */
static int run_draws_parallel(const vh_model *m, const vh_runfile *run, const double *lambda,
                              run_draws *rd, vh_err *err)
{
    size_t dropped = 0;
    double *z = malloc((rd->n * m->dim + 1) * sizeof *z);
    int failed = z == NULL ? vh_err_set(err, VH_EXIT_FAILURE, "out of memory for %zu output "
                                        "draws", rd->n)
                           : vh_parallel_finite(m, lambda, run->seed, VH_RNG_OUTPUT, 0, rd->n,
                                                rd->log_p, rd->log_g, z, &dropped, rd->n,
                                                err) != 0;
    for (size_t d = 0; d < rd->n && !failed; d++) {
        const double *zd = z + d * m->dim;
        failed = constrain_point(m, zd, rd->values + d * rd->cdim, err) != 0;
        if (!failed && !isfinite(rd->log_g[d]))
            failed = vh_err_set(err, VH_EXIT_NUMERIC, "%s: log q is not finite at draw %zu",
                                m->family_label, d + 1);
        rd->log_w[d] = rd->log_p[d] - rd->log_g[d];
        for (size_t i = 0; i < m->dim && !failed; i++)
            rd->z_sum[i] += zd[i];
    }
    vh_draw_buffers *buf = vh_parallel_buffers(m->parallel);
    if (!failed)
        failed = run_draws_mean(m, lambda, rd, buf->z, buf->family_work, err);
    free(z);
    return failed ? -1 : 0;
}

static int run_draws_make(const vh_model *m, const vh_runfile *run, const double *lambda,
                          run_draws *rd, vh_err *err)
{
    vh_draw_buffers buf;
    if (run_draws_alloc(m, run, rd, err) != 0)
        return -1;
    if (m->parallel != NULL)
        return run_draws_parallel(m, run, lambda, rd, err);
    if (vh_draw_buffers_alloc(m, &buf) != 0)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    int failed = 0;
    size_t dropped = 0;
    for (size_t d = 0; d < rd->n && !failed; d++) {
        /* A draw where the target is not finite is redrawn (at most n times
         * in all), as the fit's own draws are. */
        failed = vh_draw_finite(m, lambda, run->seed, VH_RNG_OUTPUT, 0, d, &buf,
                                &rd->log_p[d], &rd->log_g[d], &dropped, rd->n, err) != 0 ||
                 constrain_point(m, buf.z, rd->values + d * rd->cdim, err) != 0;
        if (!failed && !isfinite(rd->log_g[d]))
            failed = vh_err_set(err, VH_EXIT_NUMERIC, "%s: log q is not finite at draw %zu",
                                m->family_label, d + 1);
        rd->log_w[d] = rd->log_p[d] - rd->log_g[d];
        for (size_t i = 0; i < m->dim && !failed; i++)
            rd->z_sum[i] += buf.z[i];
    }
    if (!failed)
        failed = run_draws_mean(m, lambda, rd, buf.z, buf.family_work, err);
    vh_draw_buffers_free(&buf);
    return failed ? -1 : 0;
}

/* Sets section[key] = value in a mapping (replacing or appending). */
static int node_set(vh_node *section, const char *key, vh_node *value)
{
    if (section == NULL || section->kind != VH_NODE_MAPPING || value == NULL) {
        vh_node_free(value);
        return -1;
    }
    long i = vh_node_map_index(section, key);
    if (i >= 0) {
        vh_node_map_replace(section, (size_t)i, value);
        return 0;
    }
    vh_pos none = {0, 0};
    if (vh_node_map_append(section, key, none, value) != 0) {
        vh_node_free(value);
        return -1;
    }
    return 0;
}

/* An absolute form of `path` (which need not exist), as a quoted scalar. */
static vh_node *absolute_node(const char *path)
{
    char cwd[4096], *joined = NULL;
    vh_pos none = {0, 0};
    if (path[0] != '/' && getcwd(cwd, sizeof cwd) != NULL) {
        size_t len = strlen(cwd) + strlen(path) + 2;
        if ((joined = malloc(len)) != NULL)
            snprintf(joined, len, "%s/%s", cwd, path);
    }
    vh_node *node = vh_node_new_scalar(joined ? joined : path, 1, none);
    free(joined);
    return node;
}

/* Paths in run.yaml are made absolute: it is written into the output
 * folder, where the run file's relative paths would point elsewhere. */
static int absolute_paths(const run_plan *plan, vh_node *root, size_t f)
{
    const vh_runfile *run = plan->run;
    const run_component *rc[3] = {&plan->target, &plan->families[f], &plan->optimizer};
    const char *keys[3] = {"target", "family", "optimizer"};
    const vh_component_spec *specs[3] = {&run->target, &run->families[f], &run->optimizer};
    if (run->target.data != NULL &&
        node_set(vh_node_map_get(root, "target"), "data", absolute_node(run->target.data)))
        return -1;
    if (run->reference != NULL && node_set(root, "reference", absolute_node(run->reference)))
        return -1;
    for (int i = 0; i < 3; i++) {
        const char *plugin = specs[i]->plugin;
        if ((strchr(plugin, '/') != NULL || strstr(plugin, ".so") != NULL) &&
            node_set(vh_node_map_get(root, keys[i]), "plugin",
                     absolute_node(rc[i]->component->library->path)))
            return -1;
    }
    vh_node *dirs = vh_node_new_sequence((vh_pos){0, 0});
    for (size_t i = 0; dirs != NULL && i < run->n_plugin_path; i++) {
        vh_node *item = absolute_node(run->plugin_path[i]);
        if (item == NULL || vh_node_seq_append(dirs, item) != 0) {
            vh_node_free(item);
            vh_node_free(dirs);
            dirs = NULL;
        }
    }
    return node_set(root, "plugin_path", dirs);
}

/* The run file as resolved for family f: every default filled in, each
 * component's options complete, `family` that one family and output.dir
 * its folder, so that running it again reproduces this output. */
static vh_node *resolved_tree(const run_plan *plan, size_t f)
{
    vh_node *root = vh_node_clone(plan->run->root);
    if (root == NULL)
        return NULL;
    vh_node *family = vh_node_map_get(root, "family");
    if (family != NULL && family->kind == VH_NODE_SEQUENCE)
        node_set(root, "family", vh_node_clone(family->items[f]));
    vh_pos none = {0, 0};
    if (absolute_paths(plan, root, f) != 0) {
        vh_node_free(root);
        return NULL;
    }
    int bad = node_set(vh_node_map_get(root, "target"), "options",
                       vh_config_to_node(plan->target.config)) ||
              node_set(vh_node_map_get(root, "family"), "options",
                       vh_config_to_node(plan->families[f].config)) ||
              node_set(vh_node_map_get(root, "optimizer"), "options",
                       vh_config_to_node(plan->optimizer.config)) ||
              node_set(vh_node_map_get(root, "output"), "dir",
                       vh_node_new_scalar(plan->family_dirs[f], 1, none));
    if (bad) {
        vh_node_free(root);
        return NULL;
    }
    return root;
}

static void fill_result(const run_plan *plan, size_t f, const vh_model *m,
                        const vh_fit *fit, const vh_importance *imp, size_t n_draws,
                        vh_result *res)
{
    const run_component *rc[3] = {&plan->target, &plan->families[f], &plan->optimizer};
    vh_component_info *info[3] = {&res->target, &res->family, &res->optimizer};
    memset(res, 0, sizeof *res);
    for (int i = 0; i < 3; i++) {
        info[i]->name = rc[i]->component->name;
        info[i]->file = rc[i]->component->library->path;
        info[i]->version = rc[i]->component->library->entry->version;
    }
    res->seed = plan->run->seed;
    res->iterations = fit->iterations;
    res->converged = fit->converged;
    res->stop_reason = fit->stop_reason;
    res->elbo = imp->elbo;
    res->elbo_mcse = imp->elbo_mcse;
    res->iw_elbo = imp->iw_elbo;
    res->log_evidence = imp->log_evidence;
    res->log_evidence_mcse = imp->log_evidence_mcse;
    res->khat = imp->khat;
    res->ess = imp->ess;
    res->iw_samples = n_draws < plan->run->iw_samples ? n_draws : plan->run->iw_samples;
    res->iw_elbo_mcse = imp->iw_elbo_mcse;
    res->importance_draws = n_draws;
    res->khat_threshold = vh_khat_threshold(n_draws);
    res->khat_verdict = vh_khat_verdict(imp->khat, n_draws);
    res->gradient_evaluations = fit->gradient_evaluations;
    res->target_gradient = (m->target->flags & VI_FLAG_NO_GRADIENT) ? "finite differences"
                                                                    : "analytic";
    res->seconds = fit->seconds;
    vi_error perr = {sizeof perr, 0, ""};
    if (m->target->log_evidence != NULL &&
        m->target->log_evidence(m->target_self, &res->log_evidence_exact, &perr) == 0)
        res->has_log_evidence_exact = isfinite(res->log_evidence_exact);
    /* A target over a finite set: log Z and KL(q || p) by exact sums. */
    vh_err ignored;
    if (!res->has_log_evidence_exact && vh_target_finite(m) != NULL &&
        vh_finite_log_evidence(m, &res->log_evidence_exact, &ignored) == 0)
        res->has_log_evidence_exact = isfinite(res->log_evidence_exact);
    if (vh_target_finite(m) != NULL && vh_family_finite(m) != NULL &&
        vh_finite_kl(m, fit->lambda, &res->kl_exact, NULL, &ignored) == 0)
        res->has_kl_exact = 1;
}

/* The approximation's exact mean and covariance over the unconstrained
 * parameters, for a family with `moments`: into res (names from the
 * target).  Returns the block of numbers, which the caller frees with
 * res->q_names; NULL (res untouched) when there are none. */
static double *run_approximation(const vh_model *m, const double *lambda, vh_result *res)
{
    size_t d = m->dim, cov = d <= RUN_Q_COV_MAX ? d * d : 0;
    if (m->family->moments == NULL)
        return NULL;
    double *mem = malloc((d + cov + m->family_work + 1) * sizeof *mem);
    const char **names = calloc(d + 1, sizeof *names);
    vi_error perr = {sizeof perr, 0, ""};
    if (mem == NULL || names == NULL ||
        m->family->moments(m->family_self, lambda, mem, cov ? mem + d : NULL, mem + d + cov,
                           &perr) != 0) {
        free(mem);
        free(names);
        return NULL;
    }
    for (size_t i = 0; i < d; i++)
        names[i] = m->target->param_name(m->target_self, i);
    res->q_dim = d;
    res->q_names = names;
    res->q_mean = mem;
    res->q_cov = cov ? mem + d : NULL;
    return mem;
}

static int write_summary(vh_outdir *out, const run_draws *rd, vh_err *err)
{
    size_t c = rd->cdim + 1;
    double *mem = calloc(5 * c + rd->n, sizeof *mem);
    if (mem == NULL)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    double *mean = mem, *sd = mem + c, *q05 = mem + 2 * c, *q50 = mem + 3 * c;
    double *q95 = mem + 4 * c, *scratch = mem + 5 * c;
    vh_summarize(rd->values, rd->n, rd->cdim, mean, sd, q05, q50, q95, scratch);
    FILE *f = vh_outdir_open(out, "summary.csv", err);
    int failed = f == NULL ||
                 vh_write_summary_csv(f, rd->cdim, rd->names, mean, sd, q05, q50, q95) != 0;
    if (f != NULL && vh_outdir_close(out, f, err) != 0)
        failed = 1;
    free(mem);
    return failed ? vh_err_set(err, VH_EXIT_FAILURE, "cannot write summary.csv in %s",
                               vh_outdir_path(out))
                  : 0;
}

/* draws.csv's comment lines: CmdStan's configuration keys, so CmdStanPy's
 * from_csv and ArviZ's from_cmdstan read the file, then vihost's own.
 * CmdStan knows two algorithms: a family other than meanfield is called
 * fullrank there, and `family` says which it was. */
static void draws_comments(const run_plan *plan, size_t f, const run_draws *rd,
                           double eta, char lines[][320], const char **comments)
{
    const vh_runfile *run = plan->run;
    const run_component *rc[3] = {&plan->target, &plan->families[f], &plan->optimizer};
    const char *family = rc[1]->component->name;
    size_t k = 0;
    snprintf(lines[k++], 320, "vihost %s, variational draws in CmdStan's layout", PACKAGE_VERSION);
    snprintf(lines[k++], 320, "model = %s", rc[0]->component->name);
    snprintf(lines[k++], 320, "method = variational");
    snprintf(lines[k++], 320, "  variational");
    snprintf(lines[k++], 320, "    algorithm = %s",
             strcmp(family, "meanfield") == 0 ? "meanfield" : "fullrank");
    snprintf(lines[k++], 320, "    iter = %llu", (unsigned long long)run->max_iterations);
    snprintf(lines[k++], 320, "    grad_samples = %llu", (unsigned long long)run->grad_samples);
    snprintf(lines[k++], 320, "    elbo_samples = %llu", (unsigned long long)run->elbo_samples);
    snprintf(lines[k++], 320, "    eta = %.15g", eta);
    snprintf(lines[k++], 320, "    tol_rel_obj = %g", run->tolerance);
    snprintf(lines[k++], 320, "    eval_elbo = %llu", (unsigned long long)run->eval_every);
    snprintf(lines[k++], 320, "    output_samples = %zu", rd->n_written);
    for (int i = 0; i < 3; i++)
        snprintf(lines[k++], 320, "%s = %s (%s)", vh_kind_name(rc[i]->component->kind),
                 rc[i]->component->name, rc[i]->component->library->path);
    snprintf(lines[k++], 320, "seed = %llu", (unsigned long long)run->seed);
    snprintf(lines[k++], 320, "draws = %zu; the first row is the mean of the approximation",
             rd->n_written);
    for (size_t i = 0; i < k; i++)
        comments[i] = lines[i];
    comments[k] = NULL;
}

/* The step size CmdStan would report as eta: the one adaptation chose, else
 * the optimizer's own learning rate, else 1. */
static double draws_eta(const vh_model *m, const vh_fit *fit)
{
    if (isfinite(fit->adapted_rate))
        return fit->adapted_rate;
    if (m->optimizer->get_learning_rate != NULL)
        return m->optimizer->get_learning_rate(m->optimizer_self);
    return 1.0;
}

static int write_draws(vh_outdir *out, const run_plan *plan, size_t f, const vh_model *m,
                       const vh_fit *fit, const run_draws *rd, vh_err *err)
{
    char lines[20][320], eta_line[64];
    const char *comments[21];
    double eta = draws_eta(m, fit);
    /* CmdStan writes these after the header and CmdStanPy's parser expects
     * both lines as they are; eta is the step size this run used. */
    snprintf(eta_line, sizeof eta_line, "eta = %.15g", eta);
    const char *const adaptation[] = {"Stepsize adaptation complete.", eta_line, NULL};
    draws_comments(plan, f, rd, eta, lines, comments);
    /* Column names as CmdStan writes them: "x.1" for x[1]. */
    char *dotted = malloc(rd->cdim * 256 + 1);
    const char **names = calloc(rd->cdim + 1, sizeof *names);
    int oom = dotted == NULL || names == NULL;
    FILE *file = oom ? NULL : vh_outdir_open(out, "draws.csv", err);
    for (size_t j = 0; file != NULL && j < rd->cdim; j++) {
        vh_name_dotted(rd->names[j], dotted + 256 * j, 256);
        names[j] = dotted + 256 * j;
    }
    int failed = file == NULL ||
                 vh_write_draws_csv_cmdstan(file, comments, adaptation, rd->cdim, names,
                                            rd->mean_row, rd->n_written, rd->log_p, rd->log_g,
                                            rd->values) != 0;
    free(dotted);
    free(names);
    if (file == NULL)
        return oom ? vh_err_set(err, VH_EXIT_FAILURE, "out of memory") : -1;
    if (vh_outdir_close(out, file, err) != 0 || failed)
        return vh_err_set(err, VH_EXIT_FAILURE, "cannot write draws.csv in %s",
                          vh_outdir_path(out));
    return 0;
}

static int write_small_files(vh_outdir *out, const run_plan *plan, size_t f,
                             const vh_fit *fit, const vh_result *res, vh_err *err)
{
    FILE *file = vh_outdir_open(out, "trace.csv", err);
    if (file == NULL)
        return -1;
    int failed = vh_write_trace_csv(file, fit->n_trace, fit->trace) != 0;
    failed |= vh_outdir_close(out, file, err) != 0;
    if (!failed && (file = vh_outdir_open(out, "result.json", err)) != NULL) {
        failed |= vh_write_result_json(file, res) != 0;
        failed |= vh_outdir_close(out, file, err) != 0;
    } else
        failed = 1;
    vh_node *tree = failed ? NULL : resolved_tree(plan, f);
    if (tree != NULL && (file = vh_outdir_open(out, "run.yaml", err)) != NULL) {
        failed |= vh_node_emit(tree, file) != 0;
        failed |= vh_outdir_close(out, file, err) != 0;
    } else
        failed = 1;
    vh_node_free(tree);
    return failed ? vh_err_set(err, VH_EXIT_FAILURE, "cannot write the outputs in %s",
                               vh_outdir_path(out))
                  : 0;
}

static void print_result(const run_plan *plan, size_t f, const vh_result *res,
                         const char *dir)
{
    printf("%s / %s / %s: %s after %llu iterations (%s), %llu gradients, %.3g s\n",
           res->target.name, res->family.name, res->optimizer.name,
           res->converged ? "converged" : "not converged",
           (unsigned long long)res->iterations, res->stop_reason,
           (unsigned long long)res->gradient_evaluations, res->seconds);
    printf("  ELBO %.6g +- %.2g", res->elbo, res->elbo_mcse);
    if (res->has_log_evidence_exact)
        printf("   log Z exact %.6g", res->log_evidence_exact);
    printf("   log Z (IS) %.6g +- %.2g   k-hat %.2f\n", res->log_evidence,
           res->log_evidence_mcse, res->khat);
    if (res->has_kl_exact)
        printf("  KL(q||p) exact %.6g\n", res->kl_exact);
    printf("  outputs in %s/\n", dir);
    (void)plan;
    (void)f;
}

static int finish_fit(const run_plan *plan, size_t f, const vh_model *m,
                      const vh_fit *fit, vh_outdir *out, int quiet, vh_err *err)
{
    run_draws rd;
    vh_importance imp;
    vh_result res;
    memset(&res, 0, sizeof res);
    int failed = run_draws_make(m, plan->run, fit->lambda, &rd, err) != 0;
    if (out == NULL) { /* an MPI rank other than 0: the draws were its share */
        run_draws_free(&rd);
        return failed ? -1 : 0;
    }
    if (!failed) {
        double *scratch = malloc(rd.n * sizeof *scratch);
        if (scratch == NULL)
            failed = vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
        else
            vh_importance_diagnose(rd.log_w, rd.n,
                                   rd.n < plan->run->iw_samples ? rd.n : plan->run->iw_samples,
                                   scratch, &imp);
        free(scratch);
    }
    double *q_moments = NULL;
    if (!failed) {
        fill_result(plan, f, m, fit, &imp, rd.n, &res);
        q_moments = run_approximation(m, fit->lambda, &res);
        failed = write_summary(out, &rd, err) != 0 || write_draws(out, plan, f, m, fit, &rd, err) != 0 ||
                 write_small_files(out, plan, f, fit, &res, err) != 0 ||
                 vh_outdir_commit(out, err) != 0;
    }
    if (!failed && !quiet)
        print_result(plan, f, &res, plan->family_dirs[f]);
    free(q_moments);
    free((void *)res.q_names);
    run_draws_free(&rd);
    return failed ? -1 : 0;
}

/* Family f's checkpoints (output.checkpoint_every, --resume), named by a
 * fingerprint of everything its results depend on; NULL when neither. */
static int run_checkpoint_open(const run_plan *plan, size_t f, const vh_model *m,
                               const vh_run_request *req, vh_checkpoint **ck, vh_err *err)
{
    const run_component *rc[3] = {&plan->target, &plan->families[f], &plan->optimizer};
    const char *files[3];
    *ck = NULL;
    if (plan->run->checkpoint_every == 0 && !req->resume)
        return 0;
    vh_node *tree = resolved_tree(plan, f);
    if (tree == NULL)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    for (int i = 0; i < 3; i++)
        files[i] = rc[i]->component->library->path;
    uint64_t fingerprint = vh_checkpoint_fingerprint(tree, plan->data, files, 3);
    vh_node_free(tree);
    /* Every MPI rank may resume from the checkpoint; rank 0 alone writes it. */
    return vh_checkpoint_open(m, plan->family_dirs[f],
                              vh_dist_rank(plan->dist) == 0 ? plan->run->checkpoint_every : 0,
                              fingerprint, req->resume, req->quiet, ck, err);
}

/* What spreads a fit: the run's threads and MPI ranks, and the data items
 * each evaluation covers (minibatches, the rank's share). */
typedef struct fit_scale {
    vh_parallel *parallel;
    vh_batcher batcher;
    int batched;
} fit_scale;

static int fit_scale_open(const run_plan *plan, vh_model *m, fit_scale *sc, vh_err *err)
{
    const vh_runfile *run = plan->run;
    size_t draws = run->grad_samples > run->elbo_samples ? (size_t)run->grad_samples
                                                         : (size_t)run->elbo_samples;
    memset(sc, 0, sizeof *sc);
    if (vh_batcher_init(&sc->batcher, m, run->seed, run->batch_size, plan->dist, &sc->batched,
                        err) != 0 ||
        vh_batcher_control(&sc->batcher, m, run->anchor_every, err) != 0 ||
        vh_parallel_create(m, plan->pool, plan->dist, draws, &sc->parallel, err) != 0)
        return -1;
    m->parallel = sc->parallel;
    m->items = sc->batched ? &sc->batcher.items : NULL;
    return 0;
}

static void fit_scale_close(fit_scale *sc)
{
    vh_parallel_free(sc->parallel);
    vh_batcher_free(&sc->batcher);
}

/* On --resume, a family of a list whose fit had finished before the run
 * stopped (its checkpoint is the mark of vh_checkpoint_keep_finished and
 * its result.json is in place) keeps its outputs: its staging folder is
 * dropped and it is not fitted again.  1 when kept. */
static int family_kept(const run_plan *plan, size_t f, const vh_model *m,
                       const vh_checkpoint *ck, vh_outdir *out, int quiet)
{
    struct stat st;
    size_t len = strlen(plan->family_dirs[f]) + sizeof "/result.json";
    char *result = vh_checkpoint_finished(ck) ? malloc(len) : NULL;
    if (result != NULL)
        snprintf(result, len, "%s/result.json", plan->family_dirs[f]);
    int kept = result != NULL && stat(result, &st) == 0 && S_ISREG(st.st_mode);
    free(result);
    if (!kept)
        return 0;
    vh_outdir_abort(out);
    if (!quiet)
        fprintf(stderr, "vihost: %s had finished before the run stopped: keeping %s/\n",
                m->family_label, plan->family_dirs[f]);
    return 1;
}

static int fit_family(run_plan *plan, size_t f, const vh_run_request *req,
                      vh_outdir *out, vh_err *err)
{
    const vh_runfile *run = plan->run;
    vh_model model;
    vh_fit fit;
    vh_checkpoint *ck = NULL;
    fit_scale scale;
    memset(&fit, 0, sizeof fit);
    memset(&scale, 0, sizeof scale);
    int failed = instances_create(plan, f, &model, err) != 0 ||
                 vh_guard_memory(&model, run, err) != 0 ||
                 fit_scale_open(plan, &model, &scale, err) != 0 ||
                 run_checkpoint_open(plan, f, &model, req, &ck, err) != 0;
    int kept = !failed && family_kept(plan, f, &model, ck, out, req->quiet);
    if (!failed && !kept) {
        vh_engine_settings set = {
            .seed = run->seed, .grad_samples = run->grad_samples,
            .elbo_samples = run->elbo_samples, .max_iterations = run->max_iterations,
            .eval_every = run->eval_every, .rule = vh_rule_parse(run->rule),
            .tolerance = run->tolerance, .progress = !req->quiet,
            .window = run->window, .z = run->z, .rhat_threshold = run->rhat_threshold,
            .max_gradients = run->max_gradients, .max_seconds = run->max_seconds,
            .averaging_start = run->averaging_start, .averaging_power = run->averaging_power,
            .adapt = run->adapt, .adapt_iterations = run->adapt_iterations,
        };
        vh_base_parse(run->base, &set.base);
        vh_averaging_parse(run->averaging, &set.averaging);
        set.checkpoint = ck;
        set.batcher = scale.batched ? &scale.batcher : NULL;
        set.dist = plan->dist;
        failed = vh_engine_fit(&model, &set, &fit, err) != 0;
        if (scale.batched) /* the outputs are judged on all the data */
            vh_batcher_all(&scale.batcher);
        if (vh_dist_size(plan->dist) == 1)
            model.items = NULL; /* all of it: the target's own log_density */
        /* Draws and steps the engine did over again are never silent. */
        if (!failed && !req->quiet && (fit.redraws > 0 || fit.skipped > 0))
            fprintf(stderr, "vihost: warning: %s with %s: %llu gradient estimates or ELBO "
                            "draws redrawn and %llu steps skipped (each halving the step "
                            "size) over non-finite values; trace.csv counts them by row\n",
                    model.target_label, model.family_label,
                    (unsigned long long)fit.redraws, (unsigned long long)fit.skipped);
        failed = failed || finish_fit(plan, f, &model, &fit, out, req->quiet, err) != 0;
    }
    /* In a list of families the run goes on: a resumed run keeps this one. */
    if (!failed && !kept && vh_dist_rank(plan->dist) == 0) {
        if (run->n_families > 1)
            vh_checkpoint_keep_finished(ck);
        else
            vh_checkpoint_finish(ck);
    }
    vh_checkpoint_free(ck);
    vh_fit_free(&fit);
    fit_scale_close(&scale);
    instances_destroy(&model);
    return failed ? -1 : 0;
}

/* The target's exact moments as the comparison's reference, for a target
 * without `constrain` that offers vi.target.moments/1; otherwise NULL and
 * `note` says what to do instead. */
static vh_reference *run_target_reference(run_plan *plan, char *note, size_t size)
{
    run_component *rt = &plan->target;
    const vi_target_desc *t = (const vi_target_desc *)rt->component->head;
    vi_error perr = {sizeof perr, 0, ""};
    void *self = NULL;
    vh_reference *ref = NULL;
    snprintf(note, size, "the target knows no exact moments; give the run file a `reference:` "
                         "CSV to compare the families with a reference posterior");
    if (t->get_extension == NULL || t->create(&rt->context.host, rt->config, &self, &perr) != 0)
        return NULL;
    const vi_target_moments *ext = t->get_extension(self, VI_TARGET_MOMENTS_ID);
    size_t d = t->dim(self);
    if (ext != NULL && t->constrain != NULL)
        snprintf(note, size, "target '%s' knows its exact moments only over its unconstrained "
                             "parameters; give the run file a `reference:` CSV",
                 rt->component->name);
    else if (ext != NULL && VI_HAS_MEMBER(ext, vi_target_moments, moments) &&
             ext->moments != NULL && d > 0 && d <= RUN_Q_COV_MAX) {
        double *mem = malloc((d + d * d) * sizeof *mem);
        const char **names = calloc(d + 1, sizeof *names);
        for (size_t i = 0; names != NULL && i < d; i++)
            names[i] = t->param_name(self, i);
        if (mem != NULL && names != NULL && ext->moments(self, mem, mem + d, &perr) == 0) {
            char source[256];
            vh_err ignored;
            snprintf(source, sizeof source, "the exact moments of target '%s'",
                     rt->component->name);
            vh_reference_from_moments(source, d, names, mem, mem + d, &ref, &ignored);
        }
        free(mem);
        free(names);
    }
    t->destroy(self);
    return ref;
}

/* compare.csv, compare.md, reference.json and report.html for a run
 * with several families; fails[f] says how family f ended. */
static int run_compare(run_plan *plan, const vh_err *fails, vh_outdir *top, int quiet,
                       vh_err *err)
{
    size_t n = plan->run->n_families;
    vh_compare_outcome *ends = calloc(n, sizeof *ends);
    if (ends == NULL)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    for (size_t f = 0; f < n; f++) {
        const char *slash = strrchr(plan->family_dirs[f], '/');
        ends[f].name = plan->families[f].component->name;
        ends[f].dir = slash ? slash + 1 : plan->family_dirs[f];
        ends[f].exit_code = fails[f].exit_code;
        ends[f].error = fails[f].message;
    }
    char note[256] = "";
    vh_reference *ref = plan->reference;
    plan->reference = NULL;
    if (ref == NULL)
        ref = run_target_reference(plan, note, sizeof note);
    int rc = vh_comparison_finish(plan->run->output_dir, ends, n, ref, ref ? NULL : note, top,
                                  quiet, err);
    free(ends);
    return rc;
}

/* Fits every family.  With several, one that fails is recorded in
 * fails[] (its folder not written) and the others go on. */
static int run_families(run_plan *plan, const vh_run_request *req, vh_outdir **outs,
                        vh_err *fails, vh_err *err)
{
    size_t n = plan->run->n_families, done = 0;
    int compare = n > 1;
    for (size_t f = 0; f < n; f++) {
        vh_err_clear(&fails[f]);
        if (fit_family(plan, f, req, outs[f], compare ? &fails[f] : err) == 0) {
            outs[f] = NULL; /* committed and freed */
            done++;
            continue;
        }
        if (!compare)
            return -1;
        if (fails[f].exit_code == VH_EXIT_OK)
            fails[f].exit_code = VH_EXIT_FAILURE;
        fprintf(stderr, "vihost: warning: family %zu (%s) failed, the others go on: %s\n", f + 1,
                plan->families[f].component->name, fails[f].message);
        vh_outdir_abort(outs[f]);
        outs[f] = NULL;
    }
    if (compare && done == 0)
        return vh_err_set(err, fails[0].exit_code, "every family failed; the first: %s",
                          fails[0].message);
    return 0;
}

/* The run's threads, started once for all its fits. */
static int plan_threads(run_plan *plan, vh_err *err)
{
    return vh_pool_create(run_threads(plan->run, plan->dist), &plan->pool, err);
}

int vh_run(const vh_run_request *request, vh_err *err)
{
    run_plan plan;
    struct stat st;
    vh_run_request quiet_rank = *request;
    const vh_run_request *req = request;
    int sweep = vh_sweep_wanted(request, err);
    if (sweep != 0)
        return sweep < 0 ? -1 : vh_sweep_run(request, err);
    /* MPI ranks other than 0 fit their share and write nothing. */
    int writer = vh_dist_rank(request->dist) == 0;
    if (!writer) {
        quiet_rank.quiet = 1;
        req = &quiet_rank;
    }
    int failed = plan_prepare(req, &plan, err) != 0 || plan_threads(&plan, err) != 0;
    if (!failed && !req->quiet && (plan.target.component->head->flags & VI_FLAG_NO_GRADIENT))
        fprintf(stderr, "vihost: warning: %s has no gradient (VI_FLAG_NO_GRADIENT): using "
                "central finite differences, 2 dim log density calls per gradient\n",
                plan.target.label);
    size_t n = failed ? 0 : plan.run->n_families;
    int compare = n > 1;
    int existed = !failed && stat(plan.run->output_dir, &st) == 0;
    /* outs[n] is the comparison folder, for compare.csv and the rest. */
    vh_outdir **outs = calloc(n + 2, sizeof *outs);
    vh_err *fails = calloc(n + 1, sizeof *fails);
    if (outs == NULL || fails == NULL)
        failed = vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    /* Every folder is checked before any fit starts. */
    for (size_t f = 0; f < n && !failed && writer; f++)
        failed = vh_outdir_begin(plan.family_dirs[f], &outs[f], err) != 0;
    if (!failed && compare && writer)
        failed = vh_outdir_begin(plan.run->output_dir, &outs[n], err) != 0;
    if (!failed)
        failed = run_families(&plan, req, outs, fails, err) != 0;
    if (!failed && compare && writer) {
        failed = run_compare(&plan, fails, outs[n], req->quiet, err) != 0;
        if (!failed)
            outs[n] = NULL;
        /* The run is done: the marks of finished families have served. */
        for (size_t f = 0; f < n && !failed; f++)
            if (fails[f].exit_code == VH_EXIT_OK)
                vh_checkpoint_remove(plan.family_dirs[f]);
    }
    if (!failed && !compare && plan.reference != NULL && !req->quiet) {
        vh_reference_print_fit(stdout, plan.family_dirs[0], plan.reference);
        plan.reference = NULL;
    }
    for (size_t f = 0; outs != NULL && f <= n; f++)
        vh_outdir_abort(outs[f]);
    /* A comparison whose every family failed leaves no folder behind. */
    if (failed && compare && !existed && writer)
        rmdir(plan.run->output_dir);
    free(outs);
    free(fails);
    plan_free(&plan);
    return failed ? -1 : 0;
}
