/* client/sio_client.c — the Socket.IO v5 client role (the last section of
 * include/wsio/client.h).
 *
 * Owns: the manager (one Engine.IO session at a time through eio_client.c,
 * reconnection with backoff and jitter), namespace sockets (CONNECT with auth,
 * CONNECT_ERROR, DISCONNECT), emits with acks and their timeouts, binary
 * attachments in both directions, volatile emits, each socket's send buffer and
 * connection state recovery (pid and last offset resent in CONNECT's auth).
 * Must not: speak Engine.IO (eio_client.c does) or encode Socket.IO packet
 * heads and validate packets itself: sio/packet.c and sio/jscan.c are the
 * server's codecs, shared. jansson builds the CONNECT auth object (control
 * packets only; events pass through as text).
 *
 * Differences from the JS client, on purpose: a handshake refused with a 4xx
 * status or a protocol violation before the session opened (a garbage open
 * packet) stops reconnection, as the WebSocket client does: the same request
 * would fail the same way. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/backoff.h"
#include "client/eio_client.h"
#include "client/url.h"
#include "core/transport.h"
#include "loop/loop.h"
#include "sio/jscan.h"
#include "sio/packet.h"
#include "wsio/client.h"

enum { M_OPENING, M_OPEN, M_WAIT, M_DONE };
enum { S_DISCONNECTED, S_CONNECTING, S_CONNECTED };

/* A packet waiting in a socket's send buffer: the text packet (without the
 * Engine.IO "4") and its attachments, in one allocation. */
typedef struct spkt {
  struct spkt *next;
  int64_t ack_id;
  size_t text_len, size;
  uint32_t nbins;
  size_t bin_len[SIO_MAX_ATTACHMENTS];
  uint8_t *bin[SIO_MAX_ATTACHMENTS];
  char text[];
} spkt;

/* An event that came before its namespace's CONNECT reply (a recovered
 * session's missed events do: Node sends them first), delivered once connected,
 * as the JS client's receiveBuffer. */
typedef struct rpkt {
  struct rpkt *next;
  size_t len;
  uint32_t nbins;
  uint8_t *bin[SIO_MAX_ATTACHMENTS];
  size_t bin_len[SIO_MAX_ATTACHMENTS];
  char text[];
} rpkt;

typedef struct sack {
  struct sack *next;
  wsio_sio_client_socket *s;
  int64_t id;
  wsio_sio_client_ack_fn fn;
  void *arg;
  loop_timer timer;
} sack;

struct wsio_sio_client_socket {
  wsio_sio_client *m;
  wsio_sio_client_socket *next;
  char *nsp, *auth;
  wsio_sio_client_socket_options o;
  int state, active, closed;
  char *sid, *pid, *offset;
  spkt *qhead, *qtail;
  size_t qbytes, qcount;
  rpkt *rhead, *rtail;
  size_t rcount;
  sack *acks;
  int64_t next_ack;
};

struct wsio_sio_client {
  wsio_app *app;
  loop *loop;
  wsio_sio_client_options o;
  char *host, *port, *host_header, *path;
  char *ca_file, *cert_file, *key_file;
  int tls; /* https:// */
  char **headers;
  eio_client *eio;
  int state, destroyed, ever_open_session;
  int closing; /* wsio_sio_client_close: on_close once the session is gone */
  eio_client *closing_eio;
  unsigned attempt;
  loop_timer retry;
  wsio_sio_client_socket *socks;
  /* A BINARY_EVENT/BINARY_ACK waiting for its attachments. */
  char *rx_text;
  size_t rx_len;
  uint32_t rx_need, rx_have;
  uint8_t *rx_bin[SIO_MAX_ATTACHMENTS];
  size_t rx_bin_len[SIO_MAX_ATTACHMENTS];
  client_rng rng; /* the reconnect jitter */
};

/* ---- small helpers ---------------------------------------------------------- */

static void rx_reset(wsio_sio_client *m) {
  free(m->rx_text);
  m->rx_text = NULL;
  for (uint32_t i = 0; i < m->rx_have; i++)
    free(m->rx_bin[i]);
  m->rx_need = m->rx_have = 0;
}

static int m_send(wsio_sio_client *m, const spkt *k) {
  int r = eio_client_send(m->eio, k->text, k->text_len, 0);
  for (uint32_t i = 0; r == 0 && i < k->nbins; i++)
    r = eio_client_send(m->eio, k->bin[i], k->bin_len[i], 1);
  return r;
}

/* ---- acks --------------------------------------------------------------------- */

static sack *ack_take(wsio_sio_client_socket *s, int64_t id) {
  for (sack **pp = &s->acks; *pp; pp = &(*pp)->next) {
    if ((*pp)->id == id) {
      sack *a = *pp;
      *pp = a->next;
      loop_timer_stop(s->m->loop, &a->timer);
      return a;
    }
  }
  return NULL;
}

static int queued(const wsio_sio_client_socket *s, int64_t id) {
  for (const spkt *k = s->qhead; k; k = k->next)
    if (k->ack_id == id)
      return 1;
  return 0;
}

static void queue_remove(wsio_sio_client_socket *s, spkt *k) {
  spkt *prev = NULL;
  for (spkt *c = s->qhead; c; prev = c, c = c->next) {
    if (c != k)
      continue;
    if (prev)
      prev->next = c->next;
    else
      s->qhead = c->next;
    if (s->qtail == c)
      s->qtail = prev;
    s->qbytes -= c->size;
    s->qcount--;
    free(c);
    return;
  }
}

