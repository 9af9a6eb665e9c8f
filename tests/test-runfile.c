/* test-runfile.c — the run file: every default filled in (the resolved
 * tree emits a complete run file), paths resolved against the run file's
 * folder, --set overrides (scalars, lists, new sections), and the exact
 * one-line message, position and suggestion for every kind of bad input. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "runfile.h"
#include "scratch.h"
#include "tap.h"

/* Loads `text` (as file `name`) with `sets`; it must be refused with exit
 * 2 and exactly the message `want`, in which "@" stands for the file's
 * path. */
static void expect_error_set(scratch *s, const char *name, const char *text,
                             const char *const *sets, size_t n_sets, const char *want)
{
    const char *path = scratch_text(s, name, text);
    char full[1024];
    const char *at = strchr(want, '@');
    if (at != NULL)
        snprintf(full, sizeof full, "%.*s%s%s", (int)(at - want), want, path, at + 1);
    else
        snprintf(full, sizeof full, "%s", want);
    vh_runfile *run = (vh_runfile *)1;
    vh_err err = {0, ""};
    int rc = vh_runfile_load(path, sets, n_sets, &run, &err);
    int pass = rc == -1 && run == NULL && err.exit_code == 2 && strcmp(err.message, full) == 0;
    ok(pass, "%s refused: %s", name, err.message);
    if (!pass)
        diag("wanted: %s", full);
    if (rc == 0)
        vh_runfile_free(run);
}

static void expect_error(scratch *s, const char *name, const char *text, const char *want)
{
    expect_error_set(s, name, text, NULL, 0, want);
}

static char *emit_to_string(const vh_node *node)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (f == NULL)
        return NULL;
    int rc = vh_node_emit(node, f);
    fclose(f);
    if (rc != 0) {
        free(text);
        return NULL;
    }
    return text;
}

static const char *const resolved_minimal =
    "vihost: 1\n"
    "seed: 1\n"
    "plugin_path: []\n"
    "target:\n"
    "  plugin: normal\n"
    "  options: {}\n"
    "family:\n"
    "  plugin: meanfield\n"
    "  options: {}\n"
    "optimizer:\n"
    "  plugin: adam\n"
    "  options:\n"
    "    learning_rate: 0.2\n"
    "    beta2: 0.9\n"
    "    decay: 0.1\n"
    "objective:\n"
    "  gradient: reparam\n"
    "  grad_samples: 4\n"
    "  elbo_samples: 100\n"
    "  base: qmc\n"
    "  batch_size: 0\n"
    "  anchor_every: 50\n"
    "stop:\n"
    "  max_iterations: 10000\n"
    "  rule: mcse\n"
    "  tolerance: 0.0001\n"
    "  eval_every: 100\n"
    "  window: 200\n"
    "  z: 2\n"
    "  rhat_threshold: 1.1\n"
    "  max_gradients: 0\n"
    "  max_seconds: 0\n"
    "averaging:\n"
    "  method: polynomial\n"
    "  start: 0\n"
    "  power: 8\n"
    "adapt:\n"
    "  enabled: false\n"
    "  iterations: 50\n"
    "output:\n"
    "  dir: results/minimal\n"
    "  draws: 1000\n"
    "  iw_samples: 10\n"
    "  checkpoint_every: 0\n"
    "threads: auto\n"
    "reference: null\n"
    "sweep: null\n";

static void check_defaults(const vh_runfile *run)
{
    ok(run->version == 1 && run->seed == 1 && run->n_plugin_path == 0 && run->threads == 0 &&
           run->batch_size == 0 && run->anchor_every == 50 && run->sweep == NULL,
       "vihost 1, seed 1, no plugin_path, threads auto, no minibatches (their anchor every "
       "50 iterations), no sweep");
    ok(strcmp(run->target.plugin, "normal") == 0 && run->target.data == NULL &&
           run->target.options != NULL && run->target.options->kind == VH_NODE_MAPPING &&
           run->target.options->count == 0,
       "target normal, no data, empty options");
    ok(run->n_families == 1 && strcmp(run->families[0].plugin, "meanfield") == 0 &&
           strcmp(run->optimizer.plugin, "adam") == 0,
       "family meanfield, optimizer adam");
    ok(strcmp(run->gradient, "reparam") == 0 && run->grad_samples == 4 &&
           run->elbo_samples == 100 && strcmp(run->base, "qmc") == 0,
       "objective defaults");
    ok(run->max_iterations == 10000 && strcmp(run->rule, "mcse") == 0 &&
           run->tolerance == 0.0001 && run->eval_every == 100 && run->window == 200 &&
           run->z == 2.0 && run->rhat_threshold == 1.1 && run->max_gradients == 0 &&
           run->max_seconds == 0.0,
       "stop defaults");
    ok(strcmp(run->averaging, "polynomial") == 0 && run->averaging_start == 0 &&
           run->averaging_power == 8.0 && !run->adapt && run->adapt_iterations == 50,
       "averaging and adapt defaults");
    ok(strcmp(run->output_dir, "results/minimal") == 0 && run->draws == 1000,
       "output defaults: dir results/<stem>, 1000 draws");
}

