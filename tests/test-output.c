/* test-output.c — the output folder (staging, commit, abort, refusal) and
 * the exact bytes of every output file. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "output.h"
#include "tap.h"

static char root[256];

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* The number of entries in a folder (without . and ..); -1 if absent. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* Whether `dir` holds an entry starting with `prefix`. */
static int has_entry_prefix(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            found = 1;
    closedir(d);
    return found;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&buf, &size);
    int c;
    while ((c = fgetc(f)) != EOF)
        fputc(c, mem);
    fclose(f);
    fclose(mem);
    return buf;
}

static void spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Recursively removes what the tests made under root. */
static void remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char child[1024];
            snprintf(child, sizeof child, "%s/%s", path, e->d_name);
            remove_tree(child);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int write_text(vh_outdir *od, const char *name, const char *text)
{
    vh_err err = {0, ""};
    FILE *f = vh_outdir_open(od, name, &err);
    if (!f) {
        diag("open %s: %s", name, err.message);
        return -1;
    }
    fputs(text, f);
    if (vh_outdir_close(od, f, &err) != 0) {
        diag("close %s: %s", name, err.message);
        return -1;
    }
    return 0;
}

/* Commits; on failure the folder is still ours to abort. */
static int commit(vh_outdir *od, vh_err *err)
{
    if (vh_outdir_commit(od, err) == 0)
        return 0;
    vh_outdir_abort(od);
    return -1;
}

