/* Unit tests of the Socket.IO server's encoding and recovery bookkeeping: EVENT
 * encoding and argument checks (sio/emit.c), the top-level JSON key lookup, offsets,
 * the catch-up log and its room selection, and sessions (sio/recovery.c). No Engine.IO
 * session is involved: namespaces and sockets are built by hand. */
#include <stdint.h>

#include "sio/internal.h"
#include "test.h"

static wsio_sio io;
static wsio_sio_nsp root, chat;

static void setup(void) {
  wsio_sio_options_init(&io.o);
  io.o.recovery = 1;
  io.loop = loop_create();
  root.io = chat.io = &io;
  root.name = "/";
  root.name_len = 1;
  chat.name = "/chat";
  chat.name_len = 5;
}

/* ---- encoding ---------------------------------------------------------------- */

static const char *encode(const wsio_sio_nsp *nsp, const char *ev, const char *json, size_t nbins, int64_t id,
                          const char *offset) {
  static sbuf b;
  b.n = 0;
  const char *j = json;
  size_t len = json ? strlen(json) : 0;
  CHECK_EQ_INT(sio_check_emit(NULL, ev, &j, &len, (const wsio_span *)"", nbins), 0);
  CHECK_EQ_INT(sio_encode_event(&b, nsp, ev, j, len, nbins, id, offset), 0);
  sbuf_put(&b, "", 1);
  return b.p;
}

static void test_encode_event(void) {
  CHECK_STR(encode(&root, "hello", "[1,\"two\"]", 0, -1, NULL), "2[\"hello\",1,\"two\"]");
  CHECK_STR(encode(&root, "hello", NULL, 0, -1, NULL), "2[\"hello\"]");
  CHECK_STR(encode(&root, "hello", "", 0, -1, NULL), "2[\"hello\"]");
  CHECK_STR(encode(&root, "hello", " [ ] ", 0, -1, NULL), "2[\"hello\"]");
  CHECK_STR(encode(&root, "hello", " [ {\"a\":[1]} ] ", 0, -1, NULL), "2[\"hello\",{\"a\":[1]}]");
  CHECK_STR(encode(&chat, "q", "[1]", 0, 12, NULL), "2/chat,12[\"q\",1]");
  CHECK_STR(encode(&root, "a\"b\n", "[]", 0, -1, NULL), "2[\"a\\\"b\\n\"]");
  CHECK_STR(encode(&root, "ev", "[1]", 0, -1, "2s"), "2[\"ev\",1,\"2s\"]");
  CHECK_STR(encode(&root, "ev", "[]", 0, -1, "2s"), "2[\"ev\",\"2s\"]");
  const char *bin = "[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]";
  CHECK_STR(encode(&chat, "b", bin, 2, 3, NULL),
            "52-/chat,3[\"b\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]");
}

static void test_check_emit(void) {
  static const wsio_span bins[2] = {{(const uint8_t *)"x", 1}, {(const uint8_t *)"y", 1}};
  const char *j;
  size_t len;
  static const char *const reserved[] = {"connect", "connect_error", "disconnect", "disconnecting",
                                         "newListener", "removeListener"};
  for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
    j = "[]";
    len = 2;
    CHECK_EQ_INT(sio_check_emit(NULL, reserved[i], &j, &len, NULL, 0), WSIO_EINVAL);
  }
  static const char *const bad[] = {"{}", "1", "\"s\"", "[1,", "[1]]", "nul"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    j = bad[i];
    len = strlen(bad[i]);
    CHECK_EQ_INT(sio_check_emit(NULL, "ev", &j, &len, NULL, 0), WSIO_EINVAL);
  }
  j = NULL;
  len = 0;
  CHECK_EQ_INT(sio_check_emit(NULL, NULL, &j, &len, NULL, 0), WSIO_EINVAL);
  /* placeholders must name an attachment */
  j = "[{\"_placeholder\":true,\"num\":2}]";
  len = strlen(j);
  CHECK_EQ_INT(sio_check_emit(NULL, "ev", &j, &len, bins, 2), WSIO_EINVAL);
  j = "[{\"_placeholder\":true,\"num\":1}]";
  len = strlen(j);
  CHECK_EQ_INT(sio_check_emit(NULL, "ev", &j, &len, bins, 2), 0);
  CHECK_EQ_INT(sio_check_emit(NULL, "ev", &j, &len, NULL, 2), WSIO_EINVAL);
  /* "message" and other names are fine; len 0 means strlen */
  j = "[1]";
  len = 0;
  CHECK_EQ_INT(sio_check_emit(NULL, "message", &j, &len, NULL, 0), 0);
  CHECK_EQ_INT(len, 3);
}

