/* checkpoint.c — saving and restoring a running fit (see checkpoint.h).
 *
 * The file: "VIHOSTCK", the format revision, a byte-order mark, the run's
 * fingerprint, the iteration, then the state in a fixed order (numbers
 * as their exact bits), and last an FNV-1a checksum of everything before
 * it.  The reader checks
 * every length against the live engine, so a checkpoint of another model
 * shape can never be read into this one. */
#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"

#define CK_MAGIC "VIHOSTCK"
#define CK_FORMAT 2u
#define CK_BYTE_ORDER 0x01020304u
/* The iteration of a checkpoint that marks a finished fit: the frame
 * alone, left by a fit of several families until the run is done. */
#define CK_FINISHED UINT64_MAX
/* The quarters ring of the mcse and rhat rules: 5 x width values each
 * (stopping.h). */
#define CK_RING 5
/* No checkpoint of a model vihost can hold is larger. */
#define CK_MAX_BYTES ((size_t)1 << 40)

struct vh_checkpoint {
    char *path;             /* ".<folder>.vihost-checkpoint" beside the output folder */
    char *tmp;              /* path + ".tmp" */
    uint64_t every;
    uint64_t fingerprint;
    int quiet;
    int broken;             /* a save failed: warned once, no more saves */
    unsigned char *saved;   /* the file read by --resume, or NULL */
    size_t saved_size;
    uint64_t resumed_at;
};

/* ------------------------------------------------------------------ */
/* Hashing                                                              */
/* ------------------------------------------------------------------ */

#define CK_FNV_OFFSET 14695981039346656037ull
#define CK_FNV_PRIME 1099511628211ull

static uint64_t ck_hash(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * CK_FNV_PRIME;
    return h;
}

static uint64_t ck_hash_text(uint64_t h, const char *s)
{
    return ck_hash(h, s != NULL ? s : "", s != NULL ? strlen(s) + 1 : 1);
}

uint64_t vh_checkpoint_fingerprint(vh_node *tree, const vh_data *data,
                                   const char *const *plugin_files, size_t n_files)
{
    uint64_t h = CK_FNV_OFFSET;
    vh_node *output = vh_node_map_get(tree, "output");
    long every = vh_node_map_index(output, "checkpoint_every");
    if (every >= 0)
        vh_node_map_remove(output, (size_t)every);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f != NULL) {
        vh_node_emit(tree, f);
        fclose(f);
        h = ck_hash(h, text, len);
    }
    free(text);
    for (size_t i = 0; i < vh_data_count(data); i++) {
        const char *name = vh_data_name(data, i);
        const vh_value *v = vh_data_get(data, name);
        h = ck_hash_text(h, name);
        if (v != NULL && v->numbers != NULL)
            h = ck_hash(h, v->numbers, v->length * sizeof *v->numbers);
        if (v != NULL)
            h = ck_hash(h, v->shape, sizeof v->shape);
    }
    for (size_t i = 0; i < n_files; i++) {
        struct stat st;
        h = ck_hash_text(h, plugin_files[i]);
        if (stat(plugin_files[i], &st) == 0) {
            uint64_t facts[3] = {(uint64_t)st.st_size, (uint64_t)st.st_mtime,
                                 (uint64_t)st.st_mtim.tv_nsec};
            h = ck_hash(h, facts, sizeof facts);
        }
    }
    return h;
}

/* ------------------------------------------------------------------ */
/* Writing                                                              */
/* ------------------------------------------------------------------ */

typedef struct ck_writer {
    FILE *f;
    uint64_t sum;
} ck_writer;

static void put(ck_writer *w, const void *p, size_t n)
{
    if (n == 0)
        return;
    fwrite(p, 1, n, w->f);
    w->sum = ck_hash(w->sum, p, n);
}

static void put_u64(ck_writer *w, uint64_t x)
{
    put(w, &x, sizeof x);
}

static void put_f64(ck_writer *w, double x)
{
    put(w, &x, sizeof x);
}

