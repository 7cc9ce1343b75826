//! Realistic client-to-server byte streams, made by the library itself, and a relay-like
//! replay of any such stream into a fresh frontend.
//!
//! [`browser_client_stream`] loads pages the way a browser does: a document, then a burst of
//! up to 99 subresources, now and then an API call (some POST with a small JSON body). A
//! backend `Connection` (client role) talks to a frontend (server role) in memory; the
//! server answers every request with a small 200 and detaches the stream. Every byte the
//! client writes is recorded: preface, SETTINGS, HEADERS, request bodies, SETTINGS ACK and
//! WINDOW_UPDATEs, in the order and batching the client produced them.
//!
//! Time is simulated and the randomness is the seeded [`Rng`], so a seed always gives the
//! same bytes. Nothing here reads a clock: timing belongs to the caller.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use super::{pool, Pair, Rng};
use crate::buffer::BufferPool;
use crate::conn::{Connection, Event, RxBlocked, SendError};
use crate::error::{ConnError, ErrorCode};
use crate::frame::{self, flags, FrameHeader, FrameType, HEADER_LEN, PREFACE};
use crate::limits::Config;
use crate::message::Message;
use crate::side::Side;
use crate::stream::StreamId;
use crate::time::Instant;

/// One generated request: its head and, for a POST, its body.
#[derive(Clone, Debug)]
pub struct Request {
    pub message: Message,
    pub body: Option<Bytes>,
}

/// The requests of `browser_client_stream(requests, seed)`, in the order their heads are
/// encoded.
pub fn browser_requests(requests: usize, seed: u64) -> Vec<Request> {
    plan(requests, seed)
        .into_iter()
        .flat_map(|b| b.requests)
        .collect()
}

/// The bytes a browser-like client sends on one connection carrying `requests` requests.
///
/// # Panics
/// If the library's own client and server fail to complete the exchange: a bug in the
/// library, never a property of the seed.
pub fn browser_client_stream(requests: usize, seed: u64) -> Vec<u8> {
    generate(requests, seed).0
}

/// The header blocks of a client stream (HEADERS plus CONTINUATION fragments, padding and
/// priority stripped), in wire order: what the server's HPACK decoder sees. Stops at the
/// first truncated or malformed frame.
pub fn header_blocks(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut rest = stream.strip_prefix(PREFACE.as_slice()).unwrap_or(stream);
    let mut blocks = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    while let Some((head, tail)) = rest.split_first_chunk::<HEADER_LEN>() {
        let h = FrameHeader::parse(head);
        let Some((payload, next)) = tail.split_at_checked(h.len as usize) else {
            break;
        };
        rest = next;
        let fragment = match h.kind {
            FrameType::Headers => match frame::headers_fragment(&h, payload) {
                Ok((f, _)) => {
                    current = Some(Vec::new());
                    f
                }
                Err(_) => break,
            },
            FrameType::Continuation => payload,
            _ => continue,
        };
        let Some(block) = current.as_mut() else {
            break;
        };
        block.extend_from_slice(fragment);
        if h.has(flags::END_HEADERS) {
            blocks.extend(current.take());
        }
    }
    blocks
}

/// What a replay saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Input bytes the frontend consumed.
    pub bytes: u64,
    /// Request heads (`Event::Headers`).
    pub requests: u64,
    /// Request body bytes (`Event::Data`).
    pub body_bytes: u64,
    /// Streams reset, by either side.
    pub resets: u64,
    /// Bytes the frontend wrote back (SETTINGS, ACKs, responses).
    pub bytes_out: u64,
    /// The connection error, if the frontend failed.
    pub error: Option<ConnError>,
    /// Input bytes left unread because the frontend stopped reading for good.
    pub stalled: u64,
}

/// The frontend configuration of a replay. Live, the client opened a stream or sent more
/// body only after a response or WINDOW_UPDATE came back; a replay reads ahead of those
/// round trips, so the limits they would have lifted are opened up front.
pub fn replay_config() -> Config {
    Config {
        max_concurrent_streams: u32::MAX,
        initial_window_size: frame::MAX_WINDOW,
        connection_window: frame::MAX_WINDOW,
        ..Config::default()
    }
}

