// h2mux-node --capture DIR: the raw bytes of each direction of each connection, on each side
// of h2mux, one file each, for the inspector page (dist/js/inspector/) or `inspect()`.
// Files: <pid>-<connection id>.<direction>.bin, direction one of client-to-h2mux,
// h2mux-to-client, h2mux-to-upstream, upstream-to-h2mux. Over TLS the client's bytes are
// the cleartext h2mux sees. Bounded: `maxFile` bytes per file (the rest of that direction is
// not written), `maxTotal` bytes in all, after which capture stops with a log line.
// Writes are synchronous: a file is complete when its connection's bytes have been handled,
// and nothing waits in memory.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const DIRECTIONS = ['client-to-h2mux', 'h2mux-to-client', 'h2mux-to-upstream', 'upstream-to-h2mux'];

/** A byte count: digits with an optional binary suffix k, m or g (16m = 16 MiB). */
function parseSize(text) {
  const m = /^(\d+)([kmg]?)(i?b)?$/i.exec(text || '');
  if (!m) return null;
  const mult = { '': 1, k: 1 << 10, m: 1 << 20, g: 1 << 30 }[m[2].toLowerCase()];
  const n = Number(m[1]) * mult;
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

class Capture {
  constructor(dir, maxFile, maxTotal, log) {
    fs.mkdirSync(dir, { recursive: true });
    this.dir = dir;
    this.maxFile = maxFile;
    this.maxTotal = maxTotal;
    this.total = 0;
    this.stopped = false;
    this.log = log;
  }

  /** The four files of one connection, opened as bytes first come. */
  connection(id) {
    return new ConnectionCapture(this, `${process.pid}-${id}`);
  }

  /** Takes up to `n` bytes from the total; stops capture once it is spent. */
  take(n) {
    if (this.stopped) return 0;
    const room = this.maxTotal - this.total;
    const k = Math.min(n, room);
    this.total += k;
    if (this.total >= this.maxTotal) {
      this.stopped = true;
      this.log(`capture: ${this.maxTotal} bytes written in all (--capture-total): capture stopped`);
    }
    return k;
  }
}

class ConnectionCapture {
  constructor(capture, name) {
    this.capture = capture;
    this.name = name;
    this.files = {}; // direction -> { fd, written }
  }

  /** Appends bytes seen in `direction` (one of DIRECTIONS). */
  write(direction, bytes) {
    if (!bytes || bytes.length === 0 || this.capture.stopped) return;
    let f = this.files[direction];
    if (!f) {
      const file = path.join(this.capture.dir, `${this.name}.${direction}.bin`);
      try {
        f = { fd: fs.openSync(file, 'w'), written: 0 };
      } catch (e) {
        this.capture.log(`capture: ${file}: ${e.message}`);
        f = { fd: null, written: 0 };
      }
      this.files[direction] = f;
    }
    if (f.fd === null) return;
    const want = Math.min(bytes.length, this.capture.maxFile - f.written);
    if (want <= 0) return;
    const n = this.capture.take(want);
    if (n <= 0) return;
    try {
      fs.writeSync(f.fd, bytes, 0, n);
      f.written += n;
    } catch (e) {
      this.capture.log(`capture: ${this.name}.${direction}: ${e.message}`);
      fs.closeSync(f.fd);
      f.fd = null;
    }
  }

  close() {
    for (const f of Object.values(this.files)) {
      if (f.fd !== null) {
        try { fs.closeSync(f.fd); } catch (_) { /* already gone */ }
        f.fd = null;
      }
    }
  }
}

module.exports = { Capture, parseSize, DIRECTIONS };