static void put_f64s(ck_writer *w, const double *x, size_t n)
{
    put_u64(w, n);
    put(w, x, n * sizeof *x);
}

/* Which lambda the fit returns: 0 the iterate, 1 the average, 2 the
 * stopping rule's window average. */
static uint64_t returned_code(const vh_engine_view *v)
{
    if (*v->returned == v->average)
        return 1;
    if (*v->returned != v->iterate && *v->returned == vh_stopping_average(v->stopping))
        return 2;
    return 0;
}

static void put_stopping(ck_writer *w, const vh_stopping *s)
{
    const vh_quarters *q = &s->quarters;
    put_u64(w, s->count);
    put_u64(w, s->next);
    put_f64(w, s->previous);
    put_f64s(w, s->window, s->capacity);
    put_u64(w, q->width);
    put_u64(w, q->length);
    put_u64(w, q->filled);
    put_u64(w, q->complete);
    put_u64(w, q->current);
    size_t ring = q->ref != NULL ? CK_RING * q->width : 0;
    put_f64s(w, q->ref, ring);
    put_f64s(w, q->sum, ring);
    put_f64s(w, q->sq, ring);
    put_f64s(w, s->average, s->average != NULL ? q->width : 0);
    put_f64(w, s->statistic);
}

static void put_trace(ck_writer *w, const vh_fit *fit)
{
    put_u64(w, fit->n_trace);
    for (size_t i = 0; i < fit->n_trace; i++) {
        const vh_trace_row *r = &fit->trace[i];
        double reals[8] = {r->elbo,      r->elbo_mcse, r->rel_change, r->step_norm,
                           r->seconds,   r->grad_norm, r->step_size,  r->grad_snr};
        put_u64(w, r->iter);
        put(w, reals, sizeof reals);
        put_u64(w, r->redraws);
        put_u64(w, r->skipped);
        put_u64(w, r->phase != NULL && strcmp(r->phase, "adapt") == 0);
    }
}

/* The minibatch control variate's anchor (batch.h): the point, not what
 * the target says there, which a resumed run evaluates again. */
static void put_anchor(ck_writer *w, const vh_engine_view *v)
{
    const vh_batcher *b = v->batcher;
    int anchored = b != NULL && b->anchor_every > 0 && b->anchored;
    put_u64(w, (uint64_t)anchored);
    put_u64(w, anchored ? b->anchored_at : 0);
    put_f64s(w, anchored ? b->anchor : NULL, anchored ? v->model->dim : 0);
}

/* What every checkpoint starts with: magic, format, byte order, the
 * run's fingerprint and the iteration (CK_FINISHED: a finished fit). */
static void put_frame(ck_writer *w, const vh_checkpoint *ck, uint64_t t)
{
    uint32_t head[2] = {CK_FORMAT, CK_BYTE_ORDER};
    put(w, CK_MAGIC, 8);
    put(w, head, sizeof head);
    put_u64(w, ck->fingerprint);
    put_u64(w, t);
}

/* The whole state after iteration t; `state` holds the optimizer's. */
static void put_state(ck_writer *w, const vh_checkpoint *ck, const vh_engine_view *v,
                      uint64_t t, const unsigned char *state, size_t state_size)
{
    const vh_fit *fit = v->fit;
    size_t n = v->model->n_params;
    put_frame(w, ck, t);
    put_f64s(w, v->iterate, n);
    put_f64s(w, v->average, n);
    put_u64(w, *v->averaged);
    put_u64(w, returned_code(v));
    put_u64(w, *v->skips_in_a_row);
    put_f64(w, *v->init_elbo);
    put_f64(w, *v->init_mcse);
    put_u64(w, *v->row_redraws);
    put_u64(w, *v->row_skipped);
    put_f64(w, *v->grad_norm);
    put_f64(w, *v->grad_snr);
    put_f64(w, *v->step_norm);
    put_f64(w, vh_now() - *v->start);
    put_u64(w, fit->gradient_evaluations);
    put_u64(w, fit->redraws);
    put_u64(w, fit->skipped);
    put_f64(w, fit->adapted_rate);
    put_u64(w, state_size);
    put(w, state, state_size);
    put_stopping(w, v->stopping);
    put_trace(w, fit);
    put_anchor(w, v);
}

