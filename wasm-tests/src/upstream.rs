//! An h2c (HTTP/2 with prior knowledge, cleartext) upstream whose routes
//! exercise a proxy's data paths: streaming both ways, large bodies, trailers,
//! slow responses, arbitrary statuses, stream resets and GOAWAY.
//!
//! Routes (any method):
//! - `/` — a fixed greeting.
//! - `/echo` — streams the request body back; request metadata comes back as
//!   `x-echo-method`, `x-echo-path` and `x-echo-h-<name>` headers.
//! - `/bytes/N` — N bytes (N ≤ 1 GiB) of [`pattern_byte`], in 16 KiB chunks.
//! - `/sha256` — `<hex sha256> <byte count>\n` of the request body.
//! - `/slow?ms=M&chunks=K` — K lines `chunk i\n`, M ms apart (defaults 100, 5).
//! - `/status/CODE` — that final status (200..=599; no body for 204, 205,
//!   304), else 400.
//! - `/trailers` — a body, then `grpc-status`, `grpc-message`, `x-trailer`.
//! - `/reset?code=N&after=BYTES` — BYTES of pattern, then RST_STREAM(N)
//!   (defaults: code 2 = INTERNAL_ERROR, after 0).
//! - `/goaway` — responds, then shuts that connection down gracefully.
//! - `/stats` — JSON counters since start: connections, and per route the
//!   requests and how their request bodies ended (see [`Stats`]).
//! - anything else — 404.
//!
//! HEAD on any route gets the status and headers GET would get, the
//! `content-length` GET would send included, and no body (END_STREAM on HEADERS).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Sleep;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// Largest `/bytes/N` and `/reset?after=` accepted.
pub const MAX_BYTES: u64 = 1 << 30;
/// Size of the DATA chunks the generated bodies are cut into.
pub const CHUNK: usize = 16 * 1024;
/// Default RST_STREAM code for `/reset`: what a failing upstream would send.
pub const DEFAULT_RESET_CODE: u32 = 2;
/// Pause between the last byte and the reset of `/reset`. h2 drops DATA still
/// queued on a stream when it is reset, so the bytes need time to reach the socket.
pub const RESET_PAUSE: Duration = Duration::from_millis(50);

const HELLO: &str = "hello from the h2mux demo upstream\n";
const MAX_SLOW_CHUNKS: u32 = 100_000;
const MAX_SLOW_MS: u64 = 60_000;

/// Byte `i` of every generated body.
pub fn pattern_byte(i: u64) -> u8 {
    (((i % PERIOD as u64) * 31 + 7) % PERIOD as u64) as u8
}

// The pattern repeats every 251 bytes, so any chunk is a slice of this table.
const PERIOD: usize = 251;
static PATTERN: [u8; PERIOD + CHUNK] = {
    let mut table = [0u8; PERIOD + CHUNK];
    let mut i = 0;
    while i < table.len() {
        table[i] = ((i * 31 + 7) % PERIOD) as u8;
        i += 1;
    }
    table
};

/// Next chunk of the pattern from `offset`, at most `CHUNK` long and never past `end`.
fn pattern_chunk(offset: u64, end: u64) -> Bytes {
    let len = (end - offset).min(CHUNK as u64) as usize;
    let start = (offset % PERIOD as u64) as usize;
    Bytes::from_static(&PATTERN[start..start + len])
}

/// What `GET /stats` reports, so that a test behind a proxy can see what
/// reached the server: above all, whether a request body ended or was cut off.
#[derive(Debug, Default)]
pub struct Stats {
    connections: AtomicU64,
    routes: Mutex<BTreeMap<&'static str, RouteStats>>,
}

/// Every request counts once in `bodies_complete`, `body_errors` or
/// `bodies_unfinished`, once its handler is done with the body.
#[derive(Clone, Debug, Default)]
struct RouteStats {
    requests: u64,
    /// The request body reached its end (END_STREAM).
    bodies_complete: u64,
    /// Reading the body failed, e.g. the client reset the stream.
    body_errors: u64,
    /// The body was dropped before its end without an error being seen.
    bodies_unfinished: u64,
    last_body_error: Option<String>,
}

