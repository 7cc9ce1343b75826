//! The functions the module imports: proxy-wasm ABI 0.2.1 (`env`) and the few WASI calls
//! a wasip1 build links. Calls a network filter cannot use answer what Envoy answers.

use wasmtime::{Caller, Linker, Module};

use super::abi::{log_level, status, stream};
use super::state::{Deferred, HostEvent, State};

type C<'a> = Caller<'a, State>;
type R = wasmtime::Result<i32>;

fn read(c: &mut C<'_>, ptr: i32, len: i32) -> Result<Vec<u8>, i32> {
    let mem = c.data().memory.expect("memory is set before any call");
    let mut out = vec![0; len as u32 as usize];
    mem.read(&*c, ptr as u32 as usize, &mut out)
        .map_err(|_| status::INVALID_MEMORY_ACCESS)?;
    Ok(out)
}

fn write(c: &mut C<'_>, ptr: i32, bytes: &[u8]) -> Result<(), i32> {
    let mem = c.data().memory.expect("memory is set before any call");
    mem.write(&mut *c, ptr as u32 as usize, bytes)
        .map_err(|_| status::INVALID_MEMORY_ACCESS)
}

/// Copies `bytes` into memory the guest allocates, storing pointer and size; an empty
/// answer writes nothing (the SDK then sees a null pointer), as Envoy does.
fn give(c: &mut C<'_>, bytes: &[u8], ptr_ptr: i32, size_ptr: i32) -> R {
    if bytes.is_empty() {
        return Ok(status::OK);
    }
    let alloc = c
        .data()
        .alloc
        .clone()
        .ok_or_else(|| wasmtime::Error::msg("the module exports no allocator"))?;
    let p = alloc.call(&mut *c, bytes.len() as i32)?;
    if p == 0 {
        return Ok(status::INVALID_MEMORY_ACCESS);
    }
    let r = write(c, p, bytes)
        .and_then(|_| write(c, ptr_ptr, &(p as u32).to_le_bytes()))
        .and_then(|_| write(c, size_ptr, &(bytes.len() as u32).to_le_bytes()));
    Ok(r.err().unwrap_or(status::OK))
}

fn refuse(c: &mut C<'_>, call: &'static str, st: i32, detail: String) -> i32 {
    c.data_mut().refuse(call, st, detail)
}

pub(crate) fn define(linker: &mut Linker<State>, module: &Module) -> wasmtime::Result<()> {
    define_env(linker)?;
    define_wasi(linker)?;
    // Anything else the module might import fails loudly when called.
    linker.define_unknown_imports_as_traps(module)?;
    Ok(())
}

