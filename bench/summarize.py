#!/usr/bin/env python3
"""bench/summarize.py: turns run.sh's raw JSON lines into the markdown tables of
results/latest.md: medians per server and workload, and ratios relative to wsio; one set
of tables for the WebSocket workloads, one for the Socket.IO (sio-*) ones, and the
issue-17 targets (wsio against C++ uWebSockets, the raw TCP echo floor, Node socket.io
and socket.io on uWebSockets.js) with each one's ratio and whether it was met."""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

SERVERS = ["wsio", "wsio-t2", "wsio-t4", "wsio-zpc", "wsio-base", "uws-cpp", "uws-js", "node-ws", "tcp-echo", "socketio",
           "socketio-uws"]
NAMES = {
    "wsio": "wsio-server",
    "wsio-base": "wsio-server (baseline build)",
    "wsio-zpc": "wsio-server, per-recipient compression (--deflate-shared-broadcast off)",
    "wsio-t2": "wsio-server --threads 2",
    "wsio-t4": "wsio-server --threads 4",
    "uws-cpp": "uWebSockets (C++)",
    "uws-js": "uWebSockets.js",
    "node-ws": "Node ws",
    "tcp-echo": "raw TCP echo (the floor)",
    "socketio": "Node socket.io",
    "socketio-uws": "Node socket.io on uWebSockets.js (attachApp)",
}
WS_WORK = ("echo", "broadcast", "idle", "connect")
SIO_WORK = ("sio-echo", "sio-broadcast", "sio-polling", "sio-idle")
EDGE_WORK = ("broadcast-deflate", "sio-broadcast-deflate")
TLS_WORK = ("wss-echo", "tls-connect", "tls-idle")
# The variants run.sh adds for the issue-17 targets (echo sizes, latency at 1 in flight and
# at a fixed broadcast rate).
I17_WORK = ("echo-100x1", "echo-16k", "echo-512", "echo-rtt", "broadcast-rate", "sio-echo-rtt")
# The targets for wsio against Node socket.io (ratio of Node's figure to wsio's).
SIO_TARGETS = {"sio-echo": 10, "sio-broadcast": 20, "sio-polling": 5}
# sio-cluster-bcast's records (run.sh run_cluster): two nodes on Redis / one node alone,
# window-paced / at a fixed rate.
CLUSTER_WORK = ("sio-cluster-2n-window", "sio-cluster-2n-rate", "sio-cluster-1n-window", "sio-cluster-1n-rate")
CLUSTER_SERVERS = ("wsio", "socketio")
# The scale-out issue's targets: two Node nodes' CPU per delivery over two wsio nodes', and
# two wsio nodes over one.
CLUSTER_VS_NODE = 10
CLUSTER_VS_SINGLE = 1.5


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}"


def versions(here):
    out = []
    try:
        node = subprocess.run(["node", "-v"], capture_output=True, text=True, timeout=10).stdout.strip()
        if node:
            out.append(f"Node {node}")
        for pkg, name in (("ws", "ws"), ("@trufflesuite/uws-js-unofficial", "uWebSockets.js"),
                          ("socket.io", "socket.io"), ("engine.io", "engine.io")):
            with open(os.path.join(here, "node_modules", pkg, "package.json")) as f:
                out.append(f"{name} {json.load(f)['version']}")
    except (OSError, subprocess.SubprocessError, ValueError, KeyError):
        pass
    return ", ".join(out)


def load(path):
    runs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                runs.append(json.loads(line))
    return runs


def median(runs, server, work, key):
    vals = [r["result"][key] for r in runs
            if r["server"] == server and r["workload"] == work and r.get("result")
            and r["result"].get(key) is not None]
    return statistics.median(vals) if vals else None


def fmt(v, digits=0):
    if v is None:
        return "n/a"
    return f"{v:,.{digits}f}"


