/* tests/unit/test_edge_ratelimit.c — edge/ratelimit.c: the token bucket's integer
 * arithmetic and the bounded per-IP table (limits, eviction, the memory bound). */
#include "edge/ratelimit.h"
#include "test.h"
#include "wsio.h"

static void test_bucket(void) {
  edge_bucket b;
  edge_bucket_init(&b, 3, 3, 1000);
  /* Starts full: the burst at once, then nothing. */
  CHECK_EQ_INT(edge_bucket_take(&b, 1000), 1);
  CHECK_EQ_INT(edge_bucket_take(&b, 1000), 1);
  CHECK_EQ_INT(edge_bucket_take(&b, 1000), 1);
  CHECK_EQ_INT(edge_bucket_take(&b, 1000), 0);
  /* 3 per second: one token every 333.3 ms, exactly (thousandths of a token). */
  CHECK_EQ_INT(edge_bucket_wait_ms(&b, 1000), 334);
  CHECK_EQ_INT(edge_bucket_take(&b, 1333), 0); /* 999 thousandths */
  CHECK_EQ_INT(edge_bucket_wait_ms(&b, 1333), 1);
  CHECK_EQ_INT(edge_bucket_take(&b, 1334), 1);
  /* Over 3 s: 9 events at most beyond the start, however they are spread. */
  edge_bucket_init(&b, 3, 3, 0);
  int n = 0;
  for (uint64_t t = 0; t <= 3000; t += 5) n += edge_bucket_take(&b, t) + edge_bucket_take(&b, t);
  CHECK_EQ_INT(n, 3 + 9);
  /* Never above burst after a long idle time, and no overflow with extreme values. */
  edge_bucket_init(&b, 4000000000u, 5, 0);
  for (int i = 0; i < 5; i++) CHECK_EQ_INT(edge_bucket_take(&b, 0), 1);
  CHECK_EQ_INT(edge_bucket_take(&b, 0), 0);
  CHECK_EQ_INT(edge_bucket_take(&b, UINT64_MAX), 1);
  for (int i = 0; i < 4; i++) CHECK_EQ_INT(edge_bucket_take(&b, UINT64_MAX), 1);
  CHECK_EQ_INT(edge_bucket_take(&b, UINT64_MAX), 0);
  edge_bucket_init(&b, 1, 4000000000u, 0);
  CHECK_EQ_INT(b.milli, 4000000000000ull);
  /* A clock that goes backwards refills nothing and does not move last_ms back. */
  edge_bucket_init(&b, 1, 1, 10000);
  CHECK_EQ_INT(edge_bucket_take(&b, 10000), 1);
  CHECK_EQ_INT(edge_bucket_take(&b, 5000), 0);
  CHECK_EQ_INT(edge_bucket_take(&b, 10999), 0);
  CHECK_EQ_INT(edge_bucket_take(&b, 11000), 1);
  /* rate 0: no limit. burst 0: one second's worth. */
  edge_bucket_init(&b, 0, 0, 0);
  for (int i = 0; i < 1000; i++) CHECK_EQ_INT(edge_bucket_take(&b, 0), 1);
  CHECK_EQ_INT(edge_bucket_wait_ms(&b, 0), 0);
  edge_bucket_init(&b, 10, 0, 0);
  n = 0;
  for (int i = 0; i < 100; i++) n += edge_bucket_take(&b, 0);
  CHECK_EQ_INT(n, 10);
}

static edge_ip v4(uint32_t x) {
  edge_ip ip;
  memset(&ip, 0, sizeof ip);
  ip.family = 4;
  ip.a[0] = (uint8_t)(x >> 24);
  ip.a[1] = (uint8_t)(x >> 16);
  ip.a[2] = (uint8_t)(x >> 8);
  ip.a[3] = (uint8_t)x;
  return ip;
}

static edge_iplimit *make(uint32_t conns, uint32_t rate, uint32_t burst, uint32_t slots) {
  edge_iplimit_cfg cfg = {.max_conns = conns, .handshake_rate = rate, .handshake_burst = burst, .slots = slots,
                          .seed = {0x0123456789abcdefull, 42, 0xfeedfacecafebeefull, 7}};
  edge_iplimit *t = NULL;
  CHECK_EQ_INT(edge_iplimit_new(&cfg, &t), 0);
  return t;
}

static void test_conns(void) {
  edge_iplimit *t = make(2, 0, 0, 1024);
  edge_ip a = v4(0x0a000001), b = v4(0x0a000002);
  CHECK_EQ_INT(edge_iplimit_open(t, &a, 0), 0);
  CHECK_EQ_INT(edge_iplimit_open(t, &a, 0), 0);
  CHECK_EQ_INT(edge_iplimit_open(t, &a, 0), EDGE_RL_ECONNS);
  CHECK_EQ_INT(edge_iplimit_open(t, &b, 0), 0); /* another address is not affected */
  CHECK_EQ_INT(edge_iplimit_conns(t, &a), 2);
  edge_iplimit_close(t, &a, 1);
  CHECK_EQ_INT(edge_iplimit_open(t, &a, 2), 0);
  edge_iplimit_close(t, &a, 3);
  edge_iplimit_close(t, &a, 3);
  edge_iplimit_close(t, &a, 3); /* one too many: no underflow */
  CHECK_EQ_INT(edge_iplimit_conns(t, &a), 0);
  edge_ip never = v4(0x0b000001);
  edge_iplimit_close(t, &never, 3);
  CHECK_EQ_INT(edge_iplimit_conns(t, &never), 0);
  /* IPv6 and IPv4 are different keys. */
  edge_ip six;
  CHECK(edge_ip_parse("::a00:1", 7, &six));
  CHECK_EQ_INT(edge_iplimit_open(t, &six, 4), 0);
  CHECK_EQ_INT(edge_iplimit_conns(t, &six), 1);
  CHECK_EQ_INT(edge_iplimit_conns(t, &a), 0);
  edge_ip bad = {0};
  CHECK_EQ_INT(edge_iplimit_open(t, &bad, 0), WSIO_EINVAL);
  edge_iplimit_free(t);
  /* max_conns 0: not limited, nothing stored. */
  t = make(0, 0, 0, 16);
  for (int i = 0; i < 1000; i++) CHECK_EQ_INT(edge_iplimit_open(t, &a, 0), 0);
  edge_iplimit_stats st;
  edge_iplimit_get_stats(t, &st);
  CHECK_EQ_INT(st.used, 0);
  edge_iplimit_free(t);
}

