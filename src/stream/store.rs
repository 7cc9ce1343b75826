//! A slab of live stream contexts, an id index, and the wait queues that say why a stream
//! is not sending.
//!
//! Only live streams (and closed ones the other side still works on) have a slot: the
//! memory of a connection is bounded by its concurrency, not by its history. The id index is
//! a sorted vector: ids grow monotonically, so inserting is a push, and with at most a few
//! hundred entries a binary search beats hashing (and needs no random seed in wasm).
//! All of it lives in a box that exists only while there are streams, or until the next
//! trim: an idle connection pays one pointer for the whole machinery.
//!
//! Slots are reused, so a key also carries its stream's id: a key kept across calls (a DATA
//! frame arriving in pieces) whose stream was freed meanwhile finds nothing, even when
//! another stream took the slot (an ABA guard).

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
    /// Every queue.
    pub const ALL: [Queue; 6] = [
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

/// A stream's place in the store, valid only while that stream lives there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    slot: u32,
    id: StreamId,
}

impl Key {
    /// The stream this key stands for.
    pub fn id(self) -> StreamId {
        self.id
    }
}

/// A slot index, inside the store only.
type Slot = u32;

#[derive(Default)]
struct Inner {
    slots: Vec<Option<Stream>>,
    free: Vec<Slot>,
    /// (stream id, slot), sorted by id.
    index: Vec<(u32, Slot)>,
    queues: [VecDeque<Slot>; 6],
}

impl Inner {
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Adds a stream whose id is not in the store (the caller looked it up first): None,
    /// changing nothing, when it is.
    pub fn insert(&mut self, stream: Stream) -> Option<Key> {
        let id = stream.id;
        let pos = self
            .index
            .binary_search_by_key(&id.value(), |e| e.0)
            .err()?;
        let slot = match self.free.pop() {
            Some(k) => {
                *self.slots.get_mut(k as usize)? = Some(stream);
                k
            }
            None => {
                self.slots.push(Some(stream));
                Slot::try_from(self.slots.len() - 1).ok()?
            }
        };
        self.index.insert(pos, (id.value(), slot));
        Some(Key { slot, id })
    }

    pub fn find(&self, id: StreamId) -> Option<Key> {
        let pos = self.index.binary_search_by_key(&id.value(), |e| e.0).ok()?;
        self.index.get(pos).map(|e| Key { slot: e.1, id })
    }

    /// The stream of `key`; None when it is gone, even if another stream took its slot.
    pub fn get(&self, key: Key) -> Option<&Stream> {
        self.slots
            .get(key.slot as usize)?
            .as_ref()
            .filter(|s| s.id == key.id)
    }

    pub fn get_mut(&mut self, key: Key) -> Option<&mut Stream> {
        self.slots
            .get_mut(key.slot as usize)?
            .as_mut()
            .filter(|s| s.id == key.id)
    }

    /// Frees the slot (the stream is dropped where it lies, not moved out: it is large);
    /// the stream leaves every queue. False when the key is stale.
    pub fn remove(&mut self, key: Key) -> bool {
        let Some(queued) = self.get(key).map(|s| s.queued) else {
            return false;
        };
        if let Some(slot) = self.slots.get_mut(key.slot as usize) {
            *slot = None;
        }
        if let Ok(pos) = self.index.binary_search_by_key(&key.id.value(), |e| e.0) {
            self.index.remove(pos);
        }
        if queued != 0 {
            for q in Queue::ALL {
                if queued & q.bit() != 0 {
                    if let Some(dq) = self.queues.get_mut(q.index()) {
                        dq.retain(|k| *k != key.slot);
                    }
                }
            }
        }
        self.free.push(key.slot);
        true
    }

    /// Keys of all streams, in id order (a snapshot, so the caller may mutate the store).
    pub fn keys(&self) -> Vec<Key> {
        self.index
            .iter()
            .map(|&(id, slot)| Key {
                slot,
                id: StreamId::new(id),
            })
            .collect()
    }

