/* eio/session.c — an Engine.IO session's life: the sid table, creation, close, the
 * linger of a closed polling session, the server-sent heartbeat, packets from the
 * client, and the loop's post phase that frees sessions and flushes polling output.
 *
 * Heartbeats are one loop timer embedded in each session (the loop's min-heap: no
 * syscall, no allocation per start), re-armed for whichever deadline comes next: the
 * ping due, the pong deadline, or (once closed) the end of the linger. Sessions are
 * freed from the post phase, never inside a callback that may still use them. Must
 * not parse HTTP requests or hold a transport's details: polling.c and websocket.c. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eio/internal.h"

/* internal.h's size note, kept true (64-bit builds). */
_Static_assert(sizeof(void *) != 8 || sizeof(struct wsio_eio_session) <= 168, "an idle session grew");

/* ---- the sid table --------------------------------------------------------------- */

wsio_eio_session *eio_session_find(const wsio_eio_server *srv, const char *sid, size_t n) {
  if (n != SID_LEN) return NULL;
  /* A sid is a bearer secret (docs/security.md): the table compares every sid a guess
   * meets in constant time (util/idmap.c), so how long a refusal takes does not depend
   * on where a guess first differs from any of them. */
  wsio_eio_session *s = idmap_get(&srv->sids, sid, n);
  return s && (s->state == S_OPEN || s->linger) ? s : NULL;
}

/* The key is the session's own sid (borrowed by the map until table_remove). */
static int table_insert(wsio_eio_server *srv, wsio_eio_session *s) {
  /* A repeated id (never seen with 120 random bits) must not replace a live session. */
  if (idmap_get(&srv->sids, s->sid, SID_LEN) || idmap_put(&srv->sids, s) < 0) return -1;
  s->next = srv->head;
  if (srv->head) srv->head->prev = s;
  srv->head = s;
  srv->count++;
  return 0;
}

static void table_remove(wsio_eio_server *srv, wsio_eio_session *s) {
  idmap_del(&srv->sids, s->sid, SID_LEN);
  if (s->prev) s->prev->next = s->next;
  else srv->head = s->next;
  if (s->next) s->next->prev = s->prev;
  s->prev = s->next = NULL;
  srv->count--;
}

/* ---- heartbeats ------------------------------------------------------------------ */

/* (Re)arms the session's one timer after_ms from now. Starting a stopped timer can fail
 * (-ENOMEM) when the loop's heap must grow; re-arming an armed one cannot. */
static int hb_arm(wsio_eio_session *s, uint32_t after_ms) {
  return loop_timer_start(core_loop(s->srv->app), &s->timer, after_ms, 0);
}

/* A ping counts as sent when it reaches the client's transport: at once on WebSocket,
 * when the GET answer carrying it is written on polling. From then the client has
 * pingTimeout to answer. */
void eio_ping_delivered(wsio_eio_session *s) {
  s->ping_queued = 0;
  s->second_look = 0;
  if (s->ping_pending && s->state == S_OPEN) hb_arm(s, s->srv->o.ping_timeout_ms);
}

/* The session's one timer: the end of a linger, a pong that did not come in time, or
 * the next ping (Node's schedulePing/resetPingTimeout, as one deadline). */
static void on_timer(loop_timer *t) {
  wsio_eio_session *s = (wsio_eio_session *)((char *)t - offsetof(wsio_eio_session, timer));
  wsio_eio_server *srv = s->srv;
  if (s->linger) {
    eio_session_bury(s);
    return;
  }
  if (s->state != S_OPEN) return;
  if (s->ping_pending) {
    /* A ping held back by us (a probe is attached and polling output waits) was never
     * delivered: the client cannot be late for it. The upgrade timeout bounds this. */
    if (s->ping_queued && s->upgrading) {
      hb_arm(s, srv->o.ping_timeout_ms);
      return;
    }
    /* Timers run before this iteration's reads (io_uring reads happen in the post
     * phase), and a connection accepted in this iteration is read in the next one: a
     * pong already sent when the deadline is found passed (in its last millisecond,
     * after a stall, or on a new long-polling POST) is read first, then eio_post
     * decides, after one more iteration when the first look finds no pong. */
    eio_post_list_add(s);
    s->expiring = 1;
    return;
  }
  s->ping_pending = 1;
  s->refreshed = 0;
  s->second_look = 0;
  s->ping_queued = !(s->transport == TRANSPORT_WEBSOCKET && s->ws);
  eio_send_packet(s, EIO_PING + '0', NULL, 0);
  /* Until it is delivered (eio_ping_delivered re-arms), a queued ping gets pingTimeout
   * from now too: a polling client that sends no GET at all is gone, as in Node. */
  if (s->state == S_OPEN && hb_arm(s, srv->o.ping_timeout_ms) < 0)
    eio_session_close(s, "transport error", CLOSE_SILENT);
}

