/* data.c — a target's data file, read once into named values.
 *
 * JSON follows CmdStan's data format: a top-level object whose members are
 * numbers or rectangular nests of arrays of numbers (row-major, rank up to
 * VI_MAX_RANK).  CmdStan also reads "inf" and "NaN" strings; they are
 * refused here because every plugin assumes finite data.  CSV: a header of
 * names, then rows of numbers; each column becomes a vector.
 *
 * Every error is one line naming the file (with line:column where there
 * is one) and exits with VH_EXIT_USAGE; only running out of memory is
 * VH_EXIT_FAILURE. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "data.h"
#include "jsonfast.h"

/* A data file larger than this is almost certainly a mistake (and would
 * need several times its size in memory). */
#define VH_DATA_MAX_BYTES ((size_t)1 << 30)
/* Integers beyond 2^53 are not all representable as doubles. */
#define VH_DATA_MAX_EXACT 9007199254740992.0

typedef struct vh_data_entry {
    const char *name;   /* borrowed from vh_data.names */
    size_t index;       /* position in insertion order */
} vh_data_entry;

struct vh_data {
    char *path;
    size_t count, cap;
    char **names;          /* insertion order */
    vh_value *values;      /* parallel to names */
    vh_data_entry *sorted; /* by name, for lookup */
};

static int vh_data_nomem(const char *path, vh_err *err)
{
    return vh_err_set(err, VH_EXIT_FAILURE, "%s: out of memory reading the data file",
                      path);
}

/* ------------------------------------------------------------------ */
/* The variable table                                                  */
/* ------------------------------------------------------------------ */

/* Appends `name` with `value`, taking over what the value owns (cleared
 * on failure too). */
static int vh_data_push(vh_data *data, const char *name, vh_value *value,
                        vh_err *err)
{
    if (data->count == data->cap) {
        size_t cap = data->cap ? 2 * data->cap : 16;
        char **names = realloc(data->names, cap * sizeof *names);
        if (names)
            data->names = names;
        vh_value *values = names ? realloc(data->values, cap * sizeof *values)
                                 : NULL;
        if (!values) {
            vh_value_clear(value);
            return vh_data_nomem(data->path, err);
        }
        data->values = values;
        data->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy) {
        vh_value_clear(value);
        return vh_data_nomem(data->path, err);
    }
    data->names[data->count] = copy;
    data->values[data->count] = *value;
    data->count++;
    memset(value, 0, sizeof *value);
    return 0;
}

static int vh_data_entry_cmp(const void *a, const void *b)
{
    const vh_data_entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c != 0)
        return c;
    return (x->index > y->index) - (x->index < y->index);
}

/* Builds the sorted index that vh_data_get searches. */
static int vh_data_index(vh_data *data, vh_err *err)
{
    data->sorted = malloc((data->count ? data->count : 1) * sizeof *data->sorted);
    if (!data->sorted)
        return vh_data_nomem(data->path, err);
    for (size_t i = 0; i < data->count; i++) {
        data->sorted[i].name = data->names[i];
        data->sorted[i].index = i;
    }
    qsort(data->sorted, data->count, sizeof *data->sorted, vh_data_entry_cmp);
    return 0;
}

const vh_value *vh_data_get(const vh_data *data, const char *name)
{
    if (!data || !name || !data->sorted)
        return NULL;
    size_t lo = 0, hi = data->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, data->sorted[mid].name);
        if (c == 0)
            return &data->values[data->sorted[mid].index];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

size_t vh_data_count(const vh_data *data)
{
    return data ? data->count : 0;
}

const char *vh_data_name(const vh_data *data, size_t i)
{
    return data && i < data->count ? data->names[i] : NULL;
}

const char *vh_data_path(const vh_data *data)
{
    return data ? data->path : NULL;
}

void vh_data_free(vh_data *data)
{
    if (!data)
        return;
    for (size_t i = 0; i < data->count; i++) {
        free(data->names[i]);
        vh_value_clear(&data->values[i]);
    }
    free(data->names);
    free(data->values);
    free(data->sorted);
    free(data->path);
    free(data);
}

/* ------------------------------------------------------------------ */
/* Shared helpers                                                      */
/* ------------------------------------------------------------------ */

static int vh_data_whole(double x)
{
    return x == floor(x) && fabs(x) <= VH_DATA_MAX_EXACT;
}

