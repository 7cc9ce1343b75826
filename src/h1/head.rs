//! Start lines and header sections (RFC 9112 §2–§6): finding where a head ends, then parsing
//! it into the version-agnostic `Message` through the same `MessageBuilder` HTTP/2 uses, and
//! reading the framing and connection options out of the hop-by-hop fields it removes.

use super::error::H1Error;
use crate::message::{trim_ows, Block, BlockKind, Message, MessageBuilder, MessageError};

/// The HTTP/1 minor version of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: no chunked coding, close unless keep-alive is asked for.
    Http10,
    /// HTTP/1.1 (and 1.x above it, §2.3).
    Http11,
}

/// How the body of a message is delimited (§6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// The chunked transfer coding.
    Chunked,
    /// Until the connection closes (responses only).
    UntilClose,
}

/// A parsed head: the message and what the HTTP/1 fields said about its transport.
#[derive(Debug)]
pub struct Parsed {
    /// The end-to-end message (hop-by-hop fields and Host removed).
    pub message: Message,
    /// The sender's version.
    pub version: Version,
    /// How the body is delimited.
    pub framing: Framing,
    /// The connection may carry another message after this one.
    pub keep_alive: bool,
    /// `Expect: 100-continue` (requests).
    pub expect_continue: bool,
    /// `TE: trailers`: the client reads trailers (requests).
    pub te_trailers: bool,
}

/// The limits a head is read under.
#[derive(Clone, Copy, Debug)]
pub struct HeadLimits {
    /// The longest request line (or status line) with its CRLF.
    pub max_line: usize,
    /// The longest head, start line included.
    pub max_head: usize,
    /// The most fields.
    pub max_fields: usize,
}

/// Where a head ends, found incrementally: the bytes before `pos` were scanned already and
/// hold no end, so bytes that arrive one at a time are scanned once each.
#[derive(Clone, Copy, Debug, Default)]
pub struct HeadScan {
    pos: usize,
    /// The first line was checked on its own (requests).
    pub(crate) first_line_checked: bool,
    line_start: usize,
    first_line_done: bool,
}

impl HeadScan {
    /// Scans `buf` (the whole head so far, from its first byte). Returns the length of the
    /// head, its final CRLFCRLF included, once it is all there.
    pub fn scan(&mut self, buf: &[u8], lim: &HeadLimits) -> Result<Option<usize>, H1Error> {
        while let Some(off) = buf
            .get(self.pos..)
            .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
        {
            let nl = self.pos + off;
            if nl == 0 || buf.get(nl - 1) != Some(&b'\r') {
                return Err(H1Error::BareLf);
            }
            if !self.first_line_done {
                if nl + 1 > lim.max_line {
                    return Err(H1Error::RequestLineTooLong);
                }
                self.first_line_done = true;
            } else if nl == self.line_start + 1 {
                // An empty line: the head is complete.
                return Ok(Some(nl + 1));
            }
            self.line_start = nl + 1;
            self.pos = nl + 1;
            if self.pos > lim.max_head {
                return Err(H1Error::HeadTooLarge);
            }
        }
        self.pos = buf.len();
        if !self.first_line_done && buf.len() > lim.max_line {
            return Err(H1Error::RequestLineTooLong);
        }
        if buf.len() > lim.max_head {
            return Err(H1Error::HeadTooLarge);
        }
        Ok(None)
    }
}

