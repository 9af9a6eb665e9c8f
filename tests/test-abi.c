/* test-abi.c — ABI stability: every struct, member and constant of ABI 1.0
 * (tests/abi/layout.def) has, in the current sdk/vihost/plugin.h, the same
 * offset, size and value as in the frozen 1.0 header (tests/abi/
 * plugin-1.0.h); a struct may only have grown (members appended). */
#include <stddef.h>
#include <string.h>
#include <vihost/plugin.h>

#include "tap.h"

extern const size_t abi10_layout[];
extern const size_t abi10_layout_count;

/* What each number of the layout is: 'S' a struct size, 'o' an offset,
 * 's' a member size, 'C' a constant. */
#define S(s) {sizeof(s), 'S', #s},
#define M(s, m) {offsetof(s, m), 'o', #s "." #m}, {sizeof(((s *)0)->m), 's', #s "." #m},
#define C(c) {(size_t)(c), 'C', #c},
static const struct entry {
    size_t value;
    char what;
    const char *name;
} current[] = {
#include "abi/layout.def"
};

int main(void)
{
    size_t n = sizeof current / sizeof current[0];
    ok(n == abi10_layout_count, "layout.def gives %zu numbers under both headers (%zu)", n,
       abi10_layout_count);
    int bad = 0;
    for (size_t i = 0; i < n && i < abi10_layout_count; i++) {
        const struct entry *e = &current[i];
        int same = e->what == 'S' ? e->value >= abi10_layout[i] : e->value == abi10_layout[i];
        if (!same) {
            bad++;
            diag("%s %s: 1.0 has %zu, now %zu", e->name,
                 e->what == 'S' ? "size" : e->what == 'o' ? "offset"
                                    : e->what == 's' ? "member size" : "value",
                 abi10_layout[i], e->value);
        }
    }
    ok(bad == 0, "every 1.0 member keeps its offset and size, every constant its value "
       "(%d differ)", bad);
    ok(VI_ABI_MAJOR == 1 && VI_ABI_MINOR >= 0, "the header is ABI 1.%d", VI_ABI_MINOR);
    return tap_done();
}
