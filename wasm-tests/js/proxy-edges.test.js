// h2mux-node between Node's own HTTP/2 client and server: large headers, a slow reader, PING
// round trips, an upstream GOAWAY (the rest of proxy.test.js's list, issue 11).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http2 = require('node:http2');
const crypto = require('node:crypto');
const path = require('node:path');
const { spawn } = require('node:child_process');

const BIN = path.resolve(__dirname, '../../dist/js/bin/h2mux-node.js');
const { NGHTTP2_PROTOCOL_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;
// h2mux's default max_header_list_size (README, "Limits"): what a decoded header list may take.
const MAX_HEADER_LIST = 32 * 1024;
const BIG = 16 * 1024 * 1024; // the slow reader's download

const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** n bytes of a pattern that does not repeat at short periods. */
function body(n, seed) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + seed * 17 + (i >> 10)) & 0xff;
  return b;
}
/** A header value of n printable bytes. */
const text = (n, seed) => Buffer.from(body(n, seed).map((x) => 0x61 + (x % 26))).toString('latin1');

/** The upstream: /headers answers the length and hash of x-big and a response head with
 * large fields (?n=N bytes each), /big-head?n=N one field of N bytes, /bytes/N N bytes,
 * /slow answers after 300 ms, /goaway sends GOAWAY (NO_ERROR, its own stream the last)
 * before it answers; streams above that id are left unanswered. */
function upstream() {
  const seen = { paths: [], goawayLast: null };
  const server = http2.createServer({ maxSessionMemory: 64 });
  server.on('stream', (stream, headers) => {
    const p = headers[':path'];
    seen.paths.push(p);
    stream.on('error', () => {});
    if (seen.goawayLast !== null && stream.id > seen.goawayLast) return;
    const u = new URL(p, 'http://x');
    if (u.pathname === '/headers') {
      const v = headers['x-big'] || '';
      const n = Number(u.searchParams.get('n'));
      stream.respond({ ':status': 200, 'x-len': String(v.length), 'x-sha': sha(Buffer.from(v, 'latin1')),
        'x-resp-1': text(n, 1), 'x-resp-2': text(n, 2) });
      stream.end('ok');
    } else if (u.pathname === '/big-head') {
      stream.respond({ ':status': 200, 'x-huge': text(Number(u.searchParams.get('n')), 3) });
      stream.end('too big');
    } else if (u.pathname.startsWith('/bytes/')) {
      const n = Number(u.pathname.slice(7));
      stream.respond({ ':status': 200 });
      stream.end(body(n, 9));
    } else if (u.pathname === '/slow') {
      setTimeout(() => { stream.respond({ ':status': 200 }); stream.end('late'); }, 300);
    } else if (u.pathname === '/goaway') {
      seen.goawayLast = stream.id;
      stream.session.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id);
      stream.respond({ ':status': 200 });
      stream.end('goodbye');
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, seen, port: server.address().port })));
}

/** Starts h2mux-node (with --metrics); resolves once both listen. */
function proxy(upPort, extra = []) {
  const child = spawn(process.execPath, [BIN, '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${upPort}`,
    '--metrics', '127.0.0.1:0', ...extra]);
  let err = '';
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (d) => {
      err += d;
      const l = /listening on [^:]+:(\d+)/.exec(err);
      const m = /metrics on http:\/\/([^/]+)\/metrics/.exec(err);
      if (l && m) resolve({ child, port: Number(l[1]), metrics: m[1], stderr: () => err });
    });
    child.on('exit', (code) => reject(new Error(`h2mux-node exited ${code}: ${err}`)));
  });
}

function scrape(addr) {
  return new Promise((resolve, reject) => {
    require('node:http').get(`http://${addr}/metrics`, (res) => {
      let t = '';
      res.on('data', (d) => { t += d; });
      res.on('end', () => {
        const out = {};
        for (const m of t.matchAll(/^(h2mux_\w+) (\d+)$/gm)) out[m[1]] = Number(m[2]);
        resolve(out);
      });
    }).on('error', reject);
  });
}

/** The resident set of a process, in bytes. */
const rss = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;

function request(session, headers, payload) {
  return new Promise((resolve, reject) => {
    const req = session.request(headers);
    const chunks = [];
    let head = null;
    req.on('response', (h) => { head = h; });
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => resolve({ head, body: Buffer.concat(chunks) }));
    req.on('error', (e) => { e.rstCode = req.rstCode; reject(e); });
    req.end(payload);
  });
}

function connect(port) {
  const s = http2.connect(`http://127.0.0.1:${port}`);
  s.on('error', () => {});
  return s;
}

