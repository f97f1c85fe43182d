// uws-cpp/main.cpp: the C++ uWebSockets peer for bench/run.sh: /echo echoes each message
// with its opcode, /broadcast publishes each message to every /broadcast socket (sender
// included). Usage: uws-server PORT (0 picks one); prints "listening on 127.0.0.1:PORT".
#include "App.h"
#include <cstdio>
#include <cstdlib>

struct PerSocket {};

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 9001;
    uWS::App app;
    app.ws<PerSocket>("/echo", {
        .compression = uWS::DISABLED,
        .maxPayloadLength = 16 * 1024 * 1024,
        .message = [](auto *ws, std::string_view msg, uWS::OpCode op) { ws->send(msg, op); },
    }).ws<PerSocket>("/broadcast", {
        .compression = uWS::DISABLED,
        .maxPayloadLength = 16 * 1024 * 1024,
        .open = [](auto *ws) { ws->subscribe("broadcast"); },
        .message = [&app](auto *, std::string_view msg, uWS::OpCode op) { app.publish("broadcast", msg, op); },
    }).listen("127.0.0.1", port, [](auto *ls) {
        if (!ls) { fprintf(stderr, "uws-server: listen failed\n"); exit(1); }
        fprintf(stderr, "listening on 127.0.0.1:%d\n", us_socket_local_port(0, (us_socket_t *) ls));
    }).run();
}
