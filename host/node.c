/* node.c — YAML text to a vh_node tree (libyaml's event parser) and back
 * (libyaml's emitter), the tree operations, and the helpers every error
 * message uses: where a node stands, what it holds, and "did you mean". */
#include "node.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* ------------------------------------------------------------------ */
/* Construction and tree operations                                    */
/* ------------------------------------------------------------------ */

static vh_node *node_new(vh_node_kind kind, vh_pos pos)
{
    vh_node *node = calloc(1, sizeof *node);
    if (node != NULL) {
        node->kind = kind;
        node->pos = pos;
    }
    return node;
}

static vh_node *node_new_scalar_len(const char *text, size_t len, int quoted,
                                    vh_pos pos)
{
    vh_node *node = node_new(VH_NODE_SCALAR, pos);
    if (node == NULL)
        return NULL;
    node->scalar = malloc(len + 1);
    if (node->scalar == NULL) {
        free(node);
        return NULL;
    }
    memcpy(node->scalar, text, len);
    node->scalar[len] = '\0';
    node->quoted = quoted != 0;
    return node;
}

vh_node *vh_node_new_scalar(const char *text, int quoted, vh_pos pos)
{
    if (text == NULL)
        text = "";
    return node_new_scalar_len(text, strlen(text), quoted, pos);
}

vh_node *vh_node_new_mapping(vh_pos pos)
{
    return node_new(VH_NODE_MAPPING, pos);
}

vh_node *vh_node_new_sequence(vh_pos pos)
{
    return node_new(VH_NODE_SEQUENCE, pos);
}

/* Containers grow to powers of two, so no capacity member is needed: one
 * holding n items has room for at least the smallest power of two >= n,
 * and is full exactly when n is zero or a power of two. */
static int node_reserve(vh_node *node)
{
    size_t n = node->count;
    if (n != 0 && (n & (n - 1)) != 0)
        return 0;
    size_t cap = n == 0 ? 1 : 2 * n;
    if (cap > SIZE_MAX / sizeof(vh_pos))
        return -1;
    vh_node **items = realloc(node->items, cap * sizeof *items);
    if (items == NULL)
        return -1;
    node->items = items;
    if (node->kind != VH_NODE_MAPPING)
        return 0;
    char **keys = realloc(node->keys, cap * sizeof *keys);
    if (keys == NULL)
        return -1;
    node->keys = keys;
    vh_pos *key_pos = realloc(node->key_pos, cap * sizeof *key_pos);
    if (key_pos == NULL)
        return -1;
    node->key_pos = key_pos;
    return 0;
}

int vh_node_map_append(vh_node *map, const char *key, vh_pos key_pos,
                       vh_node *value)
{
    if (map == NULL || map->kind != VH_NODE_MAPPING || node_reserve(map) != 0)
        return -1;
    char *copy = strdup(key);
    if (copy == NULL)
        return -1;
    map->keys[map->count] = copy;
    map->key_pos[map->count] = key_pos;
    map->items[map->count] = value;
    map->count++;
    return 0;
}

int vh_node_seq_append(vh_node *seq, vh_node *value)
{
    if (seq == NULL || seq->kind != VH_NODE_SEQUENCE || node_reserve(seq) != 0)
        return -1;
    seq->items[seq->count++] = value;
    return 0;
}

void vh_node_map_replace(vh_node *map, size_t i, vh_node *value)
{
    if (map == NULL || i >= map->count)
        return;
    vh_node_free(map->items[i]);
    map->items[i] = value;
}

void vh_node_map_remove(vh_node *map, size_t i)
{
    if (map == NULL || map->kind != VH_NODE_MAPPING || i >= map->count)
        return;
    vh_node_free(map->items[i]);
    free(map->keys[i]);
    size_t tail = map->count - i - 1;
    memmove(map->items + i, map->items + i + 1, tail * sizeof *map->items);
    memmove(map->keys + i, map->keys + i + 1, tail * sizeof *map->keys);
    memmove(map->key_pos + i, map->key_pos + i + 1, tail * sizeof *map->key_pos);
    map->count--;
}

