// The inspector page: input (hex or a file), then `inspect()` of the package's ES module
// build, rendered as a per-stream timeline, a frame table and the decoded header blocks.
// No server logic: any static server of the package's folder will do (browsers refuse ES
// modules and wasm from file://). URL parameters: `capture=URL` (a file of raw bytes to
// load), `hex=...`, `direction=auto|client|server`, `fromStart=0`. When a result is shown,
// `document.body.dataset.state` is `done` (or `error` when the input could not be read).
import init, { inspect } from '../web/h2mux.js';

const $ = (id) => document.getElementById(id);

/** Bytes from hex text: whitespace, commas, `0x`/`\x`, xxd offsets and ASCII columns,
 * `hexdump -C` offsets and `|...|` columns are ignored. Throws on anything else. */
export function parseHex(text) {
  const lines = text.split(/\r?\n/);
  let digits = '';
  let hexdump = false;
  for (let line of lines) {
    // hexdump -C ends with the length as an offset alone.
    if (hexdump && /^\s*[0-9a-fA-F]{7,8}\s*$/.test(line)) continue;
    line = line.replace(/\|[^|]*\|\s*$/, ''); // hexdump -C's ASCII column
    const xxd = /^\s*[0-9a-fA-F]{4,}:\s?(.*)$/.exec(line);
    if (xxd) {
      // xxd: "00000010: 5052 4920 ...  PRI ..." (the ASCII column after two spaces).
      line = xxd[1].split(/\s{2,}/)[0];
    } else {
      const hd = /^([0-9a-fA-F]{7,8})\s{2}(.*)$/.exec(line); // hexdump -C's offset
      if (hd) { line = hd[2]; hexdump = true; }
    }
    line = line.replace(/0x|\\x/gi, '').replace(/[\s,;:]/g, '');
    if (/[^0-9a-fA-F]/.test(line)) {
      const bad = line.match(/[^0-9a-fA-F]/)[0];
      throw new Error(`not hex: ${JSON.stringify(bad)}`);
    }
    digits += line;
  }
  if (digits.length % 2) throw new Error(`an odd number of hex digits (${digits.length})`);
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.substr(i * 2, 2), 16);
  return out;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : String(c));
  return e;
}

const short = { END_STREAM: 'ES', END_HEADERS: 'EH', PADDED: 'PAD', PRIORITY: 'PRI', ACK: 'ACK' };

function verdict(v) {
  return `${v.code} (${v.rule}): ${v.reason}`;
}

function renderSummary(r) {
  const end = {
    complete: 'every byte decoded',
    incomplete: `the input ends inside a frame at offset ${r.incompleteAt} (h2mux would wait for more)`,
    failed: 'stopped at a connection error',
    frame_limit: 'stopped at the frame limit',
    byte_limit: 'stopped at the byte limit',
  }[r.end];
  $('summary').textContent = `${r.direction === 'unknown' ? 'direction not told' : `${r.direction}'s bytes`}`
    + `${r.preface ? ', client preface' : ''}; ${r.frames.length} frames, ${r.blocks.length} header blocks,`
    + ` ${r.streams.length} streams; ${r.decoded} of ${r.length} bytes decoded: ${end}.`;
  const err = $('error');
  err.hidden = !r.error;
  err.replaceChildren();
  if (r.error) {
    err.append(
      el('strong', {}, `Connection error ${r.error.code} (0x${r.error.errorCode.toString(16)})`),
      ' rule ', el('code', { class: 'rule' }, r.error.rule), `: ${r.error.reason}`,
      el('br'),
      r.error.frame === null
        ? `at offset ${r.error.offset}, before any frame.`
        : `at frame #${r.error.frame}, offset ${r.error.offset}. h2mux sends GOAWAY(${r.error.code}) and reads nothing after it.`,
    );
  }
}

function renderTimeline(r) {
  const box = $('timeline');
  box.replaceChildren();
  if (r.streams.length === 0) box.append(el('p', {}, 'No frame on a stream.'));
  for (const s of r.streams) {
    const row = el('div', { class: 'stream', 'data-stream': s.streamId });
    row.append(el('span', { class: 'sid' }, `stream ${s.streamId}`));
    s.frames.forEach((i, n) => {
      const f = r.frames[i];
      if (n > 0) row.append(el('span', { class: 'arrow' }, '→'));
      const flags = f.flagNames.map((x) => short[x] || x).join(' ');
      let label = f.type;
      if (f.type === 'DATA') label += ` ${f.dataLength ?? ''}`;
      if (f.type === 'RST_STREAM') label += ` ${f.code}`;
      const chip = el('a', { class: `chip t-${f.type.toLowerCase()}${f.streamError ? ' bad' : ''}`, href: `#frame-${i}`, title: f.summary },
        label, flags ? el('small', {}, ` ${flags}`) : '');
      row.append(chip);
    });
    const endLabel = {
      idle: 'idle', open: 'open', ended: 'END_STREAM', reset_by_sender: 'RST by sender',
      reset_by_receiver: 'reset by h2mux',
    }[s.state];
    row.append(el('span', { class: `state s-${s.state}` }, endLabel));
    box.append(row);
  }
}

