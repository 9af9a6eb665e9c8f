/* vhbench.c — the benchmark's helper (built by `make bench`, never by
 * `make check`):
 *
 *   vhbench gen logistic N D SEED FILE   synthetic logistic-regression data
 *   vhbench gen gaussian D SEED FILE     a dense Gaussian (mvnormal's data)
 *   vhbench grad PLUGIN.so TARGET DATA [OPTIONS] [SECONDS]
 *                                        microseconds per log_density with
 *                                        gradient of TARGET at a fixed point
 *                                        and, for the logistic target, of
 *                                        the tuned kernel (tuned.c) on the
 *                                        same data, in one process, rounds
 *                                        alternating; then the relative
 *                                        difference of their results
 *   vhbench load FILE                    seconds to read a data file as
 *                                        `vihost run` does, and the peak
 *                                        resident memory (MB) after it
 *   vhbench exec COMMAND...              runs COMMAND; prints its wall time
 *                                        (s) and peak resident memory (MB)
 *
 * The data are made from vihost's own counter-based streams, so a seed
 * gives the same file on every machine. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "data.h"
#include "engine.h"
#include "estimators.h"
#include "hostapi.h"
#include "loader.h"
#include "node.h"
#include "rng.h"

/* tuned.c, compiled for this machine (-O3 -march=native -ffast-math). */
double vhbench_tuned_logistic(const double *x, const double *y, size_t n, size_t d,
                              const double *beta, double prior_scale, double *grad);

static int usage(void)
{
    fprintf(stderr, "usage: vhbench gen logistic N D SEED FILE | gen gaussian D SEED FILE |\n"
                    "       grad PLUGIN.so TARGET DATA [OPTIONS] [SECONDS] | load FILE |\n"
                    "       exec COMMAND...\n");
    return 2;
}

/* ---- data ---- */

/* Logistic regression as in ../shared/bench: column 1 all ones, the others
 * standard normal with correlation 0.3 between neighbours; beta_d ~ N(0,
 * 0.5^2); y ~ Bernoulli(inv_logit(x . beta)). */
static int gen_logistic(size_t n, size_t d, uint64_t seed, FILE *out)
{
    double *beta = malloc(d * sizeof *beta), *row = malloc(d * sizeof *row);
    if (beta == NULL || row == NULL)
        return 1;
    vi_rng rng;
    vh_rng_init(&rng, seed, VH_RNG_TEST, 0, 0);
    for (size_t j = 0; j < d; j++)
        beta[j] = 0.5 * vh_rng_normal(&rng);
    char *y = malloc(n);
    fprintf(out, "{\"N\": %zu, \"D\": %zu,\n \"X\": [", n, d);
    for (size_t i = 0; i < n; i++) {
        vh_rng_init(&rng, seed, VH_RNG_TEST, 1, i);
        double eta = 0.0, prev = 0.0;
        for (size_t j = 0; j < d; j++) {
            double z = vh_rng_normal(&rng);
            row[j] = j == 0 ? 1.0 : j == 1 ? z : 0.3 * prev + sqrt(1.0 - 0.09) * z;
            if (j > 0)
                prev = row[j];
            /* the file holds 6 decimals: the data are what it says */
            row[j] = j == 0 ? 1.0 : round(row[j] * 1e6) / 1e6;
            eta += row[j] * beta[j];
        }
        fputs(i ? ",\n  [" : "\n  [", out);
        for (size_t j = 0; j < d; j++)
            fprintf(out, j ? ", %.6f" : "%.0f", row[j]);
        fputc(']', out);
        y[i] = vh_rng_uniform(&rng) < 1.0 / (1.0 + exp(-eta));
    }
    fputs("],\n \"y\": [", out);
    for (size_t i = 0; i < n; i++)
        fprintf(out, i ? ",%d" : "%d", y[i]);
    fputs("]}\n", out);
    free(y);
    free(beta);
    free(row);
    return ferror(out) ? 1 : 0;
}

/* mean_i ~ N(0, 1); cov = A A^T / d + 0.5 I with A standard normal: dense,
 * well conditioned. */