long vh_node_map_index(const vh_node *map, const char *key)
{
    if (map == NULL || map->kind != VH_NODE_MAPPING || key == NULL)
        return -1;
    for (size_t i = 0; i < map->count; i++)
        if (strcmp(map->keys[i], key) == 0)
            return (long)i;
    return -1;
}

vh_node *vh_node_map_get(const vh_node *map, const char *key)
{
    long i = vh_node_map_index(map, key);
    return i < 0 ? NULL : map->items[i];
}

vh_node *vh_node_clone(const vh_node *node)
{
    if (node == NULL)
        return NULL;
    vh_node *copy = node->kind == VH_NODE_SCALAR
                        ? vh_node_new_scalar(node->scalar, node->quoted, node->pos)
                        : node_new(node->kind, node->pos);
    if (copy == NULL)
        return NULL;
    if (node->origin != NULL && (copy->origin = strdup(node->origin)) == NULL)
        goto fail;
    for (size_t i = 0; i < node->count; i++) {
        vh_node *item = vh_node_clone(node->items[i]);
        if (item == NULL && node->items[i] != NULL)
            goto fail;
        int rc = node->kind == VH_NODE_MAPPING
                     ? vh_node_map_append(copy, node->keys[i], node->key_pos[i], item)
                     : vh_node_seq_append(copy, item);
        if (rc != 0) {
            vh_node_free(item);
            goto fail;
        }
    }
    return copy;
fail:
    vh_node_free(copy);
    return NULL;
}

void vh_node_free(vh_node *node)
{
    if (node == NULL)
        return;
    for (size_t i = 0; i < node->count; i++) {
        vh_node_free(node->items[i]);
        if (node->keys != NULL)
            free(node->keys[i]);
    }
    free(node->items);
    free(node->keys);
    free(node->key_pos);
    free(node->scalar);
    free(node->origin);
    free(node);
}

/* ------------------------------------------------------------------ */
/* Parsing                                                              */
/* ------------------------------------------------------------------ */

typedef struct vh_reader {
    yaml_parser_t parser;
    const char *name;   /* the file name (or --set argument) for messages */
    vh_err *err;
} vh_reader;

static vh_pos mark_pos(yaml_mark_t mark)
{
    /* libyaml counts from 0; people and editors count from 1. */
    vh_pos pos = {(int)mark.line + 1, (int)mark.column + 1};
    return pos;
}