static void ack_timeout(loop_timer *t) {
  sack *a = (sack *)((char *)t - offsetof(sack, timer));
  wsio_sio_client_socket *s = a->s;
  (void)ack_take(s, a->id);
  /* As the JS client: a timed-out emit still in the send buffer is dropped. */
  for (spkt *k = s->qhead; k; k = k->next)
    if (k->ack_id == a->id) {
      queue_remove(s, k);
      break;
    }
  a->fn(s, WSIO_ETIMEDOUT, NULL, 0, NULL, 0, a->arg);
  free(a);
}

/* Fails the acks of packets already sent (all = 0) or every ack (all = 1) with
 * WSIO_ECLOSED: their answer cannot come on another session. */
static void acks_fail(wsio_sio_client_socket *s, int all) {
  for (sack **pp = &s->acks; *pp;) {
    sack *a = *pp;
    if (!all && queued(s, a->id)) {
      pp = &a->next;
      continue;
    }
    *pp = a->next;
    loop_timer_stop(s->m->loop, &a->timer);
    a->fn(s, WSIO_ECLOSED, NULL, 0, NULL, 0, a->arg);
    free(a);
    pp = &s->acks; /* the callback may have changed the list */
  }
}

static void rbuf_clear(wsio_sio_client_socket *s) {
  while (s->rhead) {
    rpkt *k = s->rhead;
    s->rhead = k->next;
    for (uint32_t i = 0; i < k->nbins; i++)
      free(k->bin[i]);
    free(k);
  }
  s->rtail = NULL;
  s->rcount = 0;
}

static void rbuf_push(wsio_sio_client_socket *s, const char *text, size_t len,
                      const wsio_span *bins, size_t nb) {
  if (s->rcount >= s->m->o.queue_max_count)
    return;
  rpkt *k = calloc(1, sizeof *k + len + 1);
  if (!k)
    return;
  memcpy(k->text, text, len);
  k->len = len;
  for (size_t i = 0; i < nb; i++) {
    k->bin[i] = malloc(bins[i].n ? bins[i].n : 1);
    if (!k->bin[i])
      break;
    if (bins[i].n)
      memcpy(k->bin[i], bins[i].p, bins[i].n);
    k->bin_len[i] = bins[i].n;
    k->nbins = (uint32_t)i + 1;
  }
  if (s->rtail)
    s->rtail->next = k;
  else
    s->rhead = k;
  s->rtail = k;
  s->rcount++;
}

static void queue_clear(wsio_sio_client_socket *s) {
  while (s->qhead) {
    spkt *k = s->qhead;
    s->qhead = k->next;
    free(k);
  }
  s->qtail = NULL;
  s->qbytes = s->qcount = 0;
}

/* ---- the CONNECT packet with auth, pid and offset -------------------------------- */

static int send_connect(wsio_sio_client_socket *s) {
  json_t *auth = NULL;
  if (s->auth) {
    json_error_t e;
    auth = json_loads(s->auth, 0, &e);
  }
  if (!auth && s->pid)
    auth = json_object();
  if (s->pid) {
    /* socket.io-client: Object.assign({pid, offset}, auth): the app's keys win. */
    json_t *merged = json_object();
    if (!merged) {
      json_decref(auth);
      return WSIO_ENOMEM;
    }
    json_object_set_new(merged, "pid", json_string(s->pid));
    if (s->offset)
      json_object_set_new(merged, "offset", json_string(s->offset));
    json_object_update(merged, auth);
    json_decref(auth);
    auth = merged;
  }
  char *body = auth ? json_dumps(auth, JSON_COMPACT) : NULL;
  json_decref(auth);
  size_t bl = body ? strlen(body) : 0;
  char *text = malloc(32 + strlen(s->nsp) + bl);
  if (!text) {
    free(body);
    return WSIO_ENOMEM;
  }
  size_t n = sio_packet_head(text, SIO_CONNECT, 0, s->nsp, strlen(s->nsp), -1);
  if (bl)
    memcpy(text + n, body, bl);
  free(body);
  s->state = S_CONNECTING;
  int r = eio_client_send(s->m->eio, text, n + bl, 0);
  free(text);
  return r;
}

/* ---- incoming packets ------------------------------------------------------------ */

static wsio_sio_client_socket *find_sock(wsio_sio_client *m, const char *nsp,
                                         size_t n) {
  for (wsio_sio_client_socket *s = m->socks; s; s = s->next)
    if (!s->closed && strlen(s->nsp) == n && memcmp(s->nsp, nsp, n) == 0)
      return s;
  return NULL;
}

static void set_str(char **dst, const char *src, size_t n) {
  free(*dst);
  *dst = src ? strndup(src, n) : NULL;
}

static void flush_buffer(wsio_sio_client_socket *s) {
  while (s->qhead && s->state == S_CONNECTED && eio_client_is_open(s->m->eio)) {
    spkt *k = s->qhead;
    s->qhead = k->next;
    if (!s->qhead)
      s->qtail = NULL;
    s->qbytes -= k->size;
    s->qcount--;
    (void)m_send(s->m, k);
    free(k);
  }
}

static void on_event_packet(wsio_sio_client_socket *s, const sio_packet *pk,
                            const wsio_span *bins, size_t nb);

