//! The send side: writes control frames, resets, window updates, header blocks and DATA into
//! the tx buffer, in that order of priority, as far as room and windows allow.

use bytes::Buf;

use super::{Connection, Event, Gone, Note};
use crate::buffer::BufferPool;
use crate::frame::{self, flags, setting, FrameType, HEADER_LEN, PREFACE};
use crate::side::Side;
use crate::stream::{Input, Key, PendingBlock, Queue, State, StreamId};
use crate::time::Instant;

/// Below this much room, DATA waits for the tx buffer to drain rather than going out in
/// tiny frames (tiny frames cost the peer and us more than the wait).
const MIN_DATA_CHUNK: usize = 1024;

/// A header block being written as HEADERS + CONTINUATION frames. Nothing else may be
/// written between its frames (§6.10), so at most one is in progress; the encoded block
/// is the connection's `scratch`.
pub(super) struct HeaderWrite {
    pub(super) stream: StreamId,
    offset: usize,
    end_stream: bool,
    first: bool,
}

impl Connection {
    /// Writes whatever is due into the tx buffer (taking one from the pool if needed).
    pub fn flush(&mut self, pool: &mut BufferPool, now: Instant) {
        self.now = now;
        if !self.has_output_work() {
            self.release_tx_if_empty(pool);
            return;
        }
        if !self.take_tx(pool) {
            return;
        }
        if self.parked {
            self.parked = false;
            let parked = std::mem::take(&mut self.scratch);
            if let Some(tx) = self.tx.as_mut() {
                tx.writer().extend_from_slice(&parked);
            }
        }
        loop {
            // Nothing may go between the frames of a header block (§6.10): one whose first
            // frame is out is finished before anything else is written, even after a
            // connection error.
            let mut progressed = self.finish_header_block();
            if self.header_block_open() {
                break;
            }
            progressed |= self.write_control();
            if !self.lifecycle.is_failed() {
                progressed |= self.write_resets();
                progressed |= self.write_window_updates();
                progressed |= self.write_headers();
                // A block waiting for room goes before any DATA (its stream's first).
                if self.hwrite.is_some() {
                    break;
                }
                progressed |= self.write_data();
            }
            if !progressed {
                break;
            }
        }
        self.release_tx_if_empty(pool);
    }

    pub(super) fn has_output_work(&self) -> bool {
        self.has_parked() || self.has_work_to_write()
    }

    /// Output work besides parked bytes.
    pub(super) fn has_work_to_write(&self) -> bool {
        (!self.preface_sent && self.may_send_preface())
            || self.goaway_pending()
            || self.ping_pending.is_some()
            || self.windows_opened().is_some()
            || self.hwrite.is_some()
            || (!self.lifecycle.is_failed()
                && (!self.pending_resets.is_empty()
                    || self.streams.queue_len(Queue::Headers) > 0
                    || self.streams.queue_len(Queue::Send) > 0
                    || self.streams.queue_len(Queue::Reset) > 0
                    || self.streams.queue_len(Queue::WindowUpdate) > 0
                    || self.conn_update_due()))
    }

    /// A server sends its preface once the client's has arrived: a client that is not
    /// speaking HTTP/2 then never sees frames it cannot read.
    fn may_send_preface(&self) -> bool {
        self.side == Side::Backend || !matches!(self.rx_state, super::demux::RxState::Preface(_))
    }

    /// Takes a tx buffer if none is held; the first one starts with our preface.
    pub(super) fn take_tx(&mut self, pool: &mut BufferPool) -> bool {
        if self.tx.is_none() {
            match self.take_buffer(pool) {
                Some(b) => self.tx = Some(b),
                None => {
                    self.wait_for_buffer(pool);
                    return false;
                }
            }
        }
        if !self.preface_sent {
            self.write_preface();
        }
        true
    }

    /// Bytes of control frames we owe that must go before any reply written in place.
    pub(super) fn control_backlog(&self) -> usize {
        let mut n = self.pending_resets.len() * (HEADER_LEN + 4);
        if !self.preface_sent {
            n += PREFACE.len() + HEADER_LEN * 2 + 7 * 6 + 4;
        }
        if let Some(c) = self.cold.as_ref() {
            for (_, _, reason) in &c.goaway_pending {
                n += HEADER_LEN + 8 + reason.len();
            }
        }
        if self.ping_pending.is_some() {
            n += HEADER_LEN + 8;
        }
        if self.windows_opened().is_some() {
            n += 2 * HEADER_LEN + 6 + 4;
        }
        n
    }

    fn room(&self) -> usize {
        self.tx.as_ref().map_or(0, |b| b.room())
    }