static int reader_fail(vh_reader *r, yaml_mark_t mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int reader_fail(vh_reader *r, yaml_mark_t mark, const char *fmt, ...)
{
    char what[VH_ERR_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    vh_pos pos = mark_pos(mark);
    return vh_err_set(r->err, VH_EXIT_USAGE, "%s:%d:%d: %s", r->name, pos.line,
                      pos.column, what);
}

static int reader_syntax_error(vh_reader *r)
{
    const yaml_parser_t *p = &r->parser;
    const char *problem = p->problem != NULL ? p->problem : "unknown problem";
    if (p->error == YAML_MEMORY_ERROR)
        return vh_err_set(r->err, VH_EXIT_FAILURE,
                          "%s: out of memory while reading YAML", r->name);
    /* Encoding problems are found before lines are counted: only the byte
     * offset is known. */
    if (p->error == YAML_READER_ERROR)
        return vh_err_set(r->err, VH_EXIT_USAGE,
                          "%s: YAML syntax error: %s (at byte %zu)", r->name,
                          problem, p->problem_offset);
    vh_pos pos = mark_pos(p->problem_mark);
    if (p->context != NULL)
        return vh_err_set(r->err, VH_EXIT_USAGE,
                          "%s:%d:%d: YAML syntax error: %s (%s)", r->name,
                          pos.line, pos.column, problem, p->context);
    return vh_err_set(r->err, VH_EXIT_USAGE, "%s:%d:%d: YAML syntax error: %s",
                      r->name, pos.line, pos.column, problem);
}

static int reader_next(vh_reader *r, yaml_event_t *ev)
{
    return yaml_parser_parse(&r->parser, ev) ? 0 : reader_syntax_error(r);
}

static int reader_oom(vh_reader *r)
{
    return vh_err_set(r->err, VH_EXIT_FAILURE,
                      "%s: out of memory while reading YAML", r->name);
}

/* Anchors and tags would make a value mean something other than what it
 * shows; a run file is simpler to check and to diff without them. */
static int reader_check_props(vh_reader *r, yaml_mark_t mark,
                              const yaml_char_t *anchor, const yaml_char_t *tag,
                              const char *own_tag)
{
    if (anchor != NULL)
        return reader_fail(r, mark,
                           "YAML aliases are not supported in run files (anchor '&%s')",
                           (const char *)anchor);
    if (tag != NULL && strcmp((const char *)tag, own_tag) != 0)
        return reader_fail(r, mark, "YAML tags are not supported in run files (tag '%s')",
                           (const char *)tag);
    return 0;
}

static int reader_scalar(vh_reader *r, const yaml_event_t *ev, vh_node **out)
{
    const char *text = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (reader_check_props(r, ev->start_mark, ev->data.scalar.anchor,
                           ev->data.scalar.tag, "tag:yaml.org,2002:str") != 0)
        return -1;
    if (memchr(text, '\0', len) != NULL)
        return reader_fail(r, ev->start_mark, "text contains a NUL character");
    /* Any style but plain (quotes, | or >) makes a string in YAML, never a
     * number or boolean; so does an explicit !!str. */
    int quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
                 ev->data.scalar.tag != NULL;
    *out = node_new_scalar_len(text, len, quoted, mark_pos(ev->start_mark));
    return *out != NULL ? 0 : reader_oom(r);
}

static int reader_node(vh_reader *r, const yaml_event_t *ev, int depth,
                       vh_node **out);

static int reader_sequence(vh_reader *r, const yaml_event_t *start, int depth,
                           vh_node **out)
{
    vh_node *seq = vh_node_new_sequence(mark_pos(start->start_mark));
    if (seq == NULL)
        return reader_oom(r);
    for (;;) {
        yaml_event_t ev;
        vh_node *item = NULL;
        if (reader_next(r, &ev) != 0)
            goto fail;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        int rc = reader_node(r, &ev, depth + 1, &item);
        yaml_event_delete(&ev);
        if (rc != 0)
            goto fail;
        if (vh_node_seq_append(seq, item) != 0) {
            vh_node_free(item);
            reader_oom(r);
            goto fail;
        }
    }
    *out = seq;
    return 0;
fail:
    vh_node_free(seq);
    return -1;
}

typedef struct vh_key_ref {
    const char *key;
    size_t index;
} vh_key_ref;

static int key_ref_compare(const void *a, const void *b)
{
    const vh_key_ref *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c != 0)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Sorting keeps a hostile mapping with many keys from costing n^2; the
 * duplicate reported is the earliest in the file, as a reader expects. */
static int reader_check_duplicates(vh_reader *r, const vh_node *map)
{
    if (map->count < 2)
        return 0;
    vh_key_ref *refs = malloc(map->count * sizeof *refs);
    if (refs == NULL)
        return reader_oom(r);
    for (size_t i = 0; i < map->count; i++)
        refs[i] = (vh_key_ref){map->keys[i], i};
    qsort(refs, map->count, sizeof *refs, key_ref_compare);
    size_t dup = SIZE_MAX, first = 0, group = 0;
    for (size_t i = 1; i < map->count; i++) {
        if (strcmp(refs[i].key, refs[group].key) != 0)
            group = i;
        else if (refs[i].index < dup) {
            dup = refs[i].index;
            first = refs[group].index;
        }
    }
    free(refs);
    if (dup == SIZE_MAX)
        return 0;
    vh_pos at = map->key_pos[dup], was = map->key_pos[first];
    return vh_err_set(r->err, VH_EXIT_USAGE, "%s:%d:%d: duplicate key '%s' (first at %d:%d)",
                      r->name, at.line, at.column, map->keys[dup], was.line,
                      was.column);
}

/* Reads one key and its value into `map`.  `ev` is the key's event. */
static int reader_entry(vh_reader *r, const yaml_event_t *ev, int depth,
                        vh_node *map)
{
    vh_node *key = NULL, *value = NULL;
    yaml_event_t vev;
    if (reader_node(r, ev, depth + 1, &key) != 0)
        return -1;
    if (key->kind != VH_NODE_SCALAR) {
        vh_node_free(key);
        return reader_fail(r, ev->start_mark, "a mapping key must be plain text, not %s",
                           ev->type == YAML_SEQUENCE_START_EVENT ? "a list" : "a mapping");
    }
    if (reader_next(r, &vev) != 0) {
        vh_node_free(key);
        return -1;
    }
    int rc = reader_node(r, &vev, depth + 1, &value);
    yaml_event_delete(&vev);
    if (rc == 0 && vh_node_map_append(map, key->scalar, key->pos, value) != 0) {
        vh_node_free(value);
        rc = reader_oom(r);
    }
    vh_node_free(key);
    return rc;
}

static int reader_mapping(vh_reader *r, const yaml_event_t *start, int depth,
                          vh_node **out)
{
    vh_node *map = vh_node_new_mapping(mark_pos(start->start_mark));
    if (map == NULL)
        return reader_oom(r);
    for (;;) {
        yaml_event_t ev;
        if (reader_next(r, &ev) != 0)
            goto fail;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        int rc = reader_entry(r, &ev, depth, map);
        yaml_event_delete(&ev);
        if (rc != 0)
            goto fail;
    }
    if (reader_check_duplicates(r, map) != 0)
        goto fail;
    *out = map;
    return 0;
fail:
    vh_node_free(map);
    return -1;
}

static int reader_node(vh_reader *r, const yaml_event_t *ev, int depth,
                       vh_node **out)
{
    /* Bounding the depth bounds this recursion, whatever the file holds. */
    if (depth > VH_NODE_MAX_DEPTH)
        return reader_fail(r, ev->start_mark, "nesting deeper than %d levels",
                           VH_NODE_MAX_DEPTH);
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        return reader_fail(r, ev->start_mark,
                           "YAML aliases are not supported in run files (alias '*%s')",
                           (const char *)ev->data.alias.anchor);
    case YAML_SCALAR_EVENT:
        return reader_scalar(r, ev, out);
    case YAML_SEQUENCE_START_EVENT:
        if (reader_check_props(r, ev->start_mark, ev->data.sequence_start.anchor,
                               ev->data.sequence_start.tag,
                               "tag:yaml.org,2002:seq") != 0)
            return -1;
        return reader_sequence(r, ev, depth, out);
    case YAML_MAPPING_START_EVENT:
        if (reader_check_props(r, ev->start_mark, ev->data.mapping_start.anchor,
                               ev->data.mapping_start.tag,
                               "tag:yaml.org,2002:map") != 0)
            return -1;
        return reader_mapping(r, ev, depth, out);
    default:
        return reader_fail(r, ev->start_mark, "unexpected YAML structure");
    }
}

/* Reads the stream: nothing at all (root NULL) or exactly one document. */
static int reader_stream(vh_reader *r, vh_node **out)
{
    yaml_event_t ev;
    vh_node *root = NULL;
    if (reader_next(r, &ev) != 0)               /* stream start */
        return -1;
    yaml_event_delete(&ev);
    if (reader_next(r, &ev) != 0)
        return -1;
    int empty = ev.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&ev);                      /* document start */
    if (empty)
        return 0;
    if (reader_next(r, &ev) != 0)
        return -1;
    int rc = reader_node(r, &ev, 1, &root);
    yaml_event_delete(&ev);
    if (rc != 0 || reader_next(r, &ev) != 0)     /* document end */
        goto fail;
    yaml_event_delete(&ev);
    if (reader_next(r, &ev) != 0)
        goto fail;
    if (ev.type == YAML_DOCUMENT_START_EVENT) {
        reader_fail(r, ev.start_mark,
                    "a second YAML document ('---'); a run file holds one");
        yaml_event_delete(&ev);
        goto fail;
    }
    yaml_event_delete(&ev);
    *out = root;
    return 0;
fail:
    vh_node_free(root);
    return -1;
}

