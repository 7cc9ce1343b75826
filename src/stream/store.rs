//! A slab of live stream contexts, an id index, and the wait queues that say why a stream
//! is not sending.
//!
//! Only live streams (and closed ones the other side still works on) have a slot: the
//! memory of a connection is bounded by its concurrency, not by its history. The id index is
//! a sorted vector: ids grow monotonically, so inserting is a push, and with at most a few
//! hundred entries a binary search beats hashing (and needs no random seed in wasm).
//! All of it lives in a box that exists only while there are streams, or until the next
//! trim: an idle connection pays one pointer for the whole machinery.

use std::collections::VecDeque;

use super::{Stream, StreamId};

/// Why a stream waits, one FIFO each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queue {
    /// Has a header block (head or trailers) to write; served strictly in order, because
    /// HPACK state depends on the order blocks are encoded.
    Headers,
    /// Has DATA (or a bare END_STREAM) it may send now.
    Send,
    /// Blocked because the tx buffer had no room; woken when output is consumed.
    TxRoom,
    /// Blocked on the connection send window; woken by a WINDOW_UPDATE on stream 0.
    ConnWindow,
    /// Has an RST_STREAM (error pending) to write.
    Reset,
    /// Has receive credit to return with a WINDOW_UPDATE.
    WindowUpdate,
}

impl Queue {
    const ALL: [Queue; 6] = [
        Queue::Headers,
        Queue::Send,
        Queue::TxRoom,
        Queue::ConnWindow,
        Queue::Reset,
        Queue::WindowUpdate,
    ];

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A slot index into the store.
pub type Key = u32;

#[derive(Default)]
struct Inner {
    slots: Vec<Option<Stream>>,
    free: Vec<Key>,
    /// (stream id, key), sorted by id.
    index: Vec<(u32, Key)>,
    queues: [VecDeque<Key>; 6],
}

impl Inner {
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn insert(&mut self, stream: Stream) -> Key {
        let id = stream.id.value();
        let key = match self.free.pop() {
            Some(k) => {
                if let Some(slot) = self.slots.get_mut(k as usize) {
                    *slot = Some(stream);
                }
                k
            }
            None => {
                self.slots.push(Some(stream));
                (self.slots.len() - 1) as Key
            }
        };
        match self.index.binary_search_by_key(&id, |e| e.0) {
            Ok(pos) => {
                if let Some(e) = self.index.get_mut(pos) {
                    e.1 = key;
                }
            }
            Err(pos) => self.index.insert(pos, (id, key)),
        }
        key
    }

    pub fn find(&self, id: StreamId) -> Option<Key> {
        let pos = self.index.binary_search_by_key(&id.value(), |e| e.0).ok()?;
        self.index.get(pos).map(|e| e.1)
    }

    pub fn get(&self, key: Key) -> Option<&Stream> {
        self.slots.get(key as usize)?.as_ref()
    }

    pub fn get_mut(&mut self, key: Key) -> Option<&mut Stream> {
        self.slots.get_mut(key as usize)?.as_mut()
    }

    /// Frees the slot (the stream is dropped where it lies, not moved out: it is large);
    /// the stream leaves every queue.
    pub fn remove(&mut self, key: Key) {
        let Some(slot) = self.slots.get_mut(key as usize) else {
            return;
        };
        let Some((id, queued)) = slot.as_ref().map(|s| (s.id.value(), s.queued)) else {
            return;
        };
        *slot = None;
        if let Ok(pos) = self.index.binary_search_by_key(&id, |e| e.0) {
            self.index.remove(pos);
        }
        if queued != 0 {
            for q in Queue::ALL {
                if queued & q.bit() != 0 {
                    if let Some(dq) = self.queues.get_mut(q.index()) {
                        dq.retain(|k| *k != key);
                    }
                }
            }
        }
        self.free.push(key);
    }

