/* output.c — the output folder and every file in it.
 *
 * Files are written into a staging folder beside output.dir (same parent,
 * so the same file system and rename is atomic) and moved into place by
 * vh_outdir_commit: one rename of the whole folder when output.dir is new,
 * one rename per file when it exists.  A failed or killed run leaves at
 * most a hidden staging folder, never a half-written result.
 *
 * Every writer is deterministic: the same inputs give the same bytes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include "output.h"

typedef struct vh_staged {
    char *name;   /* file name inside the staging folder */
    FILE *file;   /* open from vh_outdir_open until vh_outdir_close */
} vh_staged;

struct vh_outdir {
    char *dir;         /* the final folder, without trailing slashes */
    char *given;       /* output.dir as the user wrote it, for messages */
    char *staging;     /* <parent>/.<basename>.vihost-XXXXXX */
    char **created;    /* parents begin made, outermost first */
    size_t n_created;
    vh_staged *files;
    size_t n_files, cap_files;
    mode_t dir_mode;   /* the mode mkdir(dir, 0777) would give */
    int lock_fd;       /* the staging folder, flock'ed while this run lives; -1 */
};

/* ------------------------------------------------------------------ */
/* The staging folder                                                  */
/* ------------------------------------------------------------------ */

static char *vh_path_join(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    char *path = malloc(n + m + 2);
    if (path) {
        memcpy(path, a, n);
        path[n] = '/';
        memcpy(path + n + 1, b, m + 1);
    }
    return path;
}

static int vh_outdir_refuse(const char *given, const char *why, vh_err *err)
{
    return vh_err_set(err, VH_EXIT_USAGE,
                      "cannot write output folder '%s': %s (choose another output.dir)",
                      given, why);
}

/* Removes the parents begin created, innermost first; rmdir leaves any
 * that something else has filled meanwhile. */
static void vh_outdir_unmake_parents(vh_outdir *od)
{
    while (od->n_created > 0) {
        char *path = od->created[--od->n_created];
        rmdir(path);
        free(path);
    }
}

static void vh_outdir_free(vh_outdir *od)
{
    if (od->lock_fd >= 0)
        close(od->lock_fd);
    for (size_t i = 0; i < od->n_files; i++)
        free(od->files[i].name);
    for (size_t i = 0; i < od->n_created; i++)
        free(od->created[i]);
    free(od->files);
    free(od->created);
    free(od->staging);
    free(od->dir);
    free(od->given);
    free(od);
}

/* mkdir -p `parent`, remembering what it made so abort can undo it.
 * Returns 0 or an errno value. */
static int vh_outdir_make_parents(vh_outdir *od, const char *parent)
{
    size_t n = strlen(parent);
    char *path = strdup(parent);
    od->created = calloc(n + 1, sizeof *od->created); /* <= one per byte */
    if (!path || !od->created) {
        free(path);
        return ENOMEM;
    }
    int rc = 0;
    for (size_t i = 1; i <= n && rc == 0; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        struct stat st;
        path[i] = '\0';
        if (mkdir(path, 0777) == 0) {
            od->created[od->n_created] = strdup(path);
            if (!od->created[od->n_created])
                rc = ENOMEM;
            else
                od->n_created++;
        } else if (errno != EEXIST) {
            rc = errno;
        } else if (stat(path, &st) != 0) {
            rc = errno;
        } else if (!S_ISDIR(st.st_mode)) {
            rc = ENOTDIR;
        }
        path[i] = saved;
    }
    free(path);
    return rc;
}

/* The mode a plain mkdir(dir, 0777) gets under the current umask (and any
 * default ACL), found with a probe folder because mkdtemp makes 0700 and
 * reading the umask would change it process-wide. */
static mode_t vh_outdir_probe_mode(const char *staging)
{
    mode_t mode = 0755;
    struct stat st;
    char *probe = vh_path_join(staging, "mode-probe");
    if (probe && mkdir(probe, 0777) == 0) {
        if (stat(probe, &st) == 0)
            mode = st.st_mode & 07777;
        rmdir(probe);
    }
    free(probe);
    return mode;
}

/* Splits dir (trailing slashes gone) into parent and basename; refuses
 * names that cannot be a new folder. */