/* ------------------------------------------------------------------ */
/* Reading                                                              */
/* ------------------------------------------------------------------ */

typedef struct ck_reader {
    const unsigned char *p, *end;
    int bad;
} ck_reader;

static void get(ck_reader *r, void *out, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        memset(out, 0, n);
        return;
    }
    memcpy(out, r->p, n);
    r->p += n;
}

static uint64_t get_u64(ck_reader *r)
{
    uint64_t x;
    get(r, &x, sizeof x);
    return x;
}

static double get_f64(ck_reader *r)
{
    double x;
    get(r, &x, sizeof x);
    return x;
}

/* n doubles into x, whose length must be exactly n. */
static void get_f64s(ck_reader *r, double *x, size_t n)
{
    if (get_u64(r) != n) {
        r->bad = 1;
        return;
    }
    if (n > 0)
        get(r, x, n * sizeof *x);
}

static void get_stopping(ck_reader *r, vh_stopping *s)
{
    vh_quarters *q = &s->quarters;
    uint64_t count = get_u64(r), next = get_u64(r);
    s->previous = get_f64(r);
    get_f64s(r, s->window, s->capacity);
    if (get_u64(r) != q->width || get_u64(r) != q->length || count > s->capacity ||
        next >= s->capacity)
        r->bad = 1;
    s->count = (size_t)count;
    s->next = (size_t)next;
    q->filled = get_u64(r);
    q->complete = (size_t)get_u64(r);
    q->current = (size_t)get_u64(r);
    if (q->current >= CK_RING)
        r->bad = 1;
    size_t ring = q->ref != NULL ? CK_RING * q->width : 0;
    get_f64s(r, q->ref, ring);
    get_f64s(r, q->sum, ring);
    get_f64s(r, q->sq, ring);
    get_f64s(r, s->average, s->average != NULL ? q->width : 0);
    s->statistic = get_f64(r);
}

