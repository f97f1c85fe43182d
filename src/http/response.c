/* http/response.c — response-head formatting (see response.h). */
#include "http/response.h"

#include <stdio.h>

const char *http_status_text(int s) {
  switch (s) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

size_t http_format_head(char *out, size_t cap, int status, const char *content_type,
                        size_t content_length, const char *extra, int keep_alive) {
  /* RFC 9110 8.6: no Content-Length on 1xx; on 304 it would have to be the 200's
   * length, so it is left out. 204 keeps "Content-Length: 0": Node's CORS preflight
   * answers carry it and clients written against Node may look for it. */
  int no_length = status < 200 || status == 304;
  char len[40] = "";
  if (!no_length) snprintf(len, sizeof(len), "Content-Length: %zu\r\n", content_length);
  int n = snprintf(out, cap, "HTTP/1.1 %d %s\r\n%s%s%s%s%s%s\r\n", status, http_status_text(status),
                   content_type && !no_length ? "Content-Type: " : "", content_type && !no_length ? content_type : "",
                   content_type && !no_length ? "\r\n" : "", len, keep_alive ? "" : "Connection: close\r\n",
                   extra ? extra : "");
  if (n < 0 || (size_t)n >= cap) return 0;
  return (size_t)n;
}