/* CmdStan's spellings of non-finite numbers, with an optional sign. */
static int vh_data_nonfinite_word(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    return strcasecmp(s, "inf") == 0 || strcasecmp(s, "infinity") == 0 ||
           strcasecmp(s, "nan") == 0;
}

/* A name must print on one line in messages and be findable by a key. */
static int vh_data_name_ok(const char *name)
{
    if (*name == '\0')
        return 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

/* Reads fd to its end into a NUL-terminated buffer of at most
 * VH_DATA_MAX_BYTES; `hint` is the expected size (0: unknown).  Returns 0,
 * -1 with errno set, or 1 when the file is too large. */
static int vh_data_read_fd(int fd, size_t hint, char **text, size_t *length)
{
    size_t cap = hint + 1 < 4096 ? 4096 : hint + 1, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return -1;
    for (;;) {
        if (len + 1 == cap) {
            /* Full: grow only when the file really goes on (the size
             * hint is usually exact, so this is rare). */
            char probe;
            ssize_t got = read(fd, &probe, 1);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0) {
                if (got == 0)
                    break;
                free(buf);
                return -1;
            }
            char *grown = len < VH_DATA_MAX_BYTES ? realloc(buf, 2 * cap) : NULL;
            if (!grown) {
                free(buf);
                return len < VH_DATA_MAX_BYTES ? -1 : 1;
            }
            buf = grown;
            cap *= 2;
            buf[len++] = probe;
            continue;
        }
        ssize_t got = read(fd, buf + len, cap - 1 - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            free(buf);
            return -1;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    if (len > VH_DATA_MAX_BYTES) {
        free(buf);
        return 1;
    }
    buf[len] = '\0';
    *text = buf;
    *length = len;
    return 0;
}

/* Reads the whole file into a NUL-terminated buffer. */
static int vh_data_read_file(const char *path, char **text, size_t *length,
                             vh_err *err)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vh_err_set(err, VH_EXIT_USAGE, "%s: cannot open the data file: %s",
                          path, strerror(errno));
    size_t hint = 0;
    if (fstat(fd, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            close(fd);
            return vh_err_set(err, VH_EXIT_USAGE,
                              "%s: is a folder, not a data file", path);
        }
        if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > VH_DATA_MAX_BYTES) {
            close(fd);
            return vh_err_set(err, VH_EXIT_USAGE,
                              "%s: the data file is larger than 1 GiB", path);
        }
        if (S_ISREG(st.st_mode))
            hint = (size_t)st.st_size;
    }
    int rc = vh_data_read_fd(fd, hint, text, length);
    int saved = errno;
    close(fd);
    if (rc > 0)
        return vh_err_set(err, VH_EXIT_USAGE,
                          "%s: the data file is larger than 1 GiB", path);
    if (rc < 0 && saved == ENOMEM)
        return vh_data_nomem(path, err);
    if (rc < 0)
        return vh_err_set(err, VH_EXIT_USAGE, "%s: cannot read the data file: %s",
                          path, strerror(saved));
    return 0;
}

/* ------------------------------------------------------------------ */
/* JSON                                                                */
/* ------------------------------------------------------------------ */

/* Walks one JSON array variable: first to check that it is rectangular
 * (out == NULL), then to copy its numbers (out != NULL). */
typedef struct vh_json_walk {
    const char *path;
    const char *name;
    size_t ndim;
    size_t shape[VI_MAX_RANK];
    size_t index[VI_MAX_RANK];  /* 0-based position being visited */
    double *out;
    size_t filled;
    int integral;
    vh_err *err;
} vh_json_walk;

/* "3" for one index, "[2,3]" for several; 1-based.  `ones` prints the
 * first position instead (the row the shape was taken from). */
static void vh_json_index_text(const vh_json_walk *w, size_t n, int ones,
                               char *buf, size_t size)
{
    size_t used = 0;
    if (n > 1)
        used += (size_t)snprintf(buf, size, "[");
    for (size_t k = 0; k < n && used < size; k++)
        used += (size_t)snprintf(buf + used, size - used, "%s%zu", k ? "," : "",
                                 ones ? (size_t)1 : w->index[k] + 1);
    if (n > 1 && used < size)
        snprintf(buf + used, size - used, "]");
}

