// uws-cpp/main.cpp: the C++ uWebSockets peer for bench/run.sh: /echo echoes each message
// with its opcode, /broadcast publishes each message to every /broadcast socket (sender
// included). Usage: uws-server PORT (0 picks one); prints "listening on 127.0.0.1:PORT".
// Built with -DUWS_BENCH_SSL (build.sh's uws-server-ssl) it serves wss:// with the PEM
// certificate and key named by the TLS_CERT and TLS_KEY environment variables.
// THREADS=N (bench/scaling.sh): N apps on N threads, each with its own event loop and
// listening socket on the same port (uSockets sets SO_REUSEPORT, the kernel spreads the
// connections), the way uWebSockets' own examples use every core; /broadcast then
// reaches the sockets of the publisher's thread only.
#include "App.h"
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <thread>
#include <vector>
#ifndef UWS_BENCH_SSL
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

// A port nobody listens on now: uSockets sets SO_REUSEPORT only on a port given, not
// on port 0, so the threads need one number before the first binds.
static int free_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t n = sizeof(a);
    int p = fd >= 0 && bind(fd, (sockaddr *) &a, sizeof(a)) == 0 && getsockname(fd, (sockaddr *) &a, &n) == 0
                ? ntohs(a.sin_port) : 0;
    if (fd >= 0) close(fd);
    return p;
}
#endif

struct PerSocket {};

// port: 0 picks one; *bound (when not null) gets the port once listening.
template <class APP> static void serve(APP &app, int port, std::promise<int> *bound = nullptr) {
    app.template ws<PerSocket>("/echo", {
        .compression = uWS::DISABLED,
        .maxPayloadLength = 16 * 1024 * 1024,
        .message = [](auto *ws, std::string_view msg, uWS::OpCode op) { ws->send(msg, op); },
    }).template ws<PerSocket>("/broadcast", {
        .compression = uWS::DISABLED,
        .maxPayloadLength = 16 * 1024 * 1024,
        .open = [](auto *ws) { ws->subscribe("broadcast"); },
        .message = [&app](auto *, std::string_view msg, uWS::OpCode op) { app.publish("broadcast", msg, op); },
    }).listen("127.0.0.1", port, [bound](auto *ls) {
        if (!ls) { fprintf(stderr, "uws-server: listen failed\n"); exit(1); }
        int p = us_socket_local_port(0, (us_socket_t *) ls);
        if (bound) bound->set_value(p);
        else fprintf(stderr, "listening on 127.0.0.1:%d\n", p);
    }).run();
}

int main(int argc, char **argv) {
    /* uSockets sends with MSG_NOSIGNAL but writes a large message's header and payload
     * with writev(), which has no such flag: a client that resets its connection while
     * one is owed (the load generator ending a 16 KiB echo run) killed this server with
     * SIGPIPE. (wsio-server passes MSG_NOSIGNAL on every send and sendmsg.) */
    std::signal(SIGPIPE, SIG_IGN);
    int port = argc > 1 ? atoi(argv[1]) : 9001;
#ifdef UWS_BENCH_SSL
    const char *cert = getenv("TLS_CERT"), *key = getenv("TLS_KEY");
    if (!cert || !key) { fprintf(stderr, "uws-server: set TLS_CERT and TLS_KEY\n"); return 2; }
    uWS::SSLApp app({.key_file_name = key, .cert_file_name = cert});
    if (app.constructorFailed()) { fprintf(stderr, "uws-server: the certificate or key did not load\n"); return 2; }
    serve(app, port);
#else
    int threads = getenv("THREADS") ? atoi(getenv("THREADS")) : 1;
    if (threads <= 1) {
        uWS::App app;
        serve(app, port);
        return 0;
    }
    // Every thread binds the same port (with SO_REUSEPORT), one after the other.
    std::vector<std::promise<int>> bound(threads);
    std::vector<std::thread> all;
    int p = port ? port : free_port();
    for (int i = 0; i < threads; i++) {
        all.emplace_back([p, b = &bound[i]] { uWS::App app; serve(app, p, b); });
        bound[i].get_future().get();
    }
    fprintf(stderr, "listening on 127.0.0.1:%d (%d threads)\n", p, threads);
    for (auto &t : all) t.join();
#endif
    return 0;
}