static void on_connect_packet(wsio_sio_client_socket *s, const sio_packet *pk) {
  json_error_t e;
  json_t *o = pk->data ? json_loadb(pk->data, pk->data_len, 0, &e) : NULL;
  json_t *sid = o ? json_object_get(o, "sid") : NULL;
  json_t *pid = o ? json_object_get(o, "pid") : NULL;
  if (!json_is_string(sid)) {
    json_decref(o);
    return; /* eio_client's caller closes on a parse error; a CONNECT without
               sid is ignored as socket.io-client does not validate it either */
  }
  set_str(&s->sid, json_string_value(sid), json_string_length(sid));
  int recovered = json_is_string(pid) && s->pid &&
                  strcmp(s->pid, json_string_value(pid)) == 0;
  if (json_is_string(pid))
    set_str(&s->pid, json_string_value(pid), json_string_length(pid));
  else
    set_str(&s->pid, NULL, 0);
  if (!recovered)
    set_str(&s->offset, NULL, 0);
  json_decref(o);
  s->state = S_CONNECTED;
  /* socket.io-client's order: the events received before, the emits buffered,
   * then "connect". */
  while (s->rhead && s->state == S_CONNECTED && !s->closed) {
    rpkt *k = s->rhead;
    s->rhead = k->next;
    if (!s->rhead)
      s->rtail = NULL;
    s->rcount--;
    sio_packet ev;
    wsio_span spans[SIO_MAX_ATTACHMENTS];
    for (uint32_t i = 0; i < k->nbins; i++)
      spans[i] = (wsio_span){k->bin[i], k->bin_len[i]};
    if (sio_packet_decode(k->text, k->len, &ev) == 0)
      on_event_packet(s, &ev, spans, k->nbins);
    for (uint32_t i = 0; i < k->nbins; i++)
      free(k->bin[i]);
    free(k);
  }
  if (s->state != S_CONNECTED || s->closed)
    return;
  flush_buffer(s);
  if (s->o.on_connect && !s->closed)
    s->o.on_connect(s, s->sid, recovered, s->o.user);
}

static void on_event_packet(wsio_sio_client_socket *s, const sio_packet *pk,
                            const wsio_span *bins, size_t nb) {
  char name[256];
  if (jscan_string_unescape(pk->event, pk->event_len, name, sizeof name) < 0)
    snprintf(name, sizeof name, "%.*s", (int)pk->event_len, pk->event);
  size_t alen = 1 + pk->args_rest_len;
  char *args = malloc(alen + 1);
  if (!args)
    return;
  args[0] = '[';
  memcpy(args + 1, pk->args_rest, pk->args_rest_len);
  args[alen] = 0;
  if (s->pid) {
    /* Recovery: the server appends the event's offset as its last argument
     * (a string); the JS client remembers it and still hands it to the app. */
    size_t off = 0, el;
    const char *p, *last = NULL;
    jscan_type t, lt = JSCAN_INVALID;
    size_t last_len = 0;
    while (jscan_array_next(args, alen, &off, &p, &el, &t) == 1) {
      last = p;
      last_len = el;
      lt = t;
    }
    if (last && lt == JSCAN_STRING) {
      char *v = malloc(last_len + 1);
      if (v && jscan_string_unescape(last, last_len, v, last_len + 1) >= 0) {
        free(s->offset);
        s->offset = v;
      } else {
        free(v);
      }
    }
  }
  if (s->o.on_event)
    s->o.on_event(s, name, args, alen, bins, nb, pk->ack_id, s->o.user);
  free(args);
}

static void socket_down(wsio_sio_client_socket *s, const char *reason,
                        int again) {
  int was = s->state;
  s->state = S_DISCONNECTED;
  set_str(&s->sid, NULL, 0);
  rbuf_clear(s);
  acks_fail(s, 0);
  if (was == S_CONNECTED && s->o.on_disconnect && !s->closed)
    s->o.on_disconnect(s, reason, again, s->o.user);
}

/* Returns 0, or -1 for a packet that breaks the protocol (parse error). */
static int dispatch(wsio_sio_client *m, const sio_packet *pk, const char *raw,
                    size_t raw_len, const wsio_span *bins, size_t nb) {
  wsio_sio_client_socket *s = find_sock(m, pk->nsp, pk->nsp_len);
  if (!s)
    return 0; /* a namespace this client left: ignored, as the JS client */
  switch (pk->type) {
  case SIO_CONNECT:
    on_connect_packet(s, pk);
    return 0;
  case SIO_CONNECT_ERROR:
    s->state = S_DISCONNECTED;
    s->active = 0;
    if (s->o.on_connect_error)
      s->o.on_connect_error(s, pk->data ? pk->data : "null",
                            pk->data ? pk->data_len : 4, s->o.user);
    return 0;
  case SIO_DISCONNECT:
    s->active = 0;
    socket_down(s, "io server disconnect", 0);
    return 0;
  case SIO_EVENT:
  case SIO_BINARY_EVENT:
    if (s->state == S_CONNECTED)
      on_event_packet(s, pk, bins, nb);
    else if (s->state == S_CONNECTING)
      rbuf_push(s, raw, raw_len, bins, nb);
    return 0;
  case SIO_ACK:
  case SIO_BINARY_ACK: {
    sack *a = ack_take(s, pk->ack_id);
    if (a) {
      a->fn(s, 0, pk->data, pk->data_len, bins, nb, a->arg);
      free(a);
    }
    return 0;
  }
  default:
    return -1;
  }
}

static void m_parse_error(wsio_sio_client *m);

