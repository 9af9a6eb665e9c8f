/* test-sdk.c — host pieces for plugin writers: the exports read from a
 * plugin's ELF file, the finite-difference gradient of a target with
 * VI_FLAG_NO_GRADIENT, and the "data_file" configuration key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elfsyms.h"
#include "estimators.h"
#include "fixture.h"
#include "scratch.h"
#include "tap.h"

#ifndef TEST_PLUGIN_DIR
#error "TEST_PLUGIN_DIR must name the built test plugins"
#endif

static void test_exports(scratch *s)
{
    char path[1024], **names;
    size_t n;
    vh_err err;
    fixture_plugin_path(path, sizeof path, "targets", "normal");
    vh_err_clear(&err);
    int rc = vh_elf_exports(path, &names, &n, &err);
    ok(rc == 0 && n == 1 && strcmp(names[0], "vi_plugin_entry") == 0,
       "normal.so exports exactly vi_plugin_entry (%zu symbols)", n);
    if (rc == 0)
        vh_elf_exports_free(names, n);

    snprintf(path, sizeof path, "%s/extra_export.so", TEST_PLUGIN_DIR);
    rc = vh_elf_exports(path, &names, &n, &err);
    int entry = 0, helper = 0;
    size_t counted = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        entry |= strcmp(names[i], "vi_plugin_entry") == 0;
        helper |= strcmp(names[i], "extra_exported_helper") == 0;
        /* A sanitizer build adds "__odr_asan.NAME" twins. */
        counted += strncmp(names[i], "__odr_asan", 10) != 0;
    }
    ok(rc == 0 && counted == 2 && entry && helper,
       "extra_export.so exports the entry and extra_exported_helper (%zu symbols)", counted);
    if (rc == 0)
        vh_elf_exports_free(names, n);

    const char *text = scratch_text(s, "notelf.so", "not an ELF file at all\n");
    rc = vh_elf_exports(text, &names, &n, &err);
    ok(rc != 0 && err.exit_code == VH_EXIT_PLUGIN && strstr(err.message, "not an ELF file"),
       "a text file is refused: %s", err.message);

    /* The first 200 bytes of a real plugin: a header whose tables lie beyond the end. */
    FILE *f = fopen(path, "rb");
    char head[200];
    size_t got = f ? fread(head, 1, sizeof head, f) : 0;
    if (f)
        fclose(f);
    const char *cut = scratch_file(s, "cut.so", head, got);
    vh_err_clear(&err);
    rc = vh_elf_exports(cut, &names, &n, &err);
    ok(got == sizeof head && rc != 0 && strstr(err.message, "damaged"),
       "a truncated ELF file is refused: %s", err.message);
}

/* The host's finite differences on a copy of a real target's descriptor
 * with VI_FLAG_NO_GRADIENT, against that target's own gradient. */
static void test_finite_differences(const char *target, const char *data, size_t points)
{
    fixture fx;
    if (fixture_open(&fx, target, NULL, data, NULL, NULL, NULL, NULL) != 0) {
        ok(0, "%s: fixture: %s", target, fx.err.message);
        return;
    }
    vi_target_desc nograd = *fx.model.target;
    nograd.flags |= VI_FLAG_NO_GRADIENT;
    vh_model m = fx.model;
    m.target = &nograd;
    size_t dim = m.dim;
    double *theta = calloc(dim, sizeof *theta), *exact = calloc(dim, sizeof *exact);
    double *fd = calloc(dim, sizeof *fd), *work = calloc(m.target_work + 1, sizeof *work);
    double worst = 0.0, lp_exact = 0.0, lp_fd = 0.0;
    int failed = 0, moved = 0;
    for (size_t k = 0; k < points; k++) {
        vi_error perr = {sizeof perr, 0, ""};
        for (size_t i = 0; i < dim; i++)
            theta[i] = 0.3 * (double)(k + 1) * (i % 2 ? -1.0 : 1.0) + 0.1 * (double)i;
        double *before = malloc(dim * sizeof *before);
        memcpy(before, theta, dim * sizeof *theta);
        failed |= fx.model.target->log_density(fx.model.target_self, theta, &lp_exact, exact,
                                               work, &perr) != 0;
        failed |= vh_target_log_density(&m, theta, &lp_fd, fd, work, &perr) != 0;
        moved |= memcmp(before, theta, dim * sizeof *theta) != 0;
        free(before);
        failed |= lp_fd != lp_exact;
        for (size_t i = 0; i < dim; i++) {
            double e = fabs(fd[i] - exact[i]) / fmax(1.0, fabs(exact[i]));
            worst = e > worst ? e : worst;
        }
    }
    ok(!failed && !moved && worst < 1e-7,
       "%s (dim %zu): central differences match the analytic gradient at %zu points "
       "(worst relative error %.2g); theta is put back exactly", target, dim, points, worst);
    free(theta);
    free(exact);
    free(fd);
    free(work);
    fixture_free(&fx);
}

/* A target's config offers the data file's absolute path as "data_file". */
static void test_data_file(scratch *s)
{
    char path[1024], *real;
    vh_data *data = NULL;
    vi_config *cfg = NULL;
    vh_err err;
    const char *got = NULL;
    snprintf(path, sizeof path, "%s/share/data/normal.json", SOURCE_DIR);
    real = realpath(path, NULL);
    vh_err_clear(&err);
    static const vi_option none[] = {{sizeof(vi_option), NULL, 0, 0, NULL, 0, 0, NULL}};
    int rc = vh_data_load(path, &data, &err) ||
             vh_config_build(none, NULL, data, "test", "target 't'", (vh_pos){1, 1}, &cfg, &err);
    int found = rc == 0 && vh_config_get_string(cfg, "data_file", &got) == VI_OK;
    ok(found && real && strcmp(got, real) == 0 && vh_config_has(cfg, "data_file"),
       "data_file is the data file's absolute path: %s", got ? got : "(none)");
    vh_config_free(cfg);
    cfg = NULL;

    rc = vh_config_build(none, NULL, NULL, "test", "family 'f'", (vh_pos){1, 1}, &cfg, &err);
    ok(rc == 0 && vh_config_get_string(cfg, "data_file", &got) == VI_ENOTFOUND,
       "without a data file there is no data_file");
    vh_config_free(cfg);
    cfg = NULL;

    /* A target that declares its own data_file option keeps it. */
    static const vi_option own[] = {
        {sizeof(vi_option), "data_file", VI_OPTION_STRING, 0, "mine.json", 0, 0, "its own"},
        {sizeof(vi_option), NULL, 0, 0, NULL, 0, 0, NULL}};
    got = NULL;
    rc = vh_config_build(own, NULL, data, "test", "target 't'", (vh_pos){1, 1}, &cfg, &err);
    found = rc == 0 && vh_config_get_string(cfg, "data_file", &got) == VI_OK;
    ok(found && got && strcmp(got, "mine.json") == 0,
       "a target's own data_file option wins over the host's: %s", got ? got : "(none)");
    vh_config_free(cfg);
    vh_data_free(data);
    free(real);
    (void)s;
}

int main(void)
{
    scratch s;
    scratch_open(&s, "vihost-test-sdk");
    test_exports(&s);
    test_finite_differences("normal", "normal.json", 5);
    test_finite_differences("logistic", "logistic.json", 5);
    test_data_file(&s);
    scratch_remove(&s);
    return tap_done();
}
