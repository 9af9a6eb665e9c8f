/* jsonfast.c — the fast reader of numeric JSON data (see jsonfast.h). */
#include "jsonfast.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Hand back the text read so far every this many bytes. */
#define JF_RELEASE_STEP ((size_t)8 << 20)
/* Longer names and number tokens go the slow way. */
#define JF_NAME_MAX 256
#define JF_TOKEN_MAX 64
/* Integers beyond 2^53 are not all representable as doubles. */
#define JF_MAX_EXACT 9007199254740992.0

typedef struct jf {
    const char *base, *p, *end;
    vh_jsonfast_release release;
    void *release_ctx;
    size_t released;
    char **names;               /* the variables so far, for duplicates */
    size_t n_names, cap_names;
} jf;

/* The growing array of one variable. */
typedef struct jf_array {
    double *numbers;
    size_t count, cap;
    size_t ndim;                /* 0 until the first number fixes it */
    size_t shape[VI_MAX_RANK];
    int known[VI_MAX_RANK];
    int integral;
} jf_array;

enum { JF_OK = 0, JF_GIVE_UP = 1, JF_NOMEM = -1 };

static void jf_space(jf *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
        j->p++;
}

static void jf_maybe_release(jf *j)
{
    size_t done = (size_t)(j->p - j->base);
    if (j->release != NULL && done - j->released >= JF_RELEASE_STEP) {
        j->release(j->release_ctx, done - JF_TOKEN_MAX);
        j->released = done;
    }
}

static const double jf_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                    1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* One JSON number: its grammar checked; the value exact when its
 * significant digits fit 2^53 and the power of ten is at most 22 (both
 * exact doubles, one correctly rounded operation), else by strtod. */
static int jf_number(jf *j, double *out)
{
    const char *s = j->p, *q = s;
    uint64_t m = 0;
    int sig = 0, exp10 = 0, long_digits = 0;
    if (q < j->end && *q == '-')
        q++;
    if (q >= j->end || *q < '0' || *q > '9' ||
        (*q == '0' && q + 1 < j->end && q[1] >= '0' && q[1] <= '9'))
        return JF_GIVE_UP; /* no digit, or a leading zero */
    for (; q < j->end && *q >= '0' && *q <= '9'; q++) {
        if (m == 0 && *q == '0')
            continue;
        if (sig < 19) {
            m = m * 10 + (uint64_t)(*q - '0');
            sig++;
        } else {
            long_digits = 1;
            exp10++;
        }
    }
    if (q < j->end && *q == '.') {
        if (++q >= j->end || *q < '0' || *q > '9')
            return JF_GIVE_UP;
        for (; q < j->end && *q >= '0' && *q <= '9'; q++) {
            if (sig >= 19) {
                long_digits = 1;
                continue;
            }
            if (m != 0 || *q != '0')
                m = m * 10 + (uint64_t)(*q - '0'), sig += m != 0;
            exp10--;
        }
    }
    if (q < j->end && (*q == 'e' || *q == 'E')) {
        int sign = 1, e = 0;
        if (++q < j->end && (*q == '+' || *q == '-'))
            sign = *q++ == '-' ? -1 : 1;
        if (q >= j->end || *q < '0' || *q > '9')
            return JF_GIVE_UP;
        for (; q < j->end && *q >= '0' && *q <= '9'; q++)
            e = e < 100000 ? e * 10 + (*q - '0') : e;
        exp10 += sign * e;
    }
    if (q - s >= JF_TOKEN_MAX)
        return JF_GIVE_UP;
    j->p = q;
    double v;
    if (!long_digits && m <= (uint64_t)1 << 53 && exp10 >= -22 && exp10 <= 22) {
        v = exp10 >= 0 ? (double)m * jf_pow10[exp10] : (double)m / jf_pow10[-exp10];
        *out = *s == '-' ? -v : v;
        return JF_OK;
    }
    char token[JF_TOKEN_MAX];
    memcpy(token, s, (size_t)(q - s));
    token[q - s] = '\0';
    v = strtod(token, NULL);
    if (!isfinite(v))
        return JF_GIVE_UP;
    *out = v;
    return JF_OK;
}

static int jf_whole(double x)
{
    return x == floor(x) && fabs(x) <= JF_MAX_EXACT;
}

static int jf_push_number(jf_array *a, double x)
{
    if (a->count == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 1024;
        double *more = realloc(a->numbers, cap * sizeof *more);
        if (more == NULL)
            return JF_NOMEM;
        a->numbers = more;
        a->cap = cap;
    }
    a->numbers[a->count++] = x;
    if (!jf_whole(x))
        a->integral = 0;
    return JF_OK;
}

