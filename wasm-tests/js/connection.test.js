// The JS API by itself: a client Connection and a server Connection talking through memory.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { Connection } = require(path.resolve(__dirname, '../../dist/js'));

const GET = (p) => [[':method', 'GET'], [':scheme', 'http'], [':authority', 'example.com'], [':path', p]];
const POST = (p) => [[':method', 'POST'], [':scheme', 'http'], [':authority', 'example.com'], [':path', p]];

function pattern(n, seed) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return b;
}

/** A client and a server wired together; `serve` answers the server's events. */
class Pair {
  constructor(opts = {}) {
    this.now = 1000;
    this.client = new Connection({ role: 'client', ...opts.client }, this.now);
    this.server = new Connection({ role: 'server', ...opts.server }, this.now);
    this.clientEvents = [];
    this.serverEvents = [];
    this.toServer = Buffer.alloc(0);
    this.toClient = Buffer.alloc(0);
  }

  /** Moves bytes and events until nothing moves. */
  run(onServer = () => {}, onClient = () => {}) {
    for (let round = 0; round < 100000; round++) {
      let moved = false;
      const a = this.client.dataToSend();
      if (a.length) { this.toServer = Buffer.concat([this.toServer, a]); moved = true; }
      const b = this.server.dataToSend();
      if (b.length) { this.toClient = Buffer.concat([this.toClient, b]); moved = true; }
      if (this.toServer.length) {
        const n = this.server.receive(this.toServer, this.now);
        if (n) { this.toServer = this.toServer.subarray(n); moved = true; }
      }
      if (this.toClient.length) {
        const n = this.client.receive(this.toClient, this.now);
        if (n) { this.toClient = this.toClient.subarray(n); moved = true; }
      }
      for (let e; (e = this.server.pollEvent()); moved = true) { this.serverEvents.push(e); onServer(e); }
      for (let e; (e = this.client.pollEvent()); moved = true) { this.clientEvents.push(e); onClient(e); }
      if (!moved) return;
    }
    throw new Error('the connections did not settle');
  }
}

/** Collects each stream's response on the client, giving flow-control credit back. */
function collector(pair) {
  const got = new Map();
  const on = (e) => {
    if (!('streamId' in e)) return;
    const r = got.get(e.streamId) || { headers: null, body: [], trailers: null, ended: false, reset: null };
    got.set(e.streamId, r);
    if (e.type === 'headers') r.headers = e.headers;
    if (e.type === 'data') { r.body.push(Buffer.from(e.data)); pair.client.releaseCapacity(e.streamId, e.data.length); }
    if (e.type === 'trailers') r.trailers = e.headers;
    if (e.type === 'reset') r.reset = e.code;
    if (e.endStream) r.ended = true;
  };
  return { got, on };
}

test('concurrent streams carry their own bodies, under flow control', () => {
  const p = new Pair({ server: { max_concurrent_streams: 50 } });
  const bodies = new Map();
  const uploads = new Map();
  const onServer = (e) => {
    if (e.type === 'data') {
      const u = uploads.get(e.streamId) || [];
      u.push(Buffer.from(e.data));
      uploads.set(e.streamId, u);
      p.server.releaseCapacity(e.streamId, e.data.length);
    }
    if (e.endStream) {
      // Echo what came, then 200 KiB more: past the 64 KiB stream window.
      const body = Buffer.concat([...(uploads.get(e.streamId) || []), pattern(200 * 1024, e.streamId)]);
      bodies.set(e.streamId, body);
      p.server.sendHeaders(e.streamId, [[':status', '200'], ['content-length', String(body.length)]], false);
      p.server.sendData(e.streamId, body, true);
    }
  };
  const c = collector(p);
  const sent = new Map();
  for (let i = 0; i < 20; i++) {
    const upload = pattern(100 * 1024 + i, i);
    const id = p.client.openStream(POST(`/u${i}`), false);
    p.client.sendData(id, upload, true);
    sent.set(id, upload);
  }
  p.run(onServer, c.on);
  assert.equal(c.got.size, 20);
  for (const [id, upload] of sent) {
    const r = c.got.get(id);
    assert.ok(r.ended, `stream ${id} ended`);
    assert.deepEqual(r.headers[0], [':status', '200']);
    const body = Buffer.concat(r.body);
    assert.ok(body.subarray(0, upload.length).equals(upload), `stream ${id} echoed its upload`);
    assert.ok(body.equals(bodies.get(id)), `stream ${id} body`);
  }
  assert.ok(p.clientEvents.some((e) => e.type === 'dataSent'));
  assert.equal(p.client.streamCount, 0);
});

test('trailers, and headers outside latin1 refused', () => {
  const p = new Pair();
  const onServer = (e) => {
    if (e.type === 'headers') {
      p.server.sendHeaders(e.streamId, [[':status', '200'], ['x-v', 'caf\u00e9']], false);
      p.server.sendData(e.streamId, Buffer.from('ok'), false);
      p.server.sendTrailers(e.streamId, [['grpc-status', '0'], ['grpc-message', 'fine']]);
    }
  };
  const c = collector(p);
  const id = p.client.openStream([...GET('/t'), ['te', 'trailers']], true);
  p.run(onServer, c.on);
  const r = c.got.get(id);
  assert.deepEqual(r.headers, [[':status', '200'], ['x-v', 'caf\u00e9']]);
  assert.equal(Buffer.concat(r.body).toString(), 'ok');
  assert.deepEqual(r.trailers, [['grpc-status', '0'], ['grpc-message', 'fine']]);
  assert.throws(() => p.client.openStream([...GET('/'), ['x', '\u20ac']], true), { name: 'H2ArgumentError' });
  assert.throws(() => p.client.openStream([[':method', 'GET']], true), { name: 'H2SendError', rule: 'missing_scheme', code: 'PROTOCOL_ERROR' });
  assert.throws(() => p.client.openStream([...GET('/'), ['Upper', 'x']], true), { name: 'H2SendError', rule: 'uppercase_name' });
});

