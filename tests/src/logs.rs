//! What a test's thread logs through `tracing`, for the tests that count log lines.
//!
//! One subscriber, the process's global one, hands each event to the [`Logs`] of the thread
//! that writes it: a `#[tokio::test]` runs its futures on its own thread, and so does a server
//! started on its (current-thread) runtime. Scoped subscribers (`set_default`) are not used:
//! tracing caches for every thread whether a callsite is enabled, and a test setting or
//! dropping one while another test's event registers can leave an event unrecorded. This
//! subscriber is asked on every event instead (`Interest::sometimes`), and answers for the
//! thread asking.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex, Once, PoisonError};

use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata};

/// One event: its level and target, its message, and its other fields as ` name=value`.
#[derive(Clone, Debug)]
pub struct Line {
    /// Its level.
    pub level: Level,
    /// Its target (the module that logged it, unless it named another).
    pub target: String,
    /// Its message (its `message` field).
    pub message: String,
    /// Its other fields, each as ` name=value` (`Debug` of the value).
    pub fields: String,
}

impl Line {
    /// Whether it is at `level` or more severe (`INFO`: info, warnings and errors).
    #[must_use]
    pub fn at_least(&self, level: Level) -> bool {
        self.level <= level
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}{}",
            self.level, self.target, self.message, self.fields
        )
    }
}

/// The lines this thread logs from [`capture`](Self::capture) until it is dropped.
#[derive(Debug)]
pub struct Logs {
    lines: Arc<Mutex<Vec<Line>>>,
}

thread_local! {
    static CAPTURING: RefCell<Option<Arc<Mutex<Vec<Line>>>>> = const { RefCell::new(None) };
}

impl Logs {
    /// Starts keeping what this thread logs (installing the global subscriber on first use).
    ///
    /// # Panics
    ///
    /// If another global subscriber is installed in this process.
    #[must_use]
    pub fn capture() -> Self {
        static INSTALLED: Once = Once::new();
        INSTALLED.call_once(|| {
            tracing::subscriber::set_global_default(ToTheThreadsLogs)
                .expect("no other global subscriber in a test binary that captures logs");
        });
        // A callsite that registered before the subscriber was installed is asked again.
        tracing::callsite::rebuild_interest_cache();
        let lines = Arc::default();
        CAPTURING.with(|capturing| *capturing.borrow_mut() = Some(Arc::clone(&lines)));
        Self { lines }
    }

    /// Every line kept so far.
    #[must_use]
    pub fn lines(&self) -> Vec<Line> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for Logs {
    fn drop(&mut self) {
        CAPTURING.with(|capturing| capturing.borrow_mut().take());
    }
}

/// The global subscriber of [`Logs`].
struct ToTheThreadsLogs;

impl tracing::Subscriber for ToTheThreadsLogs {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        CAPTURING.with(|capturing| capturing.borrow().is_some())
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &Event<'_>) {
        struct Fields(String, String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
                if field.name() == "message" {
                    let _ = write!(self.0, "{value:?}");
                } else {
                    let _ = write!(self.1, " {}={value:?}", field.name());
                }
            }
        }
        let mut fields = Fields(String::new(), String::new());
        event.record(&mut fields);
        let metadata = event.metadata();
        let line = Line {
            level: *metadata.level(),
            target: metadata.target().to_owned(),
            message: fields.0,
            fields: fields.1,
        };
        CAPTURING.with(|capturing| {
            if let Some(lines) = &*capturing.borrow() {
                lines
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            }
        });
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