/* ---- creation and close ---------------------------------------------------------- */

wsio_eio_session *eio_session_create(wsio_eio_server *srv, const wsio_request *req, int transport) {
  wsio_eio_session *s = calloc(1, sizeof(*s));
  if (!s) return NULL;
  s->srv = srv;
  s->transport = (uint8_t)transport;
  /* A polling session has its polling state from the start, so a GET or POST never
   * meets an allocation failure; a WebSocket-only one never needs it. */
  if (transport == TRANSPORT_POLLING && !(s->poll = calloc(1, sizeof(*s->poll)))) {
    free(s);
    return NULL;
  }
  if (random_id(s->sid) < 0) { /* no randomness: refuse the session, never guessable ids */
    free(s->poll);
    free(s);
    return NULL;
  }
  /* --threads: the sid names this thread, so its requests are brought here. */
  random_id_mark(s->sid, core_thread_index(srv->app), core_thread_count(srv->app));
  char addr[WSIO_ADDRSTRLEN];
  if (wsio_request_remote_address(req, addr, sizeof(addr)) < 0) addr[0] = '\0';
  int family = strchr(addr, ':') ? AF_INET6 : AF_INET;
  s->peer_v6 = family == AF_INET6;
  s->has_peer = inet_pton(family, addr, s->peer) == 1;
  s->timer.cb = on_timer;
  if (hb_arm(s, srv->o.ping_interval_ms) < 0) {
    free(s->poll);
    free(s);
    return NULL;
  }
  if (table_insert(srv, s) < 0) {
    loop_timer_stop(core_loop(srv->app), &s->timer);
    free(s->poll);
    free(s);
    return NULL;
  }
  srv->st.sessions_total++;
  return s;
}

