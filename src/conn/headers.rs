//! Header blocks: HEADERS and CONTINUATION assembled into one block, decoded (always, to
//! keep HPACK in sync), validated into a message, and turned into a new stream, a response
//! head or trailers.

use bytes::Bytes;

use super::demux::{Continuation, Lookup};
use super::{Connection, Event, Gone};
use crate::error::Violation;
use crate::frame::{self, flags, FrameHeader};
use crate::hpack::Decoded;
use crate::limits::Glitch;
use crate::message::{Block, BlockKind, BodyLength, MessageBuilder};
use crate::side::Side;
use crate::stream::{Input, Key, RecvPhase, ResetBy, State, Stream, StreamId};

impl Connection {
    // ----- Header blocks -------------------------------------------------------------------

    pub(super) fn on_headers(&mut self, h: FrameHeader, p: &Bytes) {
        let (fragment, prio) = match frame::headers_fragment(&h, p) {
            Ok(v) => v,
            Err(e) => {
                self.fail(Violation::Frame(e).into());
                return;
            }
        };
        let bad_priority = prio.is_some_and(|pr| pr.dependency == h.stream);
        if fragment.is_empty() && !h.has(flags::END_HEADERS) {
            self.glitch(Glitch::EmptyFrame);
        }
        if h.has(flags::END_HEADERS) {
            let block = p.slice_ref(fragment);
            self.on_header_block(h.stream, &block, h.has(flags::END_STREAM), bad_priority);
            return;
        }
        if fragment.len() > self.cfg.max_header_block {
            self.fail(Violation::HeaderBlockTooLarge.into());
            return;
        }
        self.hblock.clear();
        self.hblock.extend_from_slice(fragment);
        self.cont = Some(Continuation {
            stream: h.stream,
            end_stream: h.has(flags::END_STREAM),
            frames: 1,
            bad_priority,
        });
    }

    pub(super) fn on_continuation(&mut self, h: FrameHeader, p: &Bytes) {
        let Some(mut c) = self.cont else {
            // The frame header was checked against an open block.
            self.broken("CONTINUATION reaches its payload only inside a block");
            return;
        };
        c.frames += 1;
        if c.frames > self.cfg.max_continuation_frames {
            self.fail(Violation::TooManyContinuations.into());
            return;
        }
        if self.hblock.len() + p.len() > self.cfg.max_header_block {
            self.fail(Violation::HeaderBlockTooLarge.into());
            return;
        }
        if !h.has(flags::END_HEADERS) {
            if p.is_empty() {
                self.glitch(Glitch::EmptyFrame);
            } else if p.len() < 16 {
                self.glitch(Glitch::TinyContinuation);
            }
        }
        self.hblock.extend_from_slice(p);
        if !h.has(flags::END_HEADERS) {
            self.cont = Some(c);
            return;
        }
        self.cont = None;
        let block = Bytes::from(std::mem::take(&mut self.hblock));
        self.on_header_block(c.stream, &block, c.end_stream, c.bad_priority);
    }

    /// Decodes a block whose fields nobody wants, only to keep HPACK in sync (the HPACK
    /// state is shared by the connection, so every block is decoded, even one for a
    /// stream we are going to refuse). False when the connection failed on it.
    fn decode_for_sync(&mut self, block: &[u8]) -> bool {
        match self.decode_block(block, BlockKind::Trailers) {
            Ok(_) => true,
            Err(v) => {
                self.fail(v.into());
                false
            }
        }
    }

    /// Decodes and validates a whole block. The outer error is a connection error (HPACK),
    /// the inner one a stream error (the fields).
    fn decode_block(
        &mut self,
        block: &[u8],
        kind: BlockKind,
    ) -> Result<Result<Block, Violation>, Violation> {
        let mut builder = MessageBuilder::with_max_fields(kind, self.cfg.max_header_fields);
        let max = self.cfg.max_header_list_size as usize;
        let decoded = self
            .decoder()
            .decode_fields(block, max, &mut |n, v, s, clean| {
                builder.push_field(n, v, s, clean)
            })
            .map_err(Violation::Hpack)?;
        if decoded == Decoded::ListTooLarge {
            return Ok(Err(Violation::HeaderListTooLarge));
        }
        Ok(builder.finish().map_err(Violation::Message))
    }

