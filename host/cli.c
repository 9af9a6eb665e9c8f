/* cli.c — the command line (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-config.h"
#include "config.h"
#include "check.h"
#include "dist.h"
#include "compare.h"
#include "loader.h"
#include "report.h"
#include "run.h"
#include "template.h"

static const char usage_text[] =
    "usage: vihost run FILE [--set KEY=VALUE]... [--families A,B,...] [--plugin-path DIR]...\n"
    "                  [--quiet] [--verbose] [--resume] [--jobs J] [--allow-insecure-plugins]\n"
    "       vihost report DIR\n"
    "       vihost list [--plugin-path DIR]... [--all]\n"
    "       vihost describe NAME [--plugin-path DIR]...\n"
    "       vihost new target|family|optimizer NAME DIR\n"
    "       vihost check PLUGIN.so [--component NAME] [--config FILE] [--seed N] [--level 1..3]\n"
    "                  [--allow-insecure-plugins]\n"
    "       vihost --version | --help\n";

static const char help_text[] =
    "vihost: black-box variational inference with plugin targets, families and optimizers.\n"
    "\n"
    "Commands:\n"
    "  run FILE        fit the run file's target with its family and optimizer; outputs go\n"
    "                  to output.dir (summary.csv, draws.csv, trace.csv, result.json, run.yaml)\n"    "                  or, for a list of families, each into its own subfolder, then\n"
    "                  compare.csv, compare.md and report.html beside them\n"
    "  list            list every component found, with its kind, version and plugin file\n"
    "  describe NAME   print a component's options, their types, defaults and ranges\n"
    "  report DIR      rebuild report.html and its figures from the output.dir of a\n"
    "                  finished run (a comparison's folder, or one fit's)\n"
    "  new KIND NAME DIR\n"
    "                  write a plugin project (NAME.c, Makefile, NAME.yaml) for a new\n"
    "                  target, family or optimizer into DIR; build it with make\n"
    "  check PLUGIN.so conformance checks of a plugin: ABI, exports, options, leaks,\n"
    "                  gradients against finite differences, Monte Carlo, threads; each\n"
    "                  in a child process; prints a table, exit 3 if any check fails\n"
    "\n"
    "Options:\n"
    "  --set KEY=VALUE     override a run-file key, e.g. --set stop.tolerance=0.001\n"
    "                      or --set optimizer.options.learning_rate=0.1\n"
    "  --plugin-path DIR   look for plugins in DIR first (repeatable); then\n"
    "                      $VIHOST_PLUGIN_PATH, the run file's plugin_path, and the\n"
    "                      installed plugin folder (" VIHOST_PLUGINDIR ")\n"
    "  --families A,B,...  run: fit each of these families, each into its own subfolder,\n"
    "                      and compare them (compare.csv, compare.md, report.html);\n"
    "                      replaces the run file's family\n"
    "  --quiet             print nothing but errors\n"
    "  --verbose           show the plugins' information lines\n"
    "  --all               list test-only components too\n"
    "  --resume            run: continue each fit from its checkpoint (written every\n"
    "                      output.checkpoint_every iterations) after the run was\n"
    "                      interrupted; the outputs are those of an uninterrupted run\n"
    "  --jobs J            run: a run file with a `sweep:` runs J of its runs at once,\n"
    "                      each in its own process (default 1)\n"
    "  --allow-insecure-plugins\n"
    "                      load plugin files that other users could change (files or\n"
    "                      folders writable by group or others, or owned by another\n"
    "                      user); refused otherwise\n"
    "  --component NAME    check: only this component of the plugin\n"
    "  --config FILE       check: a run file whose sections give the options (and a\n"
    "                      target's data); without it, the option defaults\n"
    "  --seed N            check: seed of the random points and draws (default 1)\n"
    "  --level 1..3        check: 1 quick, 2 the default, 3 thorough\n"
    "\n"
    "Exit status: 0 done (converged or not), 2 bad command line or run file,\n"
    "3 a plugin could not be loaded or refused its configuration, 4 the run failed\n"
    "numerically.  The run-file reference is share/doc/runfile.md.\n";

/* The parsed command line. */
typedef struct cli_args {
    const char *command;
    const char *operand;        /* FILE or NAME */
    const char *extra[2];       /* `new`: NAME and DIR */
    size_t n_extra;
    const char *component, *config, *seed, *level;   /* `check` */
    const char *jobs;           /* `run --jobs` */
    const char *families;       /* `run --families` */
    const char **sets;
    size_t n_sets;
    const char **plugin_dirs;
    size_t n_plugin_dirs;
    int quiet, verbose, all;
    int allow_insecure;         /* --allow-insecure-plugins */
    int resume;                 /* run --resume */
} cli_args;