static int vh_outdir_split(vh_outdir *od, char **parent, const char **base,
                           vh_err *err)
{
    size_t n = strlen(od->dir);
    while (n > 1 && od->dir[n - 1] == '/')
        od->dir[--n] = '\0';
    char *slash = strrchr(od->dir, '/');
    *base = slash ? slash + 1 : od->dir;
    if (**base == '\0' || strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0)
        return vh_outdir_refuse(od->given, "it must end in a folder name, not "
                                           "'/', '.' or '..'", err);
    if (!slash)
        *parent = strdup(".");
    else if (slash == od->dir)
        *parent = strdup("/");
    else
        *parent = strndup(od->dir, (size_t)(slash - od->dir));
    if (!*parent)
        return vh_outdir_refuse(od->given, strerror(ENOMEM), err);
    return 0;
}

/* Checks that an existing dir is a folder we can move files into. */
static int vh_outdir_check_existing(const vh_outdir *od, vh_err *err)
{
    struct stat st;
    if (stat(od->dir, &st) != 0)
        return errno == ENOENT ? 0 : vh_outdir_refuse(od->given, strerror(errno), err);
    if (!S_ISDIR(st.st_mode))
        return vh_outdir_refuse(od->given, strerror(ENOTDIR), err);
    if (access(od->dir, W_OK | X_OK) != 0)
        return vh_outdir_refuse(od->given, strerror(errno), err);
    return 0;
}

/* A run holds an exclusive flock on its staging folder while it lives;
 * the kernel drops it when the process ends, however it ends.  A staging
 * folder of this output whose lock can be taken was left by a run that
 * was killed: its files and itself are removed.  Only names exactly like
 * ".<base>.vihost-XXXXXX" are considered. */
static void vh_outdir_sweep(const char *parent, const char *base)
{
    DIR *d = opendir(parent);
    size_t blen = strlen(base);
    struct dirent *ent;
    if (!d)
        return;
    while ((ent = readdir(d)) != NULL) {
        const char *name = ent->d_name;
        if (name[0] != '.' || strncmp(name + 1, base, blen) != 0 ||
            strncmp(name + 1 + blen, ".vihost-", 8) != 0 || strlen(name + blen + 9) != 6)
            continue;
        char *path = vh_path_join(parent, name);
        int fd = path ? open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
        DIR *stale = fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 ? opendir(path) : NULL;
        for (struct dirent *f; stale && (f = readdir(stale)) != NULL;) {
            char *file = strcmp(f->d_name, ".") && strcmp(f->d_name, "..")
                             ? vh_path_join(path, f->d_name) : NULL;
            if (file)
                unlink(file);
            free(file);
        }
        if (stale) {
            closedir(stale);
            rmdir(path);
        }
        if (fd >= 0)
            close(fd);
        free(path);
    }
    closedir(d);
}

