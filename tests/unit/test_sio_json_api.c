/* Unit tests for the jansson convenience layer (include/wsio/json.h): arguments text to
 * a jansson array and back. */
#include "wsio.h"
#include "wsio/json.h"
#include "test.h"

static void test_args_json(void) {
  const char *text = "[\"room\",{\"a\":[1,2.5,null,true]},\"\\u00e9\\u0000x\"]";
  wsio_sio_args a = {.json = text, .json_len = strlen(text)};
  json_t *v = wsio_sio_args_json(&a);
  CHECK(v != NULL);
  CHECK(json_is_array(v));
  CHECK_EQ_INT(json_array_size(v), 3);
  CHECK_STR(json_string_value(json_array_get(v, 0)), "room");
  CHECK(json_is_true(json_array_get(json_object_get(json_array_get(v, 1), "a"), 3)));
  CHECK_EQ_INT(json_string_length(json_array_get(v, 2)), 4); /* é (2 bytes), NUL, x */
  char *back = json_dumps(v, JSON_COMPACT);
  CHECK_STR(back, "[\"room\",{\"a\":[1,2.5,null,true]},\"\xc3\xa9\\u0000x\"]"); /* UTF-8 as is */
  free(back);
  json_decref(v);
}

static void test_args_json_rejects(void) {
  static const char *const bad[] = {"{}", "\"x\"", "[1,", "", "[1] [2]"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    wsio_sio_args a = {.json = bad[i], .json_len = strlen(bad[i])};
    json_t *v = wsio_sio_args_json(&a);
    CHECK(v == NULL);
    json_decref(v);
  }
}

/* The *_json senders: arguments that are not an array are refused (WSIO_EINVAL) before
 * anything is sent; an array (or NULL, "[]") is passed on, and the sender's own checks
 * answer for a missing socket or an ack that was never asked (WSIO_EINVAL, no crash). */
static void test_senders_json(void) {
  json_t *obj = json_object(), *arr = json_pack("[s,i]", "a", 1);
  wsio_sio_ack none = {.id = -1};
  CHECK_EQ_INT(wsio_sio_emit_json(NULL, "ev", obj, NULL, 0), WSIO_EINVAL);
  CHECK_EQ_INT(wsio_sio_emit_json(NULL, "ev", arr, NULL, 0), WSIO_EINVAL);
  CHECK_EQ_INT(wsio_sio_emit_json(NULL, "ev", NULL, NULL, 0), WSIO_EINVAL);
  CHECK_EQ_INT(wsio_sio_ack_send_json(none, obj, NULL, 0), WSIO_EINVAL);
  CHECK_EQ_INT(wsio_sio_ack_send_json(none, arr, NULL, 0), WSIO_EINVAL);
  CHECK_EQ_INT(wsio_sio_ack_send_json(none, NULL, NULL, 0), WSIO_EINVAL);
  CHECK_EQ_INT(wsio_sio_broadcast_json(NULL, "ev", obj, NULL, 0), WSIO_EINVAL);
  json_decref(obj);
  json_decref(arr);
}

int main(void) {
  RUN(test_senders_json);
  RUN(test_args_json);
  RUN(test_args_json_rejects);
  return test_report();
}
