/* test-node.c — YAML to vh_node and back: positions (1-based), the exact
 * one-line message for each refused input (syntax errors with line:column,
 * duplicate keys, aliases, tags, several documents, nesting and size
 * limits), the emitter's round trip, the tree operations, and vh_suggest. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "node.h"
#include "scratch.h"
#include "tap.h"

/* Parses `text` from a file called `name`; it must be refused with exit 2
 * and exactly the message `<path><want>` (want begins ":LINE:COL: " or ": "). */
static void expect_error(scratch *s, const char *name, const char *text, const char *want)
{
    const char *path = scratch_file(s, name, text, strlen(text));
    char full[1024];
    vh_node *root = (vh_node *)1;
    vh_err err = {0, ""};
    int rc = vh_node_parse_file(path, &root, &err);
    snprintf(full, sizeof full, "%s%s", path, want);
    int pass = rc == -1 && root == NULL && err.exit_code == 2 &&
               strcmp(err.message, full) == 0;
    ok(pass, "%s refused: %s", name, err.message);
    if (!pass)
        diag("wanted: %s", full);
    if (rc == 0)
        vh_node_free(root);
}

static int pos_is(vh_pos pos, int line, int column)
{
    return pos.line == line && pos.column == column;
}

static void test_positions(scratch *s)
{
    const char *text = "# a comment\n"
                       "seed: 3\n"
                       "stop:\n"
                       "  tolerance: 0.1\n"
                       "list: [a, \"b\", 'c']\n"
                       "text: |\n"
                       "  hello\n";
    const char *path = scratch_file(s, "pos.yaml", text, strlen(text));
    vh_node *root = NULL;
    vh_err err = {0, ""};
    ok(vh_node_parse_file(path, &root, &err) == 0 && root != NULL, "parses: %s", err.message);
    if (root == NULL)
        return;
    ok(root->kind == VH_NODE_MAPPING && root->count == 4, "root is a mapping of 4 keys");
    ok(strcmp(root->keys[0], "seed") == 0 && pos_is(root->key_pos[0], 2, 1),
       "key 'seed' at 2:1");
    ok(pos_is(root->items[0]->pos, 2, 7) && strcmp(root->items[0]->scalar, "3") == 0 &&
           !root->items[0]->quoted,
       "value '3' plain at 2:7");
    vh_node *stop = vh_node_map_get(root, "stop");
    ok(stop != NULL && stop->kind == VH_NODE_MAPPING && pos_is(stop->key_pos[0], 4, 3) &&
           pos_is(stop->items[0]->pos, 4, 14),
       "nested key at 4:3, its value at 4:14");
    vh_node *list = vh_node_map_get(root, "list");
    ok(list != NULL && list->kind == VH_NODE_SEQUENCE && list->count == 3 &&
           pos_is(list->pos, 5, 7) && pos_is(list->items[1]->pos, 5, 11),
       "flow list at 5:7, its second item at 5:11");
    ok(list != NULL && !list->items[0]->quoted && list->items[1]->quoted &&
           list->items[2]->quoted,
       "double and single quotes are recorded, plain is not");
    vh_node *block = vh_node_map_get(root, "text");
    ok(block != NULL && block->quoted && strcmp(block->scalar, "hello\n") == 0,
       "a literal block is text (quoted)");
    ok(vh_node_map_index(root, "list") == 2 && vh_node_map_index(root, "nope") == -1 &&
           vh_node_map_index(NULL, "list") == -1 && vh_node_map_get(list, "a") == NULL,
       "map_index and map_get");
    vh_node_free(root);
}