    fn write_preface(&mut self) {
        let cfg = &self.cfg;
        let mut entries: Vec<(u16, u32)> = Vec::with_capacity(7);
        if cfg.header_table_size != 4096 {
            entries.push((setting::HEADER_TABLE_SIZE, cfg.header_table_size));
        }
        if self.side == Side::Backend {
            entries.push((setting::ENABLE_PUSH, 0));
        }
        entries.push((setting::MAX_CONCURRENT_STREAMS, cfg.max_concurrent_streams));
        let initial_window = self.initial_window();
        if initial_window != frame::DEFAULT_WINDOW {
            entries.push((setting::INITIAL_WINDOW_SIZE, initial_window));
        }
        if cfg.max_frame_size != frame::DEFAULT_MAX_FRAME_SIZE {
            entries.push((setting::MAX_FRAME_SIZE, cfg.max_frame_size));
        }
        entries.push((setting::MAX_HEADER_LIST_SIZE, cfg.max_header_list_size));
        let extra = i64::from(self.connection_window()) - i64::from(frame::DEFAULT_WINDOW);
        let side = self.side;
        let Some(tx) = self.tx.as_mut() else { return };
        let w = tx.writer();
        if side == Side::Backend {
            w.extend_from_slice(PREFACE);
        }
        frame::write_settings(w, &entries);
        if extra > 0 {
            frame::write_window_update(w, StreamId::ZERO, extra as u32);
        }
        self.preface_sent = true;
        self.settings_sent();
    }

    /// GOAWAY and PING we owe.
    fn write_control(&mut self) -> bool {
        let mut progressed = false;
        while let Some(&(last, code, reason)) =
            self.cold.as_ref().and_then(|c| c.goaway_pending.front())
        {
            if self.room() < HEADER_LEN + 8 + reason.len() {
                return false;
            }
            if let Some(tx) = self.tx.as_mut() {
                frame::write_goaway(tx.writer(), last, code, reason.as_bytes());
            }
            if let Some(c) = self.cold.as_mut() {
                c.goaway_pending.pop_front();
            }
            self.stats.goaways_sent = self.stats.goaways_sent.saturating_add(1);
            self.note(Note::GoAwaySent(code));
            log::debug!(
                "{} GOAWAY sent: last {} code {}",
                self.side.name(),
                last,
                code
            );
            progressed = true;
        }
        if let Some(inc) = self.windows_opened() {
            if self.room() < 2 * HEADER_LEN + 6 + 4 {
                return progressed;
            }
            let initial_window = self.initial_window();
            if let Some(tx) = self.tx.as_mut() {
                let w = tx.writer();
                frame::write_settings(w, &[(setting::INITIAL_WINDOW_SIZE, initial_window)]);
                if inc > 0 {
                    frame::write_window_update(w, StreamId::ZERO, inc);
                }
            }
            if let Some(c) = self.cold.as_mut() {
                c.windows_opened = None;
            }
            self.settings_sent();
            progressed = true;
        }
        if let Some(data) = self.ping_pending {
            if self.room() < HEADER_LEN + 8 {
                return progressed;
            }
            if let Some(tx) = self.tx.as_mut() {
                frame::write_ping(tx.writer(), false, data);
            }
            self.ping_pending = None;
            progressed = true;
        }
        progressed
    }

    fn write_resets(&mut self) -> bool {
        let mut progressed = false;
        while let Some(&(id, code)) = self.pending_resets.front() {
            if self.room() < HEADER_LEN + 4 {
                return progressed;
            }
            if let Some(tx) = self.tx.as_mut() {
                frame::write_rst_stream(tx.writer(), id, code);
            }
            self.pending_resets.pop_front();
            self.stats.resets_sent = self.stats.resets_sent.saturating_add(1);
            self.note(Note::ResetSent(code));
            progressed = true;
        }
        while self.streams.queue_len(Queue::Reset) > 0 {
            if self.room() < HEADER_LEN + 4 {
                return progressed;
            }
            let Some(key) = self.streams.pop(Queue::Reset) else {
                break;
            };
            let s = live!(self, key, "a queued stream is in the store", progressed);
            let State::ErrorPending(code) = s.state() else {
                // Reset meanwhile by the peer, or dropped: nothing to write.
                continue;
            };
            let id = s.id;
            s.apply_always(Input::ResetSent);
            if let Some(tx) = self.tx.as_mut() {
                frame::write_rst_stream(tx.writer(), id, code);
            }
            self.stats.resets_sent = self.stats.resets_sent.saturating_add(1);
            self.note(Note::ResetSent(code));
            self.remember_gone(id, Gone::ResetByUs);
            self.maybe_free(key);
            progressed = true;
        }
        progressed
    }

