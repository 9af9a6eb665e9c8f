/* test-config.c — a component's options checked against its option table:
 * every type read, defaults filled in, the exact one-line message and
 * position of each refusal (unknown key with its suggestion, wrong type,
 * out of range, ragged array, missing required key, a --set value), a bad
 * default blamed on the plugin (exit 3), the getters' contracts, the
 * resolved options written back as YAML, and data-file fallback. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "tap.h"

#define OPT(key, type, required, fallback, lo, hi, doc) \
    {sizeof(vi_option), key, type, required, fallback, lo, hi, doc}

static const vi_option table[] = {
    OPT("sigma", VI_OPTION_DOUBLE, 0, "1", 0, HUGE_VAL, "prior scale"),
    OPT("n", VI_OPTION_INT, 0, "10", 1, 1000, "number of terms"),
    OPT("exact", VI_OPTION_BOOL, 0, "false", 0, 0, "use the exact form"),
    OPT("method", VI_OPTION_STRING, 0, "auto: best", 0, 0, "how to solve"),
    OPT("mu", VI_OPTION_ARRAY, 0, "[0, 0]", -HUGE_VAL, HUGE_VAL, "prior mean"),
    OPT("x", VI_OPTION_ARRAY, 1, NULL, -HUGE_VAL, HUGE_VAL, "the observations"),
    OPT("scale", VI_OPTION_ARRAY, 0, NULL, 0, HUGE_VAL, "scales, all >= 0"),
    OPT("label", VI_OPTION_STRING, 0, NULL, 0, 0, "a name"),
    {0, NULL, 0, 0, NULL, 0, 0, NULL}};

static const vh_pos section = {2, 1};

/* Parses `text` as a run file named run.yaml and returns its `options:`. */
static vh_node *parse_options(const char *text, vh_node **root)
{
    vh_err err = {0, ""};
    *root = NULL;
    if (vh_node_parse_string(text, strlen(text), "run.yaml", root, &err) != 0) {
        diag("%s", err.message);
        return NULL;
    }
    return vh_node_map_get(*root, "options");
}

static vi_config *build(const vi_option *opts, const char *text, const vh_data *data,
                        vh_err *err)
{
    vh_node *root;
    vi_config *cfg = NULL;
    vh_node *options = parse_options(text, &root);
    if (vh_config_build(opts, options, data, "run.yaml", "target 'normal'", section, &cfg,
                        err) != 0)
        cfg = NULL;
    vh_node_free(root);
    return cfg;
}

/* The options in `text` must be refused with `code` and exactly `want`. */
static void expect_error(const vi_option *opts, const char *text, int code, const char *want)
{
    vh_err err = {0, ""};
    vi_config *cfg = build(opts, text, NULL, &err);
    int pass = cfg == NULL && err.exit_code == code && strcmp(err.message, want) == 0;
    ok(pass, "refused: %s", err.message);
    if (!pass)
        diag("wanted: %s", want);
    vh_config_free(cfg);
}

