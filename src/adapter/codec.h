/* adapter/codec.h — the cluster adapter's message codec: JSON values (jansson) to and
 * from MessagePack (msgpack-c), with Socket.IO's binary placeholders
 * ({"_placeholder":true,"num":N}) standing for msgpack `bin` values, as Node's
 * notepack.io writes Buffers; and Redis Cluster's key slot of a channel name.
 *
 * Pure: no sockets, no Redis, no globals. Everything it returns is owned by the
 * caller as stated per function. */
#ifndef WSIO_ADAPTER_CODEC_H
#define WSIO_ADAPTER_CODEC_H

#include <jansson.h>
#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "wsio.h"

#define CODEC_MAX_BINS 64   /* attachments collected from one message */
#define CODEC_MAX_DEPTH 64  /* nesting accepted from the wire */

/* Packs v; a placeholder object whose num < nbins is packed as bins[num] (a `bin`).
 * Returns 0, or -1 (a value msgpack cannot hold, out of memory). */
int codec_pack_json(msgpack_packer *pk, const json_t *v, const wsio_span *bins, size_t nbins);

/* Binary attachments found while decoding: spans into the msgpack message (valid as
 * long as the msgpack_unpacked / buffer it came from). */
typedef struct codec_bins {
  wsio_span v[CODEC_MAX_BINS];
  size_t n;
} codec_bins;

/* A new JSON value (the caller decrefs it) for o; every `bin` becomes a placeholder
 * and its span is appended to bins (NULL: binaries become null). Map keys that are not
 * strings become their msgpack text form. Returns NULL when too deep, too many
 * binaries, a string is not UTF-8, a key holds a NUL, or out of memory. */
json_t *codec_to_json(const msgpack_object *o, codec_bins *bins);

/* The JSON text of v (compact, malloc'd, caller frees), or NULL. */
char *codec_dump(const json_t *v, size_t *len);

/* Redis Cluster's slot of a key or channel name: CRC16 (XMODEM) of k, or of its first
 * non-empty {hash tag}, mod 16384 (what CLUSTER KEYSLOT answers). */
#define CODEC_KEY_SLOTS 16384
unsigned codec_key_slot(const char *k, size_t n);

#endif
