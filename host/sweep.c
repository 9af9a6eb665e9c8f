/* sweep.c — a grid of runs (see sweep.h). */
#include "sweep.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dist.h"
#include "node.h"
#include "output.h"
#include "runfile.h"
#include "threads.h"

/* Folder names are cut to this many bytes. */
#define SWEEP_NAME_MAX 120

typedef struct sweep {
    const vh_run_request *req;
    vh_runfile *run;             /* the run file with the request's --set values */
    size_t n_axes;
    const char **keys;           /* per axis: the run-file key */
    const vh_node **values;      /* per axis: the list of values */
    char ***text;                /* per axis, per value: its flow text */
    size_t n_runs;
    char **names;                /* per run: its folder's name */
    char **dirs;                 /* per run: output.dir/name */
    int *codes;                  /* per run: its exit status */
    char **errors;               /* per run: why it failed, or NULL */
    size_t threads;              /* threads: for a run of --jobs J > 1 (0: as written) */
} sweep;

/* ---- values as --set text ---- */

/* A plain scalar that reads back the same in flow context. */
static int flow_plain_ok(const char *s)
{
    if (*s == '\0')
        return 0;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && strchr("._+-/~", *p) == NULL)
            return 0;
    return 1;
}

static int flow_append(char **buf, size_t *len, size_t *cap, const char *text)
{
    size_t n = strlen(text);
    if (*len + n + 1 > *cap) {
        size_t want = (*len + n + 1) * 2;
        char *more = realloc(*buf, want);
        if (more == NULL)
            return -1;
        *buf = more;
        *cap = want;
    }
    memcpy(*buf + *len, text, n + 1);
    *len += n;
    return 0;
}

/* A double-quoted YAML string (JSON's escapes, which YAML reads). */
static int flow_quoted(char **buf, size_t *len, size_t *cap, const char *s)
{
    int rc = flow_append(buf, len, cap, "\"");
    for (const unsigned char *p = (const unsigned char *)s; rc == 0 && *p; p++) {
        char one[8];
        if (*p == '"' || *p == '\\')
            snprintf(one, sizeof one, "\\%c", *p);
        else if (*p < 0x20)
            snprintf(one, sizeof one, "\\x%02x", *p);
        else
            snprintf(one, sizeof one, "%c", *p);
        rc = flow_append(buf, len, cap, one);
    }
    return rc != 0 ? -1 : flow_append(buf, len, cap, "\"");
}

/* The node as one line of YAML flow text, as --set reads it. */
static int flow_node(const vh_node *node, char **buf, size_t *len, size_t *cap)
{
    int rc = 0;
    if (node->kind == VH_NODE_SCALAR)
        return !node->quoted && flow_plain_ok(node->scalar)
                   ? flow_append(buf, len, cap, node->scalar)
                   : flow_quoted(buf, len, cap, node->scalar);
    int map = node->kind == VH_NODE_MAPPING;
    rc = flow_append(buf, len, cap, map ? "{" : "[");
    for (size_t i = 0; rc == 0 && i < node->count; i++) {
        if (i > 0)
            rc = flow_append(buf, len, cap, ", ");
        if (rc == 0 && map)
            rc = flow_quoted(buf, len, cap, node->keys[i]) ||
                 flow_append(buf, len, cap, ": ");
        if (rc == 0)
            rc = flow_node(node->items[i], buf, len, cap);
    }
    return rc != 0 ? -1 : flow_append(buf, len, cap, map ? "}" : "]");
}

