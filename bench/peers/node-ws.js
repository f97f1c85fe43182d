'use strict';
// node-ws.js: the Node `ws` peer for bench/run.sh. /echo echoes each message with its
// opcode; /broadcast sends each message to every /broadcast client (sender included),
// the way the ws README's broadcast example does it. Usage: node node-ws.js PORT
// (0 picks one); prints "listening on 127.0.0.1:PORT" to stderr. With TLS_CERT and
// TLS_KEY (PEM files) in the environment it serves wss:// (Node's https server).
const fs = require('fs');
const http = require('http');
const https = require('https');
const { WebSocketServer, WebSocket } = require('ws');

const port = Number(process.argv[2] || 0);
const opts = { noServer: true, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 };
const echo = new WebSocketServer(opts);
const broadcast = new WebSocketServer(opts);

echo.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
broadcast.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    for (const client of broadcast.clients) {
      if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
    }
  });
});

const notFound = (req, res) => {
  res.writeHead(404);
  res.end();
};
const server = process.env.TLS_CERT
  ? https.createServer({ cert: fs.readFileSync(process.env.TLS_CERT), key: fs.readFileSync(process.env.TLS_KEY) }, notFound)
  : http.createServer(notFound);
server.on('upgrade', (req, socket, head) => {
  const path = req.url.split('?')[0];
  const wss = path === '/echo' ? echo : path === '/broadcast' ? broadcast : null;
  if (!wss) {
    socket.destroy();
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});
server.listen({ host: '127.0.0.1', port, backlog: 4096 }, () => {
  process.stderr.write(`listening on 127.0.0.1:${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