static void test_types(void)
{
    vh_err err = {0, ""};
    vi_config *cfg = build(table,
                           "target: normal\n"
                           "options:\n"
                           "  sigma: 2.5\n"
                           "  n: 5\n"
                           "  exact: true\n"
                           "  method: \"3\"\n"
                           "  mu: [[1, 2], [3, 4], [5, 6]]\n"
                           "  x: 7\n"
                           "  scale: []\n",
                           NULL, &err);
    ok(cfg != NULL, "every type accepted: %s", err.message);
    if (cfg == NULL)
        return;
    double d = 0;
    int64_t i = 0;
    int b = 0;
    const char *str = NULL;
    const double *data = NULL;
    size_t shape[VI_MAX_RANK] = {0}, ndim = 9;
    ok(vh_config_get_double(cfg, "sigma", &d) == VI_OK && d == 2.5, "sigma 2.5");
    ok(vh_config_get_int(cfg, "n", &i) == VI_OK && i == 5, "n 5");
    ok(vh_config_get_bool(cfg, "exact", &b) == VI_OK && b == 1, "exact true");
    ok(vh_config_get_string(cfg, "method", &str) == VI_OK && strcmp(str, "3") == 0,
       "a quoted number is a string");
    ok(vh_config_get_array(cfg, "mu", &data, shape, &ndim) == VI_OK && ndim == 2 &&
           shape[0] == 3 && shape[1] == 2 && data[0] == 1 && data[3] == 4 && data[5] == 6,
       "mu is a 3x2 matrix, row-major");
    ok(vh_config_get_array(cfg, "x", &data, shape, &ndim) == VI_OK && ndim == 0 && data[0] == 7,
       "an array option given one number has rank 0");
    ok(vh_config_get_double(cfg, "x", &d) == VI_OK && d == 7, "and reads as a double");
    ok(vh_config_get_array(cfg, "scale", &data, shape, &ndim) == VI_OK && ndim == 1 &&
           shape[0] == 0,
       "[] is an empty vector");
    ok(vh_config_has(cfg, "sigma") && !vh_config_has(cfg, "label") && !vh_config_has(cfg, "zzz"),
       "has: given yes, absent without default no");
    ok(vh_config_get_int(cfg, "sigma", &i) == VI_ETYPE, "get_int of 2.5 is VI_ETYPE");
    ok(vh_config_get_double(cfg, "n", &d) == VI_OK && d == 5, "get_double of an integer");
    ok(vh_config_get_double(cfg, "mu", &d) == VI_ETYPE, "get_double of an array is VI_ETYPE");
    ok(vh_config_get_bool(cfg, "sigma", &b) == VI_ETYPE &&
           vh_config_get_string(cfg, "n", &str) == VI_ETYPE &&
           vh_config_get_array(cfg, "exact", &data, shape, &ndim) == VI_ETYPE,
       "other mismatches are VI_ETYPE");
    ok(vh_config_get_string(cfg, "label", &str) == VI_ENOTFOUND &&
           vh_config_get_double(cfg, "nope", &d) == VI_ENOTFOUND,
       "absent keys are VI_ENOTFOUND");
    ok(vh_config_get_double(NULL, "sigma", &d) == VI_ENOTFOUND &&
           vh_config_get_int(NULL, "n", &i) == VI_ENOTFOUND && !vh_config_has(NULL, "sigma"),
       "a NULL config has nothing");

    vh_node *node = vh_config_to_node(cfg);
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    vh_node_emit(node, f);
    fclose(f);
    const char *want = "sigma: 2.5\nn: 5\nexact: true\nmethod: \"3\"\n"
                       "mu:\n- [1, 2]\n- [3, 4]\n- [5, 6]\nx: 7\nscale: []\n";
    ok(strcmp(text, want) == 0, "resolved options as YAML");
    if (strcmp(text, want) != 0)
        diag("got:\n%s", text);
    free(text);
    vh_node_free(node);
    vh_config_free(cfg);
}

