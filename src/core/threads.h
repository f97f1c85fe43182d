/* core/threads.h — core's own side of core/threads.c (a group of apps, one per thread):
 * what app.c and pubsub.c call. The layers above use core/transport.h's core_xt_*. */
#ifndef WSIO_CORE_THREADS_H
#define WSIO_CORE_THREADS_H

#include "core/transport.h"
#include "http/parser.h"

/* The port a member listens on: the group's port when port is 0 and an earlier member
 * listened already (so --port 0 gives every thread the same ephemeral port). */
int threads_listen_port(const wsio_app *app, int port, int plain);
/* A grouped member's listener on host:port (see threads.c "listening": one socket
 * for the group by default). NULL with errno set. */
struct net_listener *threads_listen(wsio_app *app, const char *host, int port, int plain);
/* Whether this member listens (all but thread 0 do not in the acceptor experiment). */
int threads_listens(const wsio_app *app);
/* Acceptor experiment: a connection thread 0 accepted may be handed to another thread
 * in the post phase. listener_user threads_adopted marks one adopted from elsewhere. */
extern void *const threads_adopted;
void threads_accepted(wsio_app *app, wsio_conn *c, void *listener_user);
/* The start of the post phase, before anything is read or reaped: hands them over. */
void threads_hand_accepted(wsio_app *app);
/* Records the first member's port. */
void threads_listened(wsio_app *app, int port, int plain);
/* A graceful stop began here: every other member stops too (SIGTERM drains all). */
void threads_stop_peers(wsio_app *app);
/* A stop was asked: 1 when this member may begin it now (alone: always), 0 while it
 * waits for its peers' stop marks (see threads.c: the stop barrier). Call again from
 * the post phase until 1. */
int threads_may_stop(wsio_app *app);
/* What is left of the drain timeout for the drain itself once the barrier is passed:
 * the whole stop ends o.shutdown_timeout_ms after its request (alone: all of it). */
unsigned threads_stop_left_ms(const wsio_app *app);
/* A member's drain hold (app_drain_hold) counted for the group too; delta -1 at the
 * start of a member's graceful stop releases the hold its join took. */
void threads_drain_hold(wsio_app *app, int delta);
/* The clients the drain still waits for: the group's holds, or alone the app's own. */
unsigned threads_drain_holds(const wsio_app *app);
/* SIGHUP reached thread 0: every other thread reloads the TLS certificate on its own
 * loop (its net context is its own). */
void threads_reload_peers(wsio_app *app);
/* The post phase, after reaping: hands each peer this iteration's messages in one
 * batch, and balances the accepts over the group (threads.c "listening"). */
void threads_flush(wsio_app *app);
/* Whether messages to the other threads wait for threads_flush (a callback run by the
 * post phase's own flush queued them). */
int threads_pending(const wsio_app *app);
/* A topic publish for the subscribers of the other threads. */
int threads_publish(wsio_app *app, const char *topic, const void *data, size_t len, wsio_opcode op);
/* Open WebSockets of the whole group (max_connections holds for the process). Other
 * threads' counts are read as they stand: two threads admitting at the same moment
 * may pass the cap by one each. */
uint64_t threads_ws_open(const wsio_app *app);
/* The thread owning request h when it is another one (core_owner_add), else -1. */
int threads_owner(wsio_app *app, const http_request *h);
/* Hands connection c and the bytes p[0..n) it has read (from the start of the current
 * request) to thread `to`; c is dead here afterwards (or, while it still owes bytes
 * to the kernel, moves at the start of a later post phase). Returns 0, or a negative
 * WSIO_E* when it cannot move: then serve it here. */
int threads_handoff(wsio_conn *c, unsigned to, const void *p, size_t n);
/* Bytes for a CONN_MOVING connection: they go with it. */
void threads_keep(wsio_conn *c, const uint8_t *p, size_t n);
/* A connection is freed: it no longer waits to be handed over. */
void threads_forget(wsio_conn *c);
/* wsio_app_destroy: frees the outboxes; the group goes with its last member. */
void threads_free(wsio_app *app);

#endif