static void test_defaults(scratch *s)
{
    const char *path = scratch_text(s, "minimal.yaml", "target: {plugin: normal}\n");
    vh_runfile *run = NULL;
    vh_err err = {0, ""};
    ok(vh_runfile_load(path, NULL, 0, &run, &err) == 0, "minimal file loads: %s", err.message);
    if (run == NULL)
        return;
    check_defaults(run);
    ok(run->target.pos.line == 1 && run->target.pos.column == 1 &&
           run->families[0].pos.line == 0,
       "section positions: target at its key, the default family at none");
    char *text = emit_to_string(run->root);
    ok(text != NULL && strcmp(text, resolved_minimal) == 0, "the resolved tree is complete");
    if (text != NULL && strcmp(text, resolved_minimal) != 0)
        diag("emitted:\n%s", text);
    vh_runfile_free(run);

    /* The resolved file, read again, resolves to itself. */
    path = scratch_text(s, "minimal.yaml", text != NULL ? text : "");
    s->n--;
    run = NULL;
    ok(vh_runfile_load(path, NULL, 0, &run, &err) == 0, "the resolved file loads");
    if (run != NULL) {
        check_defaults(run);
        char *again = emit_to_string(run->root);
        ok(again != NULL && text != NULL && strcmp(again, text) == 0, "and resolves to itself");
        free(again);
        vh_runfile_free(run);
    }
    free(text);

    /* The relative rule alone gets Stan's tolerance, 0.01. */
    path = scratch_text(s, "relative.yaml", "target: normal\nstop: {rule: relative}\n");
    run = NULL;
    ok(vh_runfile_load(path, NULL, 0, &run, &err) == 0 && run->tolerance == 0.01,
       "stop.rule relative defaults its tolerance to Stan's 0.01 (%s)", err.message);
    vh_runfile_free(run);
    run = NULL;
    ok(vh_runfile_load(path, (const char *const[]){"stop.tolerance=0.5"}, 1, &run, &err) == 0 &&
           run->tolerance == 0.5,
       "... unless a tolerance is given");
    vh_runfile_free(run);

    /* A shorthand target and empty sections. */
    path = scratch_text(s, "short.yaml",
                        "target: normal\nstop:\nfamily:\noptimizer: {options: {learning_rate: 0.1}}\n");
    run = NULL;
    ok(vh_runfile_load(path, NULL, 0, &run, &err) == 0 && strcmp(run->target.plugin, "normal") == 0 &&
           run->max_iterations == 10000 && strcmp(run->families[0].plugin, "meanfield") == 0,
       "`target: NAME` and empty sections take the defaults: %s", err.message);
    ok(run != NULL && strcmp(run->optimizer.plugin, "adam") == 0 &&
           vh_node_map_get(run->optimizer.options, "learning_rate") != NULL,
       "options without a plugin tune the default optimizer");
    vh_runfile_free(run);
}

