// h2mux-node between Node's own HTTP/2 client and Node's own HTTP/2 server (h2c).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const http2 = require('node:http2');
const crypto = require('node:crypto');
const path = require('node:path');
const { spawn } = require('node:child_process');

const BIN = path.resolve(__dirname, '../../dist/js/bin/h2mux-node.js');
const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR } = http2.constants;

function body(n, seed) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + seed * 17 + (i >> 10)) & 0xff;
  return b;
}
const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');

/** The upstream: GET /get/N answers N's body, POST /upload its length and hash, /trailers
 * ends with trailers, /reset is reset, /hang and /slow wait. */
function upstream() {
  const seen = { cancelled: [], sessions: 0, schemes: [] };
  const server = http2.createServer();
  server.on('session', (s) => { seen.sessions++; s.on('close', () => { seen.sessions--; }); });
  server.on('stream', (stream, headers) => {
    const p = headers[':path'];
    seen.schemes.push(headers[':scheme']);
    stream.on('error', () => {});
    stream.on('close', () => { if (stream.rstCode === NGHTTP2_CANCEL) seen.cancelled.push(p); });
    if (p.startsWith('/get/')) {
      const n = Number(p.slice(5));
      stream.respond({ ':status': 200, 'x-n': String(n) });
      stream.end(body(1000 + n * 97, n));
    } else if (p === '/upload') {
      const h = crypto.createHash('sha256');
      let len = 0;
      stream.on('data', (d) => { h.update(d); len += d.length; });
      stream.on('end', () => {
        stream.respond({ ':status': 200 });
        stream.end(JSON.stringify({ len, sha: h.digest('hex') }));
      });
    } else if (p === '/trailers') {
      stream.respond({ ':status': 200 }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'x-sum': 'abc' }));
      stream.end('body');
    } else if (p === '/reset') {
      stream.close(NGHTTP2_INTERNAL_ERROR);
    } else if (p === '/slow') {
      setTimeout(() => { stream.respond({ ':status': 200 }); stream.end('late'); }, 300);
    } // '/hang': never answered
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, seen, port: server.address().port })));
}

/** Starts h2mux-node; resolves once it listens. */
function proxy(upPort, extra = []) {
  const child = spawn(process.execPath, [BIN, '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${upPort}`, ...extra]);
  let err = '';
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (d) => {
      err += d;
      const m = /listening on [^:]+:(\d+)/.exec(err);
      if (m) resolve({ child, port: Number(m[1]), exited, stderr: () => err });
    });
    child.on('exit', (code) => reject(new Error(`h2mux-node exited ${code}: ${err}`)));
  });
}

function request(session, headers, payload) {
  return new Promise((resolve, reject) => {
    const req = session.request(headers);
    const chunks = [];
    let head = null, trailers = null;
    req.on('response', (h) => { head = h; });
    req.on('trailers', (t) => { trailers = t; });
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => resolve({ head, trailers, body: Buffer.concat(chunks) }));
    req.on('error', reject);
    if (payload) req.end(payload); else req.end();
  });
}

let up, px, session;

test.before(async () => {
  up = await upstream();
  px = await proxy(up.port);
  // Node's client counts the uploads it queued against its session memory (10 MB by
  // default) and refuses response heads past it: 16 uploads of 1-2 MiB need more.
  session = http2.connect(`http://127.0.0.1:${px.port}`, { maxSessionMemory: 64 });
  session.on('error', () => {});
});

test.after(async () => {
  session.destroy();
  px.child.kill('SIGKILL');
  up.server.close();
});

test('200 concurrent GETs, byte-exact', async () => {
  const all = await Promise.all(Array.from({ length: 200 }, (_, n) => request(session, { ':path': `/get/${n}` })));
  all.forEach((r, n) => {
    assert.equal(r.head[':status'], 200);
    assert.equal(r.head['x-n'], String(n));
    assert.ok(r.body.equals(body(1000 + n * 97, n)), `body of /get/${n}`);
  });
});

test('16 concurrent uploads of 1-2 MiB, byte-exact', async () => {
  const uploads = Array.from({ length: 16 }, (_, i) => body((1 << 20) + i * 65_536 + i, 100 + i));
  const all = await Promise.all(uploads.map((u) => request(session, { ':method': 'POST', ':path': '/upload' }, u)));
  all.forEach((r, i) => {
    assert.deepEqual(JSON.parse(r.body), { len: uploads[i].length, sha: sha(uploads[i]) });
  });
});

