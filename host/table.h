/* table.h — reading the CSV files vihost itself writes or is given as a
 * reference (summary.csv, trace.csv, draws.csv, compare.csv, posteriordb's
 * reference.csv, a CmdStan output CSV): a header line, then rows of
 * comma-separated fields, each field plain or double-quoted ("" inside
 * quotes is one quote).  Lines starting with '#' and blank lines are
 * skipped wherever they stand.  Cells are kept as text; numbers are read
 * on demand. */
#ifndef VH_TABLE_H
#define VH_TABLE_H

#include <stddef.h>
#include "errors.h"

typedef struct vh_table {
    size_t n_cols;
    size_t n_rows;
    char **header;   /* n_cols names */
    char **cells;    /* n_rows x n_cols, row-major */
} vh_table;

/* Reads `path`.  A row with another number of fields than the header, an
 * unterminated quote or an unreadable file is an error (exit 2) naming
 * file:line. */
int vh_table_read(const char *path, vh_table **out, vh_err *err);
/* The same, keeping at most max_rows data rows (the first ones). */
int vh_table_read_rows(const char *path, size_t max_rows, vh_table **out, vh_err *err);
void vh_table_free(vh_table *table);

/* The index of the column named `name`, or -1. */
long vh_table_column(const vh_table *table, const char *name);
/* The text of a cell ("" when the column index is out of range). */
const char *vh_table_cell(const vh_table *table, size_t row, long col);
/* A cell as a number: a real, "nan", "inf" or "-inf"; an empty cell, a
 * missing column (col < 0) or text give NaN. */
double vh_table_number(const vh_table *table, size_t row, long col);

#endif