/* The args of the running event callback (io.cb_args, already validated when their
 * packet was decoded) are not validated again; any other bytes still are. The marker
 * here is deliberately invalid JSON so that a skipped validation shows. */
static void test_check_emit_known_args(void) {
  static const char args[] = "[1,"; /* stands for bytes validated earlier */
  const char *j = args;
  size_t len = 3;
  CHECK_EQ_INT(sio_check_emit(&io, "ev", &j, &len, NULL, 0), WSIO_EINVAL); /* none running */
  io.cb_args = args;
  io.cb_args_len = 3;
  CHECK_EQ_INT(sio_check_emit(&io, "ev", &j, &len, NULL, 0), 0);
  CHECK_EQ_INT(sio_check_emit(NULL, "ev", &j, &len, NULL, 0), WSIO_EINVAL); /* no server known */
  len = 2; /* a prefix of them: checked */
  CHECK_EQ_INT(sio_check_emit(&io, "ev", &j, &len, NULL, 0), WSIO_EINVAL);
  char copy[4];
  memcpy(copy, args, 4);
  j = copy; /* equal bytes elsewhere: checked */
  len = 3;
  CHECK_EQ_INT(sio_check_emit(&io, "ev", &j, &len, NULL, 0), WSIO_EINVAL);
  /* Reserved names and placeholders are still checked on known args. */
  static const char ph[] = "[{\"_placeholder\":true,\"num\":0}]";
  io.cb_args = ph;
  io.cb_args_len = strlen(ph);
  j = args;
  len = 3;
  CHECK_EQ_INT(sio_check_emit(&io, "ev", &j, &len, NULL, 0), WSIO_EINVAL);
  j = ph;
  len = strlen(ph);
  CHECK_EQ_INT(sio_check_emit(&io, "connect", &j, &len, NULL, 0), WSIO_EINVAL);
  CHECK_EQ_INT(sio_check_emit(&io, "ev", &j, &len, NULL, 0), WSIO_EINVAL);
  io.cb_args = NULL;
  io.cb_args_len = 0;
}

/* Emits and acks encode into a stack buffer (sbuf_on_stack): what fits stays there and
 * is never freed; a bigger packet moves to the heap with what was already written. */
static void test_sbuf_on_stack(void) {
  char mem[16];
  sbuf b;
  sbuf_on_stack(&b, mem, sizeof(mem));
  CHECK_EQ_INT(sbuf_put(&b, "0123456789", 10), 0);
  CHECK(b.p == mem);
  CHECK_EQ_INT(sbuf_put(&b, "abcdefghij", 10), 0); /* 20 > 16: moves */
  CHECK(b.p != mem);
  CHECK(b.n == 20 && memcmp(b.p, "0123456789abcdefghij", 20) == 0);
  CHECK_EQ_INT(sbuf_put(&b, "k", 1), 0);
  sbuf_free(&b); /* frees the heap copy only (ASan: no free of the stack) */
  sbuf_on_stack(&b, mem, sizeof(mem));
  CHECK_EQ_INT(sbuf_put(&b, "x", 1), 0);
  sbuf_free(&b); /* never left the stack: nothing freed */
  CHECK(b.p == NULL && b.n == 0);
  /* A whole event bigger than the buffer, escaped name included. */
  char big[600];
  memset(big, 'z', sizeof(big));
  big[0] = '[';
  big[1] = '"';
  big[sizeof(big) - 2] = '"';
  big[sizeof(big) - 1] = ']';
  sbuf_on_stack(&b, mem, sizeof(mem));
  CHECK_EQ_INT(sio_encode_event(&b, &root, "e\"v", big, sizeof(big), 0, -1, NULL), 0);
  CHECK(b.n == 2 + 6 + 1 + sizeof(big) - 2 + 1); /* "2[", the quoted name, ",", big inside its brackets, "]" */
  CHECK(memcmp(b.p, "2[\"e\\\"v\",\"zz", 12) == 0 && b.p[b.n - 1] == ']');
  sbuf_free(&b);
}