static int push_arg(const char ***list, size_t *n, const char *value)
{
    const char **more = realloc(*list, (*n + 1) * sizeof *more);
    if (more == NULL)
        return -1;
    more[(*n)++] = value;
    *list = more;
    return 0;
}

/* "--name VALUE" or "--name=VALUE": the value, advancing *i; NULL when the
 * argument is not this option. */
static const char *option_value(int argc, char **argv, int *i, const char *name,
                                vh_err *err)
{
    size_t len = strlen(name);
    const char *arg = argv[*i];
    if (strncmp(arg, name, len) != 0)
        return NULL;
    if (arg[len] == '=')
        return arg + len + 1;
    if (arg[len] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        vh_err_set(err, VH_EXIT_USAGE, "%s needs a value (see vihost --help)", name);
        return NULL;
    }
    return argv[++*i];
}

static int parse_option(int argc, char **argv, int *i, cli_args *a, vh_err *err)
{
    const char *arg = argv[*i], *v;
    if (strcmp(arg, "--quiet") == 0 || strcmp(arg, "-q") == 0)
        a->quiet = 1;
    else if (strcmp(arg, "--verbose") == 0 || strcmp(arg, "-v") == 0)
        a->verbose = 1;
    else if (strcmp(arg, "--all") == 0)
        a->all = 1;
    else if (strcmp(arg, "--allow-insecure-plugins") == 0)
        a->allow_insecure = 1;
    else if (strcmp(arg, "--resume") == 0)
        a->resume = 1;
    else if ((v = option_value(argc, argv, i, "--set", err)) != NULL) {
        if (push_arg(&a->sets, &a->n_sets, v) != 0)
            return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    } else if ((v = option_value(argc, argv, i, "--families", err)) != NULL) {
        a->families = v;
    } else if ((v = option_value(argc, argv, i, "--plugin-path", err)) != NULL) {
        if (push_arg(&a->plugin_dirs, &a->n_plugin_dirs, v) != 0)
            return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    } else if ((v = option_value(argc, argv, i, "--component", err)) != NULL)
        a->component = v;
    else if ((v = option_value(argc, argv, i, "--config", err)) != NULL)
        a->config = v;
    else if ((v = option_value(argc, argv, i, "--seed", err)) != NULL)
        a->seed = v;
    else if ((v = option_value(argc, argv, i, "--level", err)) != NULL)
        a->level = v;
    else if ((v = option_value(argc, argv, i, "--jobs", err)) != NULL)
        a->jobs = v;
    else if (err->exit_code != 0)
        return -1;
    else
        return vh_err_set(err, VH_EXIT_USAGE, "unknown option '%s' (see vihost --help)", arg);
    return 0;
}

static int parse_args(int argc, char **argv, cli_args *a, vh_err *err)
{
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] == '-' && arg[1] != '\0') {
            if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0 ||
                strcmp(arg, "--version") == 0 || strcmp(arg, "-V") == 0) {
                a->command = arg;
                return 0;
            }
            if (parse_option(argc, argv, &i, a, err) != 0)
                return -1;
        } else if (a->command == NULL)
            a->command = arg;
        else if (a->operand == NULL)
            a->operand = arg;
        else if (strcmp(a->command, "new") == 0 && a->n_extra < 2)
            a->extra[a->n_extra++] = arg;
        else
            return vh_err_set(err, VH_EXIT_USAGE, "unexpected argument '%s' (see vihost --help)",
                              arg);
    }
    if (a->command == NULL)
        return vh_err_set(err, VH_EXIT_USAGE, "no command given (try vihost --help)");
    return 0;
}