static void eio_message(eio_client *e, const uint8_t *p, size_t n, int binary,
                        void *user) {
  (void)e;
  wsio_sio_client *m = user;
  sio_packet pk;
  if (binary) {
    if (!m->rx_need) {
      m_parse_error(m);
      return;
    }
    uint8_t *b = malloc(n ? n : 1);
    if (!b) {
      m_parse_error(m);
      return;
    }
    memcpy(b, p, n);
    m->rx_bin[m->rx_have] = b;
    m->rx_bin_len[m->rx_have++] = n;
    if (m->rx_have < m->rx_need)
      return;
    wsio_span spans[SIO_MAX_ATTACHMENTS];
    for (uint32_t i = 0; i < m->rx_have; i++)
      spans[i] = (wsio_span){m->rx_bin[i], m->rx_bin_len[i]};
    if (sio_packet_decode(m->rx_text, m->rx_len, &pk) != 0) {
      m_parse_error(m);
      return;
    }
    /* The packet's spans point into rx_text: dispatch before freeing it. */
    char *keep = m->rx_text;
    uint32_t have = m->rx_have;
    m->rx_text = NULL;
    m->rx_need = m->rx_have = 0;
    int r = dispatch(m, &pk, keep, m->rx_len, spans, have);
    free(keep);
    for (uint32_t i = 0; i < have; i++)
      free((void *)spans[i].p);
    if (r < 0)
      m_parse_error(m);
    return;
  }
  if (m->rx_need || sio_packet_decode((const char *)p, n, &pk) != 0) {
    m_parse_error(m);
    return;
  }
  if ((pk.type == SIO_BINARY_EVENT || pk.type == SIO_BINARY_ACK) &&
      pk.attachments) {
    if (pk.data && jscan_count_placeholders(pk.data, pk.data_len,
                                            pk.attachments) < 0) {
      m_parse_error(m);
      return;
    }
    m->rx_text = malloc(n + 1);
    if (!m->rx_text) {
      m_parse_error(m);
      return;
    }
    memcpy(m->rx_text, p, n);
    m->rx_text[n] = 0;
    m->rx_len = n;
    m->rx_need = pk.attachments;
    return;
  }
  if (dispatch(m, &pk, (const char *)p, n, NULL, 0) < 0)
    m_parse_error(m);
}

/* ---- the session's life ----------------------------------------------------------- */

static void m_connect(wsio_sio_client *m);

static void retry_fired(loop_timer *t) {
  wsio_sio_client *m =
      (wsio_sio_client *)((char *)t - offsetof(wsio_sio_client, retry));
  if (m->closing) { /* closed while no session was open */
    m->closing = 0;
    if (m->o.on_close)
      m->o.on_close(m, "io client disconnect", 0, m->o.user);
    return;
  }
  m_connect(m);
}

static void give_up(wsio_sio_client *m) {
  m->state = M_DONE;
  for (wsio_sio_client_socket *s = m->socks; s; s = s->next) {
    queue_clear(s);
    acks_fail(s, 1);
  }
}

/* The session ended (or an attempt failed): sockets learn it, then the next
 * attempt is scheduled. */
static void m_down(wsio_sio_client *m, const char *reason, int err, int status,
                   const char *detail) {
  /* Closed or destroyed by the application (maybe from the callback that got
   * us here): nothing to report, nothing to retry. */
  if (m->destroyed || m->state == M_DONE)
    return;
  int was_open = m->state == M_OPEN;
  if (m->eio) {
    eio_client_close(m->eio, 0);
    m->eio = NULL;
  }
  rx_reset(m);
  /* A TLS failure (untrusted or wrong certificate) repeats, as the WebSocket
   * client's. */
  int fatal = err == WSIO_ETLS ||
              (!m->ever_open_session &&
               ((err == WSIO_EREFUSED && status < 500) || err == WSIO_EPROTOCOL));
  int again = !m->o.no_reconnect && !m->destroyed && !fatal;
  m->state = again ? M_WAIT : M_DONE;
  if (err && m->o.on_error) {
    m->o.on_error(m, err, status, detail ? detail : wsio_ws_client_strerror(err),
                  m->o.user);
    if (m->destroyed)
      return;
  }
  for (wsio_sio_client_socket *s = m->socks; s; s = s->next) {
    socket_down(s, reason, again);
    if (m->destroyed)
      return;
  }
  if (was_open && m->o.on_close) {
    m->o.on_close(m, reason, again, m->o.user);
    if (m->destroyed)
      return;
  }
  if (m->state != M_WAIT) {
    give_up(m);
    return;
  }
  m->attempt++;
  if (m->o.reconnect_attempts && m->attempt > m->o.reconnect_attempts) {
    give_up(m);
    if (m->o.on_reconnect_failed)
      m->o.on_reconnect_failed(m, m->o.user);
    return;
  }
  uint32_t delay =
      client_backoff_ms(&m->rng, m->o.reconnect_min_ms, m->o.reconnect_max_ms,
                        m->o.randomization, m->attempt - 1);
  (void)loop_timer_start(m->loop, &m->retry, delay, 0);
  if (m->o.on_reconnect_attempt)
    m->o.on_reconnect_attempt(m, m->attempt, delay, m->o.user);
}

static void m_parse_error(wsio_sio_client *m) {
  m_down(m, "parse error", WSIO_EPROTOCOL, 0,
         "a malformed Socket.IO packet from the server");
}

static void eio_open(eio_client *e, const char *sid, void *user) {
  (void)e;
  wsio_sio_client *m = user;
  m->state = M_OPEN;
  m->ever_open_session = 1;
  if (m->o.on_open)
    m->o.on_open(m, sid, m->o.user);
  if (m->destroyed || m->state != M_OPEN)
    return;
  if (m->attempt) {
    unsigned n = m->attempt;
    m->attempt = 0;
    if (m->o.on_reconnect)
      m->o.on_reconnect(m, n, m->o.user);
    if (m->destroyed || m->state != M_OPEN)
      return;
  }
  for (wsio_sio_client_socket *s = m->socks; s; s = s->next)
    if (s->active && !s->closed)
      (void)send_connect(s);
}

