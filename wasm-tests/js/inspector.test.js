// The inspector: `h2mux-node --capture` records a real exchange of Node's own HTTP/2 client
// and server through it; `inspect()` decodes each of the four files, and a malformed copy
// stops with its code and rule. Then the page (dist/js/inspector/) in headless Debian
// chromium, served by a static server: its DOM shows the frames, the decoded headers and the
// error; a screenshot of it goes to target/inspector/inspector.png (docs/inspector.png is a
// copy of one).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const http2 = require('node:http2');
const { spawn, execFile, spawnSync } = require('node:child_process');

const DIST = path.resolve(__dirname, '../../dist/js');
const BIN = path.join(DIST, 'bin/h2mux-node.js');
const SHOTS = path.resolve(__dirname, '../../target/inspector');
const { inspect } = require(path.join(DIST, 'node/h2mux.js'));

function upstream() {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    if (headers[':path'] === '/hello') {
      stream.respond({ ':status': 200, 'content-type': 'text/plain', 'x-answer': '42' });
      stream.end('hello, inspector');
    } else if (headers[':path'] === '/upload') {
      let n = 0;
      stream.on('data', (d) => { n += d.length; });
      stream.on('end', () => {
        stream.respond({ ':status': 200 }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(String(n));
      });
    } else {
      stream.respond({ ':status': 404 });
      stream.end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function proxy(upPort, dir, extra = []) {
  const child = spawn(process.execPath, [BIN, '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${upPort}`, '--capture', dir, ...extra]);
  let err = '';
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (d) => {
      err += d;
      const m = /listening on [^:]+:(\d+)/.exec(err);
      if (m) resolve({ child, port: Number(m[1]), stderr: () => err });
    });
    child.on('exit', (code) => reject(new Error(`h2mux-node exited ${code}: ${err}`)));
  });
}

function request(session, headers, payload) {
  return new Promise((resolve, reject) => {
    const req = session.request(headers);
    const chunks = [];
    let head = null;
    let trailers = null;
    req.on('response', (h) => { head = h; });
    req.on('trailers', (t) => { trailers = t; });
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => resolve({ head, trailers, body: Buffer.concat(chunks).toString() }));
    req.on('error', reject);
    req.end(payload);
  });
}

/** A frame: 9-byte header and payload. */
function frame(type, flags, stream, payload) {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, Buffer.from(payload)]);
}

const headerMap = (block) => Object.fromEntries(block.headers);

let dir;
let files; // direction -> path

test.before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'h2mux-capture-'));
  const up = await upstream();
  const px = await proxy(up.address().port, dir);
  const session = http2.connect(`http://127.0.0.1:${px.port}`);
  session.on('error', () => {});
  const a = await request(session, { ':path': '/hello', 'x-test': 'inspector' });
  assert.equal(a.body, 'hello, inspector');
  const b = await request(session, { ':method': 'POST', ':path': '/upload' }, Buffer.alloc(70_000, 1));
  assert.equal(b.body, '70000');
  assert.equal(b.trailers['grpc-status'], '0');
  await new Promise((r) => session.close(r));
  // The connection's end reaches the files' last bytes; then the proxy goes.
  await new Promise((r) => setTimeout(r, 300));
  px.child.kill('SIGKILL');
  up.close();
  assert.match(px.stderr(), /capturing each connection's bytes into/);
  files = {};
  for (const f of fs.readdirSync(dir)) {
    const m = /^\d+-\d+\.([a-z0-9-]+)\.bin$/.exec(f);
    assert.ok(m, `capture file name ${f}`);
    files[m[1]] = path.join(dir, f);
  }
  assert.deepEqual(Object.keys(files).sort(),
    ['client-to-h2mux', 'h2mux-to-client', 'h2mux-to-upstream', 'upstream-to-h2mux']);
});

