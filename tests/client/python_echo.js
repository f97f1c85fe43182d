'use strict';
// tests/client/python_echo.js — an echo server on Python's `websockets` for the client
// tests (its permessage-deflate answer differs from Node's; optionally over TLS).
const { spawn } = require('node:child_process');

// Python `websockets` (Debian python3-websockets): its own permessage-deflate answer
// (server_max_window_bits=12; client_max_window_bits=12 by default), optionally over
// TLS (cert, key). Resolves with { port, stop }.
const PY = process.env.PYTHON || '/usr/bin/python3';
const PY_ECHO = `
import asyncio, ssl, sys, websockets
async def echo(ws, path=None):
    async for m in ws:
        await ws.send(m)
async def main():
    ctx = None
    if len(sys.argv) > 2:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    async with websockets.serve(echo, '127.0.0.1', 0, ssl=ctx) as srv:
        print(srv.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()
asyncio.run(main())
`;
function pythonEcho(args = []) {
  return new Promise((resolve, reject) => {
    const p = spawn(PY, ['-c', PY_ECHO, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stderr.on('data', (d) => { err += d; });
    p.stdout.on('data', (d) => {
      out += d;
      const m = /^(\d+)\n/.exec(out);
      if (m) resolve({ port: Number(m[1]), stop: () => p.kill('SIGKILL') });
    });
    p.on('exit', (code) => reject(new Error(`python websockets server exited ${code}: ${err}`)));
  });
}
module.exports = { pythonEcho };