static int gen_gaussian(size_t d, uint64_t seed, FILE *out)
{
    double *a = malloc(d * d * sizeof *a);
    if (a == NULL)
        return 1;
    vi_rng rng;
    vh_rng_init(&rng, seed, VH_RNG_TEST, 2, 0);
    fprintf(out, "{\"D\": %zu,\n \"mean\": [", d);
    for (size_t i = 0; i < d; i++)
        fprintf(out, i ? ", %.6f" : "%.6f", round(vh_rng_normal(&rng) * 1e6) / 1e6);
    for (size_t i = 0; i < d * d; i++)
        a[i] = vh_rng_normal(&rng);
    fputs("],\n \"cov\": [", out);
    for (size_t i = 0; i < d; i++) {
        fputs(i ? ",\n  [" : "\n  [", out);
        for (size_t j = 0; j < d; j++) {
            double s = i == j ? 0.5 : 0.0;
            for (size_t k = 0; k < d; k++)
                s += a[i * d + k] * a[j * d + k] / (double)d;
            fprintf(out, j ? ", %.17g" : "%.17g", s);
        }
        fputc(']', out);
    }
    fputs("]}\n", out);
    free(a);
    return ferror(out) ? 1 : 0;
}

static int command_gen(int argc, char **argv)
{
    int logistic = argc == 7 && strcmp(argv[2], "logistic") == 0;
    int gaussian = argc == 6 && strcmp(argv[2], "gaussian") == 0;
    if (!logistic && !gaussian)
        return usage();
    FILE *out = fopen(argv[argc - 1], "w");
    if (out == NULL) {
        fprintf(stderr, "vhbench: %s: %s\n", argv[argc - 1], strerror(errno));
        return 1;
    }
    int rc = logistic ? gen_logistic(strtoul(argv[3], NULL, 10), strtoul(argv[4], NULL, 10),
                                     strtoull(argv[5], NULL, 10), out)
                      : gen_gaussian(strtoul(argv[3], NULL, 10), strtoull(argv[4], NULL, 10),
                                     out);
    rc |= fclose(out) != 0;
    if (rc)
        fprintf(stderr, "vhbench: cannot write %s\n", argv[argc - 1]);
    return rc;
}

/* ---- gradient timing ---- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Seconds per call of fn, measured over about 20 ms. */
typedef void (*timed_fn)(void *arg);
static double calibrate(timed_fn fn, void *arg)
{
    double t0 = now();
    size_t calls = 0;
    while (now() - t0 < 0.02 || calls < 3) {
        fn(arg);
        calls++;
    }
    return (now() - t0) / (double)calls;
}

/* Seconds per call of a and of b: medians over 15 rounds each, the rounds
 * of a and b alternating so that both see the same machine (other
 * processes come and go), `seconds` in all. */
static void time_pair(timed_fn a, timed_fn b, void *arg, double seconds, double *ta,
                      double *tb)
{
    timed_fn fns[2] = {a, b};
    double rounds[2][15];
    size_t reps[2];
    for (int k = 0; k < 2; k++)
        reps[k] = (size_t)(seconds / 30.0 / calibrate(fns[k], arg)) + 1;
    for (int r = 0; r < 15; r++)
        for (int k = 0; k < 2; k++) {
            double s = now();
            for (size_t i = 0; i < reps[k]; i++)
                fns[k](arg);
            rounds[k][r] = (now() - s) / (double)reps[k];
        }
    qsort(rounds[0], 15, sizeof rounds[0][0], cmp_double);
    qsort(rounds[1], 15, sizeof rounds[1][0], cmp_double);
    *ta = rounds[0][7];
    *tb = rounds[1][7];
}

typedef struct grad_case {
    const vi_target_desc *t;
    void *self;
    int logistic;
    const double *x, *y;
    size_t n, d;
    double *beta, *grad, *work, lp;
} grad_case;

static void call_plugin(void *arg)
{
    grad_case *c = arg;
    c->t->log_density(c->self, c->beta, &c->lp, c->grad, c->work, NULL);
}

static void call_tuned(void *arg)
{
    grad_case *c = arg;
    c->lp = vhbench_tuned_logistic(c->x, c->y, c->n, c->d, c->beta, 10.0, c->grad);
}

/* Prints the plugin's microseconds per gradient, the tuned kernel's (or
 * "-"), and the relative difference of their log densities and first
 * partial derivatives (or "-"). */
static void grad_report(grad_case *c, double seconds)
{
    double plugin, tuned;
    call_plugin(c);
    double lp = c->lp, g0 = c->grad[0];
    if (!c->logistic) {
        time_pair(call_plugin, call_plugin, c, seconds, &plugin, &tuned);
        printf("%.3f - -\n", 0.5 * (plugin + tuned) * 1e6);
        return;
    }
    call_tuned(c);
    double diff = fabs(lp - c->lp) / fabs(lp) + fabs(g0 - c->grad[0]) / (fabs(g0) + 1e-300);
    time_pair(call_plugin, call_tuned, c, seconds, &plugin, &tuned);
    printf("%.3f %.3f %.3g\n", plugin * 1e6, tuned * 1e6, diff);
}