test.after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('the client\'s captured bytes: preface, frames, decoded requests', () => {
  const bytes = fs.readFileSync(files['client-to-h2mux']);
  const r = inspect(bytes);
  assert.equal(r.error, null, JSON.stringify(r.error));
  assert.equal(r.end, 'complete');
  assert.equal(r.direction, 'client');
  assert.equal(r.preface, true);
  assert.equal(r.decoded, bytes.length);
  assert.equal(r.frames[0].type, 'SETTINGS');
  assert.equal(r.frames[0].offset, 24);
  // Node's client asks for nothing: an empty SETTINGS.
  assert.deepEqual(r.frames[0].settings, []);
  assert.equal(r.frames[0].summary, 'no entries');
  const requests = r.blocks.filter((b) => b.kind === 'request');
  assert.equal(requests.length, 2);
  const get = headerMap(requests[0]);
  assert.equal(get[':method'], 'GET');
  assert.equal(get[':path'], '/hello');
  assert.equal(get['x-test'], 'inspector');
  assert.equal(headerMap(requests[1])[':method'], 'POST');
  assert.equal(requests[0].streamId, 1);
  assert.equal(requests[1].streamId, 3);
  // The upload: DATA on stream 3 adding up to 70,000 bytes, the last with END_STREAM.
  const data = r.frames.filter((f) => f.type === 'DATA' && f.streamId === 3);
  assert.equal(data.reduce((n, f) => n + f.dataLength, 0), 70_000);
  assert.ok(data[data.length - 1].flagNames.includes('END_STREAM'));
  // The timeline: stream 1 opened and ended by its HEADERS, stream 3 ended by DATA.
  const s1 = r.streams.find((s) => s.streamId === 1);
  const s3 = r.streams.find((s) => s.streamId === 3);
  assert.equal(s1.state, 'ended');
  assert.equal(s3.state, 'ended');
  assert.equal(r.frames[s3.frames[0]].type, 'HEADERS');
  assert.ok(r.frames.every((f) => f.streamError === null));
});

test('the other three directions decode too', () => {
  const up = inspect(fs.readFileSync(files['h2mux-to-upstream']));
  assert.equal(up.error, null, JSON.stringify(up.error));
  assert.equal(up.direction, 'client');
  assert.deepEqual(up.blocks.filter((b) => b.kind === 'request').map((b) => headerMap(b)[':path']), ['/hello', '/upload']);
  for (const name of ['upstream-to-h2mux', 'h2mux-to-client']) {
    const r = inspect(fs.readFileSync(files[name]), { direction: 'server' });
    assert.equal(r.error, null, `${name}: ${JSON.stringify(r.error)}`);
    assert.equal(r.preface, false);
    const heads = r.blocks.filter((b) => b.kind === 'response').map(headerMap);
    assert.deepEqual(heads.map((h) => h[':status']), ['200', '200'], name);
    assert.equal(heads[0]['x-answer'], '42', name);
    const trailers = r.blocks.filter((b) => b.kind === 'trailers');
    assert.deepEqual(trailers.map((b) => b.headers), [[['grpc-status', '0']]], name);
  }
  // Told without being asked: no preface, and the first block has :status.
  assert.equal(inspect(fs.readFileSync(files['upstream-to-h2mux'])).direction, 'server');
});

test('capture is bounded per file and in all, and says when it stops', async () => {
  const small = fs.mkdtempSync(path.join(os.tmpdir(), 'h2mux-capture-small-'));
  const up = await upstream();
  const px = await proxy(up.address().port, small, ['--capture-max', '100', '--capture-total', '1k']);
  try {
    for (let i = 0; i < 3; i++) {
      const session = http2.connect(`http://127.0.0.1:${px.port}`);
      session.on('error', () => {});
      assert.equal((await request(session, { ':path': '/hello' })).body, 'hello, inspector');
      await new Promise((r) => session.close(r));
    }
    await new Promise((r) => setTimeout(r, 200));
    const sizes = fs.readdirSync(small).map((f) => fs.statSync(path.join(small, f)).size);
    assert.ok(sizes.length >= 10, `files of three connections (${sizes.length})`);
    assert.ok(sizes.every((n) => n <= 100), `every file within --capture-max: ${sizes}`);
    assert.equal(sizes.reduce((a, b) => a + b, 0), 1024, 'exactly --capture-total in all');
    assert.match(px.stderr(), /capture: 1024 bytes written in all \(--capture-total\): capture stopped/);
    // A file cut at --capture-max still decodes up to where it ends.
    const first = fs.readdirSync(small).find((f) => f.endsWith('.client-to-h2mux.bin'));
    const r = inspect(fs.readFileSync(path.join(small, first)));
    assert.equal(r.error, null);
    assert.equal(r.end, 'incomplete');
  } finally {
    px.child.kill('SIGKILL');
    up.close();
    fs.rmSync(small, { recursive: true, force: true });
  }
  const bad = spawnSync(process.execPath, [BIN, '--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:1', '--capture', small, '--capture-max', 'lots']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr.toString(), /--capture-max: expected a byte count/);
});