/* The open packet: 0{"sid":..,"upgrades":[..],"pingInterval":..,"pingTimeout":..,"maxPayload":..} */
size_t eio_open_packet(const wsio_eio_session *s, char *out, size_t cap) {
  const wsio_eio_server *srv = s->srv;
  int can_upgrade = s->transport == TRANSPORT_POLLING && srv->o.allow_upgrades && srv->o.allow_websocket;
  int n = snprintf(out, cap, "{\"sid\":\"%s\",\"upgrades\":[%s]%s", s->sid, can_upgrade ? "\"websocket\"" : "",
                   srv->open_tail);
  return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* Out of the table and onto the graveyard: freed by the next post phase. */
void eio_session_bury(wsio_eio_session *s) {
  wsio_eio_server *srv = s->srv;
  table_remove(srv, s);
  loop_timer_stop(core_loop(srv->app), &s->timer);
  s->linger = 0;
  if (s->drain_hold) {
    s->drain_hold = 0;
    app_drain_hold(srv->app, -1);
  }
  s->prev = srv->grave; /* (table_remove took it off the session list) */
  srv->grave = s;
}

/* While stopping, a session told its close holds the drain EIO_STOP_TOLD_GRACE_MS more,
 * its sid known: a POST the client sent before it read the close packet is answered
 * "ok" (server.c), not 400 or a reset connection, either of which the client may read
 * first and report as a transport error. The linger's timer ends the wait (once: a
 * client that polls again is told again, not waited for again). */
static void told_grace(wsio_eio_session *s) {
  wsio_eio_server *srv = s->srv;
  if (s->told) return;
  if (hb_arm(s, EIO_STOP_TOLD_GRACE_MS) < 0) {
    eio_session_bury(s);
    return;
  }
  s->told = 1;
  if (!s->drain_hold) {
    s->drain_hold = 1;
    app_drain_hold(srv->app, 1);
  }
}

/* The close packet went out to a lingering session: buried, or while stopping kept for
 * the racing POSTs (told_grace). */
void eio_session_told(wsio_eio_session *s) {
  if (!app_stopping(s->srv->app)) {
    eio_session_bury(s);
    return;
  }
  told_grace(s);
}

/* Ends the session: the close callback runs once, transports are let go, and the
 * struct is freed from the post phase. With CLOSE_AFTER_QUEUE a polling client gets
 * a close packet after what is still queued, as Node does (queued packets go out
 * with the current or next GET, the close packet with the one after: the session
 * lingers until then). With CLOSE_NOW (a ping timeout) only a GET that is waiting
 * gets the close packet, and the next request finds the sid unknown, as in Node. */
void eio_session_close(wsio_eio_session *s, const char *reason, int how) {
  if (s->state != S_OPEN) return;
  wsio_eio_server *srv = s->srv;
  eio_release_held(srv); /* a held broadcast was emitted before this close */
  if (s->state != S_OPEN) return; /* (its send failed the session) */
  s->state = S_CLOSED;
  loop_timer_stop(core_loop(srv->app), &s->timer);
  int linger = 0, told = 0, waits_close = 0;
  if (how == CLOSE_NOW && s->transport == TRANSPORT_POLLING && !s->ws && eio_get(s)) {
    eio_queue_text(s, EIO_CLOSE + '0', NULL, 0);
  } else if (how == CLOSE_AFTER_QUEUE && s->transport == TRANSPORT_POLLING && !s->ws) {
    if (eio_out_len(s)) {
      /* Queued packets (acknowledged to their senders, maybe) go out with the current
       * or next GET, the close packet with the one after: socket.io-client drops the
       * packets that share a payload with the close packet (it emits them a tick
       * later, after the close). Stopping too: the drain waits for those GETs
       * (app_drain_hold). */
      linger = 1;
      eio_answer_get(s, 0);
    } else {
      eio_queue_text(s, EIO_CLOSE + '0', NULL, 0);
      /* No GET to take the close packet now (the client is between two polls, or its
       * POST is on the way): it waits for the next one, as Node's polling transport
       * buffers an orderly close (shouldClose). Burying the session here would answer
       * that GET 400 "Session ID unknown" and the client would report a transport
       * error, not the close; while stopping, the drain waits for that GET too. */
      told = eio_get(s) != NULL;
      linger = !told || app_stopping(srv->app);
      waits_close = !told;
    }
  }
  eio_answer_get(s, 0); /* (nothing without a held GET) */
  if (s->ws) { /* Node closes a WebSocket transport without a close packet */
    eio_ws_detach(s->ws);
    if (app_stopping(srv->app)) wsio_conn_close(s->ws, WSIO_CLOSE_GOING_AWAY, "server shutting down");
    else wsio_conn_close(s->ws, WSIO_CLOSE_NORMAL, NULL);
    s->ws = NULL;
  }
  eio_probe_end(s, 1);
  if (s->ip_counted) { /* the client is gone: its place is free (a lingering GET is not a connection) */
    s->ip_counted = 0;
    core_limit_session_close(srv->app, eio_session_family(s), s->peer);
  }
  if (srv->h.close) srv->h.close(s, reason, srv->user);
  /* The linger ends with the next GET, or pingTimeout from now (the timer). A stop
   * waits less for a GET that brings only the close packet: a polling client asks again
   * as soon as it has read an answer, so one that has not come within the grace has
   * stopped polling (a handshake and nothing after), and it must not hold the exit. */
  uint32_t ms = srv->o.ping_timeout_ms;
  if (waits_close && app_stopping(srv->app) && ms > EIO_STOP_CLOSE_GRACE_MS) ms = EIO_STOP_CLOSE_GRACE_MS;
  if (linger && told) { /* (linger with told: stopping) */
    s->linger = 1;
    told_grace(s);
  } else if (linger && hb_arm(s, ms) == 0) {
    s->linger = 1;
    if (app_stopping(srv->app)) {
      s->drain_hold = 1;
      app_drain_hold(srv->app, 1);
    }
  } else {
    eio_session_bury(s);
  }
}

/* ---- packets both ways ----------------------------------------------------------- */

void eio_on_packet(wsio_eio_session *s, const eio_packet *p) {
  wsio_eio_server *srv = s->srv;
  /* Node (engine.io socket.ts): the first other packet while a pong is awaited gives
   * the client pingTimeout again (a busy client's pong may sit behind its data). */
  if (s->ping_pending && !s->refreshed && p->type != EIO_PONG) {
    s->refreshed = 1;
    s->second_look = 0;
    hb_arm(s, srv->o.ping_timeout_ms);
  }
  switch (p->type) {
    case EIO_MESSAGE:
      if (p->len > srv->o.max_payload) {
        eio_session_close(s, "transport error", CLOSE_SILENT);
        return;
      }
      srv->st.messages_in_total++;
      if (core_quiescing(srv->app)) return; /* --threads stop barrier: not taken (core/threads.c) */
      if (srv->h.message) srv->h.message(s, p->data, p->len, p->binary, srv->user);
      return;
    case EIO_PONG:
      /* Node refreshes the ping interval on a pong: the next ping is pingInterval later. */
      s->ping_pending = 0;
      if (hb_arm(s, srv->o.ping_interval_ms) < 0) eio_session_close(s, "transport error", CLOSE_SILENT);
      return;
    case EIO_CLOSE: eio_session_close(s, "transport close", CLOSE_SILENT); return;
    case EIO_PING: eio_session_close(s, "transport error", CLOSE_SILENT); return; /* invalid heartbeat direction */
    default: return; /* upgrade/noop outside an upgrade: ignored, as Node does */
  }
}

void eio_send_packet(wsio_eio_session *s, char type, const char *data, size_t len) {
  int was = s->state;
  eio_release_held(s->srv);
  if (s->state != was) return; /* the held packets' send failed this session */
  if (s->transport == TRANSPORT_WEBSOCKET && s->ws) {
    eio_ws_send(s, WSIO_OP_TEXT, &type, 1, data, len);
    return;
  }
  eio_queue_text(s, type, (const uint8_t *)data, len);
}

int wsio_eio_send(wsio_eio_session *s, const void *data, size_t len, int binary) {
  eio_release_held(s->srv);
  if (s->state != S_OPEN) return WSIO_ECLOSED;
  s->srv->st.messages_out_total++;
  if (s->transport == TRANSPORT_WEBSOCKET && s->ws) {
    int st = binary ? eio_ws_send(s, WSIO_OP_BINARY, NULL, 0, data, len)
                    : eio_ws_send(s, WSIO_OP_TEXT, "4", 1, data, len);
    return st < 0 ? WSIO_ECLOSED : 0; /* (over its cap: closed in the post phase) */
  }
  return binary ? eio_queue_binary(s, data, len) : eio_queue_text(s, '4', data, len);
}

void wsio_eio_close(wsio_eio_session *s) { eio_session_close(s, "forced close", CLOSE_AFTER_QUEUE); }

/* ---- the post phase -------------------------------------------------------------- */

void eio_post(void *arg) {
  wsio_eio_server *srv = arg;
  eio_release_held(srv); /* (Socket.IO's post hook, which runs first, sent them already) */
  while (srv->dirty) {
    wsio_eio_session *s = srv->dirty;
    srv->dirty = s->dnext;
    s->dnext = NULL;
    int expiring = s->expiring;
    s->dirty = s->expiring = 0;
    /* Still no pong, and no other packet re-armed the deadline: Node's "ping timeout",
     * on the second look (1 ms later: the next iteration's reads came in between). */
    if (expiring && s->state == S_OPEN && s->ping_pending && !loop_timer_active(&s->timer)) {
      if (!s->second_look && hb_arm(s, 1) == 0) {
        s->second_look = 1;
      } else {
        srv->st.ping_timeouts_total++;
        eio_session_close(s, "ping timeout", CLOSE_NOW);
      }
    }
    if (s->over_cap && s->state == S_OPEN) {
      if (s->transport == TRANSPORT_WEBSOCKET && s->ws) { /* its close logs and counts */
        ws_close_missed(s->ws, 0); /* (before eio_session_close's 1000) */
      } else {
        char addr[WSIO_ADDRSTRLEN];
        srv->st.polling_buffer_closes_total++;
        app_log(srv->app, WSIO_LOG_INFO, "closing Engine.IO session of %s: its pending output went over %zu bytes (--max-polling-buffer: the client stopped polling)",
                wsio_eio_session_remote_address(s, addr, sizeof(addr)) > 0 ? addr : "?", srv->o.max_polling_buffer);
      }
      eio_session_close(s, "transport error", CLOSE_SILENT);
      continue;
    }
    if (s->state == S_OPEN && eio_get(s) && !s->upgrading && eio_out_len(s)) eio_answer_get(s, 0);
  }
  while (srv->grave) {
    wsio_eio_session *s = srv->grave;
    srv->grave = s->prev;
    if (s->poll) byte_buf_free(&s->poll->out);
    free(s->poll);
    free(s);
  }
}