def ratio(v, base):
    if v is None or not base:
        return "–"
    return f"{v / base:.2f}×"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw", nargs="+", help="raw-*.jsonl files from run.sh (several are pooled)")
    ap.add_argument("--skipped", default="")
    ap.add_argument("--duration", default="5")
    ap.add_argument("--window", default="16")
    ap.add_argument("--idle-conns", default="10000")
    ap.add_argument("--sio-idle-conns", default="10000")
    ap.add_argument("--sio-polling-conns", default="50")
    ap.add_argument("--cluster-clients", default="1000")
    ap.add_argument("--cluster-rate", default="100")
    ap.add_argument("--deflate-conns", default="1000")
    ap.add_argument("--deflate-size", default="2048")
    ap.add_argument("--tls-idle-conns", default="10000")
    ap.add_argument("--broadcast-rate", default="100")
    ap.add_argument("--max-conns", default="")
    a = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    runs = [r for path in a.raw for r in load(path)]
    ran = lambda s, works: any(r["server"] == s and r["workload"] in works for r in runs)
    ws_servers = [s for s in SERVERS if ran(s, WS_WORK)]
    sio_servers = [s for s in SERVERS if ran(s, SIO_WORK)]
    edge_servers = [s for s in SERVERS if ran(s, EDGE_WORK)]
    tls_servers = [s for s in SERVERS if ran(s, TLS_WORK)]
    i17_servers = [s for s in SERVERS if ran(s, I17_WORK)]
    servers = [s for s in SERVERS if s in ws_servers or s in sio_servers or s in edge_servers or s in tls_servers
               or s in i17_servers]
    per_cell = sorted({sum(1 for r in runs if r["server"] == s and r["workload"] == w and r.get("result"))
                       for s in servers for w in WS_WORK + SIO_WORK + EDGE_WORK + TLS_WORK + I17_WORK} - {0})
    rounds = "/".join(str(n) for n in per_cell) or "0"
    m = {(s, w, k): median(runs, s, w, k) for s in servers
         for w, k in [("echo", "server_cpu_ns_per_msg"), ("echo", "messages_per_s"), ("echo", "rtt_p50_us"),
                      ("echo", "rtt_p99_us"), ("broadcast", "server_cpu_ns_per_delivery"),
                      ("broadcast", "deliveries_per_s"), ("broadcast", "latency_p50_us"),
                      ("broadcast", "latency_p99_us"), ("idle", "rss_per_conn_bytes"),
                      ("connect", "server_cpu_ns_per_handshake"), ("connect", "handshakes_per_s"),
                      ("sio-echo", "server_cpu_ns_per_msg"), ("sio-echo", "messages_per_s"),
                      ("sio-echo", "rtt_p50_us"), ("sio-echo", "rtt_p99_us"),
                      ("sio-broadcast", "server_cpu_ns_per_delivery"), ("sio-broadcast", "deliveries_per_s"),
                      ("sio-broadcast", "latency_p50_us"), ("sio-broadcast", "latency_p99_us"),
                      ("sio-polling", "server_cpu_ns_per_round_trip"), ("sio-polling", "round_trips_per_s"),
                      ("sio-polling", "rtt_p50_us"), ("sio-polling", "rtt_p99_us"),
                      ("sio-idle", "rss_per_conn_bytes"),
                      ("broadcast-deflate", "server_cpu_ns_per_delivery"), ("broadcast-deflate", "deliveries_per_s"),
                      ("broadcast-deflate", "compressed_pct"),
                      ("sio-broadcast-deflate", "server_cpu_ns_per_delivery"),
                      ("sio-broadcast-deflate", "deliveries_per_s"), ("sio-broadcast-deflate", "compressed_pct"),
                      ("wss-echo", "server_cpu_ns_per_msg"), ("wss-echo", "messages_per_s"),
                      ("wss-echo", "rtt_p50_us"), ("wss-echo", "rtt_p99_us"),
                      ("tls-connect", "server_cpu_ns_per_handshake"), ("tls-connect", "handshakes_per_s"),
                      ("tls-idle", "rss_per_conn_bytes")]}

    def cell(s, w, k, digits=0, scale=1.0):
        v = m.get((s, w, k))
        base = m.get(("wsio", w, k))
        v = v / scale if v is not None else None
        base = base / scale if base is not None else None
        return fmt(v, digits), ratio(v, base)

    out = []
    out.append(f"## wsio-server vs. peers ({time.strftime('%Y-%m-%d')})")
    out.append("")
    out.append(f"Machine: {machine()}. Server pinned to CPU 0, wsio-bench to CPU 1; a fresh server per run; "
               f"median of {rounds} run(s) per cell, {a.duration} s each after a warm-up. {versions(here)}.")
    if a.max_conns:
        out.append("")
        out.append(f"**Connection counts capped at {int(a.max_conns):,} (MAX_CONNS): a smoke run, not the workloads "
                   f"the targets are defined on; do not compare these figures with them.**")
    if ws_servers:
        ws_tables(out, ws_servers, runs, cell, m, a)
    if sio_servers:
        sio_tables(out, sio_servers, runs, cell, m, a)
    if any(r["workload"] in CLUSTER_WORK for r in runs):
        cluster_tables(out, runs, a)
    if edge_servers:
        edge_tables(out, edge_servers, cell, m, a)
    if tls_servers:
        tls_tables(out, tls_servers, cell, m, a)
    if i17_servers:
        i17_tables(out, i17_servers, runs, a)
    i17_targets(out, runs, a)
    footer(out, runs, a, here)
    print("\n".join(out))