/* ---- JSON key lookup ----------------------------------------------------------- */

static void test_object_get(void) {
  const char *obj = " { \"a\" : 1 , \"pid\":\"x\\u0079z\", \"o\":{\"pid\":2}, \"offset\" :[1,{}] } ";
  size_t vl;
  const char *v = sio_json_object_get(obj, strlen(obj), "pid", &vl);
  CHECK(v && vl == 10 && memcmp(v, "\"x\\u0079z\"", 10) == 0);
  v = sio_json_object_get(obj, strlen(obj), "offset", &vl);
  CHECK(v && vl == 6 && memcmp(v, "[1,{}]", 6) == 0);
  v = sio_json_object_get(obj, strlen(obj), "a", &vl);
  CHECK(v && vl == 1 && *v == '1');
  CHECK(sio_json_object_get(obj, strlen(obj), "o.pid", &vl) == NULL);
  CHECK(sio_json_object_get(obj, strlen(obj), "missing", &vl) == NULL);
  CHECK(sio_json_object_get("[]", 2, "a", &vl) == NULL);
  CHECK(sio_json_object_get("{}", 2, "a", &vl) == NULL);
  CHECK(sio_json_object_get("{\"a\"}", 5, "a", &vl) == NULL);
}

/* ---- offsets, the log, sessions ------------------------------------------------ */

static void test_offsets(void) {
  char a[24], b[24];
  wsio_sio tmp = {0};
  uint64_t na = sio_log_next_offset(&tmp, a), nb = sio_log_next_offset(&tmp, b);
  CHECK(nb == na + 1);
  CHECK(strcmp(a, b) != 0);
  tmp.next_offset = 35;
  sio_log_next_offset(&tmp, a);
  CHECK_STR(a, "10"); /* base36 */
}

static wsio_sio_socket *sock(wsio_sio_nsp *nsp, const char *id) {
  wsio_sio_socket *s = calloc(1, sizeof(*s));
  s->nsp = nsp;
  snprintf(s->id, sizeof(s->id), "%s", id);
  snprintf(sio_socket_extra(s)->pid, SIO_ID_LEN + 1, "P%019d", (int)strlen(id));
  s->state = SOCK_CONNECTED;
  return s;
}

static void unsock(wsio_sio_socket *s) {
  sio_room_leave_all(s);
  if (s->x) free(s->x->data);
  free(s->x);
  free(s);
}

