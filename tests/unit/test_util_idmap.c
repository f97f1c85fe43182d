/* Unit tests of util/idmap.c: objects keyed by the id they carry (Engine.IO sessions by
 * sid, Socket.IO sockets by id), checked against a plain array through long random
 * churn, so that probing, replacement, backward-shift deletion, growth and shrinking
 * all meet collisions. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "util/idmap.h"
#include "wsio.h"

typedef struct {
  int tag;
  char id[21]; /* 20 characters, like a sid */
  int in;      /* the reference: in the table or not */
} obj;

enum { N = 4000 };
static obj objs[N];

static uint32_t rnd_state = 12345;
static uint32_t rnd(void) {
  rnd_state = rnd_state * 1103515245u + 12345u;
  return rnd_state >> 8;
}

/* Ids that differ only late, or in one character: the hash must use every byte. */
static void make_ids(void) {
  for (int i = 0; i < N; i++) {
    objs[i].tag = i;
    snprintf(objs[i].id, sizeof objs[i].id, "%s%08d", i % 2 ? "AAAAAAAAAAAA" : "BBBBBBBBBBBB", i);
    objs[i].in = 0;
  }
}

static void test_basic(void) {
  make_ids();
  id_map m;
  idmap_init(&m, offsetof(obj, id), 20);
  CHECK(idmap_get(&m, objs[0].id, 20) == NULL); /* empty */
  CHECK(idmap_del(&m, objs[0].id, 20) == NULL);
  for (int i = 0; i < N; i++) CHECK_EQ_INT(idmap_put(&m, &objs[i]), 0);
  CHECK_EQ_INT(idmap_size(&m), N);
  int bad = 0;
  for (int i = 0; i < N; i++) {
    char key[20];
    memcpy(key, objs[i].id, 20); /* found by the bytes, not the pointer */
    if (idmap_get(&m, key, 20) != &objs[i]) bad++;
  }
  CHECK_EQ_INT(bad, 0);
  /* Another length is never found, even as a prefix. */
  CHECK(idmap_get(&m, objs[5].id, 19) == NULL);
  CHECK(idmap_get(&m, objs[5].id, 21) == NULL);
  CHECK(idmap_del(&m, objs[5].id, 19) == NULL);
  CHECK(idmap_get(&m, "not-an-id-of-twenty!", 20) == NULL);
  /* The same key again replaces the object. */
  obj twin = objs[7];
  CHECK_EQ_INT(idmap_put(&m, &twin), 0);
  CHECK_EQ_INT(idmap_size(&m), N);
  CHECK(idmap_get(&m, objs[7].id, 20) == &twin);
  CHECK(idmap_put(&m, &objs[7]) == 0 && idmap_get(&m, objs[7].id, 20) == &objs[7]);
  /* Iteration visits each object once. */
  static unsigned char seen[N];
  memset(seen, 0, sizeof seen);
  uint32_t it = 0;
  void *v;
  size_t count = 0;
  while (idmap_next(&m, &it, &v)) {
    seen[((obj *)v)->tag]++;
    count++;
  }
  CHECK_EQ_INT(count, N);
  bad = 0;
  for (int i = 0; i < N; i++) bad += seen[i] != 1;
  CHECK_EQ_INT(bad, 0);
  /* Emptied, it gives its slots back, and stays usable. */
  for (int i = 0; i < N; i++)
    if (idmap_del(&m, objs[i].id, 20) != &objs[i]) bad++;
  CHECK_EQ_INT(bad, 0);
  CHECK_EQ_INT(idmap_size(&m), 0);
  CHECK(m.slots == NULL && m.cap == 0);
  CHECK_EQ_INT(idmap_put(&m, &objs[1]), 0);
  CHECK(idmap_get(&m, objs[1].id, 20) == &objs[1]);
  idmap_free(&m);
  CHECK(idmap_get(&m, objs[1].id, 20) == NULL);
}

/* 200,000 random puts and deletes against the reference: after each step the object
 * touched is found or not as it should be, and every 1,000 steps all of them are. */
static void test_churn(void) {
  make_ids();
  id_map m;
  idmap_init(&m, offsetof(obj, id), 20);
  size_t in = 0;
  int bad = 0;
  uint32_t peak_cap = 0;
  for (int step = 0; step < 200000; step++) {
    /* Phases that fill up and drain, so the table grows and shrinks. */
    int fill = (step / 20000) % 2 == 0;
    obj *o = &objs[rnd() % N];
    if ((rnd() % 4 != 0) == fill) {
      if (idmap_put(&m, o) != 0) bad++;
      if (!o->in) in++;
      o->in = 1;
    } else {
      void *r = idmap_del(&m, o->id, 20);
      if (r != (o->in ? o : NULL)) bad++;
      if (o->in) in--;
      o->in = 0;
    }
    if (idmap_get(&m, o->id, 20) != (o->in ? o : NULL)) bad++;
    if (idmap_size(&m) != in) bad++;
    if (m.cap > peak_cap) peak_cap = m.cap;
    if (m.cap && idmap_size(&m) * 4 > (size_t)m.cap * 3) bad++; /* load at most 3/4 */
    if (step % 1000 == 999)
      for (int i = 0; i < N; i++)
        if (idmap_get(&m, objs[i].id, 20) != (objs[i].in ? &objs[i] : NULL)) bad++;
  }
  CHECK_EQ_INT(bad, 0);
  CHECK(peak_cap >= 4096); /* it grew past 3,072 objects */
  idmap_free(&m);
}

/* A table that grew for a crowd shrinks when most of it leaves. */
static void test_shrink(void) {
  make_ids();
  id_map m;
  idmap_init(&m, offsetof(obj, id), 20);
  for (int i = 0; i < N; i++) idmap_put(&m, &objs[i]);
  uint32_t big = m.cap;
  for (int i = 0; i < N - 10; i++) idmap_del(&m, objs[i].id, 20);
  CHECK(m.cap < big / 8);
  int bad = 0;
  for (int i = N - 10; i < N; i++) bad += idmap_get(&m, objs[i].id, 20) != &objs[i];
  CHECK_EQ_INT(bad, 0);
  idmap_free(&m);
}

int main(void) {
  RUN(test_basic);
  RUN(test_churn);
  RUN(test_shrink);
  return test_report();
}