fn define_env(l: &mut Linker<State>) -> wasmtime::Result<()> {
    l.func_wrap(
        "env",
        "proxy_log",
        |mut c: C<'_>, level: i32, ptr: i32, len: i32| match read(&mut c, ptr, len) {
            Ok(b) => {
                let msg = String::from_utf8_lossy(&b).into_owned();
                c.data_mut().log(level as u32, msg);
                status::OK
            }
            Err(s) => s,
        },
    )?;
    l.func_wrap("env", "proxy_get_log_level", |mut c: C<'_>, ret: i32| {
        let lvl = c.data().log_level;
        write(&mut c, ret, &lvl.to_le_bytes())
            .err()
            .unwrap_or(status::OK)
    })?;
    l.func_wrap(
        "env",
        "proxy_get_current_time_nanoseconds",
        |mut c: C<'_>, ret: i32| {
            let now = c.data().now_ns;
            write(&mut c, ret, &now.to_le_bytes())
                .err()
                .unwrap_or(status::OK)
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_set_tick_period_milliseconds",
        |mut c: C<'_>, ms: i32| {
            c.data_mut().tick_period_ms = ms as u32;
            status::OK
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_get_buffer_bytes",
        |mut c: C<'_>, kind: i32, start: i32, max: i32, ptr_ptr: i32, size_ptr: i32| -> R {
            match c.data_mut().get_buffer(kind, start as u32, max as u32) {
                Ok(bytes) => give(&mut c, &bytes, ptr_ptr, size_ptr),
                Err(s) => Ok(refuse(
                    &mut c,
                    "proxy_get_buffer_bytes",
                    s,
                    format!("buffer {kind} start {start}"),
                )),
            }
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_set_buffer_bytes",
        |mut c: C<'_>, kind: i32, start: i32, size: i32, ptr: i32, len: i32| {
            let data = match read(&mut c, ptr, len) {
                Ok(d) => d,
                Err(s) => return s,
            };
            let st = c
                .data_mut()
                .set_buffer(kind, start as u32, size as u32, &data);
            if st != status::OK {
                let detail = format!("buffer {kind} start {start} size {size} len {len}");
                return refuse(&mut c, "proxy_set_buffer_bytes", st, detail);
            }
            st
        },
    )?;
    l.func_wrap("env", "proxy_continue_stream", |mut c: C<'_>, kind: i32| {
        let ctx = c.data().acting();
        match kind {
            stream::DOWNSTREAM => {
                // The root context has no connection: Ok, and nothing happens.
                if c.data().conns.contains_key(&ctx) {
                    let from = c.data().current;
                    let d = c.data_mut();
                    d.deferred.push(Deferred::Continue(ctx));
                    d.events.push(HostEvent::Resumed { conn: ctx, from });
                }
                status::OK
            }
            stream::UPSTREAM => refuse(
                &mut c,
                "proxy_continue_stream",
                status::UNIMPLEMENTED,
                "upstream".into(),
            ),
            stream::HTTP_REQUEST | stream::HTTP_RESPONSE => status::OK,
            _ => refuse(
                &mut c,
                "proxy_continue_stream",
                status::BAD_ARGUMENT,
                format!("stream type {kind}"),
            ),
        }
    })?;
    l.func_wrap("env", "proxy_close_stream", |mut c: C<'_>, kind: i32| {
        let ctx = c.data().acting();
        match kind {
            stream::DOWNSTREAM | stream::UPSTREAM => {
                if c.data().conns.contains_key(&ctx) {
                    c.data_mut().deferred.push(Deferred::Close(ctx));
                }
                status::OK
            }
            stream::HTTP_REQUEST | stream::HTTP_RESPONSE => status::OK,
            _ => refuse(
                &mut c,
                "proxy_close_stream",
                status::BAD_ARGUMENT,
                format!("stream type {kind}"),
            ),
        }
    })?;
    l.func_wrap(
        "env",
        "proxy_set_effective_context",
        |mut c: C<'_>, id: i32| {
            let id = id as u32;
            let known =
                id == c.data().root_id || c.data().conns.get(&id).is_some_and(|s| !s.closed);
            if !known {
                return refuse(
                    &mut c,
                    "proxy_set_effective_context",
                    status::BAD_ARGUMENT,
                    format!("context {id}"),
                );
            }
            c.data_mut().effective = id;
            status::OK
        },
    )?;
    l.func_wrap("env", "proxy_done", |mut c: C<'_>| {
        c.data_mut().done_calls += 1;
        status::OK
    })?;
    l.func_wrap(
        "env",
        "proxy_define_metric",
        |mut c: C<'_>, kind: i32, ptr: i32, len: i32, ret: i32| {
            let name = match read(&mut c, ptr, len) {
                Ok(n) => String::from_utf8_lossy(&n).into_owned(),
                Err(s) => return s,
            };
            match c.data_mut().metrics.define(kind as u32, &name) {
                Ok(id) => write(&mut c, ret, &id.to_le_bytes())
                    .err()
                    .unwrap_or(status::OK),
                Err(s) => refuse(&mut c, "proxy_define_metric", s, name),
            }
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_increment_metric",
        |mut c: C<'_>, id: i32, offset: i64| {
            let st = c.data_mut().metrics.increment(id as u32, offset);
            if st != status::OK {
                return refuse(
                    &mut c,
                    "proxy_increment_metric",
                    st,
                    format!("metric {id} by {offset}"),
                );
            }
            st
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_record_metric",
        |mut c: C<'_>, id: i32, value: i64| {
            let st = c.data_mut().metrics.record(id as u32, value as u64);
            if st != status::OK {
                return refuse(&mut c, "proxy_record_metric", st, format!("metric {id}"));
            }
            st
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_get_metric",
        |mut c: C<'_>, id: i32, ret: i32| match c.data_mut().metrics.get(id as u32) {
            Ok(v) => write(&mut c, ret, &v.to_le_bytes())
                .err()
                .unwrap_or(status::OK),
            Err(s) => refuse(&mut c, "proxy_get_metric", s, format!("metric {id}")),
        },
    )?;
    define_env_rest(l)
}

