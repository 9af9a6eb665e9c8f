/* test-data.c — data files: Stan-style JSON and CSV read into named values
 * with the right shapes and integral flags, and a one-line error naming
 * the file (and line:column where there is one) for every bad input. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "data.h"
#include "scratch.h"
#include "tap.h"

/* Loads a file that must be refused with exit 2 and a one-line message
 * containing `want`. */
static void expect_error(scratch *s, const char *name, const char *text,
                         const char *want)
{
    const char *path = scratch_text(s, name, text);
    vh_data *data = (vh_data *)1;
    vh_err err = {0, ""};
    int rc = vh_data_load(path, &data, &err);
    int pass = rc != 0 && data == NULL && err.exit_code == 2 &&
               strstr(err.message, want) != NULL &&
               strncmp(err.message, path, strlen(path)) == 0 &&
               strchr(err.message, '\n') == NULL;
    ok(pass, "%s refused: %s", name, err.message);
    if (!pass)
        diag("wanted '%s' in a one-line message starting with the path", want);
    if (rc == 0)
        vh_data_free(data);
}

static int same_shape(const vh_value *v, size_t ndim, const size_t *shape)
{
    if (!v || v->kind != VH_VALUE_ARRAY || v->ndim != ndim)
        return 0;
    size_t length = 1;
    for (size_t k = 0; k < ndim; k++) {
        if (v->shape[k] != shape[k])
            return 0;
        length *= shape[k];
    }
    return v->length == length;
}

static const char good_json[] =
    "{\n"
    "  \"N\": 3,\n"
    "  \"sigma\": 2.5,\n"
    "  \"whole\": 4.0,\n"
    "  \"y\": [1, 2.5, -3],\n"
    "  \"k\": [1, 2, 3],\n"
    "  \"X\": [[1, 2, 3], [4, 5, 6]],\n"
    "  \"T\": [[[1, 2], [3, 4]], [[5, 6], [7, 8]], [[9, 10], [11, 12]]],\n"
    "  \"R4\": [[[[7]]]],\n"
    "  \"empty\": [],\n"
    "  \"rows0\": [[], []],\n"
    "  \"limit\": 9007199254740992,\n"
    "  \"beyond\": 18446744073709551616,\n"
    "  \"tiny\": -1.5e-300\n"
    "}\n";

