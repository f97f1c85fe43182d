/* app/cluster.c — wsio-server's --redis options: parses the Redis URL and joins the
 * app's Socket.IO server to the cluster (src/adapter). Without --redis, nothing: the
 * server is a single node and needs no Redis. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/apps.h"
#include "app/log.h"

static void cluster_log(int level, const char *msg, void *user) {
  (void)user;
  int l = level == WSIO_LOG_ERROR ? LOG_ERROR : level == WSIO_LOG_WARN ? LOG_WARN : level == WSIO_LOG_INFO ? LOG_INFO : LOG_DEBUG;
  log_msg(l, "%s", msg);
}

int cluster_parse_url(const char *url, cluster_url *out) {
  memset(out, 0, sizeof(*out));
  out->port = 6379;
  const char *p;
  if (strncmp(url, "redis://", 8) == 0) p = url + 8;
  else if (strncmp(url, "rediss://", 9) == 0) p = url + 9, out->tls = 1;
  else return -1;
  size_t len = strlen(p);
  if (len >= sizeof(out->buf)) return -1;
  memcpy(out->buf, p, len + 1);
  char *s = out->buf;
  char *at = strrchr(s, '@');
  if (at) {
    *at = '\0';
    char *colon = strchr(s, ':');
    if (colon) {
      *colon = '\0';
      out->user = s[0] ? s : NULL;
      out->password = colon + 1;
    } else {
      out->password = s; /* redis://secret@host */
    }
    s = at + 1;
  }
  char *slash = strchr(s, '/');
  if (slash) {
    *slash = '\0';
    if (slash[1]) {
      char *end;
      long db = strtol(slash + 1, &end, 10);
      if (*end || db < 0 || db > 1000000) return -1;
      out->db = (int)db;
    }
  }
  char *port = NULL;
  if (s[0] == '[') { /* [::1]:6379 */
    char *close = strchr(s, ']');
    if (!close) return -1;
    *close = '\0';
    out->host = s + 1;
    if (close[1] == ':') port = close + 2;
    else if (close[1]) return -1;
  } else {
    char *colon = strrchr(s, ':');
    if (colon) {
      *colon = '\0';
      port = colon + 1;
    }
    out->host = s;
  }
  if (!out->host[0]) out->host = "127.0.0.1";
  if (port) {
    char *end;
    long n = strtol(port, &end, 10);
    if (*end || n <= 0 || n > 65535) return -1;
    out->port = (int)n;
  }
  return 0;
}

int app_cluster_attach(wsio_sio *io, const server_config *cfg) {
  if (!cfg->redis_url) return 0;
  cluster_url u;
  if (cluster_parse_url(cfg->redis_url, &u) < 0) {
    log_msg(LOG_ERROR, "--redis: cannot read the URL '%s' (redis[s]://[user:pass@]host:port[/db])", cfg->redis_url);
    return -1;
  }
  wsio_sio_redis_options o;
  wsio_sio_redis_options_init(&o);
  o.host = u.host;
  o.port = u.port;
  o.user = u.user;
  o.password = u.password;
  o.db = u.db;
  if (cfg->redis_key_prefix) o.key_prefix = cfg->redis_key_prefix;
  if (cfg->redis_request_timeout_ms) o.request_timeout_ms = cfg->redis_request_timeout_ms;
  o.log = cluster_log;
  o.sharded = cfg->redis_sharded;
  o.streams = cfg->redis_streams;
  o.subscription_mode = cfg->redis_subscription_mode;
  o.stream_name = cfg->redis_stream_name;
  o.session_key_prefix = cfg->redis_session_key_prefix;
  o.stream_max_len = cfg->redis_stream_max_len;
  o.tls = u.tls;
  o.tls_ca_file = cfg->redis_tls_ca;
  o.tls_insecure = cfg->redis_tls_insecure;
  o.tls_cert_file = cfg->redis_tls_cert;
  o.tls_key_file = cfg->redis_tls_key;
  if (!u.tls && (cfg->redis_tls_cert || cfg->redis_tls_ca))
    log_msg(LOG_WARN, "--redis-tls-ca, --redis-tls-cert, --redis-tls-key: not used, --redis is redis:// (plain TCP, "
                      "unencrypted); rediss:// for TLS");
  int r = wsio_sio_use_redis(io, &o);
  if (r < 0) {
    log_msg(LOG_ERROR, "--redis %s: %s", cfg->redis_url, r == WSIO_EINVAL ? (u.tls ? "cannot resolve the host, or TLS cannot be set up (above)" : "cannot resolve the host") : wsio_strerror(r));
    return -1;
  }
  log_msg(LOG_INFO, "cluster: Redis %s adapter, %s:%d%s, key prefix %s",
          o.streams ? "streams" : o.sharded ? "sharded pub/sub" : "pub/sub", u.host, u.port,
          !u.tls                ? ""
          : o.tls_insecure      ? (o.tls_cert_file ? " (TLS, not verified, client certificate)" : " (TLS, not verified)")
          : o.tls_cert_file     ? " (TLS, client certificate)"
                                : " (TLS)",
          o.key_prefix);
  return 0;
}
