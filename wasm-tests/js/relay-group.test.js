// RelayGroup: many client connections relayed by one shell (one buffer quota, one tick,
// metrics added up), each under its own id; its bytes never cross to another id.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { RelayGroup, Connection } = require(path.resolve(__dirname, '../../dist/js'));

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** A client connection's first bytes: preface, SETTINGS and a GET of `p`. */
function clientHello(p) {
  const c = new Connection({ role: 'client' });
  c.openStream([[':method', 'GET'], [':scheme', 'http'], [':authority', 'example.com'], [':path', p]], true);
  const out = Buffer.from(c.dataToSend());
  c.free();
  return out;
}

test('connections of one group keep their own bytes, and share its metrics', () => {
  const g = new RelayGroup('{}');
  const ids = [g.open(0), g.open(0), g.open(0)];
  assert.equal(new Set(ids).size, 3);
  assert.equal(g.connections, 3);
  const paths = ['/one', '/two', '/three'];
  ids.forEach((id, i) => g.fromClient(id, clientHello(paths[i]), false, 1));
  ids.forEach((id, i) => {
    // Upstream-bound: our preface, SETTINGS, and this connection's request only.
    const up = Buffer.from(g.takeUpstreamBytes(id));
    assert.ok(up.subarray(0, PREFACE.length).equals(PREFACE), `connection ${id}: no preface`);
    const server = new Connection({ role: 'server' });
    server.receive(up, 1);
    const seen = [];
    for (let e = server.pollEvent(); e; e = server.pollEvent()) {
      if (e.type === 'headers') seen.push(e.headers.find(([k]) => k === ':path')[1]);
    }
    server.free();
    assert.deepEqual(seen, [paths[i]]);
    // Client-bound: our SETTINGS and the ACK of the client's.
    assert.ok(g.takeClientBytes(id).length > 0);
    assert.equal(g.shouldClose(id), false);
  });
  g.closed(ids[1], 2);
  assert.equal(g.connections, 2);
  assert.equal(g.takeUpstreamBytes(ids[1]), undefined, 'a closed id still answers');
  const m = g.metrics();
  assert.equal(m.h2mux_connections_total, 3);
  assert.equal(m.h2mux_connections_active, 2);
  assert.equal(m.h2mux_client_requests_http2_total, 3);
  // The tick is the group's: due once a tick period (10 ms) has passed.
  assert.ok(g.nextDeadline() <= 12);
  const visited = g.tick(1000);
  assert.ok(visited.every((id) => ids.includes(id)));
  g.closed(ids[0], 1001);
  g.closed(ids[2], 1001);
  assert.equal(g.nextDeadline(), undefined);
  assert.equal(g.metrics().h2mux_connections_active, 0);
  g.free();
});

test('a bad configuration is refused naming its key', () => {
  assert.throws(() => new RelayGroup('{"no_such_key": 1}'), /no_such_key/);
});

test('routes are refused, naming the key: a JS host has no say in the upstream', () => {
  const { Relay } = require(path.resolve(__dirname, '../../dist/js'));
  const routes = '{"routes": [{"authority": "a.example", "cluster": "a"}]}';
  for (const make of [() => new RelayGroup(routes), () => new Relay(routes, 0)]) {
    assert.throws(make, (e) => e.name === 'H2ConfigError' && e.key === 'routes' && /not supported by the JS Relay/.test(e.message));
  }
  assert.throws(() => new Connection({ role: 'server', routes: [] }), { name: 'H2ConfigError', key: 'routes' });
});
