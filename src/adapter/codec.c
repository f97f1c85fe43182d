/* adapter/codec.c — JSON <-> MessagePack with binary placeholders, and Redis Cluster's
 * key slot (see codec.h).
 * Numbers follow notepack.io: whole numbers are msgpack integers, others float64. */
#include "adapter/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The attachment index of a placeholder object, or -1 when v is not one. */
static long placeholder_num(const json_t *v) {
  if (!json_is_object(v) || json_object_size(v) != 2) return -1;
  const json_t *ph = json_object_get(v, "_placeholder");
  const json_t *num = json_object_get(v, "num");
  if (!json_is_true(ph) || !json_is_integer(num) || json_integer_value(num) < 0) return -1;
  return (long)json_integer_value(num);
}

static int pack(msgpack_packer *pk, const json_t *v, const wsio_span *bins, size_t nbins, int depth) {
  if (depth > CODEC_MAX_DEPTH) return -1;
  switch (json_typeof(v)) {
    case JSON_NULL:
      return msgpack_pack_nil(pk);
    case JSON_TRUE:
      return msgpack_pack_true(pk);
    case JSON_FALSE:
      return msgpack_pack_false(pk);
    case JSON_INTEGER:
      return msgpack_pack_int64(pk, (int64_t)json_integer_value(v));
    case JSON_REAL:
      return msgpack_pack_double(pk, json_real_value(v));
    case JSON_STRING: {
      size_t n = json_string_length(v);
      if (msgpack_pack_str(pk, n)) return -1;
      return n && msgpack_pack_str_body(pk, json_string_value(v), n) ? -1 : 0;
    }
    case JSON_ARRAY: {
      size_t n = json_array_size(v);
      if (msgpack_pack_array(pk, n)) return -1;
      for (size_t i = 0; i < n; i++)
        if (pack(pk, json_array_get(v, i), bins, nbins, depth + 1)) return -1;
      return 0;
    }
    case JSON_OBJECT: {
      long num = placeholder_num(v);
      if (num >= 0 && (size_t)num < nbins) {
        const wsio_span *b = &bins[num];
        if (msgpack_pack_bin(pk, b->n)) return -1;
        return b->n && msgpack_pack_bin_body(pk, b->p, b->n) ? -1 : 0;
      }
      if (msgpack_pack_map(pk, json_object_size(v))) return -1;
      const char *key;
      json_t *val;
      json_object_foreach((json_t *)v, key, val) {
        size_t kn = strlen(key);
        if (msgpack_pack_str(pk, kn) || msgpack_pack_str_body(pk, key, kn)) return -1;
        if (pack(pk, val, bins, nbins, depth + 1)) return -1;
      }
      return 0;
    }
  }
  return -1;
}

int codec_pack_json(msgpack_packer *pk, const json_t *v, const wsio_span *bins, size_t nbins) {
  return pack(pk, v, bins, nbins, 0) ? -1 : 0;
}

static json_t *placeholder(size_t num) {
  return json_pack("{sbsI}", "_placeholder", 1, "num", (json_int_t)num);
}

static json_t *to_json(const msgpack_object *o, codec_bins *bins, int depth) {
  if (depth > CODEC_MAX_DEPTH) return NULL;
  switch (o->type) {
    case MSGPACK_OBJECT_NIL:
    case MSGPACK_OBJECT_EXT: /* notepack's `undefined` */
      return json_null();
    case MSGPACK_OBJECT_BOOLEAN:
      return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
      if (o->via.u64 > (uint64_t)INT64_MAX) return json_real((double)o->via.u64);
      return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
      return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: {
      double d = o->via.f64;
      /* JSON has no NaN or infinities; JSON.stringify writes null. */
      if (d != d || d > 1.7976931348623157e308 || d < -1.7976931348623157e308) return json_null();
      /* A whole float (notepack writes 2^53-range integers as float64) stays whole. */
      if (d < 9.2e18 && d > -9.2e18 && d == (double)(int64_t)d) return json_integer((json_int_t)d);
      return json_real(d);
    }
    case MSGPACK_OBJECT_STR:
      /* (An empty string may have no pointer.) NULL when not UTF-8. */
      return json_stringn(o->via.str.size ? o->via.str.ptr : "", o->via.str.size);
    case MSGPACK_OBJECT_BIN:
      if (!bins) return json_null();
      if (bins->n == CODEC_MAX_BINS) return NULL;
      bins->v[bins->n] = (wsio_span){(const uint8_t *)o->via.bin.ptr, o->via.bin.size};
      return placeholder(bins->n++);
    case MSGPACK_OBJECT_ARRAY: {
      json_t *a = json_array();
      for (uint32_t i = 0; a && i < o->via.array.size; i++) {
        json_t *e = to_json(&o->via.array.ptr[i], bins, depth + 1);
        if (!e || json_array_append_new(a, e) != 0) {
          json_decref(a);
          return NULL;
        }
      }
      return a;
    }
    case MSGPACK_OBJECT_MAP: {
      json_t *m = json_object();
      for (uint32_t i = 0; m && i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        char kbuf[64];
        const char *k = kbuf;
        size_t kn;
        if (kv->key.type == MSGPACK_OBJECT_STR) {
          k = kv->key.via.str.size ? kv->key.via.str.ptr : "";
          kn = kv->key.via.str.size;
        } else {
          int w = msgpack_object_print_buffer(kbuf, sizeof(kbuf), kv->key);
          kn = w > 0 ? (size_t)w : 0;
        }
        /* A key with a NUL cannot travel as a C string (jansson's keys are): refused. */
        if (kn && memchr(k, '\0', kn)) {
          json_decref(m);
          return NULL;
        }
        /* A key twice is refused too: the object would keep the first one's place with
         * the second one's value, so binaries would no longer be numbered in document
         * order (what a node that packs it again relies on). Node's encoders never
         * write one; found by fuzz_adapter_codec. */
        if (json_object_getn(m, k, kn)) {
          json_decref(m);
          return NULL;
        }
        json_t *val = to_json(&kv->val, bins, depth + 1);
        if (!val || json_object_setn_new(m, k, kn, val) != 0) {
          json_decref(m);
          return NULL;
        }
      }
      return m;
    }
  }
  return NULL;
}

json_t *codec_to_json(const msgpack_object *o, codec_bins *bins) {
  if (bins) bins->n = 0;
  return to_json(o, bins, 0);
}

char *codec_dump(const json_t *v, size_t *len) {
  char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  if (s) *len = strlen(s);
  return s;
}

/* Redis Cluster's key slot: CRC16 (XMODEM) of the key, or of its {hash tag}, mod 16384. */
unsigned codec_key_slot(const char *k, size_t n) {
  const char *open = memchr(k, '{', n);
  if (open) {
    const char *close = memchr(open + 1, '}', n - (size_t)(open + 1 - k));
    if (close && close > open + 1) {
      n = (size_t)(close - open - 1);
      k = open + 1;
    }
  }
  uint16_t crc = 0;
  for (size_t i = 0; i < n; i++) {
    crc ^= (uint16_t)((uint8_t)k[i] << 8);
    for (int b = 0; b < 8; b++) crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
  }
  return crc & (CODEC_KEY_SLOTS - 1);
}