static void test_refusals(scratch *s)
{
    expect_error(s, "syntax.yaml", "a: 1\nb: [1, 2\nc: 3\n",
                 ":3:2: YAML syntax error: did not find expected ',' or ']' "
                 "(while parsing a flow sequence)");
    expect_error(s, "colon.yaml", "key: value: x\n",
                 ":1:11: YAML syntax error: mapping values are not allowed in this context");
    expect_error(s, "dup.yaml", "seed: 1\nstop:\n  rule: none\nseed: 2\n",
                 ":4:1: duplicate key 'seed' (first at 1:1)");
    expect_error(s, "dup2.yaml", "s: {a: 1, b: 2, a: 3, b: 4}\n",
                 ":1:17: duplicate key 'a' (first at 1:5)");
    expect_error(s, "alias.yaml", "a: 1\nb: &x 2\nc: *x\n",
                 ":2:4: YAML aliases are not supported in run files (anchor '&x')");
    expect_error(s, "alias2.yaml", "a: [*x]\n",
                 ":1:5: YAML aliases are not supported in run files (alias '*x')");
    expect_error(s, "tag.yaml", "a: !!int 3\n",
                 ":1:4: YAML tags are not supported in run files (tag 'tag:yaml.org,2002:int')");
    expect_error(s, "docs.yaml", "a: 1\n---\nb: 2\n",
                 ":2:1: a second YAML document ('---'); a run file holds one");
    expect_error(s, "key.yaml", "? [a, b]\n: 1\n",
                 ":1:3: a mapping key must be plain text, not a list");
    expect_error(s, "utf8.yaml", "a: \xff\n",
                 ": YAML syntax error: invalid leading UTF-8 octet (at byte 3)");

    char deep[2 * VH_NODE_MAX_DEPTH + 8];
    memset(deep, '[', VH_NODE_MAX_DEPTH);
    memset(deep + VH_NODE_MAX_DEPTH, ']', VH_NODE_MAX_DEPTH);
    strcpy(deep + 2 * VH_NODE_MAX_DEPTH, "\n");
    vh_node *root = NULL;
    vh_err err = {0, ""};
    ok(vh_node_parse_string(deep, strlen(deep), "deep", &root, &err) == 0 && root != NULL,
       "nesting of exactly %d levels is accepted", VH_NODE_MAX_DEPTH);
    vh_node_free(root);
    char deeper[2 * VH_NODE_MAX_DEPTH + 8];
    memset(deeper, '[', VH_NODE_MAX_DEPTH + 1);
    memset(deeper + VH_NODE_MAX_DEPTH + 1, ']', VH_NODE_MAX_DEPTH + 1);
    deeper[2 * VH_NODE_MAX_DEPTH + 2] = '\0';
    expect_error(s, "deep.yaml", deeper, ":1:65: nesting deeper than 64 levels");

    size_t big = VH_NODE_MAX_BYTES + 1;
    char *text = malloc(big + 1);
    memset(text, '#', big);
    text[big] = '\0';
    expect_error(s, "big.yaml", text, ": bigger than the 16 MiB limit");
    free(text);

    char missing[600];
    snprintf(missing, sizeof missing, "%s/missing.yaml", s->dir);
    root = (vh_node *)1;
    ok(vh_node_parse_file(missing, &root, &err) == -1 && root == NULL &&
           err.exit_code == 2 && strstr(err.message, "missing.yaml: cannot open: No such file") != NULL,
       "a missing file: %s", err.message);
}

static void test_empty(scratch *s)
{
    const char *texts[] = {"", "# only a comment\n\n"};
    for (int i = 0; i < 2; i++) {
        char name[32];
        snprintf(name, sizeof name, "empty%d.yaml", i);
        const char *path = scratch_file(s, name, texts[i], strlen(texts[i]));
        vh_node *root = (vh_node *)1;
        vh_err err = {0, ""};
        ok(vh_node_parse_file(path, &root, &err) == 0 && root == NULL,
           "an empty document (%s) gives root NULL", name);
    }
    vh_node *root = NULL;
    vh_err err = {0, ""};
    ok(vh_node_parse_string("!!str 12", 8, "x", &root, &err) == 0 && root != NULL &&
           root->quoted && strcmp(root->scalar, "12") == 0,
       "!!str makes text");
    vh_node_free(root);
}

