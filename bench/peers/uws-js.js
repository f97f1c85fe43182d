'use strict';
// uws-js.js: the uWebSockets.js peer for bench/run.sh (npm @trufflesuite/uws-js-unofficial,
// which ships prebuilt binaries). /echo echoes each message with its opcode; /broadcast
// publishes each message to the "broadcast" topic every /broadcast socket subscribes to
// (sender included). Usage: node uws-js.js PORT (0 picks one); prints
// "listening on 127.0.0.1:PORT" to stderr. Exits 3 when the native binary does not load:
// the package would otherwise fall back silently to a ws-based emulation. With TLS_CERT and
// TLS_KEY (PEM files) in the environment it serves wss:// (uWS.SSLApp).
const { loadUws } = require('./common');

const uWS = loadUws('uws-js');
const port = Number(process.argv[2] || 0);
const app = process.env.TLS_CERT
  ? uWS.SSLApp({ cert_file_name: process.env.TLS_CERT, key_file_name: process.env.TLS_KEY })
  : uWS.App();
const common = { compression: uWS.DISABLED, maxPayloadLength: 16 * 1024 * 1024 };

app.ws('/echo', {
  ...common,
  message: (ws, message, isBinary) => ws.send(message, isBinary),
});
app.ws('/broadcast', {
  ...common,
  open: (ws) => ws.subscribe('broadcast'),
  message: (ws, message, isBinary) => app.publish('broadcast', message, isBinary),
});
app.listen('127.0.0.1', port, (ls) => {
  if (!ls) {
    process.stderr.write('uws-js: listen failed\n');
    process.exit(1);
  }
  process.stderr.write(`listening on 127.0.0.1:${uWS.us_socket_local_port(ls)}\n`);
});
process.on('SIGTERM', () => process.exit(0));
