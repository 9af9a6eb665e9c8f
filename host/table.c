/* table.c — a small CSV reader (see table.h). */
#include "table.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Growing array of owned strings. */
typedef struct table_strings {
    char **items;
    size_t n, cap;
} table_strings;

static int strings_push(table_strings *s, char *item)
{
    if (item == NULL)
        return -1;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        char **more = realloc(s->items, cap * sizeof *more);
        if (more == NULL) {
            free(item);
            return -1;
        }
        s->items = more;
        s->cap = cap;
    }
    s->items[s->n++] = item;
    return 0;
}

static void strings_free(table_strings *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->items[i]);
    free(s->items);
    memset(s, 0, sizeof *s);
}

/* Splits one line (no line break) into fields appended to `out`; returns
 * the number of fields, or -1 (bad quoting: *bad set) or -2 (memory). */
static long split_line(const char *line, size_t len, table_strings *out, int *bad)
{
    long n = 0;
    size_t i = 0;
    for (;;) {
        char *field = malloc(len + 1);
        size_t k = 0;
        if (field == NULL)
            return -2;
        if (i < len && line[i] == '"') {
            for (i++;; i++) {
                if (i >= len) {
                    free(field);
                    *bad = 1;
                    return -1;
                }
                if (line[i] == '"' && i + 1 < len && line[i + 1] == '"')
                    field[k++] = line[i++];
                else if (line[i] == '"')
                    break;
                else
                    field[k++] = line[i];
            }
            i++;
            if (i < len && line[i] != ',') {
                free(field);
                *bad = 1;
                return -1;
            }
        } else {
            while (i < len && line[i] != ',')
                field[k++] = line[i++];
        }
        field[k] = '\0';
        if (strings_push(out, field) != 0)
            return -2;
        n++;
        if (i >= len)
            return n;
        i++; /* the comma */
    }
}

static char *slurp(const char *path, size_t *size, vh_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        vh_err_set(err, VH_EXIT_USAGE, "cannot read '%s': %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *more = realloc(buf, 2 * cap + 1);
        if (more == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = more;
        cap *= 2;
    }
    int failed = ferror(f);
    fclose(f);
    if (buf == NULL || failed) {
        free(buf);
        vh_err_set(err, buf == NULL ? VH_EXIT_FAILURE : VH_EXIT_USAGE, "cannot read '%s'%s",
                   path, buf == NULL ? ": out of memory" : "");
        return NULL;
    }
    buf[n] = '\0';
    *size = n;
    return buf;
}

static int table_parse(const char *path, const char *text, size_t size, size_t max_rows,
                       vh_table *t, vh_err *err)
{
    table_strings header = {0}, cells = {0};
    size_t line_no = 0;
    int failed = 0;
    for (size_t at = 0; at < size && !failed && t->n_rows < max_rows;) {
        size_t end = at;
        while (end < size && text[end] != '\n')
            end++;
        size_t len = end - at;
        line_no++;
        if (len > 0 && text[at + len - 1] == '\r')
            len--;
        const char *line = text + at;
        at = end + 1;
        size_t lead = 0;
        while (lead < len && (line[lead] == ' ' || line[lead] == '\t'))
            lead++;
        if (lead == len || line[lead] == '#')
            continue;
        int bad = 0;
        table_strings *dest = t->n_cols == 0 ? &header : &cells;
        long n = split_line(line, len, dest, &bad);
        if (n == -2)
            failed = vh_err_set(err, VH_EXIT_FAILURE, "out of memory reading '%s'", path);
        else if (n < 0)
            failed = vh_err_set(err, VH_EXIT_USAGE, "%s:%zu: unterminated or misplaced quote",
                                path, line_no);
        else if (t->n_cols == 0)
            t->n_cols = (size_t)n;
        else if ((size_t)n != t->n_cols)
            failed = vh_err_set(err, VH_EXIT_USAGE, "%s:%zu: %ld fields, but the header has %zu",
                                path, line_no, n, t->n_cols);
        else
            t->n_rows++;
    }
    if (!failed && t->n_cols == 0)
        failed = vh_err_set(err, VH_EXIT_USAGE, "%s: no header line (the file is empty)", path);
    t->header = header.items;
    t->cells = cells.items;
    if (failed) {
        /* Free through the table with the counts that match the arrays. */
        for (size_t i = 0; i < header.n; i++)
            free(header.items[i]);
        for (size_t i = 0; i < cells.n; i++)
            free(cells.items[i]);
        free(header.items);
        free(cells.items);
        memset(t, 0, sizeof *t);
        return -1;
    }
    return 0;
}

int vh_table_read(const char *path, vh_table **out, vh_err *err)
{
    return vh_table_read_rows(path, (size_t)-1, out, err);
}

int vh_table_read_rows(const char *path, size_t max_rows, vh_table **out, vh_err *err)
{
    size_t size = 0;
    *out = NULL;
    char *text = slurp(path, &size, err);
    if (text == NULL)
        return -1;
    vh_table *t = calloc(1, sizeof *t);
    int rc = t == NULL ? vh_err_set(err, VH_EXIT_FAILURE, "out of memory")
                       : table_parse(path, text, size, max_rows, t, err);
    free(text);
    if (rc != 0) {
        free(t);
        return -1;
    }
    *out = t;
    return 0;
}

void vh_table_free(vh_table *t)
{
    if (t == NULL)
        return;
    table_strings h = {t->header, t->n_cols, t->n_cols};
    table_strings c = {t->cells, t->n_rows * t->n_cols, t->n_rows * t->n_cols};
    strings_free(&h);
    strings_free(&c);
    free(t);
}

long vh_table_column(const vh_table *t, const char *name)
{
    for (size_t j = 0; t != NULL && j < t->n_cols; j++)
        if (strcmp(t->header[j], name) == 0)
            return (long)j;
    return -1;
}

const char *vh_table_cell(const vh_table *t, size_t row, long col)
{
    if (t == NULL || col < 0 || (size_t)col >= t->n_cols || row >= t->n_rows)
        return "";
    return t->cells[row * t->n_cols + (size_t)col];
}

double vh_table_number(const vh_table *t, size_t row, long col)
{
    const char *s = vh_table_cell(t, row, col);
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '\0')
        return NAN;
    char *end;
    double x = strtod(s, &end);
    while (*end == ' ' || *end == '\t')
        end++;
    return *end == '\0' ? x : NAN;
}