static void test_defaults(void)
{
    vh_err err = {0, ""};
    vi_config *cfg = build(table, "options: {x: [0.1, 1e-300]}\n", NULL, &err);
    ok(cfg != NULL, "only the required option given: %s", err.message);
    if (cfg == NULL)
        return;
    double d = 0;
    int64_t i = 0;
    int b = 1;
    const char *str = NULL;
    const double *data = NULL;
    size_t shape[VI_MAX_RANK] = {0}, ndim = 0;
    ok(vh_config_get_double(cfg, "sigma", &d) == VI_OK && d == 1, "default sigma 1");
    ok(vh_config_get_int(cfg, "n", &i) == VI_OK && i == 10, "default n 10");
    ok(vh_config_get_bool(cfg, "exact", &b) == VI_OK && b == 0, "default exact false");
    ok(vh_config_get_string(cfg, "method", &str) == VI_OK && strcmp(str, "auto: best") == 0,
       "a string default is taken as written");
    ok(vh_config_get_array(cfg, "mu", &data, shape, &ndim) == VI_OK && ndim == 1 &&
           shape[0] == 2 && data[0] == 0 && data[1] == 0,
       "default mu [0, 0]");
    ok(!vh_config_has(cfg, "scale"), "no default, not given: absent");

    vh_node *node = vh_config_to_node(cfg);
    vh_node *x = vh_node_map_get(node, "x");
    vh_node *method = vh_node_map_get(node, "method");
    ok(node != NULL && node->count == 6 && x != NULL && x->count == 2 &&
           strcmp(x->items[0]->scalar, "0.1") == 0 && strcmp(x->items[1]->scalar, "1e-300") == 0 &&
           method != NULL && method->quoted,
       "to_node: defaults included, shortest exact numbers, strings quoted");
    vh_node_free(node);
    vh_config_free(cfg);

    cfg = build(NULL, "options: {}\n", NULL, &err);
    ok(cfg != NULL && !vh_config_has(cfg, "x"), "no table and no options is fine");
    vh_config_free(cfg);
    cfg = NULL;
    ok(vh_config_build(table, NULL, NULL, "run.yaml", "target 'normal'", section, &cfg, &err) ==
               -1 &&
           strcmp(err.message, "run.yaml:2:1: target 'normal' needs option 'x' (the observations)") == 0,
       "NULL options still need the required key: %s", err.message);
}

static void test_errors(void)
{
    expect_error(table, "target: normal\noptions:\n  sigam: 1\n  x: 1\n", 2,
                 "run.yaml:3:3: unknown option 'sigam' for target 'normal' (did you mean "
                 "'sigma'?; `vihost describe normal` lists them)");
    expect_error(table, "options: {x: 1, zzzzzz: 1}\n", 2,
                 "run.yaml:1:17: unknown option 'zzzzzz' for target 'normal' "
                 "(`vihost describe normal` lists them)");
    expect_error(NULL, "options: {a: 1}\n", 2,
                 "run.yaml:1:11: unknown option 'a' for target 'normal' (it takes no options)");
    expect_error(table, "target: normal\noptions:\n  x: 1\n  sigma: abc\n", 2,
                 "run.yaml:4:10: option 'sigma' of target 'normal' must be a real number, got 'abc'");
    expect_error(table, "options: {x: 1, sigma: -1}\n", 2,
                 "run.yaml:1:24: option 'sigma' of target 'normal' must be in [0, inf], got -1");
    expect_error(table, "options: {x: 1, sigma: .nan}\n", 2,
                 "run.yaml:1:24: option 'sigma' of target 'normal' must be a real number, got '.nan'");
    expect_error(table, "options: {x: 1, sigma: '2'}\n", 2,
                 "run.yaml:1:24: option 'sigma' of target 'normal' must be a real number, "
                 "got \"2\" (in quotes, so text)");
    expect_error(table, "options: {x: 1, n: 2.5}\n", 2,
                 "run.yaml:1:20: option 'n' of target 'normal' must be a whole number, got '2.5'");
    expect_error(table, "options: {x: 1, n: 0}\n", 2,
                 "run.yaml:1:20: option 'n' of target 'normal' must be in [1, 1000], got 0");
    expect_error(table, "options: {x: 1, exact: yes}\n", 2,
                 "run.yaml:1:24: option 'exact' of target 'normal' must be true or false, got 'yes'");
    expect_error(table, "options: {x: 1, method: [a]}\n", 2,
                 "run.yaml:1:25: option 'method' of target 'normal' must be text, got a list");
    expect_error(table, "options: {x: 1, label: }\n", 2,
                 "run.yaml:1:24: option 'label' of target 'normal' must be text, got nothing");
    expect_error(table, "options:\n  x: [[1, 2],\n      [3]]\n", 2,
                 "run.yaml:3:7: option 'x' of target 'normal' must be a rectangular array: "
                 "this list has length 1 where 2 was expected");
    expect_error(table, "options: {x: [[1, 2], 3]}\n", 2,
                 "run.yaml:1:23: option 'x' of target 'normal' must be a rectangular array: "
                 "expected a list here, got '3'");
    expect_error(table, "options: {x: [1, abc]}\n", 2,
                 "run.yaml:1:18: option 'x' of target 'normal' must be a number or a (nested) "
                 "list of numbers, got 'abc'");
    expect_error(table, "options: {x: [[[[[1]]]]]}\n", 2,
                 "run.yaml:1:18: option 'x' of target 'normal' must have at most 4 dimensions");
    expect_error(table, "options: {x: {a: 1}}\n", 2,
                 "run.yaml:1:14: option 'x' of target 'normal' must be a number or a (nested) "
                 "list of numbers, got a mapping");
    expect_error(table, "options: {x: 1, scale: [1, -2]}\n", 2,
                 "run.yaml:1:28: option 'scale' of target 'normal' must be in [0, inf], got -2");
    expect_error(table, "options: {sigma: 1}\n", 2,
                 "run.yaml:2:1: target 'normal' needs option 'x' (the observations)");
    expect_error(table, "options: [1]\n", 2,
                 "run.yaml:1:10: the options of target 'normal' must be a mapping of names to "
                 "values, got a list");
}