/// One field line, split and checked (§5): `name ":" OWS value OWS`.
fn field_line(line: &[u8]) -> Result<(&[u8], &[u8]), H1Error> {
    if matches!(line.first(), Some(b' ' | b'\t')) {
        return Err(H1Error::ObsFold);
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(H1Error::MissingColon)?;
    let (name, rest) = line.split_at(colon);
    if matches!(name.last(), Some(b' ' | b'\t')) {
        return Err(H1Error::SpaceBeforeColon);
    }
    if !crate::message::is_token(name) {
        return Err(H1Error::BadFieldName);
    }
    let value = trim_ows(rest.get(1..).unwrap_or_default());
    for &b in value {
        match b {
            b'\r' => return Err(H1Error::BareCr),
            b'\t' => {}
            0..=0x1f | 0x7f => return Err(H1Error::BadFieldValue),
            _ => {}
        }
    }
    Ok((name, value))
}

/// The lines of a complete head (CRLF-separated; the final empty line excluded).
fn lines(head: &[u8]) -> impl Iterator<Item = &[u8]> + Clone {
    let body = head.strip_suffix(b"\r\n\r\n").unwrap_or(head);
    body.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

/// `HTTP/` DIGIT `.` DIGIT.
fn version(v: &[u8], request: bool) -> Result<Version, H1Error> {
    let bad = if request {
        H1Error::BadVersion
    } else {
        H1Error::BadStatusLine
    };
    match v {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            match (major, minor) {
                (b'1', b'0') => Ok(Version::Http10),
                (b'1', _) => Ok(Version::Http11),
                _ if request => Err(H1Error::UnsupportedVersion),
                _ => Err(bad),
            }
        }
        _ => Err(bad),
    }
}

/// What the hop-by-hop fields said, gathered while the others go to the builder.
#[derive(Default)]
struct Hop {
    content_length: Option<u64>,
    content_length_seen: bool,
    /// Codings seen so far; `chunked_last` whether the last one is chunked.
    codings: u32,
    chunked_seen: bool,
    chunked_last: bool,
    unknown_coding: bool,
    close: bool,
    keep_alive: bool,
    upgrade: bool,
    upgrade_h2c_only: bool,
    te_trailers: bool,
    expect_continue: bool,
}

/// Field names the `Connection` field may name, bounded: a name beyond them still goes, which
/// is harmless since only hop-by-hop meaning is lost.
const MAX_CONNECTION_NAMES: usize = 8;

fn is_hop_by_hop(name: &[u8]) -> bool {
    matches!(
        name,
        b"connection"
            | b"keep-alive"
            | b"proxy-connection"
            | b"transfer-encoding"
            | b"upgrade"
            | b"te"
            | b"http2-settings"
            | b"expect"
    )
}

/// Splits a comma-separated list, trimming each element; empty elements are skipped
/// (RFC 9110 §5.6.1).
fn list(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

fn parse_len(v: &[u8]) -> Result<u64, H1Error> {
    crate::message::parse_content_length(v).map_err(|_| H1Error::BadContentLength)
}

impl Hop {
    /// The connection may carry another message after this one (§9.3).
    fn keep_alive(&self, version: Version) -> bool {
        match version {
            Version::Http11 => !self.close,
            Version::Http10 => self.keep_alive && !self.close,
        }
    }

    /// Takes what a field says about framing and the connection (`is_hop_by_hop` says which
    /// fields go no further).
    fn take(&mut self, name: &[u8], value: &[u8], scratch: &mut Vec<u8>) -> Result<(), H1Error> {
        match name {
            b"content-length" => {
                let n = parse_len(value)?;
                if self.content_length.is_some_and(|p| p != n) {
                    return Err(H1Error::BadContentLength);
                }
                self.content_length = Some(n);
                self.content_length_seen = true;
            }
            b"transfer-encoding" => {
                for c in list(value) {
                    self.codings += 1;
                    if c.eq_ignore_ascii_case(b"chunked") {
                        if self.chunked_seen {
                            return Err(H1Error::ChunkedNotLast);
                        }
                        self.chunked_seen = true;
                        self.chunked_last = true;
                    } else {
                        self.chunked_last = false;
                        self.unknown_coding = true;
                    }
                }
                if value.iter().all(|&b| b == b',' || b == b' ' || b == b'\t') {
                    // An empty Transfer-Encoding names no coding at all: not chunked.
                    self.codings += 1;
                    self.chunked_last = false;
                }
            }
            b"connection" | b"proxy-connection" => {
                for t in list(value) {
                    if t.eq_ignore_ascii_case(b"close") {
                        self.close = true;
                    } else if t.eq_ignore_ascii_case(b"keep-alive") {
                        self.keep_alive = true;
                    } else if t.eq_ignore_ascii_case(b"upgrade") {
                        self.upgrade = true;
                    }
                    // Remember named fields (lowercased) to drop them.
                    if scratch.iter().filter(|&&b| b == 0).count() < MAX_CONNECTION_NAMES {
                        scratch.extend(t.iter().map(u8::to_ascii_lowercase));
                        scratch.push(0);
                    }
                }
            }
            b"upgrade" => {
                self.upgrade = true;
                self.upgrade_h2c_only = list(value).all(|p| p.eq_ignore_ascii_case(b"h2c"));
            }
            b"te" => {
                // `te` may name several codings; `trailers` is the one that matters here.
                self.te_trailers |= list(value).any(|t| {
                    let t = t.split(|&b| b == b';').next().unwrap_or_default();
                    trim_ows(t).eq_ignore_ascii_case(b"trailers")
                });
            }
            // Answered here (the server role writes 100 Continue itself): an HTTP/2 upstream
            // seldom answers it, and the client would wait out its timer.
            b"expect" => self.expect_continue |= value.eq_ignore_ascii_case(b"100-continue"),
            _ => {}
        }
        Ok(())
    }
}

/// Whether `name` is one the Connection field named (NUL-separated in `named`).
fn named_by_connection(named: &[u8], name: &[u8]) -> bool {
    !named.is_empty() && named.split(|&b| b == 0).any(|n| n == name)
}

/// Lowercases `name` into `buf` (reused across fields: no allocation per field).
fn lower<'a>(buf: &'a mut Vec<u8>, name: &[u8]) -> &'a [u8] {
    buf.clear();
    buf.extend(name.iter().map(u8::to_ascii_lowercase));
    buf
}