def ws_tables(out, servers, runs, cell, m, a):
    out.append("")
    out.append("### WebSocket")
    out.append("")
    out.append("Server CPU time (utime+stime) per unit of work and RSS per idle connection; lower is better. "
               "× = relative to wsio.")
    out.append("")
    out.append("| server | echo CPU ns/msg | × | broadcast CPU ns/delivery | × | idle RSS B/conn | × "
               "| connect CPU µs/handshake | × |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in servers:
        row = [NAMES[s]]
        row += cell(s, "echo", "server_cpu_ns_per_msg")
        row += cell(s, "broadcast", "server_cpu_ns_per_delivery")
        row += cell(s, "idle", "rss_per_conn_bytes")
        row += cell(s, "connect", "server_cpu_ns_per_handshake", 1, 1000.0)
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    out.append("Throughput and latency (these depend on the load generator and the machine as much as on the "
               "server; higher msg/s is better).")
    out.append("")
    out.append("| server | echo msg/s | × | echo RTT p50 / p99 µs | broadcast deliveries/s | × "
               "| delivery latency p50 / p99 µs | handshakes/s | × |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in servers:
        row = [NAMES[s]]
        row += cell(s, "echo", "messages_per_s")
        row.append(f"{fmt(m[(s, 'echo', 'rtt_p50_us')])} / {fmt(m[(s, 'echo', 'rtt_p99_us')])}")
        row += cell(s, "broadcast", "deliveries_per_s")
        row.append(f"{fmt(m[(s, 'broadcast', 'latency_p50_us')])} / {fmt(m[(s, 'broadcast', 'latency_p99_us')])}")
        row += cell(s, "connect", "handshakes_per_s")
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    out.append("Spread of the CPU figures across runs (min – max):")
    out.append("")
    out.append("| server | echo ns/msg | broadcast ns/delivery | connect µs/handshake |")
    out.append("|---|---:|---:|---:|")
    for s in servers:
        row = [NAMES[s]]
        for w, k, scale in (("echo", "server_cpu_ns_per_msg", 1), ("broadcast", "server_cpu_ns_per_delivery", 1),
                            ("connect", "server_cpu_ns_per_handshake", 1000)):
            vals = [r["result"][k] / scale for r in runs if r["server"] == s and r["workload"] == w
                    and r.get("result") and r["result"].get(k) is not None]
            row.append(f"{fmt(min(vals), 1 if scale > 1 else 0)} – {fmt(max(vals), 1 if scale > 1 else 0)}"
                       if vals else "n/a")
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    out.append(f"Workloads: echo = 100 connections × 16 messages in flight × 32 B; broadcast = 1,000 subscribers "
               f"on /broadcast × 64 B, at most {a.window} messages outstanding; idle = {int(a.idle_conns):,} "
               f"connections (VmRSS after all are open minus before, per connection); connect = 64 concurrent "
               f"connect + handshake + close.")


def spread(runs, s, w, k, scale=1, digits=0):
    vals = [r["result"][k] / scale for r in runs if r["server"] == s and r["workload"] == w
            and r.get("result") and r["result"].get(k) is not None]
    return f"{fmt(min(vals), digits)} – {fmt(max(vals), digits)}" if vals else "n/a"


def sio_tables(out, servers, runs, cell, m, a):
    out.append("")
    out.append("### Socket.IO (bench app: echo / join / bcast on namespace \"/\")")
    out.append("")
    out.append("Server CPU time per unit of work and RSS per idle Socket.IO client; lower is better. "
               "× = relative to wsio.")
    out.append("")
    out.append("| server | event echo CPU ns/msg | × | room broadcast CPU ns/delivery | × "
               "| long-polling CPU µs/round trip | × | idle RSS B/client | × |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in servers:
        row = [NAMES[s]]
        row += cell(s, "sio-echo", "server_cpu_ns_per_msg")
        row += cell(s, "sio-broadcast", "server_cpu_ns_per_delivery")
        row += cell(s, "sio-polling", "server_cpu_ns_per_round_trip", 1, 1000.0)
        row += cell(s, "sio-idle", "rss_per_conn_bytes")
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    out.append("| server | echo msg/s | × | echo RTT p50 / p99 µs | broadcast deliveries/s | × "
               "| delivery latency p50 / p99 µs | polling round trips/s | × | round trip p50 / p99 µs |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in servers:
        row = [NAMES[s]]
        row += cell(s, "sio-echo", "messages_per_s")
        row.append(f"{fmt(m[(s, 'sio-echo', 'rtt_p50_us')])} / {fmt(m[(s, 'sio-echo', 'rtt_p99_us')])}")
        row += cell(s, "sio-broadcast", "deliveries_per_s")
        row.append(f"{fmt(m[(s, 'sio-broadcast', 'latency_p50_us')])} / "
                   f"{fmt(m[(s, 'sio-broadcast', 'latency_p99_us')])}")
        row += cell(s, "sio-polling", "round_trips_per_s")
        row.append(f"{fmt(m[(s, 'sio-polling', 'rtt_p50_us')])} / {fmt(m[(s, 'sio-polling', 'rtt_p99_us')])}")
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    out.append("Spread of the CPU figures across runs (min – max):")
    out.append("")
    out.append("| server | echo ns/msg | broadcast ns/delivery | polling µs/round trip | idle B/client |")
    out.append("|---|---:|---:|---:|---:|")
    for s in servers:
        out.append("| " + " | ".join([NAMES[s], spread(runs, s, "sio-echo", "server_cpu_ns_per_msg"),
                                      spread(runs, s, "sio-broadcast", "server_cpu_ns_per_delivery"),
                                      spread(runs, s, "sio-polling", "server_cpu_ns_per_round_trip", 1000, 1),
                                      spread(runs, s, "sio-idle", "rss_per_conn_bytes")]) + " |")
    # The targets, where both sides were measured.
    checks = []
    for w, k, what in (("sio-echo", "server_cpu_ns_per_msg", "event echo"),
                       ("sio-broadcast", "server_cpu_ns_per_delivery", "room broadcast"),
                       ("sio-polling", "server_cpu_ns_per_round_trip", "long-polling")):
        ws, node = m.get(("wsio", w, k)), m.get(("socketio", w, k))
        if ws and node:
            x = node / ws
            checks.append(f"{what} {x:.1f}× (target ≥ {SIO_TARGETS[w]}×: {'met' if x >= SIO_TARGETS[w] else 'NOT met'})")
    rss = m.get(("wsio", "sio-idle", "rss_per_conn_bytes"))
    if rss is not None:
        checks.append(f"idle client {rss:,.0f} B (target ≤ 1,024 B: {'met' if rss <= 1024 else 'NOT met'})")
    raw, sio = m.get(("wsio", "broadcast", "server_cpu_ns_per_delivery")), \
        m.get(("wsio", "sio-broadcast", "server_cpu_ns_per_delivery"))
    if raw and sio:
        checks.append(f"wsio Socket.IO room broadcast {sio:,.0f} ns/delivery vs. its raw /broadcast {raw:,.0f} "
                      f"ns/delivery = {sio / raw:.2f}× (target ≤ 1.5×: {'met' if sio / raw <= 1.5 else 'NOT met'})")
    if checks:
        out.append("")
        out.append("Against the targets (Node socket.io's figure ÷ wsio's): " + "; ".join(checks) + ".")
    # The fastest Node setup: socket.io attached to uWebSockets.js.
    gains = []
    for w, k, what in (("sio-echo", "server_cpu_ns_per_msg", "event echo"),
                       ("sio-broadcast", "server_cpu_ns_per_delivery", "room broadcast"),
                       ("sio-polling", "server_cpu_ns_per_round_trip", "long-polling"),
                       ("sio-idle", "rss_per_conn_bytes", "idle client memory")):
        ws, uws = m.get(("wsio", w, k)), m.get(("socketio-uws", w, k))
        if ws and uws:
            gains.append(f"{what} {uws / ws:.1f}×")
    if gains:
        out.append("")
        out.append("wsio's gain over socket.io attached to uWebSockets.js (its figure ÷ wsio's): "
                   + "; ".join(gains) + ".")
    out.append("")
    out.append(f"Workloads: event echo = 100 clients (WebSocket transport) × 16 events in flight, "
               f"42[\"echo\",\"<32 chars>\"] answered by 42[\"echo\",<same>]; room broadcast = 1,000 clients in "
               f"room \"bench\", one publishing 42[\"bcast\",\"<64 chars>\"] with at most {a.window} messages "
               f"outstanding, every client (publisher included) receiving each; long-polling = "
               f"{int(a.sio_polling_conns):,} clients × 1 echo round trip at a time (POST the event, GET the reply; "
               f"two keep-alive connections each); idle = {int(a.sio_idle_conns):,} clients connected to \"/\" "
               f"(VmRSS after all are open minus before, per client).")


def cluster_tables(out, runs, a):
    med = lambda s, w, k: median(runs, s, w, k)
    out.append("")
    out.append("### Socket.IO room broadcast across two nodes through Redis (sio-cluster-bcast)")
    out.append("")
    out.append(f"{int(a.cluster_clients):,} clients in one room, odd-numbered ones on the second node, the publisher on "
               f"the first; both nodes on one redis-server (wsio `--redis`, Node `@socket.io/redis-adapter`); "
               f"\"1 node\": the same clients on one node without Redis. Server CPU is both nodes' together "
               f"(Redis not counted); lower is better. Window-paced: at most {a.window} broadcasts outstanding; "
               f"fixed rate: {a.cluster_rate} broadcasts/s. Cross-node latency: deliveries to the second node's "
               f"clients only.")
    out.append("")
    out.append(f"| server | nodes | CPU ns/delivery (window {a.window}) | deliveries/s | latency p50 / p99 µs "
               f"| CPU ns/delivery at {a.cluster_rate}/s | latency p50 / p99 µs at {a.cluster_rate}/s "
               f"| cross-node p50 / p99 µs at {a.cluster_rate}/s |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|")
    for s in CLUSTER_SERVERS:
        for n in ("2n", "1n"):
            w, r = f"sio-cluster-{n}-window", f"sio-cluster-{n}-rate"
            if not any(x["server"] == s and x["workload"] in (w, r) for x in runs):
                continue
            rp50, rp99 = med(s, r, "remote_latency_p50_us"), med(s, r, "remote_latency_p99_us")
            out.append("| " + " | ".join([
                NAMES[s], "2" if n == "2n" else "1",
                fmt(med(s, w, "server_cpu_ns_per_delivery")), fmt(med(s, w, "deliveries_per_s")),
                f"{fmt(med(s, w, 'latency_p50_us'))} / {fmt(med(s, w, 'latency_p99_us'))}",
                fmt(med(s, r, "server_cpu_ns_per_delivery")),
                f"{fmt(med(s, r, 'latency_p50_us'))} / {fmt(med(s, r, 'latency_p99_us'))}",
                f"{fmt(rp50)} / {fmt(rp99)}" if n == "2n" else "–"]) + " |")
    checks = []
    w2, w1 = "sio-cluster-2n-window", "sio-cluster-1n-window"
    ws2, ws1, node2 = (med("wsio", w2, "server_cpu_ns_per_delivery"), med("wsio", w1, "server_cpu_ns_per_delivery"),
                       med("socketio", w2, "server_cpu_ns_per_delivery"))
    if ws2 and node2:
        x = node2 / ws2
        checks.append(f"two Node nodes ÷ two wsio nodes {x:.1f}× (target ≥ {CLUSTER_VS_NODE}×: "
                      f"{'met' if x >= CLUSTER_VS_NODE else 'NOT met'})")
    if ws2 and ws1:
        x = ws2 / ws1
        checks.append(f"wsio two nodes ÷ one node {x:.2f}× (target ≤ {CLUSTER_VS_SINGLE}×: "
                      f"{'met' if x <= CLUSTER_VS_SINGLE else 'NOT met'})")
    if checks:
        out.append("")
        out.append("Against the targets (CPU per delivery, window-paced): " + "; ".join(checks) + ".")
def edge_tables(out, servers, cell, m, a):
    out.append("")
    out.append("### permessage-deflate broadcast: compressed once vs. once per recipient")
    out.append("")
    out.append("| server | topic broadcast CPU ns/delivery | × | deliveries/s | compressed | "
               "Socket.IO room CPU ns/delivery | × | deliveries/s | compressed |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in servers:
        row = [NAMES[s]]
        for w in EDGE_WORK:
            row += cell(s, w, "server_cpu_ns_per_delivery")
            row.append(fmt(m.get((s, w, "deliveries_per_s"))))
            pct = m.get((s, w, "compressed_pct"))
            row.append(f"{pct:.0f}%" if pct is not None else "–")
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    out.append(f"Workloads: {int(a.deflate_conns):,} clients offering permessage-deflate with "
               f"server_no_context_takeover, {int(a.deflate_size):,}-byte messages (over the 1 KiB threshold), "
               f"at most {a.window} outstanding; topic = /broadcast, room = the bench app's room \"bench\". "
               f"× = the figure ÷ wsio's (shared compression).")


def tls_tables(out, servers, cell, m, a):
    out.append("")
    out.append("### TLS: wss echo, handshakes, idle connections")
    out.append("")
    out.append("| server | wss echo CPU ns/msg | × | msg/s | RTT p50 / p99 µs | TLS handshake CPU µs | × "
               "| handshakes/s | idle TLS RSS B/conn | × |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in servers:
        row = [NAMES[s]]
        row += cell(s, "wss-echo", "server_cpu_ns_per_msg")
        row.append(fmt(m.get((s, "wss-echo", "messages_per_s"))))
        row.append(f"{fmt(m.get((s, 'wss-echo', 'rtt_p50_us')))} / {fmt(m.get((s, 'wss-echo', 'rtt_p99_us')))}")
        row += cell(s, "tls-connect", "server_cpu_ns_per_handshake", 1, 1000.0)
        row.append(fmt(m.get((s, "tls-connect", "handshakes_per_s"))))
        row += cell(s, "tls-idle", "rss_per_conn_bytes")
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    out.append(f"Workloads: wss echo = 100 connections × 16 messages in flight × 32 B over TLS; TLS handshakes = "
               f"64 at a time, each a full TLS handshake (ECDSA P-256 certificate, no session resumption) and a "
               f"WebSocket handshake, then a close; idle = {int(a.tls_idle_conns):,} idle wss connections (VmRSS after "
               f"all are open minus before, per connection). × = the figure ÷ wsio's.")


def i17_tables(out, servers, runs, a):
    med = lambda s, w, k: median(runs, s, w, k)

    def cpu(s, w):
        v, base = med(s, w, "server_cpu_ns_per_msg"), med("wsio", w, "server_cpu_ns_per_msg")
        return [fmt(v), ratio(v, base)]

    def lat(s, w, keys):
        vals = [med(s, w, k) for k in keys]
        return "n/a" if all(v is None for v in vals) else " / ".join(fmt(v) for v in vals)

    out.append("")
    out.append("### Echo sizes and latency (issue 17)")
    out.append("")
    out.append("Server CPU per echoed message (lower is better; × = relative to wsio), round-trip and delivery "
               "latency in µs.")
    out.append("")
    out.append("| server | echo 100×1×32 B ns/msg | × | echo 10×4×16 KiB ns/msg | × | echo 1,000×1×512 B ns/msg | × "
               f"| echo 1×1×32 B RTT p50 / p99 | broadcast at {a.broadcast_rate}/s latency p50 / p99 / p99.9 "
               "| Socket.IO echo 1×1 RTT p50 / p99 |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in servers:
        row = [NAMES[s]]
        row += cpu(s, "echo-100x1") + cpu(s, "echo-16k") + cpu(s, "echo-512")
        row.append(lat(s, "echo-rtt", ("rtt_p50_us", "rtt_p99_us")))
        row.append(lat(s, "broadcast-rate", ("latency_p50_us", "latency_p99_us", "latency_p999_us")))
        row.append(lat(s, "sio-echo-rtt", ("rtt_p50_us", "rtt_p99_us")))
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    out.append(f"Workloads: echo c × d × s = connections × messages in flight each × payload; the raw TCP echo "
               f"floor (bench/peers/tcp-echo) gets the same payload bytes without handshake or framing "
               f"(wsio-bench echo --raw); broadcast at {a.broadcast_rate}/s = 1,000 subscribers on /broadcast, "
               f"64 B, {a.broadcast_rate} messages/s, latency from publish to each delivery; Socket.IO echo 1×1 = "
               f"one client, one 42[\"echo\",\"<32 chars>\"] in flight.")


# The issue-17 targets, one row each: wsio's figure, the one it is held against, their
# ratio, and whether the ratio is at most (at_most) or at least the limit. Always printed,
# "not measured" where a figure is missing, so the list of targets itself stays complete.
def by_round(runs, server, work, key):
    """{round: value} of one server's workload figure."""
    return {r.get("round"): r["result"][key] for r in runs
            if r["server"] == server and r["workload"] == work and r.get("result")
            and r["result"].get(key) is not None}


def i17_targets(out, runs, a):
    med = lambda s, w, k: median(runs, s, w, k)
    rows = []

    def row(target, ours, theirs, limit, at_most, unit="ns", ratio_of=None, rounds=None):
        # ours / theirs: (label, value); the ratio is ours ÷ theirs, or theirs ÷ ours with ratio_of="theirs".
        # rounds: ((server, workload, key), (server, workload, key) or a constant): the same ratio
        # formed round by round, to show whether the median's verdict holds in every round.
        (ol, ov), (tl, tv) = ours, theirs
        show = lambda lbl, v: f"{lbl} {fmt(v, 1 if unit == 'µs' and v is not None and v < 100 else 0)} {unit}" \
            if v is not None else f"{lbl} n/a"
        per = "–"
        if rounds:
            (sa, wa, ka), b = rounds
            oa = by_round(runs, sa, wa, ka)
            ob = by_round(runs, *b) if isinstance(b, tuple) else {k: b for k in oa}
            xs = []
            for k in sorted(set(oa) & set(ob), key=lambda k: (k is None, k)):
                o, t = oa[k], ob[k]
                if o and t:
                    xs.append(o / t if ratio_of != "theirs" else t / o)
            if xs:
                ok = sum(1 for x in xs if (x <= limit if at_most else x >= limit))
                per = " ".join(f"{x:.2f}" for x in xs) + f" ({ok} of {len(xs)})"
        if ov is None or not tv or (ratio_of == "theirs" and not ov):
            rows.append([target, show(ol, ov), show(tl, tv), "–", per, "not measured"])
            return
        x = ov / tv if ratio_of != "theirs" else tv / ov
        met = x <= limit if at_most else x >= limit
        rows.append([target, show(ol, ov), show(tl, tv), f"{x:.2f}×", per, "met" if met else "**NOT met**"])

    uws = "C++ uWebSockets"
    for w, k, what in (("echo-100x1", "server_cpu_ns_per_msg", "echo 100 × 1 × 32 B, CPU/msg"),
                       ("echo", "server_cpu_ns_per_msg", "echo 100 × 16 × 32 B, CPU/msg"),
                       ("echo-16k", "server_cpu_ns_per_msg", "echo 10 × 4 × 16 KiB, CPU/msg"),
                       ("echo-512", "server_cpu_ns_per_msg", "echo 1,000 × 1 × 512 B, CPU/msg"),
                       ("broadcast", "server_cpu_ns_per_delivery", "broadcast to 1,000 × 64 B, CPU/delivery"),
                       ("connect", "server_cpu_ns_per_handshake", "connect + handshake + close (64 at a time), "
                                                                  "CPU/handshake")):
        scale, unit = (1000.0, "µs") if w == "connect" else (1.0, "ns")
        ov, tv = med("wsio", w, k), med("uws-cpp", w, k)
        row(f"{what} ≤ 0.8× {uws}", ("wsio", ov / scale if ov is not None else None),
            (uws, tv / scale if tv is not None else None), 0.8, True, unit,
            rounds=(("wsio", w, k), ("uws-cpp", w, k)))
    row("echo 10 × 4 × 16 KiB, CPU/msg ≤ 1.3× a raw TCP echo of the same bytes",
        ("wsio", med("wsio", "echo-16k", "server_cpu_ns_per_msg")),
        ("raw TCP", med("tcp-echo", "echo-16k", "server_cpu_ns_per_msg")), 1.3, True,
        rounds=(("wsio", "echo-16k", "server_cpu_ns_per_msg"), ("tcp-echo", "echo-16k", "server_cpu_ns_per_msg")))
    row(f"idle connection ≤ 256 B of server RSS (at {int(a.idle_conns):,})",
        ("wsio", med("wsio", "idle", "rss_per_conn_bytes")), ("limit", 256), 1.0, True, "B",
        rounds=(("wsio", "idle", "rss_per_conn_bytes"), 256))
    row(f"idle Socket.IO client ≤ 640 B of server RSS (at {int(a.sio_idle_conns):,})",
        ("wsio", med("wsio", "sio-idle", "rss_per_conn_bytes")), ("limit", 640), 1.0, True, "B",
        rounds=(("wsio", "sio-idle", "rss_per_conn_bytes"), 640))
    for k, q in (("latency_p50_us", "p50"), ("latency_p99_us", "p99"), ("latency_p999_us", "p99.9")):
        row(f"broadcast at {a.broadcast_rate}/s to 1,000, delivery latency {q} ≤ {uws}'s",
            ("wsio", med("wsio", "broadcast-rate", k)), (uws, med("uws-cpp", "broadcast-rate", k)), 1.0, True, "µs",
            rounds=(("wsio", "broadcast-rate", k), ("uws-cpp", "broadcast-rate", k)))
    row("Socket.IO event echo at 1 in flight, RTT p50 ≤ 1.25× wsio's raw WebSocket echo at 1 in flight",
        ("Socket.IO", med("wsio", "sio-echo-rtt", "rtt_p50_us")), ("raw", med("wsio", "echo-rtt", "rtt_p50_us")),
        1.25, True, "µs", rounds=(("wsio", "sio-echo-rtt", "rtt_p50_us"), ("wsio", "echo-rtt", "rtt_p50_us")))
    row("Socket.IO long-polling round trip ≥ 10× as efficient as Node socket.io (CPU, theirs ÷ ours)",
        ("wsio", med("wsio", "sio-polling", "server_cpu_ns_per_round_trip")),
        ("Node", med("socketio", "sio-polling", "server_cpu_ns_per_round_trip")), 10, False, ratio_of="theirs",
        rounds=(("wsio", "sio-polling", "server_cpu_ns_per_round_trip"),
                ("socketio", "sio-polling", "server_cpu_ns_per_round_trip")))
    row("Socket.IO event echo (100 × 16) ≥ 10× as efficient as socket.io on uWebSockets.js (CPU, theirs ÷ ours)",
        ("wsio", med("wsio", "sio-echo", "server_cpu_ns_per_msg")),
        ("socket.io/uWS.js", med("socketio-uws", "sio-echo", "server_cpu_ns_per_msg")), 10, False, ratio_of="theirs",
        rounds=(("wsio", "sio-echo", "server_cpu_ns_per_msg"), ("socketio-uws", "sio-echo", "server_cpu_ns_per_msg")))
    row("Socket.IO room broadcast to 1,000 ≥ 3× as efficient as socket.io on uWebSockets.js (CPU, theirs ÷ ours)",
        ("wsio", med("wsio", "sio-broadcast", "server_cpu_ns_per_delivery")),
        ("socket.io/uWS.js", med("socketio-uws", "sio-broadcast", "server_cpu_ns_per_delivery")), 3, False,
        ratio_of="theirs", rounds=(("wsio", "sio-broadcast", "server_cpu_ns_per_delivery"),
                                   ("socketio-uws", "sio-broadcast", "server_cpu_ns_per_delivery")))
    row("Socket.IO room broadcast, CPU/delivery ≤ 1.1× wsio's raw topic fan-out (/broadcast)",
        ("room", med("wsio", "sio-broadcast", "server_cpu_ns_per_delivery")),
        ("topic", med("wsio", "broadcast", "server_cpu_ns_per_delivery")), 1.1, True,
        rounds=(("wsio", "sio-broadcast", "server_cpu_ns_per_delivery"), ("wsio", "broadcast", "server_cpu_ns_per_delivery")))

    out.append("")
    out.append("### Issue 17 targets")
    out.append("")
    out.append("Every target of the issue's \"Every workload ahead\", from the medians above (one run of run.sh). "
               "\"not measured\": a workload or server it needs did not run (see WORKLOADS, SERVERS, Skipped). "
               "\"per round\": the same ratio in each round (both figures from that round), and in how many "
               "of them the target held: a verdict that does not hold in every round is on its line.")
    out.append("")
    out.append("| target | wsio | against | ratio | per round | result |")
    out.append("|---|---:|---:|---:|---:|---|")
    for r in rows:
        out.append("| " + " | ".join(r) + " |")
    met = sum(1 for r in rows if r[5] == "met")
    missed = sum(1 for r in rows if r[5] != "met" and r[5] != "not measured")
    out.append("")
    out.append(f"{met} of {len(rows)} met, {missed} not met, {len(rows) - met - missed} not measured.")


def footer(out, runs, a, here):

    # What else ran on the machine: all CPUs' busy time minus the server's and ours.
    other = {}
    for r in runs:
        res = r.get("result") or {}
        # idle's CPU window covers only the hold, not the busy opening phase: leave it out.
        if r["workload"] not in ("idle", "sio-idle") and "machine_busy_pct" in r and "server_cpu_pct" in res \
                and "client_cpu_pct" in res:
            other.setdefault(r["server"], []).append(
                r["machine_busy_pct"] - res["server_cpu_pct"] - res["client_cpu_pct"])
    if other:
        busiest = max(statistics.median(v) for v in other.values())
        out.append("")
        out.append("Other load on the machine during the runs (median, % of one core): " + ", ".join(
            f"{NAMES[s]} {statistics.median(v):.0f}%" for s, v in other.items() if s in NAMES) + "."
            + (" Numbers taken with much else running are noisy; rerun on an idle machine." if busiest > 15 else ""))

    saturated = {}
    for r in runs:
        if (r.get("result") or {}).get("client_cpu_pct", 0) > 95:
            saturated[(r["server"], r["workload"])] = saturated.get((r["server"], r["workload"]), 0) + 1
    if saturated:
        total = lambda s, w: sum(1 for r in runs if r["server"] == s and r["workload"] == w)
        out.append("")
        out.append("The load generator used more than 95% of its core (so it, not the server, may have set the "
                   "pace) in: " + ", ".join(f"{NAMES.get(s, s)} {w} ({n} of {total(s, w)} runs)"
                                            for (s, w), n in sorted(saturated.items())) + ".")

    problems = []
    for r in runs:
        res = r.get("result") or {}
        if r["rc"] != 0:
            errs = {k: v for k, v in res.items() if k in (
                "verify_errors", "lost", "out_of_order", "connect_failures", "handshake_failures",
                "closed_by_server", "protocol_errors", "socketio_errors", "http_errors", "clients_failed") and v}
            problems.append(f"- {NAMES.get(r['server'], r['server'])}, {r['workload']}, round {r['round']}: "
                            f"exit {r['rc']}" + (f" ({', '.join(f'{k} {v:g}' for k, v in errs.items())})" if errs
                                                  else ""))
    if problems:
        out.append("")
        out.append("Runs with errors (see the .log next to the raw results):")
        out.extend(problems)
    skipped = [s for s in a.skipped.splitlines() if s.strip()]
    if skipped:
        out.append("")
        out.append("Skipped: " + "; ".join(skipped) + ".")
    out.append("")
    out.append("Raw results: " + ", ".join(os.path.relpath(p, os.path.dirname(here)) for p in a.raw))


if __name__ == "__main__":
    sys.exit(main())