static void test_json_good(scratch *s)
{
    const char *path = scratch_text(s, "good.json", good_json);
    vh_data *data = NULL;
    vh_err err = {0, ""};
    int rc = vh_data_load(path, &data, &err);
    if (!ok(rc == 0 && data != NULL, "good.json loads (%s)", err.message))
        return;
    static const char *order[] = {"N", "sigma", "whole", "y", "k", "X", "T",
                                  "R4", "empty", "rows0", "limit", "beyond",
                                  "tiny"};
    size_t n = sizeof order / sizeof order[0];
    int same = vh_data_count(data) == n;
    for (size_t i = 0; same && i < n; i++)
        same = strcmp(vh_data_name(data, i), order[i]) == 0;
    ok(same, "13 variables, in the file's order");
    ok(vh_data_name(data, n) == NULL, "vh_data_name past the end is NULL");
    ok(strcmp(vh_data_path(data), path) == 0, "vh_data_path");

    const vh_value *v = vh_data_get(data, "N");
    ok(v && v->kind == VH_VALUE_NUMBER && v->ndim == 0 && v->length == 1 &&
           v->numbers[0] == 3 && v->integral,
       "N: an integral NUMBER 3");
    v = vh_data_get(data, "sigma");
    ok(v && v->kind == VH_VALUE_NUMBER && v->numbers[0] == 2.5 && !v->integral,
       "sigma: a real NUMBER 2.5");
    v = vh_data_get(data, "whole");
    ok(v && v->kind == VH_VALUE_NUMBER && v->numbers[0] == 4 && v->integral,
       "whole: 4.0 is integral");
    v = vh_data_get(data, "y");
    ok(same_shape(v, 1, (size_t[]){3}) && !v->integral && v->numbers[0] == 1 &&
           v->numbers[1] == 2.5 && v->numbers[2] == -3,
       "y: a real vector of 3");
    v = vh_data_get(data, "k");
    ok(same_shape(v, 1, (size_t[]){3}) && v->integral && v->numbers[2] == 3,
       "k: an integral vector of 3");
    v = vh_data_get(data, "X");
    int row_major = v && v->length == 6;
    for (size_t i = 0; row_major && i < 6; i++)
        row_major = v->numbers[i] == (double)(i + 1);
    ok(same_shape(v, 2, (size_t[]){2, 3}) && row_major && v->integral,
       "X: a 2x3 matrix, row-major");
    v = vh_data_get(data, "T");
    ok(same_shape(v, 3, (size_t[]){3, 2, 2}) && v->numbers[11] == 12 &&
           v->numbers[5] == 6,
       "T: a 3x2x2 array, row-major");
    v = vh_data_get(data, "R4");
    ok(same_shape(v, 4, (size_t[]){1, 1, 1, 1}) && v->numbers[0] == 7,
       "R4: rank 4 is allowed");
    v = vh_data_get(data, "empty");
    ok(same_shape(v, 1, (size_t[]){0}) && v->length == 0, "[]: ndim 1, shape {0}");
    v = vh_data_get(data, "rows0");
    ok(same_shape(v, 2, (size_t[]){2, 0}), "[[], []]: shape {2, 0}");
    v = vh_data_get(data, "limit");
    ok(v && v->numbers[0] == 9007199254740992.0 && v->integral,
       "2^53 is integral");
    v = vh_data_get(data, "beyond");
    ok(v && v->numbers[0] == 18446744073709551616.0 && !v->integral,
       "2^64 is read as a double, not integral");
    v = vh_data_get(data, "tiny");
    ok(v && v->numbers[0] == -1.5e-300 && !v->integral, "tiny reals survive");
    ok(vh_data_get(data, "missing") == NULL && vh_data_get(data, "") == NULL,
       "absent names give NULL");
    vh_data_free(data);
}

static void test_json_errors(scratch *s)
{
    expect_error(s, "syntax.json", "{\n  \"a\": 1,\n  \"b\": [1, 2,, 3]\n}\n",
                 "syntax.json:3:14: JSON syntax error: ");
    expect_error(s, "dup.json", "{\"a\": 1,\n \"a\": 2}\n",
                 ":2:4: JSON syntax error: duplicate object key");
    expect_error(s, "trailing.json", "{\"a\": 1}\n{\"b\": 2}\n",
                 ":2:1: JSON syntax error: end of file expected");
    expect_error(s, "overflow.json", "{\"x\": 1e400}", "JSON syntax error");
    expect_error(s, "empty.json", "", "empty.json: the data file is empty");
    expect_error(s, "blank.json", " \n\t\n", "the data file is empty");
    expect_error(s, "toparray.json", "[1, 2]",
                 "must be a JSON object of named variables");
    expect_error(s, "topnumber.json", "3", "not a number");
    expect_error(s, "ragged.json",
                 "{\"X\": [[1,2,3,4,5], [1,2,3,4,5], [1,2,3,4]]}",
                 "ragged.json: variable 'X' is ragged: row 3 has 4 elements, "
                 "row 1 has 5");
    expect_error(s, "ragged3.json",
                 "{\"T\": [[[1, 2], [3, 4]], [[5, 6], [7]]]}",
                 "variable 'T' is ragged: row [2,2] has 1 element, row [1,1] has 2");
    expect_error(s, "mixed1.json", "{\"X\": [[1, 2], 3]}",
                 "variable 'X' is ragged: row 2 is a number, row 1 has 2 elements");
    expect_error(s, "mixed2.json", "{\"y\": [1, [2]]}",
                 "variable 'y' is ragged: element 2 is an array, element 1 is a number");
    expect_error(s, "rank5.json", "{\"Z\": [[[[[1]]]]]}",
                 "variable 'Z' has more than 4 dimensions");
    expect_error(s, "infstr.json", "{\"y\": [1, 2, \"inf\"]}",
                 "variable 'y' element 3 is not finite");
    expect_error(s, "nanstr.json", "{\"s\": \"NaN\"}", "variable 's' is not finite");
    expect_error(s, "neginf.json", "{\"s\": [[1, \"-Infinity\"]]}",
                 "variable 's' element [1,2] is not finite");
    expect_error(s, "string.json", "{\"s\": \"abc\"}",
                 "variable 's' is a string, not a number");
    expect_error(s, "string2.json", "{\"X\": [[1, 2], [3, \"a\"]]}",
                 "variable 'X' element [2,2] is a string, not a number");
    expect_error(s, "null.json", "{\"n\": null}", "variable 'n' is null, not a number");
    expect_error(s, "bool.json", "{\"b\": [1, true]}",
                 "variable 'b' element 2 is true (write 1), not a number");
    expect_error(s, "object.json", "{\"o\": {\"a\": 1}}",
                 "variable 'o' is an object, not a number");
    expect_error(s, "noname.json", "{\"\": 1}", "a variable name is empty");
}

