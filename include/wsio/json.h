/* wsio/json.h — Socket.IO arguments as jansson values, for applications that would
 * rather build and read JSON with a library than as text. Optional: include it after
 * wsio.h (it needs <jansson.h>, Debian's libjansson-dev) and link jansson.
 *
 * wsio's own paths never use it: broadcasts pass the JSON text through untouched. Binary
 * arguments stay placeholders ({"_placeholder":true,"num":N}) that index the wsio_span
 * array, exactly as on the wire. */
#ifndef WSIO_JSON_H
#define WSIO_JSON_H

#include <jansson.h>

#include "wsio/sio.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The event's arguments as a new jansson array (the caller owns the reference:
 * json_decref it), or NULL when they cannot be parsed. */
json_t *wsio_sio_args_json(const wsio_sio_args *args);

/* Emits / broadcasts / acknowledges with args, a jansson array (borrowed: the caller
 * keeps its reference; NULL = no arguments). Same results as the text versions;
 * WSIO_EINVAL when args is not an array. */
int wsio_sio_emit_json(wsio_sio_socket *s, const char *event, const json_t *args, const wsio_span *bins,
                       size_t nbins);
int wsio_sio_broadcast_json(const wsio_sio_target *t, const char *event, const json_t *args,
                            const wsio_span *bins, size_t nbins);
int wsio_sio_ack_send_json(wsio_sio_ack ack, const json_t *args, const wsio_span *bins, size_t nbins);

#ifdef __cplusplus
}
#endif
#endif
