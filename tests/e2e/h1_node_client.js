// Node's http client through h2mux (run.py's demo/http1_node_http_client): a keep-alive agent
// with one socket, a GET, chunked uploads (req.write without a Content-Length), a GET again.
// Prints what each request saw as JSON; run.py does the checking.
//   node h1_node_client.js PORT
'use strict';
const http = require('http');
const crypto = require('crypto');

const port = Number(process.argv[2]);
const agent = new http.Agent({keepAlive: true, maxSockets: 1});

function sha256(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
}

function request(name, method, path, chunks) {
  return new Promise((resolve, reject) => {
    const req = http.request({host: '127.0.0.1', port, method, path, agent}, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(parts);
        const sent = Buffer.concat(chunks || []);
        resolve({
          name, status: res.statusCode, body: body.toString('latin1'), bodyBytes: body.length,
          bodySha256: sha256(body), reused: req.reusedSocket, localPort: req.socket.localPort,
          head: req._header, sentChunked: /\r\ntransfer-encoding: chunked\r\n/i.test(req._header),
          sentBytes: sent.length, sentSha256: sha256(sent),
        });
      });
    });
    req.on('error', (e) => reject(e.message.startsWith(name) ? e : new Error(`${name}: ${e.message}`)));
    req.setTimeout(10000, () => req.destroy(new Error(`${name}: no answer within 10 s`)));
    for (const c of chunks || []) req.write(c);
    req.end();
  });
}

async function main() {
  // Under 64 KiB in all: under Envoy's write rules an HTTP/1.1 client's body goes on only
  // as far as the upstream's window (README, "HTTP/1.1 clients and upstreams").
  const upload = [];
  for (let i = 0; i < 12; i++) upload.push(crypto.randomBytes(2000 + 500 * i));
  const echo = [];
  for (let i = 0; i < 10; i++) echo.push(Buffer.from(`piece ${i} `.repeat(50 + i)));
  const out = [];
  out.push(await request('GET /', 'GET', '/'));
  out.push(await request('chunked POST /sha256', 'POST', '/sha256', upload));
  const e = await request('chunked POST /echo', 'POST', '/echo', echo);
  e.body = '';  // the hashes say it all
  out.push(e);
  out.push(await request('GET / again', 'GET', '/'));
  for (const r of out) if (r.name !== 'chunked POST /sha256') delete r.head;
  process.stdout.write(JSON.stringify(out));
  agent.destroy();
}

main().catch((e) => {
  process.stderr.write(`${e.message || e}\n`);
  process.exit(1);
});