int vh_node_parse_string(const char *text, size_t len, const char *name,
                         vh_node **out, vh_err *err)
{
    vh_reader r;
    *out = NULL;
    r.name = name;
    r.err = err;
    if (len > VH_NODE_MAX_BYTES)
        return vh_err_set(err, VH_EXIT_USAGE, "%s: bigger than the %u MiB limit",
                          name, VH_NODE_MAX_BYTES >> 20);
    if (!yaml_parser_initialize(&r.parser))
        return reader_oom(&r);
    yaml_parser_set_input_string(&r.parser, (const unsigned char *)text, len);
    int rc = reader_stream(&r, out);
    yaml_parser_delete(&r.parser);
    return rc;
}

/* Reads the whole file, refusing more than VH_NODE_MAX_BYTES before it is
 * all in memory. */
static int read_file(const char *path, char **text, size_t *len, vh_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return vh_err_set(err, VH_EXIT_USAGE, "%s: cannot open: %s", path,
                          strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        size_t want = cap - n;
        if (n + want > VH_NODE_MAX_BYTES + 1)
            want = VH_NODE_MAX_BYTES + 1 - n;
        size_t got = fread(buf + n, 1, want, f);
        n += got;
        if (got < want || n > VH_NODE_MAX_BYTES)
            break;
        if (n == cap) {
            char *bigger = realloc(buf, 2 * cap);
            if (bigger == NULL)
                free(buf);
            buf = bigger;
            cap *= 2;
        }
    }
    int failed = buf != NULL && ferror(f);
    int saved = errno;
    fclose(f);
    if (buf == NULL)
        return vh_err_set(err, VH_EXIT_FAILURE, "%s: out of memory", path);
    if (failed || n > VH_NODE_MAX_BYTES) {
        free(buf);
        if (failed)
            return vh_err_set(err, VH_EXIT_USAGE, "%s: cannot read: %s", path,
                              strerror(saved));
        return vh_err_set(err, VH_EXIT_USAGE, "%s: bigger than the %u MiB limit",
                          path, VH_NODE_MAX_BYTES >> 20);
    }
    *text = buf;
    *len = n;
    return 0;
}

