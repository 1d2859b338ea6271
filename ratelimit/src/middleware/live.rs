//! Rules replaced while a layer serves: where a layer's services find its state, and the
//! [`RulesHandle`] that replaces its rules.
//!
//! A layer's state ([`Shared`]: the rules, what is derived from them, and the authenticator,
//! backend and options) is fixed, or, once the layer is made
//! [`reloadable`](super::RateLimitLayer::reloadable), held in an [`ArcSwap`]: a request
//! loads the state in force once (no lock, no reference count of its own on the common
//! path) and runs wholly on it, so it sees the old rules or the new ones, never a mix. The
//! backend (and so every count) and the throttles of the warnings are shared by every state
//! of a layer.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::limiter::Shared;
use crate::rules::Rules;

/// Where the services of a layer find its state.
pub(crate) enum Source<ResBody> {
    /// Rules for the life of the layer.
    Fixed(Arc<Shared<ResBody>>),
    /// Rules a [`RulesHandle`] replaces.
    Live(Arc<ArcSwap<Shared<ResBody>>>),
}

impl<ResBody> Source<ResBody> {
    /// The state in force now.
    pub(crate) fn current(&self) -> Arc<Shared<ResBody>> {
        match self {
            Self::Fixed(shared) => Arc::clone(shared),
            Self::Live(live) => live.load_full(),
        }
    }
}

impl<ResBody> Clone for Source<ResBody> {
    fn clone(&self) -> Self {
        match self {
            Self::Fixed(shared) => Self::Fixed(Arc::clone(shared)),
            Self::Live(live) => Self::Live(Arc::clone(live)),
        }
    }
}

/// Replaces the rules of a [`reloadable`](super::RateLimitLayer::reloadable) layer while it
/// serves. Cheap to clone; every clone acts on the same layer (and every clone of it).
///
/// ```
/// use ratelimit::auth::ClientIp;
/// use ratelimit::backend::MemoryBackend;
/// use ratelimit::{RateLimitLayer, Rules, ratelimit};
///
/// let strict = ratelimit! { "^/api" => [second = 1] };
/// let relaxed = ratelimit! { "^/api" => [second = 100] };
/// let (layer, handle) = RateLimitLayer::<axum::body::Body>::new(
///     strict,
///     ClientIp::new(),
///     MemoryBackend::new(),
/// )
/// .reloadable();
/// handle.replace(relaxed);
/// assert_eq!(layer.rules().routes()[0].rules()[0].limits()[0].count(), 100);
/// ```
#[derive(Clone)]
pub struct RulesHandle {
    target: Arc<dyn Replace>,
}

impl RulesHandle {
    pub(crate) fn new<ResBody: 'static>(live: Arc<ArcSwap<Shared<ResBody>>>) -> Self {
        Self { target: live }
    }

    /// Replaces the layer's rules, atomically: a request already being checked finishes on
    /// the rules it started with, every later one is checked on `rules`. The backend stays:
    /// a pool and window that `rules` keep (the same zone or path, method, user and window)
    /// keep their counts. The layer's options stay as they are.
    pub fn replace(&self, rules: Rules) {
        self.target.replace(rules);
    }

    /// The rules in force.
    #[must_use]
    pub fn rules(&self) -> Rules {
        self.target.rules()
    }
}

impl fmt::Debug for RulesHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RulesHandle")
            .field("rules", &self.rules())
            .finish()
    }
}

/// A live layer's state, its response body type erased.
trait Replace: Send + Sync {
    fn replace(&self, rules: Rules);
    fn rules(&self) -> Rules;
}

impl<ResBody: 'static> Replace for ArcSwap<Shared<ResBody>> {
    fn replace(&self, rules: Rules) {
        self.rcu(|current| current.with_rules(rules));
    }

    fn rules(&self) -> Rules {
        self.load().rules
    }
}