/* The one-line refusal of a value that is not a number; `where` locates
 * it inside the variable (NULL: the variable itself). */
static int vh_json_refuse(const char *path, const char *name,
                          const json_t *value, const char *where,
                          vh_err *err)
{
    char at[96] = "";
    if (where)
        snprintf(at, sizeof at, " element %s", where);
    if (json_is_string(value) && vh_data_nonfinite_word(json_string_value(value)))
        return vh_err_set(err, VH_EXIT_USAGE,
                          "%s: variable '%s'%s is not finite (\"%s\"); "
                          "data must be finite numbers",
                          path, name, at, json_string_value(value));
    const char *what = json_is_string(value) ? "a string"
                       : json_is_null(value) ? "null"
                       : json_is_true(value) ? "true (write 1)"
                       : json_is_false(value) ? "false (write 0)"
                       : json_is_object(value) ? "an object"
                                               : "not a number";
    return vh_err_set(err, VH_EXIT_USAGE, "%s: variable '%s'%s is %s, not a number",
                      path, name, at, what);
}

static int vh_json_leaf(vh_json_walk *w, const json_t *leaf, size_t depth)
{
    char at[80];
    vh_json_index_text(w, depth, 0, at, sizeof at);
    if (json_is_array(leaf)) {
        char first[80];
        vh_json_index_text(w, depth, 1, first, sizeof first);
        return vh_err_set(w->err, VH_EXIT_USAGE,
                          "%s: variable '%s' is ragged: element %s is an array, "
                          "element %s is a number",
                          w->path, w->name, at, first);
    }
    if (!json_is_number(leaf))
        return vh_json_refuse(w->path, w->name, leaf, at, w->err);
    double x = json_number_value(leaf);
    if (!isfinite(x))
        return vh_err_set(w->err, VH_EXIT_USAGE,
                          "%s: variable '%s' element %s is not finite", w->path,
                          w->name, at);
    if (!vh_data_whole(x))
        w->integral = 0;
    if (w->out)
        w->out[w->filled] = x;
    w->filled++;
    return 0;
}

static int vh_json_walk_array(vh_json_walk *w, const json_t *node, size_t depth)
{
    size_t size = json_array_size(node);
    if (size != w->shape[depth]) {
        char row[80], first[80];
        vh_json_index_text(w, depth, 0, row, sizeof row);
        vh_json_index_text(w, depth, 1, first, sizeof first);
        return vh_err_set(w->err, VH_EXIT_USAGE,
                          "%s: variable '%s' is ragged: row %s has %zu element%s, "
                          "row %s has %zu",
                          w->path, w->name, row, size, size == 1 ? "" : "s", first,
                          w->shape[depth]);
    }
    for (size_t i = 0; i < size; i++) {
        const json_t *child = json_array_get(node, i);
        w->index[depth] = i;
        if (depth + 1 == w->ndim) {
            if (vh_json_leaf(w, child, depth + 1) != 0)
                return -1;
            continue;
        }
        if (json_is_array(child)) {
            if (vh_json_walk_array(w, child, depth + 1) != 0)
                return -1;
            continue;
        }
        char row[80], first[80];
        vh_json_index_text(w, depth + 1, 0, row, sizeof row);
        if (!json_is_number(child))
            return vh_json_refuse(w->path, w->name, child, row, w->err);
        vh_json_index_text(w, depth + 1, 1, first, sizeof first);
        return vh_err_set(w->err, VH_EXIT_USAGE,
                          "%s: variable '%s' is ragged: row %s is a number, "
                          "row %s has %zu element%s",
                          w->path, w->name, row, first, w->shape[depth + 1],
                          w->shape[depth + 1] == 1 ? "" : "s");
    }
    return 0;
}

/* An array variable: its shape from the first element at each depth, a
 * checking walk, then a copying walk. */