static void test_file_errors(scratch *s)
{
    char path[512];
    vh_data *data = NULL;
    vh_err err = {0, ""};
    snprintf(path, sizeof path, "%s/absent.json", s->dir);
    int rc = vh_data_load(path, &data, &err);
    ok(rc != 0 && err.exit_code == 2 && data == NULL &&
           strstr(err.message, "absent.json: cannot open the data file: "
                               "No such file or directory"),
       "missing file: %s", err.message);

    const char *folder = scratch_path(s, "folder.json");
    mkdir(folder, 0700);
    rc = vh_data_load(folder, &data, &err);
    ok(rc != 0 && err.exit_code == 2 && strstr(err.message, "folder.json: is a folder"),
       "a folder: %s", err.message);

    const char *locked = scratch_text(s, "locked.json", "{\"a\": 1}");
    chmod(locked, 0);
    if (geteuid() == 0) {
        ok(1, "unreadable file # SKIP running as root");
    } else {
        rc = vh_data_load(locked, &data, &err);
        ok(rc != 0 && err.exit_code == 2 &&
               strstr(err.message, "locked.json: cannot open the data file: "
                                   "Permission denied"),
           "unreadable file: %s", err.message);
    }
}

static const char good_csv[] =
    "# written by hand\n"
    "x, y ,\"z\"\n"
    "1,2.5,3\n"
    "\n"
    "   # an indented comment\n"
    "-4, 5e1 ,\"6\"\n"
    "+7,.5,-0\n";

static void test_csv_good(scratch *s)
{
    vh_data *data = NULL;
    vh_err err = {0, ""};
    const char *path = scratch_text(s, "good.csv", good_csv);
    int rc = vh_data_load(path, &data, &err);
    if (!ok(rc == 0 && data, "good.csv loads (%s)", err.message))
        return;
    ok(vh_data_count(data) == 3 && strcmp(vh_data_name(data, 0), "x") == 0 &&
           strcmp(vh_data_name(data, 1), "y") == 0 &&
           strcmp(vh_data_name(data, 2), "z") == 0,
       "columns x, y, z (trimmed, unquoted), in order");
    const vh_value *x = vh_data_get(data, "x"), *y = vh_data_get(data, "y"),
                   *z = vh_data_get(data, "z");
    ok(same_shape(x, 1, (size_t[]){3}) && x->integral && x->numbers[0] == 1 &&
           x->numbers[1] == -4 && x->numbers[2] == 7,
       "x = [1, -4, 7], integral");
    ok(same_shape(y, 1, (size_t[]){3}) && !y->integral && y->numbers[0] == 2.5 &&
           y->numbers[1] == 50 && y->numbers[2] == 0.5,
       "y = [2.5, 50, 0.5], real");
    ok(same_shape(z, 1, (size_t[]){3}) && z->integral && z->numbers[1] == 6,
       "z = [3, 6, -0], quoted numbers read");
    vh_data_free(data);

    /* CRLF line ends, a byte-order mark, and a name that is not ASCII. */
    path = scratch_text(s, "crlf.csv", "\xEF\xBB\xBF" "a,\xC3\xA9\r\n1,2\r\n3,4\r\n");
    rc = vh_data_load(path, &data, &err);
    ok(rc == 0 && vh_data_count(data) == 2 && strcmp(vh_data_name(data, 0), "a") == 0 &&
           vh_data_get(data, "\xC3\xA9") && vh_data_get(data, "\xC3\xA9")->numbers[1] == 4,
       "CRLF, BOM and UTF-8 names (%s)", err.message);
    vh_data_free(data);

    path = scratch_text(s, "header.csv", "a,b\n");
    rc = vh_data_load(path, &data, &err);
    ok(rc == 0 && same_shape(vh_data_get(data, "b"), 1, (size_t[]){0}),
       "a header alone gives empty vectors");
    vh_data_free(data);

    /* Neither .json nor .csv: decided by the first byte. */
    path = scratch_text(s, "data.txt", "  {\"n\": 1}");
    rc = vh_data_load(path, &data, &err);
    ok(rc == 0 && vh_data_get(data, "n") && vh_data_get(data, "n")->kind == VH_VALUE_NUMBER,
       "'{' first: JSON");
    vh_data_free(data);
    path = scratch_text(s, "data.dat", "n\n1\n");
    rc = vh_data_load(path, &data, &err);
    ok(rc == 0 && same_shape(vh_data_get(data, "n"), 1, (size_t[]){1}),
       "otherwise: CSV");
    vh_data_free(data);
}