static void eio_upgrade(eio_client *e, void *user) {
  (void)e;
  wsio_sio_client *m = user;
  if (m->o.on_upgrade)
    m->o.on_upgrade(m, m->o.user);
}

static void eio_close(eio_client *e, const char *reason, int err, int status,
                      const char *detail, void *user) {
  (void)e;
  m_down(user, reason, err, status, detail);
}

static void eio_packet_trace(eio_client *e, wsio_frame_dir dir,
                             const char *transport, int type, int binary,
                             const uint8_t *p, size_t n, void *user) {
  (void)e;
  wsio_sio_client *m = user;
  if (m->o.on_packet)
    m->o.on_packet(m, dir, transport, type, binary, p, n, m->o.user);
}

static void eio_released(eio_client *e, void *user) {
  (void)e;
  wsio_sio_client *m = user;
  if (m->closing && !m->destroyed) {
    m->closing = 0;
    m->closing_eio = NULL;
    if (m->o.on_close)
      m->o.on_close(m, "io client disconnect", 0, m->o.user);
  }
}

static void eio_tls(eio_client *e, const char *info, void *user) {
  (void)e;
  wsio_sio_client *m = user;
  if (m->o.on_tls)
    m->o.on_tls(m, info, m->o.user);
}

static void m_connect(wsio_sio_client *m) {
  eio_client_config cfg = {
      .on_released = eio_released,
      .host = m->host,
      .port = m->port,
      .host_header = m->host_header,
      .path = m->path,
      .headers = (const char *const *)m->headers,
      .transports = m->o.transports,
      .tls = m->tls,
      .ca_file = m->ca_file,
      .cert_file = m->cert_file,
      .key_file = m->key_file,
      .insecure = m->o.insecure,
      .on_tls = m->o.on_tls ? eio_tls : NULL,
      .timeout_ms = m->o.timeout_ms,
      .max_payload = m->o.max_payload,
      .user = m,
      .on_open = eio_open,
      .on_upgrade = eio_upgrade,
      .on_message = eio_message,
      .on_close = eio_close,
      .on_packet = eio_packet_trace,
  };
  int err = 0;
  m->state = M_OPENING;
  m->eio = eio_client_open(m->app, &cfg, &err);
  if (!m->eio) {
    char why[300];
    snprintf(why, sizeof why, "cannot reach %s:%s", m->host, m->port);
    m_down(m, "transport error", err, 0, why);
  }
}

/* ---- the public API --------------------------------------------------------------- */

static void free_socket(wsio_sio_client_socket *s) {
  queue_clear(s);
  rbuf_clear(s);
  while (s->acks) {
    sack *a = s->acks;
    s->acks = a->next;
    loop_timer_stop(s->m->loop, &a->timer);
    free(a);
  }
  free(s->nsp);
  free(s->auth);
  free(s->sid);
  free(s->pid);
  free(s->offset);
  free(s);
}

static void m_release(wsio_sio_client *m) {
  loop_timer_stop(m->loop, &m->retry);
  rx_reset(m);
  while (m->socks) {
    wsio_sio_client_socket *s = m->socks;
    m->socks = s->next;
    free_socket(s);
  }
  for (char **h = m->headers; h && *h; h++)
    free(*h);
  free(m->headers);
  free(m->host);
  free(m->port);
  free(m->host_header);
  free(m->path);
  free(m->ca_file);
  free(m->cert_file);
  free(m->key_file);
}

static void m_app_destroyed(void *arg);

static void m_post(void *arg) {
  wsio_sio_client *m = arg;
  if (m->destroyed) {
    core_hook_remove(m->app, CORE_HOOK_POST, m_post, m);
    core_hook_remove(m->app, CORE_HOOK_DESTROY, m_app_destroyed, m);
    m_release(m);
    free(m);
    return;
  }
  for (wsio_sio_client_socket **pp = &m->socks; *pp;) {
    wsio_sio_client_socket *s = *pp;
    if (s->closed) {
      *pp = s->next;
      free_socket(s);
      continue;
    }
    pp = &s->next;
  }
}

static void m_app_destroyed(void *arg) {
  /* The Engine.IO session frees itself from its own destroy hook. */
  wsio_sio_client *m = arg;
  m_release(m);
  free(m);
}

static int parse_url(wsio_sio_client *m, const char *url) {
  if (strncmp(url, "https://", 8) == 0)
    m->tls = 1;
  else if (strncmp(url, "http://", 7) != 0)
    return WSIO_EURL;
  const char *h = url + (m->tls ? 8 : 7);
  client_authority a;
  if (client_url_authority(h, &a) != 0)
    return WSIO_EURL;
  const char *end = a.end, *hp = a.host, *colon = a.colon;
  size_t hl = a.host_len;
  if (hl == 0 || hl > 255)
    return WSIO_EURL;
  m->host = strndup(hp, hl);
  m->host_header = strndup(h, (size_t)(end - h));
  if (colon) {
    m->port = strndup(colon + 1, (size_t)(end - colon - 1));
    char *e;
    long v = m->port ? strtol(m->port, &e, 10) : 0;
    if (!m->port || !*m->port || *e || v <= 0 || v > 65535)
      return WSIO_EURL;
  } else {
    m->port = strdup(m->tls ? "443" : "80");
  }
  if (!m->host || !m->host_header || !m->port)
    return WSIO_ENOMEM;
  return 0;
}

