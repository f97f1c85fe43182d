/* sio/json_api.c — the jansson convenience layer of include/wsio/json.h: converts
 * between jansson values and the JSON text the Socket.IO API takes. */
#include <stdlib.h>
#include <string.h>

#include "wsio.h"
#include "wsio/json.h"

json_t *wsio_sio_args_json(const wsio_sio_args *args) {
  json_error_t err;
  /* JSON_ALLOW_NUL: strings may hold U+0000 (JSON.stringify emits \u0000). */
  json_t *v = json_loadb(args->json, args->json_len, JSON_ALLOW_NUL, &err);
  if (v && !json_is_array(v)) {
    json_decref(v);
    return NULL;
  }
  return v;
}

/* Serialises args (NULL = "[]") compactly; the caller frees the result. */
static char *dump(const json_t *args) {
  if (!args) return strdup("[]");
  if (!json_is_array(args)) return NULL;
  return json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
}

int wsio_sio_emit_json(wsio_sio_socket *s, const char *event, const json_t *args, const wsio_span *bins,
                       size_t nbins) {
  char *text = dump(args);
  if (!text) return args ? WSIO_EINVAL : WSIO_ENOMEM;
  int r = wsio_sio_emit(s, event, text, strlen(text), bins, nbins);
  free(text);
  return r;
}

int wsio_sio_broadcast_json(const wsio_sio_target *t, const char *event, const json_t *args,
                            const wsio_span *bins, size_t nbins) {
  char *text = dump(args);
  if (!text) return args ? WSIO_EINVAL : WSIO_ENOMEM;
  int r = wsio_sio_broadcast(t, event, text, strlen(text), bins, nbins);
  free(text);
  return r;
}

int wsio_sio_ack_send_json(wsio_sio_ack ack, const json_t *args, const wsio_span *bins, size_t nbins) {
  char *text = dump(args);
  if (!text) return args ? WSIO_EINVAL : WSIO_ENOMEM;
  int r = wsio_sio_ack_send(ack, text, strlen(text), bins, nbins);
  free(text);
  return r;
}
