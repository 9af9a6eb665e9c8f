/* xmlcheck.h — a small, strict XML well-formedness check for the tests of
 * report.html's SVG figures: one root element, every start tag closed by
 * its own end tag, attributes quoted and unique within a tag, no '<' in
 * text or attribute values, every '&' a valid reference (the five
 * predefined entities or a character reference), comments, processing
 * instructions, CDATA and a DOCTYPE (with an internal subset) where XML
 * allows them.  Not a validator: the DTD is not read. */
#ifndef VH_TEST_XMLCHECK_H
#define VH_TEST_XMLCHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XML_MAX_DEPTH 256
#define XML_MAX_NAME 128
#define XML_MAX_ATTRS 64

typedef struct xml_state {
    const char *s;       /* the whole text */
    size_t i, n;
    char stack[XML_MAX_DEPTH][XML_MAX_NAME];
    int depth;
    char root[XML_MAX_NAME];
    char why[256];
} xml_state;

static int xml_fail(xml_state *x, const char *what)
{
    size_t line = 1;
    for (size_t k = 0; k < x->i && k < x->n; k++)
        line += x->s[k] == '\n';
    snprintf(x->why, sizeof x->why, "line %zu: %s", line, what);
    return -1;
}

static int xml_starts(const xml_state *x, const char *lit)
{
    return strncmp(x->s + x->i, lit, strlen(lit)) == 0;
}

static void xml_space(xml_state *x)
{
    while (x->i < x->n && strchr(" \t\r\n", x->s[x->i]) != NULL)
        x->i++;
}