/// What the first pass over a head's fields found.
struct Read<'a> {
    hop: Hop,
    /// The Host field's value (requests).
    host: Option<&'a [u8]>,
    /// Field names the Connection field named, lowercased, NUL-separated.
    named: Vec<u8>,
    /// A rule the fields broke that is reported after the start line's (the request's
    /// pseudo-headers), in the order the checks were always made.
    later: Option<H1Error>,
}

/// The first pass over a head's fields: each line's syntax, Host (requests), the field
/// count and the hop-by-hop meaning. Syntax and Host errors come at once; for a request the
/// count and framing errors wait in `later`, behind the pseudo-header checks.
fn read_fields<'a>(
    lines: impl Iterator<Item = &'a [u8]>,
    lim: &HeadLimits,
    request: bool,
) -> Result<Read<'a>, H1Error> {
    let mut read = Read {
        hop: Hop::default(),
        host: None,
        named: Vec::new(),
        later: None,
    };
    let mut name_buf = Vec::with_capacity(32);
    let mut count = 0usize;
    let later = |e: H1Error, read: &mut Read<'a>| -> Result<(), H1Error> {
        if !request {
            return Err(e);
        }
        read.later.get_or_insert(e);
        Ok(())
    };
    for line in lines {
        count += 1;
        if count > lim.max_fields {
            later(H1Error::TooManyFields, &mut read)?;
        }
        let (name, value) = field_line(line)?;
        let name = lower(&mut name_buf, name);
        if request && name == b"host" {
            if read.host.is_some() {
                return Err(H1Error::DuplicateHost);
            }
            read.host = Some(value);
            continue;
        }
        if read.later.is_none() {
            if let Err(e) = read.hop.take(name, value, &mut read.named) {
                later(e, &mut read)?;
            }
        }
    }
    Ok(read)
}