impl Stats {
    fn update(&self, route: &'static str, f: impl FnOnce(&mut RouteStats)) {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        f(routes.entry(route).or_default());
    }

    /// The counters as a JSON object.
    pub fn to_json(&self) -> String {
        let routes = self
            .routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let requests: u64 = routes.values().map(|r| r.requests).sum();
        let mut out = format!(
            "{{\"connections\": {}, \"requests\": {requests}, \"routes\": {{",
            self.connections.load(Ordering::Relaxed)
        );
        for (i, (name, r)) in routes.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let last = r
                .last_body_error
                .as_deref()
                .map_or_else(|| "null".to_owned(), json_string);
            let _ = write!(
                out,
                "{sep}{}: {{\"requests\": {}, \"bodies_complete\": {}, \"body_errors\": {}, \
                 \"bodies_unfinished\": {}, \"last_body_error\": {last}}}",
                json_string(name),
                r.requests,
                r.bodies_complete,
                r.body_errors,
                r.bodies_unfinished
            );
        }
        out.push_str("}}\n");
        out
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The route a path counts under: fixed names keep the table small.
fn route_name(path: &str) -> &'static str {
    match path {
        "/" => "/",
        "/echo" => "/echo",
        "/sha256" => "/sha256",
        "/slow" => "/slow",
        "/trailers" => "/trailers",
        "/reset" => "/reset",
        "/goaway" => "/goaway",
        "/stats" => "/stats",
        p if p.starts_with("/bytes/") => "/bytes",
        p if p.starts_with("/status/") => "/status",
        _ => "other",
    }
}

/// A request body that records in [`Stats`] how it ended.
pub struct TrackedBody {
    inner: Incoming,
    stats: Arc<Stats>,
    route: &'static str,
    done: bool,
}