int vh_node_parse_file(const char *path, vh_node **out, vh_err *err)
{
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    if (read_file(path, &text, &len, err) != 0)
        return -1;
    int rc = vh_node_parse_string(text, len, path, out, err);
    free(text);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Emitting                                                             */
/* ------------------------------------------------------------------ */

/* True when plain text would read back as a number, boolean or null
 * rather than a string.  Errs on the side of quoting: anything starting
 * like a number, and YAML 1.1's and 1.2's boolean and null words. */
static int scalar_looks_typed(const char *text)
{
    static const char *const words[] = {"true", "false", "yes", "no", "on",
                                        "off", "y", "n", "null", "~", NULL};
    const char *p = text;
    if (*p == '\0')
        return 1;
    for (size_t i = 0; words[i] != NULL; i++)
        if (strcasecmp(text, words[i]) == 0)
            return 1;
    if (*p == '+' || *p == '-')
        p++;
    return (*p >= '0' && *p <= '9') || *p == '.';
}

/* True when text is sure to be written plain by libyaml and to read back
 * as the same plain text: letters, digits, "._/+-~" and inner spaces only
 * (every number, boolean and null word is made of these), and not "-",
 * "- x", "---x" or "...x", which YAML reads as structure.  Anything else
 * is written double-quoted, whose escapes keep every byte; leaving the
 * choice to libyaml would put it in single quotes, which read back as a
 * quoted string that the next emit may write differently. */
static int scalar_plain_safe(const char *text)
{
    size_t n = strlen(text);
    if (n == 0 || strcmp(text, "-") == 0 || text[0] == ' ' || text[n - 1] == ' ' ||
        strncmp(text, "- ", 2) == 0 || strncmp(text, "---", 3) == 0 ||
        strncmp(text, "...", 3) == 0)   /* a list item, document markers */
        return 0;
    for (const char *p = text; *p != '\0'; p++)
        if (!isalnum((unsigned char)*p) && strchr("._/+-~ ", *p) == NULL)
            return 0;
    return 1;
}

static int emit(yaml_emitter_t *em, yaml_event_t *ev, int made)
{
    /* yaml_emitter_emit owns the event from here, on success or failure. */
    return made && yaml_emitter_emit(em, ev) ? 0 : -1;
}

/* The byte length of the well-formed UTF-8 character at p, or 0. */
static size_t utf8_length(const unsigned char *p)
{
    size_t n = p[0] < 0x80 ? 1 : p[0] >= 0xC2 && p[0] <= 0xDF ? 2
             : p[0] >= 0xE0 && p[0] <= 0xEF ? 3 : p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : 0;
    for (size_t k = 1; k < n; k++)
        if ((p[k] & 0xC0) != 0x80)
            return 0;
    /* no overlong forms, surrogates or code points past U+10FFFF */
    if ((n == 3 && p[0] == 0xE0 && p[1] < 0xA0) || (n == 3 && p[0] == 0xED && p[1] >= 0xA0) ||
        (n == 4 && p[0] == 0xF0 && p[1] < 0x90) || (n == 4 && p[0] == 0xF4 && p[1] >= 0x90))
        return 0;
    return n;
}

int vh_utf8_valid(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0';) {
        size_t n = utf8_length(p);
        if (n == 0)
            return 0;
        p += n;
    }
    return 1;
}