static int command_grad(int argc, char **argv)
{
    if (argc < 5 || argc > 7)
        return usage();
    const char *name = argv[3], *options = argc > 5 ? argv[5] : "{}";
    double seconds = argc > 6 ? atof(argv[6]) : 1.5;
    vh_registry reg;
    vh_data *data = NULL;
    vh_node *opts = NULL;
    vi_config *config = NULL;
    vh_host_context ctx;
    vh_err err;
    vi_error perr = {sizeof perr, 0, ""};
    vh_err_clear(&err);
    vh_registry_init(&reg);
    vh_pos pos = {1, 1};
    grad_case c;
    memset(&c, 0, sizeof c);
    const vh_component *comp = NULL;
    int failed = vh_registry_load_file(&reg, argv[2], &err) != 0 ||
                 (comp = vh_registry_find(&reg, name, VI_KIND_TARGET)) == NULL ||
                 vh_data_load(argv[4], &data, &err) != 0 ||
                 vh_node_parse_string(options, strlen(options), "options", &opts, &err) != 0;
    if (!failed) {
        vh_hostapi_init(&ctx, name, VI_LOG_WARNING);
        failed = vh_config_build(comp->head->options, opts, data, "options", name, pos,
                                 &config, &err) != 0;
    }
    c.t = comp ? (const vi_target_desc *)comp->head : NULL;
    if (!failed && c.t->create(&ctx.host, config, &c.self, &perr) != 0) {
        fprintf(stderr, "vhbench: %s: %s\n", name, perr.message);
        failed = 1;
    } else if (failed)
        fprintf(stderr, "vhbench: %s\n", err.message[0] ? err.message : "no such target");
    if (!failed) {
        const vh_value *x = vh_data_get(data, "X"), *y = vh_data_get(data, "y");
        c.logistic = strcmp(name, "logistic") == 0 && x != NULL && y != NULL;
        c.x = c.logistic ? x->numbers : NULL;
        c.y = c.logistic ? y->numbers : NULL;
        c.n = c.logistic ? x->shape[0] : 0;
        c.d = c.t->dim(c.self);
        /* On cache lines, as the host gives them (estimators.c). */
        c.beta = vh_doubles_aligned(c.d);
        c.grad = vh_doubles_aligned(c.d);
        c.work = vh_doubles_aligned(c.t->workspace_size ? c.t->workspace_size(c.self) : 0);
        for (size_t j = 0; j < c.d; j++)
            c.beta[j] = 0.1 * (double)((int)(j % 5) - 2);
        grad_report(&c, seconds);
        c.t->destroy(c.self);
        free(c.beta);
        free(c.grad);
        free(c.work);
    }
    vh_config_free(config);
    vh_node_free(opts);
    vh_data_free(data);
    vh_registry_free(&reg);
    return failed;
}

/* ---- reading a data file ---- */

static int command_load(int argc, char **argv)
{
    vh_data *data = NULL;
    vh_err err;
    struct rusage ru;
    if (argc != 3)
        return usage();
    vh_err_clear(&err);
    double t0 = now();
    if (vh_data_load(argv[2], &data, &err) != 0) {
        fprintf(stderr, "vhbench: %s\n", err.message);
        return 1;
    }
    double t = now() - t0;
    getrusage(RUSAGE_SELF, &ru);
    printf("%.4f %.1f\n", t, (double)ru.ru_maxrss / 1024.0);
    vh_data_free(data);
    return 0;
}

/* ---- wall time and peak memory of a command ---- */

static int command_exec(int argc, char **argv)
{
    if (argc < 3)
        return usage();
    double t0 = now();
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        fprintf(stderr, "vhbench: cannot run %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0)
        return 1;
    printf("%.4f %.1f\n", now() - t0, (double)ru.ru_maxrss / 1024.0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "gen") == 0)
        return command_gen(argc, argv);
    if (strcmp(argv[1], "grad") == 0)
        return command_grad(argc, argv);
    if (strcmp(argv[1], "load") == 0)
        return command_load(argc, argv);
    if (strcmp(argv[1], "exec") == 0)
        return command_exec(argc, argv);
    return usage();
}