/// Calls a network filter has no use for, answered as Envoy answers them.
fn define_env_rest(l: &mut Linker<State>) -> wasmtime::Result<()> {
    l.func_wrap(
        "env",
        "proxy_get_property",
        |mut c: C<'_>, ptr: i32, len: i32, ret_ptr: i32, ret_size: i32| -> R {
            let path = match read(&mut c, ptr, len) {
                Ok(p) => p,
                Err(s) => return Ok(s),
            };
            match c.data().properties.get(&path).cloned() {
                Some(v) => give(&mut c, &v, ret_ptr, ret_size),
                None => Ok(refuse(
                    &mut c,
                    "proxy_get_property",
                    status::NOT_FOUND,
                    String::from_utf8_lossy(&path).into_owned(),
                )),
            }
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_set_property",
        |mut c: C<'_>, ptr: i32, len: i32, vptr: i32, vlen: i32| match (
            read(&mut c, ptr, len),
            read(&mut c, vptr, vlen),
        ) {
            (Ok(k), Ok(v)) => {
                c.data_mut().properties.insert(k, v);
                status::OK
            }
            (Err(s), _) | (_, Err(s)) => s,
        },
    )?;
    // Header maps do not exist on a connection.
    l.func_wrap(
        "env",
        "proxy_get_header_map_pairs",
        |mut c: C<'_>, _t: i32, _p: i32, _s: i32| {
            refuse(
                &mut c,
                "proxy_get_header_map_pairs",
                status::BAD_ARGUMENT,
                String::new(),
            )
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_get_header_map_value",
        |mut c: C<'_>, _t: i32, _k: i32, _kl: i32, _p: i32, _s: i32| {
            refuse(
                &mut c,
                "proxy_get_header_map_value",
                status::BAD_ARGUMENT,
                String::new(),
            )
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_get_status",
        |mut c: C<'_>, code_ptr: i32, _p: i32, _s: i32| {
            write(&mut c, code_ptr, &0u32.to_le_bytes())
                .err()
                .unwrap_or(status::OK)
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_get_shared_data",
        |mut c: C<'_>, kptr: i32, klen: i32, ret_ptr: i32, ret_size: i32, cas_ptr: i32| -> R {
            let key = match read(&mut c, kptr, klen) {
                Ok(k) => k,
                Err(s) => return Ok(s),
            };
            let Some((v, cas)) = c.data().shared.get(&key).cloned() else {
                return Ok(status::NOT_FOUND);
            };
            if let Err(s) = write(&mut c, cas_ptr, &cas.to_le_bytes()) {
                return Ok(s);
            }
            give(&mut c, &v, ret_ptr, ret_size)
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_set_shared_data",
        |mut c: C<'_>, kptr: i32, klen: i32, vptr: i32, vlen: i32, cas: i32| {
            let (key, value) = match (read(&mut c, kptr, klen), read(&mut c, vptr, vlen)) {
                (Ok(k), Ok(v)) => (k, v),
                (Err(s), _) | (_, Err(s)) => return s,
            };
            let shared = &mut c.data_mut().shared;
            let cur = shared.get(&key).map_or(0, |(_, n)| *n);
            if cas != 0 && cas as u32 != cur {
                return status::CAS_MISMATCH;
            }
            shared.insert(key, (value, cur + 1));
            status::OK
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_register_shared_queue",
        |mut c: C<'_>, ptr: i32, len: i32, ret: i32| {
            let name = match read(&mut c, ptr, len) {
                Ok(n) => n,
                Err(s) => return s,
            };
            let qs = &mut c.data_mut().queues;
            let id = match qs.iter().position(|(n, _)| *n == name) {
                Some(i) => i,
                None => {
                    qs.push((name, Default::default()));
                    qs.len() - 1
                }
            } as u32
                + 1;
            write(&mut c, ret, &id.to_le_bytes())
                .err()
                .unwrap_or(status::OK)
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_resolve_shared_queue",
        |mut c: C<'_>, _vp: i32, _vl: i32, ptr: i32, len: i32, ret: i32| {
            let name = match read(&mut c, ptr, len) {
                Ok(n) => n,
                Err(s) => return s,
            };
            match c.data().queues.iter().position(|(n, _)| *n == name) {
                Some(i) => write(&mut c, ret, &(i as u32 + 1).to_le_bytes())
                    .err()
                    .unwrap_or(status::OK),
                None => status::NOT_FOUND,
            }
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_enqueue_shared_queue",
        |mut c: C<'_>, id: i32, ptr: i32, len: i32| {
            let v = match read(&mut c, ptr, len) {
                Ok(v) => v,
                Err(s) => return s,
            };
            match c
                .data_mut()
                .queues
                .get_mut((id as u32 as usize).wrapping_sub(1))
            {
                Some((_, q)) => {
                    q.push_back(v);
                    status::OK
                }
                None => status::NOT_FOUND,
            }
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_dequeue_shared_queue",
        |mut c: C<'_>, id: i32, ret_ptr: i32, ret_size: i32| -> R {
            let item = match c
                .data_mut()
                .queues
                .get_mut((id as u32 as usize).wrapping_sub(1))
            {
                Some((_, q)) => q.pop_front(),
                None => return Ok(status::NOT_FOUND),
            };
            match item {
                Some(v) => give(&mut c, &v, ret_ptr, ret_size),
                None => Ok(status::EMPTY),
            }
        },
    )?;
    // No clusters: Envoy refuses an unknown one (BadArgument for HTTP, ParseFailure for gRPC).
    l.func_wrap(
        "env",
        "proxy_http_call",
        |mut c: C<'_>,
         _a: i32,
         _b: i32,
         _x: i32,
         _d: i32,
         _e: i32,
         _f: i32,
         _g: i32,
         _h: i32,
         _t: i32,
         _r: i32| {
            refuse(
                &mut c,
                "proxy_http_call",
                status::BAD_ARGUMENT,
                "no such cluster".into(),
            )
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_grpc_call",
        |mut c: C<'_>,
         _a: i32,
         _b: i32,
         _x: i32,
         _d: i32,
         _e: i32,
         _f: i32,
         _g: i32,
         _h: i32,
         _i: i32,
         _j: i32,
         _t: i32,
         _r: i32| { refuse(&mut c, "proxy_grpc_call", 4, "no such cluster".into()) },
    )?;
    l.func_wrap(
        "env",
        "proxy_grpc_stream",
        |mut c: C<'_>,
         _a: i32,
         _b: i32,
         _x: i32,
         _d: i32,
         _e: i32,
         _f: i32,
         _g: i32,
         _h: i32,
         _r: i32| { refuse(&mut c, "proxy_grpc_stream", 4, "no such cluster".into()) },
    )?;
    l.func_wrap(
        "env",
        "proxy_grpc_send",
        |mut c: C<'_>, _t: i32, _p: i32, _l: i32, _e: i32| {
            refuse(&mut c, "proxy_grpc_send", status::NOT_FOUND, String::new())
        },
    )?;
    l.func_wrap("env", "proxy_grpc_cancel", |mut c: C<'_>, _t: i32| {
        refuse(
            &mut c,
            "proxy_grpc_cancel",
            status::NOT_FOUND,
            String::new(),
        )
    })?;
    l.func_wrap("env", "proxy_grpc_close", |mut c: C<'_>, _t: i32| {
        refuse(&mut c, "proxy_grpc_close", status::NOT_FOUND, String::new())
    })?;
    l.func_wrap(
        "env",
        "proxy_call_foreign_function",
        |mut c: C<'_>, ptr: i32, len: i32, a: i32, al: i32, _r: i32, _rl: i32| {
            let name = read(&mut c, ptr, len).unwrap_or_default();
            let name = String::from_utf8_lossy(&name).into_owned();
            // Envoy's set_envoy_filter_state on the acting connection's stream info.
            if name == "set_envoy_filter_state" {
                let args = read(&mut c, a, al).unwrap_or_default();
                let ctx = c.data().acting();
                let Some((path, value, _span)) = super::state::parse_filter_state_args(&args)
                else {
                    return refuse(&mut c, "set_envoy_filter_state", status::BAD_ARGUMENT, name);
                };
                return match c.data_mut().conns.get_mut(&ctx) {
                    Some(st) => {
                        st.filter_state.push((path, value));
                        status::OK
                    }
                    None => refuse(&mut c, "set_envoy_filter_state", status::NOT_FOUND, path),
                };
            }
            refuse(
                &mut c,
                "proxy_call_foreign_function",
                status::NOT_FOUND,
                name,
            )
        },
    )?;
    Ok(())
}

