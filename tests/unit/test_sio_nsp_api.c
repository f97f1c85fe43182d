/* tests/unit/test_sio_nsp_api.c — the namespace half of include/wsio/sio.h without a
 * client: Node's io.of("chat") naming ("/chat", the same namespace either way), names
 * too long to name, handler registration (a later one replaces an earlier), the
 * callbacks' setters, the counts and lookups of an empty namespace, and everything
 * freed with the app (ASan build). */
#include <string.h>

#include "test.h"
#include "wsio.h"

static void on_ev(wsio_sio_socket *s, const char *event, const wsio_sio_args *a, wsio_sio_ack ack, void *user) {
  (void)s;
  (void)event;
  (void)a;
  (void)ack;
  (void)user;
}
static void on_disc(wsio_sio_socket *s, const char *reason, void *user) {
  (void)s;
  (void)reason;
  (void)user;
}

static void test_namespaces(void) {
  wsio_app_options o;
  wsio_app_options_init(&o);
  o.io_uring = 0;
  o.handle_signals = 0;
  wsio_app *app = wsio_app_create(&o);
  CHECK(app != NULL);
  wsio_sio_options so;
  wsio_sio_options_init(&so);
  wsio_sio *io = wsio_sio_attach(app, &so);
  CHECK(io != NULL);
  wsio_sio_nsp *chat = wsio_sio_of(io, "chat");
  CHECK(chat != NULL);
  CHECK_STR(wsio_sio_nsp_name(chat), "/chat");
  CHECK(wsio_sio_of(io, "/chat") == chat);
  CHECK(wsio_sio_nsp_server(chat) == io);
  CHECK(wsio_sio_of(io, "/") != chat);
  char longname[300];
  memset(longname, 'n', sizeof(longname) - 1);
  longname[sizeof(longname) - 1] = 0;
  CHECK(wsio_sio_of(io, longname) == NULL); /* no room for its leading '/' */
  CHECK(wsio_sio_of(NULL, "chat") == NULL);
  CHECK(wsio_sio_of(io, NULL) == NULL);

  CHECK_EQ_INT(wsio_sio_nsp_on(chat, "msg", on_ev, NULL), 0);
  CHECK_EQ_INT(wsio_sio_nsp_on(chat, "msg", on_ev, chat), 0); /* replaced, not added */
  wsio_sio_nsp_on_any(chat, on_ev, NULL);
  wsio_sio_nsp_on_any(NULL, on_ev, NULL);
  wsio_sio_nsp_on_disconnect(chat, on_disc, NULL);
  wsio_sio_nsp_on_disconnect(NULL, on_disc, NULL);

  CHECK_EQ_INT(wsio_sio_nsp_num_sockets(chat), 0);
  CHECK_EQ_INT(wsio_sio_nsp_num_rooms(chat), 0);
  CHECK(wsio_sio_nsp_socket(chat, "short") == NULL);
  CHECK(wsio_sio_nsp_socket(chat, "AAAAAAAAAAAAAAAAAAAA") == NULL); /* 20 chars, unknown */
  CHECK(wsio_sio_nsp_socket(NULL, "AAAAAAAAAAAAAAAAAAAA") == NULL);
  wsio_app_destroy(app);
}

int main(void) {
  RUN(test_namespaces);
  return test_report();
}