static int copy_options(wsio_sio_client *m, const wsio_sio_client_options *in) {
  wsio_sio_client_options o = in ? *in : (wsio_sio_client_options){0};
  const char *path = o.path ? o.path : "/socket.io/";
  if (*path != '/' || strpbrk(path, "?# \r\n"))
    return WSIO_EINVAL;
  size_t pl = strlen(path);
  m->path = malloc(pl + 2);
  if (!m->path)
    return WSIO_ENOMEM;
  /* The JS client's path ends with '/' (it adds one). */
  sprintf(m->path, "%s%s", path, path[pl - 1] == '/' ? "" : "/");
  size_t n = 0;
  for (const char *const *h = o.headers; h && *h; h++, n++) {
    const char *c = strchr(*h, ':');
    if (strpbrk(*h, "\r\n") || !c || c == *h)
      return WSIO_EINVAL;
  }
  if (n) {
    m->headers = calloc(n + 1, sizeof *m->headers);
    if (!m->headers)
      return WSIO_ENOMEM;
    for (size_t i = 0; i < n; i++)
      if (!(m->headers[i] = strdup(o.headers[i])))
        return WSIO_ENOMEM;
  }
  o.headers = NULL;
  o.path = NULL;
  if (o.ca_file && !(m->ca_file = strdup(o.ca_file)))
    return WSIO_ENOMEM;
  /* A certificate without its key (or the reverse) cannot be presented. */
  if (!o.cert_file != !o.key_file)
    return WSIO_EINVAL;
  if (o.cert_file && (!(m->cert_file = strdup(o.cert_file)) ||
                      !(m->key_file = strdup(o.key_file))))
    return WSIO_ENOMEM;
  o.ca_file = o.cert_file = o.key_file = NULL; /* (m's copies) */
  if (o.transports > WSIO_SIO_WEBSOCKET)
    return WSIO_EINVAL;
  if (!o.timeout_ms)
    o.timeout_ms = 20000;
  if (!o.max_payload)
    o.max_payload = 1 << 20;
  if (!o.reconnect_min_ms)
    o.reconnect_min_ms = 1000;
  if (!o.reconnect_max_ms)
    o.reconnect_max_ms = 5000;
  if (o.reconnect_max_ms < o.reconnect_min_ms)
    o.reconnect_max_ms = o.reconnect_min_ms;
  if (!o.use_randomization)
    o.randomization = 0.5;
  if (o.randomization < 0)
    o.randomization = 0;
  if (o.randomization > 1)
    o.randomization = 1;
  if (!o.queue_max_bytes)
    o.queue_max_bytes = 1 << 20;
  if (!o.queue_max_count)
    o.queue_max_count = 1024;
  m->o = o;
  return 0;
}

wsio_sio_client *wsio_sio_client_create(wsio_app *app, const char *url,
                                        const wsio_sio_client_options *opts,
                                        int *err) {
  int e = 0, dummy;
  if (!err)
    err = &dummy;
  *err = 0;
  if (!app || !url) {
    *err = WSIO_EINVAL;
    return NULL;
  }
  wsio_sio_client *m = calloc(1, sizeof *m);
  if (!m) {
    *err = WSIO_ENOMEM;
    return NULL;
  }
  m->app = app;
  m->loop = core_loop(app);
  m->retry.cb = retry_fired;
  e = parse_url(m, url);
  if (!e)
    e = copy_options(m, opts);
  if (!e)
    e = client_rng_seed(&m->rng);
  if (!e && core_hook_add(app, CORE_HOOK_POST, m_post, m) != 0)
    e = WSIO_ENOMEM;
  if (!e && core_hook_add(app, CORE_HOOK_DESTROY, m_app_destroyed, m) != 0) {
    core_hook_remove(app, CORE_HOOK_POST, m_post, m);
    e = WSIO_ENOMEM;
  }
  if (e) {
    m_release(m);
    free(m);
    *err = e;
    return NULL;
  }
  /* The first attempt starts from the loop: nothing is reported inside this
   * call. */
  m->state = M_WAIT;
  (void)loop_timer_start(m->loop, &m->retry, 0, 0);
  return m;
}

void wsio_sio_client_destroy(wsio_sio_client *m) {
  if (!m || m->destroyed)
    return;
  for (wsio_sio_client_socket *s = m->socks; s; s = s->next) {
    int was = s->state;
    s->state = S_DISCONNECTED;
    queue_clear(s);
    acks_fail(s, 1);
    if (was == S_CONNECTED && !s->closed && s->o.on_disconnect)
      s->o.on_disconnect(s, "io client disconnect", 0, s->o.user);
    s->closed = 1;
  }
  m->destroyed = 1;
  m->state = M_DONE;
  loop_timer_stop(m->loop, &m->retry);
  if (m->closing)
    eio_client_forget(m->closing_eio);
  if (m->eio)
    eio_client_close(m->eio, 0);
  m->eio = NULL;
}

int wsio_sio_client_close(wsio_sio_client *m) {
  if (!m || m->destroyed)
    return WSIO_EINVAL;
  if (m->state == M_DONE)
    return WSIO_ECLOSED;
  for (wsio_sio_client_socket *s = m->socks; s; s = s->next)
    wsio_sio_client_socket_close(s);
  if (m->destroyed)
    return 0;
  m->state = M_DONE;
  m->closing = 1;
  loop_timer_stop(m->loop, &m->retry);
  if (m->eio) {
    m->closing_eio = m->eio;
    eio_client_close(m->eio, 1); /* on_released reports */
    m->eio = NULL;
  } else {
    (void)loop_timer_start(m->loop, &m->retry, 0, 0);
  }
  return 0;
}

