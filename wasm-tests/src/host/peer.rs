//! HTTP/2 peers for the driver: an h2 client and a scripted h2 upstream whose routes
//! exercise the relay (echo, hashing, large bodies, trailers, resets, GOAWAY), recording
//! what it saw.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use bytes::Bytes;
use h2::{Ping, PingPong, Reason, RecvStream, SendStream};
use http::{HeaderMap, Request, Response};
use sha2::{Digest, Sha256};
use tokio::io::DuplexStream;
use tokio::sync::{mpsc, Notify};

use crate::upstream::pattern_byte;

/// What the upstream saw, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    Request {
        path: String,
    },
    /// A request body ended (`sha256` of it, hex).
    Body {
        path: String,
        bytes: u64,
        sha256: String,
    },
    /// A request stream ended with a reset (or another error) before its end.
    Reset {
        path: String,
        reason: Option<Reason>,
    },
}

/// A handle on a running upstream connection.
#[derive(Clone)]
pub struct Upstream {
    seen: Arc<Mutex<Vec<Seen>>>,
    goaway: Arc<Notify>,
    settings: mpsc::UnboundedSender<u32>,
    pinger: Arc<Mutex<Option<PingPong>>>,
}

impl Upstream {
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Starts a graceful shutdown (GOAWAY) of the connection.
    pub fn goaway(&self) {
        self.goaway.notify_one();
    }

    /// Sends SETTINGS with a new INITIAL_WINDOW_SIZE.
    pub fn set_initial_window_size(&self, size: u32) {
        let _ = self.settings.send(size);
    }

    /// PINGs the proxy and waits for the ACK.
    pub async fn ping(&self) -> Result<(), h2::Error> {
        let mut p = self
            .pinger
            .lock()
            .unwrap()
            .take()
            .expect("one ping at a time");
        let r = p.ping(Ping::opaque()).await;
        *self.pinger.lock().unwrap() = Some(p);
        r.map(|_| ())
    }
}

/// Serves HTTP/2 on `io`. Routes: `/` greeting, `/echo` body and trailers back,
/// `/sha256` the body's hash and length, `/bytes/N` N bytes of the pattern,
/// `/trailers` a body then trailers, `/reset?code=C&after=B` B bytes then RST_STREAM(C),
/// `/goaway` a response then a graceful GOAWAY; else 404.
pub fn serve(io: DuplexStream) -> Upstream {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let goaway = Arc::new(Notify::new());
    let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
    let pinger = Arc::new(Mutex::new(None));
    let up = Upstream {
        seen: seen.clone(),
        goaway: goaway.clone(),
        settings: tx,
        pinger: pinger.clone(),
    };
    let handle = up.clone();
    tokio::spawn(async move {
        let Ok(mut conn) = h2::server::Builder::new()
            .initial_window_size(1 << 20)
            .initial_connection_window_size(8 << 20)
            .max_concurrent_streams(1000)
            .handshake::<_, Bytes>(io)
            .await
        else {
            return;
        };
        *pinger.lock().unwrap() = conn.ping_pong();
        let mut shut = false;
        loop {
            let next = {
                let mut notified = pin!(goaway.notified());
                poll_fn(|cx| {
                    while let Poll::Ready(Some(n)) = rx.poll_recv(cx) {
                        let _ = conn.set_initial_window_size(n);
                    }
                    if !shut && notified.as_mut().poll(cx).is_ready() {
                        conn.graceful_shutdown();
                        shut = true;
                    }
                    conn.poll_accept(cx)
                })
                .await
            };
            match next {
                Some(Ok((req, respond))) => {
                    let h = handle.clone();
                    tokio::spawn(async move { route(h, req, respond).await });
                }
                _ => break,
            }
        }
    });
    up
}

type Respond = h2::server::SendResponse<Bytes>;