/// Feeds `stream` to a fresh frontend `chunk` bytes at a time (0 is taken as 1), acting as a
/// relay: request bodies are released as read, every request is answered with a bodiless
/// 200 once it has ended, answered streams are detached, output is drained after each chunk.
pub fn replay(stream: &Bytes, chunk: usize) -> ReplayReport {
    let mut r = Replay::new(replay_config());
    let chunk = chunk.max(1);
    let mut pos = 0;
    while pos < stream.len() {
        let end = pos.saturating_add(chunk).min(stream.len());
        if !r.feed(&stream.slice(pos..end)) {
            r.report.stalled = (stream.len() - pos) as u64;
            break;
        }
        pos = end;
    }
    r.finish()
}

/// A frontend driven like a relay drives it.
struct Replay {
    conn: Connection,
    pool: BufferPool,
    out: Vec<u8>,
    responder: Responder,
    report: ReplayReport,
}

impl Replay {
    fn new(cfg: Config) -> Replay {
        Replay {
            conn: Connection::new(Side::Frontend, Arc::new(cfg), 1, Instant(0)),
            pool: pool(),
            out: Vec::new(),
            responder: Responder::default(),
            report: ReplayReport::default(),
        }
    }

    /// Feeds all of `input`; false when the frontend stopped reading for good.
    fn feed(&mut self, input: &Bytes) -> bool {
        let mut pos = 0;
        let mut idle = 0;
        loop {
            let n = self
                .conn
                .recv(&mut self.pool, &input.slice(pos..), Instant(0));
            pos += n;
            let blocked = self.conn.rx_blocked();
            // Draining output and detaching streams lifts the TxRoom and Streams blocks.
            self.pump();
            if blocked == Some(RxBlocked::Buffer) {
                self.conn.on_buffer_available(&mut self.pool, Instant(0));
            }
            if pos >= input.len() {
                return true;
            }
            idle = if n == 0 { idle + 1 } else { 0 };
            if idle > 1 {
                return false;
            }
        }
    }

    fn pump(&mut self) {
        loop {
            self.out.clear();
            self.report.bytes_out +=
                self.conn
                    .drain_output(&mut self.pool, &mut self.out, usize::MAX, Instant(0))
                    as u64;
            let mut any = false;
            while let Some(e) = self.conn.poll_event() {
                any = true;
                self.responder.on_event(&mut self.conn, e);
            }
            // Responses queued by the events go out in the same pump.
            if !any {
                break;
            }
        }
    }

    fn finish(mut self) -> ReplayReport {
        self.report.bytes = self.conn.stats().bytes_in;
        self.report.requests = self.responder.requests;
        self.report.body_bytes = self.responder.body_bytes;
        self.report.resets = self.responder.resets;
        self.report.error = self.conn.error();
        self.conn.release(&mut self.pool);
        self.report
    }
}

/// The server half of both the generator and the replay: answers each request once it has
/// ended, and lets go of the stream once the answer is written.
#[derive(Default)]
struct Responder {
    /// Answer with a small body, or with a bare head (the replay measures the demux, not
    /// the writing of bodies).
    bodies: bool,
    requests: u64,
    body_bytes: u64,
    resets: u64,
    failed: Option<ConnError>,
    /// Response body bytes not yet written, per stream id. Detaching only after the last
    /// `DataSent`: a stream detached while its DATA is still queued loses that DATA.
    unsent: BTreeMap<u32, usize>,
}

/// Response bodies are slices of this.
static BODY: [u8; 2048] = [b'x'; 2048];

impl Responder {
    fn on_event(&mut self, conn: &mut Connection, e: Event) {
        match e {
            Event::Headers {
                stream, end_stream, ..
            } => {
                self.requests += 1;
                if end_stream {
                    self.respond(conn, stream);
                }
            }
            Event::Data {
                stream,
                data,
                end_stream,
            } => {
                self.body_bytes += data.len() as u64;
                conn.release_capacity(stream, data.len());
                if end_stream {
                    self.respond(conn, stream);
                }
            }
            Event::Trailers { stream, .. } => self.respond(conn, stream),
            Event::DataSent { stream, len } => {
                if let Some(left) = self.unsent.get_mut(&stream.value()) {
                    *left = left.saturating_sub(len);
                    if *left == 0 {
                        self.unsent.remove(&stream.value());
                        conn.detach(stream);
                    }
                }
            }
            Event::Reset { stream, .. } => {
                self.resets += 1;
                self.unsent.remove(&stream.value());
                conn.detach(stream);
            }
            Event::Failed { error } => self.failed = Some(error),
            _ => {}
        }
    }