static int get_trace(ck_reader *r, const vh_engine_view *v)
{
    vh_fit *fit = v->fit;
    uint64_t rows = get_u64(r);
    /* every row takes 12 numbers of 8 bytes */
    if (r->bad || rows > (uint64_t)(r->end - r->p) / 96)
        return r->bad = 1, 0;
    if (rows > *v->trace_capacity) {
        vh_trace_row *more = realloc(fit->trace, (size_t)rows * sizeof *more);
        if (more == NULL)
            return -1;
        fit->trace = more;
        *v->trace_capacity = (size_t)rows;
    }
    for (size_t i = 0; i < rows; i++) {
        vh_trace_row *row = &fit->trace[i];
        double reals[8];
        memset(row, 0, sizeof *row);
        row->iter = get_u64(r);
        get(r, reals, sizeof reals);
        row->elbo = reals[0];
        row->elbo_mcse = reals[1];
        row->rel_change = reals[2];
        row->step_norm = reals[3];
        row->seconds = reals[4];
        row->grad_norm = reals[5];
        row->step_size = reals[6];
        row->grad_snr = reals[7];
        row->redraws = get_u64(r);
        row->skipped = get_u64(r);
        row->phase = get_u64(r) ? "adapt" : "fit";
    }
    fit->n_trace = (size_t)rows;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Files                                                                */
/* ------------------------------------------------------------------ */

/* ".<base>.vihost-checkpoint" beside dir (trailing slashes ignored). */
static char *ck_path_for(const char *dir)
{
    size_t n = strlen(dir), plen;
    while (n > 1 && dir[n - 1] == '/')
        n--;
    for (plen = n; plen > 0 && dir[plen - 1] != '/';)
        plen--;
    const char *base = dir + plen;
    size_t blen = n - plen;
    char *path = malloc(plen + blen + sizeof ".." ".vihost-checkpoint");
    if (path != NULL)
        sprintf(path, "%.*s.%.*s.vihost-checkpoint", (int)plen, dir, (int)blen, base);
    return path;
}

/* Reads the whole file (at most CK_MAX_BYTES); 0, ENOENT when there is
 * none, or another errno. */
static int ck_read_file(const char *path, unsigned char **out, size_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return errno;
    int e = fstat(fd, &st) != 0 ? errno : !S_ISREG(st.st_mode) ? EISDIR
            : (uint64_t)st.st_size > CK_MAX_BYTES ? EFBIG : 0;
    if (e != 0) {
        close(fd);
        return e;
    }
    size_t n = (size_t)st.st_size, got = 0;
    unsigned char *buf = malloc(n + 1);
    while (buf != NULL && got < n) {
        ssize_t k = read(fd, buf + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    e = buf == NULL ? ENOMEM : got < n ? EIO : 0;
    close(fd);
    if (e != 0) {
        free(buf);
        return e;
    }
    *out = buf;
    *size = n;
    return 0;
}

/* Checks the frame of a read checkpoint: magic, revision, byte order,
 * checksum, fingerprint.  0, or -1 with err. */
static int ck_check_frame(vh_checkpoint *ck, vh_err *err)
{
    const unsigned char *b = ck->saved;
    uint32_t head[2];
    uint64_t sum, fingerprint;
    if (ck->saved_size < 8 + sizeof head + 3 * sizeof(uint64_t) || memcmp(b, CK_MAGIC, 8) != 0)
        return vh_err_set(err, VH_EXIT_USAGE,
                          "%s is not a vihost checkpoint; remove it to start afresh", ck->path);
    memcpy(head, b + 8, sizeof head);
    memcpy(&sum, b + ck->saved_size - sizeof sum, sizeof sum);
    if (head[0] != CK_FORMAT || head[1] != CK_BYTE_ORDER)
        return vh_err_set(err, VH_EXIT_USAGE,
                          "%s was written by another vihost or machine (format %u); remove it "
                          "to start afresh", ck->path, (unsigned)head[0]);
    if (ck_hash(CK_FNV_OFFSET, b, ck->saved_size - sizeof sum) != sum)
        return vh_err_set(err, VH_EXIT_USAGE,
                          "%s is damaged (its checksum does not match); remove it to start "
                          "afresh", ck->path);
    memcpy(&fingerprint, b + 8 + sizeof head, sizeof fingerprint);
    if (fingerprint != ck->fingerprint)
        return vh_err_set(err, VH_EXIT_USAGE,
                          "%s belongs to another run: the run file, its data or a plugin has "
                          "changed since it was written; remove it to start afresh, or run "
                          "without --resume", ck->path);
    memcpy(&ck->resumed_at, b + 8 + sizeof head + sizeof fingerprint, sizeof ck->resumed_at);
    return 0;
}

int vh_checkpoint_open(const vh_model *model, const char *output_dir, uint64_t every,
                       uint64_t fingerprint, int resume, int quiet, vh_checkpoint **out,
                       vh_err *err)
{
    *out = NULL;
    /* Without its state the optimizer would restart its moments and step
     * count, and the resumed fit would differ from an uninterrupted one. */
    if (model->optimizer->save_state == NULL)
        return vh_err_set(err, VH_EXIT_USAGE,
                          "output.checkpoint_every and --resume need an optimizer that can "
                          "save its state, and %s cannot; leave them out or choose another "
                          "optimizer", model->optimizer_label);
    vh_checkpoint *ck = calloc(1, sizeof *ck);
    if (ck == NULL || (ck->path = ck_path_for(output_dir)) == NULL ||
        (ck->tmp = malloc(strlen(ck->path) + 5)) == NULL) {
        vh_checkpoint_free(ck);
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    }
    sprintf(ck->tmp, "%s.tmp", ck->path);
    ck->every = every;
    ck->fingerprint = fingerprint;
    ck->quiet = quiet;
    int e = resume ? ck_read_file(ck->path, &ck->saved, &ck->saved_size) : ENOENT;
    if (resume && e == ENOENT && !quiet)
        fprintf(stderr, "vihost: no checkpoint %s: starting from the beginning\n", ck->path);
    if (e != 0 && e != ENOENT) {
        vh_err_set(err, VH_EXIT_USAGE, "cannot read checkpoint %s: %s", ck->path, strerror(e));
        vh_checkpoint_free(ck);
        return -1;
    }
    if (ck->saved != NULL && ck_check_frame(ck, err) != 0) {
        vh_checkpoint_free(ck);
        return -1;
    }
    *out = ck;
    return 0;
}

uint64_t vh_checkpoint_resumed_at(const vh_checkpoint *ck)
{
    return ck != NULL && ck->saved != NULL && ck->resumed_at != CK_FINISHED ? ck->resumed_at
                                                                             : 0;
}

int vh_checkpoint_finished(const vh_checkpoint *ck)
{
    return ck != NULL && ck->saved != NULL && ck->resumed_at == CK_FINISHED;
}

int vh_checkpoint_restore(vh_checkpoint *ck, const vh_engine_view *v, vh_err *err)
{
    const vh_model *m = v->model;
    size_t n = m->n_params;
    uint32_t head[2];
    char magic[8];
    ck_reader r = {ck->saved, ck->saved + ck->saved_size - sizeof(uint64_t), 0};
    get(&r, magic, 8);
    get(&r, head, sizeof head);
    get_u64(&r);   /* fingerprint, iteration: checked by open */
    get_u64(&r);
    get_f64s(&r, v->iterate, n);
    get_f64s(&r, v->average, n);
    *v->averaged = get_u64(&r);
    uint64_t returned = get_u64(&r);
    *v->skips_in_a_row = (unsigned)get_u64(&r);
    *v->init_elbo = get_f64(&r);
    *v->init_mcse = get_f64(&r);
    *v->row_redraws = get_u64(&r);
    *v->row_skipped = get_u64(&r);
    *v->grad_norm = get_f64(&r);
    *v->grad_snr = get_f64(&r);
    *v->step_norm = get_f64(&r);
    double seconds = get_f64(&r);
    v->fit->gradient_evaluations = get_u64(&r);
    v->fit->redraws = get_u64(&r);
    v->fit->skipped = get_u64(&r);
    v->fit->adapted_rate = get_f64(&r);
    uint64_t state_size = get_u64(&r);
    const unsigned char *state = r.p;
    if (state_size > (uint64_t)(r.end - r.p))
        r.bad = 1;
    else
        r.p += state_size;
    get_stopping(&r, v->stopping);
    if (get_trace(&r, v) != 0)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory restoring the trace");
    uint64_t anchored = get_u64(&r), anchored_at = get_u64(&r);
    vh_batcher *b = v->batcher;
    if (anchored && (b == NULL || b->anchor_every == 0))
        r.bad = 1;
    else
        get_f64s(&r, anchored ? b->anchor : NULL, anchored ? m->dim : 0);
    if (r.bad || r.p != r.end || returned > 2 || anchored > 1)
        return vh_err_set(err, VH_EXIT_USAGE,
                          "%s does not fit this run's model (its sizes differ); remove it to "
                          "start afresh", ck->path);
    if (anchored && vh_batcher_anchor(b, m, b->anchor, anchored_at, err) != 0)
        return -1;
    *v->returned = returned == 1 ? v->average
                   : returned == 2 && vh_stopping_average(v->stopping) != NULL
                       ? vh_stopping_average(v->stopping) : v->iterate;
    *v->start = vh_now() - seconds;
    vi_error perr = {sizeof perr, 0, ""};
    if (state_size > 0 &&
        (m->optimizer->load_state == NULL ||
         m->optimizer->load_state(m->optimizer_self, state, (size_t)state_size, &perr) != 0))
        return vh_err_set(err, VH_EXIT_USAGE,
                          "%s: %s cannot take the saved optimizer state: %s; remove the "
                          "checkpoint to start afresh", ck->path, m->optimizer_label,
                          perr.message[0] ? perr.message : "no load_state");
    if (!ck->quiet)
        fprintf(stderr, "vihost: resuming %s from iteration %llu (checkpoint %s)\n",
                m->family_label, (unsigned long long)ck->resumed_at, ck->path);
    return 0;
}

/* Writes the state after iteration t (with v NULL: the frame of a
 * finished fit) to the temporary file, flushes and syncs it, then renames
 * it over the checkpoint and syncs the folder: the old checkpoint or the
 * new one, whole, whenever the process dies.  0 or an errno. */
static int ck_write(vh_checkpoint *ck, const vh_engine_view *v, uint64_t t,
                    const unsigned char *state, size_t state_size)
{
    ck_writer w = {fopen(ck->tmp, "wb"), CK_FNV_OFFSET};
    if (w.f == NULL)
        return errno;
    if (v != NULL)
        put_state(&w, ck, v, t, state, state_size);
    else
        put_frame(&w, ck, CK_FINISHED);
    uint64_t sum = w.sum;
    fwrite(&sum, sizeof sum, 1, w.f);
    int e = fflush(w.f) != 0 || ferror(w.f) ? (errno ? errno : EIO) : 0;
    if (e == 0 && fsync(fileno(w.f)) != 0 && errno != EINVAL)
        e = errno;
    if (fclose(w.f) != 0 && e == 0)
        e = errno;
    if (e == 0 && rename(ck->tmp, ck->path) != 0)
        e = errno;
    if (e != 0) {
        unlink(ck->tmp);
        return e;
    }
    char *slash = strrchr(ck->path, '/');
    char *dir = slash == NULL ? strdup(".") : strndup(ck->path, (size_t)(slash - ck->path) + 1);
    int fd = dir != NULL ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
    return 0;
}

int vh_checkpoint_save(vh_checkpoint *ck, const vh_engine_view *v, uint64_t t, vh_err *err)
{
    if (ck == NULL || ck->every == 0 || ck->broken || t % ck->every != 0)
        return 0;
    const vh_model *m = v->model;
    const vi_optimizer_desc *o = m->optimizer;
    size_t size = o->state_size != NULL ? o->state_size(m->optimizer_self) : 0;
    unsigned char *state = malloc(size + 1);
    vi_error perr = {sizeof perr, 0, ""};
    if (state == NULL)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory saving a checkpoint");
    if (size > 0 && o->save_state(m->optimizer_self, state, &perr) != 0) {
        free(state);
        return vh_err_set(err, VH_EXIT_NUMERIC, "%s: save_state failed at iteration %llu: %s",
                          m->optimizer_label, (unsigned long long)t,
                          perr.message[0] ? perr.message : "no message");
    }
    int e = ck_write(ck, v, t, state, size);
    free(state);
    if (e != 0) {
        ck->broken = 1;
        fprintf(stderr, "vihost: warning: cannot write checkpoint %s: %s; the run goes on "
                        "without checkpoints\n", ck->path, strerror(e));
    }
    return 0;
}

void vh_checkpoint_finish(vh_checkpoint *ck)
{
    if (ck == NULL)
        return;
    unlink(ck->path);
    unlink(ck->tmp);
}

void vh_checkpoint_keep_finished(vh_checkpoint *ck)
{
    if (ck == NULL)
        return;
    if (ck->every == 0 || ck->broken || ck_write(ck, NULL, 0, NULL, 0) != 0)
        vh_checkpoint_finish(ck); /* no marker: a resumed run fits it again */
}

void vh_checkpoint_remove(const char *output_dir)
{
    char *path = ck_path_for(output_dir);
    if (path == NULL)
        return;
    unlink(path);
    free(path);
}

void vh_checkpoint_free(vh_checkpoint *ck)
{
    if (ck == NULL)
        return;
    free(ck->path);
    free(ck->tmp);
    free(ck->saved);
    free(ck);
}