static void test_set_origin(void)
{
    vh_pos none = {0, 0};
    vh_node *options = vh_node_new_mapping(none);
    vh_node *x = vh_node_new_scalar("1", 0, none);
    vh_node *sigma = vh_node_new_scalar("abc", 0, none);
    sigma->origin = strdup("target.options.sigma=abc");
    vh_node_map_append(options, "x", none, x);
    vh_node_map_append(options, "sigma", none, sigma);
    vi_config *cfg = NULL;
    vh_err err = {0, ""};
    ok(vh_config_build(table, options, NULL, "run.yaml", "target 'normal'", section, &cfg,
                       &err) == -1 &&
           strcmp(err.message, "--set 'target.options.sigma=abc': option 'sigma' of target "
                               "'normal' must be a real number, got 'abc'") == 0,
       "a --set value is named by its argument: %s", err.message);
    vh_node_map_remove(options, 1);
    vh_node *typo = vh_node_new_scalar("2", 0, none);
    typo->origin = strdup("target.options.sigam=2");
    vh_node_map_append(options, "sigam", none, typo);
    ok(vh_config_build(table, options, NULL, "run.yaml", "target 'normal'", section, &cfg,
                       &err) == -1 &&
           strcmp(err.message, "--set 'target.options.sigam=2': unknown option 'sigam' for "
                               "target 'normal' (did you mean 'sigma'?; `vihost describe "
                               "normal` lists them)") == 0,
       "so is a --set key: %s", err.message);
    vh_node_free(options);
}

/* A table from a newer plugin: bigger entries, walked by struct_size. */
typedef struct newer_option {
    vi_option base;
    double added_in_a_later_minor;
} newer_option;

