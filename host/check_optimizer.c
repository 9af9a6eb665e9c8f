/* check_optimizer.c — the checks of an optimizer (see checkers.h).
 * Optimizers are created for CHECK_OPTIMIZER_N parameters and driven with
 * the gradient of the concave quadratic f(lambda) = -|lambda - c|^2 / 2,
 * whose maximum c is known. */
#include "checkers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N CHECK_OPTIMIZER_N

typedef struct optimizer_run {
    const check_ctx *ctx;
    const vi_optimizer_desc *d;
    void *self;
} optimizer_run;

static int optimizer_open(const check_ctx *ctx, optimizer_run *o, vi_error *err)
{
    o->ctx = ctx;
    o->d = (const vi_optimizer_desc *)ctx->component->head;
    o->self = NULL;
    check_stage(ctx, "create (n %d)", N);
    return o->d->create(ctx->host, ctx->config, N, &o->self, err);
}

static void optimizer_close(optimizer_run *o)
{
    check_stage(o->ctx, "destroy");
    o->d->destroy(o->self);
}

/* The quadratic's maximum c. */
static void optimum(const check_ctx *ctx, double *c)
{
    check_normals(ctx, 20, 0, c, N);
}

/* One step along the quadratic's gradient c - lambda, plus `noise` times
 * standard normals of stream t (a stochastic gradient). */
static int quad_step(optimizer_run *o, double *lambda, const double *c, uint64_t t,
                     double noise, vi_error *err)
{
    double grad[N], z[N], f = 0.0;
    check_normals(o->ctx, 21, t, z, N);
    for (size_t i = 0; i < N; i++) {
        grad[i] = c[i] - lambda[i] + noise * z[i];
        f -= 0.5 * (lambda[i] - c[i]) * (lambda[i] - c[i]);
    }
    vi_step_info info = {sizeof info, t, f};
    check_error_init(err);
    return o->d->step(o->self, lambda, grad, &info, err);
}

static double distance(const double *a, const double *b)
{
    double ss = 0.0;
    for (size_t i = 0; i < N; i++)
        ss += (a[i] - b[i]) * (a[i] - b[i]);
    return sqrt(ss);
}

/* ------------------------------------------------------------------ */

static check_result check_create(const check_ctx *ctx, char *detail, size_t size)
{
    optimizer_run o;
    vi_error err;
    check_error_init(&err);
    int status = optimizer_open(ctx, &o, &err);
    if (status != 0)
        return check_fail(detail, size, "create for n %d failed (status %d): %s%s", N,
                          status, check_error_text(&err), ctx->defaults_only ? " (with the "
                          "option defaults; give options with --config RUNFILE)" : "");
    check_result r = check_pass(detail, size, "n %d", N);
    check_stage(ctx, "get_extension with an unknown id");
    if (o.d->get_extension && o.d->get_extension(o.self, "vi.check.no-such-extension/0"))
        r = check_fail(detail, size, "get_extension answers an unknown id (must be NULL)");
    if (r == CHECK_PASS && o.d->get_learning_rate) {
        check_stage(ctx, "get_learning_rate");
        double rate = o.d->get_learning_rate(o.self);
        if (!(rate > 0.0) || !isfinite(rate))
            r = check_fail(detail, size, "get_learning_rate gives %g (must be finite, > 0)",
                           rate);
        else
            check_pass(detail, size, "n %d, learning rate %g", N, rate);
    }
    optimizer_close(&o);
    check_stage(ctx, "destroy(NULL)");
    o.d->destroy(NULL);
    return r;
}

static int optimizer_cycle(const check_ctx *ctx, vi_error *err)
{
    optimizer_run o;
    int status = optimizer_open(ctx, &o, err);
    if (status == 0) {
        double lambda[N] = {0}, c[N];
        optimum(ctx, c);
        quad_step(&o, lambda, c, 1, 0.0, err);
        o.d->destroy(o.self);
    }
    return status;
}

static check_result check_leaks(const check_ctx *ctx, char *detail, size_t size)
{
    return check_repeat(ctx, optimizer_cycle, detail, size);
}

/* Steps on the quadratic: lambda stays finite, the first step goes uphill,
 * and the steps bring lambda closer to the maximum. */