    pub(super) fn on_header_block(
        &mut self,
        id: StreamId,
        block: &[u8],
        end_stream: bool,
        bad_priority: bool,
    ) {
        match self.side {
            Side::Frontend => self.on_request_block(id, block, end_stream, bad_priority),
            Side::Backend => self.on_response_block(id, block, end_stream, bad_priority),
        }
    }

    pub(super) fn on_request_block(
        &mut self,
        id: StreamId,
        block: &[u8],
        end_stream: bool,
        bad_priority: bool,
    ) {
        if !id.is_client_initiated() {
            self.fail(Violation::EvenStreamId.into());
            return;
        }
        match self.lookup(id) {
            Lookup::Live(key) => self.on_trailer_block(key, block, end_stream),
            Lookup::Closed(Some(gone)) => {
                if !self.decode_for_sync(block) {
                    return;
                }
                if gone == Gone::Closed {
                    self.fail(Violation::HeadersOnClosedStream.into());
                }
            }
            Lookup::Closed(None) => {
                // A stream we no longer remember (the memory of gone streams is bounded):
                // a request here reuses an old id (§5.1.1); anything else is a late block of
                // a stream that ended, perhaps one we refused, and costs only that stream.
                let decoded = match self.decode_block(block, BlockKind::Request) {
                    Ok(d) => d,
                    Err(v) => {
                        self.fail(v.into());
                        return;
                    }
                };
                if matches!(decoded, Ok(Block::Request(_))) {
                    self.fail(Violation::StreamIdRegression.into());
                } else {
                    self.stream_error_id(id, Violation::HeadersOnClosedStream);
                }
            }
            Lookup::Idle => {
                self.last_peer_stream = id;
                let decoded = match self.decode_block(block, BlockKind::Request) {
                    Ok(d) => d,
                    Err(v) => {
                        self.fail(v.into());
                        return;
                    }
                };
                if bad_priority {
                    self.stream_error_id(id, Violation::SelfDependency);
                    return;
                }
                // (A stream above our final GOAWAY's last id never gets here: `lookup` says
                // it is to be discarded.)
                let msg = match decoded {
                    Ok(Block::Request(m)) => m,
                    Ok(_) => {
                        self.stream_error_id(id, Violation::NotARequest);
                        return;
                    }
                    Err(v) => {
                        self.stream_error_id(id, v);
                        return;
                    }
                };
                if self.peer_streams_at(self.cfg.max_concurrent_streams as usize) {
                    self.stats.refused_streams += 1;
                    self.stream_error_id(id, Violation::OverMaxConcurrentStreams);
                    return;
                }
                let mut s = Stream::new(id, self.initial_window());
                s.recv_body = BodyLength::new(msg.content_length, false);
                if end_stream {
                    if let Err(e) = s.recv_body.on_end() {
                        self.stream_error_id(id, Violation::Message(e));
                        return;
                    }
                }
                if s.apply(Input::Recv { end: end_stream }).is_err() {
                    self.broken("a new stream accepts its request head");
                    return;
                }
                s.recv_phase = if end_stream {
                    RecvPhase::Done
                } else {
                    RecvPhase::Body
                };
                if self.streams.insert(s).is_none() {
                    self.broken("an idle stream id is not in the store");
                    return;
                }
                self.stats.streams_opened += 1;
                self.events.push_back(Event::Headers {
                    stream: id,
                    message: msg,
                    end_stream,
                });
            }
        }
    }