static void test_handshakes(void) {
  edge_iplimit *t = make(0, 2, 4, 1024);
  edge_ip a = v4(0xc0000201), b = v4(0xc0000202);
  for (int i = 0; i < 4; i++) CHECK_EQ_INT(edge_iplimit_handshake(t, &a, 100), 0);
  CHECK_EQ_INT(edge_iplimit_handshake(t, &a, 100), EDGE_RL_ERATE);
  CHECK_EQ_INT(edge_iplimit_handshake(t, &b, 100), 0);
  CHECK_EQ_INT(edge_iplimit_handshake(t, &a, 599), EDGE_RL_ERATE);
  CHECK_EQ_INT(edge_iplimit_handshake(t, &a, 600), 0); /* 2/s: one per 500 ms */
  CHECK_EQ_INT(edge_iplimit_handshake(t, &a, 600), EDGE_RL_ERATE);
  edge_iplimit_free(t);
}

static void test_bounded(void) {
  /* 16 slots (the minimum: two sets of 8). */
  edge_iplimit *t = make(1, 1, 1, 1);
  edge_iplimit_stats st;
  edge_iplimit_get_stats(t, &st);
  CHECK_EQ_INT(st.slots, 16);
  /* Addresses that keep a connection open can fill it; then EFULL, never growth. */
  int opened = 0, full = 0;
  for (uint32_t i = 0; i < 1000; i++) {
    edge_ip ip = v4(0x0a000000 + i);
    int rc = edge_iplimit_open(t, &ip, 0);
    opened += rc == 0;
    full += rc == EDGE_RL_EFULL;
  }
  CHECK_EQ_INT(opened, 16);
  CHECK_EQ_INT(full, 1000 - 16);
  edge_iplimit_get_stats(t, &st);
  CHECK_EQ_INT(st.used, 16);
  CHECK_EQ_INT(st.full, 1000 - 16);
  /* Every open connection is still counted (none was evicted). */
  int counted = 0;
  for (uint32_t i = 0; i < 1000; i++) {
    edge_ip ip = v4(0x0a000000 + i);
    counted += edge_iplimit_conns(t, &ip);
  }
  CHECK_EQ_INT(counted, 16);
  edge_iplimit_free(t);

  /* Handshakes only (no connections held): idle entries are reused silently once their
   * bucket is full again, busy ones by LRU (counted), and a new address never fails. */
  t = make(0, 1, 1, 16);
  for (uint32_t i = 0; i < 1000; i++) {
    edge_ip ip = v4(0x0b000000 + i);
    CHECK_EQ_INT(edge_iplimit_handshake(t, &ip, 0), 0);
  }
  edge_iplimit_get_stats(t, &st);
  CHECK_EQ_INT(st.used, 16);
  CHECK_EQ_INT(st.evicted_active, 1000 - 16);
  CHECK_EQ_INT(st.full, 0);
  /* A second later every bucket is full: reuse is lossless. */
  for (uint32_t i = 0; i < 100; i++) {
    edge_ip ip = v4(0x0c000000 + i);
    CHECK_EQ_INT(edge_iplimit_handshake(t, &ip, 5000 + i * 1000), 0);
  }
  edge_iplimit_get_stats(t, &st);
  CHECK(st.evicted_idle >= 84);
  /* The address most recently limited is still remembered while the table is quiet. */
  edge_ip last = v4(0x0c000000 + 99);
  CHECK_EQ_INT(edge_iplimit_handshake(t, &last, 5000 + 99 * 1000), EDGE_RL_ERATE);
  edge_iplimit_free(t);

  /* Mixed: entries with connections survive any churn of other addresses. */
  t = make(5, 10, 10, 64);
  edge_ip keep = v4(0x01020304);
  CHECK_EQ_INT(edge_iplimit_open(t, &keep, 0), 0);
  CHECK_EQ_INT(edge_iplimit_open(t, &keep, 0), 0);
  for (uint32_t i = 0; i < 5000; i++) {
    edge_ip ip = v4(0x0d000000 + i);
    edge_iplimit_handshake(t, &ip, i);
  }
  CHECK_EQ_INT(edge_iplimit_conns(t, &keep), 2);
  edge_iplimit_free(t);

  edge_iplimit_cfg big = {.slots = (1u << 24) + 1};
  edge_iplimit *none = (edge_iplimit *)1;
  CHECK_EQ_INT(edge_iplimit_new(&big, &none), WSIO_EINVAL);
  CHECK(strcmp(edge_rl_strerror(EDGE_RL_EFULL), "unknown error") != 0);
}

int main(void) {
  RUN(test_bucket);
  RUN(test_conns);
  RUN(test_handshakes);
  RUN(test_bounded);
  return test_report();
}