test('a reset touches its stream only', () => {
  const p = new Pair();
  const onServer = (e) => {
    if (e.type !== 'headers') return;
    const path = e.headers.find(([n]) => n === ':path')[1];
    if (path === '/reset') { p.server.resetStream(e.streamId, 0x2); return; }
    p.server.sendHeaders(e.streamId, [[':status', '204']], true);
  };
  const c = collector(p);
  const a = p.client.openStream(GET('/reset'), true);
  const b = p.client.openStream(GET('/ok'), true);
  const d = p.client.openStream(POST('/cancelled'), false);
  p.client.resetStream(d);
  p.run(onServer, c.on);
  assert.equal(c.got.get(a).reset, 'INTERNAL_ERROR');
  assert.deepEqual(c.got.get(b).headers, [[':status', '204']]);
  assert.ok(c.got.get(b).ended);
  const cancelled = p.serverEvents.find((e) => e.type === 'reset' && e.streamId === d);
  // The server heard of the cancelled stream only if its head left first.
  if (cancelled) assert.equal(cancelled.code, 'CANCEL');
  assert.throws(() => p.client.sendData(a, Buffer.from('x'), true), { name: 'H2SendError' });
});

test('GOAWAY: graceful from the server, streams under way finish', () => {
  const p = new Pair();
  let held = null;
  const onServer = (e) => { if (e.type === 'headers') held = e.streamId; };
  const c = collector(p);
  const id = p.client.openStream(GET('/slow'), true);
  p.run(onServer, c.on);
  assert.equal(held, id);
  p.server.goaway();
  p.run(onServer, c.on);
  const ga = p.clientEvents.filter((e) => e.type === 'goaway');
  assert.ok(ga.length >= 1);
  assert.equal(ga[0].code, 'NO_ERROR');
  assert.throws(() => p.client.openStream(GET('/late'), true), { name: 'H2SendError', rule: 'no_more_streams' });
  p.server.sendHeaders(held, [[':status', '200']], true);
  p.run(onServer, c.on);
  assert.ok(c.got.get(id).ended);
  assert.ok(p.server.isDone);
});

test('a broken rule is an H2ProtocolError with its code and rule, and a GOAWAY', () => {
  const server = new Connection({ role: 'server' }, 0);
  const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
  const settings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
  const data = Buffer.from([0, 0, 1, 0, 1, 0, 0, 0, 9, 0x61]);
  assert.throws(
    () => server.receive(Buffer.concat([preface, settings, data]), 1),
    { name: 'H2ProtocolError', code: 'PROTOCOL_ERROR', errorCode: 1, rule: 'data_on_idle_stream' },
  );
  const out = Buffer.from(server.dataToSend());
  // Our SETTINGS, the SETTINGS ACK, then GOAWAY (type 7) with PROTOCOL_ERROR.
  let at = 0, goaway = null;
  while (at + 9 <= out.length) {
    const len = (out[at] << 16) | (out[at + 1] << 8) | out[at + 2];
    if (out[at + 3] === 7) goaway = out.subarray(at + 9, at + 9 + len);
    at += 9 + len;
  }
  assert.ok(goaway, 'a GOAWAY was written');
  assert.equal(goaway.readUInt32BE(4), 1);
  const events = [];
  for (let e; (e = server.pollEvent()); ) events.push(e);
  assert.equal(events.at(-1).type, 'connectionTerminated');
  assert.equal(events.at(-1).rule, 'data_on_idle_stream');
});

test('PING, timers and bad options', () => {
  const p = new Pair({ client: { settings_timeout_ms: 500 } });
  p.run();
  p.client.ping(Buffer.from('12345678'));
  p.run();
  const ack = p.clientEvents.find((e) => e.type === 'pingAck');
  assert.equal(Buffer.from(ack.payload).toString(), '12345678');
  assert.throws(() => p.client.ping(Buffer.from('short')), { name: 'H2ArgumentError' });
  // A server that never answers our SETTINGS: the timer fires.
  const lone = new Connection({ role: 'client', settings_timeout_ms: 500 }, 0);
  lone.dataToSend();
  assert.equal(lone.nextTimeout(), 500);
  lone.handleTimeout(600);
  const events = [];
  for (let e; (e = lone.pollEvent()); ) events.push(e);
  assert.equal(events.at(-1).type, 'connectionTerminated');
  assert.equal(events.at(-1).code, 'SETTINGS_TIMEOUT');
  assert.throws(() => new Connection({ role: 'server', max_frame_size: 10 }), { name: 'H2ConfigError', key: 'max_frame_size' });
  assert.throws(() => new Connection({ role: 'proxy' }), { name: 'H2ArgumentError' });
  assert.throws(() => p.client.releaseCapacity(1, 1 << 30), { name: 'H2ArgumentError' });
});