static char *flow_text(const vh_node *node)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    if (flow_append(&buf, &len, &cap, "") != 0 || flow_node(node, &buf, &len, &cap) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ---- the grid ---- */

static void sweep_free(sweep *sw)
{
    for (size_t a = 0; sw->text != NULL && a < sw->n_axes; a++) {
        for (size_t v = 0; sw->text[a] != NULL && v < sw->values[a]->count; v++)
            free(sw->text[a][v]);
        free(sw->text[a]);
    }
    for (size_t r = 0; r < sw->n_runs; r++) {
        if (sw->names)
            free(sw->names[r]);
        if (sw->dirs)
            free(sw->dirs[r]);
        if (sw->errors)
            free(sw->errors[r]);
    }
    free(sw->text);
    free(sw->keys);
    free(sw->values);
    free(sw->names);
    free(sw->dirs);
    free(sw->codes);
    free(sw->errors);
    vh_runfile_free(sw->run);
    memset(sw, 0, sizeof *sw);
}

/* The value of axis a in run r (the last axis varies fastest). */
static size_t sweep_digit(const sweep *sw, size_t r, size_t a)
{
    for (size_t b = sw->n_axes; b-- > a + 1;)
        r /= sw->values[b]->count;
    return r % sw->values[a]->count;
}

/* "003_seed-1_family-fullrank": the run's number and its values, each
 * reduced to file-name characters (a list or mapping value by its place in
 * its list). */
static char *sweep_name(const sweep *sw, size_t r)
{
    char name[SWEEP_NAME_MAX + 64];
    size_t used = (size_t)snprintf(name, sizeof name, "%0*zu",
                                   sw->n_runs >= 1000 ? (sw->n_runs >= 10000 ? 5 : 4) : 3,
                                   r + 1);
    for (size_t a = 0; a < sw->n_axes && used < SWEEP_NAME_MAX; a++) {
        size_t v = sweep_digit(sw, r, a);
        const vh_node *value = sw->values[a]->items[v];
        const char *key = strrchr(sw->keys[a], '.') ? strrchr(sw->keys[a], '.') + 1
                                                    : sw->keys[a];
        char shown[64];
        if (value->kind == VH_NODE_SCALAR)
            snprintf(shown, sizeof shown, "%s", value->scalar);
        else if (value->kind == VH_NODE_MAPPING && vh_node_map_get(value, "plugin") != NULL &&
                 vh_node_map_get(value, "plugin")->kind == VH_NODE_SCALAR)
            snprintf(shown, sizeof shown, "%s%zu", vh_node_map_get(value, "plugin")->scalar,
                     v + 1);
        else
            snprintf(shown, sizeof shown, "%zu", v + 1);
        for (char *p = shown; *p; p++)
            if (!isalnum((unsigned char)*p) && *p != '.' && *p != '+' && *p != '-')
                *p = '-';
        used += (size_t)snprintf(name + used, sizeof name - used, "_%s-%s", key, shown);
    }
    name[used < SWEEP_NAME_MAX ? used : SWEEP_NAME_MAX] = '\0';
    return strdup(name);
}

static int sweep_expand(sweep *sw, vh_err *err)
{
    const vh_node *grid = sw->run->sweep;
    sw->n_axes = grid->count;
    sw->keys = calloc(sw->n_axes, sizeof *sw->keys);
    sw->values = calloc(sw->n_axes, sizeof *sw->values);
    sw->text = calloc(sw->n_axes, sizeof *sw->text);
    if (!sw->keys || !sw->values || !sw->text)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    sw->n_runs = 1;
    for (size_t a = 0; a < sw->n_axes; a++) {
        sw->keys[a] = grid->keys[a];
        sw->values[a] = grid->items[a];
        if (sw->n_runs > 1000000 / sw->values[a]->count)
            return vh_err_set(err, VH_EXIT_USAGE, "%s: the sweep has more than a million runs",
                              sw->req->file);
        sw->n_runs *= sw->values[a]->count;
        sw->text[a] = calloc(sw->values[a]->count, sizeof *sw->text[a]);
        for (size_t v = 0; sw->text[a] != NULL && v < sw->values[a]->count; v++)
            if ((sw->text[a][v] = flow_text(sw->values[a]->items[v])) == NULL)
                return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
        if (sw->text[a] == NULL)
            return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    }
    sw->names = calloc(sw->n_runs, sizeof *sw->names);
    sw->dirs = calloc(sw->n_runs, sizeof *sw->dirs);
    sw->codes = calloc(sw->n_runs, sizeof *sw->codes);
    sw->errors = calloc(sw->n_runs, sizeof *sw->errors);
    if (!sw->names || !sw->dirs || !sw->codes || !sw->errors)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    for (size_t r = 0; r < sw->n_runs; r++) {
        sw->names[r] = sweep_name(sw, r);
        size_t len = strlen(sw->run->output_dir) + (sw->names[r] ? strlen(sw->names[r]) : 0) + 2;
        if (sw->names[r] == NULL || (sw->dirs[r] = malloc(len)) == NULL)
            return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
        snprintf(sw->dirs[r], len, "%s/%s", sw->run->output_dir, sw->names[r]);
    }
    return 0;
}

/* Run r's --set arguments: the request's, then the run's values, its
 * folder, no sweep, and the thread count of a --jobs run.  *owned holds
 * the strings made here (free each, then the arrays). */
static const char **sweep_sets(const sweep *sw, size_t r, char ***owned, size_t *n)
{
    size_t base = sw->req->n_sets, extra = sw->n_axes + 3;
    const char **sets = calloc(base + extra, sizeof *sets);
    *owned = calloc(extra, sizeof **owned);
    *n = 0;
    if (sets == NULL || *owned == NULL) {
        free(sets);
        free(*owned);
        return NULL;
    }
    for (size_t i = 0; i < base; i++)
        sets[(*n)++] = sw->req->sets[i];
    size_t k = 0;
    for (size_t a = 0; a < sw->n_axes; a++) {
        const char *v = sw->text[a][sweep_digit(sw, r, a)];
        size_t len = strlen(sw->keys[a]) + strlen(v) + 2;
        if (((*owned)[k] = malloc(len)) != NULL)
            snprintf((*owned)[k], len, "%s=%s", sw->keys[a], v);
        sets[(*n)++] = (*owned)[k++];
    }
    vh_node *dir = vh_node_new_scalar(sw->dirs[r], 1, (vh_pos){0, 0});
    char *dir_text = dir != NULL ? flow_text(dir) : NULL;
    vh_node_free(dir);
    size_t len = (dir_text ? strlen(dir_text) : 0) + 16;
    if (((*owned)[k] = malloc(len)) != NULL)
        snprintf((*owned)[k], len, "output.dir=%s", dir_text ? dir_text : "");
    free(dir_text);
    sets[(*n)++] = (*owned)[k++];
    sets[(*n)++] = "sweep=null";
    if (sw->threads > 0 && ((*owned)[k] = malloc(32)) != NULL) {
        snprintf((*owned)[k], 32, "threads=%zu", sw->threads);
        sets[(*n)++] = (*owned)[k++];
    }
    for (size_t i = 0; i < *n; i++)
        if (sets[i] == NULL) {
            for (size_t j = 0; j < extra; j++)
                free((*owned)[j]);
            free(*owned);
            free(sets);
            return NULL;
        }
    return sets;
}

static void sweep_sets_free(const char **sets, char **owned, size_t n_owned)
{
    for (size_t i = 0; owned != NULL && i < n_owned; i++)
        free(owned[i]);
    free(owned);
    free(sets);
}

/* "seed=1, family=fullrank": run r's values, for messages. */
static void sweep_describe(const sweep *sw, size_t r, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t a = 0; a < sw->n_axes && used < size; a++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s=%s", a ? ", " : "",
                                 sw->keys[a], sw->text[a][sweep_digit(sw, r, a)]);
}