    /// A small 200: a few fields and 64..=1535 body bytes (the size a function of the id),
    /// or no body at all.
    fn respond(&mut self, conn: &mut Connection, stream: StreamId) {
        let len = if self.bodies {
            64 + (stream.value().wrapping_mul(2_654_435_761) >> 8) as usize % 1472
        } else {
            0
        };
        let mut m = Message::response(200);
        m.fields
            .push(b"content-type", b"text/html; charset=utf-8", false);
        m.fields
            .push(b"content-length", len.to_string().as_bytes(), false);
        m.fields
            .push(b"cache-control", b"private, max-age=0", false);
        m.content_length = Some(len as u64);
        let sent = conn.send_headers(stream, m, len == 0).is_ok()
            && (len == 0
                || conn
                    .send_data(stream, Bytes::from_static(&BODY).slice(..len), true)
                    .is_ok());
        if !sent {
            conn.reset(stream, ErrorCode::InternalError);
            conn.detach(stream);
        } else if len == 0 {
            // Nothing queued but the head, which keeps the stream until it is written.
            conn.detach(stream);
        } else {
            self.unsent.insert(stream.value(), len);
        }
    }
}

// ----- The generator -------------------------------------------------------------------

const WWW: &str = "www.example.com";
const STATIC: &str = "static.example.com";

const USER_AGENTS: [&str; 3] = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Version/17.4 Safari",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Firefox/127.0",
];
const LANGUAGES: [&str; 4] = [
    "en-US,en;q=0.5",
    "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7",
    "fr-FR,fr;q=0.8,en-US;q=0.5,en;q=0.3",
    "en-GB,en;q=0.9",
];
const WORDS: [&str; 12] = [
    "shoes", "running", "winter", "jacket", "kids", "sale", "leather", "boots", "wool", "socks",
    "red", "classic",
];
const CATEGORIES: [&str; 6] = ["men", "women", "outdoor", "home", "sport", "accessories"];

#[derive(Clone, Copy)]
enum Kind {
    Document,
    Script,
    Style,
    Image,
    Font,
    Api,
}

/// What stays the same for one browser on one connection.
struct Client {
    user_agent: &'static str,
    language: &'static str,
    /// Cookie crumbs; the last one changes on every page (an analytics timestamp).
    crumbs: Vec<String>,
    /// Asset hashes, so that pages share scripts and styles.
    bundles: Vec<String>,
    page: String,
    visits: u64,
    clock: u64,
}

impl Client {
    fn new(rng: &mut Rng) -> Client {
        let mut c = Client {
            user_agent: rng.pick(&USER_AGENTS),
            language: rng.pick(&LANGUAGES),
            crumbs: Vec::new(),
            bundles: (0..8).map(|_| rng.hex(8)).collect(),
            page: String::new(),
            visits: 0,
            clock: 1_700_000_000 + rng.range(0, 30_000_000),
        };
        // 100..=300 bytes once joined with "; ", counting the rotating crumb added per page.
        let target = rng.range(100, 300) as usize;
        let candidates = [
            format!("session_id={}", rng.hex(32)),
            format!(
                "_ga=GA1.1.{}.{}",
                rng.range(100_000_000, 999_999_999),
                c.clock
            ),
            format!("csrftoken={}", rng.alnum(32)),
            "prefs=lang%3Den%7Ctheme%3Ddark%7Ccur%3DEUR".to_string(),
            "consent=analytics%3Dyes%26ads%3Dno".to_string(),
            format!("cart={}", rng.alnum(24)),
            format!(
                "_fbp=fb.1.{}.{}",
                c.clock,
                rng.range(100_000_000, 999_999_999)
            ),
            "theme=dark".to_string(),
        ];
        let rotating = 46; // "_ga_XXXXXXXX=GS1.1.<ts>.<n>.1.<ts>.0.0.0"
        let mut total = rotating;
        for crumb in candidates {
            if total + crumb.len() + 2 > target && total > 60 {
                continue;
            }
            total += crumb.len() + 2;
            c.crumbs.push(crumb);
        }
        c.crumbs.push(String::new());
        c
    }

