/* What an idle connection costs the server's heap, per structure (docs/capacity.md,
 * "where an idle connection's bytes go"): an idle raw WebSocket is one wsio_conn (with
 * the Engine.IO route's 8 bytes of user data when Socket.IO is attached), an idle
 * Socket.IO client adds an Engine.IO session, a sio_client holding its query string and
 * a socket. Each must stay within the malloc chunk it was cut to, or the budgets of
 * issue 17 (256 B and 640 B of RSS per connection at 10,000) are lost again: a field
 * added here needs a measurement (bench/capacity.sh) and a new budget. */
#include <stddef.h>
#include <stdint.h>

#include "core/conn.h"
#include "eio/internal.h"
#include "sio/internal.h"
#include "test.h"

/* glibc malloc: a chunk is the request plus an 8-byte header, rounded up to 16. */
static size_t chunk(size_t n) { return (n + 8 + 15) & ~(size_t)15; }

static void test_raw_websocket(void) {
  CHECK(sizeof(net_conn) <= 104);
  CHECK(sizeof(struct wsio_conn) <= 192);
  /* Engine.IO's WebSocket route gives every connection of the app 8 bytes of user data. */
  CHECK(chunk(sizeof(struct wsio_conn) + 8) <= 208);
  CHECK(chunk(sizeof(struct wsio_conn)) <= 208);
  CHECK(offsetof(struct wsio_conn, user) % 16 == 0); /* user data stays 16-aligned */
}

static void test_socketio_client(void) {
  CHECK(chunk(sizeof(struct wsio_eio_session)) <= 128);
  CHECK(chunk(sizeof(struct wsio_sio_socket)) <= 96);
  /* socket.io-client's websocket transport sends "EIO=4&transport=websocket". */
  CHECK(chunk(offsetof(sio_client, text) + sizeof("EIO=4&transport=websocket")) <= 96);
}

int main(void) {
  RUN(test_raw_websocket);
  RUN(test_socketio_client);
  return test_report();
}