int wsio_sio_client_is_done(const wsio_sio_client *m) {
  return !m || m->destroyed || m->state == M_DONE;
}

const char *wsio_sio_client_strerror(int err) {
  switch (err) {
  case WSIO_EREFUSED:
    return "the server refused the connection";
  case WSIO_EPROTOCOL:
    return "the server broke the Engine.IO or Socket.IO protocol";
  case WSIO_EURL:
    return "not an http:// or https:// URL";
  default:
    return wsio_ws_client_strerror(err);
  }
}

int wsio_sio_client_is_open(const wsio_sio_client *m) {
  return m && !m->destroyed && m->state == M_OPEN && eio_client_is_open(m->eio);
}

const char *wsio_sio_client_transport(const wsio_sio_client *m) {
  return wsio_sio_client_is_open(m) ? eio_client_transport(m->eio) : NULL;
}

wsio_sio_client_socket *wsio_sio_client_socket_open(
    wsio_sio_client *m, const char *nsp, const char *auth,
    const wsio_sio_client_socket_options *opts, int *err) {
  int dummy;
  if (!err)
    err = &dummy;
  *err = 0;
  jscan_type t;
  if (!m || m->destroyed || !nsp || *nsp != '/' || strpbrk(nsp, ",\r\n") ||
      (auth && (!jscan_valid(auth, strlen(auth), &t) || t != JSCAN_OBJECT))) {
    *err = WSIO_EINVAL;
    return NULL;
  }
  if (find_sock(m, nsp, strlen(nsp))) {
    *err = WSIO_EEXIST;
    return NULL;
  }
  wsio_sio_client_socket *s = calloc(1, sizeof *s);
  if (!s || !(s->nsp = strdup(nsp)) || (auth && !(s->auth = strdup(auth)))) {
    if (s)
      free(s->nsp);
    free(s);
    *err = WSIO_ENOMEM;
    return NULL;
  }
  s->m = m;
  if (opts)
    s->o = *opts;
  s->active = 1;
  s->next = m->socks;
  m->socks = s;
  if (m->state == M_OPEN && eio_client_is_open(m->eio))
    (void)send_connect(s);
  return s;
}

void wsio_sio_client_socket_close(wsio_sio_client_socket *s) {
  if (!s || s->closed)
    return;
  wsio_sio_client *m = s->m;
  int was = s->state;
  if (was != S_DISCONNECTED && eio_client_is_open(m->eio)) {
    char head[300];
    size_t n = sio_packet_head(head, SIO_DISCONNECT, 0, s->nsp,
                               strlen(s->nsp) > 256 ? 256 : strlen(s->nsp), -1);
    (void)eio_client_send(m->eio, head, n, 0);
  }
  s->state = S_DISCONNECTED;
  s->active = 0;
  queue_clear(s);
  acks_fail(s, 1);
  if (was == S_CONNECTED && s->o.on_disconnect)
    s->o.on_disconnect(s, "io client disconnect", 0, s->o.user);
  s->closed = 1;
}

int wsio_sio_client_socket_connected(const wsio_sio_client_socket *s) {
  return s && !s->closed && s->state == S_CONNECTED;
}

wsio_sio_client *wsio_sio_client_socket_client(const wsio_sio_client_socket *s) {
  return s ? s->m : NULL;
}

const char *wsio_sio_client_socket_id(const wsio_sio_client_socket *s) {
  return wsio_sio_client_socket_connected(s) ? s->sid : NULL;
}

const char *wsio_sio_client_socket_pid(const wsio_sio_client_socket *s) {
  return s ? s->pid : NULL;
}

const char *wsio_sio_client_socket_offset(const wsio_sio_client_socket *s) {
  return s ? s->offset : NULL;
}

/* Builds one EVENT/ACK packet (type, ack id, event name or NULL for an ACK,
 * args JSON array) with copies of the attachments. */
static int build(const wsio_sio_client_socket *s, uint8_t type, int64_t id,
                 const char *event, const char *args, size_t len,
                 const wsio_span *bins, size_t nbins, spkt **out) {
  if (args && !len)
    len = strlen(args);
  if (!args)
    len = 0;
  if (nbins > SIO_MAX_ATTACHMENTS || (nbins && !bins))
    return WSIO_EINVAL;
  const char *inner = "";
  size_t inner_len = 0;
  if (len) {
    jscan_type t;
    if (!jscan_valid(args, len, &t) || t != JSCAN_ARRAY)
      return WSIO_EINVAL;
    if (jscan_count_placeholders(args, len, nbins) < 0)
      return WSIO_EINVAL;
    const char *a = memchr(args, '[', len), *b = args + len;
    while (b > a && b[-1] != ']')
      b--;
    inner = a + 1;
    inner_len = (size_t)(b - 1 - inner);
    while (inner_len && strchr(" \t\r\n", *inner)) {
      inner++;
      inner_len--;
    }
  }
  size_t ev_len = event ? strlen(event) : 0;
  size_t esc = event ? jscan_string_escape(NULL, 0, event, ev_len) : 0;
  size_t bin_total = 0;
  for (size_t i = 0; i < nbins; i++) {
    if (!bins[i].p && bins[i].n)
      return WSIO_EINVAL;
    bin_total += bins[i].n;
  }
  size_t cap = 40 + strlen(s->nsp) + esc + 1 + inner_len + 2;
  spkt *k = malloc(sizeof *k + cap + bin_total + 1);
  if (!k)
    return WSIO_ENOMEM;
  memset(k, 0, sizeof *k);
  if (nbins)
    type = type == SIO_EVENT ? SIO_BINARY_EVENT : SIO_BINARY_ACK;
  size_t n = sio_packet_head(k->text, type, (uint32_t)nbins, s->nsp,
                             strlen(s->nsp), id);
  k->text[n++] = '[';
  if (event)
    n += jscan_string_escape(k->text + n, cap - n, event, ev_len);
  if (event && inner_len)
    k->text[n++] = ',';
  memcpy(k->text + n, inner, inner_len);
  n += inner_len;
  k->text[n++] = ']';
  k->text_len = n;
  uint8_t *w = (uint8_t *)k->text + cap;
  for (size_t i = 0; i < nbins; i++) {
    k->bin[i] = w;
    k->bin_len[i] = bins[i].n;
    if (bins[i].n)
      memcpy(w, bins[i].p, bins[i].n);
    w += bins[i].n;
  }
  k->nbins = (uint32_t)nbins;
  k->ack_id = id;
  k->size = n + bin_total;
  *out = k;
  return 0;
}