/* An array at `depth`, the '[' at j->p. */
static int jf_array_value(jf *j, jf_array *a, size_t depth)
{
    size_t count = 0;
    j->p++;
    for (;;) {
        jf_space(j);
        if (j->p >= j->end)
            return JF_GIVE_UP;
        int rc;
        if (*j->p == '[') {
            if (depth + 1 >= VI_MAX_RANK || (a->ndim != 0 && depth + 1 >= a->ndim))
                return JF_GIVE_UP;
            rc = jf_array_value(j, a, depth + 1);
        } else {
            double x;
            if (a->ndim == 0)
                a->ndim = depth + 1;
            if (a->ndim != depth + 1)
                return JF_GIVE_UP;
            rc = jf_number(j, &x);
            if (rc == JF_OK)
                rc = jf_push_number(a, x);
        }
        if (rc != JF_OK)
            return rc;
        count++;
        jf_space(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == ']') {
            j->p++;
            break;
        }
        return JF_GIVE_UP;
    }
    if (!a->known[depth]) {
        a->shape[depth] = count;
        a->known[depth] = 1;
    } else if (a->shape[depth] != count)
        return JF_GIVE_UP;
    jf_maybe_release(j);
    return JF_OK;
}

/* A variable's value: a number or a non-empty rectangular array. */
static int jf_value(jf *j, vh_value *value)
{
    memset(value, 0, sizeof *value);
    if (*j->p != '[') {
        double x;
        int rc = jf_number(j, &x);
        if (rc != JF_OK)
            return rc;
        if ((value->numbers = malloc(sizeof *value->numbers)) == NULL)
            return JF_NOMEM;
        value->kind = VH_VALUE_NUMBER;
        value->numbers[0] = x;
        value->length = 1;
        value->integral = jf_whole(x);
        return JF_OK;
    }
    jf_array a;
    memset(&a, 0, sizeof a);
    a.integral = 1;
    int rc = jf_array_value(j, &a, 0);
    if (rc == JF_OK && a.count == 0)
        rc = JF_GIVE_UP; /* [] and [[]]: the slow way knows their shapes */
    if (rc != JF_OK) {
        free(a.numbers);
        return rc;
    }
    double *fit = realloc(a.numbers, a.count * sizeof *fit);
    value->kind = VH_VALUE_ARRAY;
    value->numbers = fit != NULL ? fit : a.numbers;
    value->length = a.count;
    value->ndim = a.ndim;
    memcpy(value->shape, a.shape, sizeof a.shape);
    value->integral = a.integral;
    return JF_OK;
}

/* A key without escapes, control characters or non-ASCII bytes, not
 * empty and not seen before. */
static int jf_key(jf *j, char *name)
{
    if (j->p >= j->end || *j->p != '"')
        return JF_GIVE_UP;
    const char *s = ++j->p;
    while (j->p < j->end && *j->p != '"') {
        unsigned char c = (unsigned char)*j->p;
        if (c == '\\' || c < 0x20 || c >= 0x7f || j->p - s >= JF_NAME_MAX - 1)
            return JF_GIVE_UP;
        j->p++;
    }
    if (j->p >= j->end || j->p == s)
        return JF_GIVE_UP;
    memcpy(name, s, (size_t)(j->p - s));
    name[j->p - s] = '\0';
    j->p++;
    for (size_t i = 0; i < j->n_names; i++)
        if (strcmp(j->names[i], name) == 0)
            return JF_GIVE_UP;
    if (j->n_names == j->cap_names) {
        size_t cap = j->cap_names ? 2 * j->cap_names : 16;
        char **more = realloc(j->names, cap * sizeof *more);
        if (more == NULL)
            return JF_NOMEM;
        j->names = more;
        j->cap_names = cap;
    }
    return (j->names[j->n_names++] = strdup(name)) != NULL ? JF_OK : JF_NOMEM;
}

static int jf_members(jf *j, vh_jsonfast_push push, void *push_ctx)
{
    char name[JF_NAME_MAX];
    jf_space(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return JF_OK;
    }
    for (;;) {
        vh_value value;
        jf_space(j);
        int rc = jf_key(j, name);
        jf_space(j);
        if (rc == JF_OK && (j->p >= j->end || *j->p++ != ':'))
            rc = JF_GIVE_UP;
        jf_space(j);
        if (rc == JF_OK && j->p >= j->end)
            rc = JF_GIVE_UP;
        if (rc == JF_OK)
            rc = jf_value(j, &value);
        if (rc == JF_OK && push(push_ctx, name, &value) != 0)
            rc = JF_NOMEM;
        if (rc != JF_OK)
            return rc;
        jf_space(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == '}') {
            j->p++;
            return JF_OK;
        }
        return JF_GIVE_UP;
    }
}

int vh_jsonfast_parse(const char *text, size_t len, vh_jsonfast_push push, void *push_ctx,
                      vh_jsonfast_release release, void *release_ctx)
{
    jf j = {text, text, text + len, release, release_ctx, 0, NULL, 0, 0};
    jf_space(&j);
    int rc = j.p < j.end && *j.p == '{' ? JF_OK : JF_GIVE_UP;
    if (rc == JF_OK) {
        j.p++;
        rc = jf_members(&j, push, push_ctx);
    }
    jf_space(&j);
    if (rc == JF_OK && j.p != j.end)
        rc = JF_GIVE_UP; /* text after the object */
    for (size_t i = 0; i < j.n_names; i++)
        free(j.names[i]);
    free(j.names);
    return rc;
}