impl TrackedBody {
    fn finish(&mut self, f: impl FnOnce(&mut RouteStats)) {
        if !self.done {
            self.done = true;
            self.stats.update(self.route, f);
        }
    }
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.finish(|r| r.bodies_complete += 1),
            Poll::Ready(Some(Err(err))) => {
                let why = error_chain(err);
                self.finish(|r| {
                    r.body_errors += 1;
                    r.last_body_error = Some(why);
                });
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for TrackedBody {
    fn drop(&mut self) {
        // A body nobody read to the end still counts as complete if the
        // request carried none (END_STREAM on its HEADERS).
        if self.inner.is_end_stream() {
            self.finish(|r| r.bodies_complete += 1);
        } else {
            self.finish(|r| r.bodies_unfinished += 1);
        }
    }
}

/// hyper's message is generic; its cause (the h2 error) says what happened,
/// and the reason code is named as on the wire (e.g. `CANCEL`).
fn error_chain(err: &hyper::Error) -> String {
    let Some(cause) = std::error::Error::source(err) else {
        return err.to_string();
    };
    match cause
        .downcast_ref::<h2::Error>()
        .and_then(h2::Error::reason)
    {
        Some(reason) => format!("{err}: {cause} ({reason:?})"),
        None => format!("{err}: {cause}"),
    }
}

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Suppresses the per-request and per-connection log lines.
    pub quiet: bool,
}

/// A server running on the current tokio runtime; dropping it stops accepting.
pub struct Server {
    local_addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl Server {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Binds `addr` (port 0 picks a free one) and serves in a background task.
pub async fn spawn(addr: &str, options: Options) -> io::Result<Server> {
    let listener = TcpListener::bind(addr).await?;
    let local_addr = listener.local_addr()?;
    let accept = tokio::spawn(serve(listener, options));
    Ok(Server { local_addr, accept })
}

/// Accepts connections forever, each served on its own task.
pub async fn serve(listener: TcpListener, options: Options) {
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .max_concurrent_streams(1000)
        .initial_stream_window_size(1 << 20)
        .initial_connection_window_size(8 << 20)
        .max_frame_size(16384)
        .adaptive_window(false);
    let builder = Arc::new(builder);
    let stats = Arc::new(Stats::default());
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Per-connection failures (e.g. out of descriptors) are transient.
                if !options.quiet {
                    eprintln!("accept: {err}");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(
            stream,
            peer,
            builder.clone(),
            stats.clone(),
            options.clone(),
        ));
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    builder: Arc<hyper::server::conn::http2::Builder<TokioExecutor>>,
    stats: Arc<Stats>,
    options: Options,
) {
    stats.connections.fetch_add(1, Ordering::Relaxed);
    let goaway = Arc::new(Notify::new());
    let svc = {
        let goaway = goaway.clone();
        let quiet = options.quiet;
        service_fn(move |req: Request<Incoming>| {
            let goaway = goaway.clone();
            let stats = stats.clone();
            async move {
                let method = req.method().clone();
                let path = req
                    .uri()
                    .path_and_query()
                    .map_or_else(|| req.uri().path().to_owned(), |pq| pq.to_string());
                let res = route(req, &goaway, &stats).await;
                if !quiet {
                    eprintln!("{method} {path} {}", res.status().as_u16());
                }
                Ok::<_, Infallible>(res)
            }
        })
    };
    let mut conn = pin!(builder.serve_connection(TokioIo::new(stream), svc));
    let mut goaway_requested = pin!(goaway.notified());
    let mut closing = false;
    let result = poll_fn(|cx| {
        if !closing && goaway_requested.as_mut().poll(cx).is_ready() {
            // Sends GOAWAY; streams already open, the /goaway one included, finish.
            conn.as_mut().graceful_shutdown();
            closing = true;
        }
        conn.as_mut().poll(cx)
    })
    .await;
    if let Err(err) = result {
        if !options.quiet {
            // hyper's own message is generic; the cause says what went wrong.
            match std::error::Error::source(&err) {
                Some(cause) => eprintln!("connection {peer}: {err}: {cause}"),
                None => eprintln!("connection {peer}: {err}"),
            }
        }
    }
}

async fn route(
    req: Request<Incoming>,
    goaway: &Notify,
    stats: &Arc<Stats>,
) -> Response<ResponseBody> {
    let head = req.method() == Method::HEAD;
    let res = respond(req, goaway, stats).await;
    if head {
        without_body(res)
    } else {
        res
    }
}

/// The answer to HEAD: GET's head, and nothing after it. hyper knows nothing of
/// HEAD and would send GET's body, which clients reject as a protocol error.
fn without_body(res: Response<ResponseBody>) -> Response<ResponseBody> {
    let (mut parts, body) = res.into_parts();
    // For GET, hyper derives content-length from an exact size hint of a body that
    // is not already at its end; HEAD must announce that same length.
    if !body.is_end_stream() {
        if let Some(len) = body.size_hint().exact() {
            parts
                .headers
                .entry(CONTENT_LENGTH)
                .or_insert_with(|| HeaderValue::from(len));
        }
    }
    // A body already at its end: hyper puts END_STREAM on HEADERS and adds no
    // content-length of its own, so a GET without one stays without one.
    let empty = Empty::new().map_err(|never| match never {}).boxed_unsync();
    Response::from_parts(parts, empty)
}

/// Dispatches on the path; the body is the one GET gets.
async fn respond(
    req: Request<Incoming>,
    goaway: &Notify,
    stats: &Arc<Stats>,
) -> Response<ResponseBody> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let name = route_name(&path);
    stats.update(name, |r| r.requests += 1);
    let req = req.map(|inner| TrackedBody {
        inner,
        stats: stats.clone(),
        route: name,
        done: false,
    });
    match path.as_str() {
        "/" => greeting(req.into_body()).await,
        "/echo" => echo(req),
        "/sha256" => sha256(req.into_body()).await,
        "/slow" => slow(&query),
        "/trailers" => trailers(),
        "/reset" => reset(&query),
        "/goaway" => {
            goaway.notify_one();
            text(StatusCode::OK, "goodbye\n")
        }
        "/stats" => {
            let mut res = text(StatusCode::OK, stats.to_json());
            res.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            res
        }
        _ => {
            if let Some(n) = path.strip_prefix("/bytes/") {
                bytes(n)
            } else if let Some(code) = path.strip_prefix("/status/") {
                status(code)
            } else {
                text(StatusCode::NOT_FOUND, "not found\n")
            }
        }
    }
}

fn full(body: impl Into<Bytes>) -> ResponseBody {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<ResponseBody> {
    let mut res = Response::new(full(body));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    res
}

fn bad_request(why: &str) -> Response<ResponseBody> {
    text(StatusCode::BAD_REQUEST, format!("{why}\n"))
}

/// Value of `key` in a query string; no percent-decoding, the values are numbers.
fn query_param<'q>(query: &'q str, key: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

fn parse_param<T: std::str::FromStr>(query: &str, key: &str, default: T) -> Result<T, String> {
    match query_param(query, key) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| format!("bad {key}: {v:?}")),
    }
}

const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn echo(req: Request<TrackedBody>) -> Response<ResponseBody> {
    let (parts, body) = req.into_parts();
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(parts.method.as_str()) {
        headers.insert("x-echo-method", v);
    }
    let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    if let Ok(v) = HeaderValue::from_str(path) {
        headers.insert("x-echo-path", v);
    }
    for (name, value) in &parts.headers {
        if HOP_BY_HOP.contains(&name.as_str()) {
            continue;
        }
        if let Ok(echoed) = HeaderName::from_bytes(format!("x-echo-h-{name}").as_bytes()) {
            headers.append(echoed, value.clone());
        }
    }
    if let Some(ct) = parts.headers.get(CONTENT_TYPE) {
        headers.insert(CONTENT_TYPE, ct.clone());
    }
    // Frames go out as they arrive; hyper only pulls the next one when the
    // response stream has window, so a slow reader slows the upload.
    let mut res = Response::new(body.map_err(BoxError::from).boxed_unsync());
    *res.headers_mut() = headers;
    res
}

/// The greeting reads the request first, like an ordinary handler: answering early would end
/// the stream with RST_STREAM(NO_ERROR) while the client is still sending (RFC 9113 §8.1).
async fn greeting(mut body: TrackedBody) -> Response<ResponseBody> {
    while let Some(frame) = body.frame().await {
        if frame.is_err() {
            break;
        }
    }
    text(StatusCode::OK, HELLO)
}

async fn sha256(mut body: TrackedBody) -> Response<ResponseBody> {
    let mut hasher = Sha256::new();
    let mut count = 0u64;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    hasher.update(data);
                    count += data.len() as u64;
                }
            }
            Err(err) => return bad_request(&format!("request body: {err}")),
        }
    }
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    text(StatusCode::OK, format!("{hex} {count}\n"))
}