async fn route(up: Upstream, req: Request<RecvStream>, mut respond: Respond) {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    up.seen
        .lock()
        .unwrap()
        .push(Seen::Request { path: path.clone() });
    let body = req.into_body();
    let ok = Response::builder().status(200).body(()).unwrap();
    match path.as_str() {
        "/" => {
            let _ = drain(&up, &path, body).await;
            if let Ok(mut s) = respond.send_response(ok, false) {
                let _ = send_all(&mut s, b"hello\n", true).await;
            }
        }
        "/echo" => {
            let Ok(mut s) = respond.send_response(ok, false) else {
                return;
            };
            let mut body = body;
            let mut hasher = Sha256::new();
            let mut n = 0u64;
            loop {
                match body.data().await {
                    Some(Ok(chunk)) => {
                        let _ = body.flow_control().release_capacity(chunk.len());
                        hasher.update(&chunk);
                        n += chunk.len() as u64;
                        if send_all(&mut s, &chunk, false).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(e)) => {
                        up.note_reset(&path, &e);
                        return;
                    }
                    None => break,
                }
            }
            up.note_body(&path, n, hasher);
            match body.trailers().await {
                Ok(Some(t)) => {
                    let _ = s.send_trailers(t);
                }
                _ => {
                    let _ = s.send_data(Bytes::new(), true);
                }
            }
        }
        "/sha256" => {
            let Some((n, hex)) = drain(&up, &path, body).await else {
                return;
            };
            if let Ok(mut s) = respond.send_response(ok, false) {
                let _ = send_all(&mut s, format!("{hex} {n}\n").as_bytes(), true).await;
            }
        }
        "/trailers" => {
            let _ = drain(&up, &path, body).await;
            if let Ok(mut s) = respond.send_response(ok, false) {
                let _ = send_all(&mut s, b"with trailers\n", false).await;
                let mut t = HeaderMap::new();
                t.insert("grpc-status", "0".parse().unwrap());
                t.insert("x-trailer", "yes".parse().unwrap());
                let _ = s.send_trailers(t);
            }
        }
        "/goaway" => {
            let _ = drain(&up, &path, body).await;
            if let Ok(mut s) = respond.send_response(ok, false) {
                let _ = send_all(&mut s, b"goodbye\n", true).await;
            }
            up.goaway();
        }
        p if p.starts_with("/bytes/") => {
            let n: u64 = p["/bytes/".len()..].parse().unwrap_or(0);
            let _ = drain(&up, &path, body).await;
            if let Ok(mut s) = respond.send_response(ok, n == 0) {
                let _ = send_all(&mut s, &pattern(0, n as usize), true).await;
            }
        }
        "/reset" => {
            let arg = |k: &str, d: u32| {
                query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('=')?.parse().ok())
                    .unwrap_or(d)
            };
            let (code, after) = (arg("code", 2), arg("after", 0));
            if let Ok(mut s) = respond.send_response(ok, false) {
                let _ = send_all(&mut s, &pattern(0, after as usize), false).await;
                // Let the bytes leave before the reset (a reset drops queued DATA).
                for _ in 0..50 {
                    tokio::task::yield_now().await;
                }
                s.send_reset(Reason::from(code));
            }
        }
        _ => {
            let _ = drain(&up, &path, body).await;
            let r = Response::builder().status(404).body(()).unwrap();
            let _ = respond.send_response(r, true);
        }
    }
}

impl Upstream {
    fn note_reset(&self, path: &str, e: &h2::Error) {
        self.seen.lock().unwrap().push(Seen::Reset {
            path: path.to_string(),
            reason: e.reason(),
        });
    }

    fn note_body(&self, path: &str, bytes: u64, hasher: Sha256) {
        self.seen.lock().unwrap().push(Seen::Body {
            path: path.to_string(),
            bytes,
            sha256: hex(&hasher.finalize()),
        });
    }
}

/// Reads a request body to its end: (length, sha256 hex), or None after a reset.
async fn drain(up: &Upstream, path: &str, mut body: RecvStream) -> Option<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut n = 0u64;
    while let Some(chunk) = body.data().await {
        match chunk {
            Ok(c) => {
                let _ = body.flow_control().release_capacity(c.len());
                hasher.update(&c);
                n += c.len() as u64;
            }
            Err(e) => {
                up.note_reset(path, &e);
                return None;
            }
        }
    }
    let h = hex(&hasher.clone().finalize());
    up.note_body(path, n, hasher);
    Some((n, h))
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex(&Sha256::digest(b))
}

/// `len` bytes of the upstream's pattern starting at offset `from`.
pub fn pattern(from: u64, len: usize) -> Vec<u8> {
    (0..len as u64).map(|i| pattern_byte(from + i)).collect()
}

