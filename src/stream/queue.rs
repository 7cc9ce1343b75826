//! A FIFO that keeps its first element inline: a stream usually has one header block or one
//! DATA chunk queued at a time, and that common case should not allocate.

use std::collections::VecDeque;

/// `head` is empty only when `rest` is too, so the front is always `head`.
#[derive(Debug)]
pub struct InlineQueue<T> {
    head: Option<T>,
    rest: VecDeque<T>,
}

impl<T> Default for InlineQueue<T> {
    fn default() -> Self {
        InlineQueue {
            head: None,
            rest: VecDeque::new(),
        }
    }
}

impl<T> InlineQueue<T> {
    /// Appends at the back; only the first element lives inline.
    pub fn push_back(&mut self, v: T) {
        if self.head.is_none() {
            self.head = Some(v);
        } else {
            self.rest.push_back(v);
        }
    }

    /// Takes the front element.
    pub fn pop_front(&mut self) -> Option<T> {
        let v = self.head.take();
        self.head = self.rest.pop_front();
        v
    }

    /// The front element, to change in place.
    pub fn front_mut(&mut self) -> Option<&mut T> {
        self.head.as_mut()
    }

    /// Whether the queue is empty.
    pub fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        usize::from(self.head.is_some()) + self.rest.len()
    }

    /// Drops every element and frees the overflow storage.
    pub fn clear(&mut self) {
        self.head = None;
        self.rest = VecDeque::new();
    }

    /// Front to back.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.head.iter().chain(self.rest.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::InlineQueue;

    #[test]
    fn fifo_order_across_the_inline_slot() {
        let mut q = InlineQueue::default();
        assert!(q.is_empty());
        for i in 0..5 {
            q.push_back(i);
        }
        assert_eq!(q.len(), 5);
        assert_eq!(q.iter().copied().collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
        assert_eq!(q.pop_front(), Some(0));
        q.push_back(5);
        if let Some(f) = q.front_mut() {
            *f = 10;
        }
        let mut out = Vec::new();
        while let Some(v) = q.pop_front() {
            out.push(v);
        }
        assert_eq!(out, [10, 2, 3, 4, 5]);
        assert!(q.is_empty());
        q.push_back(7);
        q.clear();
        assert_eq!(q.len(), 0);
        assert_eq!(q.pop_front(), None);
    }
}