fn bytes(n: &str) -> Response<ResponseBody> {
    let len: u64 = match n.parse() {
        Ok(len) if len <= MAX_BYTES => len,
        _ => return bad_request(&format!("bad length {n:?}: 0..={MAX_BYTES}")),
    };
    let mut res = Response::new(
        PatternBody {
            offset: 0,
            end: len,
        }
        .boxed_unsync(),
    );
    let headers = res.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    res
}

fn status(code: &str) -> Response<ResponseBody> {
    let status = match code.parse::<u16>() {
        Ok(c @ 200..=599) => StatusCode::from_u16(c).expect("200..=599 is a valid status"),
        _ => return bad_request(&format!("bad status {code:?}: 200..=599")),
    };
    // These statuses forbid content.
    if matches!(status.as_u16(), 204 | 205 | 304) {
        let mut res = Response::new(full(Bytes::new()));
        *res.status_mut() = status;
        return res;
    }
    text(status, format!("status {}\n", status.as_u16()))
}

fn slow(query: &str) -> Response<ResponseBody> {
    let (ms, chunks) = match (
        parse_param(query, "ms", 100u64),
        parse_param(query, "chunks", 5u32),
    ) {
        (Ok(ms), Ok(chunks)) if ms <= MAX_SLOW_MS && chunks <= MAX_SLOW_CHUNKS => (ms, chunks),
        (Err(why), _) | (_, Err(why)) => return bad_request(&why),
        _ => {
            return bad_request(&format!(
                "limits: ms <= {MAX_SLOW_MS}, chunks <= {MAX_SLOW_CHUNKS}"
            ))
        }
    };
    let body = SlowBody {
        next: 0,
        chunks,
        delay: Duration::from_millis(ms),
        sleep: None,
    };
    let mut res = Response::new(body.boxed_unsync());
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    res
}