/** The client's capture followed by one bad frame, and something after it. */
function malformed(kind) {
  const good = fs.readFileSync(files['client-to-h2mux']);
  const bad = kind === 'settings'
    ? frame(0x4, 0, 0, [0, 3, 0, 0, 0]) // SETTINGS of 5 bytes
    : frame(0x1, 0x5, 101, [0xff, 0x7f]); // HEADERS whose first field is index 189
  return Buffer.concat([good, bad, frame(0x6, 0, 0, Buffer.from('unseen!!'))]);
}

test('a malformed capture stops at the bad frame with its code and rule', () => {
  for (const [kind, code, rule] of [['settings', 'FRAME_SIZE_ERROR', 'frame_bad_length'], ['hpack', 'COMPRESSION_ERROR', 'hpack_bad_index']]) {
    const bytes = malformed(kind);
    const good = inspect(fs.readFileSync(files['client-to-h2mux']));
    const r = inspect(bytes);
    assert.equal(r.end, 'failed', kind);
    assert.equal(r.error.code, code, kind);
    assert.equal(r.error.rule, rule, kind);
    assert.equal(r.error.frame, good.frames.length, kind);
    assert.equal(r.frames.length, good.frames.length + 1, `${kind}: nothing after the bad frame`);
    assert.equal(r.error.offset, fs.statSync(files['client-to-h2mux']).size, kind);
    assert.ok(r.decoded < bytes.length, kind);
  }
  // Options are checked; bad bytes never throw.
  assert.throws(() => inspect(new Uint8Array(0), { direction: 'sideways' }), { name: 'H2ArgumentError' });
  assert.throws(() => inspect(new Uint8Array(0), { limits: { max_frame_size: 1 } }), { name: 'H2ConfigError' });
  assert.equal(inspect(new Uint8Array([1, 2, 3])).end, 'incomplete');
  const small = inspect(fs.readFileSync(files['client-to-h2mux']), { maxFrames: 2 });
  assert.equal(small.end, 'frame_limit');
  assert.equal(small.frames.length, 2);
});

// ---- The page in headless chromium ----------------------------------------------------

const CHROMIUM = ['chromium', 'chromium-browser'].find((c) => spawnSync(c, ['--version']).status === 0);

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json' };

/** dist/js as static files, and /captures/NAME from the test's own files. */
function staticServer(captures) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    let file;
    if (url.pathname.startsWith('/captures/')) file = captures[url.pathname.slice(10)];
    else {
      file = path.join(DIST, path.normalize(decodeURIComponent(url.pathname)));
      if (!file.startsWith(DIST)) file = null;
      else if (file.endsWith('/')) file = path.join(file, 'index.html');
    }
    if (!file || !fs.existsSync(file)) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream' });
    res.end(fs.readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function chromium(args, url) {
  // Root in a container has no user namespace for chromium's sandbox.
  const base = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
    `--user-data-dir=${fs.mkdtempSync(path.join(os.tmpdir(), 'h2mux-chromium-'))}`, '--virtual-time-budget=15000'];
  // Asynchronous: the static server answering it runs in this process.
  return new Promise((resolve, reject) => {
    execFile(CHROMIUM, [...base, ...args, url], { timeout: 90_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`chromium: ${err.message}\n${stderr}`)); else resolve(stdout.toString());
    });
  });
}