    /// Connection credit is announced once half the window is owed.
    fn conn_update_threshold(&self) -> u32 {
        (self.connection_window() / 2).max(1)
    }

    fn conn_update_due(&self) -> bool {
        self.conn_recv_window.released() >= self.conn_update_threshold()
    }

    fn write_window_updates(&mut self) -> bool {
        let mut progressed = false;
        if self.conn_update_due() {
            if self.room() < HEADER_LEN + 4 {
                return false;
            }
            let threshold = self.conn_update_threshold();
            if let Some(inc) = self.conn_recv_window.announce(threshold) {
                if let Some(tx) = self.tx.as_mut() {
                    frame::write_window_update(tx.writer(), StreamId::ZERO, inc);
                }
                progressed = true;
            }
        }
        while self.streams.queue_len(Queue::WindowUpdate) > 0 {
            if self.room() < HEADER_LEN + 4 {
                return progressed;
            }
            let Some(key) = self.streams.pop(Queue::WindowUpdate) else {
                break;
            };
            let s = live!(self, key, "a queued stream is in the store", progressed);
            if !s.state().can_recv() {
                continue;
            }
            let Some(inc) = s.recv_window.announce(1) else {
                continue;
            };
            let id = s.id;
            if let Some(tx) = self.tx.as_mut() {
                frame::write_window_update(tx.writer(), id, inc);
            }
            progressed = true;
        }
        progressed
    }

    /// A header block whose first frame is written is open on the wire: until it ends, no
    /// other frame may be written (nor added by the host). One encoded but waiting for room
    /// for its first frame is not open yet.
    pub fn header_block_open(&self) -> bool {
        self.hwrite.as_ref().is_some_and(|h| !h.first)
    }

    /// Writes what room allows of the header block in progress. True when something was
    /// written.
    fn finish_header_block(&mut self) -> bool {
        if self.hwrite.is_none() {
            return false;
        }
        match self.continue_header_block() {
            Some(Some(key)) => {
                self.after_header_block(key);
                true
            }
            Some(None) => true,
            None => false,
        }
    }

    /// Header blocks, one at a time and in the order they were encoded.
    fn write_headers(&mut self) -> bool {
        let mut progressed = false;
        loop {
            if self.hwrite.is_none() {
                let Some(key) = self.streams.pop(Queue::Headers) else {
                    return progressed;
                };
                if !self.start_header_block(key) {
                    continue;
                }
            }
            match self.continue_header_block() {
                Some(done_key) => {
                    progressed = true;
                    if let Some(key) = done_key {
                        self.after_header_block(key);
                    } else {
                        // The stream went away meanwhile.
                    }
                }
                None => return progressed,
            }
        }
    }

    /// Encodes the stream's next pending block into a HeaderWrite. False when there is none.
    fn start_header_block(&mut self, key: Key) -> bool {
        let s = live!(self, key, "a queued stream is in the store", false);
        if s.state().is_reset() {
            s.pending.clear();
            return false;
        }
        let Some(block) = s.pending.pop_front() else {
            return false;
        };
        let id = s.id;
        // From the first frame of its first block on, the peer knows the stream.
        s.on_wire = true;
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        // Most encoded blocks fit: one allocation after an idle trim, not a run of doublings.
        out.reserve(256);
        let end_stream = match &block {
            PendingBlock::Head(msg, end) => {
                encode_message(self.encoder(), msg, &mut out);
                *end
            }
            PendingBlock::Trailers(fields) => {
                self.encoder().encode(fields.iter(), &mut out);
                true
            }
        };
        self.scratch = out;
        self.hwrite = Some(HeaderWrite {
            stream: id,
            offset: 0,
            end_stream,
            first: true,
        });
        true
    }

    /// Writes frames of the block in progress. Some(Some(key)) when the block is complete,
    /// Some(None) when complete but its stream is gone, None when out of room.
    fn continue_header_block(&mut self) -> Option<Option<Key>> {
        let max = self.peer.max_frame_size as usize;
        loop {
            let room = self.room();
            let hw = self.hwrite.as_mut()?;
            let Some(left) = self.scratch.len().checked_sub(hw.offset) else {
                self.broken("a header block is written within its length");
                return None;
            };
            let want = left.min(max);
            if room < HEADER_LEN + want.min(MIN_DATA_CHUNK) || room <= HEADER_LEN {
                return None;
            }
            let n = want.min(room - HEADER_LEN);
            let last = n == left;
            let (kind, mut fl) = if hw.first {
                (
                    FrameType::Headers,
                    if hw.end_stream { flags::END_STREAM } else { 0 },
                )
            } else {
                (FrameType::Continuation, 0)
            };
            if last {
                fl |= flags::END_HEADERS;
            }
            let Some(chunk) = self.scratch.get(hw.offset..hw.offset + n) else {
                self.broken("a header block part is within the encoded block");
                return None;
            };
            if let Some(tx) = self.tx.as_mut() {
                let w = tx.writer();
                frame::write_header(w, n as u32, kind, fl, hw.stream);
                w.extend_from_slice(chunk);
            }
            self.tx_stream_frames = true;
            hw.offset += n;
            hw.first = false;
            if last {
                let stream = hw.stream;
                self.hwrite = None;
                return Some(self.streams.find(stream));
            }
        }
    }