/* Loads every plugin on the search path. */
static char **load_search_path(const cli_args *a, vh_registry *reg)
{
    size_t n;
    char **dirs = vh_search_path(a->plugin_dirs, a->n_plugin_dirs, NULL, 0, &n);
    vh_registry_init(reg);
    reg->allow_insecure = a->allow_insecure;
    vh_registry_scan(reg, (const char *const *)dirs, n);
    return dirs;
}

static void print_refusals(const vh_registry *reg)
{
    for (size_t i = 0; i < reg->n_refusals; i++)
        fprintf(stderr, "vihost: warning: plugin refused: %s\n", reg->refusals[i]);
}

static int command_list(const cli_args *a)
{
    vh_registry reg;
    char **dirs = load_search_path(a, &reg);
    printf("%-10s %-14s %-9s %s\n", "KIND", "NAME", "VERSION", "PLUGIN FILE");
    /* Targets, then families, then optimizers; by name within a kind. */
    for (int kind = VI_KIND_TARGET; kind <= VI_KIND_OPTIMIZER; kind++) {
        const char *last = "";
        for (;;) {
            const vh_component *next = NULL;
            for (size_t i = 0; i < reg.n_components; i++) {
                const vh_component *c = &reg.components[i];
                if ((int)c->kind == kind && strcmp(c->name, last) > 0 &&
                    (next == NULL || strcmp(c->name, next->name) < 0))
                    next = c;
            }
            if (next == NULL)
                break;
            last = next->name;
            if ((next->head->flags & VI_FLAG_TEST) && !a->all)
                continue;
            printf("%-10s %-14s %-9s %s\n", vh_kind_name(next->kind), next->name,
                   next->library->entry->version, next->library->path);
        }
    }
    if (reg.n_components == 0)
        printf("(no components found; searched:%s%s)\n", dirs[0] ? " " : "",
               dirs[0] ? dirs[0] : "");
    print_refusals(&reg);
    vh_registry_free(&reg);
    vh_search_path_free(dirs);
    return VH_EXIT_OK;
}

static void format_range(const vi_option *opt, char *out, size_t size)
{
    out[0] = '\0';
    if (opt->type != VI_OPTION_DOUBLE && opt->type != VI_OPTION_INT)
        return;
    if (isinf(opt->min) && isinf(opt->max))
        return;
    snprintf(out, size, "[%g, %g]", opt->min, opt->max);
}

static int command_describe(const cli_args *a, vh_err *err)
{
    if (a->operand == NULL)
        return vh_err_set(err, VH_EXIT_USAGE, "describe needs a component name (see vihost list)");
    vh_registry reg;
    char **dirs = load_search_path(a, &reg);
    const vh_component *c = vh_registry_find(&reg, a->operand, 0);
    int status = VH_EXIT_OK;
    if (c == NULL) {
        vh_err_set(err, VH_EXIT_PLUGIN,
                   "no component named '%s' (`vihost list` shows what exists)", a->operand);
        status = VH_EXIT_PLUGIN;
    } else {
        printf("%s (%s): %s\n", c->name, vh_kind_name(c->kind),
               c->head->summary ? c->head->summary : "");
        printf("plugin: %s, %s %s\n", c->library->path, c->library->entry->name,
               c->library->entry->version);
        size_t n = vh_option_count(c->head->options);
        printf(n ? "options:\n" : "options: none\n");
        for (size_t i = 0; i < n; i++) {
            const vi_option *o = vh_option_at(c->head->options, i);
            char range[96];
            format_range(o, range, sizeof range);
            printf("  %-16s %-8s %s%s%s%s\n    %s\n", o->key, vh_option_type_name(o->type),
                   o->required ? "required" : "default ",
                   o->required ? "" : (o->default_value ? o->default_value : "(none)"),
                   range[0] ? ", " : "", range, o->doc ? o->doc : "");
        }
    }
    vh_registry_free(&reg);
    vh_search_path_free(dirs);
    return status;
}