static void test_csv_errors(scratch *s)
{
    expect_error(s, "word.csv", "x,y\n1,abc\n",
                 "word.csv:2:3: column 'y' value 'abc' is not a number");
    expect_error(s, "hex.csv", "x\n0x10\n", ":2:1: column 'x' value '0x10' is not a number");
    expect_error(s, "few.csv", "x,y,z\n1,2\n",
                 "few.csv:2:4: row has 2 fields, the header (line 1) has 3");
    expect_error(s, "many.csv", "# c\nx,y\n1,2\n 3, 4, 5\n",
                 "many.csv:4:8: row has 3 fields, the header (line 2) has 2");
    expect_error(s, "inf.csv", "x\ninf\n", ":2:1: column 'x' value 'inf' is not finite");
    expect_error(s, "nan.csv", "x,y\n1,  NaN\n", ":2:5: column 'y' value 'NaN' is not finite");
    expect_error(s, "range.csv", "x\n1e999\n", ":2:1: column 'x' value '1e999' is out of range");
    expect_error(s, "hole.csv", "x,y\n1,\n", "hole.csv:2:3: column 'y' is empty");
    expect_error(s, "quote.csv", "x,\"y\n", "quote.csv:1:3: unterminated quoted field");
    expect_error(s, "after.csv", "\"x\"z,y\n", "after.csv:1:4: text after a closing quote");
    expect_error(s, "noname.csv", "x,,y\n1,2,3\n",
                 "noname.csv:1:3: column 2 of the header has no name");
    /* Columns count characters: \xC3\xA9 is one. */
    expect_error(s, "dupname.csv", "\xC3\xA9,\xC3\xA9\n",
                 "dupname.csv:1:3: duplicate column name '\xC3\xA9' (also column 1)");
    expect_error(s, "utf8col.csv", "a,b\n\"\xC3\xA9\xC3\xA9\",1\n",
                 "utf8col.csv:2:1: column 'a' value '\xC3\xA9\xC3\xA9' is not a number");
    expect_error(s, "utf8col2.csv", "a,b\n1,\"\xC3\xA9\"x\n",
                 "utf8col2.csv:2:6: text after a closing quote");
    expect_error(s, "onlycomments.csv", "# nothing\n\n   \n",
                 "onlycomments.csv: no header line");
    expect_error(s, "empty.csv", "", "empty.csv: the data file is empty");

    const char nul[] = "x\n1\0002\n";
    const char *path = scratch_file(s, "nul.csv", nul, sizeof nul - 1);
    vh_data *data = NULL;
    vh_err err = {0, ""};
    int rc = vh_data_load(path, &data, &err);
    ok(rc != 0 && strstr(err.message, "nul.csv:2: a NUL byte"), "NUL byte: %s",
       err.message);
}

int main(void)
{
    scratch s;
    scratch_open(&s, "vihost-test-data");
    test_json_good(&s);
    test_json_errors(&s);
    test_file_errors(&s);
    test_csv_good(&s);
    test_csv_errors(&s);
    scratch_remove(&s);
    return tap_done();
}