int vh_outdir_begin(const char *dir, vh_outdir **out, vh_err *err)
{
    *out = NULL;
    if (!dir || !*dir)
        return vh_err_set(err, VH_EXIT_USAGE,
                          "output folder is empty (choose another output.dir)");
    vh_outdir *od = calloc(1, sizeof *od);
    if (od) {
        od->lock_fd = -1;
        od->dir = strdup(dir);
        od->given = strdup(dir);
    }
    if (!od || !od->dir || !od->given) {
        if (od)
            vh_outdir_free(od);
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory preparing '%s'", dir);
    }
    char *parent = NULL;
    const char *base = NULL;
    int rc = vh_outdir_split(od, &parent, &base, err);
    int e = rc == 0 ? vh_outdir_make_parents(od, parent) : 0;
    if (rc == 0 && e != 0)
        rc = vh_outdir_refuse(dir, strerror(e), err);
    if (rc == 0)
        rc = vh_outdir_check_existing(od, err);
    if (rc == 0) {
        size_t size = strlen(parent) + strlen(base) + 32;
        vh_outdir_sweep(parent, base);
        od->staging = malloc(size);
        if (od->staging)
            snprintf(od->staging, size, "%s/.%s.vihost-XXXXXX", parent, base);
        if (!od->staging || !mkdtemp(od->staging)) {
            rc = vh_outdir_refuse(dir, strerror(od->staging ? errno : ENOMEM), err);
            free(od->staging);
            od->staging = NULL;
        } else {
            od->lock_fd = open(od->staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (od->lock_fd >= 0)
                flock(od->lock_fd, LOCK_EX | LOCK_NB);
        }
    }
    free(parent);
    if (rc != 0) {
        vh_outdir_unmake_parents(od);
        vh_outdir_free(od);
        return -1;
    }
    od->dir_mode = vh_outdir_probe_mode(od->staging);
    *out = od;
    return 0;
}

const char *vh_outdir_path(const vh_outdir *dir)
{
    return dir ? dir->dir : NULL;
}

/* ------------------------------------------------------------------ */
/* Files                                                               */
/* ------------------------------------------------------------------ */

static vh_staged *vh_outdir_find(vh_outdir *od, const char *name)
{
    for (size_t i = 0; i < od->n_files; i++)
        if (strcmp(od->files[i].name, name) == 0)
            return &od->files[i];
    return NULL;
}

/* A staged entry for `name`, reusing one of the same name. */
static vh_staged *vh_outdir_entry(vh_outdir *od, const char *name)
{
    vh_staged *entry = vh_outdir_find(od, name);
    if (entry)
        return entry;
    if (od->n_files == od->cap_files) {
        size_t cap = od->cap_files ? 2 * od->cap_files : 8;
        vh_staged *files = realloc(od->files, cap * sizeof *files);
        if (!files)
            return NULL;
        od->files = files;
        od->cap_files = cap;
    }
    entry = &od->files[od->n_files];
    entry->name = strdup(name);
    entry->file = NULL;
    if (!entry->name)
        return NULL;
    od->n_files++;
    return entry;
}

FILE *vh_outdir_open(vh_outdir *dir, const char *name, vh_err *err)
{
    /* Names come from the host, never from users: a bad one is a bug. */
    if (!dir || !name || !*name || strchr(name, '/') || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0) {
        vh_err_set(err, VH_EXIT_FAILURE, "internal error: bad output file name '%s'",
                   name ? name : "(null)");
        return NULL;
    }
    size_t had = dir->n_files;
    vh_staged *entry = vh_outdir_entry(dir, name);
    if (entry && entry->file) {
        vh_err_set(err, VH_EXIT_FAILURE,
                   "internal error: output file '%s/%s' is already open", dir->dir,
                   name);
        return NULL;
    }
    char *path = entry ? vh_path_join(dir->staging, name) : NULL;
    FILE *file = path ? fopen(path, "w") : NULL;
    int e = path ? errno : ENOMEM;
    free(path);
    if (!file) {
        /* A name never created must not be moved at commit. */
        if (dir->n_files > had)
            free(dir->files[--dir->n_files].name);
        vh_err_set(err, VH_EXIT_FAILURE, "cannot write output file '%s/%s': %s",
                   dir->dir, name, strerror(e));
        return NULL;
    }
    entry->file = file;
    return file;
}

int vh_outdir_close(vh_outdir *dir, FILE *file, vh_err *err)
{
    vh_staged *entry = NULL;
    for (size_t i = 0; dir && i < dir->n_files && !entry; i++)
        if (dir->files[i].file == file && file)
            entry = &dir->files[i];
    if (!entry) {
        if (file)
            fclose(file);
        return vh_err_set(err, VH_EXIT_FAILURE,
                          "internal error: closing a file that is not an output file");
    }
    entry->file = NULL;
    int e = 0;
    if (fflush(file) != 0)
        e = errno;
    else if (ferror(file))
        e = EIO;
    /* Data on disk before the rename makes it visible; without this a
     * crash could leave a renamed but empty file. */
    else if (fsync(fileno(file)) != 0 && errno != EINVAL && errno != EROFS)
        e = errno;
    if (fclose(file) != 0 && e == 0)
        e = errno;
    if (e != 0)
        return vh_err_set(err, VH_EXIT_FAILURE, "cannot write output file '%s/%s': %s",
                          dir->dir, entry->name, strerror(e));
    return 0;
}

/* Moves each staged file into the existing folder, replacing files of the
 * same name.  Moved files are forgotten, so that an abort after a failure
 * part-way does not look for them in the staging folder. */
static int vh_outdir_move_files(vh_outdir *od, vh_err *err)
{
    for (size_t i = 0; i < od->n_files; i++) {
        char *from = vh_path_join(od->staging, od->files[i].name);
        char *to = vh_path_join(od->dir, od->files[i].name);
        int e = !from || !to ? ENOMEM : rename(from, to) != 0 ? errno : 0;
        free(from);
        free(to);
        if (e != 0) {
            /* keep only the files still staged */
            for (size_t k = 0; k < i; k++)
                free(od->files[k].name);
            memmove(od->files, od->files + i, (od->n_files - i) * sizeof *od->files);
            od->n_files -= i;
            return vh_err_set(err, VH_EXIT_FAILURE,
                              "cannot move output file '%s' into '%s': %s",
                              od->files[0].name, od->dir, strerror(e));
        }
    }
    rmdir(od->staging);
    return 0;
}

int vh_outdir_commit(vh_outdir *dir, vh_err *err)
{
    if (!dir)
        return vh_err_set(err, VH_EXIT_FAILURE, "internal error: no output folder");
    int rc = 0;
    /* A file left open is flushed and checked like any other. */
    for (size_t i = 0; i < dir->n_files; i++)
        if (dir->files[i].file && vh_outdir_close(dir, dir->files[i].file, err) != 0)
            rc = -1;
    if (rc == 0) {
        struct stat st;
        int exists = stat(dir->dir, &st) == 0;
        if (!exists) {
            chmod(dir->staging, dir->dir_mode);
            if (rename(dir->staging, dir->dir) == 0) {
                vh_outdir_free(dir);
                return 0;
            }
            /* Made by someone else meanwhile: move file by file instead. */
            exists = errno == EEXIST || errno == ENOTEMPTY;
            if (!exists)
                rc = vh_err_set(err, VH_EXIT_FAILURE,
                                "cannot create output folder '%s': %s", dir->dir,
                                strerror(errno));
        }
        if (exists)
            rc = vh_outdir_move_files(dir, err);
    }
    if (rc != 0)
        return -1; /* dir stays valid: the caller's vh_outdir_abort cleans up */
    vh_outdir_free(dir);
    return 0;
}

void vh_outdir_abort(vh_outdir *dir)
{
    if (!dir)
        return;
    for (size_t i = 0; i < dir->n_files; i++) {
        if (dir->files[i].file)
            fclose(dir->files[i].file);
        char *path = vh_path_join(dir->staging, dir->files[i].name);
        if (path)
            unlink(path);
        free(path);
    }
    rmdir(dir->staging);
    vh_outdir_unmake_parents(dir);
    vh_outdir_free(dir);
}

/* ------------------------------------------------------------------ */
/* CSV                                                                 */
/* ------------------------------------------------------------------ */

void vh_csv_number(FILE *out, double x)
{
    if (isnan(x))
        fputs("nan", out);
    else if (isinf(x))
        fputs(x > 0 ? "inf" : "-inf", out);
    else
        fprintf(out, "%.9g", x);
}

/* A name as a CSV field, quoted when it holds a separator, a quote, a
 * line break or edge blanks (constrained names like "L[2,1]" do). */
static void vh_csv_text(FILE *out, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0)
        return;
    int quote = strpbrk(s, ",\"\r\n") != NULL || s[0] == ' ' || s[0] == '\t' ||
                s[n - 1] == ' ' || s[n - 1] == '\t';
    if (!quote) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static void vh_csv_sep_number(FILE *out, double x)
{
    fputc(',', out);
    vh_csv_number(out, x);
}

static int vh_csv_status(FILE *out)
{
    return ferror(out) ? -1 : 0;
}

int vh_write_summary_csv(FILE *out, size_t n, const char *const *names,
                         const double *mean, const double *sd,
                         const double *q05, const double *q50,
                         const double *q95)
{
    fputs("name,mean,sd,q05,q50,q95\n", out);
    for (size_t i = 0; i < n; i++) {
        vh_csv_text(out, names[i]);
        vh_csv_sep_number(out, mean[i]);
        vh_csv_sep_number(out, sd[i]);
        vh_csv_sep_number(out, q05[i]);
        vh_csv_sep_number(out, q50[i]);
        vh_csv_sep_number(out, q95[i]);
        fputc('\n', out);
    }
    return vh_csv_status(out);
}

/* Each comment line as "# line"; a comment holding line breaks becomes
 * several, so no comment text can start a data row. */
static void vh_csv_comment(FILE *out, const char *text)
{
    do {
        size_t n = strcspn(text, "\r\n");
        fputs("# ", out);
        fwrite(text, 1, n, out);
        fputc('\n', out);
        text += n;
        if (*text == '\r' && text[1] == '\n')
            text++;
    } while (*text++ != '\0');
}

int vh_write_draws_csv(FILE *out, const char *const *comments, size_t n,
                       const char *const *names, const double *mean,
                       size_t n_draws, const double *log_p,
                       const double *log_g, const double *draws)
{
    return vh_write_draws_csv_cmdstan(out, comments, NULL, n, names, mean, n_draws, log_p,
                                      log_g, draws);
}

int vh_write_draws_csv_cmdstan(FILE *out, const char *const *comments,
                               const char *const *after_header, size_t n,
                               const char *const *names, const double *mean,
                               size_t n_draws, const double *log_p,
                               const double *log_g, const double *draws)
{
    for (size_t i = 0; comments && comments[i]; i++)
        vh_csv_comment(out, comments[i]);
    fputs("lp__,log_p__,log_g__", out);
    for (size_t j = 0; j < n; j++) {
        fputc(',', out);
        vh_csv_text(out, names[j]);
    }
    fputc('\n', out);
    for (size_t i = 0; after_header && after_header[i]; i++)
        vh_csv_comment(out, after_header[i]);
    /* CmdStan's first row: the approximation's mean, lp__ etc. 0. */
    fputs("0,0,0", out);
    for (size_t j = 0; j < n; j++)
        vh_csv_sep_number(out, mean[j]);
    fputc('\n', out);
    for (size_t d = 0; d < n_draws; d++) {
        fputc('0', out);
        vh_csv_sep_number(out, log_p ? log_p[d] : 0.0);
        vh_csv_sep_number(out, log_g ? log_g[d] : 0.0);
        for (size_t j = 0; j < n; j++)
            vh_csv_sep_number(out, draws[d * n + j]);
        fputc('\n', out);
    }
    return vh_csv_status(out);
}

/* A number, or nothing when it is NaN: a column that has no value here. */
static void vh_csv_sep_optional(FILE *out, double x)
{
    fputc(',', out);
    if (!isnan(x))
        vh_csv_number(out, x);
}

int vh_write_trace_csv(FILE *out, size_t n, const vh_trace_row *rows)
{
    fputs("iter,elbo,elbo_mcse,rel_change,step_norm,seconds,grad_norm,step_size,grad_snr,"
          "redraws,skipped,phase\n", out);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "%" PRIu64, rows[i].iter);
        vh_csv_sep_number(out, rows[i].elbo);
        vh_csv_sep_number(out, rows[i].elbo_mcse);
        vh_csv_sep_optional(out, rows[i].rel_change);
        vh_csv_sep_number(out, rows[i].step_norm);
        vh_csv_sep_number(out, rows[i].seconds);
        vh_csv_sep_optional(out, rows[i].grad_norm);
        vh_csv_sep_optional(out, rows[i].step_size);
        vh_csv_sep_optional(out, rows[i].grad_snr);
        fprintf(out, ",%" PRIu64 ",%" PRIu64 ",%s\n", rows[i].redraws, rows[i].skipped,
                rows[i].phase != NULL ? rows[i].phase : "fit");
    }
    return vh_csv_status(out);
}