fn define_wasi(l: &mut Linker<State>) -> wasmtime::Result<()> {
    const W: &str = "wasi_snapshot_preview1";
    const ERRNO_BADF: i32 = 8;
    l.func_wrap(
        W,
        "fd_write",
        |mut c: C<'_>, fd: i32, iovs: i32, n: i32, ret: i32| -> i32 {
            if fd != 1 && fd != 2 {
                return ERRNO_BADF;
            }
            let mut text = Vec::new();
            for i in 0..n {
                let Ok(iov) = read(&mut c, iovs + i * 8, 8) else {
                    return 21; // EFAULT
                };
                let ptr = i32::from_le_bytes(iov[0..4].try_into().unwrap());
                let len = i32::from_le_bytes(iov[4..8].try_into().unwrap());
                match read(&mut c, ptr, len) {
                    Ok(b) => text.extend_from_slice(&b),
                    Err(_) => return 21,
                }
            }
            let written = text.len() as u32;
            let level = if fd == 1 {
                log_level::INFO
            } else {
                log_level::ERROR
            };
            let msg = String::from_utf8_lossy(&text).trim_end().to_string();
            c.data_mut().log(level, format!("fd {fd}: {msg}"));
            match write(&mut c, ret, &written.to_le_bytes()) {
                Ok(()) => 0,
                Err(_) => 21,
            }
        },
    )?;
    l.func_wrap(
        W,
        "environ_sizes_get",
        |mut c: C<'_>, count: i32, size: i32| {
            let a = write(&mut c, count, &0u32.to_le_bytes());
            let b = write(&mut c, size, &0u32.to_le_bytes());
            if a.is_ok() && b.is_ok() {
                0
            } else {
                21
            }
        },
    )?;
    l.func_wrap(W, "environ_get", |_c: C<'_>, _a: i32, _b: i32| 0i32)?;
    l.func_wrap(
        W,
        "proc_exit",
        |_c: C<'_>, code: i32| -> wasmtime::Result<()> {
            Err(wasmtime::Error::msg(format!("proc_exit({code})")))
        },
    )?;
    l.func_wrap(
        W,
        "clock_time_get",
        |mut c: C<'_>, _id: i32, _prec: i64, ret: i32| {
            let now = c.data().now_ns;
            match write(&mut c, ret, &now.to_le_bytes()) {
                Ok(()) => 0,
                Err(_) => 21,
            }
        },
    )?;
    l.func_wrap(W, "random_get", |mut c: C<'_>, ptr: i32, len: i32| {
        // Deterministic bytes: runs must repeat.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let bytes: Vec<u8> = (0..len.max(0))
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        match write(&mut c, ptr, &bytes) {
            Ok(()) => 0,
            Err(_) => 21,
        }
    })?;
    Ok(())
}