/// The second pass: the end-to-end fields into `b` (hop-by-hop ones, those the Connection
/// field named, a request's Host and Content-Length stay out; the caller adds one canonical
/// length).
fn push_fields<'a>(
    lines: impl Iterator<Item = &'a [u8]>,
    named: &[u8],
    b: &mut MessageBuilder,
    request: bool,
) -> Result<(), H1Error> {
    let mut name_buf = Vec::with_capacity(32);
    for line in lines {
        let (name, value) = field_line(line)?;
        let name = lower(&mut name_buf, name);
        if is_hop_by_hop(name)
            || name == b"content-length"
            || (request && name == b"host")
            || named_by_connection(named, name)
        {
            continue;
        }
        b.push(name, value, false);
        if let Some(e) = b.error() {
            return Err(message_error(e));
        }
    }
    Ok(())
}

fn message_error(e: MessageError) -> H1Error {
    match e {
        MessageError::TooManyFields => H1Error::TooManyFields,
        MessageError::InvalidContentLength | MessageError::ContentLengthMismatch => {
            H1Error::BadContentLength
        }
        e => H1Error::Message(e),
    }
}

fn push_length(b: &mut MessageBuilder, n: u64) {
    let mut digits = [0u8; 20];
    b.push(b"content-length", format_u64(n, &mut digits), false);
}

/// `n` in decimal, in `buf`.
pub(crate) fn format_u64(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// The bytes of the head's first line (for the caller's checks).
fn first_line(head: &[u8]) -> &[u8] {
    lines(head).next().unwrap_or_default()
}

/// Parses a complete request head (from `HeadScan`). `scheme` is the connection's own
/// (`http`, or `https` behind TLS), used for origin-form targets.
pub fn parse_request(head: &[u8], scheme: &[u8], lim: &HeadLimits) -> Result<Parsed, H1Error> {
    let (method, target, version) = request_line(first_line(head))?;
    if method == b"CONNECT" {
        return Err(H1Error::ConnectNotSupported);
    }
    parse_request_rest(head, method, target, version, scheme, lim)
}

/// Checks a request line as soon as it is whole, before the rest of the head arrives: a
/// line that can never start a request is refused at once.
/// Returns whether the line was whole (and so checked).
pub(crate) fn check_request_line(head: &[u8], max_line: usize) -> Result<bool, H1Error> {
    let Some(nl) = head.iter().position(|&b| b == b'\n') else {
        return Ok(false);
    };
    if nl + 1 > max_line {
        return Err(H1Error::RequestLineTooLong);
    }
    let line = head[..nl].strip_suffix(b"\r").ok_or(H1Error::BareLf)?;
    request_line(line).map(|_| true)
}

/// `method SP request-target SP HTTP-version`, each part checked.
fn request_line(line: &[u8]) -> Result<(&[u8], &[u8], Version), H1Error> {
    if line.contains(&b'\r') {
        return Err(H1Error::BareCr);
    }
    let sp1 = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or(H1Error::BadRequestLine)?;
    let method = &line[..sp1];
    let rest = &line[sp1 + 1..];
    let sp2 = rest
        .iter()
        .position(|&b| b == b' ')
        .ok_or(H1Error::BadRequestLine)?;
    let (target, ver) = (&rest[..sp2], &rest[sp2 + 1..]);
    if method.is_empty() || target.is_empty() || ver.contains(&b' ') {
        return Err(H1Error::BadRequestLine);
    }
    if !crate::message::is_token(method) {
        return Err(H1Error::BadMethod);
    }
    let version = version(ver, true)?;
    if !target.iter().all(|&b| (0x21..0x7f).contains(&b)) {
        return Err(H1Error::BadTarget);
    }
    Ok((method, target, version))
}

fn parse_request_rest(
    head: &[u8],
    method: &[u8],
    target: &[u8],
    version: Version,
    scheme: &[u8],
    lim: &HeadLimits,
) -> Result<Parsed, H1Error> {
    // The target's form (§3.2): origin, absolute, or `*` for OPTIONS.
    let (t_scheme, t_authority, path): Target<'_> = if target == b"*" {
        if method != b"OPTIONS" {
            return Err(H1Error::BadTarget);
        }
        (scheme, None, target)
    } else if target.first() == Some(&b'/') {
        (scheme, None, target)
    } else {
        absolute_form(target)?
    };

    let mut b = MessageBuilder::with_max_fields(BlockKind::Request, lim.max_fields + 5);
    let read = read_fields(lines(head).skip(1), lim, true)?;
    if version == Version::Http11 && read.host.is_none() {
        return Err(H1Error::MissingHost);
    }
    // The absolute-form's authority wins over Host (§3.2.2); pseudo-headers go first.
    let authority = t_authority.or(read.host).filter(|a| !a.is_empty());
    b.push(b":method", method, false);
    b.push(b":scheme", t_scheme, false);
    match authority {
        Some(a) => b.push(b":authority", a, false),
        None => b.allow_missing_authority(),
    }
    b.push(b":path", path, false);
    if let Some(e) = b.error() {
        return Err(message_error(e));
    }
    if let Some(e) = read.later {
        return Err(e);
    }
    push_fields(lines(head).skip(1), &read.named, &mut b, true)?;
    let hop = read.hop;

    let framing = request_framing(&hop, version)?;
    if hop.upgrade && !hop.upgrade_h2c_only {
        return Err(H1Error::UpgradeNotSupported);
    }
    if let Some(n) = hop.content_length {
        push_length(&mut b, n);
    }
    let message = match b.finish() {
        Ok(Block::Request(m)) => m,
        Ok(_) => return Err(H1Error::Message(MessageError::MissingMethod)),
        Err(e) => return Err(message_error(e)),
    };
    Ok(Parsed {
        message,
        version,
        framing,
        keep_alive: hop.keep_alive(version),
        expect_continue: hop.expect_continue && version == Version::Http11,
        te_trailers: hop.te_trailers,
    })
}

