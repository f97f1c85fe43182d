/* tests/unit/test_sio_jscan_swar.c — test_sio_jscan.c's cases against sio/jscan.c built
 * without its SSE2 string scan (JSCAN_NO_VECTOR): on x86-64 test_sio_jscan.c runs the
 * sixteen-byte scan, so the eight-byte word scan that other CPUs run is tested here. */
#define JSCAN_NO_VECTOR
#include "sio/jscan.c"

#include "test_sio_jscan.c"