    /// Every index entry resolves to a stream of that id, every stream is indexed, and
    /// every queue entry is a live stream flagged as queued there.
    pub fn check(&self) -> Result<(), &'static str> {
        for &(id, slot) in &self.index {
            match self.slots.get(slot as usize) {
                Some(Some(s)) if s.id.value() == id => {}
                _ => return Err("a stream key resolves to another stream"),
            }
        }
        let live = self.slots.iter().filter(|s| s.is_some()).count();
        if live != self.index.len() || live + self.free.len() != self.slots.len() {
            return Err("stream slots and index disagree");
        }
        for q in Queue::ALL {
            let Some(dq) = self.queues.get(q.index()) else {
                continue;
            };
            let flagged = self
                .slots
                .iter()
                .flatten()
                .filter(|s| s.queued & q.bit() != 0)
                .count();
            let stray = dq.iter().any(|&k| {
                self.slots
                    .get(k as usize)
                    .and_then(|s| s.as_ref())
                    .is_none_or(|s| s.queued & q.bit() == 0)
            });
            if flagged != dq.len() || stray {
                return Err("a wait queue and its stream flags disagree");
            }
        }
        Ok(())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Stream> {
        self.index
            .iter()
            .filter_map(|e| self.slots.get(e.1 as usize).and_then(|s| s.as_ref()))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Stream> {
        self.slots.iter_mut().filter_map(|s| s.as_mut())
    }

    /// Puts the stream at the back of the queue unless it is already in it. False when
    /// the key is stale.
    pub fn enqueue(&mut self, q: Queue, key: Key) -> bool {
        let Some(s) = self.get_mut(key) else {
            return false;
        };
        if s.queued & q.bit() != 0 {
            return true;
        }
        s.queued |= q.bit();
        if let Some(dq) = self.queues.get_mut(q.index()) {
            dq.push_back(key.slot);
        }
        true
    }

    pub fn pop(&mut self, q: Queue) -> Option<Key> {
        // A freed stream leaves every queue, so each entry is live and flagged (`check`);
        // the loop only skips what that rule would not.
        loop {
            let slot = self.queues.get_mut(q.index())?.pop_front()?;
            if let Some(s) = self.slots.get_mut(slot as usize).and_then(|s| s.as_mut()) {
                if s.queued & q.bit() != 0 {
                    s.queued &= !q.bit();
                    return Some(Key { slot, id: s.id });
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
    /// Streams with a slot: live ones, and closed ones the other side still works on.
    pub fn len(&self) -> usize {
        self.inner.as_ref().map_or(0, |i| i.len())
    }

    /// Whether no stream has a slot.
    pub fn is_empty(&self) -> bool {
        self.inner.as_ref().is_none_or(|i| i.is_empty())
    }

    /// Adds a stream whose id is not in the store yet; None when it is.
    pub fn insert(&mut self, stream: Stream) -> Option<Key> {
        self.inner.get_or_insert_with(Box::default).insert(stream)
    }

    /// The key of the stream with this id, if it has a slot.
    pub fn find(&self, id: StreamId) -> Option<Key> {
        self.inner.as_ref()?.find(id)
    }

    /// The stream of this key; None when the key is stale.
    pub fn get(&self, key: Key) -> Option<&Stream> {
        self.inner.as_ref()?.get(key)
    }

    /// The stream of this key, to change; None when the key is stale.
    pub fn get_mut(&mut self, key: Key) -> Option<&mut Stream> {
        self.inner.as_mut()?.get_mut(key)
    }

    /// Frees the slot; the stream leaves every queue. The box stays for the next stream
    /// (streams come in bursts); `trim` gives it back once the connection is idle.
    pub fn remove(&mut self, key: Key) -> bool {
        self.inner.as_mut().is_some_and(|i| i.remove(key))
    }

    /// Drops the machinery when no stream is left.
    pub fn trim(&mut self) {
        if self.is_empty() {
            self.inner = None;
        }
    }

    /// Keys of all streams, in id order: a snapshot, so the caller may change the store.
    pub fn keys(&self) -> Vec<Key> {
        self.inner.as_ref().map_or_else(Vec::new, |i| i.keys())
    }

    /// All streams, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Stream> {
        self.inner.iter().flat_map(|i| i.iter())
    }

    /// All streams, to change, in slot order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Stream> {
        self.inner.iter_mut().flat_map(|i| i.iter_mut())
    }

    /// False when the key is stale.
    pub fn enqueue(&mut self, q: Queue, key: Key) -> bool {
        self.inner.as_mut().is_some_and(|i| i.enqueue(q, key))
    }

    /// The store's own invariants (see `Inner::check`).
    pub fn check(&self) -> Result<(), &'static str> {
        self.inner.as_ref().map_or(Ok(()), |i| i.check())
    }

    /// Takes the first stream out of a queue (FIFO).
    pub fn pop(&mut self, q: Queue) -> Option<Key> {
        self.inner.as_mut()?.pop(q)
    }

    /// Streams waiting in a queue.
    pub fn queue_len(&self, q: Queue) -> usize {
        self.inner.as_ref().map_or(0, |i| i.queue_len(q))
    }

    /// Whether the stream of this key waits in a queue; false for a stale key.
    pub fn is_queued(&self, q: Queue, key: Key) -> bool {
        self.inner.as_ref().is_some_and(|i| i.is_queued(q, key))
    }

    /// Moves every stream of one queue to the back of another (a wake-up).
    pub fn move_all(&mut self, from: Queue, to: Queue) {
        if let Some(i) = self.inner.as_mut() {
            i.move_all(from, to);
        }
    }
}