static void test_commit_new(void)
{
    char parent[400], dir[512], file[600];
    vh_outdir *od = NULL;
    vh_err err = {0, ""};
    snprintf(parent, sizeof parent, "%s/new/deeper", root);
    snprintf(dir, sizeof dir, "%s/out/", parent);   /* a trailing slash is fine */
    int rc = vh_outdir_begin(dir, &od, &err);
    ok(rc == 0 && od, "begin with missing parents (%s)", err.message);
    if (!od)
        return;
    ok(exists(parent) && has_entry_prefix(parent, ".out.vihost-"),
       "the parents exist and hold the staging folder .out.vihost-*");
    snprintf(dir, sizeof dir, "%s/out", parent);
    ok(!exists(dir), "the output folder does not exist before commit");
    ok(strcmp(vh_outdir_path(od), dir) == 0, "vh_outdir_path drops the slash");
    ok(write_text(od, "a.txt", "first\n") == 0 && write_text(od, "b.txt", "b\n") == 0 &&
           write_text(od, "a.txt", "second\n") == 0,
       "write a.txt, b.txt, a.txt again");
    rc = commit(od, &err);
    ok(rc == 0, "commit (%s)", err.message);
    snprintf(file, sizeof file, "%s/a.txt", dir);
    char *text = slurp(file);
    ok(text && strcmp(text, "second\n") == 0 && count_entries(dir) == 2,
       "the folder holds a.txt (rewritten) and b.txt only");
    free(text);
    ok(count_entries(parent) == 1, "no staging folder is left");

    mode_t mask = umask(022);
    umask(mask);
    struct stat st;
    unsigned mode = stat(dir, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0;
    ok(mode == (0777 & ~(unsigned)mask),
       "the new folder has mode 0777 & ~umask (%03o), not mkdtemp's 0700", mode);
}

static void test_commit_existing(void)
{
    char dir[512], file[600];
    vh_outdir *od = NULL;
    vh_err err = {0, ""};
    snprintf(dir, sizeof dir, "%s/existing", root);
    mkdir(dir, 0755);
    snprintf(file, sizeof file, "%s/summary.csv", dir);
    spit(file, "old\n");
    snprintf(file, sizeof file, "%s/notes.txt", dir);
    spit(file, "keep\n");

    int rc = vh_outdir_begin(dir, &od, &err);
    ok(rc == 0 && write_text(od, "summary.csv", "new\n") == 0 &&
           write_text(od, "trace.csv", "t\n") == 0,
       "begin over an existing folder and stage two files");
    snprintf(file, sizeof file, "%s/summary.csv", dir);
    char *text = slurp(file);
    ok(text && strcmp(text, "old\n") == 0, "the old file is untouched before commit");
    free(text);
    rc = commit(od, &err);
    text = slurp(file);
    ok(rc == 0 && text && strcmp(text, "new\n") == 0, "commit replaces summary.csv");
    free(text);
    ok(count_entries(dir) == 3, "notes.txt stays, trace.csv arrives");
    ok(!has_entry_prefix(root, ".existing.vihost-"), "the staging folder is gone");
}

static void test_abort(void)
{
    char top[400], dir[512];
    vh_outdir *od = NULL;
    vh_err err = {0, ""};
    snprintf(top, sizeof top, "%s/aborted", root);
    snprintf(dir, sizeof dir, "%s/x/out", top);
    int rc = vh_outdir_begin(dir, &od, &err);
    FILE *left_open = od ? vh_outdir_open(od, "open.csv", &err) : NULL;
    ok(rc == 0 && write_text(od, "done.csv", "1\n") == 0 && left_open,
       "begin, one file closed and one left open");
    if (left_open)
        fputs("partial", left_open);
    vh_outdir_abort(od);
    ok(!exists(dir) && !exists(top), "abort leaves nothing: no folder, no parents");
    ok(count_entries(root) >= 0 && !has_entry_prefix(root, "aborted"),
       "nothing named aborted* remains");
    vh_outdir_abort(NULL);
    ok(1, "vh_outdir_abort(NULL) is a no-op");

    /* Abort beside an existing folder leaves it as it was. */
    snprintf(dir, sizeof dir, "%s/existing", root);
    int before = count_entries(dir);
    rc = vh_outdir_begin(dir, &od, &err);
    ok(rc == 0 && write_text(od, "summary.csv", "aborted\n") == 0, "begin again");
    vh_outdir_abort(od);
    char file[600];
    snprintf(file, sizeof file, "%s/summary.csv", dir);
    char *text = slurp(file);
    ok(text && strcmp(text, "new\n") == 0 && count_entries(dir) == before &&
           !has_entry_prefix(root, ".existing.vihost-"),
       "abort over an existing folder changes nothing");
    free(text);
}

static void test_commit_failure(void)
{
    char dir[512], blocker[600], inner[700];
    vh_outdir *od = NULL;
    vh_err err = {0, ""};
    snprintf(dir, sizeof dir, "%s/blocked", root);
    mkdir(dir, 0755);
    /* A non-empty folder where summary.csv should go: its rename fails. */
    snprintf(blocker, sizeof blocker, "%s/summary.csv", dir);
    mkdir(blocker, 0755);
    snprintf(inner, sizeof inner, "%s/keep", blocker);
    spit(inner, "x\n");
    int rc = vh_outdir_begin(dir, &od, &err);
    rc |= write_text(od, "summary.csv", "s\n");
    rc = rc == 0 ? vh_outdir_commit(od, &err) : 0;
    ok(rc != 0 && err.exit_code == 1 &&
           strstr(err.message, "cannot move output file 'summary.csv' into"),
       "a failed commit reports the file: %s", err.message);
    vh_outdir_abort(od);
    ok(!has_entry_prefix(root, ".blocked.vihost-") && exists(inner),
       "abort after a failed commit removes the staging folder only");
}

static void expect_refusal(const char *dir, const char *want)
{
    vh_outdir *od = (vh_outdir *)1;
    vh_err err = {0, ""};
    int before = count_entries(root);
    int rc = vh_outdir_begin(dir, &od, &err);
    ok(rc != 0 && od == NULL && err.exit_code == 2 &&
           strstr(err.message, want) && strstr(err.message, "choose another output.dir") &&
           count_entries(root) == before,
       "refused, nothing created: %s", err.message);
}

static void test_refusals(void)
{
    char file[512], dir[600], msg[700];
    snprintf(file, sizeof file, "%s/file.txt", root);
    spit(file, "a file\n");
    snprintf(dir, sizeof dir, "%s/out", file);
    snprintf(msg, sizeof msg, "cannot write output folder '%s': Not a directory", dir);
    expect_refusal(dir, msg);
    snprintf(dir, sizeof dir, "%s/deeper/out", file);
    expect_refusal(dir, "Not a directory");
    expect_refusal(file, "Not a directory");
    snprintf(dir, sizeof dir, "%s/.", root);
    expect_refusal(dir, "must end in a folder name");
    expect_refusal("/", "must end in a folder name");

    vh_outdir *od = NULL;
    vh_err err = {0, ""};
    ok(vh_outdir_begin("", &od, &err) != 0 && err.exit_code == 2 && od == NULL,
       "an empty output.dir is refused");

    if (geteuid() == 0) {
        ok(1, "read-only parent # SKIP running as root");
        ok(1, "read-only output folder # SKIP running as root");
    } else {
        snprintf(dir, sizeof dir, "%s/locked", root);
        mkdir(dir, 0500);
        snprintf(file, sizeof file, "%s/locked/out", root);
        expect_refusal(file, "Permission denied");
        /* An existing folder that files cannot be moved into. */
        expect_refusal(dir, "Permission denied");
        chmod(dir, 0700);
    }
}

static void test_misuse(void)
{
    char dir[512];
    vh_outdir *od = NULL;
    vh_err err = {0, ""};
    snprintf(dir, sizeof dir, "%s/misuse", root);
    if (!ok(vh_outdir_begin(dir, &od, &err) == 0, "begin misuse"))
        return;
    ok(vh_outdir_open(od, "../escape", &err) == NULL && err.exit_code == 1,
       "a name with a slash is refused: %s", err.message);
    FILE *f = vh_outdir_open(od, "x.csv", &err);
    ok(f && vh_outdir_open(od, "x.csv", &err) == NULL,
       "a file cannot be opened twice at once: %s", err.message);
    FILE *stray = tmpfile();
    ok(vh_outdir_close(od, stray, &err) != 0, "closing a stray file is an error");
    if (f)
        fputs("kept open", f);
    ok(commit(od, &err) == 0, "commit closes a file left open");
    char path[600];
    snprintf(path, sizeof path, "%s/x.csv", dir);
    char *text = slurp(path);
    ok(text && strcmp(text, "kept open") == 0, "... and its content arrives");
    free(text);
}

/* Shows text as TAP diagnostics, one "# " line per line. */
static void diag_lines(const char *text)
{
    diag("got:");
    while (text && *text) {
        size_t n = strcspn(text, "\n");
        diag("%.*s", (int)n, text);
        text += n + (text[n] == '\n');
    }
}

/* Runs a writer into a memory stream and compares the bytes. */
#define EXPECT_BYTES(want, what, call)                                        \
    do {                                                                      \
        char *buf_ = NULL;                                                    \
        size_t size_ = 0;                                                     \
        FILE *out = open_memstream(&buf_, &size_);                            \
        int rc_ = (call);                                                     \
        fclose(out);                                                          \
        int same_ = rc_ == 0 && strcmp(buf_, want) == 0;                      \
        ok(same_, "%s: exact bytes", what);                                   \
        if (!same_)                                                           \
            diag_lines(buf_);                                                 \
        free(buf_);                                                           \
    } while (0)

static int number_row(FILE *out)
{
    const double xs[] = {0.1, 1.0 / 3, 1e-20, 123456789012.0, -2.5, 1e6, -0.0,
                         NAN, INFINITY, -INFINITY, 5e-324, 3};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        vh_csv_number(out, xs[i]);
        fputc(' ', out);
    }
    return 0;
}

