//! The walk itself: the preface, then frame after frame, each checked in the order the
//! connection's demux checks it (first SETTINGS, an open header block, `frame::validate`,
//! then the payload), with header blocks decoded by one HPACK decoder for the whole input.

use std::collections::BTreeMap;

use super::{
    Direction, End, Failure, Field, Frame, HeaderBlock, Options, Payload, Report, StreamState,
    StreamSummary,
};
use crate::conn::looks_like_http1_request;
use crate::error::Violation;
use crate::frame::{self, flags, setting, FrameHeader, FrameType, StreamId, HEADER_LEN, PREFACE};
use crate::hpack::{Decoded, Decoder};
use crate::message::{Block, BlockKind, BodyLength, MessageBuilder};

/// Decoded fields of one block: name, value, never indexed.
type Fields = Vec<(Vec<u8>, Vec<u8>, bool)>;

/// Where the sender's side of a stream stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// No head yet (a response stream whose final head has not come).
    Head,
    /// After the head: DATA and trailers may come.
    Body,
}

struct Track {
    phase: Phase,
    state: StreamState,
    body: BodyLength,
    /// A response: its length is held to the content-length only when it carries DATA
    /// (the answer to a HEAD request announces a length it does not carry, and the request
    /// is in the other direction).
    response: bool,
}

impl Track {
    fn new(phase: Phase, response: bool) -> Track {
        Track {
            phase,
            state: StreamState::Open,
            body: BodyLength::new(None, false),
            response,
        }
    }

    fn can_recv(&self) -> bool {
        self.state == StreamState::Open
    }
}

/// A header block begun by HEADERS without END_HEADERS.
struct OpenBlock {
    stream: StreamId,
    end_stream: bool,
    frames: Vec<usize>,
    bad_priority: bool,
}

/// What the frame-level step decided: go on after this many payload bytes.
enum Next {
    Skip(usize),
}

pub(super) struct Walk<'o> {
    opts: &'o Options,
    dir: Direction,
    decoder: Decoder,
    streams: BTreeMap<u32, Track>,
    /// Every stream's frames, whatever they did to its state.
    timeline: BTreeMap<u32, Vec<usize>>,
    /// The highest client stream a client's HEADERS opened (client direction).
    last_opened: StreamId,
    open: Option<OpenBlock>,
    block_bytes: Vec<u8>,
    kept: usize,
    report: Report,
}

