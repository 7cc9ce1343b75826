// The npm package as a user gets it: dist/h2mux-<version>.tgz installed into a scratch
// folder (offline: it has no dependencies), then required, imported and its bin run.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const DIST = path.resolve(__dirname, '../../dist');

test('the tarball installs and loads as h2mux, CommonJS and ESM', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(DIST, 'js/package.json'), 'utf8'));
  const tgz = path.join(DIST, `h2mux-${pkg.version}.tgz`);
  assert.ok(fs.existsSync(tgz), `${tgz} exists`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'h2mux-pkg-'));
  try {
    fs.writeFileSync(path.join(dir, 'package.json'), '{"name": "scratch", "private": true}');
    execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--silent', tgz], { cwd: dir, stdio: 'pipe' });
    const installed = path.join(dir, 'node_modules/h2mux');
    for (const f of ['package.json', 'README.md', 'node/h2mux.js', 'node/h2mux.d.ts', 'node/h2mux_bg.wasm', 'web/h2mux.js', 'web/h2mux_bg.wasm', 'bin/h2mux-node.js', 'bin/capture.js', 'inspector/index.html', 'inspector/inspector.js', 'inspector/inspector.css']) {
      assert.ok(fs.existsSync(path.join(installed, f)), `${f} in the package`);
    }
    const dts = fs.readFileSync(path.join(installed, 'node/h2mux.d.ts'), 'utf8');
    for (const t of ['export type H2Event', 'HeadersEvent', 'ConnectionTerminatedEvent', 'pollEvent(): H2Event | null', 'constructor(options: ConnectionOptions', 'export interface Inspection', 'export function inspect(bytes: Uint8Array | number[], options?: InspectOptions | null): Inspection']) {
      assert.ok(dts.includes(t), `the .d.ts declares ${t}`);
    }
    const cjs = `const { Connection, Relay } = require('h2mux');
      const c = new Connection({ role: 'client' }, 0);
      const r = new Relay('{}', 0);
      process.stdout.write(String(c.dataToSend().length > 24) + ' ' + typeof r.tick);`;
    assert.equal(execFileSync(process.execPath, ['-e', cjs], { cwd: dir }).toString(), 'true function');
    const esm = `import { Connection } from 'h2mux';
      const s = new Connection({ role: 'server' }, 0);
      process.stdout.write(String(s.streamCount));`;
    assert.equal(execFileSync(process.execPath, ['--input-type=module', '-e', esm], { cwd: dir }).toString(), '0');
    const help = execFileSync(path.join(dir, 'node_modules/.bin/h2mux-node'), ['--help']).toString();
    assert.match(help, /^usage: h2mux-node --listen/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
