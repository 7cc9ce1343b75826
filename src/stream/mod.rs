//! Stream contexts (h2s): identifiers, the RFC 9113 §5.1 state machine, and the store with
//! its wait queues.

mod id;

pub use id::StreamId;