/// A request-target split into scheme, authority and path.
type Target<'a> = (&'a [u8], Option<&'a [u8]>, &'a [u8]);

/// `scheme "://" authority [path] ["?" query]`, for http and https only.
fn absolute_form(target: &[u8]) -> Result<Target<'_>, H1Error> {
    let colon = target
        .iter()
        .position(|&b| b == b':')
        .ok_or(H1Error::BadTarget)?;
    let (scheme, rest) = target.split_at(colon);
    let rest = rest.strip_prefix(b"://").ok_or(H1Error::BadTarget)?;
    if !(scheme.eq_ignore_ascii_case(b"http") || scheme.eq_ignore_ascii_case(b"https")) {
        return Err(H1Error::BadTarget);
    }
    let end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() || authority.contains(&b'@') {
        return Err(H1Error::BadTarget);
    }
    let scheme: &[u8] = if scheme.eq_ignore_ascii_case(b"https") {
        b"https"
    } else {
        b"http"
    };
    // An empty path is "/" (§3.2.1); a query alone keeps its "?" after it.
    let path: &[u8] = if path.is_empty() { b"/" } else { path };
    if path.first() == Some(&b'?') {
        // Rare: the caller would need "/?q"; refuse rather than allocate a path here.
        return Err(H1Error::BadTarget);
    }
    Ok((scheme, Some(authority), path))
}

fn request_framing(hop: &Hop, version: Version) -> Result<Framing, H1Error> {
    if hop.codings > 0 {
        if version == Version::Http10 {
            return Err(H1Error::TransferEncodingInHttp10);
        }
        if hop.content_length_seen {
            return Err(H1Error::LengthWithTransferEncoding);
        }
        if !hop.chunked_last {
            return Err(H1Error::ChunkedNotLast);
        }
        if hop.unknown_coding {
            return Err(H1Error::UnknownTransferCoding);
        }
        return Ok(Framing::Chunked);
    }
    Ok(match hop.content_length {
        Some(0) | None => Framing::Empty,
        Some(n) => Framing::Length(n),
    })
}

