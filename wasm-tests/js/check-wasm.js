// Checks that the two modules stay apart: the JS module imports nothing but wasm-bindgen's
// own glue, and the filter module carries none of that glue (and still speaks proxy-wasm).
// Usage: node check-wasm.js js|filter FILE.wasm
'use strict';

const fs = require('node:fs');

const [kind, file] = process.argv.slice(2);
const mod = new WebAssembly.Module(fs.readFileSync(file));
const imports = WebAssembly.Module.imports(mod);
const exported = WebAssembly.Module.exports(mod).map((e) => e.name);
const glue = (name) => /^__wbg|^__wbindgen/.test(name);
const problems = [];

if (kind === 'js') {
  for (const i of imports) {
    if (i.module !== './h2mux_bg.js' || !glue(i.name)) problems.push(`foreign import ${i.module}.${i.name}`);
  }
  for (const name of ['connection_new', 'relay_new', 'memory']) {
    if (!exported.includes(name)) problems.push(`missing export ${name}`);
  }
  if (exported.some((e) => e.startsWith('proxy_'))) problems.push('proxy-wasm exported in the JS module');
} else if (kind === 'filter') {
  for (const i of imports) {
    if (!['env', 'wasi_snapshot_preview1'].includes(i.module) || glue(i.name)) problems.push(`unexpected import ${i.module}.${i.name}`);
  }
  for (const e of exported) if (glue(e)) problems.push(`wasm-bindgen export ${e}`);
  if (WebAssembly.Module.customSections(mod, '__wasm_bindgen_unstable').length) problems.push('wasm-bindgen custom section');
  for (const name of ['proxy_abi_version_0_2_1', 'proxy_on_memory_allocate', 'proxy_on_new_connection']) {
    if (!exported.includes(name)) problems.push(`missing export ${name}`);
  }
} else {
  problems.push(`unknown kind ${kind}`);
}

if (problems.length) {
  console.error(`${file}: ${problems.join('; ')}`);
  process.exit(1);
}
console.log(`${file}: ${kind} module: ${imports.length} imports, ${exported.length} exported, as expected`);