static int vh_json_array_value(const char *path, const char *name,
                               const json_t *json, vh_value *value, vh_err *err)
{
    vh_json_walk w = {.path = path, .name = name, .integral = 1, .err = err};
    const json_t *node = json;
    while (json_is_array(node)) {
        if (w.ndim == VI_MAX_RANK)
            return vh_err_set(err, VH_EXIT_USAGE,
                              "%s: variable '%s' has more than %d dimensions",
                              path, name, VI_MAX_RANK);
        w.shape[w.ndim++] = json_array_size(node);
        if (json_array_size(node) == 0)
            break;
        node = json_array_get(node, 0);
    }
    if (vh_json_walk_array(&w, json, 0) != 0)
        return -1;
    /* Rectangular now, so the element count is what the file holds. */
    size_t length = w.filled;
    double *numbers = malloc((length ? length : 1) * sizeof *numbers);
    if (!numbers)
        return vh_data_nomem(path, err);
    w.out = numbers;
    w.filled = 0;
    if (vh_json_walk_array(&w, json, 0) != 0) {
        free(numbers);
        return -1;
    }
    memset(value, 0, sizeof *value);
    value->kind = VH_VALUE_ARRAY;
    value->numbers = numbers;
    value->length = length;
    value->ndim = w.ndim;
    memcpy(value->shape, w.shape, sizeof w.shape);
    value->integral = w.integral;
    return 0;
}

static int vh_json_value(const char *path, const char *name, const json_t *json,
                         vh_value *value, vh_err *err)
{
    if (json_is_array(json))
        return vh_json_array_value(path, name, json, value, err);
    if (!json_is_number(json))
        return vh_json_refuse(path, name, json, NULL, err);
    double x = json_number_value(json);
    if (!isfinite(x))
        return vh_err_set(err, VH_EXIT_USAGE, "%s: variable '%s' is not finite",
                          path, name);
    memset(value, 0, sizeof *value);
    value->numbers = malloc(sizeof *value->numbers);
    if (!value->numbers)
        return vh_data_nomem(path, err);
    value->kind = VH_VALUE_NUMBER;
    value->numbers[0] = x;
    value->length = 1;
    value->ndim = 0;
    value->integral = vh_data_whole(x);
    return 0;
}

static const char *vh_json_type_name(const json_t *json)
{
    switch (json_typeof(json)) {
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    default: return "not an object";
    }
}

static int vh_data_parse_json_slow(vh_data *data, const char *text, size_t length,
                                   vh_err *err);

/* The fast reader's variables go straight into the table. */
typedef struct vh_data_fast {
    vh_data *data;
    vh_err *err;
} vh_data_fast;

static int vh_data_fast_push(void *ctx, const char *name, vh_value *value)
{
    vh_data_fast *f = ctx;
    return vh_data_push(f->data, name, value, f->err);
}

/* Empties the table (after the fast reader gave up half way). */
static void vh_data_clear(vh_data *data)
{
    for (size_t i = 0; i < data->count; i++) {
        free(data->names[i]);
        vh_value_clear(&data->values[i]);
    }
    data->count = 0;
}

/* The fast reader first (jsonfast.h); jansson for everything it leaves,
 * which also gives every error its message. */
static int vh_data_parse_json(vh_data *data, const char *text, size_t length,
                              vh_err *err)
{
    vh_data_fast fast = {data, err};
    int rc = vh_jsonfast_parse(text, length, vh_data_fast_push, &fast, NULL, NULL);
    if (rc == 0)
        return 0;
    vh_data_clear(data);
    if (rc < 0)
        return vh_data_nomem(data->path, err);
    return vh_data_parse_json_slow(data, text, length, err);
}

static int vh_data_parse_json_slow(vh_data *data, const char *text, size_t length,
                                   vh_err *err)
{
    json_error_t jerr;
    /* Every number as a double: Stan data are reals or integers that must
     * fit a double anyway, and this also takes integers beyond int64. */
    size_t flags = JSON_REJECT_DUPLICATES | JSON_DECODE_ANY |
                   JSON_DECODE_INT_AS_REAL;
    json_t *root = json_loadb(text, length, flags, &jerr);
    if (!root) {
        if (jerr.line > 0 && jerr.column > 0)
            return vh_err_set(err, VH_EXIT_USAGE, "%s:%d:%d: JSON syntax error: %s",
                              data->path, jerr.line, jerr.column, jerr.text);
        /* A byte that is not UTF-8 is found before its column is counted. */
        if (jerr.line > 0)
            return vh_err_set(err, VH_EXIT_USAGE,
                              "%s:%d: JSON syntax error: %s (at byte %d)", data->path,
                              jerr.line, jerr.text, jerr.position);
        return vh_err_set(err, VH_EXIT_USAGE, "%s: JSON syntax error: %s",
                          data->path, jerr.text);
    }
    if (!json_is_object(root)) {
        vh_err_set(err, VH_EXIT_USAGE,
                   "%s: the data must be a JSON object of named variables "
                   "({\"N\": 3, \"y\": [1, 2, 3]}), not %s",
                   data->path, vh_json_type_name(root));
        json_decref(root);
        return -1;
    }
    const char *key;
    json_t *item;
    /* jansson (>= 2.8) iterates in insertion order: the file's order. */
    json_object_foreach(root, key, item) {
        vh_value value;
        if (!vh_data_name_ok(key)) {
            vh_err_set(err, VH_EXIT_USAGE,
                       "%s: a variable name is empty or holds a control character",
                       data->path);
            json_decref(root);
            return -1;
        }
        if (vh_json_value(data->path, key, item, &value, err) != 0 ||
            vh_data_push(data, key, &value, err) != 0) {
            json_decref(root);
            return -1;
        }
    }
    json_decref(root);
    return 0;
}