    fn new_page(&mut self, rng: &mut Rng) {
        self.visits += 1;
        self.clock += rng.range(2, 40);
        if let Some(last) = self.crumbs.last_mut() {
            *last = format!(
                "_ga_K7X2M9QP=GS1.1.{}.{}.1.{}.0.0.0",
                self.clock - 1000,
                self.visits,
                self.clock
            );
        }
    }

    fn request(&self, rng: &mut Rng, kind: Kind, path: &str, post: Option<usize>) -> Request {
        let authority = match kind {
            Kind::Script | Kind::Style | Kind::Image | Kind::Font if rng.percent(30) => STATIC,
            _ => WWW,
        };
        let method: &[u8] = if post.is_some() { b"POST" } else { b"GET" };
        let mut m = Message::request(method, b"https", authority.as_bytes(), path.as_bytes());
        let f = &mut m.fields;
        let (accept, dest, mode, priority): (&[u8], &[u8], &[u8], &[u8]) = match kind {
            Kind::Document => (
                b"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
                b"document",
                b"navigate",
                b"u=0, i",
            ),
            Kind::Script => (b"*/*", b"script", b"no-cors", b"u=2"),
            Kind::Style => (b"text/css,*/*;q=0.1", b"style", b"no-cors", b"u=2"),
            Kind::Image => (
                b"image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5",
                b"image",
                b"no-cors",
                b"u=5, i",
            ),
            Kind::Font => (
                b"application/font-woff2;q=1.0,application/font-woff;q=0.9,*/*;q=0.8",
                b"font",
                b"cors",
                b"u=2",
            ),
            Kind::Api => (b"application/json, text/plain, */*", b"empty", b"cors", b"u=4"),
        };
        f.push(b"user-agent", self.user_agent.as_bytes(), false);
        f.push(b"accept", accept, false);
        f.push(b"accept-language", self.language.as_bytes(), false);
        f.push(b"accept-encoding", b"gzip, deflate, br, zstd", false);
        if !self.page.is_empty() {
            f.push(b"referer", self.page.as_bytes(), false);
        }
        if let Some(len) = post {
            f.push(b"content-type", b"application/json", false);
            f.push(b"content-length", len.to_string().as_bytes(), false);
            f.push(b"origin", b"https://www.example.com", false);
            m.content_length = Some(len as u64);
        }
        let f = &mut m.fields;
        f.push(b"sec-fetch-dest", dest, false);
        f.push(b"sec-fetch-mode", mode, false);
        let site: &[u8] = match (kind, self.page.is_empty()) {
            (Kind::Document, true) => b"none",
            _ if authority == STATIC => b"same-site",
            _ => b"same-origin",
        };
        f.push(b"sec-fetch-site", site, false);
        if let Kind::Document = kind {
            f.push(b"sec-fetch-user", b"?1", false);
        }
        if authority == WWW {
            // Browsers differ: one joined field, or one field per crumb (RFC 9113 §8.2.3).
            if rng.percent(50) {
                f.push(b"cookie", self.crumbs.join("; ").as_bytes(), false);
            } else {
                for c in &self.crumbs {
                    f.push(b"cookie", c.as_bytes(), false);
                }
            }
        }
        if let Kind::Document = kind {
            f.push(b"upgrade-insecure-requests", b"1", false);
        }
        f.push(b"priority", priority, false);
        let body = post.map(|len| {
            let json = format!(
                "{{\"cart\":\"{}\",\"item\":{},\"qty\":{},\"note\":\"",
                self.visits,
                rng.range(1000, 99_999),
                rng.range(1, 5)
            );
            let mut b = json.into_bytes();
            b.resize(len.saturating_sub(2), b'.');
            b.extend_from_slice(b"\"}");
            b.truncate(len);
            Bytes::from(b)
        });
        Request { message: m, body }
    }
}

