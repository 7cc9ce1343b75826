#!/usr/bin/env node
// h2mux-node: a TCP proxy on node:net with h2mux's relay in the middle. Each accepted
// connection gets one upstream connection; one RelayGroup relays them all (one buffer
// quota, one tick, metrics added up, as an Envoy worker's VM); both directions are written as
// soon as the relay has bytes for them (no doorbells: a Node host may write either way at
// any time). Back-pressure: a peer whose socket buffer is full stops the reading of the
// other peer, and client bytes the relay holds past a limit stop the reading of the client.
'use strict';

const fs = require('node:fs');
const net = require('node:net');
const http = require('node:http');
const tls = require('node:tls');
const { RelayGroup } = require('../node/h2mux.js');
const { Capture, parseSize } = require('./capture.js');

const USAGE = 'usage: h2mux-node --listen HOST:PORT --upstream HOST:PORT [--config JSON] [--metrics HOST:PORT]\n'
  + '                  [--tls CERT KEY | --tls-cert CERT --tls-key KEY] [--capture DIR [--capture-max BYTES] [--capture-total BYTES]]';
// Client bytes the relay may hold before the client is read no more (Envoy's default
// per-connection buffer limit).
const HELD_LIMIT = 1 << 20;
// How long a closing socket may take to flush before it is destroyed.
const LINGER_MS = 5000;

function fail(message) {
  process.stderr.write(`h2mux-node: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function hostPort(flag, text) {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(text || '');
  const port = m && Number(m[2]);
  if (!m || !m[1] || !(port >= 0 && port <= 65535)) fail(`${flag}: expected HOST:PORT, got ${JSON.stringify(text)}`);
  return { host: m[1], port };
}

function parseArgs(argv) {
  const opts = { config: '{}', captureMax: 16 << 20, captureTotal: 1 << 30 };
  const size = (flag, text) => parseSize(text) || fail(`${flag}: expected a byte count (e.g. 16m), got ${JSON.stringify(text)}`);
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${flag} needs a value`);
      return argv[++i];
    };
    switch (flag) {
      case '--listen': opts.listen = hostPort(flag, value()); break;
      case '--upstream': opts.upstream = hostPort(flag, value()); break;
      case '--config': opts.config = value(); break;
      case '--metrics': opts.metrics = hostPort(flag, value()); break;
      case '--tls': opts.tlsCert = value(); opts.tlsKey = value(); break;
      case '--tls-cert': opts.tlsCert = value(); break;
      case '--tls-key': opts.tlsKey = value(); break;
      case '--capture': opts.capture = value(); break;
      case '--capture-max': opts.captureMax = size(flag, value()); break;
      case '--capture-total': opts.captureTotal = size(flag, value()); break;
      case '-h': case '--help': process.stdout.write(`${USAGE}\n`); process.exit(0); break;
      default: fail(`unknown argument ${JSON.stringify(flag)}`);
    }
  }
  if (!opts.listen) fail('--listen is required');
  if (!opts.upstream) fail('--upstream is required');
  if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) fail('--tls-cert and --tls-key go together');
  return opts;
}

// H2MUX_NODE_DEBUG=1: a line per connection as it ends.
const DEBUG = Boolean(process.env.H2MUX_NODE_DEBUG);
const log = (msg) => process.stderr.write(`h2mux-node: ${msg}\n`);
const now = () => Math.floor(performance.now());

/** The configuration checked once, as the filter's on_configure does. */
function checkConfig(text) {
  try {
    new RelayGroup(text).free();
  } catch (e) {
    fail(e.message);
  }
  const parsed = JSON.parse(text.trim() || '{}');
  return { tickMs: parsed.tick_ms || 10, shutdownMs: (parsed.shutdown_timeout_ms || 10000) + 1000 };
}

const GAUGES = new Set(['h2mux_connections_active', 'h2mux_quota_bytes_in_use', 'h2mux_quota_waiters']);