static void test_full(scratch *s)
{
    char sub[600], want[1200];
    snprintf(sub, sizeof sub, "%s/sub", s->dir);
    mkdir(sub, 0700);
    strcpy(s->paths[s->n++], sub);
    const char *path = scratch_text(s, "sub/fit.v2.yaml",
        "vihost: 1\n"
        "seed: 18446744073709551615\n"
        "plugin_path: [plugins, /opt/vihost]\n"
        "target:\n"
        "  plugin: ../lib/model.so\n"
        "  data: ../data/x.json\n"
        "  options: {prior_scale: 10}\n"
        "family: [meanfield, {plugin: fullrank, options: {rank: 2}}, my.so]\n"
        "optimizer: {plugin: sgd, options: {learning_rate: 0.05}}\n"
        "objective: {gradient: reparam, grad_samples: 4, elbo_samples: 2, base: pseudo}\n"
        "stop: {max_iterations: 1e4, rule: none, tolerance: 1e-3, eval_every: 10}\n"
        "output: {dir: out/x, draws: 0}\n"
        "threads: 256\n");
    vh_runfile *run = NULL;
    vh_err err = {0, ""};
    ok(vh_runfile_load(path, NULL, 0, &run, &err) == 0, "full file loads: %s", err.message);
    if (run == NULL)
        return;
    ok(strcmp(run->base_dir, sub) == 0, "base_dir is the run file's folder");
    ok(run->seed == UINT64_MAX && run->threads == 256 && run->grad_samples == 4 &&
           run->elbo_samples == 2 && run->max_iterations == 10000 && run->eval_every == 10 &&
           run->tolerance == 1e-3 && strcmp(run->rule, "none") == 0 && run->draws == 0,
       "numbers read exactly (seed 2^64-1, 1e4 as a whole number)");
    snprintf(want, sizeof want, "%s/../data/x.json", sub);
    ok(strcmp(run->target.data, want) == 0, "data resolved: %s", run->target.data);
    snprintf(want, sizeof want, "%s/../lib/model.so", sub);
    ok(strcmp(run->target.plugin, want) == 0, "plugin path resolved: %s", run->target.plugin);
    snprintf(want, sizeof want, "%s/plugins", sub);
    ok(run->n_plugin_path == 2 && strcmp(run->plugin_path[0], want) == 0 &&
           strcmp(run->plugin_path[1], "/opt/vihost") == 0,
       "plugin_path resolved, absolute kept");
    snprintf(want, sizeof want, "%s/my.so", sub);
    ok(run->n_families == 3 && strcmp(run->families[0].plugin, "meanfield") == 0 &&
           strcmp(run->families[1].plugin, "fullrank") == 0 &&
           strcmp(run->families[2].plugin, want) == 0 &&
           vh_node_map_get(run->families[1].options, "rank") != NULL &&
           run->families[1].pos.line == 8 && run->families[1].pos.column == 21,
       "a list of families, each resolved, at its own position");
    ok(strcmp(run->output_dir, "out/x") == 0, "output.dir as written");
    vh_node *target = vh_node_map_get(run->root, "target");
    vh_node *family = vh_node_map_get(run->root, "family");
    ok(strcmp(vh_node_map_get(target, "data")->scalar, "../data/x.json") == 0 &&
           strcmp(vh_node_map_get(target, "plugin")->scalar, "../lib/model.so") == 0,
       "the tree keeps the paths as written");
    ok(family != NULL && family->kind == VH_NODE_SEQUENCE && family->count == 3 &&
           family->items[0]->kind == VH_NODE_MAPPING &&
           strcmp(vh_node_map_get(family->items[0], "plugin")->scalar, "meanfield") == 0 &&
           vh_node_map_get(family->items[0], "options") != NULL,
       "a family list stays a list of {plugin, options}");
    vh_runfile_free(run);

    path = scratch_text(s, "sub/single.yaml", "target: normal\nplugin_path: here\n");
    run = NULL;
    snprintf(want, sizeof want, "%s/here", sub);
    ok(vh_runfile_load(path, NULL, 0, &run, &err) == 0 && run->n_plugin_path == 1 &&
           strcmp(run->plugin_path[0], want) == 0 &&
           strcmp(run->output_dir, "results/single") == 0,
       "plugin_path as one string");
    vh_runfile_free(run);
}