    pub(super) fn on_response_block(
        &mut self,
        id: StreamId,
        block: &[u8],
        end_stream: bool,
        bad_priority: bool,
    ) {
        if !id.is_client_initiated() {
            self.fail(Violation::PushedStream.into());
            return;
        }
        let key = match self.lookup(id) {
            Lookup::Live(k) => k,
            Lookup::Idle => {
                self.fail(Violation::HeadersOnUnopenedStream.into());
                return;
            }
            Lookup::Closed(_) => {
                self.decode_for_sync(block);
                return;
            }
        };
        if bad_priority {
            if !self.decode_for_sync(block) {
                return;
            }
            self.stream_error(key, Violation::SelfDependency);
            return;
        }
        let Some(phase) = self.streams.get(key).map(|s| s.recv_phase) else {
            self.broken("a live stream is in the store");
            return;
        };
        if phase != RecvPhase::Head {
            self.on_trailer_block(key, block, end_stream);
            return;
        }
        let decoded = match self.decode_block(block, BlockKind::Response) {
            Ok(d) => d,
            Err(v) => {
                self.fail(v.into());
                return;
            }
        };
        let s = live!(self, key, "a live stream is in the store");
        if !s.state().can_recv() {
            if !s.state().is_reset() {
                self.stream_error(key, Violation::HeadersAfterEndStream);
            }
            return;
        }
        let msg = match decoded {
            Ok(Block::Response(m)) => m,
            Ok(_) => {
                self.stream_error(key, Violation::NotAResponse);
                return;
            }
            Err(v) => {
                self.stream_error(key, v);
                return;
            }
        };
        if msg.is_informational() {
            if end_stream {
                self.stream_error(key, Violation::InformationalWithEndStream);
                return;
            }
            self.events.push_back(Event::Headers {
                stream: id,
                message: msg,
                end_stream: false,
            });
            return;
        }
        let status = msg.status().unwrap_or(0);
        let no_body = s.head_request || status == 204 || status == 304;
        s.recv_body = BodyLength::new(msg.content_length, no_body);
        s.responded = true;
        s.recv_phase = RecvPhase::Body;
        if end_stream {
            if let Err(e) = s.recv_body.on_end() {
                self.stream_error(key, Violation::Message(e));
                return;
            }
        }
        self.events.push_back(Event::Headers {
            stream: id,
            message: msg,
            end_stream,
        });
        if end_stream {
            self.recv_end(key);
        }
    }

    /// A second header block on a live stream: trailers, which must end the stream.
    pub(super) fn on_trailer_block(&mut self, key: Key, block: &[u8], end_stream: bool) {
        let decoded = match self.decode_block(block, BlockKind::Trailers) {
            Ok(d) => d,
            Err(v) => {
                self.fail(v.into());
                return;
            }
        };
        let Some(s) = self.streams.get(key) else {
            self.broken("a live stream is in the store");
            return;
        };
        let id = s.id;
        let state = s.state();
        if state == State::Reset(ResetBy::Peer) {
            self.fail(Violation::HeadersAfterReset.into());
            return;
        }
        if state.is_reset() {
            return;
        }
        if !state.can_recv() {
            self.stream_error(key, Violation::HeadersAfterEndStream);
            return;
        }
        if s.recv_phase != RecvPhase::Body {
            self.stream_error(key, Violation::UnexpectedHeaderBlock);
            return;
        }
        if !end_stream {
            self.stream_error(key, Violation::TrailersWithoutEndStream);
            return;
        }
        let fields = match decoded {
            Ok(Block::Trailers(f)) => f,
            Ok(_) => {
                self.stream_error(key, Violation::NotTrailers);
                return;
            }
            Err(v) => {
                self.stream_error(key, v);
                return;
            }
        };
        if let Err(e) = s.recv_body.on_end() {
            self.stream_error(key, Violation::Message(e));
            return;
        }
        self.events
            .push_back(Event::Trailers { stream: id, fields });
        self.recv_end(key);
    }
}