fn document_path(rng: &mut Rng) -> String {
    match rng.range(0, 4) {
        0 => "/".to_string(),
        1 => format!("/products/{}", rng.range(10_000, 999_999)),
        2 => format!(
            "/category/{}?page={}",
            rng.pick(&CATEGORIES),
            rng.range(1, 12)
        ),
        3 => format!(
            "/search?q={}+{}&sort=relevance",
            rng.pick(&WORDS),
            rng.pick(&WORDS)
        ),
        _ => format!(
            "/articles/{}/{}-{}",
            rng.range(2019, 2025),
            rng.pick(&WORDS),
            rng.pick(&WORDS)
        ),
    }
}

fn subresource(rng: &mut Rng, client: &Client) -> (Kind, String) {
    let bundle =
        |rng: &mut Rng| client.bundles[rng.next_u64() as usize % client.bundles.len()].clone();
    match rng.range(0, 99) {
        0..=17 => {
            let name = rng.pick(&[
                "app",
                "vendor",
                "runtime",
                "chunk-3",
                "chunk-7",
                "analytics",
            ]);
            (
                Kind::Script,
                format!("/static/js/{name}.{}.js", bundle(rng)),
            )
        }
        18..=27 => {
            let name = rng.pick(&["main", "theme", "print"]);
            (
                Kind::Style,
                format!("/static/css/{name}.{}.css", bundle(rng)),
            )
        }
        28..=31 => {
            let w = rng.pick(&["400", "600", "700"]);
            (Kind::Font, format!("/static/fonts/inter-latin-{w}.woff2"))
        }
        32..=84 => {
            let p = if rng.percent(50) {
                format!(
                    "/images/{}/{}-{}x{}.webp",
                    rng.pick(&CATEGORIES),
                    rng.range(10_000, 999_999),
                    rng.pick(&[320, 640, 1280]),
                    rng.pick(&[240, 480, 960])
                )
            } else {
                format!(
                    "/img/p/{}.jpg?w={}&q=80",
                    rng.range(10_000, 999_999),
                    rng.pick(&[160, 320, 640])
                )
            };
            (Kind::Image, p)
        }
        _ => (
            Kind::Api,
            format!(
                "/api/v2/{}?id={}&fields=name,price,stock&lang=en",
                rng.pick(&["items", "prices", "reviews", "stock"]),
                rng.range(10_000, 999_999)
            ),
        ),
    }
}

/// Requests opened together, after a pause (ms) since the previous batch was answered.
struct Batch {
    pause: u64,
    requests: Vec<Request>,
}

/// The requests in batches: a batch is opened at once, the next one only once it has been
/// answered (a page's document, then its subresources, then now and then API calls).
fn plan(requests: usize, seed: u64) -> Vec<Batch> {
    let mut rng = Rng::new(seed);
    let mut client = Client::new(&mut rng);
    let mut batches = Vec::new();
    let mut left = requests;
    while left > 0 {
        client.new_page(&mut rng);
        let path = document_path(&mut rng);
        // Reading time between pages.
        batches.push(Batch {
            pause: rng.range(500, 8000),
            requests: vec![client.request(&mut rng, Kind::Document, &path, None)],
        });
        left -= 1;
        client.page = format!("https://{WWW}{path}");

        let n = (rng.range(5, 99) as usize).min(left);
        let batch = (0..n)
            .map(|_| {
                let (kind, path) = subresource(&mut rng, &client);
                client.request(&mut rng, kind, &path, None)
            })
            .collect();
        batches.push(Batch {
            pause: rng.range(5, 50),
            requests: batch,
        });
        left -= n;

        if left > 0 && rng.percent(30) {
            let n = (rng.range(1, 3) as usize).min(left);
            let batch = (0..n)
                .map(|i| {
                    let post = (i == 0).then(|| rng.range(40, 600) as usize);
                    let path = if post.is_some() {
                        "/api/v2/cart/items".to_string()
                    } else {
                        format!("/api/v2/cart?v={}", rng.range(1, 1_000_000))
                    };
                    client.request(&mut rng, Kind::Api, &path, post)
                })
                .collect();
            batches.push(Batch {
                pause: rng.range(200, 3000),
                requests: batch,
            });
            left -= n;
        }
    }
    batches
}

/// What the generator's client saw, for its own checks.
#[derive(Debug, Default)]
struct ClientSide {
    responses: u64,
    body_mismatches: u64,
    resets: u64,
    failed: Option<ConnError>,
}