/* Every run file of the grid is read before anything runs. */
static int sweep_check(const sweep *sw, vh_err *err)
{
    for (size_t r = 0; r < sw->n_runs; r++) {
        char **owned = NULL;
        size_t n = 0;
        const char **sets = sweep_sets(sw, r, &owned, &n);
        vh_runfile *one = NULL;
        if (sets == NULL)
            return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
        int rc = vh_runfile_load(sw->req->file, sets, n, &one, err);
        vh_runfile_free(one);
        sweep_sets_free(sets, owned, sw->n_axes + 3);
        if (rc != 0) {
            char what[512], why[VH_ERR_SIZE];
            sweep_describe(sw, r, what, sizeof what);
            snprintf(why, sizeof why, "%s", err->message);
            return vh_err_set(err, VH_EXIT_USAGE, "sweep run %zu (%s): %s", r + 1, what, why);
        }
    }
    return 0;
}

/* ---- running ---- */

static int sweep_run_one(const sweep *sw, size_t r, int quiet, vh_err *err)
{
    char **owned = NULL;
    size_t n = 0;
    const char **sets = sweep_sets(sw, r, &owned, &n);
    if (sets == NULL)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    vh_run_request one = *sw->req;
    one.sets = sets;
    one.n_sets = n;
    one.dist = NULL; /* a run of a sweep is whole on one process */
    one.jobs = 0;
    one.quiet = quiet;
    int rc = vh_run(&one, err);
    sweep_sets_free(sets, owned, sw->n_axes + 3);
    return rc;
}

