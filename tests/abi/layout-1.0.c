/* layout-1.0.c — the numbers of layout.def under the frozen ABI 1.0
 * header, for tests/test-abi.c to compare with the current header's. */
#include <stddef.h>

#include "plugin-1.0.h"

#define S(s) sizeof(s),
#define M(s, m) offsetof(s, m), sizeof(((s *)0)->m),
#define C(c) (size_t)(c),
const size_t abi10_layout[] = {
#include "layout.def"
};
const size_t abi10_layout_count = sizeof abi10_layout / sizeof abi10_layout[0];
