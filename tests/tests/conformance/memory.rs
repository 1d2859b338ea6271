//! The in-memory backend, on a manual clock, in the suite.

use std::sync::Arc;
use std::time::Duration;

use ratelimit::backend::{Algorithm, Backend, ManualClock, MemoryBackend};

use crate::harness::Harness;

pub(crate) struct MemoryHarness {
    backend: Arc<MemoryBackend<ManualClock>>,
    clock: ManualClock,
}

impl MemoryHarness {
    pub(crate) async fn new(algorithm: Algorithm) -> Self {
        let clock = ManualClock::new();
        let backend = MemoryBackend::builder()
            .algorithm(algorithm)
            .clock(clock.clone())
            .build();
        Self {
            backend: Arc::new(backend),
            clock,
        }
    }
}

impl Harness for MemoryHarness {
    fn algorithm(&self) -> Algorithm {
        self.backend.algorithm()
    }

    fn backend(&self) -> Arc<dyn Backend> {
        self.backend.clone()
    }

    async fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}

crate::conformance_suite!(crate::memory::MemoryHarness::new);

/// The same suite on a backend with a cap far above what a case uses: the cap changes
/// nothing until it is reached.
mod capped {
    use super::*;

    pub(crate) struct CappedHarness(MemoryHarness);

    impl CappedHarness {
        pub(crate) async fn new(algorithm: Algorithm) -> Self {
            let clock = ManualClock::new();
            let backend = MemoryBackend::builder()
                .algorithm(algorithm)
                .max_pools(1_000)
                .clock(clock.clone())
                .build();
            Self(MemoryHarness {
                backend: Arc::new(backend),
                clock,
            })
        }
    }

    impl Harness for CappedHarness {
        fn algorithm(&self) -> Algorithm {
            self.0.algorithm()
        }

        fn backend(&self) -> Arc<dyn Backend> {
            self.0.backend()
        }

        async fn advance(&self, by: Duration) {
            self.0.advance(by).await;
        }
    }

    crate::conformance_suite!(crate::memory::capped::CappedHarness::new);
}