static void test_log_and_sessions(void) {
  const char *id = "AAAAAAAAAAAAAAAAAAAA";
  wsio_sio_socket *s = sock(&root, id);
  sio_room_join(s, "r1", 2);
  sio_room_join(s, "r2", 2);
  wsio_sio_socket_set_data(s, "{\"u\":1}", 0);
  /* an offset the client saw */
  char off[24], auth[128];
  const char *r1[] = {"r1"}, *r3[] = {"r3"};
  wsio_sio_target all = {.nsp = &root};
  uint64_t seen = sio_log_next_offset(&io, off);
  CHECK_EQ_INT(sio_log_append(&root, seen, &all, "2[\"x\"]", 6, NULL, 0), 0);
  /* what happened while it was away */
  wsio_sio_target to_r1 = {.nsp = &root, .rooms = r1, .nrooms = 1};
  wsio_sio_target to_r3 = {.nsp = &root, .rooms = r3, .nrooms = 1};
  wsio_sio_target not_r1 = {.nsp = &root, .except = r1, .nexcept = 1};
  wsio_sio_target broadcast = {.nsp = &root, .except_socket = s};
  char o[24];
  CHECK_EQ_INT(sio_log_append(&root, sio_log_next_offset(&io, o), &to_r1, "a", 1, NULL, 0), 0);
  CHECK_EQ_INT(sio_log_append(&root, sio_log_next_offset(&io, o), &to_r3, "b", 1, NULL, 0), 0);
  CHECK_EQ_INT(sio_log_append(&root, sio_log_next_offset(&io, o), &not_r1, "c", 1, NULL, 0), 0);
  CHECK_EQ_INT(sio_log_append(&root, sio_log_next_offset(&io, o), &broadcast, "d", 1, NULL, 0), 0);

  sio_session_persist(s);
  char pid[SIO_ID_LEN + 1];
  memcpy(pid, sio_socket_pid(s), sizeof(pid));
  unsock(s);

  sio_restore r;
  snprintf(auth, sizeof(auth), "{\"pid\":\"%s\",\"offset\":\"%s\"}", pid, off);
  CHECK_EQ_INT(sio_session_find(&chat, auth, strlen(auth), &r), -1); /* another namespace */
  snprintf(auth, sizeof(auth), "{\"pid\":\"%s\",\"offset\":\"zzzz\"}", pid);
  CHECK_EQ_INT(sio_session_find(&root, auth, strlen(auth), &r), -1); /* offset not logged */
  snprintf(auth, sizeof(auth), "{\"pid\":\"%s\"}", pid);
  CHECK_EQ_INT(sio_session_find(&root, auth, strlen(auth), &r), -1); /* no offset */
  snprintf(auth, sizeof(auth), "{\"x\":[1],\"offset\":\"%s\",\"pid\":\"%s\"}", off, pid);
  CHECK_EQ_INT(sio_session_find(&root, auth, strlen(auth), &r), 0);

  wsio_sio_socket *s2 = sock(&root, "BBBBBBBBBBBBBBBBBBBB");
  CHECK_EQ_INT(sio_session_apply(s2, &r), 0);
  CHECK_STR(s2->id, id);
  CHECK_STR(sio_socket_pid(s2), pid);
  CHECK(s2->recovered);
  CHECK(sio_room_has(s2, "r1", 2) && sio_room_has(s2, "r2", 2));
  size_t dl;
  const char *data = wsio_sio_socket_data(s2, &dl);
  CHECK(dl == 7 && memcmp(data, "{\"u\":1}", 7) == 0);
  /* the session is used up */
  CHECK_EQ_INT(sio_session_find(&root, auth, strlen(auth), &r), -1);
  CHECK(io.sess_head == NULL);
  unsock(s2);
}

static void test_log_bound(void) {
  io.o.recovery_max_packets = 3;
  wsio_sio_target all = {.nsp = &chat};
  char o[24];
  uint64_t first = sio_log_next_offset(&io, o);
  CHECK_EQ_INT(sio_log_append(&chat, first, &all, "1", 1, NULL, 0), 0);
  for (int i = 0; i < 5; i++) CHECK_EQ_INT(sio_log_append(&chat, sio_log_next_offset(&io, o), &all, "n", 1, NULL, 0), 0);
  /* the oldest entries went: a session with the first offset cannot recover */
  wsio_sio_socket *s = sock(&chat, "CCCCCCCCCCCCCCCCCCCC");
  sio_session_persist(s);
  char auth[128], first_off[24];
  wsio_sio tmp = {0};
  tmp.next_offset = first - 1;
  sio_log_next_offset(&tmp, first_off);
  snprintf(auth, sizeof(auth), "{\"pid\":\"%s\",\"offset\":\"%s\"}", sio_socket_pid(s), first_off);
  sio_restore r;
  CHECK_EQ_INT(sio_session_find(&chat, auth, strlen(auth), &r), -1);
  snprintf(auth, sizeof(auth), "{\"pid\":\"%s\",\"offset\":\"%s\"}", sio_socket_pid(s), o);
  CHECK_EQ_INT(sio_session_find(&chat, auth, strlen(auth), &r), 0);
  unsock(s);
  sio_recovery_free(&io);
}

int main(void) {
  setup();
  RUN(test_encode_event);
  RUN(test_check_emit);
  RUN(test_check_emit_known_args);
  RUN(test_sbuf_on_stack);
  RUN(test_object_get);
  RUN(test_offsets);
  RUN(test_log_and_sessions);
  RUN(test_log_bound);
  sio_log_free(root.log);
  sio_log_free(chat.log);
  map_free(&root.rooms);
  map_free(&chat.rooms);
  map_free(&io.sessions);
  loop_destroy(io.loop);
  return test_report();
}