/** Prometheus text: the same names as the filter's, every connection's, gone ones included. */
function prometheus(group) {
  const metrics = group.metrics();
  let out = '';
  for (const name of Object.keys(metrics).sort()) {
    out += `# TYPE ${name} ${GAUGES.has(name) ? 'gauge' : 'counter'}\n${name} ${metrics[name]}\n`;
  }
  return out;
}

/** One client connection and its upstream connection, relayed as connection `id` of the group. */
class Proxied {
  constructor(client, upstreamAddr, group, conns, capture) {
    this.client = client;
    this.conns = conns;
    this.group = group;
    this.id = group.open(now());
    // --capture: each direction's bytes on each side, as written and as read.
    this.capture = capture ? capture.connection(this.id) : null;
    this.done = false;
    this.clientEnded = false;
    this.upstream = net.connect({ ...upstreamAddr, allowHalfOpen: true, noDelay: true });
    client.setNoDelay(true);
    // Events still queued when the connection is done (gone from the group) are dropped.
    client.on('data', (d) => { if (!this.done) { this.capture?.write('client-to-h2mux', d); this.group.fromClient(this.id, d, false, now()); this.flush(); } });
    // Like tcp_proxy: the client's end goes on to the upstream (a half-close) once the relay
    // has passed on every client byte; the upstream's close then ends the connection.
    client.on('end', () => {
      if (this.done) return;
      this.clientEnded = true;
      this.group.fromClient(this.id, new Uint8Array(0), true, now());
      this.flush();
    });
    this.upstream.on('data', (d) => { if (!this.done) { this.capture?.write('upstream-to-h2mux', d); this.group.fromUpstream(this.id, d, false, now()); this.flush(); } });
    // Like tcp_proxy: the upstream's end is the connection's end, once the relay said its last.
    this.upstream.on('end', () => this.upstreamGone());
    this.upstream.on('error', (e) => { log(`upstream ${upstreamAddr.host}:${upstreamAddr.port}: ${e.message}`); this.upstreamGone(); });
    client.on('error', () => this.destroy());
    client.on('close', () => this.destroy());
    this.upstream.on('close', () => this.upstreamGone());
    client.on('drain', () => this.flush());
    this.upstream.on('drain', () => this.flush());
    conns.set(this.id, this);
  }

  /** Writes what the relay has for each peer and sets back-pressure. */
  flush() {
    if (this.done) return;
    const up = this.group.takeUpstreamBytes(this.id);
    // After the client's end went on upstream, what the relay still has for the upstream
    // (a reset, a window update) has no one to read it.
    if (up && !this.upstream.destroyed && !this.upstream.writableEnded) {
      this.capture?.write('h2mux-to-upstream', up);
      this.upstream.write(up);
    }
    const down = this.group.takeClientBytes(this.id);
    if (down && !this.client.destroyed) {
      this.capture?.write('h2mux-to-client', down);
      this.client.write(down);
    }
    if (this.group.shouldClose(this.id)) { this.close(); return; }
    if (this.clientEnded && this.group.heldClientBytes(this.id) === 0 && !this.upstream.writableEnded) this.upstream.end();
    const stopClient = this.upstream.writableNeedDrain || this.group.heldClientBytes(this.id) > HELD_LIMIT;
    if (stopClient) this.client.pause(); else this.client.resume();
    if (this.client.writableNeedDrain) this.upstream.pause(); else this.upstream.resume();
  }

  shutdown() {
    this.group.shutdown(this.id, now());
    this.flush();
  }

  upstreamGone() {
    if (this.done) return;
    this.group.fromUpstream(this.id, new Uint8Array(0), true, now());
    this.flush();
    this.close();
  }

  /** Both sockets end after their last bytes; destroyed if they linger. */
  close() {
    if (this.done) return;
    this.client.end();
    this.upstream.end();
    setTimeout(() => this.destroy(), LINGER_MS).unref();
    this.finish();
  }

