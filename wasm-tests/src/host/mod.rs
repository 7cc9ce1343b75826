//! A proxy-wasm host for network filters, behaving like Envoy 1.40: it loads a module into
//! wasmtime and drives it with in-memory connections.
//!
//! The rules it enforces (the ones a filter can get wrong):
//! - `set_buffer_bytes` copies like Envoy: `start == 0` drains `size` then prepends,
//!   `start >= len` appends, anything else is BadArgument. A buffer is reachable only while
//!   its callback runs, or later while the filter holds it (its callback returned Pause):
//!   from the same context's other callback, or from the root after
//!   `set_effective_context`. Elsewhere it reads empty and refuses writes (BadArgument).
//! - Client-bound bytes are written only inside `on_upstream_data`, which fires only when
//!   upstream bytes arrive or at the upstream's end of stream (size 0, eos).
//! - Pause keeps the bytes: the next callback sees the whole accumulated buffer. Held client
//!   bytes above `buffer_limit` stop reading (no callback, not even end of stream) until the
//!   buffer drains to half of it. `continue_stream(Downstream)` forwards the buffer's bytes
//!   when the call into the VM returns; from the root without an effective context it is Ok
//!   and does nothing. `continue_stream(Upstream)` is Unimplemented.
//! - `close_stream` (either side) closes the client connection when the call returns:
//!   bytes set in that callback are dropped, bytes let through before are delivered.
//! - Counters refuse offsets <= 0.
//! - `tick()` moves the clock to the next tick and fires it; `advance(ms)` fires every
//!   tick due on the way.

pub mod abi;
pub mod driver;
mod imports;
pub mod peer;
mod state;
mod vm;

pub use state::{HostEvent, LogLine, Refusal};
pub use vm::{module_path, ConnId, HostError, Result, Vm, VmOptions};
