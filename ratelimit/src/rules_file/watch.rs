//! [`RulesWatcher`]: a rules file reloaded into a live layer when it changes.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use super::{RulesFileError, read_rules_file};
use crate::middleware::RulesHandle;
use crate::rules::Rules;

/// How long the watcher waits after a change for more changes before it reads the file: an
/// editor's or a deploy tool's several writes make one reload.
const SETTLE: Duration = Duration::from_millis(100);

/// Watches a rules file and reloads it into a layer whenever it changes.
///
/// The watcher watches the file's directory, not the file: it sees an editor that truncates
/// and rewrites the file, a deploy tool that writes a new file and renames it over the old
/// one (the old file's watch would be lost with it), and a link switched to another file (a
/// Kubernetes ConfigMap). After a change (and 100 ms without another) it reads the file; if
/// the bytes differ from those last loaded, it parses them:
///
/// - valid rules replace the layer's, atomically (see [`RulesHandle::replace`]); the counts
///   of every pool and window the new rules keep go on;
/// - invalid rules are not loaded: the rules in force stay, and each mistake is logged
///   (`tracing::error!`) as `FILE:LINE:COL: message`; so is a file that cannot be read;
/// - an empty file is taken for a write in progress and ignored (a file meant to limit
///   nothing can hold a comment).
///
/// [`reload`](Self::reload) does the same on demand (on `SIGHUP`, say). The watching stops
/// when the watcher is dropped.
///
/// ```no_run
/// use axum::Router;
/// use ratelimit::auth::ClientIp;
/// use ratelimit::backend::MemoryBackend;
/// use ratelimit::rules_file::RulesWatcher;
/// use ratelimit::{RateLimitLayer, Rules};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let rules = Rules::from_file("limits.rl")?;
/// let (layer, handle) =
///     RateLimitLayer::new(rules, ClientIp::new(), MemoryBackend::new()).reloadable();
/// let watcher = RulesWatcher::new("limits.rl", handle)?;
/// let app: Router = Router::new().layer(layer);
/// // … serve `app`, keeping `watcher` alive.
/// # drop((app, watcher));
/// # Ok(())
/// # }
/// ```
pub struct RulesWatcher {
    reloader: Arc<Reloader>,
    _watcher: RecommendedWatcher,
}

/// The file, the layer, and the bytes last read.
struct Reloader {
    path: PathBuf,
    handle: RulesHandle,
    /// The file's bytes at the last reload, valid or not: the same bytes again are not
    /// parsed (nor their errors logged) again.
    last_read: Mutex<Option<Vec<u8>>>,
}

impl RulesWatcher {
    /// Watches `path`, reloading it into the layer of `handle`; loads it once now (an invalid
    /// file is logged, and the layer keeps its rules).
    ///
    /// # Errors
    ///
    /// When the file's directory cannot be watched (it does not exist, or the system's
    /// watches are exhausted).
    pub fn new(path: impl Into<PathBuf>, handle: RulesHandle) -> Result<Self, notify::Error> {
        let path = path.into();
        let reloader = Arc::new(Reloader {
            path,
            handle,
            last_read: Mutex::new(None),
        });
        let (changed, changes) = mpsc::channel::<()>();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
            if event.is_ok_and(|event| is_change(&event.kind)) {
                let _ = changed.send(());
            }
        })?;
        watcher.watch(&directory_of(&reloader.path), RecursiveMode::NonRecursive)?;
        let _logged = reloader.reload_and_log();
        let background = Arc::clone(&reloader);
        thread::Builder::new()
            .name("ratelimit-rules-watcher".to_owned())
            .spawn(move || {
                // Ends when the watcher (and so the sender in its handler) is dropped.
                while changes.recv().is_ok() {
                    loop {
                        match changes.recv_timeout(SETTLE) {
                            Ok(()) => {}
                            Err(RecvTimeoutError::Timeout) => break,
                            Err(RecvTimeoutError::Disconnected) => return,
                        }
                    }
                    let _logged = background.reload_and_log();
                }
            })
            .map_err(|err| notify::Error::io(err).add_path(reloader.path.clone()))?;
        Ok(Self {
            reloader,
            _watcher: watcher,
        })
    }

    /// Reads the file now and loads it if it changed since it was last read: `Ok(true)` when
    /// the layer's rules were replaced, `Ok(false)` when the file is as last read (valid or
    /// not) or empty. Logs as the watcher does.
    ///
    /// # Errors
    ///
    /// When the file cannot be read or its rules are not valid: the layer keeps its rules.
    pub fn reload(&self) -> Result<bool, RulesFileError> {
        self.reloader.reload_and_log()
    }

    /// The file watched.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.reloader.path
    }
}

impl fmt::Debug for RulesWatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RulesWatcher")
            .field("path", &self.reloader.path)
            .finish_non_exhaustive()
    }
}

impl Reloader {
    fn reload_and_log(&self) -> Result<bool, RulesFileError> {
        let result = self.reload();
        match &result {
            Ok(true) => tracing::info!(
                file = %self.path.display(),
                "rate-limit rules reloaded"
            ),
            Ok(false) => {}
            Err(error) => {
                for line in error.log_lines() {
                    tracing::error!("{line}");
                }
                tracing::error!(
                    file = %self.path.display(),
                    "rate-limit rules not reloaded; the rules in force stay"
                );
            }
        }
        result
    }

    fn reload(&self) -> Result<bool, RulesFileError> {
        // One reload at a time: the watcher's and `reload`'s.
        let mut last_read = crate::lock(&self.last_read);
        let bytes = read_rules_file(&self.path)?;
        if bytes.is_empty() || last_read.as_deref() == Some(&bytes[..]) {
            return Ok(false);
        }
        *last_read = Some(bytes.clone());
        let rules = Rules::parse_bytes(&bytes).map_err(|error| RulesFileError::Invalid {
            path: self.path.clone(),
            bytes,
            error,
        })?;
        self.handle.replace(rules);
        Ok(true)
    }
}

/// Whether an event in the directory may have changed the file: anything but a read.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// The directory holding `path` (`.` for a bare file name).
fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}
