/* node.h — a YAML document as a tree that remembers where every node and
 * key stood in its file, so that every error can name file:line:column. */
#ifndef VH_NODE_H
#define VH_NODE_H

#include <stddef.h>
#include <stdio.h>
#include "errors.h"

typedef enum vh_node_kind {
    VH_NODE_SCALAR = 1,
    VH_NODE_SEQUENCE = 2,
    VH_NODE_MAPPING = 3
} vh_node_kind;

typedef struct vh_pos {
    int line;     /* 1-based; 0 when the node came from --set or a default */
    int column;   /* 1-based */
} vh_pos;

typedef struct vh_node vh_node;
struct vh_node {
    vh_node_kind kind;
    vh_pos pos;          /* where the value starts */
    char *scalar;        /* SCALAR: its text, NUL-terminated */
    int quoted;          /* SCALAR: written in quotes (so a string, never a number) */
    size_t count;        /* SEQUENCE / MAPPING: number of items */
    vh_node **items;     /* SEQUENCE / MAPPING: the values */
    char **keys;         /* MAPPING: the keys, parallel to items */
    vh_pos *key_pos;     /* MAPPING: where each key stands */
    /* Added: the --set argument that made this node (owned; copied by
     * vh_node_clone), or NULL.  Lets a later error about a value from the
     * command line name that argument instead of a file position. */
    char *origin;
};

/* Limits that keep a hostile file from exhausting memory or the stack. */
#define VH_NODE_MAX_DEPTH 64
#define VH_NODE_MAX_BYTES (16u << 20)

/* Parses the YAML file at `path` (a single document; anchors and aliases
 * refused) into a tree.  Errors name path:line:column (exit 2). */
int vh_node_parse_file(const char *path, vh_node **out, vh_err *err);
/* Same for text in memory; `name` is used in error messages. */
int vh_node_parse_string(const char *text, size_t len, const char *name,
                         vh_node **out, vh_err *err);

vh_node *vh_node_new_scalar(const char *text, int quoted, vh_pos pos);
vh_node *vh_node_new_mapping(vh_pos pos);
vh_node *vh_node_new_sequence(vh_pos pos);
/* Appends to a mapping (takes ownership of value) / sequence. 0 or -1 (ENOMEM;
 * then the caller still owns value). */
int vh_node_map_append(vh_node *map, const char *key, vh_pos key_pos, vh_node *value);
int vh_node_seq_append(vh_node *seq, vh_node *value);
/* Replaces the value at index i of a mapping, freeing the old one. */
void vh_node_map_replace(vh_node *map, size_t i, vh_node *value);
/* Removes key i of a mapping, freeing it. */
void vh_node_map_remove(vh_node *map, size_t i);

/* Index of `key` in a mapping, or -1 (also when map is NULL or not a mapping). */
long vh_node_map_index(const vh_node *map, const char *key);
/* The value of `key` in a mapping, or NULL. */
vh_node *vh_node_map_get(const vh_node *map, const char *key);

vh_node *vh_node_clone(const vh_node *node);
void vh_node_free(vh_node *node);

/* Writes the tree as YAML (block style, keys in stored order); strings that
 * would read back as another type are quoted.  0 or -1 on I/O error. */
int vh_node_emit(const vh_node *node, FILE *out);

/* Added: whether `text` is well-formed UTF-8 (what YAML text must be). */
int vh_utf8_valid(const char *text);

/* The closest of `candidates` (NULL-terminated) to `word` by edit distance,
 * or NULL when none is within max(2, strlen(word)/3) edits. */
const char *vh_suggest(const char *word, const char *const *candidates);

/* Added: where something stands, for the start of an error message:
 * "--set 'ARG'" when origin is non-NULL, "FILE:LINE:COL" when pos.line > 0,
 * otherwise "FILE". */
void vh_pos_format(char *buf, size_t size, const char *file, vh_pos pos,
                   const char *origin);

/* Added: what a node is, for "got ..." in messages: 'text' for a plain
 * scalar, "text" (in quotes, so text) for a quoted one, "nothing" for an
 * empty plain scalar, "a list", "a mapping".  Long or multi-line text is
 * cut short so the message stays one line. */
void vh_node_describe(const vh_node *node, char *buf, size_t size);

/* Added: reads a plain (unquoted) scalar that is wholly a finite real
 * number (strtod) into *out.  0, or -1 for anything else (quoted text,
 * "inf", "nan", overflow, trailing text, a list, a mapping). */
int vh_node_number(const vh_node *node, double *out);

#endif