static void test_plugin_faults(void)
{
    static const vi_option bad_double[] = {
        OPT("sigma", VI_OPTION_DOUBLE, 0, "abc", 0, HUGE_VAL, "prior scale"),
        {0, NULL, 0, 0, NULL, 0, 0, NULL}};
    static const vi_option bad_range[] = {
        OPT("sigma", VI_OPTION_DOUBLE, 0, "-1", 0, HUGE_VAL, "prior scale"),
        {0, NULL, 0, 0, NULL, 0, 0, NULL}};
    static const vi_option bad_array[] = {
        OPT("mu", VI_OPTION_ARRAY, 0, "[1, [2]", -HUGE_VAL, HUGE_VAL, "mean"),
        {0, NULL, 0, 0, NULL, 0, 0, NULL}};
    expect_error(bad_double, "options: {}\n", 3,
                 "target 'normal': option 'sigma' has an invalid default 'abc': it must be a "
                 "real number, got 'abc' (a fault in the plugin)");
    expect_error(bad_range, "options: {}\n", 3,
                 "target 'normal': option 'sigma' has an invalid default '-1': it must be in "
                 "[0, inf], got -1 (a fault in the plugin)");
    expect_error(bad_array, "options: {}\n", 3,
                 "target 'normal': option 'mu' has an invalid default '[1, [2]': it must be a "
                 "number or a (nested) list of numbers (a fault in the plugin)");

    static const newer_option newer[] = {
        {{sizeof(newer_option), "a", VI_OPTION_INT, 0, "1", 0, 9, "a"}, 1},
        {{sizeof(newer_option), "b", VI_OPTION_INT, 0, "2", 0, 9, "b"}, 2},
        {{0, NULL, 0, 0, NULL, 0, 0, NULL}, 0}};
    const vi_option *t = &newer[0].base;
    ok(vh_option_count(t) == 2 && strcmp(vh_option_at(t, 1)->key, "b") == 0,
       "a table of bigger entries is walked by struct_size");
    vh_err err = {0, ""};
    vi_config *cfg = build(t, "options: {b: 5}\n", NULL, &err);
    int64_t a = 0, b = 0;
    ok(cfg != NULL && vh_config_get_int(cfg, "a", &a) == VI_OK && a == 1 &&
           vh_config_get_int(cfg, "b", &b) == VI_OK && b == 5,
       "and read: %s", err.message);
    vh_config_free(cfg);
    ok(vh_option_count(table) == 8 && vh_option_count(NULL) == 0, "vh_option_count");
    ok(strcmp(vh_option_type_name(VI_OPTION_DOUBLE), "real") == 0 &&
           strcmp(vh_option_type_name(VI_OPTION_ARRAY), "array") == 0,
       "vh_option_type_name");
}

/* Data fallback: the only part that needs data.c (vh_data_load). */
static void test_data(void)
{
    char dir[] = "/tmp/vh-test-config-XXXXXX", path[600];
    if (mkdtemp(dir) == NULL) {
        ok(0, "mkdtemp: %s", strerror(errno));
        return;
    }
    snprintf(path, sizeof path, "%s/data.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"N\": 3, \"y\": [1.5, 2, 3], \"sigma\": 5}\n", f);
    fclose(f);
    vh_data *data = NULL;
    vh_err err = {0, ""};
    ok(vh_data_load(path, &data, &err) == 0, "data file loads: %s", err.message);
    vi_config *cfg = build(table, "options: {x: 1, sigma: 2}\n", data, &err);
    double d = 0;
    int64_t n = 0;
    const double *y = NULL;
    size_t shape[VI_MAX_RANK] = {0}, ndim = 0;
    ok(cfg != NULL && vh_config_get_double(cfg, "sigma", &d) == VI_OK && d == 2,
       "an option hides a data variable of the same name");
    ok(vh_config_get_int(cfg, "N", &n) == VI_OK && n == 3 && vh_config_has(cfg, "y"),
       "data variables are read through the same getters");
    ok(vh_config_get_array(cfg, "y", &y, shape, &ndim) == VI_OK && ndim == 1 && shape[0] == 3 &&
           y[0] == 1.5 && vh_config_get_int(cfg, "y", &n) == VI_ETYPE,
       "a data vector");
    ok(vh_config_get_double(cfg, "missing", &d) == VI_ENOTFOUND, "absent from both");
    vh_config_free(cfg);
    vh_data_free(data);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    test_types();
    test_defaults();
    test_errors();
    test_set_origin();
    test_plugin_faults();
    test_data();
    return tap_done();
}