/// A client and a server in memory; only the client's bytes are kept (`c2s_log`).
struct Sim {
    pair: Pair,
    responder: Responder,
    seen: ClientSide,
    /// (stream, expected body length, received) per outstanding client stream.
    open: Vec<(StreamId, Option<u64>, u64)>,
}

impl Sim {
    fn new() -> Sim {
        // Browser-like SETTINGS: a larger HPACK table and stream window than the defaults.
        let client_cfg = Config {
            header_table_size: 65_536,
            initial_window_size: 131_072,
            ..Config::default()
        };
        Sim {
            pair: Pair::new(client_cfg, Config::default()),
            responder: Responder {
                bodies: true,
                ..Responder::default()
            },
            seen: ClientSide::default(),
            open: Vec::new(),
        }
    }

    fn load(&mut self, batch: Vec<Request>) {
        for req in batch {
            let end = req.body.is_none();
            let mut tries = 0;
            let id = loop {
                match self.pair.client.open_stream(req.message.clone(), end) {
                    Ok(id) => break id,
                    Err(SendError::ConcurrencyLimit) if tries < 10_000 => {
                        tries += 1;
                        self.step();
                    }
                    Err(e) => panic!("client could not open a stream: {e:?}"),
                }
            };
            if let Some(body) = req.body {
                if let Err(e) = self.pair.client.send_data(id, body, true) {
                    panic!("client could not send a request body: {e:?}");
                }
            }
            self.open.push((id, None, 0));
        }
        for _ in 0..100_000 {
            if self.open.is_empty() {
                return;
            }
            self.step();
        }
        panic!("exchange did not settle: {:?}", self.seen);
    }

    /// One round trip of 1 ms: bytes both ways, events handled.
    fn step(&mut self) {
        let Sim {
            pair,
            responder,
            seen,
            open,
        } = self;
        pair.now = pair.now.after(1);
        pair.round_trip(
            |server, e| responder.on_event(server, e),
            |client, e| on_client_event(client, seen, open, e),
        );
        if let Some(e) = self.responder.failed.or(self.seen.failed) {
            panic!("connection failed while generating: {e:?}");
        }
    }
}

/// The generator's client: checks each response body against its content-length and lets
/// go of the stream once the response ended.
fn on_client_event(
    client: &mut Connection,
    seen: &mut ClientSide,
    open: &mut Vec<(StreamId, Option<u64>, u64)>,
    e: Event,
) {
    let (stream, ended) = match e {
        Event::Headers {
            stream,
            message,
            end_stream,
        } => {
            if let Some(o) = open.iter_mut().find(|o| o.0 == stream) {
                o.1 = message.content_length;
            }
            (stream, end_stream)
        }
        Event::Data {
            stream,
            data,
            end_stream,
        } => {
            client.release_capacity(stream, data.len());
            if let Some(o) = open.iter_mut().find(|o| o.0 == stream) {
                o.2 += data.len() as u64;
            }
            (stream, end_stream)
        }
        Event::Trailers { stream, .. } => (stream, true),
        Event::Reset { stream, .. } => {
            seen.resets += 1;
            (stream, true)
        }
        Event::Failed { error } => {
            seen.failed = Some(error);
            return;
        }
        _ => return,
    };
    if ended {
        if let Some(i) = open.iter().position(|o| o.0 == stream) {
            let (_, want, got) = open.swap_remove(i);
            seen.responses += 1;
            if want != Some(got) {
                seen.body_mismatches += 1;
            }
        }
        client.detach(stream);
    }
}

