/* Unit tests of the Socket.IO server's pure-ish parts: the string map (util/map.c),
 * the room index and selections (sio/rooms.c).
 * Sockets and namespaces are built by hand: these files need no Engine.IO session. */
#include <stdint.h>

#include "sio/internal.h"
#include "test.h"
#include "util/map.h"

/* ---- map ------------------------------------------------------------------------- */

static void test_map_basic(void) {
  str_map m = STR_MAP_INIT;
  static char keys[1000][16];
  for (int i = 0; i < 1000; i++) {
    snprintf(keys[i], sizeof(keys[i]), "key-%d", i);
    CHECK_EQ_INT(map_put(&m, keys[i], strlen(keys[i]), (void *)(intptr_t)(i + 1)), 0);
  }
  CHECK_EQ_INT(map_size(&m), 1000);
  int ok = 1;
  for (int i = 0; i < 1000; i++) ok &= map_get(&m, keys[i], strlen(keys[i])) == (void *)(intptr_t)(i + 1);
  CHECK(ok);
  CHECK(map_get(&m, "key-1000", 8) == NULL);
  CHECK(map_get(&m, "key-1", 4) == NULL); /* a prefix is another key */
  /* replace keeps the count */
  CHECK_EQ_INT(map_put(&m, keys[5], strlen(keys[5]), (void *)7), 0);
  CHECK_EQ_INT(map_size(&m), 1000);
  CHECK(map_get(&m, "key-5", 5) == (void *)7);
  CHECK_EQ_INT(map_put(&m, keys[5], strlen(keys[5]), (void *)6), 0);
  /* delete every other key; the rest stay reachable (backward-shift deletion) */
  for (int i = 0; i < 1000; i += 2) CHECK(map_del(&m, keys[i], strlen(keys[i])) != NULL);
  CHECK(map_del(&m, keys[0], strlen(keys[0])) == NULL);
  CHECK_EQ_INT(map_size(&m), 500);
  ok = 1;
  for (int i = 1; i < 1000; i += 2) ok &= map_get(&m, keys[i], strlen(keys[i])) == (void *)(intptr_t)(i + 1);
  for (int i = 0; i < 1000; i += 2) ok &= map_get(&m, keys[i], strlen(keys[i])) == NULL;
  CHECK(ok);
  /* iteration sees each remaining entry once */
  uint32_t it = 0;
  void *v;
  const char *k;
  size_t kl, seen = 0;
  while (map_next(&m, &it, &k, &kl, &v)) seen++;
  CHECK_EQ_INT(seen, 500);
  for (int i = 1; i < 1000; i += 2) map_del(&m, keys[i], strlen(keys[i]));
  CHECK_EQ_INT(map_size(&m), 0);
  CHECK(m.slots == NULL); /* an emptied map gives its memory back */
  map_free(&m);
}

static void test_map_binary_keys(void) {
  str_map m = STR_MAP_INIT;
  static const char a[] = {'x', 0, 'y'}, b[] = {'x', 0, 'z'};
  CHECK_EQ_INT(map_put(&m, a, 3, (void *)1), 0);
  CHECK_EQ_INT(map_put(&m, b, 3, (void *)2), 0);
  CHECK(map_get(&m, a, 3) == (void *)1);
  CHECK(map_get(&m, b, 3) == (void *)2);
  CHECK(map_get(&m, "x", 1) == NULL);
  CHECK(map_get(&m, "", 0) == NULL);
  CHECK_EQ_INT(map_put(&m, "", 0, (void *)3), 0);
  CHECK(map_get(&m, "", 0) == (void *)3);
  map_free(&m);
}

/* Keys of one length whose hashes collide are told apart by their bytes alone (the
 * word-at-a-time compare, key_eq): for every length around the word size, a pair of
 * distinct colliding keys (found by the birthday bound among 300,000: about ten pairs
 * are expected) are two entries. */
