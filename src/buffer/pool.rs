//! The fixed-size buffer and the pool that rations them.

use std::collections::VecDeque;

/// Who waits: the host's id for a connection (the proxy-wasm context id).
pub type WaiterId = u32;

/// A fixed-capacity byte buffer. Reads consume from the front; writes append at the
/// back; the live bytes are moved to the front only when an append needs room at the
/// back, so a reader consuming piecemeal costs no copies.
#[derive(Debug)]
pub struct Buffer {
    /// `buf[start..]` are the unread bytes; `start <= buf.len()` always.
    buf: Vec<u8>,
    start: usize,
    cap: usize,
}

impl Buffer {
    /// A standalone buffer, outside any pool's quota (tests, scratch space).
    pub fn new(capacity: usize) -> Buffer {
        Buffer {
            buf: Vec::with_capacity(capacity),
            start: 0,
            cap: capacity,
        }
    }

    /// Unread bytes.
    pub fn len(&self) -> usize {
        self.buf.len().saturating_sub(self.start)
    }

    /// Whether no unread bytes are left.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The fixed size, in bytes; the buffer never grows past it.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Free space, counting what compaction would reclaim at the front.
    pub fn room(&self) -> usize {
        self.cap.saturating_sub(self.len())
    }

    /// The unread bytes.
    pub fn data(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }

    /// Drops `n` bytes from the front (clamped to `len()`).
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len());
        self.start += n;
        if self.start >= self.buf.len() {
            // Emptied: rewinding is free, unlike a later compaction.
            self.clear();
        }
    }

    /// Appends as much of `src` as fits; returns how much.
    pub fn extend(&mut self, src: &[u8]) -> usize {
        if self.cap.saturating_sub(self.buf.len()) < src.len() {
            self.compact();
        }
        let n = src.len().min(self.cap.saturating_sub(self.buf.len()));
        self.buf.extend_from_slice(src.get(..n).unwrap_or_default());
        n
    }

    /// The backing Vec, compacted so everything past `len()` up to `capacity()` is room
    /// for appending. The caller must not grow it past `capacity()`.
    pub fn writer(&mut self) -> &mut Vec<u8> {
        self.compact();
        &mut self.buf
    }

    /// Drops every unread byte; the allocation is kept.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
    }

    fn compact(&mut self) {
        if self.start == 0 {
            return;
        }
        if self.start >= self.buf.len() {
            self.buf.clear();
        } else {
            self.buf.drain(..self.start);
        }
        self.start = 0;
    }
}

/// What a pool has done since it was made: takes, releases, failed takes, waits.
#[derive(Clone, Debug, Default)]
pub struct PoolStats {
    /// Successful takes.
    pub taken: u64,
    /// Buffers given back.
    pub released: u64,
    /// Failed takes.
    pub exhausted: u64,
    /// Waiter registrations accepted.
    pub waits: u64,
    /// Waiters popped for resumption.
    pub resumed: u64,
}

/// Rations fixed-size buffers within a byte quota, with a bounded FIFO of connections
/// waiting for one. Released buffers are cached for reuse; cached ones count toward the
/// quota, since the host granted those bytes.
#[derive(Debug)]
pub struct BufferPool {
    buffer_size: usize,
    /// Most buffers in use plus cached.
    max_buffers: usize,
    max_waiters: usize,
    in_use: usize,
    free: Vec<Buffer>,
    waiters: VecDeque<WaiterId>,
    /// Buffers only a holder may take: a connection that already holds buffers can always
    /// finish its step and give them back, so holders waiting on each other cannot
    /// deadlock the pool.
    reserve: usize,
    stats: PoolStats,
}

impl BufferPool {
    /// At most `quota_bytes / buffer_size` buffers: none when the quota is below one
    /// buffer (valid: everything waits) or `buffer_size` is 0. `max_waiters` bounds the
    /// FIFO.
    pub fn new(buffer_size: usize, quota_bytes: usize, max_waiters: usize) -> BufferPool {
        BufferPool {
            buffer_size,
            max_buffers: Self::buffers_for(quota_bytes, buffer_size),
            max_waiters,
            in_use: 0,
            free: Vec::new(),
            waiters: VecDeque::new(),
            reserve: 0,
            stats: PoolStats::default(),
        }
    }