static void test_errors(scratch *s)
{
    expect_error(s, "run.yaml", "vihost: 1\nsed: 1\ntarget: normal\n",
                 "@:2:1: unknown key 'sed' (did you mean 'seed'?)");
    expect_error(s, "run.yaml", "target: normal\nzzzzzz: 1\n",
                 "@:2:1: unknown key 'zzzzzz' (valid keys: vihost, seed, plugin_path, target, "
                 "family, optimizer, objective, stop, averaging, adapt, output, threads, "
                 "reference, sweep)");
    expect_error(s, "run.yaml", "seed: 3\n", "@:1:1: missing required key 'target' (the model to fit)");
    expect_error(s, "run.yaml", "", "@: the run file is empty");
    expect_error(s, "run.yaml", "# nothing\n", "@: the run file is empty");
    expect_error(s, "run.yaml", "- a\n- b\n",
                 "@:1:1: a run file is a mapping of keys like 'target:', got a list");
    expect_error(s, "run.yaml", "target: normal\nstop: {rule: [none]\n",
                 "@:3:1: YAML syntax error: did not find expected ',' or '}' "
                 "(while parsing a flow mapping)");
    expect_error(s, "run.yaml",
                 "vihost: 1\nseed: 2\ntarget: normal\nstop:\n  max_iterations: ten\n",
                 "@:5:19: 'stop.max_iterations' must be a whole number >= 1, got 'ten'");
    expect_error(s, "run.yaml", "target: normal\nstop: {max_iterations: 0}\n",
                 "@:2:24: 'stop.max_iterations' must be a whole number >= 1, got '0'");
    expect_error(s, "run.yaml", "target: normal\nstop: {max_iterations: 2.5}\n",
                 "@:2:24: 'stop.max_iterations' must be a whole number >= 1, got '2.5'");
    expect_error(s, "run.yaml", "target: normal\nseed: -1\n",
                 "@:2:7: 'seed' must be a whole number >= 0, got '-1'");
    expect_error(s, "run.yaml", "target: normal\nseed: \"3\"\n",
                 "@:2:7: 'seed' must be a whole number >= 0, got \"3\" (in quotes, so text)");
    expect_error(s, "run.yaml", "target: normal\nseed: 18446744073709551616\n",
                 "@:2:7: 'seed' must be a whole number >= 0, got '18446744073709551616'");
    expect_error(s, "run.yaml", "target: normal\nseed:\n",
                 "@:2:6: 'seed' must be a whole number >= 0, got nothing");
    expect_error(s, "run.yaml", "target: normal\nthreads: 0\n",
                 "@:2:10: 'threads' must be a whole number in [1, 256], got '0' (or auto: one "
                 "per CPU)");
    expect_error(s, "run.yaml", "target: normal\nthreads: 257\n",
                 "@:2:10: 'threads' must be a whole number in [1, 256], got '257' (or auto: one "
                 "per CPU)");
    expect_error(s, "run.yaml", "vihost: 2\ntarget: normal\n", "@:1:9: 'vihost' must be 1, got '2'");
    expect_error(s, "run.yaml", "target: normal\nobjective: {elbo_samples: 1}\n",
                 "@:2:27: 'objective.elbo_samples' must be a whole number >= 2, got '1'");
    expect_error(s, "run.yaml", "target: normal\nstop: {tolerance: -1}\n",
                 "@:2:19: 'stop.tolerance' must be a number > 0, got '-1'");
    expect_error(s, "run.yaml", "target: normal\nstop: {tolerance: .inf}\n",
                 "@:2:19: 'stop.tolerance' must be a number > 0, got '.inf'");
    expect_error(s, "run.yaml", "target: normal\nstop: {tolerance: 1e999}\n",
                 "@:2:19: 'stop.tolerance' must be a number > 0, got '1e999'");
    expect_error(s, "run.yaml", "target: normal\nstop: {rule: relativ}\n",
                 "@:2:14: 'stop.rule' must be 'relative', 'mcse', 'rhat' or 'none', got 'relativ' "
                 "(did you mean 'relative'?)");
    expect_error(s, "run.yaml", "target: normal\nobjective: {gradient: scor}\n",
                 "@:2:23: 'objective.gradient' must be 'reparam', 'stl' or 'score', got "
                 "'scor' (did you mean 'score'?)");
    expect_error(s, "run.yaml", "target: normal\nobjective: {gradient: score, grad_samples: 1}\n",
                 "@:2:44: 'objective.grad_samples' must be >= 2 with gradient 'score' (each "
                 "draw's baseline is the mean of the other draws), got 1");
    expect_error(s, "run.yaml", "target: normal\nobjective: {base: [pseudo]}\n",
                 "@:2:19: 'objective.base' must be 'pseudo', 'antithetic' or 'qmc', got a list");
    expect_error(s, "run.yaml", "target: normal\nstop:\n  tolerence: 0.1\n",
                 "@:3:3: unknown key 'tolerence' in 'stop' (did you mean 'tolerance'?)");
    expect_error(s, "run.yaml", "target: normal\nstop: 5\n",
                 "@:2:7: 'stop' must be a mapping (keys: max_iterations, rule, tolerance, "
                 "eval_every, window, z, rhat_threshold, max_gradients, max_seconds), got '5'");
    expect_error(s, "run.yaml", "target: normal\nstop: {rule: rhat, rhat_threshold: 1}\n",
                 "@:2:36: 'stop.rhat_threshold' must be a number > 1, got 1");
    expect_error(s, "run.yaml", "target: normal\nstop: {max_seconds: -1}\n",
                 "@:2:21: 'stop.max_seconds' must be a number >= 0 (0: no limit), got '-1'");
    expect_error(s, "run.yaml", "target: normal\nstop: {window: 3}\n",
                 "@:2:16: 'stop.window' must be a whole number >= 4, got '3'");
    expect_error(s, "run.yaml", "target: normal\nadapt: {enabled: yes}\n",
                 "@:2:18: 'adapt.enabled' must be true or false, got 'yes'");
    expect_error(s, "run.yaml", "target: normal\naveraging: {method: ruppert}\n",
                 "@:2:21: 'averaging.method' must be 'none', 'polyak' or 'polynomial', got "
                 "'ruppert'");
    expect_error(s, "run.yaml", "target: normal\noutput: {dir: [a]}\n",
                 "@:2:15: 'output.dir' must be a folder path, got a list");
    expect_error(s, "run.yaml", "target: {data: x.json}\n",
                 "@:1:1: 'target' needs key 'plugin' (a component name or a path to a .so)");
    expect_error(s, "run.yaml", "seed: 1\ntarget:\n",
                 "@:2:1: 'target' needs key 'plugin' (a component name or a path to a .so)");
    expect_error(s, "run.yaml", "target: {plugn: normal}\n",
                 "@:1:10: unknown key 'plugn' in 'target' (did you mean 'plugin'?)");
    expect_error(s, "run.yaml", "target: normal\nfamily: {plugin: meanfield, data: x}\n",
                 "@:2:29: unknown key 'data' in 'family' (valid keys: plugin, options)");
    expect_error(s, "run.yaml", "target: {plugin: [a]}\n",
                 "@:1:18: 'target.plugin' must be a component name or a path to a .so, got a list");
    expect_error(s, "run.yaml", "target: {plugin: normal, data: {a: 1}}\n",
                 "@:1:32: 'target.data' must be a file path, got a mapping");
    expect_error(s, "run.yaml", "target: {plugin: normal, options: [1]}\n",
                 "@:1:35: 'target.options' must be a mapping of option names to values, got a list");
    expect_error(s, "run.yaml", "target: [normal]\n",
                 "@:1:9: 'target' must be a mapping like {plugin: NAME, options: {...}}, got a list");
    expect_error(s, "run.yaml", "target: normal\nfamily: [meanfield, {options: {}}]\n",
                 "@:2:21: 'family[1]' needs key 'plugin' (a component name or a path to a .so)");
    expect_error(s, "run.yaml", "target: normal\nfamily: []\n",
                 "@:2:9: 'family' lists no families (leave it out for meanfield)");
    expect_error(s, "run.yaml", "target: normal\nplugin_path: [a, [b]]\n",
                 "@:2:18: 'plugin_path[1]' must be a folder path, got a list");
}