impl<'o> Walk<'o> {
    pub(super) fn new(opts: &'o Options) -> Walk<'o> {
        Walk {
            opts,
            dir: opts.direction,
            decoder: Decoder::new(opts.limits.header_table_size),
            streams: BTreeMap::new(),
            timeline: BTreeMap::new(),
            last_opened: StreamId::ZERO,
            open: None,
            block_bytes: Vec::new(),
            kept: 0,
            report: Report {
                direction: opts.direction,
                preface: false,
                frames: Vec::new(),
                blocks: Vec::new(),
                streams: Vec::new(),
                failure: None,
                end: End::Complete,
                decoded: 0,
            },
        }
    }

    pub(super) fn run(mut self, all: &[u8]) -> Report {
        let cut = all.len() > self.opts.max_bytes;
        let input = all.get(..self.opts.max_bytes).unwrap_or(all);
        let end = self.frames(input);
        self.report.end = match end {
            // What lies past the cut was given: the walk did not run out of input.
            End::Complete | End::Incomplete { .. } if cut => End::ByteLimit,
            e => e,
        };
        self.report.direction = self.dir;
        let streams = std::mem::take(&mut self.streams);
        self.report.streams = std::mem::take(&mut self.timeline)
            .into_iter()
            .map(|(id, frames)| StreamSummary {
                id: StreamId::new(id),
                frames,
                state: streams.get(&id).map_or(StreamState::Idle, |t| t.state),
            })
            .collect();
        self.report
    }

    fn fail(&mut self, violation: Violation, offset: usize, frame: Option<usize>) -> End {
        self.report.failure = Some(Failure {
            violation,
            offset,
            frame,
        });
        End::Failed
    }

    /// The preface, when there is one; None to go on with frames at `pos`.
    fn preface(&mut self, input: &[u8]) -> Result<usize, End> {
        let n = PREFACE.len().min(input.len());
        if self.dir != Direction::Server && n > 0 && input.get(..n) == PREFACE.get(..n) {
            if n < PREFACE.len() {
                return Err(End::Incomplete { offset: 0 });
            }
            self.report.preface = true;
            if self.dir == Direction::Auto {
                self.dir = Direction::Client;
            }
            return Ok(PREFACE.len());
        }
        if self.dir != Direction::Server {
            if input.starts_with(b"PRI ") {
                return Err(self.fail(Violation::InvalidPreface, 0, None));
            }
            if looks_like_http1_request(input) {
                self.dir = Direction::Client;
                return Err(self.fail(Violation::Http1Request, 0, None));
            }
        }
        if self.dir != Direction::Client && input.starts_with(b"HTTP/") {
            self.dir = Direction::Server;
            return Err(self.fail(Violation::Http1Response, 0, None));
        }
        Ok(0)
    }

    fn frames(&mut self, input: &[u8]) -> End {
        let mut pos = match self.preface(input) {
            Ok(n) => n,
            Err(end) => return end,
        };
        self.report.decoded = pos;
        loop {
            let Some(rest) = input.get(pos..) else {
                return End::Complete;
            };
            if rest.is_empty() {
                return End::Complete;
            }
            if self.report.frames.len() >= self.opts.max_frames {
                return End::FrameLimit;
            }
            let Some(head) = rest.first_chunk::<HEADER_LEN>() else {
                return End::Incomplete { offset: pos };
            };
            let h = FrameHeader::parse(head);
            let index = self.report.frames.len();
            self.report.frames.push(Frame {
                offset: pos,
                header: h,
                payload: Payload::Skipped,
                stream_error: None,
                block: None,
            });
            if !h.stream.is_zero() {
                self.timeline
                    .entry(h.stream.value())
                    .or_default()
                    .push(index);
            }
            let payload_at = pos + HEADER_LEN;
            if let Err(v) = self.check_header(&h, index) {
                self.report.decoded = payload_at;
                return self.fail(v, pos, Some(index));
            }
            let len = h.len as usize;
            let payload = input.get(payload_at..).and_then(|p| p.get(..len));
            let Some(payload) = payload else {
                let have = input.len().saturating_sub(payload_at);
                self.set_payload(index, Payload::Partial { have });
                self.report.decoded = payload_at;
                return End::Incomplete { offset: pos };
            };
            match self.frame(&h, payload, index) {
                Ok(Next::Skip(n)) => pos = payload_at + n,
                Err(v) => {
                    self.report.decoded = payload_at + len;
                    return self.fail(v, pos, Some(index));
                }
            }
            self.report.decoded = pos;
        }
    }

    fn set_payload(&mut self, index: usize, p: Payload) {
        if let Some(f) = self.report.frames.get_mut(index) {
            f.payload = p;
        }
    }

    /// The stream's state, made when a frame first acts on it.
    fn track(&mut self, id: StreamId, phase: Phase, response: bool) -> &mut Track {
        self.streams
            .entry(id.value())
            .or_insert_with(|| Track::new(phase, response))
    }

    /// The checks on a frame header, in the demux's order.
    fn check_header(&mut self, h: &FrameHeader, index: usize) -> Result<(), Violation> {
        if index == 0
            && self.opts.from_start
            && (h.kind != FrameType::Settings || h.has(flags::ACK))
        {
            return Err(match self.dir {
                Direction::Server => Violation::UpstreamNotHttp2,
                _ => Violation::FirstFrameNotSettings,
            });
        }
        if let Some(open) = &self.open {
            if h.kind != FrameType::Continuation || h.stream != open.stream {
                return Err(Violation::HeaderBlockInterrupted);
            }
        } else if h.kind == FrameType::Continuation {
            return Err(Violation::ContinuationWithoutHeaders);
        }
        match frame::validate(h, self.opts.limits.max_frame_size) {
            Ok(()) => Ok(()),
            Err(e) if e.stream_scoped() => {
                // Only a PRIORITY of the wrong length: its stream is reset, reading goes on.
                self.stream_error(h.stream, index, Violation::Frame(e));
                Ok(())
            }
            Err(e) => Err(Violation::Frame(e)),
        }
    }

    /// A whole frame; Err is a connection error.
    fn frame(&mut self, h: &FrameHeader, p: &[u8], index: usize) -> Result<Next, Violation> {
        let len = p.len();
        if self
            .report
            .frames
            .get(index)
            .is_some_and(|f| f.stream_error.is_some())
        {
            // Reset on its header (PRIORITY's length): the payload is skipped.
            return Ok(Next::Skip(len));
        }
        match h.kind {
            FrameType::Data => self.data(h, p, index)?,
            FrameType::Headers => self.headers(h, p, index)?,
            FrameType::Continuation => self.continuation(h, p, index)?,
            FrameType::Settings => self.settings(h, p, index)?,
            FrameType::Ping => {
                let data = frame::parse_ping(p).ok_or(Violation::Frame(
                    frame::FrameError::BadLength(FrameType::Ping),
                ))?;
                let ack = h.has(flags::ACK);
                self.set_payload(index, Payload::Ping { ack, data });
            }
            FrameType::GoAway => {
                let g = frame::parse_goaway(p).ok_or(Violation::Frame(
                    frame::FrameError::BadLength(FrameType::GoAway),
                ))?;
                let keep = g.debug.len().min(self.room());
                let debug = g.debug.get(..keep).unwrap_or_default().to_vec();
                self.kept += keep;
                self.set_payload(
                    index,
                    Payload::GoAway {
                        last_stream: g.last_stream,
                        code: g.code,
                        debug,
                        debug_len: g.debug.len(),
                    },
                );
            }
            FrameType::RstStream => self.rst_stream(h, p, index)?,
            FrameType::WindowUpdate => self.window_update(h, p, index)?,
            FrameType::Priority => self.priority(h, p, index)?,
            // Refused by `validate` (push is disabled); unknown types are skipped.
            FrameType::PushPromise | FrameType::Unknown(_) => {}
        }
        Ok(Next::Skip(len))
    }

    fn room(&self) -> usize {
        self.opts.max_kept_bytes.saturating_sub(self.kept)
    }

    // ----- Streams -------------------------------------------------------------------------

    /// A stream error: the filter answers RST_STREAM and discards the stream's later frames.
    fn stream_error(&mut self, id: StreamId, index: usize, v: Violation) {
        if let Some(f) = self.report.frames.get_mut(index) {
            f.stream_error = Some(v);
        }
        if self.idle(id) {
            // A stream not opened yet (a PRIORITY of the wrong length): the connection
            // remembers no state for it, and a request may still open it.
            return;
        }
        let t = self.track(id, Phase::Body, false);
        t.state = StreamState::ResetByReceiver;
    }

    /// Whether the stream is reset by the receiver: its frames are dropped unread.
    fn dropped(&self, id: StreamId) -> bool {
        self.streams
            .get(&id.value())
            .is_some_and(|t| t.state == StreamState::ResetByReceiver)
    }

    /// A stream this direction's sender may not have opened yet, and nobody else could
    /// have: never used (the client side), or server-initiated (push is disabled).
    fn idle(&self, id: StreamId) -> bool {
        if self.streams.contains_key(&id.value()) {
            return false;
        }
        if !id.is_client_initiated() {
            return true;
        }
        self.dir == Direction::Client && id > self.last_opened
    }

    fn data(&mut self, h: &FrameHeader, p: &[u8], index: usize) -> Result<(), Violation> {
        let pad = match p.first() {
            Some(&b) if h.has(flags::PADDED) => Some(frame::data_padding(h, b)?),
            _ => None,
        };
        let content = h.len.saturating_sub(pad.map_or(0, |n| n + 1));
        self.set_payload(
            index,
            Payload::Data {
                len: content,
                pad: pad.and_then(|n| u8::try_from(n).ok()),
            },
        );
        if self.idle(h.stream) {
            return Err(Violation::DataOnIdleStream);
        }
        if self.dropped(h.stream) {
            return Ok(());
        }
        let end = h.has(flags::END_STREAM);
        let Some(t) = self.streams.get_mut(&h.stream.value()) else {
            // A client stream below the highest opened, never seen: closed (§5.1.1); a
            // server's DATA on a stream whose head did not come.
            let v = if self.dir == Direction::Client {
                Violation::DataOnClosedStream
            } else {
                Violation::DataOutsideBody
            };
            self.stream_error(h.stream, index, v);
            return Ok(());
        };
        let verdict = match t.state {
            StreamState::ResetBySender => Err(Violation::DataAfterReset),
            StreamState::Ended => Err(Violation::DataAfterEndStream),
            _ if t.phase != Phase::Body => Err(Violation::DataOutsideBody),
            _ => t.body.on_data(content as usize).map_err(Violation::Message),
        };
        let verdict = verdict.and_then(|()| {
            if !end {
                return Ok(());
            }
            t.state = StreamState::Ended;
            if t.response && t.body.received() == 0 {
                return Ok(());
            }
            t.body.on_end().map_err(Violation::Message)
        });
        if let Err(v) = verdict {
            self.stream_error(h.stream, index, v);
        }
        Ok(())
    }

    fn rst_stream(&mut self, h: &FrameHeader, p: &[u8], index: usize) -> Result<(), Violation> {
        let code = frame::parse_rst_stream(p).ok_or(Violation::Frame(
            frame::FrameError::BadLength(FrameType::RstStream),
        ))?;
        self.set_payload(index, Payload::RstStream(code));
        if self.idle(h.stream) {
            return Err(Violation::RstStreamOnIdleStream);
        }
        let t = self.track(h.stream, Phase::Body, self.dir == Direction::Server);
        if t.state != StreamState::ResetByReceiver {
            t.state = StreamState::ResetBySender;
        }
        Ok(())
    }

    fn window_update(&mut self, h: &FrameHeader, p: &[u8], index: usize) -> Result<(), Violation> {
        let inc = frame::parse_window_update(p).ok_or(Violation::Frame(
            frame::FrameError::BadLength(FrameType::WindowUpdate),
        ))?;
        self.set_payload(index, Payload::WindowUpdate(inc));
        if h.stream.is_zero() {
            return if inc == 0 {
                Err(Violation::ZeroConnectionWindowUpdate)
            } else {
                Ok(())
            };
        }
        if self.idle(h.stream) {
            return Err(Violation::WindowUpdateOnIdleStream);
        }
        let live = self
            .streams
            .get(&h.stream.value())
            .is_some_and(|t| matches!(t.state, StreamState::Open | StreamState::Ended));
        if inc == 0 && live {
            self.stream_error(h.stream, index, Violation::ZeroWindowUpdate);
        }
        Ok(())
    }

    fn priority(&mut self, h: &FrameHeader, p: &[u8], index: usize) -> Result<(), Violation> {
        let pr = frame::parse_priority(p).ok_or(Violation::Frame(frame::FrameError::BadLength(
            FrameType::Priority,
        )))?;
        self.set_payload(index, Payload::Priority(pr));
        if pr.dependency == h.stream {
            // RST_STREAM may not be sent on an idle stream (§6.4): the connection pays.
            if self.idle(h.stream) {
                return Err(Violation::SelfDependency);
            }
            self.stream_error(h.stream, index, Violation::SelfDependency);
        }
        Ok(())
    }

    fn settings(&mut self, h: &FrameHeader, p: &[u8], index: usize) -> Result<(), Violation> {
        let ack = h.has(flags::ACK);
        let max = self.opts.limits.max_settings_entries;
        let entries: Vec<(u16, u32)> = frame::settings_entries(p).take(max).collect();
        self.set_payload(index, Payload::Settings { ack, entries });
        if ack {
            return Ok(());
        }
        if p.len() / 6 > max {
            return Err(Violation::TooManySettingsEntries);
        }
        for (id, value) in frame::settings_entries(p) {
            frame::check_setting(id, value)?;
            if id == setting::ENABLE_PUSH && value != 0 && self.dir == Direction::Server {
                return Err(Violation::ServerEnabledPush);
            }
        }
        Ok(())
    }

    // ----- Header blocks -------------------------------------------------------------------

    fn headers(&mut self, h: &FrameHeader, p: &[u8], index: usize) -> Result<(), Violation> {
        let (fragment, priority) = frame::headers_fragment(h, p)?;
        let pad = if h.has(flags::PADDED) {
            p.first().copied()
        } else {
            None
        };
        self.set_payload(
            index,
            Payload::Headers {
                fragment: fragment.len(),
                pad,
                priority,
            },
        );
        let open = OpenBlock {
            stream: h.stream,
            end_stream: h.has(flags::END_STREAM),
            frames: vec![index],
            bad_priority: priority.is_some_and(|pr| pr.dependency == h.stream),
        };
        if h.has(flags::END_HEADERS) {
            return self.block(open, fragment, index);
        }
        if fragment.len() > self.opts.limits.max_header_block {
            return Err(Violation::HeaderBlockTooLarge);
        }
        self.block_bytes.clear();
        self.block_bytes.extend_from_slice(fragment);
        self.open = Some(open);
        Ok(())
    }

    fn continuation(&mut self, h: &FrameHeader, p: &[u8], index: usize) -> Result<(), Violation> {
        self.set_payload(index, Payload::Continuation { fragment: p.len() });
        let Some(mut open) = self.open.take() else {
            // `check_header` let it through only inside a block.
            return Err(Violation::ContinuationWithoutHeaders);
        };
        open.frames.push(index);
        let frames = u32::try_from(open.frames.len()).unwrap_or(u32::MAX);
        if frames > self.opts.limits.max_continuation_frames {
            return Err(Violation::TooManyContinuations);
        }
        if self.block_bytes.len().saturating_add(p.len()) > self.opts.limits.max_header_block {
            return Err(Violation::HeaderBlockTooLarge);
        }
        self.block_bytes.extend_from_slice(p);
        if !h.has(flags::END_HEADERS) {
            self.open = Some(open);
            return Ok(());
        }
        let bytes = std::mem::take(&mut self.block_bytes);
        let r = self.block(open, &bytes, index);
        self.block_bytes = bytes;
        r
    }

    /// A whole block: decoded (always, HPACK state is the connection's), then judged as
    /// the receiving side judges it.
    fn block(&mut self, open: OpenBlock, bytes: &[u8], last: usize) -> Result<(), Violation> {
        let id = open.stream;
        // Checks the connection makes before decoding.
        match self.dir {
            Direction::Client if !id.is_client_initiated() => return Err(Violation::EvenStreamId),
            Direction::Server if !id.is_client_initiated() => return Err(Violation::PushedStream),
            _ => {}
        }
        let (fields, decoded) = self.decode(bytes)?;
        if self.dir == Direction::Auto {
            self.dir = if !id.is_client_initiated() {
                return Err(Violation::PushedStream);
            } else if fields.iter().any(|(n, _, _)| n == b":method") {
                Direction::Client
            } else {
                Direction::Server
            };
        }
        let (kind, error) = match self.dir {
            Direction::Client => self.request_block(&open, &fields, decoded)?,
            _ => self.response_block(&open, &fields, decoded)?,
        };
        if let Some(v) = error {
            self.stream_error(id, last, v);
        }
        let (fields, fields_cut) = self.keep(fields);
        let block = HeaderBlock {
            stream: id,
            frames: open.frames,
            end_stream: open.end_stream,
            kind,
            fields,
            fields_cut,
            table_size: self.decoder.table_size(),
            table_entries: self.decoder.table_len(),
            error,
        };
        let b = self.report.blocks.len();
        self.report.blocks.push(block);
        if let Some(f) = self.report.frames.get_mut(last) {
            f.block = Some(b);
        }
        Ok(())
    }

    /// HPACK decoding of a whole block; the fields within `max_header_list_size`.
    fn decode(&mut self, block: &[u8]) -> Result<(Fields, Decoded), Violation> {
        let mut fields = Vec::new();
        let max = self.opts.limits.max_header_list_size as usize;
        let decoded = self
            .decoder
            .decode(block, max, &mut |n, v, s| {
                fields.push((n.to_vec(), v.to_vec(), s))
            })
            .map_err(Violation::Hpack)?;
        Ok((fields, decoded))
    }

    /// The fields the report keeps, within its byte budget.
    fn keep(&mut self, fields: Fields) -> (Vec<Field>, bool) {
        let mut kept = Vec::with_capacity(fields.len());
        for (name, value, sensitive) in fields {
            let n = name.len().saturating_add(value.len());
            if n > self.room() {
                return (kept, true);
            }
            self.kept += n;
            kept.push(Field {
                name,
                value,
                sensitive,
            });
        }
        (kept, false)
    }

    /// The fields validated as a block of `kind`, as the connection's builder does.
    fn validate(
        &self,
        kind: BlockKind,
        fields: &[(Vec<u8>, Vec<u8>, bool)],
        decoded: Decoded,
    ) -> Result<Block, Violation> {
        if decoded == Decoded::ListTooLarge {
            return Err(Violation::HeaderListTooLarge);
        }
        let mut b = MessageBuilder::with_max_fields(kind, self.opts.limits.max_header_fields);
        for (n, v, s) in fields {
            b.push(n, v, *s);
        }
        b.finish().map_err(Violation::Message)
    }

    /// A client's block: a request opening a stream, or trailers (`on_request_block`).
    fn request_block(
        &mut self,
        open: &OpenBlock,
        fields: &[(Vec<u8>, Vec<u8>, bool)],
        decoded: Decoded,
    ) -> Result<(Option<BlockKind>, Option<Violation>), Violation> {
        let id = open.stream;
        if self.dropped(id) {
            return Ok((None, None));
        }
        if self.streams.contains_key(&id.value()) {
            return self.trailers(open, fields, decoded);
        }
        if id <= self.last_opened {
            // An id below one already used, never seen: a request here reuses it.
            return match self.validate(BlockKind::Request, fields, decoded) {
                Ok(Block::Request(_)) => Err(Violation::StreamIdRegression),
                _ => Ok((None, Some(Violation::HeadersOnClosedStream))),
            };
        }
        self.last_opened = id;
        let end = open.end_stream;
        let verdict = if open.bad_priority {
            Err(Violation::SelfDependency)
        } else {
            match self.validate(BlockKind::Request, fields, decoded) {
                Ok(Block::Request(m)) => {
                    let body = BodyLength::for_request(&m);
                    if end {
                        body.on_end().map(|()| body).map_err(Violation::Message)
                    } else {
                        Ok(body)
                    }
                }
                Ok(_) => Err(Violation::NotARequest),
                Err(v) => Err(v),
            }
        };
        let t = self.track(id, Phase::Body, false);
        match verdict {
            Ok(body) => {
                t.body = body;
                if end {
                    t.state = StreamState::Ended;
                }
                Ok((Some(BlockKind::Request), None))
            }
            Err(v) => Ok((Some(BlockKind::Request), Some(v))),
        }
    }

    /// A server's block: 1xx heads, the final head, or trailers (`on_response_block`).
    fn response_block(
        &mut self,
        open: &OpenBlock,
        fields: &[(Vec<u8>, Vec<u8>, bool)],
        decoded: Decoded,
    ) -> Result<(Option<BlockKind>, Option<Violation>), Violation> {
        let id = open.stream;
        if self.dropped(id) {
            return Ok((None, None));
        }
        let t = self.track(id, Phase::Head, true);
        if t.state == StreamState::ResetBySender {
            // Closed on the receiving side: decoded only to keep HPACK in sync.
            return Ok((None, None));
        }
        if open.bad_priority {
            return Ok((None, Some(Violation::SelfDependency)));
        }
        if t.phase != Phase::Head {
            return self.trailers(open, fields, decoded);
        }
        let verdict = self.validate(BlockKind::Response, fields, decoded);
        let t = self.track(id, Phase::Head, true);
        if !t.can_recv() {
            return Ok((
                Some(BlockKind::Response),
                Some(Violation::HeadersAfterEndStream),
            ));
        }
        let msg = match verdict {
            Ok(Block::Response(m)) => m,
            Ok(_) => return Ok((Some(BlockKind::Response), Some(Violation::NotAResponse))),
            Err(v) => return Ok((Some(BlockKind::Response), Some(v))),
        };
        if msg.is_informational() {
            let error = open
                .end_stream
                .then_some(Violation::InformationalWithEndStream);
            return Ok((Some(BlockKind::Response), error));
        }
        let status = msg.status().unwrap_or(0);
        t.body = BodyLength::new(msg.content_length, status == 204 || status == 304);
        t.phase = Phase::Body;
        if open.end_stream {
            t.state = StreamState::Ended;
        }
        Ok((Some(BlockKind::Response), None))
    }

    /// A second block on a stream: trailers, which must end it (`on_trailer_block`).
    fn trailers(
        &mut self,
        open: &OpenBlock,
        fields: &[(Vec<u8>, Vec<u8>, bool)],
        decoded: Decoded,
    ) -> Result<(Option<BlockKind>, Option<Violation>), Violation> {
        let verdict = self.validate(BlockKind::Trailers, fields, decoded);
        let Some(t) = self.streams.get_mut(&open.stream.value()) else {
            return Ok((None, None));
        };
        let kind = Some(BlockKind::Trailers);
        match t.state {
            StreamState::ResetBySender => return Err(Violation::HeadersAfterReset),
            StreamState::ResetByReceiver => return Ok((None, None)),
            StreamState::Ended => return Ok((kind, Some(Violation::HeadersAfterEndStream))),
            StreamState::Open | StreamState::Idle => {}
        }
        if t.phase != Phase::Body {
            return Ok((kind, Some(Violation::UnexpectedHeaderBlock)));
        }
        if !open.end_stream {
            return Ok((kind, Some(Violation::TrailersWithoutEndStream)));
        }
        match verdict {
            Ok(Block::Trailers(_)) => {}
            Ok(_) => return Ok((kind, Some(Violation::NotTrailers))),
            Err(v) => return Ok((kind, Some(v))),
        }
        t.state = StreamState::Ended;
        if t.response && t.body.received() == 0 {
            return Ok((kind, None));
        }
        Ok((kind, t.body.on_end().err().map(Violation::Message)))
    }
}