    fn buffers_for(quota_bytes: usize, buffer_size: usize) -> usize {
        quota_bytes.checked_div(buffer_size).unwrap_or(0)
    }

    /// Bytes in each buffer of this pool.
    pub fn buffer_size(&self) -> usize {
        self.buffer_size
    }

    /// Most buffers the quota allows.
    pub fn capacity(&self) -> usize {
        self.max_buffers
    }

    /// Buffers handed out and not yet released.
    pub fn in_use(&self) -> usize {
        self.in_use
    }

    /// Bytes of the buffers handed out and not yet released (cached ones excluded).
    pub fn in_use_bytes(&self) -> usize {
        self.in_use.saturating_mul(self.buffer_size)
    }

    /// Released buffers kept for reuse.
    pub fn cached(&self) -> usize {
        self.free.len()
    }

    /// Buffers `try_take_reserved` could hand out right now.
    pub fn available(&self) -> usize {
        self.max_buffers.saturating_sub(self.in_use)
    }

    /// Buffers `try_take` could hand out right now (the reserve excluded).
    pub fn available_unreserved(&self) -> usize {
        self.available().saturating_sub(self.reserve)
    }

    /// Keeps `n` buffers for holders (see `try_take_reserved`).
    pub fn set_reserve(&mut self, n: usize) {
        self.reserve = n;
    }

    /// Buffers only a connection already holding one may take.
    pub fn reserve(&self) -> usize {
        self.reserve
    }

    /// Connections in the FIFO, waiting for a buffer.
    pub fn waiters(&self) -> usize {
        self.waiters.len()
    }

    /// What the pool has done since it was made.
    pub fn stats(&self) -> &PoolStats {
        &self.stats
    }

    /// A cached buffer when there is one, else a new one while the quota allows;
    /// None (counted as `exhausted`) when the quota is used up.
    pub fn try_take(&mut self) -> Option<Buffer> {
        if self.available_unreserved() == 0 {
            self.stats.exhausted += 1;
            return None;
        }
        self.take_one()
    }

    /// Like `try_take`, but may use the reserve: for a connection that already holds
    /// buffers.
    pub fn try_take_reserved(&mut self) -> Option<Buffer> {
        if self.available() == 0 {
            self.stats.exhausted += 1;
            return None;
        }
        self.take_one()
    }

    fn take_one(&mut self) -> Option<Buffer> {
        let b = self
            .free
            .pop()
            .unwrap_or_else(|| Buffer::new(self.buffer_size));
        self.in_use += 1;
        self.stats.taken += 1;
        Some(b)
    }

    /// Takes a buffer back, cleared. It is cached unless that would exceed the quota
    /// (lowered since it was taken) or it is not one of ours by size.
    pub fn release(&mut self, mut b: Buffer) {
        if b.cap != self.buffer_size {
            // Not one of ours (the buffer size of a live pool never changes).
            crate::invariant::broken("a released buffer was taken from this pool");
            return;
        }
        self.stats.released += 1;
        match self.in_use.checked_sub(1) {
            Some(n) => self.in_use = n,
            None => crate::invariant::broken("a released buffer was taken from this pool"),
        }
        if b.buf.len() > b.cap {
            crate::invariant::broken("a buffer stays within its capacity");
        }
        b.clear();
        if b.cap != self.buffer_size || self.in_use + self.free.len() >= self.max_buffers {
            return;
        }
        // A writer() that overran capacity reallocated; do not cache the extra memory.
        b.buf.shrink_to(b.cap);
        self.free.push(b);
    }

    /// Registers a waiter at the back of the FIFO. The caller registers each connection
    /// at most once (it keeps its own "waiting" flag); returns false when the queue is
    /// full, and the caller must then fail the connection.
    pub fn register_waiter(&mut self, id: WaiterId) -> bool {
        // One host connection may have two users (both sides of a relay): queued once.
        if self.waiters.contains(&id) {
            return true;
        }
        if self.waiters.len() >= self.max_waiters {
            return false;
        }
        self.waiters.push_back(id);
        self.stats.waits += 1;
        true
    }