static void test_csv_bytes(void)
{
    EXPECT_BYTES("0.1 0.333333333 1e-20 1.23456789e+11 -2.5 1000000 -0 nan inf -inf "
                 "4.94065646e-324 3 ",
                 "vh_csv_number", number_row(out));

    const char *names[] = {"mu", "L[2,1]", "say \"hi\""};
    const double mean[] = {0.5, -1, 2}, sd[] = {1, NAN, 0.25},
                 q05[] = {-1.14485363, -INFINITY, 1.5}, q50[] = {0.5, -1, 2},
                 q95[] = {2.14485363, INFINITY, 2.5};
    EXPECT_BYTES("name,mean,sd,q05,q50,q95\n"
                 "mu,0.5,1,-1.14485363,0.5,2.14485363\n"
                 "\"L[2,1]\",-1,nan,-inf,-1,inf\n"
                 "\"say \"\"hi\"\"\",2,0.25,1.5,2,2.5\n",
                 "summary.csv",
                 vh_write_summary_csv(out, 3, names, mean, sd, q05, q50, q95));

    const char *comments[] = {"vihost 0.1.0", "two\nlines", NULL};
    const double log_p[] = {-1.5, -2}, log_g[] = {-0.5, -0.75};
    const double draws[] = {0.1, 0.2, 0.3, 1.1, 1.2, 1.3};
    EXPECT_BYTES("# vihost 0.1.0\n"
                 "# two\n"
                 "# lines\n"
                 "lp__,log_p__,log_g__,mu,\"L[2,1]\",\"say \"\"hi\"\"\"\n"
                 "0,0,0,0.5,-1,2\n"
                 "0,-1.5,-0.5,0.1,0.2,0.3\n"
                 "0,-2,-0.75,1.1,1.2,1.3\n",
                 "draws.csv",
                 vh_write_draws_csv(out, comments, 3, names, mean, 2, log_p, log_g,
                                    draws));
    EXPECT_BYTES("lp__,log_p__,log_g__\n0,0,0\n", "draws.csv with nothing",
                 vh_write_draws_csv(out, NULL, 0, NULL, NULL, 0, NULL, NULL, NULL));

    const vh_trace_row rows[] = {
        {100, -12.25, 0.5, NAN, 0.125, 0.01, 3.5, 0.05, NAN, 0, 0, "fit"},
        {200, -10.5, 0.25, 0.142857143, 0.0625, 0.02, 0.25, 0.025, 12.5, 3, 1, "fit"},
        {18446744073709551615u, NAN, INFINITY, -0.5, 0, 1234.5, NAN, NAN, NAN, 7, 0, "adapt"},
    };
    EXPECT_BYTES("iter,elbo,elbo_mcse,rel_change,step_norm,seconds,grad_norm,step_size,"
                 "grad_snr,redraws,skipped,phase\n"
                 "100,-12.25,0.5,,0.125,0.01,3.5,0.05,,0,0,fit\n"
                 "200,-10.5,0.25,0.142857143,0.0625,0.02,0.25,0.025,12.5,3,1,fit\n"
                 "18446744073709551615,nan,inf,-0.5,0,1234.5,,,,7,0,adapt\n",
                 "trace.csv", vh_write_trace_csv(out, 3, rows));
}