fn generate(requests: usize, seed: u64) -> (Vec<u8>, ClientSide) {
    let mut sim = Sim::new();
    for batch in plan(requests, seed) {
        // Time passes as it would; the glitch meter decays with it.
        sim.pair.now = sim.pair.now.after(batch.pause);
        sim.load(batch.requests);
    }
    // Whatever the client still owes (a last WINDOW_UPDATE, say).
    sim.step();
    (std::mem::take(&mut sim.pair.c2s_log), sim.seen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hpack::Decoder;

    /// The frame headers of a whole client stream.
    fn frames(stream: &[u8]) -> Vec<FrameHeader> {
        assert!(stream.starts_with(PREFACE));
        let out: Vec<FrameHeader> = super::super::frames(stream)
            .into_iter()
            .map(|(h, _)| h)
            .collect();
        let covered: usize = out.iter().map(|h| HEADER_LEN + h.len as usize).sum();
        assert_eq!(PREFACE.len() + covered, stream.len());
        out
    }

    #[test]
    fn deterministic_for_a_seed() {
        let a = browser_client_stream(300, 7);
        assert_eq!(a, browser_client_stream(300, 7));
        assert_ne!(a, browser_client_stream(300, 8));
    }

    #[test]
    fn generator_client_saw_every_response_whole() {
        let (_, seen) = generate(400, 3);
        assert_eq!(seen.responses, 400);
        assert_eq!(seen.body_mismatches, 0);
        assert_eq!(seen.resets, 0);
        assert!(seen.failed.is_none());
    }

    #[test]
    fn looks_like_a_browser() {
        let s = browser_client_stream(600, 1);
        assert!(s.starts_with(PREFACE));
        let f = frames(&s);
        assert_eq!(f[0].kind, FrameType::Settings);
        assert!(!f[0].has(flags::ACK));
        let count = |k: FrameType| f.iter().filter(|h| h.kind == k).count();
        assert_eq!(count(FrameType::Headers), 600);
        assert!(f
            .iter()
            .any(|h| h.kind == FrameType::Settings && h.has(flags::ACK)));
        assert!(count(FrameType::WindowUpdate) >= 1);
        assert!(count(FrameType::Data) >= 1);
    }

    #[test]
    fn fresh_frontend_sees_every_request() {
        let requests = 2000;
        let s = Bytes::from(browser_client_stream(requests, 1));
        for chunk in [16_384, 1, 7, 1000, s.len()] {
            let r = replay(&s, chunk);
            assert_eq!(r.error, None, "chunk {chunk}");
            assert_eq!(r.requests, requests as u64, "chunk {chunk}");
            assert_eq!(r.resets, 0, "chunk {chunk}");
            assert_eq!(r.stalled, 0, "chunk {chunk}");
            assert_eq!(r.bytes, s.len() as u64, "chunk {chunk}");
            let posted: u64 = browser_requests(requests, 1)
                .iter()
                .filter_map(|q| q.body.as_ref().map(|b| b.len() as u64))
                .sum();
            assert_eq!(r.body_bytes, posted, "chunk {chunk}");
        }
    }

    #[test]
    fn header_blocks_decode_to_the_requests() {
        let requests = browser_requests(500, 2);
        let blocks = header_blocks(&browser_client_stream(500, 2));
        assert_eq!(blocks.len(), requests.len());
        let mut d = Decoder::new(4096);
        for (block, req) in blocks.iter().zip(&requests) {
            let mut got = Vec::new();
            d.decode(block, usize::MAX, &mut |n, v, _| {
                got.push((n.to_vec(), v.to_vec()))
            })
            .unwrap();
            let mut want = Vec::new();
            req.message
                .for_each_h2_field(&mut |n, v, _| want.push((n.to_vec(), v.to_vec())));
            assert_eq!(got, want);
        }
    }

    #[test]
    fn cookies_and_sizes_are_realistic() {
        let reqs = browser_requests(1000, 5);
        let mut crumbs = 0;
        let mut joined = 0;
        let mut posts = 0;
        for r in &reqs {
            let n = r.message.fields.get_all(b"cookie").count();
            if n == 1 {
                joined += 1;
            } else if n > 1 {
                crumbs += 1;
            }
            if let Some(c) = r.message.fields.joined_cookie() {
                assert!((100..=300).contains(&c.len()), "{}", c.len());
            }
            let ua = r.message.fields.get(b"user-agent").unwrap();
            assert!((55..=75).contains(&ua.len()));
            posts += usize::from(r.body.is_some());
        }
        assert!(joined > 100 && crumbs > 100);
        assert!(posts > 0 && posts < 100);
    }

    #[test]
    fn header_blocks_stops_at_truncation() {
        let s = browser_client_stream(50, 1);
        let all = header_blocks(&s);
        assert_eq!(all.len(), 50);
        let part = header_blocks(&s[..s.len() / 2]);
        assert!(part.len() < 50);
        assert_eq!(&all[..part.len()], &part[..]);
        assert!(header_blocks(b"garbage").is_empty());
    }
}