static void sweep_record(sweep *sw, size_t r, int code, const char *why)
{
    sw->codes[r] = code;
    if (code != 0) {
        char what[512];
        sweep_describe(sw, r, what, sizeof what);
        fprintf(stderr, "vihost: sweep run %zu (%s) failed: %s\n", r + 1, what,
                why && *why ? why : "no message");
        free(sw->errors[r]);
        sw->errors[r] = strdup(why && *why ? why : "failed");
    }
}

/* The runs of this rank's share, one after the other, in this process. */
static void sweep_serial(sweep *sw, int rank, int ranks)
{
    for (size_t r = (size_t)rank; r < sw->n_runs; r += (size_t)ranks) {
        char what[512];
        vh_err e;
        vh_err_clear(&e);
        sweep_describe(sw, r, what, sizeof what);
        if (!sw->req->quiet && ranks == 1)
            printf("sweep run %zu/%zu (%s)\n", r + 1, sw->n_runs, what);
        int rc = sweep_run_one(sw, r, sw->req->quiet || ranks > 1, &e);
        sweep_record(sw, r, rc == 0 ? 0 : e.exit_code ? e.exit_code : VH_EXIT_FAILURE,
                     e.message);
    }
}

/* A child process for run r: its exit status is the run's, its error
 * message comes back through a pipe.  -1 when it cannot be started. */
static pid_t sweep_spawn(const sweep *sw, size_t r, int *pipe_read)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid != 0) {
        close(fds[1]);
        if (pid < 0)
            close(fds[0]);
        *pipe_read = fds[0];
        return pid;
    }
    close(fds[0]);
    vh_err e;
    vh_err_clear(&e);
    int rc = sweep_run_one(sw, r, 1, &e);
    if (rc != 0 && write(fds[1], e.message, strlen(e.message)) < 0)
        rc = -1;
    close(fds[1]);
    fflush(stdout);
    _exit(rc == 0 ? 0 : e.exit_code ? e.exit_code : VH_EXIT_FAILURE);
}

/* A finished child's run: its status and message. */
static void sweep_reap(sweep *sw, size_t r, int status, int fd)
{
    char why[VH_ERR_SIZE];
    ssize_t got = read(fd, why, sizeof why - 1);
    why[got > 0 ? got : 0] = '\0';
    close(fd);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : VH_EXIT_FAILURE;
    if (code != 0 && why[0] == '\0')
        snprintf(why, sizeof why, "its process ended with status %d", code);
    sweep_record(sw, r, code, why);
    if (!sw->req->quiet) {
        char what[512];
        sweep_describe(sw, r, what, sizeof what);
        printf("sweep run %zu/%zu (%s): %s\n", r + 1, sw->n_runs, what,
               code == 0 ? "done" : "failed");
    }
}

/* This rank's share, `jobs` runs at a time, each in a child process. */
static int sweep_jobs(sweep *sw, size_t jobs, int rank, int ranks, vh_err *err)
{
    pid_t *pids = calloc(sw->n_runs, sizeof *pids);
    int *fds = calloc(sw->n_runs, sizeof *fds);
    size_t running = 0, next = (size_t)rank;
    if (pids == NULL || fds == NULL) {
        free(pids);
        free(fds);
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    }
    while (next < sw->n_runs || running > 0) {
        while (running < jobs && next < sw->n_runs) {
            pids[next] = sweep_spawn(sw, next, &fds[next]);
            if (pids[next] < 0)
                sweep_record(sw, next, VH_EXIT_FAILURE, strerror(errno));
            else
                running++;
            next += (size_t)ranks;
        }
        int status;
        pid_t done = running > 0 ? wait(&status) : -1;
        for (size_t r = 0; done > 0 && r < sw->n_runs; r++)
            if (pids[r] == done) {
                pids[r] = 0;
                running--;
                sweep_reap(sw, r, status, fds[r]);
            }
        if (done < 0 && running > 0 && errno != EINTR)
            break;
    }
    free(pids);
    free(fds);
    return 0;
}

