//! `Connection`: one HTTP/2 connection in either role, driven by its caller in the shape of
//! python-hyper h2: bytes in (`receive`), typed events out (`pollEvent`), calls that queue
//! frames, and the bytes to write (`dataToSend`). The caller owns the socket and the clock.

use std::sync::Arc;

use bytes::Bytes;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::convert::{
    argument, block, config_error, instant, json_of, ms, protocol_error, send_error, stream_id,
};
use super::{events, ConnectionOptions, HeaderList, MaybeEvent};
use crate::buffer::BufferPool;
use crate::config::json::Value;
use crate::config::PluginConfig;
use crate::conn::{self, Event};
use crate::error::{ConnError, ErrorCode};
use crate::message::{Block, BlockKind};
use crate::side::Side;
use crate::time::Instant;

/// One HTTP/2 connection: `role: "server"` answers requests, `role: "client"` makes them.
#[wasm_bindgen]
pub struct Connection {
    conn: conn::Connection,
    /// Its own buffer quota (`buffer_size`, `quota_bytes` in the options).
    pool: BufferPool,
    /// The latest time the caller gave.
    now: Instant,
    /// `receive` already threw for the connection's failure.
    failure_thrown: bool,
}

/// The role named in the options.
fn role(fields: &mut Vec<(String, Value)>) -> Result<Side, JsValue> {
    let at = fields.iter().position(|(k, _)| k == "role");
    let role = at.map(|i| fields.remove(i).1);
    match role {
        Some(Value::String(r)) if r == "server" => Ok(Side::Frontend),
        Some(Value::String(r)) if r == "client" => Ok(Side::Backend),
        _ => Err(argument(r#"options.role: must be "server" or "client""#)),
    }
}

#[wasm_bindgen]
impl Connection {
    /// A connection in `options.role`, with any limit of the configuration (`max_concurrent_streams`,
    /// `initial_window_size`, ...). `nowMs`: the caller's clock (default 0).
    #[wasm_bindgen(constructor)]
    pub fn new(options: ConnectionOptions, now_ms: Option<f64>) -> Result<Connection, JsValue> {
        let Value::Object(mut fields) = json_of(options.as_ref(), "options")? else {
            return Err(argument("options: must be an object"));
        };
        let side = role(&mut fields)?;
        let cfg = PluginConfig::from_value(Value::Object(fields))
            .and_then(|c| c.refuse_routes("a Connection"))
            .map_err(|e| config_error(&e))?;
        let mut limits = match side {
            Side::Frontend => cfg.frontend.clone(),
            Side::Backend => cfg.backend.clone(),
        };
        // HTTP/1.1 is the relay's business; this connection speaks HTTP/2 only.
        limits.http1 = false;
        let mut pool = BufferPool::new(cfg.buffer_size, cfg.quota_bytes, cfg.max_waiters);
        pool.set_reserve(cfg.reserve_buffers);
        let now = instant(now_ms.unwrap_or(0.0));
        Ok(Connection {
            conn: conn::Connection::new(side, Arc::new(limits), 0, now),
            pool,
            now,
            failure_thrown: false,
        })
    }

    /// Feeds bytes from the peer; returns how many were taken. Fewer than given means the
    /// connection stopped reading (its output is full: call `dataToSend`; or its streams are
    /// all busy): give the rest again later. Throws an `H2ProtocolError` (its `code` the RFC
    /// 9113 code of the GOAWAY written, its `rule` the rule the peer broke) once, when the
    /// connection fails; the GOAWAY is still to be sent with `dataToSend`.
    pub fn receive(&mut self, data: &[u8], now_ms: f64) -> Result<u32, JsValue> {
        self.now = instant(now_ms);
        let input = Bytes::copy_from_slice(data);
        let n = self.conn.recv(&mut self.pool, &input, self.now);
        self.wake();
        self.check_failed()?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// The transport's end: the peer will send nothing more.
    #[wasm_bindgen(js_name = receiveEnd)]
    pub fn receive_end(&mut self, now_ms: f64) {
        self.now = instant(now_ms);
        self.conn.recv_eof(self.now);
    }

    /// The oldest event not taken yet, or null. A stream the peer ended or reset is let go
    /// of here, once both sides are done with it: give back the credit of its data first
    /// (`releaseCapacity`) if you still hold it.
    #[wasm_bindgen(js_name = pollEvent)]
    pub fn poll_event(&mut self) -> MaybeEvent {
        let Some(e) = self.conn.poll_event() else {
            return JsValue::NULL.unchecked_into();
        };
        let js = events::to_js(&e);
        match e {
            Event::Headers {
                stream,
                end_stream: true,
                ..
            }
            | Event::Data {
                stream,
                end_stream: true,
                ..
            }
            | Event::Trailers { stream, .. }
            | Event::Reset { stream, .. } => self.conn.detach(stream),
            _ => {}
        }
        js.unchecked_into()
    }

    /// Everything ready to go to the peer (empty when nothing is).
    #[wasm_bindgen(js_name = dataToSend)]
    pub fn data_to_send(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.conn
            .drain_output(&mut self.pool, &mut out, usize::MAX, self.now);
        self.wake();
        out
    }

    /// Opens a stream with a request head (client role); returns its id. `headers` are
    /// `[name, value]` pairs, pseudo-headers first, checked as RFC 9113 §8 says.
    #[wasm_bindgen(js_name = openStream)]
    pub fn open_stream(&mut self, headers: HeaderList, end_stream: bool) -> Result<u32, JsValue> {
        let Block::Request(m) = block(headers.as_ref(), BlockKind::Request)? else {
            return Err(argument("headers: not a request"));
        };
        let id = self.conn.open_stream(m, end_stream).map_err(send_error)?;
        Ok(id.value())
    }

    /// Sends a response head, informational (1xx) or final (server role).
    #[wasm_bindgen(js_name = sendHeaders)]
    pub fn send_headers(
        &mut self,
        stream: f64,
        headers: HeaderList,
        end_stream: bool,
    ) -> Result<(), JsValue> {
        let id = stream_id(stream)?;
        let Block::Response(m) = block(headers.as_ref(), BlockKind::Response)? else {
            return Err(argument("headers: not a response"));
        };
        self.conn
            .send_headers(id, m, end_stream)
            .map_err(send_error)
    }

    /// Queues body bytes. Throws `H2SendError` with rule `queue_full` past the stream's
    /// `max_stream_send_queue`: wait for its `dataSent` events.
    #[wasm_bindgen(js_name = sendData)]
    pub fn send_data(&mut self, stream: f64, data: &[u8], end_stream: bool) -> Result<(), JsValue> {
        let id = stream_id(stream)?;
        self.conn
            .send_data(id, Bytes::copy_from_slice(data), end_stream)
            .map_err(send_error)
    }

    /// Queues trailers; they end the stream.
    #[wasm_bindgen(js_name = sendTrailers)]
    pub fn send_trailers(&mut self, stream: f64, headers: HeaderList) -> Result<(), JsValue> {
        let id = stream_id(stream)?;
        let Block::Trailers(fields) = block(headers.as_ref(), BlockKind::Trailers)? else {
            return Err(argument("headers: not trailers"));
        };
        self.conn.send_trailers(id, fields).map_err(send_error)
    }

    /// Resets a stream with `errorCode` (default CANCEL, 0x8) and lets go of it.
    #[wasm_bindgen(js_name = resetStream)]
    pub fn reset_stream(&mut self, stream: f64, error_code: Option<u32>) -> Result<(), JsValue> {
        let id = stream_id(stream)?;
        let code = error_code.map_or(ErrorCode::Cancel, ErrorCode::from_u32);
        self.conn.reset(id, code);
        self.conn.detach(id);
        Ok(())
    }

    /// Ends the connection. NO_ERROR (the default) is graceful (RFC 9113 §6.8): GOAWAY, open
    /// streams finish, then a last GOAWAY; any other code ends it at once.
    pub fn goaway(&mut self, error_code: Option<u32>) {
        let code = error_code.map_or(ErrorCode::NoError, ErrorCode::from_u32);
        if code == ErrorCode::NoError {
            self.conn.shutdown(self.now);
        } else {
            self.conn.goaway(code, "closed by the application");
            self.failure_thrown = true;
        }
    }

    /// Sends a PING with 8 bytes of payload; its answer is a `pingAck` event. One is out at
    /// a time: another before the answer is ignored.
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), JsValue> {
        let payload: [u8; 8] = payload
            .try_into()
            .map_err(|_| argument("ping: the payload is 8 bytes"))?;
        self.conn.ping(payload);
        Ok(())
    }

    /// The caller consumed `n` bytes of a stream's data: the peer may send that much more.
    #[wasm_bindgen(js_name = releaseCapacity)]
    pub fn release_capacity(&mut self, stream: f64, n: u32) -> Result<(), JsValue> {
        let id = stream_id(stream)?;
        let owed = self.conn.recv_credit_outstanding() - self.conn.recv_credit_in_flight();
        if i64::from(n) > owed {
            return Err(argument(&format!(
                "releaseCapacity: {n} bytes, but only {owed} received and not given back"
            )));
        }
        self.conn.release_capacity(id, n as usize);
        Ok(())
    }

    /// When `handleTimeout` next has work (ms on the caller's clock), or undefined.
    #[wasm_bindgen(js_name = nextTimeout)]
    pub fn next_timeout(&self) -> Option<f64> {
        self.conn.next_timeout().map(ms)
    }

    /// Runs the timers due at `nowMs`: SETTINGS ACK timeout, idle shutdown, end of draining.
    #[wasm_bindgen(js_name = handleTimeout)]
    pub fn handle_timeout(&mut self, now_ms: f64) {
        self.now = instant(now_ms);
        self.conn.handle_timeout(self.now);
    }

    /// A new stream could be opened now (client role).
    #[wasm_bindgen(getter, js_name = canOpenStream)]
    pub fn can_open_stream(&self) -> bool {
        self.conn.can_open_stream()
    }

    /// Streams with a context: open, or finishing.
    #[wasm_bindgen(getter, js_name = streamCount)]
    pub fn stream_count(&self) -> u32 {
        u32::try_from(self.conn.stream_count()).unwrap_or(u32::MAX)
    }

    /// Nothing more will happen: the connection failed or finished its shutdown and its
    /// output was taken. Close the transport.
    #[wasm_bindgen(getter, js_name = isDone)]
    pub fn is_done(&self) -> bool {
        self.conn.is_done()
    }
}

impl Connection {
    /// Buffers came back to the pool: a connection waiting for one goes on.
    fn wake(&mut self) {
        if self.pool.waiters() > 0 && self.pool.available() > 0 && self.pool.pop_waiter().is_some()
        {
            self.conn.on_buffer_available(&mut self.pool, self.now);
        }
    }

    /// The first failure by the peer's fault (or a broken invariant) as an Error.
    fn check_failed(&mut self) -> Result<(), JsValue> {
        if self.failure_thrown {
            return Ok(());
        }
        match self.conn.error() {
            Some(e @ (ConnError::Violation(_) | ConnError::Internal(_))) => {
                self.failure_thrown = true;
                Err(protocol_error(e))
            }
            _ => Ok(()),
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.conn.release(&mut self.pool);
    }
}
