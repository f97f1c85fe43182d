/* client/resolve.h — host name resolution for the client role that never blocks
 * the loop.
 *
 * Owns: one getaddrinfo call per request, run on a short-lived detached thread,
 * and its result handed back to the loop's thread with loop_post. Must not:
 * touch a connection (the caller connects to what it gets) or call back after a
 * cancel.
 *
 * Why a thread and not getaddrinfo_a: glibc's getaddrinfo_a runs the same
 * blocking call on a thread of its own and reports by signal or by a thread of
 * its own too, with global state; a plain thread per lookup is as cheap
 * (lookups happen per connection attempt, not per message) and its result comes
 * back through the loop's own cross-thread queue. A numeric host (an IPv4 or
 * IPv6 literal) is converted at once, without a thread. */
#ifndef WSIO_CLIENT_RESOLVE_H
#define WSIO_CLIENT_RESOLVE_H

#include <sys/socket.h>

#include "loop/loop.h"

#define CLIENT_RESOLVE_MAX 4

/* The first addresses of a host, in getaddrinfo's order. */
typedef struct {
  struct sockaddr_storage addr[CLIENT_RESOLVE_MAX];
  socklen_t len[CLIENT_RESOLVE_MAX];
  unsigned n;
} client_addrs;

/* 1 and *out filled when host is an IP literal (then nothing else is needed),
 * else 0. */
int client_resolve_numeric(const char *host, const char *port,
                           client_addrs *out);

/* The result, on the loop's thread: err 0 and the addresses (at least one), or
 * err a negative WSIO_E* with why, a sentence ("cannot resolve example.invalid:
 * Name or service not known"). Both borrowed for the call. */
typedef void (*client_resolve_fn)(void *user, int err, const char *why,
                                  const client_addrs *a);

typedef struct client_resolve client_resolve;

/* Starts resolving host:port (copied). cb(user, ...) runs later on l's thread,
 * never inside this call, unless client_resolve_cancel comes first. Returns the
 * request, or NULL when no thread or memory could be had (nothing will be
 * called then). */
client_resolve *client_resolve_start(loop *l, const char *host,
                                     const char *port, client_resolve_fn cb,
                                     void *user);

/* On the loop's thread: the callback will not run; the request's memory is
 * released by whichever side finishes last. The request pointer is invalid
 * afterwards. */
void client_resolve_cancel(client_resolve *r);

/* Test hook: each lookup's thread sleeps this long first (a slow DNS server).
 */
extern unsigned client_resolve_test_delay_ms;

#endif
