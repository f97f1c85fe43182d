/* tests/unit/test_ws_mask_baseline.c — test_ws_frame.c's cases against ws/frame.c built
 * with one copy of its vector loop, the x86-64 baseline's (SSE2): where the CPU has
 * AVX2 (as here), test_ws_frame.c runs the AVX2 copy that target_clones picks at load
 * time, so the copy a CPU without it runs is tested here. Elsewhere both are the same. */
#define MASK_CLONES /* empty: no target_clones */
#include "ws/frame.c"

#include "test_ws_frame.c"