let up, px;

test.before(async () => {
  up = await upstream();
  px = await proxy(up.port);
});

test.after(() => {
  px.child.kill('SIGKILL');
  up.server.close();
});

test('large headers: a 14 KiB request field and response fields of 14 KiB go through', async () => {
  const s = connect(px.port);
  try {
    const big = text(14 * 1024, 7);
    const r = await request(s, { ':path': '/headers?n=14336', 'x-big': big });
    assert.equal(r.head[':status'], 200);
    assert.equal(r.head['x-len'], String(big.length));
    assert.equal(r.head['x-sha'], sha(Buffer.from(big, 'latin1')));
    assert.equal(r.head['x-resp-1'], text(14336, 1));
    assert.equal(r.head['x-resp-2'], text(14336, 2));
    assert.equal(r.body.toString(), 'ok');
  } finally {
    s.destroy();
  }
});

test('large headers past max_header_list_size: the request is refused on its stream, the connection goes on', async () => {
  const s = connect(px.port);
  try {
    const before = up.seen.paths.length;
    // 40 KiB of letters: an HPACK block (Huffman) under max_header_block, a list over
    // max_header_list_size: a stream error (RFC 9113 8.2.3 / 10.5.1), not a connection one.
    const e = await request(s, { ':path': '/headers?n=1', 'x-big': text(40 * 1024, 8) }).then(() => null, (x) => x);
    assert.ok(e, 'the request over the limit was answered');
    assert.equal(e.rstCode, NGHTTP2_PROTOCOL_ERROR, `reset code ${e.rstCode} (${e.message})`);
    assert.equal(up.seen.paths.length, before, 'the refused request reached the upstream');
    const r = await request(s, { ':path': '/headers?n=10', 'x-big': 'small' });
    assert.equal(r.head[':status'], 200);
  } finally {
    s.destroy();
  }
});

test('large headers past max_header_list_size from the upstream: 502 to the client, the connection goes on', async () => {
  const s = connect(px.port);
  try {
    const r = await request(s, { ':path': `/big-head?n=${MAX_HEADER_LIST + 4096}` }).then((x) => x, (x) => x);
    assert.equal(r.head?.[':status'], 502, `got ${r.message || JSON.stringify(r.head)}`);
    assert.equal(r.head['x-huge'], undefined);
    const ok = await request(s, { ':path': '/bytes/1000' });
    assert.ok(ok.body.equals(body(1000, 9)));
  } finally {
    s.destroy();
  }
});

test('a slow reader of 16 MiB: byte-exact, and h2mux-node holds a bounded amount', { timeout: 60000 }, async (t) => {
  const s = connect(px.port);
  try {
    // Warm up (the wasm memory and Node's pools grow to their working size), then the base.
    await request(s, { ':path': '/bytes/2000000' });
    await sleep(100);
    const m0 = await scrape(px.metrics);
    const rss0 = rss(px.child.pid);
    const req = s.request({ ':path': `/bytes/${BIG}` });
    req.on('error', () => {});
    const chunks = [];
    let got = 0, ended = false, maxRss = 0, maxHeld = 0, maxAhead = 0, samples = 0;
    let wake = null;
    req.on('end', () => { ended = true; if (wake) wake(); });
    req.on('readable', () => { if (wake) wake(); });
    // Paused mode: only what read() takes leaves Node's buffer, so the client's windows
    // (64 KiB for the stream) open at the pace of this loop, a read every 5 ms or more:
    // far slower than the upstream, which has all 16 MiB ready at once.
    let next = 1 << 20;
    while (!ended) {
      await sleep(5);
      for (let n = 0; n < 256 * 1024;) {
        const d = req.read();
        if (!d) break;
        chunks.push(d);
        n += d.length;
        got += d.length;
      }
      if (got >= next) {
        next += 1 << 20;
        const m = await scrape(px.metrics);
        const delta = (k) => (m[k] || 0) - (m0[k] || 0);
        samples++;
        // Taken from the upstream and not yet written to the client: what the relay holds.
        maxHeld = Math.max(maxHeld, delta('h2mux_bytes_from_upstream') - delta('h2mux_bytes_to_client'));
        // Written toward the client and not yet read by it: h2mux-node's socket buffer,
        // the kernel's, and Node's on the client side (DATA frame headers included).
        maxAhead = Math.max(maxAhead, delta('h2mux_bytes_to_client') - got);
        maxRss = Math.max(maxRss, rss(px.child.pid) - rss0);
      }
      if (!ended && !req.readableLength) await new Promise((r) => { wake = r; });
      wake = null;
    }
    const all = Buffer.concat(chunks);
    assert.equal(all.length, BIG);
    assert.equal(sha(all), sha(body(BIG, 9)));
    assert.ok(samples >= 8, `${samples} samples`);
    // The relay takes one upstream stream window (64 KiB) ahead of the client, and writes
    // the client what its windows allow: far below the 16 MiB the upstream had ready.
    assert.ok(maxHeld <= 128 * 1024, `h2mux held up to ${maxHeld} B of the upstream's bytes`);
    assert.ok(maxAhead <= 512 * 1024, `h2mux wrote up to ${maxAhead} B ahead of the reader`);
    // RSS is reported, not asserted: it moves by V8's garbage collection (up to ~15 MB
    // whether the download is 16 or 48 MiB), not by what is buffered.
    t.diagnostic(`slow reader: held up to ${maxHeld} B, ahead of the reader up to ${maxAhead} B, RSS +${maxRss} B`);
  } finally {
    s.destroy();
  }
});