static int emit_text(yaml_emitter_t *em, const char *text, yaml_scalar_style_t style)
{
    yaml_event_t ev;
    /* libyaml refuses bytes that are not UTF-8 (a file name may hold any):
     * they are written as '?' rather than losing the whole file. */
    char *clean = vh_utf8_valid(text) ? NULL : strdup(text);
    if (clean != NULL) {
        for (unsigned char *p = (unsigned char *)clean; *p != '\0';) {
            size_t n = utf8_length(p);
            if (n == 0)
                *p++ = '?';
            else
                p += n;
        }
        text = clean;
        style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    }
    int made = yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text,
                                            (int)strlen(text), 1, 1, style);
    free(clean);
    return emit(em, &ev, made);
}

static int emit_node(yaml_emitter_t *em, const vh_node *node)
{
    yaml_event_t ev;
    if (node->kind == VH_NODE_SCALAR) {
        /* Plain unless that would change the type or the text. */
        int typed = node->quoted && scalar_looks_typed(node->scalar);
        int plain = !typed && scalar_plain_safe(node->scalar);
        return emit_text(em, node->scalar, plain ? YAML_PLAIN_SCALAR_STYLE
                                                 : YAML_DOUBLE_QUOTED_SCALAR_STYLE);
    }
    if (node->kind == VH_NODE_SEQUENCE) {
        int flat = 1;
        for (size_t i = 0; i < node->count; i++)
            flat = flat && node->items[i]->kind == VH_NODE_SCALAR;
        int made = yaml_sequence_start_event_initialize(
            &ev, NULL, NULL, 1, flat ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE);
        if (emit(em, &ev, made) != 0)
            return -1;
        for (size_t i = 0; i < node->count; i++)
            if (emit_node(em, node->items[i]) != 0)
                return -1;
        return emit(em, &ev, yaml_sequence_end_event_initialize(&ev));
    }
    int made = yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                   YAML_BLOCK_MAPPING_STYLE);
    if (emit(em, &ev, made) != 0)
        return -1;
    for (size_t i = 0; i < node->count; i++)
        if (emit_text(em, node->keys[i], YAML_PLAIN_SCALAR_STYLE) != 0 ||
            emit_node(em, node->items[i]) != 0)
            return -1;
    return emit(em, &ev, yaml_mapping_end_event_initialize(&ev));
}

