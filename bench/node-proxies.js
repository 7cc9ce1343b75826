#!/usr/bin/env node
// The two Node proxies h2mux-node is measured against (bench/bench.py --node-only):
//   pipe   HOST:PORT UPSTREAM:PORT  node:net sockets piped both ways: the most a Node host can do
//   http2  HOST:PORT UPSTREAM:PORT  an HTTP/2 proxy written the obvious way with node:http2: one
//          client session to the upstream per server session, a request per stream, headers and
//          bodies piped (no trailers: the bench's small GETs have none)
// Each prints "listening on ADDR:PORT" to stderr once it accepts.
'use strict';

const net = require('node:net');
const http2 = require('node:http2');

const [mode, listen, upstream] = process.argv.slice(2);
const split = (s) => { const i = s.lastIndexOf(':'); return [s.slice(0, i), Number(s.slice(i + 1))]; };
if (!['pipe', 'http2'].includes(mode) || !listen || !upstream) {
  process.stderr.write('usage: node-proxies.js pipe|http2 HOST:PORT UPSTREAM_HOST:PORT\n');
  process.exit(2);
}
const [host, port] = split(listen);
const [upHost, upPort] = split(upstream);

let server;
if (mode === 'pipe') {
  server = net.createServer({ noDelay: true }, (client) => {
    const up = net.connect({ host: upHost, port: upPort, noDelay: true });
    client.pipe(up).pipe(client);
    client.on('error', () => up.destroy());
    up.on('error', () => client.destroy());
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
  });
} else {
  const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
  server = http2.createServer();
  server.on('session', (session) => {
    const up = http2.connect(`http://${upHost}:${upPort}`);
    up.on('error', () => session.destroy());
    session.on('close', () => up.close());
    up.on('close', () => session.destroy());
    session.upstream = up;
  });
  server.on('stream', (stream, headers) => {
    const out = {};
    for (const [k, v] of Object.entries(headers)) if (!HOP.has(k)) out[k] = v;
    const req = stream.session.upstream.request(out, { endStream: stream.readableEnded });
    req.on('response', (h) => {
      const back = {};
      for (const [k, v] of Object.entries(h)) if (!HOP.has(k)) back[k] = v;
      stream.respond(back);
    });
    stream.pipe(req);
    req.pipe(stream);
    req.on('error', () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
    stream.on('error', () => req.close(http2.constants.NGHTTP2_CANCEL));
  });
}
server.listen(port, host, () => {
  const a = server.address();
  process.stderr.write(`listening on ${a.address}:${a.port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