fn trailers() -> Response<ResponseBody> {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    trailers.insert("grpc-message", HeaderValue::from_static("ok"));
    trailers.insert("x-trailer", HeaderValue::from_static("yes"));
    let body = Full::new(Bytes::from_static(b"with trailers\n"))
        .map_err(|never| -> BoxError { match never {} })
        .with_trailers(std::future::ready(Some(Ok(trailers))))
        .boxed_unsync();
    let mut res = Response::new(body);
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    res
}

fn reset(query: &str) -> Response<ResponseBody> {
    let code = match parse_param(query, "code", DEFAULT_RESET_CODE) {
        Ok(code) => code,
        Err(why) => return bad_request(&why),
    };
    let after = match parse_param(query, "after", 0u64) {
        Ok(after) if after <= MAX_BYTES => after,
        Ok(_) => return bad_request(&format!("after <= {MAX_BYTES}")),
        Err(why) => return bad_request(&why),
    };
    let body = ResetBody {
        offset: 0,
        end: after,
        reason: h2::Reason::from(code),
        pause: None,
    };
    let mut res = Response::new(body.boxed_unsync());
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    res
}

/// `end - offset` more bytes of the pattern, starting at `offset`.
struct PatternBody {
    offset: u64,
    end: u64,
}

impl Body for PatternBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.offset == self.end {
            return Poll::Ready(None);
        }
        let chunk = pattern_chunk(self.offset, self.end);
        self.offset += chunk.len() as u64;
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.offset == self.end
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.end - self.offset)
    }
}

/// Lines `chunk i\n`, the first at once and the rest `delay` apart.
struct SlowBody {
    next: u32,
    chunks: u32,
    delay: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Body for SlowBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.next == self.chunks {
            return Poll::Ready(None);
        }
        if let Some(sleep) = self.sleep.as_mut() {
            std::task::ready!(sleep.as_mut().poll(cx));
        }
        let i = self.next;
        self.next += 1;
        self.sleep = (self.next < self.chunks).then(|| Box::pin(tokio::time::sleep(self.delay)));
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(format!("chunk {i}\n"))))))
    }

    fn is_end_stream(&self) -> bool {
        self.next == self.chunks
    }
}

/// Pattern bytes, then an error hyper turns into RST_STREAM with `reason`:
/// hyper resets with the reason of an `h2::Error` found in a body error.
struct ResetBody {
    offset: u64,
    end: u64,
    reason: h2::Reason,
    pause: Option<Pin<Box<Sleep>>>,
}

impl Body for ResetBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.offset < self.end {
            let chunk = pattern_chunk(self.offset, self.end);
            self.offset += chunk.len() as u64;
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        let pause = self
            .pause
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(RESET_PAUSE)));
        std::task::ready!(pause.as_mut().poll(cx));
        Poll::Ready(Some(Err(Box::new(h2::Error::from(self.reason)))))
    }

    fn is_end_stream(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_table_matches_formula() {
        for offset in [0u64, 1, 250, 251, 252, 1 << 20, (1 << 30) - 5] {
            let chunk = pattern_chunk(offset, offset + CHUNK as u64);
            for (k, &b) in chunk.iter().enumerate() {
                let i = offset + k as u64;
                assert_eq!(b, ((i * 31 + 7) % 251) as u8);
                assert_eq!(b, pattern_byte(i));
            }
        }
    }

    #[test]
    fn query_params() {
        assert_eq!(query_param("ms=5&chunks=2", "chunks"), Some("2"));
        assert_eq!(query_param("ms=5&flag", "flag"), Some(""));
        assert_eq!(query_param("", "ms"), None);
        assert_eq!(parse_param("ms=x", "ms", 1u64), Err("bad ms: \"x\"".into()));
    }
}