/* ------------------------------------------------------------------ */
/* CSV                                                                 */
/* ------------------------------------------------------------------ */

typedef struct vh_csv_field {
    size_t offset;   /* into vh_csv_line.text, NUL-terminated */
    size_t column;   /* 1-based, in characters */
} vh_csv_field;

/* One line split into fields; the buffers are reused line after line. */
typedef struct vh_csv_line {
    vh_csv_field *fields;
    size_t n, cap;
    char *text;
    size_t len, text_cap;
    size_t end_column;   /* the column just past the line's last character */
} vh_csv_line;

/* Counts characters, not bytes: UTF-8 continuation bytes do not start
 * one. */
static size_t vh_csv_columns(const char *from, const char *to)
{
    size_t n = 0;
    for (const char *p = from; p < to; p++)
        if (((unsigned char)*p & 0xC0) != 0x80)
            n++;
    return n;
}

static int vh_csv_putc(vh_csv_line *line, char c)
{
    if (line->len == line->text_cap) {
        size_t cap = line->text_cap ? 2 * line->text_cap : 256;
        char *text = realloc(line->text, cap);
        if (!text)
            return -1;
        line->text = text;
        line->text_cap = cap;
    }
    line->text[line->len++] = c;
    return 0;
}

static int vh_csv_new_field(vh_csv_line *line, size_t column)
{
    if (line->n == line->cap) {
        size_t cap = line->cap ? 2 * line->cap : 16;
        vh_csv_field *fields = realloc(line->fields, cap * sizeof *fields);
        if (!fields)
            return -1;
        line->fields = fields;
        line->cap = cap;
    }
    line->fields[line->n].offset = line->len;
    line->fields[line->n].column = column;
    line->n++;
    return 0;
}

/* Copies one field starting at *pp (after leading blanks) into the line's
 * text; quoted fields may hold commas and "" for a quote.  Leaves *pp at
 * the ',' or the end.  Returns 0, -1 on ENOMEM, or 1 with *bad set to the
 * position of a quoting error and *why to its description. */
static int vh_csv_copy_field(vh_csv_line *line, const char **pp, const char *end,
                             const char **bad, const char **why)
{
    const char *p = *pp;
    if (p < end && *p == '"') {
        const char *open = p++;
        for (;;) {
            if (p == end) {
                *bad = open;
                *why = "unterminated quoted field (a field cannot span lines)";
                return 1;
            }
            if (*p == '"' && (p + 1 == end || p[1] != '"'))
                break;
            if (*p == '"')
                p++;
            if (vh_csv_putc(line, *p++) != 0)
                return -1;
        }
        p++;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p < end && *p != ',') {
            *bad = p;
            *why = "text after a closing quote";
            return 1;
        }
    } else {
        const char *start = p;
        while (p < end && *p != ',')
            p++;
        const char *stop = p;
        while (stop > start && (stop[-1] == ' ' || stop[-1] == '\t'))
            stop--;
        for (const char *q = start; q < stop; q++)
            if (vh_csv_putc(line, *q) != 0)
                return -1;
    }
    *pp = p;
    return vh_csv_putc(line, '\0');
}