test('PING round trips: each answered with its payload, RTT reported', async (t) => {
  const s = connect(px.port);
  try {
    await new Promise((r) => s.once('connect', r));
    const rtts = [];
    for (let i = 0; i < 5; i++) {
      const payload = Buffer.from(`ping-${i}!`.padEnd(8, '.'));
      const [rtt, echoed] = await new Promise((resolve, reject) =>
        s.ping(payload, (err, ms, p) => (err ? reject(err) : resolve([ms, p]))));
      assert.ok(echoed.equals(payload), `PING ${i}: payload ${echoed}`);
      assert.ok(Number.isFinite(rtt) && rtt >= 0, `PING ${i}: RTT ${rtt}`);
      rtts.push(rtt);
    }
    t.diagnostic(`PING RTTs (ms): ${rtts.map((x) => x.toFixed(3)).join(', ')}`);
    // Concurrent PINGs, each answered.
    const many = await Promise.all(Array.from({ length: 8 }, (_, i) => new Promise((resolve, reject) =>
      s.ping(Buffer.from(`conc-${i}..`.slice(0, 8)), (err, ms, p) => (err ? reject(err) : resolve(p.toString()))))));
    assert.deepEqual(many.sort(), Array.from({ length: 8 }, (_, i) => `conc-${i}..`.slice(0, 8)).sort());
  } finally {
    s.destroy();
  }
});

test('an upstream GOAWAY: streams under its last id finish, a later one is refused, the connection ends', async () => {
  const u = await upstream();
  const p = await proxy(u.port);
  const s = connect(p.port);
  try {
    const goaway = new Promise((resolve) => s.on('goaway', (code, last) => resolve({ code, last })));
    const closed = new Promise((resolve) => s.on('close', resolve));
    const big = request(s, { ':path': '/bytes/262144' });
    const slow = request(s, { ':path': '/slow' });
    await sleep(50); // both reach the upstream before the GOAWAY
    const bye = s.request({ ':path': '/goaway' });
    const byeBody = new Promise((resolve, reject) => {
      const c = [];
      bye.on('data', (d) => c.push(d));
      bye.on('end', () => resolve(Buffer.concat(c).toString()));
      bye.on('error', reject);
    });
    bye.end();
    // Sent with /goaway: above the upstream's last stream id, so the upstream never answers it.
    const after = request(s, { ':path': '/bytes/10' }).then((x) => x, (x) => x);
    const g = await goaway;
    assert.equal(g.code, http2.constants.NGHTTP2_NO_ERROR);
    assert.equal(g.last, bye.id, 'the client hears the upstream last stream in its own ids');
    assert.ok((await big).body.equals(body(262144, 9)));
    assert.equal((await slow).body.toString(), 'late');
    assert.equal(await byeBody, 'goodbye');
    const a = await after;
    // Refused: never processed, safe to retry (RFC 9113 6.8).
    assert.ok(a instanceof Error, `the stream above the last id was answered: ${JSON.stringify(a.head)}`);
    assert.equal(a.rstCode, NGHTTP2_REFUSED_STREAM, `${a.message}, code ${a.rstCode}`);
    assert.throws(() => s.request({ ':path': '/bytes/10' }), { code: 'ERR_HTTP2_GOAWAY_SESSION' });
    await closed;
    const m = await scrape(p.metrics);
    assert.equal(m.h2mux_upstream_goaways_received_no_error, 1);
  } finally {
    s.destroy();
    p.child.kill('SIGKILL');
    u.server.close();
  }
});