/** The page's DOM once it says it is done: rows of the frame table, header fields, error. */
function dom(html) {
  const text = (s) => s.replace(/<[^>]*>/g, '').replace(/&gt;/g, '>').replace(/&lt;/g, '<').replace(/&amp;/g, '&').replace(/&quot;/g, '"');
  const state = /<body[^>]*data-state="([a-z]+)"/.exec(html);
  const rows = [...html.matchAll(/<tr id="frame-(\d+)"[^>]*data-type="([A-Z_]+)"[^>]*>(.*?)<\/tr>/g)].map((m) => ({ index: Number(m[1]), type: m[2], text: text(m[3]) }));
  const fields = [...html.matchAll(/<td class="name">(.*?)<\/td><td class="value">(.*?)<\/td>/g)].map((m) => [text(m[1]), text(m[2])]);
  const err = /<div id="error"(?! hidden)[^>]*>(.*?)<\/div>/.exec(html);
  const streams = [...html.matchAll(/<div class="stream" data-stream="(\d+)">/g)].map((m) => Number(m[1]));
  return { state: state && state[1], rows, fields, error: err ? text(err[1]) : null, streams };
}

test('the page in headless chromium: frames, headers, the error; a screenshot', { skip: !CHROMIUM && 'chromium is not installed (make js installs it: apt-get install chromium)' }, async () => {
  const bad = path.join(dir, 'malformed.bin');
  fs.writeFileSync(bad, malformed('hpack'));
  const server = await staticServer({ 'client.bin': files['client-to-h2mux'], 'upstream.bin': files['upstream-to-h2mux'], 'bad.bin': bad });
  const base = `http://127.0.0.1:${server.address().port}/inspector/index.html`;
  try {
    const good = inspect(fs.readFileSync(files['client-to-h2mux']));
    const page = dom(await chromium(['--dump-dom'], `${base}?capture=/captures/client.bin`));
    assert.equal(page.state, 'done');
    assert.equal(page.rows.length, good.frames.length);
    assert.deepEqual(page.rows.map((r) => r.type), good.frames.map((f) => f.type));
    assert.ok(page.rows.some((r) => r.type === 'HEADERS'));
    const fields = page.fields.map(([n, v]) => `${n}: ${v}`);
    for (const f of [':method: GET', ':path: /hello', 'x-test: inspector', ':method: POST', ':path: /upload']) {
      assert.ok(fields.includes(f), `the page shows ${f}`);
    }
    assert.equal(page.error, null);
    assert.deepEqual(page.streams, [1, 3]);

    const answer = dom(await chromium(['--dump-dom'], `${base}?capture=/captures/upstream.bin&direction=server`));
    assert.equal(answer.state, 'done');
    assert.ok(answer.fields.some(([n, v]) => n === ':status' && v === '200'));
    assert.ok(answer.fields.some(([n, v]) => n === 'grpc-status' && v === '0'));

    const broken = dom(await chromium(['--dump-dom'], `${base}?capture=/captures/bad.bin`));
    assert.equal(broken.state, 'done');
    assert.match(broken.error, /COMPRESSION_ERROR/);
    assert.match(broken.error, /hpack_bad_index/);
    assert.equal(broken.rows.length, good.frames.length + 1, 'the page stops at the bad frame');
    assert.match(broken.rows[broken.rows.length - 1].text, /hpack_bad_index/);

    // Hex pasted into the URL, with xxd-style offsets and 0x: the same first frames.
    const hex = '00000000: 0x00 0x00 0x06 0x04 0x00 0x00 0x00 0x00 0x00  ..........\n00000009: 0003 0000 0064';
    const pasted = dom(await chromium(['--dump-dom'], `${base}?hex=${encodeURIComponent(hex)}&direction=server`));
    assert.equal(pasted.state, 'done');
    assert.equal(pasted.rows.length, 1);
    assert.match(pasted.rows[0].text, /MAX_CONCURRENT_STREAMS=100/);

    fs.mkdirSync(SHOTS, { recursive: true });
    const shot = path.join(SHOTS, 'inspector.png');
    fs.rmSync(shot, { force: true });
    await chromium([`--screenshot=${shot}`, '--window-size=1280,1500', '--hide-scrollbars'], `${base}?capture=/captures/client.bin`);
    const png = fs.readFileSync(shot);
    assert.equal(png.subarray(1, 4).toString(), 'PNG');
    assert.ok(png.length > 20_000, `a screenshot with content (${png.length} bytes)`);
  } finally {
    server.close();
  }
});