static check_result check_step(const check_ctx *ctx, char *detail, size_t size)
{
    optimizer_run o;
    vi_error err;
    double lambda[N] = {0}, start[N] = {0}, c[N];
    check_error_init(&err);
    if (optimizer_open(ctx, &o, &err) != 0)
        return check_fail(detail, size, "create failed: %s", check_error_text(&err));
    optimum(ctx, c);
    size_t steps = check_by_level(ctx, 200, 1000, 5000);
    double d0 = distance(lambda, c), uphill = 0.0;
    check_result r = CHECK_PASS;
    for (size_t t = 1; t <= steps && r == CHECK_PASS; t++) {
        check_stage(ctx, "step %zu", t);
        int status = quad_step(&o, lambda, c, t, 0.0, &err);
        if (status != 0)
            r = check_fail(detail, size, "step %zu failed (status %d): %s", t, status,
                           check_error_text(&err));
        for (size_t i = 0; i < N && r == CHECK_PASS; i++)
            if (!isfinite(lambda[i]))
                r = check_fail(detail, size, "step %zu left lambda[%zu] = %g", t, i, lambda[i]);
        if (t == 1)
            for (size_t i = 0; i < N; i++)
                uphill += (lambda[i] - start[i]) * (c[i] - start[i]);
    }
    double d1 = distance(lambda, c);
    if (r == CHECK_PASS && !(uphill > 0.0))
        r = check_fail(detail, size, "the first step does not go uphill: it must ascend along "
                       "grad, not descend");
    else if (r == CHECK_PASS && !(d1 < d0))
        r = check_fail(detail, size, "after %zu steps on -|lambda - c|^2/2 the distance to the "
                       "maximum grew from %.3g to %.3g", steps, d0, d1);
    else if (r == CHECK_PASS)
        check_pass(detail, size, "%zu steps on -|lambda - c|^2/2: distance to the maximum "
                   "%.3g -> %.3g", steps, d0, d1);
    optimizer_close(&o);
    return r;
}

static check_result check_rate(const check_ctx *ctx, char *detail, size_t size)
{
    optimizer_run o;
    vi_error err;
    if (((const vi_optimizer_desc *)ctx->component->head)->set_learning_rate == NULL)
        return check_skip(detail, size, "no get/set_learning_rate");
    check_error_init(&err);
    if (optimizer_open(ctx, &o, &err) != 0)
        return check_fail(detail, size, "create failed: %s", check_error_text(&err));
    check_stage(ctx, "get_learning_rate / set_learning_rate");
    double rate = o.d->get_learning_rate(o.self), want = 0.5 * rate;
    int status = o.d->set_learning_rate(o.self, want, &err);
    double got = o.d->get_learning_rate(o.self);
    check_result r;
    if (status != 0)
        r = check_fail(detail, size, "set_learning_rate(%g) failed (status %d): %s", want,
                       status, check_error_text(&err));
    else if (got != want)
        r = check_fail(detail, size, "set_learning_rate(%g), then get_learning_rate gives %g",
                       want, got);
    else
        r = check_pass(detail, size, "set %g, read back %g", want, got);
    check_error_init(&err);
    check_stage(ctx, "set_learning_rate(-1)");
    if (r == CHECK_PASS && o.d->set_learning_rate(o.self, -1.0, &err) == 0)
        r = check_fail(detail, size, "set_learning_rate(-1) is accepted (must be refused)");
    optimizer_close(&o);
    return r;
}

/* ------------------------------------------------------------------ */

/* Runs `steps` noisy steps from stream offset t0. */
static int run_steps(optimizer_run *o, double *lambda, const double *c, uint64_t t0,
                     size_t steps, vi_error *err)
{
    for (size_t t = 0; t < steps; t++) {
        int status = quad_step(o, lambda, c, t0 + t, 0.5, err);
        if (status != 0)
            return status;
    }
    return 0;
}

/* A saves after 5 steps, B loads; both go on alike to the last bit. */
static check_result save_load(optimizer_run *a, optimizer_run *b, char *detail, size_t size)
{
    vi_error err;
    double la[N] = {0}, lb[N], c[N];
    optimum(a->ctx, c);
    check_error_init(&err);
    int status = run_steps(a, la, c, 1, 5, &err);
    check_stage(a->ctx, "state_size and save_state");
    size_t n = status == 0 ? a->d->state_size(a->self) : 0;
    unsigned char *buf = malloc(n + 1);
    if (status == 0 && buf != NULL)
        status = a->d->save_state(a->self, buf, &err);
    check_stage(a->ctx, "load_state");
    if (status == 0 && buf != NULL)
        status = b->d->load_state(b->self, buf, n, &err);
    if (status != 0 || buf == NULL) {
        free(buf);
        return check_fail(detail, size, "step, save_state or load_state failed (status %d): "
                          "%s", status, check_error_text(&err));
    }
    memcpy(lb, la, sizeof la);
    check_error_init(&err);
    run_steps(a, la, c, 6, 5, &err);
    run_steps(b, lb, c, 6, 5, &err);
    check_result r = memcmp(la, lb, sizeof la) == 0
                         ? check_pass(detail, size, "%zu bytes; a loaded copy steps to the "
                                      "same bits", n)
                         : check_fail(detail, size, "after load_state the copy steps to other "
                                      "values (lambda[1] %.17g vs %.17g): the state is "
                                      "incomplete", la[0], lb[0]);
    check_stage(a->ctx, "load_state with a wrong size");
    check_error_init(&err);
    if (r == CHECK_PASS && n > 0 && b->d->load_state(b->self, buf, n - 1, &err) == 0)
        r = check_fail(detail, size, "load_state accepts a buffer one byte short");
    free(buf);
    return r;
}

