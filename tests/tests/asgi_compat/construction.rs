//! `test_invalid_init_config`: what the original rejects when the middleware is built
//! (`RateLimitMiddleware(…)`), our port rejects when the program is compiled.
//!
//! | original                                         | here                                     |
//! |--------------------------------------------------|------------------------------------------|
//! | `{r"??.*": [Rule(group="admin")]}`: `re.error`   | a compile error at the pattern: `ui/ratelimit/fail/invalid_regex.rs` |
//! | `authenticate="123"`: `ValueError`               | `&str` is not an `Authenticate`          |
//! | `backend=None`: `AssertionError`                 | `Option<MemoryBackend>` is not a `Backend` |
//!
//! And a limit of 0, which the original accepts (refusing every request) and we reject with
//! a hint to write `deny`: `ui/ratelimit/fail/count_zero.rs`.
//!
//! The rules' errors are the ui suite's compile-fail cases (`tests/ui/ratelimit/fail/`, run
//! by `tests/ui.rs`), with their reviewed `.stderr`: not repeated here. The two type errors
//! are rustc's own `E0277`, whose text lists the trait's implementors and so changes whenever
//! one is added; they are checked here by asking the compiler whether the types implement the
//! traits (autoref specialisation), with the types that do as controls.

use std::marker::PhantomData;

use http::request::Parts;
use ratelimit::auth::{AuthError, Authenticate, Identity};
use ratelimit::backend::{Backend, MemoryBackend};

/// Whether `T` implements the traits, decided by the compiler: the method of the trait
/// implemented for `Probe<T>` under the bound wins when it applies; the fallback for
/// `&Probe<T>` (one more autoref) otherwise.
struct Probe<T>(PhantomData<T>);

fn probe<T>(_: &T) -> Probe<T> {
    Probe(PhantomData)
}

/// `$probe` (`is_backend` or `is_authenticate`) of `$value`'s type: always called on
/// `&Probe<T>`, so that the fallback is one autoref further.
macro_rules! implements {
    ($value:expr, $probe:ident) => {{
        let probe = probe(&$value);
        #[allow(clippy::needless_borrow, reason = "the explicit borrow is the probe")]
        let answer = (&probe).$probe();
        answer
    }};
}

trait IsBackend {
    fn is_backend(&self) -> bool {
        true
    }
}
impl<T: Backend> IsBackend for Probe<T> {}

trait NotBackend {
    fn is_backend(&self) -> bool {
        false
    }
}
impl<T> NotBackend for &Probe<T> {}

trait IsAuthenticate {
    fn is_authenticate(&self) -> bool {
        true
    }
}
impl<T: Authenticate> IsAuthenticate for Probe<T> {}

trait NotAuthenticate {
    fn is_authenticate(&self) -> bool {
        false
    }
}
impl<T> NotAuthenticate for &Probe<T> {}

/// `test_core.auth_func`'s signature.
async fn auth_func(_: &Parts) -> Result<Identity, AuthError> {
    Ok(Identity::new("user"))
}

#[test]
fn test_invalid_init_config_authenticate_not_a_function() {
    assert!(!implements!("123", is_authenticate));
    // The control: an async function is an authenticator.
    assert!(implements!(auth_func, is_authenticate));
}

#[test]
fn test_invalid_init_config_backend_none() {
    assert!(!implements!(None::<MemoryBackend>, is_backend));
    // The control: a memory backend is a backend.
    assert!(implements!(MemoryBackend::new(), is_backend));
}