static const char *const result_keys[] = {
    "target", "family", "optimizer", "seed", "iterations", "converged",
    "stop_reason", "elbo", "elbo_mcse", "iw_elbo", "log_evidence",
    "log_evidence_mcse", "khat", "ess", "iw_samples", "gradient_evaluations",
    "seconds", "log_evidence_exact", "kl_exact"};

static vh_result sample_result(void)
{
    vh_result r = {
        .target = {"normal", "/usr/lib/vihost/targets.so", "0.1.0"},
        .family = {"meanfield", "/usr/lib/vihost/fam\xff.so", "1.2.3"},
        .optimizer = {"adam", NULL, "0.1.0"},
        .seed = 20261121,
        .iterations = 4200,
        .converged = 1,
        .stop_reason = "relative tolerance reached",
        .elbo = -12.345678901234567,
        .elbo_mcse = 0.1,
        .iw_elbo = NAN,
        .log_evidence = -12.0,
        .log_evidence_mcse = INFINITY,
        .khat = 0.25,
        .ess = 812.5,
        .iw_samples = 1000,
        .gradient_evaluations = 4200,
        .seconds = 1.5,
        .has_log_evidence_exact = 1,
        .log_evidence_exact = -11.98,
        .has_kl_exact = 1,
        .kl_exact = NAN,
    };
    return r;
}