/* --families a,b,c as the --set "family=[a, b, c]", after the others so
 * that it wins. */
static int families_set(const cli_args *a, char **set, vh_err *err)
{
    const char *p = a->families;
    size_t len = strlen(p);
    if (len == 0 || p[0] == ',' || p[len - 1] == ',' || strstr(p, ",,") != NULL ||
        strpbrk(p, "[]{}:#\"' ") != NULL)
        return vh_err_set(err, VH_EXIT_USAGE, "--families '%s': give component names or .so "
                          "paths separated by commas, like meanfield,fullrank", p);
    if ((*set = malloc(3 * len + 16)) == NULL)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    char *out = *set + sprintf(*set, "family=[");
    for (; *p; p++)
        out += *p == ',' ? sprintf(out, ", ") : sprintf(out, "%c", *p);
    sprintf(out, "]");
    return 0;
}

static int command_report(const cli_args *a, vh_err *err)
{
    vh_comparison *cmp = NULL;
    if (a->operand == NULL)
        return vh_err_set(err, VH_EXIT_USAGE, "report needs a folder (vihost report DIR, the "
                          "output.dir of a finished run)");
    if (vh_comparison_read(a->operand, &cmp, err) != 0)
        return -1;
    int rc = vh_report_write(cmp, err);
    if (rc == 0 && !a->quiet)
        printf("%s/report.html\n", a->operand);
    vh_comparison_free(cmp);
    if (rc == 1) {
        char why[VH_ERR_SIZE];
        snprintf(why, sizeof why, "%s", err->message);
        return vh_err_set(err, VH_EXIT_FAILURE, "cannot draw the report: %s", why);
    }
    return rc == 0 ? VH_EXIT_OK : -1;
}

static int parse_count(const char *text, const char *option, unsigned long long min,
                       unsigned long long max, unsigned long long *out, vh_err *err);

static int command_run(const cli_args *a, vh_err *err)
{
    if (a->operand == NULL)
        return vh_err_set(err, VH_EXIT_USAGE, "run needs a run file (vihost run FILE.yaml)");
    if (a->families != NULL) {
        char *set = NULL;
        const char **sets = malloc((a->n_sets + 1) * sizeof *sets);
        int rc = sets == NULL ? vh_err_set(err, VH_EXIT_FAILURE, "out of memory")
                              : families_set(a, &set, err);
        if (rc == 0) {
            cli_args b = *a;
            for (size_t i = 0; i < a->n_sets; i++)
                sets[i] = a->sets[i];
            sets[a->n_sets] = set;
            b.sets = sets;
            b.n_sets = a->n_sets + 1;
            b.families = NULL;
            rc = command_run(&b, err);
        }
        free(set);
        free(sets);
        return rc;
    }
    unsigned long long jobs = 1;
    if (a->jobs != NULL && parse_count(a->jobs, "--jobs", 1, 1024, &jobs, err) != 0)
        return -1;
    vh_dist *dist = NULL;
    if (vh_dist_open(&dist, err) != 0)
        return -1;
    vh_run_request req = {
        .file = a->operand, .sets = a->sets, .n_sets = a->n_sets,
        .plugin_dirs = a->plugin_dirs, .n_plugin_dirs = a->n_plugin_dirs,
        .quiet = a->quiet, .verbose = a->verbose,
        .allow_insecure_plugins = a->allow_insecure, .resume = a->resume,
        .dist = dist, .jobs = (size_t)jobs,
    };
    int rc = vh_run(&req, err) == 0 ? VH_EXIT_OK : -1;
    if (rc != 0 && vh_dist_size(dist) > 1) {
        /* Other ranks may be waiting for this one: end them all. */
        fprintf(stderr, "vihost: rank %d: %s\n", vh_dist_rank(dist), err->message);
        vh_dist_abort(dist, err->exit_code ? err->exit_code : VH_EXIT_FAILURE);
    }
    vh_dist_close(dist);
    return rc;
}