/// Parses a complete response head. `head_request`: the request was HEAD, so no body
/// follows whatever the fields say; status checks follow §6.3.
pub fn parse_response(
    head: &[u8],
    head_request: bool,
    lim: &HeadLimits,
) -> Result<Parsed, H1Error> {
    let line = first_line(head);
    if line.contains(&b'\r') {
        return Err(H1Error::BareCr);
    }
    let (ver, rest) = match line.iter().position(|&b| b == b' ') {
        Some(sp) => (&line[..sp], &line[sp + 1..]),
        None => return Err(H1Error::BadStatusLine),
    };
    let version = version(ver, false)?;
    let (code, reason) = match rest.iter().position(|&b| b == b' ') {
        Some(sp) => (&rest[..sp], &rest[sp + 1..]),
        None => (rest, &b""[..]),
    };
    if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
        return Err(H1Error::BadStatusLine);
    }
    if reason.iter().any(|&b| b < 0x20 && b != b'\t' || b == 0x7f) {
        return Err(H1Error::BadStatusLine);
    }
    let status = code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    if !(100..=599).contains(&status) {
        return Err(H1Error::BadStatusLine);
    }
    if status == 101 {
        return Err(H1Error::UnexpectedSwitch);
    }
    let mut b = MessageBuilder::with_max_fields(BlockKind::Response, lim.max_fields + 2);
    b.push(b":status", code, false);
    let read = read_fields(lines(head).skip(1), lim, false)?;
    push_fields(lines(head).skip(1), &read.named, &mut b, false)?;
    let hop = read.hop;
    let no_body = head_request || (100..200).contains(&status) || status == 204 || status == 304;
    let framing = if hop.codings > 0 {
        if version == Version::Http10 {
            return Err(H1Error::TransferEncodingInHttp10);
        }
        if hop.content_length_seen {
            return Err(H1Error::LengthWithTransferEncoding);
        }
        if !hop.chunked_last || hop.unknown_coding {
            // A coding the client would have to undo: h2mux cannot pass it on.
            return Err(H1Error::UnknownTransferCoding);
        }
        Framing::Chunked
    } else {
        match hop.content_length {
            Some(n) => Framing::Length(n),
            None => Framing::UntilClose,
        }
    };
    let framing = if no_body { Framing::Empty } else { framing };
    if let Some(n) = hop.content_length {
        if !(status == 204 || (100..200).contains(&status)) {
            push_length(&mut b, n);
        }
    }
    let message = match b.finish() {
        Ok(Block::Response(m)) => m,
        Ok(_) => return Err(H1Error::BadStatusLine),
        Err(e) => return Err(message_error(e)),
    };
    let keep_alive = framing != Framing::UntilClose && hop.keep_alive(version);
    Ok(Parsed {
        message,
        version,
        framing,
        keep_alive,
        expect_continue: false,
        te_trailers: false,
    })
}

/// Parses a trailer section (the field lines after the last chunk, without the final
/// empty line) into trailer fields; hop-by-hop and framing fields are dropped.
pub fn parse_trailers(section: &[u8], lim: &HeadLimits) -> Result<crate::message::Fields, H1Error> {
    let mut b = MessageBuilder::with_max_fields(BlockKind::Trailers, lim.max_fields);
    let mut name_buf = Vec::with_capacity(32);
    if section != b"\r\n" {
        for line in lines(section) {
            let (name, value) = field_line(line)?;
            let name = lower(&mut name_buf, name);
            // Framing, routing and hop-by-hop fields mean nothing in trailers (RFC 9110 §6.5.1).
            if is_hop_by_hop(name) || matches!(name, b"content-length" | b"host" | b"trailer") {
                continue;
            }
            b.push(name, value, false);
        }
    }
    match b.finish() {
        Ok(Block::Trailers(f)) => Ok(f),
        Ok(_) => Err(H1Error::Message(MessageError::PseudoInTrailers)),
        Err(e) => Err(message_error(e)),
    }
}