static int by_hash(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Distinct for distinct i: the same bytes but for the last four, which hold i times an
 * odd number (a bijection, any byte values), so colliding keys differ only there: for
 * lengths 12-15 and 20-23 only past the last whole word of the compare, where it looks
 * at the overlapping last word (breaking that compare fails this test; keys that differ
 * in their last three bytes only had no collision among 300,000, so the second half of
 * a 5-7 byte key is not reached this way). */
static void make_key(char *k, size_t len, uint32_t i) {
  uint32_t x = i * 2654435761u;
  memset(k, 'k', len);
  for (size_t j = 0; j < 4; j++) k[len - 1 - j] = (char)(x >> (8 * j));
}

static void test_map_collisions(void) {
  enum { KEYS = 300000 };
  uint64_t *hv = malloc(KEYS * sizeof *hv);
  CHECK(hv != NULL);
  if (!hv) return;
  int lengths = 0;
  for (size_t len = 5; len <= 24; len++) {
    char k[32];
    for (uint32_t i = 0; i < KEYS; i++) {
      make_key(k, len, i);
      hv[i] = (uint64_t)map_hash(k, len) << 32 | i;
    }
    qsort(hv, KEYS, sizeof *hv, by_hash);
    uint32_t a = 0, b = 0;
    for (uint32_t i = 1; i < KEYS && a == b; i++) {
      if (hv[i] >> 32 != hv[i - 1] >> 32) continue;
      a = (uint32_t)hv[i - 1], b = (uint32_t)hv[i];
    }
    if (a == b) continue;
    char ka[32], kb[32];
    make_key(ka, len, a);
    make_key(kb, len, b);
    if (memcmp(ka, kb, len) == 0) continue; /* the same key twice: no test */
    lengths++;
    test_current = ka;
    CHECK_EQ_INT(map_hash(ka, len), map_hash(kb, len));
    str_map m = STR_MAP_INIT;
    CHECK_EQ_INT(map_put(&m, ka, len, (void *)1), 0);
    CHECK(map_get(&m, kb, len) == NULL);
    CHECK_EQ_INT(map_put(&m, kb, len, (void *)2), 0);
    CHECK_EQ_INT(map_size(&m), 2);
    CHECK(map_get(&m, ka, len) == (void *)1);
    CHECK(map_get(&m, kb, len) == (void *)2);
    CHECK(map_del(&m, ka, len) == (void *)1);
    CHECK(map_get(&m, kb, len) == (void *)2);
    map_free(&m);
  }
  test_current = "lengths with a collision";
  CHECK(lengths >= 15); /* else the test tests nothing */
  free(hv);
}

/* ---- rooms and selections -------------------------------------------------------- */

static wsio_sio io;
static wsio_sio_nsp nsp;
static sio_client client;

static wsio_sio_socket *sock(const char *id) {
  wsio_sio_socket *s = calloc(1, sizeof(*s));
  s->nsp = &nsp;
  s->client = &client;
  snprintf(s->id, sizeof(s->id), "%-20s", id); /* ids are 20 characters */
  for (char *p = s->id; *p; p++)
    if (*p == ' ') *p = '_';
  s->state = SOCK_CONNECTED;
  if (!nsp.sockets.key_len) idmap_init(&nsp.sockets, offsetof(wsio_sio_socket, id), SIO_ID_LEN);
  idmap_put(&nsp.sockets, s);
  return s;
}

static void unsock(wsio_sio_socket *s) {
  sio_room_leave_all(s);
  idmap_del(&nsp.sockets, s->id, SIO_ID_LEN);
  free(s);
}

static size_t room_size(const char *name) {
  sio_room *r = map_get(&nsp.rooms, name, strlen(name));
  return r ? r->n : 0;
}

/* The selection as a bit set over socks[]. */
static unsigned selected(const wsio_sio_target *t, wsio_sio_socket **socks, int n) {
  sio_selection sel;
  unsigned bits = 0;
  CHECK_EQ_INT(sio_select(t, &sel), 0);
  for (size_t i = 0; i < sel.n; i++) {
    int found = 0;
    for (int j = 0; j < n; j++) {
      if (sel.v[i] == socks[j]) {
        CHECK(!(bits & (1u << j))); /* each socket at most once */
        bits |= 1u << j;
        found = 1;
      }
    }
    CHECK(found);
  }
  sio_selection_free(&sel);
  return bits;
}

static void test_rooms_join_leave(void) {
  nsp.io = &io;
  wsio_sio_socket *a = sock("a"), *b = sock("b"), *c = sock("c");
  CHECK_EQ_INT(sio_room_join(a, "r1", 2), 0);
  CHECK_EQ_INT(sio_room_join(a, "r1", 2), 0); /* idempotent */
  CHECK_EQ_INT(sio_room_join(b, "r1", 2), 0);
  CHECK_EQ_INT(sio_room_join(c, "r1", 2), 0);
  CHECK_EQ_INT(sio_room_join(a, "r2", 2), 0);
  CHECK_EQ_INT(sio_room_join(b, "r3", 2), 0);
  CHECK_EQ_INT(room_size("r1"), 3);
  CHECK_EQ_INT(a->nrooms, 2);
  CHECK_EQ_INT(map_size(&nsp.rooms), 3);
  /* the own id room is implicit: no object, no entry in s->rooms */
  CHECK_EQ_INT(sio_room_join(a, a->id, SIO_ID_LEN), 0);
  CHECK_EQ_INT(a->nrooms, 2);
  CHECK(sio_room_has(a, a->id, SIO_ID_LEN));
  CHECK(!sio_room_has(a, b->id, SIO_ID_LEN));
  CHECK(sio_room_has(a, "r2", 2));
  CHECK(!sio_room_has(b, "r2", 2));
  /* leaving from the middle keeps both back-indexes right */
  CHECK_EQ_INT(sio_room_leave(a, "r1", 2), 1);
  CHECK_EQ_INT(sio_room_leave(a, "r1", 2), 0);
  CHECK_EQ_INT(room_size("r1"), 2);
  sio_room *r1 = map_get(&nsp.rooms, "r1", 2);
  int ok = 1;
  for (uint32_t i = 0; i < r1->n; i++) {
    wsio_sio_socket *s = r1->m[i].s;
    ok &= s->rooms[r1->m[i].slot].r == r1 && s->rooms[r1->m[i].slot].idx == i;
  }
  CHECK(ok);
  CHECK(sio_room_has(a, "r2", 2));
  /* an emptied room is deleted */
  CHECK_EQ_INT(sio_room_leave(a, "r2", 2), 1);
  CHECK(map_get(&nsp.rooms, "r2", 2) == NULL);
  sio_room_leave_all(b);
  CHECK_EQ_INT(b->nrooms, 0);
  CHECK(map_get(&nsp.rooms, "r3", 2) == NULL);
  CHECK_EQ_INT(room_size("r1"), 1);
  unsock(a);
  unsock(b);
  unsock(c);
  CHECK_EQ_INT(map_size(&nsp.rooms), 0);
  CHECK_EQ_INT(idmap_size(&nsp.sockets), 0);
}

static void test_rooms_many(void) {
  enum { N = 200 };
  wsio_sio_socket *s[N];
  char name[16];
  for (int i = 0; i < N; i++) {
    snprintf(name, sizeof(name), "s%d", i);
    s[i] = sock(name);
    for (int r = 0; r < 10; r++) {
      snprintf(name, sizeof(name), "room%d", (i + r) % 17);
      sio_room_join(s[i], name, strlen(name));
    }
  }
  /* leave in a scattered order, checking the totals */
  for (int i = 0; i < N; i += 3) {
    for (int r = 0; r < 10; r += 2) {
      snprintf(name, sizeof(name), "room%d", (i + r) % 17);
      CHECK_EQ_INT(sio_room_leave(s[i], name, strlen(name)), 1);
    }
  }
  size_t total = 0;
  uint32_t it = 0;
  void *v;
  int ok = 1;
  while (map_next(&nsp.rooms, &it, NULL, NULL, &v)) {
    sio_room *r = v;
    total += r->n;
    for (uint32_t i = 0; i < r->n; i++) ok &= r->m[i].s->rooms[r->m[i].slot].r == r;
  }
  CHECK(ok);
  size_t expect = 0;
  for (int i = 0; i < N; i++) expect += s[i]->nrooms;
  CHECK_EQ_INT(total, expect);
  for (int i = 0; i < N; i++) unsock(s[i]);
  CHECK_EQ_INT(map_size(&nsp.rooms), 0);
}

static void test_select(void) {
  wsio_sio_socket *v[5];
  v[0] = sock("a");
  v[1] = sock("b");
  v[2] = sock("c");
  v[3] = sock("d");
  v[4] = sock("e");
  sio_room_join(v[0], "x", 1);
  sio_room_join(v[1], "x", 1);
  sio_room_join(v[1], "y", 1);
  sio_room_join(v[2], "y", 1);
  sio_room_join(v[3], "z", 1);
  /* d joined a room named after e's id: to(e.id) reaches both */
  sio_room_join(v[3], v[4]->id, SIO_ID_LEN);

  wsio_sio_target t = {.nsp = &nsp};
  CHECK_EQ_INT(selected(&t, v, 5), 0x1f); /* everyone */
  const char *xy[] = {"x", "y"};
  t.rooms = xy;
  t.nrooms = 2;
  CHECK_EQ_INT(selected(&t, v, 5), 0x07); /* union, b once */
  const char *ex[] = {"y"};
  t.except = ex;
  t.nexcept = 1;
  CHECK_EQ_INT(selected(&t, v, 5), 0x01); /* minus y */
  t.except = NULL;
  t.nexcept = 0;
  t.except_socket = v[0];
  CHECK_EQ_INT(selected(&t, v, 5), 0x06); /* socket.to(x, y) from a */
  const char *ids[] = {v[4]->id, "nosuchroom", v[2]->id};
  wsio_sio_target t2 = {.nsp = &nsp, .rooms = ids, .nrooms = 3};
  CHECK_EQ_INT(selected(&t2, v, 5), 0x1c); /* c by id, e by id, d through the room */
  wsio_sio_target t3 = {.nsp = &nsp, .except = ids, .nexcept = 1};
  CHECK_EQ_INT(selected(&t3, v, 5), 0x07); /* all but e's id room (e and d) */
  /* sockets not connected (middleware running, or gone) are never selected */
  v[1]->state = SOCK_PRE;
  t.except_socket = NULL;
  CHECK_EQ_INT(selected(&t, v, 5), 0x05);
  v[1]->state = SOCK_CONNECTED;
  wsio_sio_target none = {0};
  sio_selection sel;
  CHECK_EQ_INT(sio_select(&none, &sel), WSIO_EINVAL);
  sio_selection_free(&sel);
  for (int i = 0; i < 5; i++) unsock(v[i]);
}

static void test_select_large(void) {
  enum { N = 100 }; /* beyond the selection's inline array */
  wsio_sio_socket *s[N];
  char name[16];
  for (int i = 0; i < N; i++) {
    snprintf(name, sizeof(name), "s%d", i);
    s[i] = sock(name);
    if (i % 2) sio_room_join(s[i], "odd", 3);
  }
  sio_selection sel;
  wsio_sio_target t = {.nsp = &nsp};
  CHECK_EQ_INT(sio_select(&t, &sel), 0);
  CHECK_EQ_INT(sel.n, N);
  sio_selection_free(&sel);
  const char *odd[] = {"odd"};
  t.except = odd;
  t.nexcept = 1;
  CHECK_EQ_INT(sio_select(&t, &sel), 0);
  CHECK_EQ_INT(sel.n, N / 2);
  sio_selection_free(&sel);
  /* Room selections (rooms.c's collect_room reserves a room's size at once, past the
   * inline array, then grows it for the next room): each member once, in member
   * order, unconnected ones skipped. */
  for (int i = 0; i < N; i++) sio_room_join(s[i], "all", 3);
  s[3]->state = SOCK_PRE;
  const char *rooms[] = {"odd", "all", "odd"};
  wsio_sio_target r = {.nsp = &nsp, .rooms = rooms, .nrooms = 1};
  CHECK_EQ_INT(sio_select(&r, &sel), 0);
  CHECK_EQ_INT(sel.n, N / 2 - 1);
  for (size_t i = 0; i < sel.n; i++) CHECK(sel.v[i] == s[i < 1 ? 1 : 2 * i + 3]);
  sio_selection_free(&sel);
  r.nrooms = 3;
  CHECK_EQ_INT(sio_select(&r, &sel), 0);
  CHECK_EQ_INT(sel.n, N - 1);
  for (size_t i = N / 2 - 1; i < sel.n; i++) CHECK(sel.v[i]->mark == io.epoch && sel.v[i] != s[3]);
  unsigned seen[N] = {0};
  for (size_t i = 0; i < sel.n; i++)
    for (int j = 0; j < N; j++) seen[j] += sel.v[i] == s[j];
  for (int j = 0; j < N; j++) CHECK_EQ_INT(seen[j], j == 3 ? 0 : 1);
  sio_selection_free(&sel);
  s[3]->state = SOCK_CONNECTED;
  for (int i = 0; i < N; i++) unsock(s[i]);
}

int main(void) {
  RUN(test_map_basic);
  RUN(test_map_binary_keys);
  RUN(test_map_collisions);
  RUN(test_rooms_join_leave);
  RUN(test_rooms_many);
  RUN(test_select);
  RUN(test_select_large);
  idmap_free(&nsp.sockets);
  map_free(&nsp.rooms);
  return test_report();
}
