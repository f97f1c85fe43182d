/* Unit tests for http/response.c: exact response heads, the Content-Length rules
 * (none on 1xx and 304; kept on 204) and the size contract. */
#include "http/response.h"
#include "test.h"

static void check_head(int status, const char *type, size_t len, const char *extra, int keep, const char *want) {
  char out[512];
  size_t n = http_format_head(out, sizeof(out), status, type, len, extra, keep);
  CHECK_EQ_INT(n, strlen(want));
  CHECK_STR(out, want);
}

static void test_heads(void) {
  check_head(200, "text/plain", 3, NULL, 1, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n");
  check_head(404, "text/plain; charset=utf-8", 10, NULL, 0,
             "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 10\r\n"
             "Connection: close\r\n\r\n");
  check_head(426, NULL, 0, "Sec-WebSocket-Version: 13\r\n", 0,
             "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\nConnection: close\r\n"
             "Sec-WebSocket-Version: 13\r\n\r\n");
  check_head(304, "text/html", 1234, "ETag: W/\"1\"\r\n", 1, "HTTP/1.1 304 Not Modified\r\nETag: W/\"1\"\r\n\r\n");
  check_head(204, NULL, 0, NULL, 1, "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
  check_head(101, NULL, 0, "Upgrade: websocket\r\n", 1, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
  /* 200's status line is one copy (every long-poll answer); others are built. */
  check_head(200, "text/plain; charset=UTF-8", 1, "Cache-Control: no-store\r\n", 1,
             "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: 1\r\n"
             "Cache-Control: no-store\r\n\r\n");
  check_head(200, NULL, 0, NULL, 0, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  check_head(206, "text/plain", 7, NULL, 0,
             "HTTP/1.1 206 Partial Content\r\nContent-Type: text/plain\r\nContent-Length: 7\r\nConnection: close\r\n\r\n");
  check_head(299, NULL, 18446744073709551615ull, NULL, 1,
             "HTTP/1.1 299 Unknown\r\nContent-Length: 18446744073709551615\r\n\r\n");
}

static void test_capacity(void) {
  const char *want = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
  char out[64];
  size_t need = strlen(want);
  CHECK_EQ_INT(http_format_head(out, need, 200, NULL, 2, NULL, 1), 0); /* no room for the NUL */
  CHECK_EQ_INT(http_format_head(out, need + 1, 200, NULL, 2, NULL, 1), need);
  CHECK_STR(out, want);
  CHECK_EQ_INT(http_format_head(out, 5, 200, NULL, 2, NULL, 1), 0);
  CHECK_EQ_INT(http_format_head(out, sizeof(out), 42, NULL, 2, NULL, 1), 0); /* not a status */
}

static void test_status_texts(void) {
  /* Every status the library can send has its RFC 9110 phrase (a status sent as
   * "Unknown" would be a typo in a table entry or a missing case). */
  static const struct {
    int code;
    const char *text;
  } all[] = {{101, "Switching Protocols"}, {200, "OK"}, {204, "No Content"}, {206, "Partial Content"},
             {301, "Moved Permanently"}, {302, "Found"}, {304, "Not Modified"}, {400, "Bad Request"},
             {401, "Unauthorized"}, {403, "Forbidden"}, {404, "Not Found"}, {405, "Method Not Allowed"},
             {408, "Request Timeout"}, {411, "Length Required"}, {413, "Content Too Large"},
             {414, "URI Too Long"}, {426, "Upgrade Required"}, {429, "Too Many Requests"},
             {431, "Request Header Fields Too Large"}, {500, "Internal Server Error"},
             {501, "Not Implemented"}, {502, "Bad Gateway"}, {503, "Service Unavailable"},
             {505, "HTTP Version Not Supported"}};
  for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) CHECK_STR(http_status_text(all[i].code), all[i].text);
  CHECK_STR(http_status_text(418), "Unknown");
  CHECK_STR(http_status_text(0), "Unknown");
}

int main(void) {
  RUN(test_heads);
  RUN(test_capacity);
  RUN(test_status_texts);
  return test_report();
}