static int xml_name_char(char c, int first)
{
    int letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':' ||
                 (unsigned char)c >= 0x80;
    return first ? letter : letter || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static int xml_name(xml_state *x, char *out)
{
    size_t k = 0;
    if (x->i >= x->n || !xml_name_char(x->s[x->i], 1))
        return xml_fail(x, "expected a name");
    while (x->i < x->n && xml_name_char(x->s[x->i], 0)) {
        if (k + 1 >= XML_MAX_NAME)
            return xml_fail(x, "name too long");
        out[k++] = x->s[x->i++];
    }
    out[k] = '\0';
    return 0;
}

/* Skips to just after `end`; fails when it never comes. */
static int xml_skip_past(xml_state *x, const char *end, const char *what)
{
    const char *at = strstr(x->s + x->i, end);
    if (at == NULL)
        return xml_fail(x, what);
    x->i = (size_t)(at - x->s) + strlen(end);
    return 0;
}

/* An '&' at x->i: "&amp;" and friends or "&#N;" / "&#xH;". */
static int xml_reference(xml_state *x)
{
    static const char *const named[] = {"amp;", "lt;", "gt;", "quot;", "apos;", NULL};
    x->i++;
    for (int k = 0; named[k]; k++)
        if (xml_starts(x, named[k])) {
            x->i += strlen(named[k]);
            return 0;
        }
    if (x->i < x->n && x->s[x->i] == '#') {
        int hex = x->i + 1 < x->n && x->s[x->i + 1] == 'x';
        size_t j = x->i + 1 + hex, digits = 0;
        while (j < x->n && (hex ? strchr("0123456789abcdefABCDEF", x->s[j]) != NULL
                                : x->s[j] >= '0' && x->s[j] <= '9') && x->s[j] != '\0') {
            j++;
            digits++;
        }
        if (digits > 0 && j < x->n && x->s[j] == ';') {
            x->i = j + 1;
            return 0;
        }
    }
    return xml_fail(x, "an '&' that starts no valid reference");
}

static int xml_attributes(xml_state *x, int *empty)
{
    char names[XML_MAX_ATTRS][XML_MAX_NAME];
    int count = 0;
    for (;;) {
        size_t before = x->i;
        xml_space(x);
        if (x->i >= x->n)
            return xml_fail(x, "a tag runs to the end of the file");
        if (xml_starts(x, "/>") || x->s[x->i] == '>') {
            *empty = x->s[x->i] == '/';
            x->i += *empty ? 2 : 1;
            return 0;
        }
        if (x->i == before)
            return xml_fail(x, "attributes must be separated by white space");
        if (count == XML_MAX_ATTRS)
            return xml_fail(x, "too many attributes");
        if (xml_name(x, names[count]) != 0)
            return -1;
        for (int k = 0; k < count; k++)
            if (strcmp(names[k], names[count]) == 0)
                return xml_fail(x, "an attribute given twice in one tag");
        count++;
        xml_space(x);
        if (x->i >= x->n || x->s[x->i] != '=')
            return xml_fail(x, "an attribute without '='");
        x->i++;
        xml_space(x);
        char quote = x->i < x->n ? x->s[x->i] : '\0';
        if (quote != '"' && quote != '\'')
            return xml_fail(x, "an attribute value without quotes");
        for (x->i++; x->i < x->n && x->s[x->i] != quote;) {
            if (x->s[x->i] == '<')
                return xml_fail(x, "'<' in an attribute value");
            if (x->s[x->i] == '&') {
                if (xml_reference(x) != 0)
                    return -1;
            } else
                x->i++;
        }
        if (x->i >= x->n)
            return xml_fail(x, "an unterminated attribute value");
        x->i++;
    }
}

static int xml_element_tag(xml_state *x)
{
    char name[XML_MAX_NAME];
    int empty = 0;
    x->i++; /* '<' */
    if (xml_name(x, name) != 0 || xml_attributes(x, &empty) != 0)
        return -1;
    if (x->depth == 0) {
        if (x->root[0] != '\0')
            return xml_fail(x, "a second root element");
        snprintf(x->root, sizeof x->root, "%s", name);
    }
    if (!empty) {
        if (x->depth == XML_MAX_DEPTH)
            return xml_fail(x, "elements nested too deeply");
        snprintf(x->stack[x->depth++], XML_MAX_NAME, "%s", name);
    }
    return 0;
}

static int xml_end_tag(xml_state *x)
{
    char name[XML_MAX_NAME];
    x->i += 2;
    if (xml_name(x, name) != 0)
        return -1;
    xml_space(x);
    if (x->i >= x->n || x->s[x->i] != '>')
        return xml_fail(x, "an end tag without '>'");
    x->i++;
    if (x->depth == 0 || strcmp(x->stack[x->depth - 1], name) != 0)
        return xml_fail(x, "an end tag that closes no open element of its name");
    x->depth--;
    return 0;
}

/* <!DOCTYPE ...>, with an internal subset in [...] allowed. */
static int xml_doctype(xml_state *x)
{
    int bracket = 0;
    for (x->i += 9; x->i < x->n; x->i++) {
        char c = x->s[x->i];
        if (c == '[')
            bracket++;
        else if (c == ']')
            bracket--;
        else if (c == '>' && bracket == 0) {
            x->i++;
            return 0;
        }
    }
    return xml_fail(x, "an unterminated DOCTYPE");
}

static int xml_markup(xml_state *x)
{
    if (xml_starts(x, "<!--"))
        return xml_skip_past(x, "-->", "an unterminated comment");
    if (xml_starts(x, "<?"))
        return xml_skip_past(x, "?>", "an unterminated processing instruction");
    if (xml_starts(x, "<![CDATA[")) {
        if (x->depth == 0)
            return xml_fail(x, "CDATA outside the root element");
        return xml_skip_past(x, "]]>", "an unterminated CDATA section");
    }
    if (xml_starts(x, "<!DOCTYPE")) {
        if (x->root[0] != '\0')
            return xml_fail(x, "a DOCTYPE after the root element");
        return xml_doctype(x);
    }
    if (xml_starts(x, "</"))
        return xml_end_tag(x);
    if (x->depth == 0 && x->root[0] != '\0')
        return xml_fail(x, "an element after the root element");
    return xml_element_tag(x);
}

/* 0 when `text` is well-formed XML: *root gets the root element's name.
 * Otherwise -1 and `why` says what and where. */
static int xml_check(const char *text, char *root, size_t root_size, char *why, size_t why_size)
{
    xml_state *x = (xml_state *)calloc(1, sizeof *x);
    if (x == NULL) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    x->s = text;
    x->n = strlen(text);
    int rc = 0;
    while (rc == 0 && x->i < x->n) {
        char c = x->s[x->i];
        if (c == '<')
            rc = xml_markup(x);
        else if (x->depth == 0 && strchr(" \t\r\n", c) == NULL)
            rc = xml_fail(x, "text outside the root element");
        else if (c == '&')
            rc = xml_reference(x);
        else
            x->i++;
    }
    if (rc == 0 && x->root[0] == '\0')
        rc = xml_fail(x, "no root element");
    if (rc == 0 && x->depth != 0)
        rc = xml_fail(x, "the file ends inside an element");
    snprintf(root, root_size, "%s", x->root);
    snprintf(why, why_size, "%s", rc == 0 ? "" : x->why);
    free(x);
    return rc;
}

#endif