function renderFrames(r) {
  const body = $('frames').tBodies[0];
  body.replaceChildren();
  r.frames.forEach((f, i) => {
    const failed = r.error && r.error.frame === i;
    const cls = failed ? 'failed' : f.streamError ? 'stream-error' : '';
    let v = '';
    if (failed) v = verdict(r.error);
    else if (f.streamError) v = `RST_STREAM ${verdict(f.streamError)}`;
    let payload = f.summary;
    if (f.block !== null) payload += ` → block #${f.block}`;
    body.append(el('tr', { id: `frame-${i}`, class: cls, 'data-type': f.type, 'data-stream': f.streamId },
      el('td', {}, i), el('td', {}, f.offset), el('td', {}, f.streamId), el('td', {}, f.type),
      el('td', {}, f.flagNames.join(' ')), el('td', {}, f.length), el('td', { class: 'payload' }, payload),
      el('td', { class: 'verdict' }, v)));
  });
}

function renderBlocks(r) {
  const box = $('blocks');
  box.replaceChildren();
  if (r.blocks.length === 0) box.append(el('p', {}, 'No header block.'));
  for (const b of r.blocks) {
    const sens = new Set(b.sensitive);
    const head = `#${b.index} stream ${b.streamId}: ${b.kind || 'decoded for HPACK state only'}`
      + `${b.endStream ? ', END_STREAM' : ''}; frames ${b.frames.map((f) => `#${f}`).join(' ')};`
      + ` dynamic table after: ${b.tableEntries} entries, ${b.tableSize} bytes`;
    const table = el('table', { class: 'fields' });
    for (const [n, v] of b.headers) {
      table.append(el('tr', {}, el('td', { class: 'name' }, n), el('td', { class: 'value' }, v),
        el('td', {}, sens.has(n) ? 'never indexed' : '')));
    }
    const div = el('div', { class: `block${b.error ? ' bad' : ''}`, 'data-block': b.index }, el('h3', {}, head), table);
    if (b.fieldsCut) div.append(el('p', {}, 'More fields were decoded than the page keeps (maxKeptBytes).'));
    if (b.error) div.append(el('p', { class: 'verdict' }, `RST_STREAM ${verdict(b.error)}`));
    box.append(div);
  }
}

function show(bytes) {
  const opts = { direction: $('direction').value, fromStart: $('fromStart').checked };
  const r = inspect(bytes, opts);
  window.h2muxInspection = r;
  renderSummary(r);
  renderTimeline(r);
  renderFrames(r);
  renderBlocks(r);
  $('out').hidden = false;
  $('status').textContent = '';
  document.body.dataset.state = 'done';
}

function fail(message) {
  $('status').textContent = message;
  $('out').hidden = true;
  document.body.dataset.state = 'error';
}

async function fromFile(file) {
  show(new Uint8Array(await file.arrayBuffer()));
}

async function main() {
  await init();
  const q = new URLSearchParams(location.search);
  if (q.get('direction')) $('direction').value = q.get('direction');
  if (q.get('fromStart') === '0') $('fromStart').checked = false;
  $('go').onclick = () => {
    try { show(parseHex($('hex').value)); } catch (e) { fail(e.message); }
  };
  $('file').onchange = (e) => { if (e.target.files[0]) fromFile(e.target.files[0]).catch((x) => fail(x.message)); };
  const drop = $('drop');
  drop.ondragover = (e) => { e.preventDefault(); drop.classList.add('over'); };
  drop.ondragleave = () => drop.classList.remove('over');
  drop.ondrop = (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const f = e.dataTransfer.files[0];
    if (f) fromFile(f).catch((x) => fail(x.message));
  };
  $('status').textContent = 'Ready.';
  document.body.dataset.state = 'ready';
  if (q.get('capture')) {
    const res = await fetch(q.get('capture'));
    if (!res.ok) { fail(`${q.get('capture')}: HTTP ${res.status}`); return; }
    show(new Uint8Array(await res.arrayBuffer()));
  } else if (q.get('hex')) {
    $('hex').value = q.get('hex');
    try { show(parseHex(q.get('hex'))); } catch (e) { fail(e.message); }
  }
}

main().catch((e) => fail(`the decoder did not load: ${e.message}`));