  destroy() {
    this.client.destroy();
    this.upstream.destroy();
    this.finish();
  }

  finish() {
    if (this.done) return;
    this.done = true;
    this.capture?.close();
    this.group.closed(this.id, now());
    if (DEBUG) log(`connection ${this.id} done`);
    this.conns.delete(this.id);
    if (this.conns.onEmpty && this.conns.size === 0) this.conns.onEmpty();
  }
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const { tickMs, shutdownMs } = checkConfig(opts.config);
  const group = new RelayGroup(opts.config);
  const conns = new Map(); // by the group's connection id
  let capture = null;
  if (opts.capture) {
    try {
      capture = new Capture(opts.capture, opts.captureMax, opts.captureTotal, log);
    } catch (e) {
      fail(`--capture: ${e.message}`);
    }
    log(`capturing each connection's bytes into ${opts.capture} (at most ${opts.captureMax} per file, ${opts.captureTotal} in all)`);
  }
  const accept = (client) => new Proxied(client, opts.upstream, group, conns, capture);
  let server;
  if (opts.tlsCert) {
    // TLS toward the client, offering h2 then http/1.1 (as the Envoy listener does): the
    // relay tells the two apart from the first bytes, and HTTP/1.1 requests get :scheme https.
    let key, cert;
    try {
      key = fs.readFileSync(opts.tlsKey);
      cert = fs.readFileSync(opts.tlsCert);
    } catch (e) {
      fail(`TLS: ${e.message}`);
    }
    server = tls.createServer({ key, cert, ALPNProtocols: ['h2', 'http/1.1'], allowHalfOpen: true },
      (client) => { client.setNoDelay(true); group.setClientTls(accept(client).id); });
    server.on('tlsClientError', (e, s) => { if (DEBUG) log(`TLS handshake: ${e.message}`); s.destroy(); });
  } else {
    server = net.createServer({ allowHalfOpen: true, noDelay: true }, accept);
  }
  // One tick for every connection; only those it visited may have new bytes or a close.
  setInterval(() => {
    const t = now();
    const due = group.nextDeadline();
    if (due === undefined || due > t) return;
    for (const id of group.tick(t)) {
      const c = conns.get(id);
      if (c) c.flush();
    }
  }, tickMs).unref();
  server.on('error', (e) => { log(`listen ${opts.listen.host}:${opts.listen.port}: ${e.message}`); process.exit(1); });
  server.listen(opts.listen.port, opts.listen.host, () => {
    const a = server.address();
    log(`listening on ${a.address}:${a.port}${opts.tlsCert ? ' (TLS)' : ''}, upstream ${opts.upstream.host}:${opts.upstream.port}`);
  });
  if (opts.metrics) {
    const m = http.createServer((req, res) => {
      if (req.url !== '/metrics') { res.writeHead(404).end(); return; }
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(prometheus(group));
    });
    m.on('error', (e) => { log(`metrics ${opts.metrics.host}:${opts.metrics.port}: ${e.message}`); process.exit(1); });
    m.listen(opts.metrics.port, opts.metrics.host, () => {
      const a = m.address();
      log(`metrics on http://${a.address}:${a.port}/metrics`);
    });
    m.unref();
  }
  let draining = false;
  const drain = (signal) => {
    if (draining) return;
    draining = true;
    log(`${signal}: draining ${conns.size} connection(s)`);
    server.close();
    conns.onEmpty = () => { log('drained'); process.exit(0); };
    for (const c of [...conns.values()]) c.shutdown();
    if (conns.size === 0) conns.onEmpty();
    setTimeout(() => { log(`drain timeout: ${conns.size} connection(s) cut`); process.exit(0); }, shutdownMs).unref();
  };
  process.on('SIGTERM', () => drain('SIGTERM'));
  process.on('SIGINT', () => drain('SIGINT'));
}

main();