    /// Keys of all streams, in id order (a snapshot, so the caller may mutate the store).
    pub fn keys(&self) -> Vec<Key> {
        self.index.iter().map(|e| e.1).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Stream> {
        self.index
            .iter()
            .filter_map(|e| self.slots.get(e.1 as usize).and_then(|s| s.as_ref()))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Stream> {
        self.slots.iter_mut().filter_map(|s| s.as_mut())
    }

    /// Puts the stream at the back of the queue unless it is already in it.
    pub fn enqueue(&mut self, q: Queue, key: Key) {
        let Some(s) = self.get_mut(key) else { return };
        if s.queued & q.bit() != 0 {
            return;
        }
        s.queued |= q.bit();
        if let Some(dq) = self.queues.get_mut(q.index()) {
            dq.push_back(key);
        }
    }

    pub fn pop(&mut self, q: Queue) -> Option<Key> {
        loop {
            let key = self.queues.get_mut(q.index())?.pop_front()?;
            if let Some(s) = self.get_mut(key) {
                if s.queued & q.bit() != 0 {
                    s.queued &= !q.bit();
                    return Some(key);
                }
            }
        }
    }

    pub fn queue_len(&self, q: Queue) -> usize {
        self.queues.get(q.index()).map_or(0, |d| d.len())
    }

    pub fn is_queued(&self, q: Queue, key: Key) -> bool {
        self.get(key).is_some_and(|s| s.queued & q.bit() != 0)
    }

    /// Moves every stream of one queue to the back of another (a wake-up).
    pub fn move_all(&mut self, from: Queue, to: Queue) {
        while let Some(k) = self.pop(from) {
            self.enqueue(to, k);
        }
    }
}

/// The streams of one connection; empty costs a pointer.
#[derive(Default)]
pub struct Store {
    inner: Option<Box<Inner>>,
}

impl Store {
    pub fn len(&self) -> usize {
        self.inner.as_ref().map_or(0, |i| i.len())
    }

    pub fn is_empty(&self) -> bool {
        self.inner.as_ref().is_none_or(|i| i.is_empty())
    }

    pub fn insert(&mut self, stream: Stream) -> Key {
        self.inner.get_or_insert_with(Box::default).insert(stream)
    }

    pub fn find(&self, id: StreamId) -> Option<Key> {
        self.inner.as_ref()?.find(id)
    }

    pub fn get(&self, key: Key) -> Option<&Stream> {
        self.inner.as_ref()?.get(key)
    }

    pub fn get_mut(&mut self, key: Key) -> Option<&mut Stream> {
        self.inner.as_mut()?.get_mut(key)
    }

    /// Frees the slot; the stream leaves every queue. The box stays for the next stream
    /// (streams come in bursts); `trim` gives it back once the connection is idle.
    pub fn remove(&mut self, key: Key) {
        if let Some(i) = self.inner.as_mut() {
            i.remove(key);
        }
    }

    /// Drops the machinery when no stream is left.
    pub fn trim(&mut self) {
        if self.is_empty() {
            self.inner = None;
        }
    }

    pub fn keys(&self) -> Vec<Key> {
        self.inner.as_ref().map_or_else(Vec::new, |i| i.keys())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Stream> {
        self.inner.iter().flat_map(|i| i.iter())
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Stream> {
        self.inner.iter_mut().flat_map(|i| i.iter_mut())
    }

    pub fn enqueue(&mut self, q: Queue, key: Key) {
        if let Some(i) = self.inner.as_mut() {
            i.enqueue(q, key);
        }
    }

    pub fn pop(&mut self, q: Queue) -> Option<Key> {
        self.inner.as_mut()?.pop(q)
    }

    pub fn queue_len(&self, q: Queue) -> usize {
        self.inner.as_ref().map_or(0, |i| i.queue_len(q))
    }

    pub fn is_queued(&self, q: Queue, key: Key) -> bool {
        self.inner.as_ref().is_some_and(|i| i.is_queued(q, key))
    }

    pub fn move_all(&mut self, from: Queue, to: Queue) {
        if let Some(i) = self.inner.as_mut() {
            i.move_all(from, to);
        }
    }
}