/* ---- sweep.csv ---- */

static void csv_text(FILE *out, const char *s)
{
    if (strpbrk(s, ",\"\n\r") == NULL) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s == '\n' || *s == '\r' ? ' ' : *s, out);
    }
    fputc('"', out);
}

static void csv_json_number(FILE *out, const json_t *v)
{
    if (json_is_number(v))
        vh_csv_number(out, json_number_value(v));
    else if (json_is_null(v))
        fputs("nan", out);
}

/* One row of sweep.csv: run r, the fit in `dir` ("" for none). */
static void sweep_row(FILE *out, const sweep *sw, size_t r, const char *sub)
{
    char path[4096];
    json_t *res = NULL;
    if (sub != NULL) {
        snprintf(path, sizeof path, "%s%s%s/result.json", sw->dirs[r], *sub ? "/" : "", sub);
        res = json_load_file(path, 0, NULL);
    }
    fprintf(out, "%zu,", r + 1);
    char rel[1024];
    snprintf(rel, sizeof rel, "%s%s%s", sw->names[r], sub && *sub ? "/" : "", sub ? sub : "");
    csv_text(out, rel);
    for (size_t a = 0; a < sw->n_axes; a++) {
        fputc(',', out);
        csv_text(out, sw->text[a][sweep_digit(sw, r, a)]);
    }
    const json_t *fam = json_object_get(json_object_get(res, "family"), "name");
    fprintf(out, ",%s,%s,%d,", json_is_string(fam) ? json_string_value(fam) : "",
            res != NULL ? "done" : "failed", res != NULL ? 0 : sw->codes[r] ? sw->codes[r] : 1);
    if (res != NULL) {
        static const char *const keys[] = {"iterations", "gradient_evaluations", "elbo",
                                           "iw_elbo", "khat", "seconds", NULL};
        fputs(json_is_true(json_object_get(res, "converged")) ? "true" : "false", out);
        for (size_t k = 0; keys[k] != NULL; k++) {
            fputc(',', out);
            csv_json_number(out, json_object_get(res, keys[k]));
        }
        fputc(',', out);
    } else
        fputs(",,,,,,,", out);
    csv_text(out, res == NULL && sw->errors[r] ? sw->errors[r]
                  : res == NULL ? "no result.json (failed on another MPI rank)" : "");
    fputc('\n', out);
    json_decref(res);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The rows of run r: its result.json, or one per family of a comparison
 * (its subfolders holding one), or one row saying it failed. */
static void sweep_rows(FILE *out, const sweep *sw, size_t r)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/result.json", sw->dirs[r]);
    if (sw->codes[r] == 0 && access(path, R_OK) == 0) {
        sweep_row(out, sw, r, "");
        return;
    }
    DIR *d = sw->codes[r] == 0 ? opendir(sw->dirs[r]) : NULL;
    char *subs[256];
    size_t n = 0;
    for (struct dirent *e; d != NULL && n < 256 && (e = readdir(d)) != NULL;) {
        snprintf(path, sizeof path, "%s/%s/result.json", sw->dirs[r], e->d_name);
        if (e->d_name[0] != '.' && access(path, R_OK) == 0)
            subs[n++] = strdup(e->d_name);
    }
    if (d != NULL)
        closedir(d);
    qsort(subs, n, sizeof subs[0], name_cmp);
    for (size_t i = 0; i < n; i++) {
        if (subs[i] != NULL)
            sweep_row(out, sw, r, subs[i]);
        free(subs[i]);
    }
    if (n == 0)
        sweep_row(out, sw, r, NULL);
}

static int sweep_write_csv(const sweep *sw, vh_err *err)
{
    vh_outdir *od = NULL;
    if (vh_outdir_begin(sw->run->output_dir, &od, err) != 0)
        return -1;
    FILE *out = vh_outdir_open(od, "sweep.csv", err);
    if (out == NULL) {
        vh_outdir_abort(od);
        return -1;
    }
    fputs("run,dir", out);
    for (size_t a = 0; a < sw->n_axes; a++) {
        fputc(',', out);
        csv_text(out, sw->keys[a]);
    }
    fputs(",fitted_family,status,exit_code,converged,iterations,gradient_evaluations,elbo,iw_elbo,"
          "khat,seconds,error\n", out);
    for (size_t r = 0; r < sw->n_runs; r++)
        sweep_rows(out, sw, r);
    if (vh_outdir_close(od, out, err) != 0 || vh_outdir_commit(od, err) != 0) {
        vh_outdir_abort(od);
        return -1;
    }
    return 0;
}