static int command_new(const cli_args *a, vh_err *err)
{
    return vh_template_new(a->operand, a->extra[0], a->extra[1], a->plugin_dirs,
                           a->n_plugin_dirs, err) == 0 ? VH_EXIT_OK : -1;
}

/* A whole number in [min, max] from an option's text. */
static int parse_count(const char *text, const char *option, unsigned long long min,
                       unsigned long long max, unsigned long long *out, vh_err *err)
{
    char *end;
    errno = 0;
    *out = strtoull(text, &end, 10);
    if (text[0] == '\0' || text[0] == '-' || *end != '\0' || errno != 0 || *out < min ||
        *out > max)
        return vh_err_set(err, VH_EXIT_USAGE, "%s must be a whole number from %llu to %llu, "
                          "got '%s'", option, min, max, text);
    return 0;
}

static int command_check(const cli_args *a, vh_err *err)
{
    unsigned long long seed = 1, level = 2;
    if (a->operand == NULL)
        return vh_err_set(err, VH_EXIT_USAGE, "check needs a plugin file (vihost check "
                          "PLUGIN.so)");
    if ((a->seed && parse_count(a->seed, "--seed", 0, UINT64_MAX, &seed, err) != 0) ||
        (a->level && parse_count(a->level, "--level", 1, 3, &level, err) != 0))
        return -1;
    vh_check_request req = {
        .plugin = a->operand, .component = a->component, .config = a->config,
        .seed = (uint64_t)seed, .level = (int)level,
        .plugin_dirs = a->plugin_dirs, .n_plugin_dirs = a->n_plugin_dirs,
        .allow_insecure = a->allow_insecure,
    };
    return vh_check(&req, err);
}

int vh_cli_main(int argc, char **argv)
{
    cli_args a;
    vh_err err;
    int status;
    vh_err_clear(&err);
    if (parse_args(argc, argv, &a, &err) != 0)
        status = -1;
    else if (strcmp(a.command, "--help") == 0 || strcmp(a.command, "-h") == 0 ||
             strcmp(a.command, "help") == 0) {
        printf("%s\n%s", usage_text, help_text);
        status = VH_EXIT_OK;
    } else if (strcmp(a.command, "--version") == 0 || strcmp(a.command, "-V") == 0) {
        printf("vihost %s (plugin ABI %d.%d)\n", PACKAGE_VERSION, VI_ABI_MAJOR, VI_ABI_MINOR);
        status = VH_EXIT_OK;
    } else if (strcmp(a.command, "run") == 0)
        status = command_run(&a, &err);
    else if (strcmp(a.command, "list") == 0)
        status = command_list(&a);
    else if (strcmp(a.command, "describe") == 0)
        status = command_describe(&a, &err);
    else if (strcmp(a.command, "report") == 0)
        status = command_report(&a, &err);
    else if (strcmp(a.command, "new") == 0)
        status = command_new(&a, &err);
    else if (strcmp(a.command, "check") == 0)
        status = command_check(&a, &err);
    else
        status = vh_err_set(&err, VH_EXIT_USAGE,
                            "unknown command '%s' (commands: run, report, list, describe, new, check; "
                            "see vihost --help)",
                            a.command);
    if (status < 0 || (status != 0 && err.message[0])) {
        fprintf(stderr, "vihost: %s\n", err.message);
        status = err.exit_code ? err.exit_code : VH_EXIT_FAILURE;
    }
    free(a.sets);
    free(a.plugin_dirs);
    return status;
}
