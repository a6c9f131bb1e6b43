//! A server's memory budget for received frames.
//!
//! A frame's length prefix says how many bytes are coming; before reading
//! the payload, the [`crate::FrameReader`] takes that many bytes from the
//! server's [`FrameBudget`] (waiting, with the rest of the frame left in
//! QUIC's flow-controlled buffers, while the budget is spent) and hands the
//! frame over with a [`Hold`] on them. The bytes return to the budget when
//! the hold is dropped: once the state machine has taken the frame (it
//! then accounts for what it keeps itself). Partial frames count too, so
//! peers that start frames and trickle them cannot hold more than the
//! budget between them.
//!
//! What QUIC buffers below the reader is bounded separately by the receive
//! windows ([`crate::TransportConfig::with_memory_budget`]). A server puts
//! its workers' connections under the budget, never its link to the other
//! server: that link must keep moving for held uploads to be released.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes of received frames a server may hold between its QUIC streams and
/// its state machine, shared by all its connections.
#[derive(Clone)]
pub struct FrameBudget {
    sem: Arc<Semaphore>,
    total: u32,
}

impl core::fmt::Debug for FrameBudget {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FrameBudget")
            .field("total", &self.total)
            .field("available", &self.sem.available_permits())
            .finish()
    }
}

/// Bytes taken from a [`FrameBudget`] for one frame; given back when dropped.
#[derive(Debug)]
pub struct Hold {
    _permit: Option<OwnedSemaphorePermit>,
}

impl FrameBudget {
    /// A budget of `bytes` (at most 4 GiB − 1; at least 1).
    pub fn new(bytes: u64) -> FrameBudget {
        let total = u32::try_from(bytes).unwrap_or(u32::MAX).max(1);
        FrameBudget {
            sem: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    /// The frame budget of a server whose memory budget is `budget` bytes:
    /// a quarter of it (see [`crate::TransportConfig::with_memory_budget`]).
    pub fn of_memory_budget(budget: u64) -> FrameBudget {
        FrameBudget::new(budget / 4)
    }

    /// The whole budget in bytes.
    pub fn total(&self) -> u64 {
        u64::from(self.total)
    }

    /// Bytes not held by any frame now.
    pub fn available(&self) -> u64 {
        self.sem.available_permits() as u64
    }

    /// Takes `len` bytes (a frame larger than the whole budget takes all of
    /// it, so it is read alone), waiting until they are free.
    pub async fn take(&self, len: usize) -> Hold {
        let n = u32::try_from(len).unwrap_or(u32::MAX).min(self.total);
        // The semaphore is never closed (an error would mean nothing is held).
        Hold {
            _permit: Arc::clone(&self.sem).acquire_many_owned(n).await.ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn holds_come_back_and_a_large_frame_takes_the_whole_budget() {
        let b = FrameBudget::new(100);
        let h1 = b.take(60).await;
        assert_eq!(b.available(), 40);
        // 50 more does not fit until the first hold is dropped.
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), b.take(50)).await;
        assert!(waiting.is_err(), "took bytes that are held");
        drop(h1);
        let h2 = b.take(50).await;
        assert_eq!(b.available(), 50);
        drop(h2);
        // Larger than the budget: all of it, alone.
        let big = b.take(1000).await;
        assert_eq!(b.available(), 0);
        drop(big);
        assert_eq!(b.available(), 100);
    }
}