static check_result check_state(const check_ctx *ctx, char *detail, size_t size)
{
    optimizer_run a, b;
    vi_error err;
    if (((const vi_optimizer_desc *)ctx->component->head)->save_state == NULL)
        return check_skip(detail, size, "no state_size/save_state/load_state");
    check_error_init(&err);
    if (optimizer_open(ctx, &a, &err) != 0)
        return check_fail(detail, size, "create failed: %s", check_error_text(&err));
    if (optimizer_open(ctx, &b, &err) != 0) {
        optimizer_close(&a);
        return check_fail(detail, size, "a second create failed: %s", check_error_text(&err));
    }
    check_result r = save_load(&a, &b, detail, size);
    optimizer_close(&b);
    optimizer_close(&a);
    return r;
}

/* ------------------------------------------------------------------ */

typedef struct optimizer_threads {
    const check_ctx *ctx;
    optimizer_run *runs;     /* one instance per thread */
    double *lambdas;         /* N per thread */
    size_t steps;
} optimizer_threads;

static void optimizer_thread(void *arg, size_t th)
{
    optimizer_threads *s = arg;
    vi_error err;
    double c[N];
    optimum(s->ctx, c);
    run_steps(&s->runs[th], s->lambdas + th * N, c, 1, s->steps, &err);
}

/* Two instances stepping at once in two threads behave like one alone:
 * the instances share no hidden state. */
static check_result check_instances(const check_ctx *ctx, char *detail, size_t size)
{
    optimizer_run runs[3];
    vi_error err;
    double lambdas[3 * N] = {0}, c[N];
    size_t opened = 0, steps = check_by_level(ctx, 20, 100, 500);
    check_error_init(&err);
    while (opened < 3 && optimizer_open(ctx, &runs[opened], &err) == 0)
        opened++;
    if (opened < 3) {
        while (opened > 0)
            optimizer_close(&runs[--opened]);
        return check_fail(detail, size, "create failed: %s", check_error_text(&err));
    }
    optimum(ctx, c);
    check_stage(ctx, "%zu steps of one instance", steps);
    run_steps(&runs[2], lambdas + 2 * N, c, 1, steps, &err);
    optimizer_threads s = {ctx, runs, lambdas, steps};
    check_stage(ctx, "%zu steps of two instances in two threads", steps);
    check_result r;
    if (check_threads(2, optimizer_thread, &s) != 0)
        r = check_fail(detail, size, "could not start 2 threads");
    else if (memcmp(lambdas, lambdas + 2 * N, sizeof c) != 0 ||
             memcmp(lambdas + N, lambdas + 2 * N, sizeof c) != 0)
        r = check_fail(detail, size, "two instances stepping at once in two threads end "
                       "elsewhere than one alone: they share state (a global?)");
    else
        r = check_pass(detail, size, "2 instances in 2 threads x %zu steps: the same bits as "
                       "one alone", steps);
    for (size_t i = 0; i < 3; i++)
        optimizer_close(&runs[i]);
    return r;
}

static check_result check_nan(const check_ctx *ctx, char *detail, size_t size)
{
    optimizer_run o;
    vi_error err;
    double lambda[N] = {0}, grad[N];
    check_error_init(&err);
    if (optimizer_open(ctx, &o, &err) != 0)
        return check_fail(detail, size, "create failed: %s", check_error_text(&err));
    check_normals(ctx, 22, 0, grad, N);
    for (size_t i = 0; i < N; i++)
        grad[i] *= 1e100;
    vi_step_info info = {sizeof info, 1, NAN};
    check_stage(ctx, "step with |grad| ~ 1e100 and the ELBO NaN");
    int status = o.d->step(o.self, lambda, grad, &info, &err);
    check_result r = CHECK_PASS;
    for (size_t i = 0; i < N && r == CHECK_PASS; i++)
        if (status == 0 && !isfinite(lambda[i]))
            r = check_fail(detail, size, "a finite gradient of size 1e100 left lambda[%zu] = "
                           "%g (lambda must stay finite when grad is)", i, lambda[i]);
    grad[0] = NAN;
    info.iteration = 2;
    check_stage(ctx, "step with a NaN in grad");
    check_error_init(&err);
    o.d->step(o.self, lambda, grad, &info, &err);
    if (r == CHECK_PASS)
        check_pass(detail, size, "huge gradients leave lambda finite; a NaN gradient is "
                   "survived");
    optimizer_close(&o);
    return r;
}

const check_item vh_optimizer_checks[] = {
    {"create", check_create},
    {"create/destroy repeated", check_leaks},
    {"step", check_step},
    {"learning rate", check_rate},
    {"save/load state", check_state},
    {"independent instances", check_instances},
    {"NaN and infinity", check_nan},
    {NULL, NULL},
};
