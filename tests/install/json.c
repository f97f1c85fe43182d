/* tests/install/json.c — a program using wsio/json.h, which calls jansson itself:
 * built by test_install.sh with `pkg-config wsio-json` and CMake's wsio::wsio_json, the
 * flags that must bring jansson along. Exits 0 and prints "ok" when wsio's parse of
 * Socket.IO arguments reads back through jansson. */
#include <stdio.h>
#include <string.h>
#include <wsio.h>
#include <wsio/json.h>

int main(void) {
  const char text[] = "[7,\"seven\"]";
  wsio_sio_args args = {.json = text, .json_len = strlen(text)};
  json_t *a = wsio_sio_args_json(&args);
  json_t *second = a ? json_array_get(a, 1) : NULL;
  int ok = a && json_array_size(a) == 2 && json_integer_value(json_array_get(a, 0)) == 7 &&
           json_is_string(second) && strcmp(json_string_value(second), "seven") == 0;
  json_decref(a);
  if (!ok) {
    fprintf(stderr, "json: wsio_sio_args_json did not give [7,\"seven\"]\n");
    return 1;
  }
  puts("ok");
  return 0;
}