static void test_result_json(void)
{
    char dir[512], path[600];
    vh_outdir *od = NULL;
    vh_err err = {0, ""};
    vh_result r = sample_result();
    snprintf(dir, sizeof dir, "%s/result", root);
    FILE *f = NULL;
    int rc = vh_outdir_begin(dir, &od, &err);
    if (rc == 0)
        f = vh_outdir_open(od, "result.json", &err);
    rc = f ? vh_write_result_json(f, &r) : -1;
    rc |= f ? vh_outdir_close(od, f, &err) : -1;
    rc |= od ? commit(od, &err) : -1;
    ok(rc == 0, "result.json written and committed (%s)", err.message);

    snprintf(path, sizeof path, "%s/result.json", dir);
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!ok(doc && json_is_object(doc), "result.json parses back (%s)", jerr.text))
        return;
    size_t i = 0;
    int in_order = json_object_size(doc) == 19;
    const char *key;
    json_t *value;
    json_object_foreach(doc, key, value) {
        if (i >= 19 || strcmp(key, result_keys[i]) != 0)
            in_order = 0;
        i++;
    }
    ok(in_order, "every key, in order (%zu keys)", json_object_size(doc));
    json_t *target = json_object_get(doc, "target");
    ok(json_is_string(json_object_get(target, "name")) &&
           strcmp(json_string_value(json_object_get(target, "plugin")),
                  "/usr/lib/vihost/targets.so") == 0,
       "target is {name, plugin, version}");
    ok(strcmp(json_string_value(json_object_get(json_object_get(doc, "family"), "plugin")),
              "/usr/lib/vihost/fam?.so") == 0,
       "a non-UTF-8 plugin path is made printable");
    ok(json_is_null(json_object_get(json_object_get(doc, "optimizer"), "plugin")),
       "a NULL string is null");
    ok(json_integer_value(json_object_get(doc, "seed")) == 20261121 &&
           json_is_true(json_object_get(doc, "converged")) &&
           json_integer_value(json_object_get(doc, "iw_samples")) == 1000,
       "seed, converged, iw_samples");
    ok(json_real_value(json_object_get(doc, "elbo")) == -12.345678901234567 &&
           json_real_value(json_object_get(doc, "elbo_mcse")) == 0.1,
       "reals round-trip exactly");
    ok(json_is_null(json_object_get(doc, "iw_elbo")) &&
           json_is_null(json_object_get(doc, "log_evidence_mcse")) &&
           json_is_null(json_object_get(doc, "kl_exact")),
       "NaN and inf are null");
    json_decref(doc);

    char *text = slurp(path);
    size_t n = text ? strlen(text) : 0;
    ok(n > 2 && text[n - 1] == '\n' && text[n - 2] == '}' &&
           strstr(text, "{\n  \"target\": {\n    \"name\": \"normal\",") &&
           strstr(text, "\"elbo_mcse\": 0.10000000000000001,"),
       "two-space indent, 17 digits, a final newline");

    /* The same result gives the same bytes; no exact values, no keys. */
    char *again = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&again, &size);
    vh_write_result_json(mem, &r);
    fclose(mem);
    ok(text && strcmp(text, again) == 0, "byte-identical for identical input");
    free(again);
    free(text);

    r.has_log_evidence_exact = 0;
    r.has_kl_exact = 0;
    r.seed = UINT64_MAX;
    mem = open_memstream(&again, &size);
    rc = vh_write_result_json(mem, &r);
    fclose(mem);
    doc = json_loads(again, 0, &jerr);
    ok(rc == 0 && doc && json_object_size(doc) == 17 &&
           !json_object_get(doc, "log_evidence_exact") &&
           !json_object_get(doc, "kl_exact"),
       "exact values absent when not known");
    ok(doc && json_is_string(json_object_get(doc, "seed")) &&
           strcmp(json_string_value(json_object_get(doc, "seed")),
                  "18446744073709551615") == 0,
       "a seed above INT64_MAX is written exactly, as a string");
    json_decref(doc);
    free(again);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/vihost-test-output-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(root)) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    test_commit_new();
    test_commit_existing();
    test_abort();
    test_commit_failure();
    test_refusals();
    test_misuse();
    test_csv_bytes();
    test_result_json();
    remove_tree(root);
    return tap_done();
}