/* Splits [begin, end) at commas into line->fields. */
static int vh_csv_split(const char *path, size_t lineno, const char *begin,
                        const char *end, vh_csv_line *line, vh_err *err)
{
    const char *p = begin, *counted = begin;
    size_t column = 1;
    line->n = 0;
    line->len = 0;
    for (;;) {
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        column += vh_csv_columns(counted, p);
        counted = p;
        const char *bad = NULL, *why = NULL;
        int rc = vh_csv_new_field(line, column);
        if (rc == 0)
            rc = vh_csv_copy_field(line, &p, end, &bad, &why);
        if (rc < 0)
            return vh_data_nomem(path, err);
        if (rc > 0)
            return vh_err_set(err, VH_EXIT_USAGE, "%s:%zu:%zu: %s", path, lineno,
                              column + vh_csv_columns(counted, bad), why);
        if (p == end)
            break;
        p++; /* the comma */
    }
    line->end_column = column + vh_csv_columns(counted, end);
    return 0;
}

/* Parses one CSV field as a finite decimal number (no hex, no inf/nan). */
static int vh_csv_parse_number(const char *s, double *x)
{
    const char *p = s;
    int digits = 0;
    if (*p == '+' || *p == '-')
        p++;
    for (; isdigit((unsigned char)*p); p++)
        digits++;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++)
            digits++;
    if (digits == 0)
        return -1;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p != '\0')
        return -1;
    *x = strtod(s, NULL);
    return 0;
}

/* The state of one CSV read: the header's columns become the values. */
typedef struct vh_csv {
    const char *path;
    vh_err *err;
    vh_csv_line line;
    size_t header_line;
    size_t n_cols;
    char **names;
    vh_value *columns;     /* each an ARRAY growing by rows */
    size_t rows, row_cap;
} vh_csv;

/* Refuses duplicate header names, naming the first repeated one. */
static int vh_csv_check_duplicates(vh_csv *csv)
{
    vh_data_entry *byname = malloc((csv->n_cols ? csv->n_cols : 1) * sizeof *byname);
    if (!byname)
        return vh_data_nomem(csv->path, csv->err);
    for (size_t j = 0; j < csv->n_cols; j++)
        byname[j] = (vh_data_entry){csv->names[j], j};
    qsort(byname, csv->n_cols, sizeof *byname, vh_data_entry_cmp);
    size_t dup = csv->n_cols, first = 0;
    for (size_t j = 1; j < csv->n_cols; j++)
        if (strcmp(byname[j].name, byname[j - 1].name) == 0 && byname[j].index < dup) {
            dup = byname[j].index;
            first = byname[j - 1].index;
        }
    free(byname);
    if (dup == csv->n_cols)
        return 0;
    /* sorted by (name, index): the previous entry of a run is earlier */
    return vh_err_set(csv->err, VH_EXIT_USAGE,
                      "%s:%zu:%zu: duplicate column name '%s' (also column %zu)",
                      csv->path, csv->header_line, csv->line.fields[dup].column,
                      csv->names[dup], first + 1);
}

static int vh_csv_header(vh_csv *csv)
{
    vh_csv_line *line = &csv->line;
    csv->n_cols = line->n;
    csv->names = calloc(line->n, sizeof *csv->names);
    csv->columns = calloc(line->n, sizeof *csv->columns);
    if (!csv->names || !csv->columns)
        return vh_data_nomem(csv->path, csv->err);
    for (size_t j = 0; j < line->n; j++) {
        const char *name = line->text + line->fields[j].offset;
        if (!vh_data_name_ok(name))
            return vh_err_set(csv->err, VH_EXIT_USAGE,
                              "%s:%zu:%zu: column %zu of the header has %s", csv->path,
                              csv->header_line, line->fields[j].column, j + 1,
                              *name ? "a control character in its name" : "no name");
        csv->names[j] = strdup(name);
        if (!csv->names[j])
            return vh_data_nomem(csv->path, csv->err);
        csv->columns[j].kind = VH_VALUE_ARRAY;
        csv->columns[j].ndim = 1;
        csv->columns[j].integral = 1;
    }
    return vh_csv_check_duplicates(csv);
}