    /// Removes a waiter that went away (connection closed); unknown ids are ignored.
    pub fn cancel_waiter(&mut self, id: WaiterId) {
        self.waiters.retain(|&w| w != id);
    }

    /// The next waiter to resume, in FIFO order, only when a buffer is available right
    /// now. Nothing is reserved for it: resume it (so it takes its buffer) before popping
    /// again, or a second waiter would be woken for the same buffer.
    pub fn pop_waiter(&mut self) -> Option<WaiterId> {
        if self.available_unreserved() == 0 {
            return None;
        }
        let id = self.waiters.pop_front()?;
        self.stats.resumed += 1;
        Some(id)
    }

    /// Takes a given waiter out of the queue to resume it out of turn (a holder served from
    /// the reserve). False when it is not waiting.
    pub fn take_waiter(&mut self, id: WaiterId) -> bool {
        let Some(pos) = self.waiters.iter().position(|&w| w == id) else {
            return false;
        };
        self.waiters.remove(pos);
        self.stats.resumed += 1;
        true
    }

    /// The waiters in FIFO order.
    pub fn waiter_ids(&self) -> impl Iterator<Item = WaiterId> + '_ {
        self.waiters.iter().copied()
    }

    /// Changes the quota (new configuration). Buffers in use above it are not taken
    /// back, just not cached on release; cached ones above it are dropped now. After a
    /// raise, the caller pops waiters as buffers became available.
    pub fn set_quota(&mut self, quota_bytes: usize) {
        self.max_buffers = Self::buffers_for(quota_bytes, self.buffer_size);
        self.free
            .truncate(self.max_buffers.saturating_sub(self.in_use));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_extend_and_consume() {
        let mut b = Buffer::new(8);
        assert!(b.is_empty());
        assert_eq!((b.capacity(), b.room()), (8, 8));
        assert_eq!(b.extend(b"hello"), 5);
        assert_eq!(b.extend(b"world"), 3);
        assert_eq!(b.data(), b"hellowor");
        assert_eq!((b.len(), b.room()), (8, 0));
        assert_eq!(b.extend(b"x"), 0);
        assert_eq!(b.extend(b""), 0);
        b.consume(3);
        assert_eq!(b.data(), b"lowor");
        assert_eq!(b.room(), 3);
        b.consume(100);
        assert!(b.is_empty());
        assert_eq!(b.room(), 8);
        b.consume(1);
        assert!(b.is_empty());
    }

    #[test]
    fn buffer_compacts_only_when_an_append_needs_room() {
        let mut b = Buffer::new(8);
        b.extend(b"abcdef");
        b.consume(2);
        let base = b.buf.as_ptr();
        // Fits at the back: no move.
        assert_eq!(b.extend(b"gh"), 2);
        assert_eq!(b.start, 2);
        assert_eq!(b.data(), b"cdefgh");
        // Needs the front's room: live bytes move down.
        assert_eq!(b.extend(b"ijk"), 2);
        assert_eq!(b.start, 0);
        assert_eq!(b.data(), b"cdefghij");
        assert_eq!(b.buf.as_ptr(), base, "compaction must not reallocate");
    }

    #[test]
    fn emptied_buffer_rewinds_without_copy() {
        let mut b = Buffer::new(4);
        b.extend(b"abcd");
        b.consume(4);
        assert_eq!(b.start, 0);
        assert_eq!(b.extend(b"wxyz"), 4);
    }

    #[test]
    fn buffer_writer() {
        let mut b = Buffer::new(6);
        b.extend(b"abcd");
        b.consume(3);
        let w = b.writer();
        assert_eq!(w.as_slice(), b"d");
        let room = 6 - w.len();
        w.extend_from_slice(&b"efghij"[..room]);
        assert_eq!(b.data(), b"defghi");
        assert_eq!(b.room(), 0);
        b.writer().truncate(2);
        assert_eq!(b.data(), b"de");
        b.writer().clear();
        assert!(b.is_empty());
        b.clear();
        assert_eq!(b.room(), 6);
    }

    #[test]
    fn zero_capacity_buffer() {
        let mut b = Buffer::new(0);
        assert_eq!(b.extend(b"a"), 0);
        assert_eq!((b.room(), b.data()), (0, &b""[..]));
        b.consume(5);
        assert!(b.writer().is_empty());
    }

    #[test]
    fn exhaustion() {
        let mut pool = BufferPool::new(100, 350, 4);
        assert_eq!(pool.capacity(), 3);
        let taken: Vec<_> = (0..3).map(|_| pool.try_take().unwrap()).collect();
        assert!(taken.iter().all(|b| b.capacity() == 100 && b.is_empty()));
        assert_eq!(
            (pool.in_use(), pool.in_use_bytes(), pool.available()),
            (3, 300, 0)
        );
        assert!(pool.try_take().is_none());
        assert!(pool.try_take().is_none());
        assert_eq!(pool.stats().taken, 3);
        assert_eq!(pool.stats().exhausted, 2);
        for b in taken {
            pool.release(b);
        }
        assert_eq!((pool.in_use(), pool.cached(), pool.available()), (0, 3, 3));
        assert_eq!(pool.stats().released, 3);
    }

    #[test]
    fn release_then_reuse() {
        let mut pool = BufferPool::new(64, 64, 1);
        let mut b = pool.try_take().unwrap();
        b.extend(b"leftover");
        let ptr = b.writer().as_ptr();
        pool.release(b);
        assert_eq!(pool.cached(), 1);
        let mut b = pool.try_take().unwrap();
        assert!(b.is_empty(), "released buffers come back cleared");
        assert_eq!(b.writer().as_ptr(), ptr, "the cached allocation is reused");
        assert_eq!(pool.cached(), 0);
        assert_eq!(pool.stats().taken, 2);
    }

    #[test]
    fn fifo_wakeups() {
        let mut pool = BufferPool::new(10, 20, 8);
        let mut held = vec![pool.try_take().unwrap(), pool.try_take().unwrap()];
        for id in [7, 3, 9, 1] {
            assert!(pool.try_take().is_none());
            assert!(pool.register_waiter(id));
        }
        assert_eq!(pool.waiters(), 4);
        assert_eq!(pool.pop_waiter(), None, "nothing available yet");
        let mut order = Vec::new();
        while let Some(b) = held.pop() {
            pool.release(b);
            let id = pool.pop_waiter().unwrap();
            order.push(id);
            // The resumed connection takes the buffer, so the next pop must wait.
            held.insert(0, pool.try_take().unwrap());
            assert_eq!(pool.pop_waiter(), None);
            if order.len() == 4 {
                break;
            }
        }
        assert_eq!(order, [7, 3, 9, 1]);
        assert_eq!(pool.waiters(), 0);
        assert_eq!(pool.stats().waits, 4);
        assert_eq!(pool.stats().resumed, 4);
        assert_eq!(pool.stats().exhausted, 4);
    }

    #[test]
    fn pop_waiter_with_nobody_waiting() {
        let mut pool = BufferPool::new(10, 10, 2);
        assert_eq!(pool.pop_waiter(), None);
        assert_eq!(pool.stats().resumed, 0);
    }

    #[test]
    fn cancel() {
        let mut pool = BufferPool::new(10, 10, 8);
        let b = pool.try_take().unwrap();
        for id in 1..=4 {
            assert!(pool.register_waiter(id));
        }
        pool.cancel_waiter(2);
        pool.cancel_waiter(4);
        pool.cancel_waiter(99);
        assert_eq!(pool.waiters(), 2);
        pool.release(b);
        assert_eq!(pool.pop_waiter(), Some(1));
        let b = pool.try_take().unwrap();
        pool.release(b);
        assert_eq!(pool.pop_waiter(), Some(3));
        let _b = pool.try_take().unwrap();
        assert_eq!(pool.pop_waiter(), None);
        assert_eq!(pool.waiters(), 0);
    }

    #[test]
    fn max_waiters() {
        let mut pool = BufferPool::new(10, 0, 2);
        assert!(pool.register_waiter(1));
        assert!(pool.register_waiter(2));
        assert!(!pool.register_waiter(3));
        assert_eq!((pool.waiters(), pool.stats().waits), (2, 2));
        pool.cancel_waiter(1);
        assert!(pool.register_waiter(3));
        let mut none = BufferPool::new(10, 10, 0);
        assert!(!none.register_waiter(1));
    }

    #[test]
    fn quota_zero() {
        for pool in [
            &mut BufferPool::new(16, 0, 4),
            &mut BufferPool::new(16, 15, 4),
        ] {
            assert_eq!((pool.capacity(), pool.available()), (0, 0));
            assert!(pool.try_take().is_none());
            assert_eq!(pool.stats().exhausted, 1);
            assert!(pool.register_waiter(5));
            assert_eq!(pool.pop_waiter(), None);
        }
        let mut zero_size = BufferPool::new(0, 1000, 1);
        assert_eq!(zero_size.capacity(), 0);
        assert!(zero_size.try_take().is_none());
    }

    #[test]
    fn cached_buffers_count_toward_quota() {
        let mut pool = BufferPool::new(10, 20, 1);
        let a = pool.try_take().unwrap();
        let b = pool.try_take().unwrap();
        pool.release(a);
        pool.release(b);
        assert_eq!(pool.cached(), 2);
        // Both grants are cached; taking reuses them, never a third allocation.
        let a = pool.try_take().unwrap();
        let b = pool.try_take().unwrap();
        assert!(pool.try_take().is_none());
        assert_eq!(pool.cached(), 0);
        pool.release(a);
        pool.release(b);
        assert!(pool.cached() + pool.in_use() <= pool.capacity());
    }

    #[test]
    fn quota_change() {
        let mut pool = BufferPool::new(10, 40, 4);
        let held: Vec<_> = (0..4).map(|_| pool.try_take().unwrap()).collect();
        pool.set_quota(20);
        assert_eq!((pool.capacity(), pool.available()), (2, 0));
        assert!(pool.try_take().is_none());
        // Over quota: released buffers are dropped, not cached, until back under it.
        let mut it = held.into_iter();
        pool.release(it.next().unwrap());
        pool.release(it.next().unwrap());
        assert_eq!((pool.in_use(), pool.cached()), (2, 0));
        pool.release(it.next().unwrap());
        assert_eq!((pool.in_use(), pool.cached()), (1, 1));
        pool.release(it.next().unwrap());
        assert_eq!((pool.in_use(), pool.cached()), (0, 2));
        // Lowering below the cache drops cached buffers at once.
        pool.set_quota(10);
        assert_eq!(pool.cached(), 1);
        pool.set_quota(0);
        assert_eq!((pool.cached(), pool.available()), (0, 0));
        // Raising lets waiters through.
        assert!(pool.register_waiter(8));
        assert_eq!(pool.pop_waiter(), None);
        pool.set_quota(30);
        assert_eq!(pool.available(), 3);
        assert_eq!(pool.pop_waiter(), Some(8));
    }

    #[test]
    fn foreign_buffers_are_not_cached() {
        let mut pool = BufferPool::new(10, 100, 1);
        let b = pool.try_take().unwrap();
        crate::invariant::contained(|| pool.release(Buffer::new(99)));
        assert_eq!((pool.cached(), pool.in_use()), (0, 1));
        pool.release(b);
        assert_eq!((pool.cached(), pool.in_use()), (1, 0));
    }

    #[test]
    #[cfg_attr(
        debug_assertions,
        should_panic(expected = "a buffer stays within its capacity")
    )]
    fn overgrown_buffer_is_trimmed_on_release() {
        let mut pool = BufferPool::new(8, 8, 1);
        let mut b = pool.try_take().unwrap();
        b.writer().extend_from_slice(&[0; 100]);
        assert_eq!((b.room(), b.extend(b"x")), (0, 0));
        pool.release(b);
        let mut b = pool.try_take().unwrap();
        assert!(b.is_empty());
        assert!(b.writer().capacity() < 100);
        assert_eq!(b.extend(&[1; 20]), 8);
    }
}