/* ------------------------------------------------------------------ */
/* result.json                                                         */
/* ------------------------------------------------------------------ */

/* A string, or null; bytes that are not UTF-8 (file names may hold any)
 * become '?' so that the file stays valid JSON. */
static json_t *vh_json_text(const char *s)
{
    if (!s)
        return json_null();
    json_t *value = json_string(s);
    if (value)
        return value;
    char *clean = strdup(s);
    if (!clean)
        return NULL;
    for (char *p = clean; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    value = json_string(clean);
    free(clean);
    return value;
}

/* JSON has no NaN or infinity: null stands for "not available". */
static json_t *vh_json_number(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

/* A count or seed; jansson's integers are signed 64-bit, so the rare
 * value above INT64_MAX is written exactly as a decimal string. */
static json_t *vh_json_count(uint64_t n)
{
    if (n <= (uint64_t)INT64_MAX)
        return json_integer((json_int_t)n);
    char digits[24];
    snprintf(digits, sizeof digits, "%" PRIu64, n);
    return json_string(digits);
}

static json_t *vh_json_component(const vh_component_info *c)
{
    json_t *obj = json_object();
    if (obj && (json_object_set_new(obj, "name", vh_json_text(c->name)) != 0 ||
                json_object_set_new(obj, "plugin", vh_json_text(c->file)) != 0 ||
                json_object_set_new(obj, "version", vh_json_text(c->version)) != 0)) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* json_object_set_new takes the value even on failure; a NULL value (out
 * of memory) is a failure too. */
static void vh_json_put(json_t *obj, const char *key, json_t *value, int *bad)
{
    if (!value || json_object_set_new(obj, key, value) != 0)
        *bad = 1;
}

static json_t *vh_json_numbers(const double *x, size_t n, size_t stride)
{
    json_t *array = json_array();
    for (size_t i = 0; array && i < n; i++)
        if (json_array_append_new(array, vh_json_number(x[i * stride])) != 0) {
            json_decref(array);
            return NULL;
        }
    return array;
}

/* {"space", "names", "mean", "sd", "cov"} of the approximation. */
static json_t *vh_json_approximation(const vh_result *r)
{
    size_t n = r->q_dim;
    json_t *obj = json_object(), *names = json_array(), *cov = NULL;
    int bad = !obj || !names;
    for (size_t i = 0; !bad && i < n; i++)
        bad = json_array_append_new(names, vh_json_text(r->q_names ? r->q_names[i] : NULL)) != 0;
    vh_json_put(obj, "space", json_string("unconstrained"), &bad);
    vh_json_put(obj, "names", names, &bad);
    names = NULL;
    vh_json_put(obj, "mean", vh_json_numbers(r->q_mean, n, 1), &bad);
    if (r->q_cov) {
        double *sd = malloc((n + 1) * sizeof *sd);
        for (size_t i = 0; sd && i < n; i++)
            sd[i] = sqrt(r->q_cov[i * n + i]);
        vh_json_put(obj, "sd", sd ? vh_json_numbers(sd, n, 1) : NULL, &bad);
        free(sd);
    }
    if (r->q_cov && n <= VH_RESULT_COV_MAX && (cov = json_array()) != NULL) {
        for (size_t i = 0; i < n; i++)
            if (json_array_append_new(cov, vh_json_numbers(r->q_cov + i * n, n, 1)) != 0)
                bad = 1;
        vh_json_put(obj, "cov", cov, &bad);
    }
    json_decref(names);
    if (bad) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

int vh_write_result_json(FILE *out, const vh_result *r)
{
    json_t *obj = json_object();
    int bad = obj == NULL;
    if (!bad) {
        vh_json_put(obj, "target", vh_json_component(&r->target), &bad);
        vh_json_put(obj, "family", vh_json_component(&r->family), &bad);
        vh_json_put(obj, "optimizer", vh_json_component(&r->optimizer), &bad);
        vh_json_put(obj, "seed", vh_json_count(r->seed), &bad);
        vh_json_put(obj, "iterations", vh_json_count(r->iterations), &bad);
        vh_json_put(obj, "converged", json_boolean(r->converged), &bad);
        vh_json_put(obj, "stop_reason", vh_json_text(r->stop_reason), &bad);
        vh_json_put(obj, "elbo", vh_json_number(r->elbo), &bad);
        vh_json_put(obj, "elbo_mcse", vh_json_number(r->elbo_mcse), &bad);
        vh_json_put(obj, "iw_elbo", vh_json_number(r->iw_elbo), &bad);
        vh_json_put(obj, "log_evidence", vh_json_number(r->log_evidence), &bad);
        vh_json_put(obj, "log_evidence_mcse", vh_json_number(r->log_evidence_mcse),
                    &bad);
        vh_json_put(obj, "khat", vh_json_number(r->khat), &bad);
        vh_json_put(obj, "ess", vh_json_number(r->ess), &bad);
        vh_json_put(obj, "iw_samples", vh_json_count(r->iw_samples), &bad);
        vh_json_put(obj, "gradient_evaluations",
                    vh_json_count(r->gradient_evaluations), &bad);
        vh_json_put(obj, "seconds", vh_json_number(r->seconds), &bad);
        if (r->target_gradient != NULL)
            vh_json_put(obj, "target_gradient", vh_json_text(r->target_gradient), &bad);
        if (r->has_log_evidence_exact)
            vh_json_put(obj, "log_evidence_exact",
                        vh_json_number(r->log_evidence_exact), &bad);
        if (r->has_kl_exact)
            vh_json_put(obj, "kl_exact", vh_json_number(r->kl_exact), &bad);
        if (r->khat_verdict) {
            vh_json_put(obj, "importance_draws", vh_json_count(r->importance_draws), &bad);
            vh_json_put(obj, "iw_elbo_mcse", vh_json_number(r->iw_elbo_mcse), &bad);
            vh_json_put(obj, "khat_threshold", vh_json_number(r->khat_threshold), &bad);
            vh_json_put(obj, "khat_verdict", vh_json_text(r->khat_verdict), &bad);
        }
        if (r->q_mean)
            vh_json_put(obj, "approximation", vh_json_approximation(r), &bad);
    }
    if (!bad && json_dumpf(obj, out, JSON_INDENT(2) | JSON_REAL_PRECISION(17) |
                                         JSON_PRESERVE_ORDER) != 0)
        bad = 1;
    json_decref(obj);
    if (bad)
        return -1;
    fputc('\n', out);
    return ferror(out) ? -1 : 0;
}