static int buffer_push(wsio_sio_client_socket *s, spkt *k) {
  const wsio_sio_client_options *o = &s->m->o;
  if (k->size > o->queue_max_bytes) {
    free(k);
    return WSIO_EDROPPED;
  }
  while (s->qcount + 1 > o->queue_max_count ||
         s->qbytes + k->size > o->queue_max_bytes) {
    if (o->queue_drop == WSIO_QUEUE_DROP_NEWEST || !s->qhead) {
      free(k);
      return WSIO_EDROPPED;
    }
    spkt *old = s->qhead;
    if (old->ack_id >= 0) {
      sack *a = ack_take(s, old->ack_id);
      queue_remove(s, old);
      if (a) {
        a->fn(s, WSIO_EDROPPED, NULL, 0, NULL, 0, a->arg);
        free(a);
      }
    } else {
      queue_remove(s, old);
    }
  }
  if (s->qtail)
    s->qtail->next = k;
  else
    s->qhead = k;
  s->qtail = k;
  s->qbytes += k->size;
  s->qcount++;
  return 1;
}

static int emit(wsio_sio_client_socket *s, const char *event, const char *args,
                size_t len, const wsio_span *bins, size_t nbins,
                int is_volatile, uint32_t timeout_ms,
                wsio_sio_client_ack_fn fn, void *arg) {
  if (!s || s->closed || !event || !*event ||
      sio_reserved_event(event, strlen(event)))
    return WSIO_EINVAL;
  if (s->m->state == M_DONE)
    return WSIO_ECLOSED;
  int now = s->state == S_CONNECTED && eio_client_is_open(s->m->eio);
  if (is_volatile && (!now || !eio_client_writable(s->m->eio)))
    return WSIO_EDROPPED;
  int64_t id = fn ? s->next_ack++ : -1;
  spkt *k;
  int r = build(s, SIO_EVENT, id, event, args, len, bins, nbins, &k);
  if (r < 0)
    return r;
  sack *a = NULL;
  if (fn) {
    a = calloc(1, sizeof *a);
    if (!a) {
      free(k);
      return WSIO_ENOMEM;
    }
    a->s = s;
    a->id = id;
    a->fn = fn;
    a->arg = arg;
    a->timer.cb = ack_timeout;
  }
  if (now && !s->qhead) {
    r = m_send(s->m, k);
    free(k);
    if (r < 0) {
      free(a);
      return r;
    }
  } else {
    r = buffer_push(s, k);
    if (r < 0) {
      free(a);
      return r;
    }
  }
  if (a) {
    a->next = s->acks;
    s->acks = a;
    if (timeout_ms)
      (void)loop_timer_start(s->m->loop, &a->timer, timeout_ms, 0);
  }
  return r;
}

int wsio_sio_client_emit(wsio_sio_client_socket *s, const char *event,
                         const char *args, size_t len, const wsio_span *bins,
                         size_t nbins) {
  return emit(s, event, args, len, bins, nbins, 0, 0, NULL, NULL);
}

int wsio_sio_client_emit_ack(wsio_sio_client_socket *s, const char *event,
                             const char *args, size_t len,
                             const wsio_span *bins, size_t nbins,
                             uint32_t timeout_ms, wsio_sio_client_ack_fn fn,
                             void *arg) {
  if (!fn)
    return WSIO_EINVAL;
  return emit(s, event, args, len, bins, nbins, 0, timeout_ms, fn, arg);
}

int wsio_sio_client_emit_volatile(wsio_sio_client_socket *s, const char *event,
                                  const char *args, size_t len,
                                  const wsio_span *bins, size_t nbins) {
  return emit(s, event, args, len, bins, nbins, 1, 0, NULL, NULL);
}

int wsio_sio_client_ack(wsio_sio_client_socket *s, int64_t ack_id,
                        const char *args, size_t len, const wsio_span *bins,
                        size_t nbins) {
  if (!s || s->closed || ack_id < 0)
    return WSIO_EINVAL;
  if (s->state != S_CONNECTED || !eio_client_is_open(s->m->eio))
    return WSIO_ECLOSED;
  spkt *k;
  int r = build(s, SIO_ACK, ack_id, NULL, args, len, bins, nbins, &k);
  if (r < 0)
    return r;
  r = m_send(s->m, k);
  free(k);
  return r;
}