    fn after_header_block(&mut self, key: Key) {
        let s = live!(self, key, "a found stream is in the store");
        if !s.pending.is_empty() {
            self.streams.enqueue(Queue::Headers, key);
        } else if s.send_queued > 0 || s.send_end || s.trailers.is_some() {
            self.streams.enqueue(Queue::Send, key);
        }
        self.maybe_free(key);
    }

    /// DATA, round robin over the streams that can send, a frame at a time.
    fn write_data(&mut self) -> bool {
        let mut progressed = false;
        let initial = self.peer.initial_window_size;
        let max_frame = self.peer.max_frame_size as usize;
        while let Some(key) = self.streams.pop(Queue::Send) {
            let room = self.room();
            let conn_window = self.conn_send_window.available();
            let Some(s) = self.streams.get_mut(key) else {
                self.broken("a queued stream is in the store");
                return progressed;
            };
            if !s.pending.is_empty() || s.state().is_reset() {
                continue;
            }
            let id = s.id;
            if s.send_queued == 0 {
                if let Some(t) = s.trailers.take() {
                    s.send_end = false;
                    s.pending.push_back(PendingBlock::Trailers(t));
                    self.streams.enqueue(Queue::Headers, key);
                    progressed = true;
                    continue;
                }
                if s.send_end {
                    if room < HEADER_LEN {
                        self.streams.enqueue(Queue::TxRoom, key);
                        break;
                    }
                    s.send_end = false;
                    if let Some(tx) = self.tx.as_mut() {
                        frame::write_data(tx.writer(), id, &[], true);
                    }
                    self.maybe_free(key);
                    progressed = true;
                }
                continue;
            }
            let stream_window = s.send_window.available(initial);
            if stream_window <= 0 {
                s.window_blocked = true;
                continue;
            }
            if conn_window <= 0 {
                self.streams.enqueue(Queue::ConnWindow, key);
                continue;
            }
            let max_n = (s.send_queued as i64)
                .min(stream_window)
                .min(conn_window)
                .min(max_frame as i64) as usize;
            if room < HEADER_LEN + max_n.min(MIN_DATA_CHUNK) {
                self.streams.enqueue(Queue::TxRoom, key);
                break;
            }
            let n = max_n.min(room - HEADER_LEN);
            let end = n == s.send_queued && s.send_end && s.trailers.is_none();
            self.tx_stream_frames = true;
            let mut short = false;
            if let Some(tx) = self.tx.as_mut() {
                let w = tx.writer();
                frame::write_header(
                    w,
                    n as u32,
                    FrameType::Data,
                    if end { flags::END_STREAM } else { 0 },
                    id,
                );
                let mut left = n;
                while left > 0 {
                    let Some(front) = s.send_queue.front_mut() else {
                        short = true;
                        break;
                    };
                    let take = left.min(front.len());
                    let Some(part) = front.get(..take) else {
                        short = true;
                        break;
                    };
                    w.extend_from_slice(part);
                    if take == front.len() {
                        s.send_queue.pop_front();
                    } else {
                        front.advance(take);
                    }
                    left -= take;
                }
            }
            let windows_ok = s.send_window.consume(n, initial) && self.conn_send_window.consume(n);
            if short || !windows_ok {
                self.broken("queued DATA matches its count and fits the windows");
                return progressed;
            }
            s.send_queued -= n;
            if end {
                s.send_end = false;
            }
            let more = s.send_queued > 0 || s.send_end || s.trailers.is_some();
            self.events
                .push_back(Event::DataSent { stream: id, len: n });
            if more {
                self.streams.enqueue(Queue::Send, key);
            } else {
                self.maybe_free(key);
            }
            progressed = true;
        }
        progressed
    }
}

/// Encodes a message head: pseudo-header fields first (RFC 9113 §8.3), then the fields.
fn encode_message(
    encoder: &mut crate::hpack::Encoder,
    msg: &crate::message::Message,
    out: &mut Vec<u8>,
) {
    let mut status = [0u8; 3];
    encoder.encode(msg.h2_fields(&mut status), out);
}