static void test_sets(scratch *s)
{
    const char *path = scratch_text(s, "set.yaml",
                                    "seed: 5\ntarget: {plugin: normal}\nstop: {rule: none}\n");
    const char *const sets[] = {"seed=3", "stop.tolerance=0.5", "family=[meanfield,fullrank]",
                                "optimizer.options.learning_rate=0.1", "output.dir=out/x",
                                "target.options.sigma=2", "objective.grad_samples=8"};
    vh_runfile *run = NULL;
    vh_err err = {0, ""};
    ok(vh_runfile_load(path, sets, 7, &run, &err) == 0, "loads with --set: %s", err.message);
    if (run == NULL)
        return;
    ok(run->seed == 3 && run->tolerance == 0.5 && strcmp(run->rule, "none") == 0 &&
           run->grad_samples == 8 && strcmp(run->output_dir, "out/x") == 0,
       "scalars overridden, the rest of a section kept");
    ok(run->n_families == 2 && strcmp(run->families[1].plugin, "fullrank") == 0,
       "family=[meanfield,fullrank] gives two families");
    const vh_node *lr = vh_node_map_get(run->optimizer.options, "learning_rate");
    ok(lr != NULL && strcmp(lr->scalar, "0.1") == 0 && lr->pos.line == 0 && lr->origin != NULL &&
           strcmp(lr->origin, "optimizer.options.learning_rate=0.1") == 0,
       "a set option remembers its argument");
    const vh_node *sigma = vh_node_map_get(run->target.options, "sigma");
    ok(sigma != NULL && strcmp(sigma->scalar, "2") == 0 && run->target.options->count == 1,
       "options made in an existing section");
    const vh_node *seed = vh_node_map_get(run->root, "seed");
    ok(seed != NULL && strcmp(seed->scalar, "3") == 0 && seed->origin != NULL &&
           run->root->key_pos[1].line == 1,
       "a replaced value keeps its key's position");
    vh_runfile_free(run);

    const char *base = "target: normal\nstop: {rule: none}\n";
    const char *const typo[] = {"stop.tolerence=0.1"};
    expect_error_set(s, "set1.yaml", base, typo, 1,
                     "--set 'stop.tolerence=0.1': unknown key 'tolerence' in 'stop' "
                     "(did you mean 'tolerance'?)");
    const char *const typo2[] = {"stpo.tolerance=1"};
    expect_error_set(s, "set2.yaml", base, typo2, 1,
                     "--set 'stpo.tolerance=1': unknown key 'stpo' (did you mean 'stop'?)");
    const char *const bad[] = {"seed=4", "seed=ten"};
    expect_error_set(s, "set3.yaml", base, bad, 2,
                     "--set 'seed=ten': 'seed' must be a whole number >= 0, got 'ten'");
    const char *const noeq[] = {"seed"};
    expect_error_set(s, "set4.yaml", base, noeq, 1,
                     "--set 'seed': expected KEY=VALUE, like stop.max_iterations=500");
    const char *const novalue[] = {"seed="};
    expect_error_set(s, "set5.yaml", base, novalue, 1, "--set 'seed=': no value after '='");
    const char *const scalar[] = {"seed.x=1"};
    expect_error_set(s, "set6.yaml", "target: normal\nseed: 1\n", scalar, 1,
                     "--set 'seed.x=1': 'seed' is not a mapping, so it cannot hold 'x'");
    const char *const empty[] = {"stop..rule=none"};
    expect_error_set(s, "set7.yaml", base, empty, 1,
                     "--set 'stop..rule=none': empty part in the key (write a.b.c=value)");
    const char *const list[] = {"family=[meanfield, {plugn: x}]"};
    expect_error_set(s, "set8.yaml", base, list, 1,
                     "--set 'family=[meanfield, {plugn: x}]': unknown key 'plugn' in "
                     "'family[1]' (did you mean 'plugin'?)");
    const char *const syntax[] = {"family=[a"};
    expect_error_set(s, "set9.yaml", base, syntax, 1,
                     "--set 'family=[a': YAML syntax error: did not find expected ',' or ']' "
                     "(while parsing a flow sequence)");
    const char *const target[] = {"target.plugin=mvnormal", "stop.max_iterations=7"};
    path = scratch_text(s, "set10.yaml", "seed: 1\n");
    run = NULL;
    ok(vh_runfile_load(path, target, 2, &run, &err) == 0 &&
           strcmp(run->target.plugin, "mvnormal") == 0 && run->max_iterations == 7 &&
           run->target.pos.line == 0,
       "--set makes missing sections (target, stop): %s", err.message);
    vh_runfile_free(run);
}

int main(void)
{
    scratch s;
    scratch_open(&s, "vh-test-runfile");
    test_defaults(&s);
    test_full(&s);
    test_errors(&s);
    test_sets(&s);
    scratch_remove(&s);
    return tap_done();
}