/* Makes room for one more row in every column. */
static int vh_csv_grow(vh_csv *csv)
{
    if (csv->rows < csv->row_cap)
        return 0;
    size_t cap = csv->row_cap ? 2 * csv->row_cap : 4; /* small: there may be many columns */
    for (size_t j = 0; j < csv->n_cols; j++) {
        double *numbers = realloc(csv->columns[j].numbers, cap * sizeof *numbers);
        if (!numbers)
            return vh_data_nomem(csv->path, csv->err);
        csv->columns[j].numbers = numbers;
    }
    csv->row_cap = cap;
    return 0;
}

static int vh_csv_row(vh_csv *csv, size_t lineno)
{
    vh_csv_line *line = &csv->line;
    if (line->n != csv->n_cols) {
        size_t column = line->n > csv->n_cols ? line->fields[csv->n_cols].column
                                              : line->end_column;
        return vh_err_set(csv->err, VH_EXIT_USAGE,
                          "%s:%zu:%zu: row has %zu fields, the header (line %zu) has %zu",
                          csv->path, lineno, column, line->n, csv->header_line,
                          csv->n_cols);
    }
    if (vh_csv_grow(csv) != 0)
        return -1;
    for (size_t j = 0; j < csv->n_cols; j++) {
        const char *text = line->text + line->fields[j].offset;
        size_t column = line->fields[j].column;
        double x;
        if (*text == '\0')
            return vh_err_set(csv->err, VH_EXIT_USAGE,
                              "%s:%zu:%zu: column '%s' is empty (missing values "
                              "are not allowed)",
                              csv->path, lineno, column, csv->names[j]);
        if (vh_data_nonfinite_word(text))
            return vh_err_set(csv->err, VH_EXIT_USAGE,
                              "%s:%zu:%zu: column '%s' value '%s' is not finite",
                              csv->path, lineno, column, csv->names[j], text);
        if (vh_csv_parse_number(text, &x) != 0)
            return vh_err_set(csv->err, VH_EXIT_USAGE,
                              "%s:%zu:%zu: column '%s' value '%.40s' is not a number",
                              csv->path, lineno, column, csv->names[j], text);
        if (!isfinite(x))
            return vh_err_set(csv->err, VH_EXIT_USAGE,
                              "%s:%zu:%zu: column '%s' value '%.40s' is out of range",
                              csv->path, lineno, column, csv->names[j], text);
        csv->columns[j].numbers[csv->rows] = x;
        if (!vh_data_whole(x))
            csv->columns[j].integral = 0;
    }
    csv->rows++;
    return 0;
}

/* Splits the text into lines and hands each non-blank, non-comment one to
 * the header or row reader. */
static int vh_csv_lines(vh_csv *csv, const char *text, size_t length)
{
    const char *p = text, *end = text + length;
    for (size_t lineno = 1; p < end; lineno++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end, *first = p;
        if (stop > p && stop[-1] == '\r')
            stop--;
        while (first < stop && (*first == ' ' || *first == '\t'))
            first++;
        if (first < stop && *first != '#') {
            if (memchr(p, '\0', (size_t)(stop - p)))
                return vh_err_set(csv->err, VH_EXIT_USAGE,
                                  "%s:%zu: a NUL byte in a text file", csv->path,
                                  lineno);
            if (vh_csv_split(csv->path, lineno, p, stop, &csv->line, csv->err) != 0)
                return -1;
            if (csv->names == NULL) {
                csv->header_line = lineno;
                if (vh_csv_header(csv) != 0)
                    return -1;
            } else if (vh_csv_row(csv, lineno) != 0) {
                return -1;
            }
        }
        p = nl ? nl + 1 : end;
    }
    if (csv->names == NULL)
        return vh_err_set(csv->err, VH_EXIT_USAGE,
                          "%s: no header line (only blank and comment lines)",
                          csv->path);
    return 0;
}

static void vh_csv_free(vh_csv *csv)
{
    for (size_t j = 0; j < csv->n_cols; j++) {
        if (csv->names)
            free(csv->names[j]);
        if (csv->columns)
            vh_value_clear(&csv->columns[j]);
    }
    free(csv->names);
    free(csv->columns);
    free(csv->line.fields);
    free(csv->line.text);
}

