/* run.c — `vihost run` (see run.h). */
#include "run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build-config.h"
#include "config.h"
#include "data.h"
#include "diagnostics.h"
#include "engine.h"
#include "estimators.h"
#include "hostapi.h"
#include "loader.h"
#include "output.h"
#include "rng.h"
#include "runfile.h"

/* Draws per group for the importance-weighted ELBO. */
#define RUN_IW_GROUP 10

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
    vh_search_path_free(plan->search);
    vh_registry_free(&plan->registry);
    vh_runfile_free(plan->run);
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

static int plan_prepare(const vh_run_request *req, run_plan *plan, vh_err *err)
{
    memset(plan, 0, sizeof *plan);
    vh_registry_init(&plan->registry);
    if (vh_runfile_load(req->file, req->sets, req->n_sets, &plan->run, err) != 0)
        return -1;
    vh_runfile *run = plan->run;
    size_t n_search;
    plan->search = vh_search_path(req->plugin_dirs, req->n_plugin_dirs,
                                  (const char *const *)run->plugin_path,
                                  run->n_plugin_path, &n_search);
    describe_search(plan);
    vh_registry_scan(&plan->registry, (const char *const *)plan->search, n_search);
    if (run->target.data != NULL && vh_data_load(run->target.data, &plan->data, err) != 0)
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
    if ((status = m->target->create(&rt->context.host, rt->config, &m->target_self, &perr)))
        return refused(err, rt, &perr, status);
    size_t dim = m->target->dim(m->target_self);
    if ((status = m->family->create(&rf->context.host, rf->config, dim, &m->family_self,
                                    &perr)))
        return refused(err, rf, &perr, status);
    size_t n = m->family->n_params(m->family_self);
    if ((status = m->optimizer->create(&ro->context.host, ro->config, n,
                                       &m->optimizer_self, &perr)))
        return refused(err, ro, &perr, status);
    vh_model_measure(m);
    return 0;
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
    if (m->family->moments == NULL ||
        m->family->moments(m->family_self, lambda, z, NULL, work, &perr) != 0)
        for (size_t i = 0; i < m->dim; i++)
            z[i] = rd->z_sum[i] / (double)rd->n;
    return constrain_point(m, z, rd->mean_row, err);
}

static int run_draws_make(const vh_model *m, const vh_runfile *run, const double *lambda,
                          run_draws *rd, vh_err *err)
{
    vh_draw_buffers buf;
    if (run_draws_alloc(m, run, rd, err) != 0)
        return -1;
    if (vh_draw_buffers_alloc(m, &buf) != 0)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    int failed = 0;
    for (size_t d = 0; d < rd->n && !failed; d++) {
        failed = vh_draw_base(m, run->seed, VH_RNG_OUTPUT, 0, d, buf.eps, err) != 0 ||
                 vh_draw_evaluate(m, lambda, &buf, 0, d, &rd->log_p[d], &rd->log_g[d],
                                  NULL, err) != 0 ||
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
    res->iw_samples = n_draws < RUN_IW_GROUP ? n_draws : RUN_IW_GROUP;
    res->gradient_evaluations = fit->gradient_evaluations;
    res->seconds = fit->seconds;
    vi_error perr = {sizeof perr, 0, ""};
    if (m->target->log_evidence != NULL &&
        m->target->log_evidence(m->target_self, &res->log_evidence_exact, &perr) == 0)
        res->has_log_evidence_exact = isfinite(res->log_evidence_exact);
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

static int write_draws(vh_outdir *out, const run_plan *plan, size_t f,
                       const run_draws *rd, vh_err *err)
{
    char lines[6][300];
    const char *comments[7];
    const run_component *rc[3] = {&plan->target, &plan->families[f], &plan->optimizer};
    snprintf(lines[0], sizeof lines[0], "vihost %s, variational draws", PACKAGE_VERSION);
    for (int i = 0; i < 3; i++)
        snprintf(lines[1 + i], sizeof lines[1 + i], "%s = %s (%s)",
                 vh_kind_name(rc[i]->component->kind), rc[i]->component->name,
                 rc[i]->component->library->path);
    snprintf(lines[4], sizeof lines[4], "seed = %llu", (unsigned long long)plan->run->seed);
    snprintf(lines[5], sizeof lines[5], "draws = %zu; the first row is the mean of the approximation",
             rd->n_written);
    for (int i = 0; i < 6; i++)
        comments[i] = lines[i];
    comments[6] = NULL;
    FILE *file = vh_outdir_open(out, "draws.csv", err);
    if (file == NULL)
        return -1;
    int failed = vh_write_draws_csv(file, comments, rd->cdim, rd->names, rd->mean_row,
                                    rd->n_written, rd->log_p, rd->log_g, rd->values) != 0;
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
    int failed = run_draws_make(m, plan->run, fit->lambda, &rd, err) != 0;
    if (!failed) {
        double *scratch = malloc(rd.n * sizeof *scratch);
        if (scratch == NULL)
            failed = vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
        else
            vh_importance_diagnose(rd.log_w, rd.n, RUN_IW_GROUP, scratch, &imp);
        free(scratch);
    }
    if (!failed) {
        fill_result(plan, f, m, fit, &imp, rd.n, &res);
        failed = write_summary(out, &rd, err) != 0 || write_draws(out, plan, f, &rd, err) != 0 ||
                 write_small_files(out, plan, f, fit, &res, err) != 0 ||
                 vh_outdir_commit(out, err) != 0;
    }
    if (!failed && !quiet)
        print_result(plan, f, &res, plan->family_dirs[f]);
    run_draws_free(&rd);
    return failed ? -1 : 0;
}

static int fit_family(run_plan *plan, size_t f, const vh_run_request *req,
                      vh_outdir *out, vh_err *err)
{
    const vh_runfile *run = plan->run;
    vh_model model;
    vh_fit fit;
    memset(&fit, 0, sizeof fit);
    int failed = instances_create(plan, f, &model, err) != 0;
    if (!failed) {
        vh_engine_settings set = {
            .seed = run->seed, .grad_samples = run->grad_samples,
            .elbo_samples = run->elbo_samples, .max_iterations = run->max_iterations,
            .eval_every = run->eval_every, .rule = vh_rule_parse(run->rule),
            .tolerance = run->tolerance, .progress = !req->quiet,
        };
        failed = vh_engine_fit(&model, &set, &fit, err) != 0 ||
                 finish_fit(plan, f, &model, &fit, out, req->quiet, err) != 0;
    }
    vh_fit_free(&fit);
    instances_destroy(&model);
    return failed ? -1 : 0;
}

int vh_run(const vh_run_request *req, vh_err *err)
{
    run_plan plan;
    int failed = plan_prepare(req, &plan, err) != 0;
    size_t n = failed ? 0 : plan.run->n_families;
    vh_outdir **outs = calloc(n + 1, sizeof *outs);
    if (outs == NULL)
        failed = vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    /* Every folder is checked before any fit starts. */
    for (size_t f = 0; f < n && !failed; f++)
        failed = vh_outdir_begin(plan.family_dirs[f], &outs[f], err) != 0;
    for (size_t f = 0; f < n && !failed; f++) {
        failed = fit_family(&plan, f, req, outs[f], err) != 0;
        if (!failed)
            outs[f] = NULL; /* committed and freed */
    }
    for (size_t f = 0; f < n; f++)
        vh_outdir_abort(outs[f]);
    free(outs);
    plan_free(&plan);
    return failed ? -1 : 0;
}