/* Emits `root` and parses the text back. */
static vh_node *round_trip(const vh_node *root, char *text, size_t size)
{
    FILE *f = tmpfile();
    vh_node *back = NULL;
    vh_err err = {0, ""};
    if (f == NULL || vh_node_emit(root, f) != 0)
        return NULL;
    rewind(f);
    size_t n = fread(text, 1, size - 1, f);
    text[n] = '\0';
    fclose(f);
    if (vh_node_parse_string(text, n, "emitted", &back, &err) != 0)
        diag("%s", err.message);
    return back;
}

static int same_tree(const vh_node *a, const vh_node *b)
{
    if (a->kind != b->kind || a->count != b->count)
        return 0;
    if (a->kind == VH_NODE_SCALAR)
        return strcmp(a->scalar, b->scalar) == 0 && a->quoted == b->quoted;
    for (size_t i = 0; i < a->count; i++)
        if ((a->kind == VH_NODE_MAPPING && strcmp(a->keys[i], b->keys[i]) != 0) ||
            !same_tree(a->items[i], b->items[i]))
            return 0;
    return 1;
}

static void test_emit(void)
{
    const char *text = "vihost: 1\n"
                       "name: \"3\"\n"
                       "flag: 'true'\n"
                       "empty: ''\n"
                       "plain: hello world\n"
                       "family:\n"
                       "- plugin: meanfield\n"
                       "  options: {}\n"
                       "cov: [[1, 0.5], [0.5, 1]]\n"
                       "xs: [1, 2, x y]\n"
                       "none: []\n";
    vh_node *root = NULL, *back;
    vh_err err = {0, ""};
    char out[4096];
    ok(vh_node_parse_string(text, strlen(text), "emit", &root, &err) == 0, "parses");
    back = round_trip(root, out, sizeof out);
    ok(back != NULL && same_tree(root, back), "emit then parse gives the same tree");
    ok(strstr(out, "name: \"3\"\n") != NULL && strstr(out, "flag: \"true\"\n") != NULL,
       "strings that look like numbers or booleans stay quoted");
    ok(strstr(out, "plain: hello world\n") != NULL, "plain text stays plain");
    ok(strstr(out, "empty: \"\"\n") != NULL, "an empty string stays quoted");
    ok(strstr(out, "family:\n- plugin: meanfield\n  options: {}\n") != NULL,
       "a list of mappings is in block style");
    ok(strstr(out, "xs: [1, 2, x y]\n") != NULL && strstr(out, "none: []\n") != NULL,
       "a list of scalars is in flow style");
    ok(strstr(out, "cov:\n- [1, 0.5]\n- [0.5, 1]\n") != NULL, "a matrix is a block of rows");
    if (back == NULL || !same_tree(root, back))
        diag("emitted:\n%s", out);
    vh_node_free(back);
    vh_node_free(root);
}

static void test_tree_ops(void)
{
    vh_pos p = {2, 3}, none = {0, 0};
    vh_node *map = vh_node_new_mapping(p);
    for (int i = 0; i < 9; i++) {
        char key[8];
        snprintf(key, sizeof key, "k%d", i);
        vh_node_map_append(map, key, p, vh_node_new_scalar(key + 1, 0, none));
    }
    ok(map->count == 9 && strcmp(vh_node_map_get(map, "k8")->scalar, "8") == 0,
       "append grows the mapping");
    vh_node_map_remove(map, 0);
    ok(map->count == 8 && strcmp(map->keys[0], "k1") == 0 && vh_node_map_index(map, "k0") == -1,
       "remove shifts the rest");
    vh_node *seq = vh_node_new_sequence(none);
    vh_node_seq_append(seq, vh_node_new_scalar("x", 1, none));
    vh_node_map_replace(map, 0, seq);
    map->origin = strdup("a=b");
    vh_node *copy = vh_node_clone(map);
    ok(copy != NULL && same_tree(map, copy) && copy->items[0]->kind == VH_NODE_SEQUENCE &&
           copy->origin != NULL && strcmp(copy->origin, "a=b") == 0 && copy->origin != map->origin &&
           pos_is(copy->key_pos[3], 2, 3),
       "clone is deep, with positions and origin");
    vh_node_free(copy);
    vh_node_free(map);
    ok(vh_node_map_append(seq = vh_node_new_sequence(none), "k", none, NULL) == -1,
       "map_append refuses a sequence");
    vh_node_free(seq);
}