static int vh_data_parse_csv(vh_data *data, const char *text, size_t length,
                             vh_err *err)
{
    vh_csv csv = {.path = data->path, .err = err};
    int rc = vh_csv_lines(&csv, text, length);
    if (rc == 0 && csv.row_cap == 0 && vh_csv_grow(&csv) != 0)
        rc = -1; /* no rows: still give every column a buffer */
    for (size_t j = 0; rc == 0 && j < csv.n_cols; j++) {
        /* Give back the growth slack; keeping the old block is harmless. */
        double *fit = realloc(csv.columns[j].numbers,
                              (csv.rows ? csv.rows : 1) * sizeof *fit);
        if (fit)
            csv.columns[j].numbers = fit;
        csv.columns[j].length = csv.rows;
        csv.columns[j].shape[0] = csv.rows;
        rc = vh_data_push(data, csv.names[j], &csv.columns[j], err);
    }
    vh_csv_free(&csv);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Loading                                                             */
/* ------------------------------------------------------------------ */

static int vh_data_ends_with(const char *path, const char *suffix)
{
    size_t n = strlen(path), k = strlen(suffix);
    return n >= k && strcasecmp(path + n - k, suffix) == 0;
}

/* The mapped file's pages already read are given back as the fast reader
 * goes, so a large file never sits in memory whole beside its numbers. */
typedef struct vh_data_map {
    char *base;
    size_t size, unmapped, page;
} vh_data_map;

static void vh_data_unmap_done(void *ctx, size_t done)
{
    vh_data_map *m = ctx;
    size_t upto = done / m->page * m->page;
    if (upto > m->unmapped) {
        munmap(m->base + m->unmapped, upto - m->unmapped);
        m->unmapped = upto;
    }
}

/* A .json file through the fast reader, mapped: 0 and *out, or 1 when it
 * must be read the usual way (not a plain file, not in the fast subset,
 * out of memory: the usual way then says what is wrong). */
static int vh_data_load_mapped(const char *path, vh_data **out)
{
    struct stat st;
    vh_err ignored;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 1;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        (uintmax_t)st.st_size > VH_DATA_MAX_BYTES) {
        close(fd);
        return 1;
    }
    vh_data_map m = {NULL, (size_t)st.st_size, 0, (size_t)sysconf(_SC_PAGESIZE)};
    void *map = mmap(NULL, m.size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return 1;
    m.base = map;
    madvise(map, m.size, MADV_SEQUENTIAL);
    vh_data *data = calloc(1, sizeof *data);
    vh_data_fast fast = {data, &ignored};
    int rc = data != NULL && (data->path = strdup(path)) != NULL
                 ? vh_jsonfast_parse(m.base, m.size, vh_data_fast_push, &fast,
                                     vh_data_unmap_done, &m)
                 : 1;
    munmap(m.base + m.unmapped, m.size - m.unmapped);
    if (rc == 0 && vh_data_index(data, &ignored) == 0) {
        *out = data;
        return 0;
    }
    vh_data_free(data);
    return 1;
}

int vh_data_load(const char *path, vh_data **out, vh_err *err)
{
    char *text = NULL;
    size_t length = 0;
    *out = NULL;
    if (vh_data_ends_with(path, ".json") && vh_data_load_mapped(path, out) == 0)
        return 0;
    if (vh_data_read_file(path, &text, &length, err) != 0)
        return -1;
    int rc = vh_data_load_text(path, text, length, out, err);
    free(text);
    return rc;
}

int vh_data_load_text(const char *path, const char *text, size_t length,
                      vh_data **out, vh_err *err)
{
    *out = NULL;
    /* A UTF-8 byte-order mark is not data. */
    const char *body = text;
    if (length >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0)
        body += 3, length -= 3;
    size_t blank = 0;
    while (blank < length && isspace((unsigned char)body[blank]))
        blank++;
    if (blank == length)
        return vh_err_set(err, VH_EXIT_USAGE, "%s: the data file is empty", path);

    vh_data *data = calloc(1, sizeof *data);
    if (data)
        data->path = strdup(path);
    if (!data || !data->path) {
        free(data);
        return vh_data_nomem(path, err);
    }
    int json = vh_data_ends_with(path, ".json") ||
               (!vh_data_ends_with(path, ".csv") &&
                (body[blank] == '{' || body[blank] == '['));
    int rc = json ? vh_data_parse_json(data, body, length, err)
                  : vh_data_parse_csv(data, body, length, err);
    if (rc == 0)
        rc = vh_data_index(data, err);
    if (rc != 0) {
        vh_data_free(data);
        return -1;
    }
    *out = data;
    return 0;
}