/* ---- the sweep ---- */

int vh_sweep_wanted(const vh_run_request *req, vh_err *err)
{
    vh_runfile *run = NULL;
    if (vh_runfile_load(req->file, req->sets, req->n_sets, &run, err) != 0)
        return -1;
    int wanted = run->sweep != NULL;
    vh_runfile_free(run);
    return wanted;
}

/* The sweep's outcome: 0 when every run is done, else the first failed
 * run's status with a message. */
static int sweep_outcome(const sweep *sw, vh_err *err)
{
    size_t failed = 0, first = SIZE_MAX;
    for (size_t r = 0; r < sw->n_runs; r++)
        if (sw->codes[r] != 0) {
            failed++;
            first = first == SIZE_MAX ? r : first;
        }
    if (failed == 0) {
        if (!sw->req->quiet && vh_dist_rank(sw->req->dist) == 0)
            printf("sweep: %zu runs done; summary in %s/sweep.csv\n", sw->n_runs,
                   sw->run->output_dir);
        return 0;
    }
    char what[512];
    sweep_describe(sw, first, what, sizeof what);
    return vh_err_set(err, sw->codes[first], "sweep: %zu of %zu runs failed (sweep.csv says "
                      "which); the first, run %zu (%s): %s", failed, sw->n_runs, first + 1, what,
                      sw->errors[first] ? sw->errors[first] : "it failed on another MPI rank");
}

/* Every rank learns every run's status. */
static int sweep_gather(sweep *sw, vh_err *err)
{
    double *codes = calloc(sw->n_runs, sizeof *codes);
    if (codes == NULL)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    int rank = vh_dist_rank(sw->req->dist), ranks = vh_dist_size(sw->req->dist);
    for (size_t r = (size_t)rank; r < sw->n_runs; r += (size_t)ranks)
        codes[r] = sw->codes[r];
    int rc = vh_dist_sum(sw->req->dist, codes, sw->n_runs, err);
    for (size_t r = 0; rc == 0 && r < sw->n_runs; r++)
        sw->codes[r] = (int)codes[r];
    free(codes);
    return rc;
}

int vh_sweep_run(const vh_run_request *req, vh_err *err)
{
    sweep sw;
    memset(&sw, 0, sizeof sw);
    sw.req = req;
    int rank = vh_dist_rank(req->dist), ranks = vh_dist_size(req->dist);
    /* Under mpirun each rank runs its share one run at a time: a forked
     * MPI process is not safe. */
    size_t jobs = ranks > 1 ? 1 : req->jobs > 1 ? req->jobs : 1;
    int failed = vh_runfile_load(req->file, req->sets, req->n_sets, &sw.run, err) != 0 ||
                 sweep_expand(&sw, err) != 0 || sweep_check(&sw, err) != 0;
    if (!failed && sw.run->threads == 0 && (jobs > 1 || ranks > 1)) {
        size_t share = jobs * (size_t)vh_dist_local_size(req->dist), cpus = vh_cpu_count();
        sw.threads = cpus > share ? cpus / share : 1;
    }
    if (!failed && !req->quiet && rank == 0)
        printf("sweep: %zu runs into %s%s\n", sw.n_runs, sw.run->output_dir,
               ranks > 1 ? " (split among the MPI ranks)" : "");
    if (!failed && jobs > 1)
        failed = sweep_jobs(&sw, jobs, rank, ranks, err) != 0;
    else if (!failed)
        sweep_serial(&sw, rank, ranks);
    if (!failed && ranks > 1) {
        failed = sweep_gather(&sw, err) != 0;
        vh_dist_barrier(req->dist);
    }
    if (!failed && rank == 0)
        failed = sweep_write_csv(&sw, err) != 0;
    if (!failed)
        failed = sweep_outcome(&sw, err) != 0;
    sweep_free(&sw);
    return failed ? -1 : 0;
}
