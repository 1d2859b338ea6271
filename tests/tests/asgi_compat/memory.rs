//! The ported cases on the in-memory backend (the original's `MemoryBackend`), on a manual
//! clock.

use std::sync::Arc;
use std::time::Duration;

use ratelimit::backend::{Algorithm, Backend, ManualClock, MemoryBackend};

use crate::support::Harness;

/// A fresh memory backend with the algorithm, on a manual clock.
#[derive(Debug)]
pub(crate) struct MemoryHarness {
    backend: MemoryBackend<ManualClock>,
    clock: ManualClock,
}

impl MemoryHarness {
    pub(crate) async fn new(algorithm: Algorithm) -> Self {
        let clock = ManualClock::new();
        let backend = MemoryBackend::builder()
            .algorithm(algorithm)
            .clock(clock.clone())
            .build();
        Self { backend, clock }
    }
}

impl Harness for MemoryHarness {
    fn algorithm(&self) -> Algorithm {
        self.backend.algorithm()
    }

    fn backend(&self) -> Arc<dyn Backend> {
        // Clones of a memory backend share its counts.
        Arc::new(self.backend.clone())
    }

    async fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}

crate::ported_suite!(crate::memory::MemoryHarness::new);