static void test_helpers(void)
{
    const char *const top[] = {"vihost", "seed", "plugin_path", "target", "family",
                               "optimizer", "objective", "stop", "output", "threads", NULL};
    const char *const stop[] = {"max_iterations", "rule", "tolerance", "eval_every", NULL};
    const char *got = vh_suggest("sed", top);
    ok(got != NULL && strcmp(got, "seed") == 0, "suggest 'sed' -> 'seed'");
    got = vh_suggest("tolerence", stop);
    ok(got != NULL && strcmp(got, "tolerance") == 0, "suggest 'tolerence' -> 'tolerance'");
    got = vh_suggest("optimiser", top);
    ok(got != NULL && strcmp(got, "optimizer") == 0, "suggest 'optimiser' -> 'optimizer'");
    ok(vh_suggest("banana", top) == NULL, "nothing near 'banana'");
    const char *const far[] = {"abcdefxyz", NULL};      /* 3 edits from abcdefghi */
    const char *const farther[] = {"abcdewxyz", NULL};  /* 4 edits */
    ok(vh_suggest("abcdefghi", far) == far[0] && vh_suggest("abcdefghi", farther) == NULL,
       "threshold is strlen/3 for long words");
    const char *const two[] = {"ab", NULL}, *const one[] = {"y", NULL};
    ok(vh_suggest("ax", two) == two[0] && vh_suggest("abcd", two) == two[0],
       "threshold is at least 2 edits, below the word's length");
    ok(vh_suggest("xy", two) == NULL && vh_suggest("c", one) == NULL,
       "a one- or two-letter word suggests no unrelated key");

    char buf[128];
    vh_pos at = {4, 7}, none = {0, 0};
    vh_pos_format(buf, sizeof buf, "run.yaml", at, NULL);
    ok(strcmp(buf, "run.yaml:4:7") == 0, "pos_format with a position: %s", buf);
    vh_pos_format(buf, sizeof buf, "run.yaml", none, "seed=3");
    ok(strcmp(buf, "--set 'seed=3'") == 0, "pos_format with an origin: %s", buf);
    vh_pos_format(buf, sizeof buf, "run.yaml", none, NULL);
    ok(strcmp(buf, "run.yaml") == 0, "pos_format with neither: %s", buf);

    vh_node *n = vh_node_new_scalar("ten", 0, none);
    vh_node_describe(n, buf, sizeof buf);
    ok(strcmp(buf, "'ten'") == 0, "describe plain: %s", buf);
    n->quoted = 1;
    vh_node_describe(n, buf, sizeof buf);
    ok(strcmp(buf, "\"ten\" (in quotes, so text)") == 0, "describe quoted: %s", buf);
    vh_node_free(n);

    const char *good[] = {"0.5", "-3", "1e-3", "0x10"};
    const char *bad[] = {"inf", "nan", "1e999", "1x", "", " 1", "true"};
    int all = 1;
    double x;
    for (size_t i = 0; i < 4; i++) {
        n = vh_node_new_scalar(good[i], 0, none);
        all = all && vh_node_number(n, &x) == 0;
        vh_node_free(n);
    }
    for (size_t i = 0; i < 7; i++) {
        n = vh_node_new_scalar(bad[i], 0, none);
        all = all && vh_node_number(n, &x) == -1;
        vh_node_free(n);
    }
    n = vh_node_new_scalar("1", 1, none);
    all = all && vh_node_number(n, &x) == -1;
    vh_node_free(n);
    ok(all, "vh_node_number takes finite plain reals only");
}

int main(void)
{
    scratch s;
    scratch_open(&s, "vh-test-node");
    test_positions(&s);
    test_refusals(&s);
    test_empty(&s);
    test_emit();
    test_tree_ops();
    test_helpers();
    scratch_remove(&s);
    return tap_done();
}
