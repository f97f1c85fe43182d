// uws-cpp/main.cpp: the C++ uWebSockets peer for bench/run.sh: /echo echoes each message
// with its opcode, /broadcast publishes each message to every /broadcast socket (sender
// included). Usage: uws-server PORT (0 picks one); prints "listening on 127.0.0.1:PORT".
// Built with -DUWS_BENCH_SSL (build.sh's uws-server-ssl) it serves wss:// with the PEM
// certificate and key named by the TLS_CERT and TLS_KEY environment variables.
#include "App.h"
#include <cstdio>
#include <cstdlib>

struct PerSocket {};

template <class APP> static void serve(APP &app, int port) {
    app.template ws<PerSocket>("/echo", {
        .compression = uWS::DISABLED,
        .maxPayloadLength = 16 * 1024 * 1024,
        .message = [](auto *ws, std::string_view msg, uWS::OpCode op) { ws->send(msg, op); },
    }).template ws<PerSocket>("/broadcast", {
        .compression = uWS::DISABLED,
        .maxPayloadLength = 16 * 1024 * 1024,
        .open = [](auto *ws) { ws->subscribe("broadcast"); },
        .message = [&app](auto *, std::string_view msg, uWS::OpCode op) { app.publish("broadcast", msg, op); },
    }).listen("127.0.0.1", port, [](auto *ls) {
        if (!ls) { fprintf(stderr, "uws-server: listen failed\n"); exit(1); }
        fprintf(stderr, "listening on 127.0.0.1:%d\n", us_socket_local_port(0, (us_socket_t *) ls));
    }).run();
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 9001;
#ifdef UWS_BENCH_SSL
    const char *cert = getenv("TLS_CERT"), *key = getenv("TLS_KEY");
    if (!cert || !key) { fprintf(stderr, "uws-server: set TLS_CERT and TLS_KEY\n"); return 2; }
    uWS::SSLApp app({.key_file_name = key, .cert_file_name = cert});
    if (app.constructorFailed()) { fprintf(stderr, "uws-server: the certificate or key did not load\n"); return 2; }
#else
    uWS::App app;
#endif
    serve(app, port);
}
