//! Connection buffers under a host-granted memory quota.
//!
//! Buffers are fixed-size, taken lazily and given back as soon as they are empty, so idle
//! connections hold no buffer memory. A connection that cannot get one registers in a FIFO
//! queue and is resumed when one comes back.

mod pool;

pub use pool::{Buffer, BufferPool, PoolStats, WaiterId};