/// Sends `data` as window capacity allows (h2 would otherwise queue it all).
pub async fn send_all(s: &mut SendStream<Bytes>, data: &[u8], end: bool) -> Result<(), h2::Error> {
    let mut off = 0;
    while off < data.len() {
        s.reserve_capacity((data.len() - off).min(64 * 1024));
        let cap = match poll_fn(|cx| s.poll_capacity(cx)).await {
            Some(r) => r?,
            None => return Err(h2::Error::from(Reason::CANCEL)),
        };
        if cap == 0 {
            continue;
        }
        let n = cap.min(data.len() - off);
        s.send_data(
            Bytes::copy_from_slice(&data[off..off + n]),
            end && off + n == data.len(),
        )?;
        off += n;
    }
    if data.is_empty() && end {
        s.send_data(Bytes::new(), true)?;
    }
    Ok(())
}

/// Reads a whole response body (releasing flow-control credit), then the trailers.
pub async fn read_all(mut body: RecvStream) -> Result<(Vec<u8>, Option<HeaderMap>), h2::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        let c = chunk?;
        let _ = body.flow_control().release_capacity(c.len());
        out.extend_from_slice(&c);
    }
    let t = body.trailers().await?;
    Ok((out, t))
}

/// A client connection's handles besides its request sender.
pub struct Client {
    pub send: h2::client::SendRequest<Bytes>,
    pinger: Option<PingPong>,
    settings: mpsc::UnboundedSender<u32>,
    /// The connection task: ends with the connection's result.
    pub done: tokio::task::JoinHandle<Result<(), h2::Error>>,
}

impl Client {
    /// HTTP/2 handshake on `io` (windows kept small so large bodies need many updates).
    pub async fn connect(io: DuplexStream) -> Result<Client, h2::Error> {
        let (send, mut conn) = h2::client::Builder::new()
            .initial_window_size(65_535)
            .initial_connection_window_size(1 << 20)
            .handshake::<_, Bytes>(io)
            .await?;
        let pinger = conn.ping_pong();
        let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
        let done = tokio::spawn(async move {
            poll_fn(|cx| {
                while let Poll::Ready(Some(n)) = rx.poll_recv(cx) {
                    let _ = conn.set_initial_window_size(n);
                }
                Pin::new(&mut conn).poll(cx)
            })
            .await
        });
        Ok(Client {
            send,
            pinger,
            settings: tx,
            done,
        })
    }

    pub async fn ping(&mut self) -> Result<(), h2::Error> {
        let p = self.pinger.as_mut().expect("ping_pong taken once");
        p.ping(Ping::opaque()).await.map(|_| ())
    }

    /// Sends SETTINGS with a new INITIAL_WINDOW_SIZE.
    pub fn set_initial_window_size(&self, size: u32) {
        let _ = self.settings.send(size);
    }

    /// A request with a body (and optional trailers); returns status, body and trailers.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
        trailers: Option<HeaderMap>,
    ) -> Result<Reply, h2::Error> {
        request(&self.send, method, path, body, trailers).await
    }
}

/// Status, body and trailers of a response.
pub type Reply = (u16, Vec<u8>, Option<HeaderMap>);

/// Sends a request (body sent as the window allows, then trailers), then reads the reply.
pub async fn request(
    send: &h2::client::SendRequest<Bytes>,
    method: &str,
    path: &str,
    body: &[u8],
    trailers: Option<HeaderMap>,
) -> Result<Reply, h2::Error> {
    let (resp, mut stream) =
        start(send, method, path, body.is_empty() && trailers.is_none()).await?;
    if !(body.is_empty() && trailers.is_none()) {
        send_all(&mut stream, body, trailers.is_none()).await?;
        if let Some(t) = trailers {
            stream.send_trailers(t)?;
        }
    }
    let resp = resp.await?;
    let status = resp.status().as_u16();
    let (b, t) = read_all(resp.into_body()).await?;
    Ok((status, b, t))
}

/// Opens a request stream: the response future and the body sender.
pub async fn start(
    send: &h2::client::SendRequest<Bytes>,
    method: &str,
    path: &str,
    end: bool,
) -> Result<(h2::client::ResponseFuture, SendStream<Bytes>), h2::Error> {
    let req = Request::builder()
        .method(method)
        .uri(format!("http://upstream{path}"))
        .body(())
        .unwrap();
    let mut send = send.clone().ready().await?;
    send.send_request(req, end)
}