test('trailers reach the client', async () => {
  const r = await request(session, { ':path': '/trailers', te: 'trailers' });
  assert.equal(r.body.toString(), 'body');
  assert.equal(r.trailers['grpc-status'], '0');
  assert.equal(r.trailers['x-sum'], 'abc');
});

test('an upstream reset stays on its stream', async () => {
  const reset = request(session, { ':path': '/reset' }).then(() => null, (e) => e);
  const ok = request(session, { ':path': '/get/7' });
  const e = await reset;
  assert.ok(e, 'the reset stream failed');
  assert.equal(e.code, 'ERR_HTTP2_STREAM_ERROR');
  assert.ok((await ok).body.equals(body(1000 + 7 * 97, 7)));
});

test('a client cancel reaches the upstream; the connection goes on', async () => {
  const req = session.request({ ':path': '/hang' });
  req.on('error', () => {});
  await new Promise((r) => setTimeout(r, 100));
  req.close(NGHTTP2_CANCEL);
  for (let i = 0; i < 50 && !up.seen.cancelled.includes('/hang'); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(up.seen.cancelled.includes('/hang'), 'the upstream saw CANCEL');
  assert.equal((await request(session, { ':path': '/get/3' })).head[':status'], 200);
});

test('SIGTERM: GOAWAY, the stream under way finishes, exit 0', async () => {
  const p = await proxy(up.port);
  const s = http2.connect(`http://127.0.0.1:${p.port}`);
  s.on('error', () => {});
  const goaway = new Promise((resolve) => s.on('goaway', (code) => resolve(code)));
  await request(s, { ':path': '/get/1' });
  const slow = request(s, { ':path': '/slow' });
  await new Promise((r) => setTimeout(r, 50));
  p.child.kill('SIGTERM');
  assert.equal(await goaway, 0);
  assert.equal((await slow).body.toString(), 'late');
  s.close();
  assert.equal(await p.exited, 0);
  assert.match(p.stderr(), /SIGTERM: draining 1 connection/);
});

test('a client that closes its socket without GOAWAY: both connections end', async () => {
  const u = await upstream();
  const p = await proxy(u.port);
  try {
    const s = http2.connect(`http://127.0.0.1:${p.port}`);
    s.on('error', () => {});
    const r = await request(s, { ':method': 'GET', ':path': '/get/3' });
    assert.equal(r.head[':status'], 200);
    assert.equal(u.seen.sessions, 1);
    s.destroy(); // the socket closes: no GOAWAY
    const deadline = Date.now() + 5000;
    while (u.seen.sessions > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(u.seen.sessions, 0, 'the upstream connection outlived the client');
  } finally {
    p.child.kill('SIGKILL');
    u.server.close();
  }
});

test('--metrics: Prometheus text, every connection added up', async () => {
  const p = await proxy(up.port, ['--metrics', '127.0.0.1:0']);
  const m = await new Promise((resolve) => {
    const look = () => {
      const found = /metrics on http:\/\/([^/]+)\/metrics/.exec(p.stderr());
      if (found) resolve(found[1]); else setTimeout(look, 20);
    };
    look();
  });
  for (let i = 0; i < 2; i++) {
    const s = http2.connect(`http://127.0.0.1:${p.port}`);
    s.on('error', () => {});
    await Promise.all([1, 2, 3].map((n) => request(s, { ':path': `/get/${n}` })));
    // A graceful close: GOAWAY, then the socket ends (and h2mux-node ends both sides).
    await Promise.race([new Promise((r) => s.close(r)),
      new Promise((_, reject) => setTimeout(() => reject(new Error('session.close() hung')), 5000))]);
  }
  const scrape = () => new Promise((resolve, reject) => {
    require('node:http').get(`http://${m}/metrics`, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });
  const value = (text, name) => Number((new RegExp(`^${name} (\\d+)$`, 'm').exec(text) || [])[1]);
  let text = '';
  for (let i = 0; i < 50; i++) {
    text = await scrape();
    if (value(text, 'h2mux_connections_active') === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.match(text, /^# TYPE h2mux_streams_total counter$/m);
  assert.equal(value(text, 'h2mux_connections_total'), 2);
  assert.equal(value(text, 'h2mux_streams_total'), 6);
  assert.equal(value(text, 'h2mux_responses_2xx'), 6);
  assert.equal(value(text, 'h2mux_connections_active'), 0);
  p.child.kill('SIGKILL');
});

test('clients that connect and close at once (health checks) leave h2mux-node serving', { timeout: 20000 }, async () => {
  const net = require('node:net');
  const u = await upstream();
  const p = await proxy(u.port);
  try {
    for (let i = 0; i < 20; i++) {
      await new Promise((resolve) => {
        // Half of them say the preface and an empty SETTINGS first, as a health check might.
        const hello = i % 2 ? Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0', 'latin1') : '';
        const c = net.connect(p.port, '127.0.0.1', () => c.end(hello));
        c.resume(); // reads what comes (SETTINGS, GOAWAY) until h2mux-node closes
        c.on('close', resolve);
        c.on('error', resolve);
      });
    }
    await new Promise((r) => setTimeout(r, 300)); // the upstreams' SETTINGS arrive meanwhile
    const s = http2.connect(`http://127.0.0.1:${p.port}`);
    s.on('error', () => {});
    const r = await request(s, { ':method': 'GET', ':path': '/get/5' });
    assert.equal(r.head[':status'], 200);
    s.destroy();
    assert.equal(p.child.exitCode, null, `h2mux-node exited: ${p.stderr()}`);
  } finally {
    p.child.kill('SIGKILL');
    u.server.close();
  }
});

test('httpwg (HTTP/2 conformance) through h2mux-node: every test passes', async (t) => {
  const fs = require('node:fs');
  const os = require('node:os');
  const exe = [process.env.HTTPWG, path.join(os.homedir(), '.cargo/bin/httpwg')]
    .find((p) => p && fs.existsSync(p));
  if (!exe) { t.skip('httpwg not installed (make e2e-tools installs it)'); return; }
  // An upstream that answers every request with a body longer than httpwg's small windows,
  // as httpwg expects of a server.
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.respond({ ':status': 200 });
    stream.end(body(1000, 7));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const p = await proxy(server.address().port);
  try {
    const out = await new Promise((resolve) => {
      const c = spawn(exe, ['-a', `127.0.0.1:${p.port}`, '--frame-timeout', '2000'],
        { env: { ...process.env, SEQUENTIAL: '1', NO_COLOR: '1' } });
      let text = '';
      c.stdout.on('data', (d) => { text += d; });
      c.stderr.on('data', (d) => { text += d; });
      c.on('exit', () => resolve(text.replace(/\x1b\[[0-9;]*m/g, '')));
    });
    const m = /Passed (\d+)\/(\d+) tests/.exec(out);
    assert.ok(m, `no httpwg summary: ${(/Message:.*/.exec(out) || [out.slice(-1500)])[0]}`);
    assert.equal(Number(m[1]), Number(m[2]), `httpwg: ${m[0]}; ${[...out.matchAll(/httpwg::(rfc\w+::\w+::\w+)/g)].map((x) => x[1]).join(', ')}`);
  } finally {
    p.child.kill('SIGKILL');
    server.close();
  }
});

test('--tls CERT KEY (or --tls-cert/--tls-key): HTTP/2 by ALPN h2, HTTP/1.1 by ALPN http/1.1 with :scheme https', async () => {
  const fs = require('node:fs');
  const os = require('node:os');
  const https = require('node:https');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'h2mux-tls-'));
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  require('node:child_process').execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  for (const flags of [['--tls', cert, key], ['--tls-cert', cert, '--tls-key', key]]) {
  const u = await upstream();
  const p = await proxy(u.port, flags);
  try {
    const s = http2.connect(`https://127.0.0.1:${p.port}`, { rejectUnauthorized: false });
    s.on('error', () => {});
    const r = await request(s, { ':method': 'GET', ':path': '/get/4' });
    assert.equal(r.head[':status'], 200);
    assert.equal(sha(r.body), sha(body(1000 + 4 * 97, 4)));
    assert.equal(s.alpnProtocol, 'h2');
    s.destroy();
    const h1 = await new Promise((resolve, reject) => {
      https.get({ host: '127.0.0.1', port: p.port, path: '/get/6', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, (res) => {
        const chunks = [];
        const alpn = res.socket.alpnProtocol;
        res.on('data', (d) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks), alpn }));
      }).on('error', reject);
    });
    assert.equal(h1.status, 200);
    assert.equal(h1.alpn, 'http/1.1');
    assert.equal(sha(h1.body), sha(body(1000 + 6 * 97, 6)));
    assert.deepEqual(u.seen.schemes, ['https', 'https']);
  } finally {
    p.child.kill('SIGKILL');
    u.server.close();
  }
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a bad configuration: one line, exit code 2', async () => {
  const child = spawn(process.execPath, [BIN, '--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:1', '--config', '{"no_such_key": 1}']);
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const code = await new Promise((r) => child.on('exit', r));
  assert.equal(code, 2);
  assert.match(err.split('\n')[0], /^h2mux-node: configuration rejected: key `no_such_key`: unknown key$/);
});