int vh_node_emit(const vh_node *node, FILE *out)
{
    yaml_emitter_t em;
    yaml_event_t ev;
    if (node == NULL || out == NULL || !yaml_emitter_initialize(&em))
        return -1;
    yaml_emitter_set_output_file(&em, out);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1);   /* never fold long strings */
    int rc = emit(&em, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
    if (rc == 0)
        rc = emit(&em, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
    if (rc == 0)
        rc = emit_node(&em, node);
    if (rc == 0)
        rc = emit(&em, &ev, yaml_document_end_event_initialize(&ev, 1));
    if (rc == 0)
        rc = emit(&em, &ev, yaml_stream_end_event_initialize(&ev));
    if (rc == 0 && !yaml_emitter_flush(&em))
        rc = -1;
    yaml_emitter_delete(&em);
    return rc == 0 && !ferror(out) ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Messages                                                             */
/* ------------------------------------------------------------------ */

/* Levenshtein distance with one row of scratch (row has strlen(b)+1). */
static size_t edit_distance(const char *a, const char *b, size_t *row)
{
    size_t nb = strlen(b);
    for (size_t j = 0; j <= nb; j++)
        row[j] = j;
    for (size_t i = 1; a[i - 1] != '\0'; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

const char *vh_suggest(const char *word, const char *const *candidates)
{
    if (word == NULL || candidates == NULL)
        return NULL;
    /* max(2, len/3) edits, but fewer than the word has letters: 'sigam' ->
     * 'sigma' (2), while 'c' suggests no unrelated one-letter key. */
    size_t len = strlen(word);
    size_t limit = len / 3 > 2 ? len / 3 : 2;
    if (limit >= len)
        limit = len > 0 ? len - 1 : 0;
    size_t longest = 0;
    for (size_t i = 0; candidates[i] != NULL; i++)
        if (strlen(candidates[i]) > longest)
            longest = strlen(candidates[i]);
    size_t *row = malloc((longest + 1) * sizeof *row);
    if (row == NULL)
        return NULL;
    const char *best = NULL;
    size_t best_distance = limit + 1;
    for (size_t i = 0; candidates[i] != NULL; i++) {
        size_t d = edit_distance(word, candidates[i], row);
        if (d < best_distance) {
            best = candidates[i];
            best_distance = d;
        }
    }
    free(row);
    return best;
}

void vh_pos_format(char *buf, size_t size, const char *file, vh_pos pos,
                   const char *origin)
{
    if (origin != NULL)
        snprintf(buf, size, "--set '%s'", origin);
    else if (pos.line > 0)
        snprintf(buf, size, "%s:%d:%d", file, pos.line, pos.column);
    else
        snprintf(buf, size, "%s", file);
}

void vh_node_describe(const vh_node *node, char *buf, size_t size)
{
    enum { SHOWN = 60 };
    char text[SHOWN + 4];
    if (node == NULL || (node->kind == VH_NODE_SCALAR && !node->quoted &&
                         node->scalar[0] == '\0')) {
        snprintf(buf, size, "nothing");
        return;
    }
    if (node->kind != VH_NODE_SCALAR) {
        snprintf(buf, size, node->kind == VH_NODE_SEQUENCE ? "a list" : "a mapping");
        return;
    }
    /* Keep the message on one line and of a readable length. */
    size_t n = 0;
    for (const char *c = node->scalar; *c != '\0' && n < SHOWN; c++)
        text[n++] = (unsigned char)*c < 0x20 || *c == 0x7f ? '?' : *c;
    text[n] = '\0';
    if (strlen(node->scalar) > SHOWN)
        strcat(text, "...");
    if (node->quoted)
        snprintf(buf, size, "\"%s\" (in quotes, so text)", text);
    else
        snprintf(buf, size, "'%s'", text);
}

int vh_node_number(const vh_node *node, double *out)
{
    if (node == NULL || node->kind != VH_NODE_SCALAR || node->quoted)
        return -1;
    const char *text = node->scalar;
    /* strtod would skip leading blanks; text that starts with one is not
     * a number as written. */
    if (text[0] == '\0' || isspace((unsigned char)text[0]))
        return -1;
    char *end;
    errno = 0;
    double x = strtod(text, &end);
    /* Overflow gives +-HUGE_VAL, which isfinite refuses with inf and nan;
     * underflow to a tiny or zero value is accepted as the nearest real. */
    if (*end != '\0' || !isfinite(x))
        return -1;
    *out = x;
    return 0;
}
