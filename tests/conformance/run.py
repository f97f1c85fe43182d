#!/usr/bin/python3
"""run.py - entry point of wsio's conformance suite (RFC 6455, modeled on the Autobahn
testsuite's groups 1-7, 9, 12 and 13 (permessage-deflate), plus handshake, timeouts,
shutdown and broadcast).

    /usr/bin/python3 tests/conformance/run.py [--server PATH] [-k FILTER] [-v]

Starts one wsio-server per option set the selected cases need (127.0.0.1, ephemeral
port), runs the cases in order, prints one line per failing case with what was expected
and what the server did, and ends with 'N passed, N failed'. Exit status 0 only when
every case passed. The server binary comes from --server, else $WSIO_SERVER, else
<repo>/build/wsio-server.
"""
import argparse
import os
import re
import signal
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from harness import CASES, SERVER_OPTS, CaseFailure, Context, Server  # noqa: E402
import group1_framing  # noqa: E402,F401
import group2_pingpong  # noqa: E402,F401
import group3_reserved  # noqa: E402,F401
import group4_opcodes  # noqa: E402,F401
import group5_fragmentation  # noqa: E402,F401
import group6_utf8  # noqa: E402,F401
import group7_close  # noqa: E402,F401
import group9_limits  # noqa: E402,F401
import group12_deflate  # noqa: E402,F401
import group13_deflate_params  # noqa: E402,F401
import group_handshake  # noqa: E402,F401
import group_lifecycle  # noqa: E402,F401


class CaseTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise CaseTimeout()


ID_TERM = re.compile(r"[A-Za-z]*\.?[0-9][0-9a-z.]*")


def selected(cases, filt):
    """Cases matching any comma-separated term: a term shaped like an id ('6.4', 'H.2')
    selects that id and the ids below it; any other term is a title substring."""
    if not filt:
        return cases
    terms = [t.strip().lower() for t in filt.split(",") if t.strip()]
    out = []
    for c in cases:
        cid = c["id"].lower()
        for t in terms:
            if ID_TERM.fullmatch(t):
                hit = cid == t or cid.startswith(t + ".") or cid.startswith(t) and cid[len(t):].isalpha()
            else:
                hit = t in c["title"].lower()
            if hit:
                out.append(c)
                break
    return out


def main():
    repo = os.path.dirname(os.path.dirname(HERE))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", default=os.environ.get("WSIO_SERVER") or
                    os.path.join(repo, "build", "wsio-server"))
    ap.add_argument("-k", dest="filter", default="",
                    help="run cases whose id (prefix, e.g. 6.4) or title contains one of "
                         "these comma-separated terms")
    ap.add_argument("-v", dest="verbose", action="store_true", help="print passing cases too")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    args = ap.parse_args()

    cases = selected(CASES, args.filter)
    if args.list:
        for c in cases:
            print("%-8s [%s] %s" % (c["id"], c["server"], c["title"]))
        return 0
    if not os.access(args.server, os.X_OK):
        print("server binary %s is missing or not executable" % args.server)
        print("0 passed, %d failed" % len(cases))
        return 1

    signal.signal(signal.SIGALRM, _alarm)
    servers = {}
    passed = failed = 0
    t_start = time.monotonic()

    def report(cid, title, ok, detail, dt):
        nonlocal passed, failed
        if ok:
            passed += 1
            if args.verbose:
                print("ok   %-8s %s (%.2fs)" % (cid, title, dt))
        else:
            failed += 1
            print("FAIL %-8s %s: %s" % (cid, title, detail))
        sys.stdout.flush()

    for c in cases:
        name = c["server"]
        srv = servers.get(name)
        t0 = time.monotonic()
        if srv is None or not srv.alive():
            try:
                srv = Server(args.server, SERVER_OPTS[name], name).start()
                servers[name] = srv
            except RuntimeError as e:
                report(c["id"], c["title"], False, str(e), 0)
                continue
        ctx = Context(srv, args.server)
        ok, detail = True, ""
        signal.setitimer(signal.ITIMER_REAL, c["timeout"])
        try:
            c["fn"](ctx)
        except CaseFailure as e:
            ok, detail = False, "expected %s; got %s" % (e.expected, e.got)
        except CaseTimeout:
            ok, detail = False, "case did not finish within %ds" % c["timeout"]
        except Exception as e:  # a client-side error is a failure of this case, not of the run
            ok, detail = False, "unexpected %s: %s" % (type(e).__name__, e)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            ctx.finish()
        if not srv.alive():
            time.sleep(0.05)
            ok = False
            detail = (detail + "; " if detail else "") + "server %s exited with status %s: %s" % (
                name, srv.proc.returncode, srv.log_tail(600))
        report(c["id"], c["title"], ok, detail, time.monotonic() - t0)

    # Every shared server must still be up and must shut down cleanly (an ASan build
    # reports leaks and errors through its exit status here).
    for name, srv in servers.items():
        t0 = time.monotonic()
        if not srv.alive():
            srv.cleanup()
            continue
        rc = srv.stop(timeout=8.0)
        ok = rc == 0
        report("exit." + name, "server '%s' exits 0 on SIGTERM" % name, ok,
               "exit status %s: %s" % (rc, srv.log_tail(600)) if not ok else "",
               time.monotonic() - t0)
        srv.cleanup()

    if args.verbose:
        print("(%.1fs)" % (time.monotonic() - t_start))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
