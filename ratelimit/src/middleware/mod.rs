//! The tower middleware: [`RateLimitLayer`] and its [`RateLimit`] service, for axum's
//! `Router::layer` and any tower stack.
//!
//! # What happens to a request
//!
//! 1. The routes whose pattern matches the request path (never the query string) are found
//!    lazily, in declaration order. The path is the whole path the client sent (axum's
//!    `OriginalUri`, when a layer inside `Router::nest` sees it stripped), and a pattern
//!    matches it as sent or percent-decoded, so that an escape cannot take a path out of its
//!    route. None: the request goes straight to the inner service,
//!    unauthenticated, with nothing allocated for it (but the [`Limiter`] extension, when it
//!    is on: see below).
//! 2. The authenticator identifies the request: once, and only then.
//! 3. The rule is the first rule, in the first matching route that has one, for the
//!    identity's group and the request's method (compared without case; a `HEAD` is taken as
//!    a `GET`, which axum answers it with, unless a rule names `HEAD`). None: the request
//!    is not limited.
//! 4. `unlimited` admits it without asking the backend; `deny` refuses it (`403 Forbidden`
//!    by default: waiting will not help); a limited rule asks the backend, counting the
//!    request in the pool of the rule's zone, or else of the request path (decoded, and past
//!    120 bytes digested: see [`Scope::Path`](crate::backend::Scope::Path)), the method the
//!    rule names (upper-cased; none when the rule takes every method) and the user.
//!
//! WebSocket upgrades are requests like any other: an admitted one reaches the inner service
//! with its extensions (hyper's upgrade handle among them).
//!
//! # Responses
//!
//! | outcome                          | default response                                   | option            |
//! |----------------------------------|----------------------------------------------------|-------------------|
//! | rate limited or blocked          | `429`, `Retry-After: <seconds>`, empty body         | [`on_blocked`]    |
//! | `deny` rule                      | `403`, empty body                                  | [`on_blocked`]    |
//! | no identity, invalid credentials | `401`, empty body                                  | [`on_auth_error`] |
//! | misconfigured authentication     | `500`, empty body, and an error log saying what to fix | [`on_auth_error`] |
//! | backend failure                  | admitted, and a warning log ([`FailurePolicy::Open`]) | [`failure_policy`], [`on_backend_error`] |
//!
//! `Retry-After` is the time until the request would be admitted, in whole seconds rounded
//! up, at least 1. [`headers`] adds rate-limit headers ([`RateLimitHeaders`]) to every
//! response of a limited rule, admitted or refused. The default responses have an empty body
//! of the inner service's response body type, which must therefore implement [`Default`]
//! (axum's `Body`, `String`, `http_body_util::Full` and `Empty` do).
//!
//! # The limiter in request extensions
//!
//! With [`limiter_extension`] on, every request the middleware passes on carries a
//! [`Limiter<ResBody>`](Limiter) in its extensions: a type-erased handle on this limiter
//! (rules, authenticator, backend and options) and the request's identity if the middleware
//! authenticated it. `#[rate_limited]` handlers run their rules with it, through
//! [`Limiter::check`]; so can your own code. It is on by default for a layer without routes
//! (`Rules::none()`, installed for the attribute's handlers) and for every layer of a program
//! that has `#[rate_limited]` handlers (they register themselves at link time); a program
//! without them pays nothing for it, and code of your own that reads the limiter turns it
//! on with `.limiter_extension(true)`.
//!
//! # Shadow mode
//!
//! A rule with `shadow` in the DSL, or every rule of a layer with
//! [`shadow(true)`](RateLimitLayer::shadow), is decided and counted exactly as if enforced (a
//! would-be refusal counts nothing, a would-be block is recorded), but never refuses: the
//! request is admitted, without rate-limit headers, and the would-be refusal is logged at
//! warn level and counted (`shadow_limited`, `shadow_denied`). `deny shadow` tries a `deny`.
//! A handler's check reports it as [`Outcome::ShadowRejected`].
//!
//! # Observing it
//!
//! Every decision of a limited route is a `tracing` event at debug level, target
//! `ratelimit::decision`, with the fields `route` (the pattern as written, or a
//! `#[rate_limited]` handler's path), `group` and `zone` (the rule's, as the rules name them)
//! and `outcome`. Warnings that a flood would repeat (a would-be refusal in shadow, a backend
//! failure admitted by [`FailurePolicy::Open`]) are written at most once per 10 s per layer,
//! with `held_back` counting the ones not written since.
//!
//! With the `metrics` feature, the same decisions go to the [`metrics`](https://docs.rs/metrics)
//! facade, so any exporter (Prometheus, OpenTelemetry, StatsD) shows them:
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `ratelimit_requests_total` | counter | `route`, `group`, `zone` (empty when none), `outcome`: `admitted`, `limited` (429, blocked included), `denied` (403), `shadow_limited`, `shadow_denied`, `unauthenticated` (group empty), `backend_error` |
//! | `ratelimit_blocks_total` | counter | `route`, `group`, `zone`: refusals that started a block |
//! | `ratelimit_backend_seconds` | histogram | `backend` (`memory`, `redis`, or a custom backend's [`name`](crate::backend::Backend::name)), `result` (`ok`, `error`, `timeout`) |
//! | `ratelimit_breaker_state` | gauge | `backend` (`redis`), and on a cluster `node` (a node's `host:port`, or `cluster` while the topology is unknown): the Redis backend's breaker, 0 closed, 1 half-open, 2 open (set when it changes) |
//!
//! No label is ever a request's path, a user id or a header's value. A layer registers each
//! counter of its routes once, on first use, and then only increments it: install the
//! recorder before serving. A `#[rate_limited]` handler's check (whose label is its path)
//! asks the facade for its counter each time. `BENCHMARKS.md` has what the feature costs a
//! request.
//!
//! # Performance
//!
//! A request no route matches costs one comparison per route (of the path's first bytes
//! with each route's, decided at compile time; see [`Rules::matching`](crate::Rules::matching)),
//! allocates nothing (the [`Limiter`] extension, when on, costs an `Arc` clone and its box),
//! and runs the inner service's future unboxed.
//!
//! A limited request whose authenticator and backend decide at once
//! ([`Authenticate::authenticate_now`](crate::auth::Authenticate::authenticate_now),
//! [`Backend::decide_now`](crate::backend::Backend::decide_now): the built-in `HeaderAuth`,
//! `ClientIp` and `JwtAuth` with the [`MemoryBackend`](crate::backend::MemoryBackend)) is
//! decided inside `Service::call`, from its head borrowed as it is (a
//! [`RequestHead`](crate::auth::RequestHead): the request is not taken apart and put back
//! together): nothing is boxed, the readied inner service is called at once, and with
//! `HeaderAuth` or `ClientIp` nothing is allocated for a user id of up to 24 bytes, kept
//! inline (`JwtAuth` allocates while decoding its token; the extension, when on, is boxed).
//! Otherwise (an `async fn` authenticator, the Redis backend) a limited request allocates two
//! boxes, the check's future and the pipeline's wait for the authenticator or the backend in
//! it (plus what the authenticator and backend allocate, and the extension), then runs the
//! inner service's future in place. All three
//! are tested by counting allocations. `BENCHMARKS.md` has the figures.
//!
//! # Example: axum
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use http::{Request, StatusCode, request::Parts};
//! use ratelimit::auth::{AuthError, Identity};
//! use ratelimit::middleware::{RateLimitHeaders, RateLimitLayer};
//! use ratelimit::{Rules, ratelimit};
//! use tower::ServiceExt;
//! # use support::OnePerWindow;
//!
//! static RULES: Rules = ratelimit! {
//!     "^/towns"  => [second = 1, unlimited @admin],
//!     "^/banned" => [deny],
//! };
//!
//! /// Users name themselves in `X-User`; a real service checks a token or a session.
//! async fn authenticate(head: &Parts) -> Result<Identity, AuthError> {
//!     let user = head.headers.get("x-user").and_then(|user| user.to_str().ok());
//!     let user = user.ok_or(AuthError::MissingIdentity("no `X-User` header".into()))?;
//!     Ok(Identity::new(user))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = Router::new()
//!     .route("/towns", get(|| async { "towns" }))
//!     .route("/", get(|| async { "home" }))
//!     .layer(
//!         RateLimitLayer::new(RULES, authenticate, OnePerWindow::default())
//!             .headers(RateLimitHeaders::Ietf),
//!     );
//!
//! let request = || Request::get("/towns").header("x-user", "alice").body(Body::empty()).unwrap();
//! let first = app.clone().oneshot(request()).await.unwrap();
//! assert_eq!(first.status(), StatusCode::OK);
//! assert_eq!(first.headers()["ratelimit"], r#""second";r=0;t=1"#);
//!
//! let second = app.clone().oneshot(request()).await.unwrap();
//! assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
//! assert_eq!(second.headers()["retry-after"], "1");
//!
//! // No route matches `/`: not limited, and not authenticated either.
//! let home = app.oneshot(Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(home.status(), StatusCode::OK);
//! # }
//! # mod support {
//! #     use std::{collections::HashSet, sync::Mutex, time::Duration};
//! #     use ratelimit::backend::*;
//! #     /// Admits the first request of each pool, then refuses for a second.
//! #     #[derive(Default)]
//! #     pub struct OnePerWindow(Mutex<HashSet<String>>);
//! #     impl Backend for OnePerWindow {
//! #         fn decide<'a>(&'a self, request: &'a DecisionRequest<'a>) -> DecisionFuture<'a> {
//! #             let limit = request.limits[0];
//! #             let fresh = self.0.lock().unwrap().insert(format!("{:?}", request.pool));
//! #             DecisionFuture::ready(Ok(if fresh {
//! #                 Decision::Allow(Quota { limit, remaining: limit.count() - 1, reset: limit.window(), counted_at: 0 })
//! #             } else {
//! #                 Decision::Deny(Denial { retry_after: Duration::from_millis(400), cause: DenialCause::Limit(limit) })
//! #             }))
//! #         }
//! #     }
//! # }
//! ```
//!
//! # Example: any tower stack, with custom responses
//!
//! ```
//! use std::convert::Infallible;
//!
//! use http::{Request, Response, StatusCode, header::RETRY_AFTER};
//! use ratelimit::auth::{AuthError, Identity};
//! use ratelimit::middleware::{FailurePolicy, RateLimitLayer, Rejection};
//! use ratelimit::{Rules, ratelimit};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! # use support::OnePerWindow;
//!
//! type Body = String;
//!
//! static RULES: Rules = ratelimit! { "^/api" => [minute = 1 zone = "api"] };
//!
//! fn slow_down(rejection: &Rejection) -> Response<Body> {
//!     let mut response = Response::new(format!(
//!         "the {} group may make {} requests",
//!         rejection.group(),
//!         rejection.limit().map_or("no more".into(), |limit| limit.to_string()),
//!     ));
//!     *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
//!     if let Some(secs) = rejection.retry_after_secs() {
//!         response.headers_mut().insert(RETRY_AFTER, secs.into());
//!     }
//!     response
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let service = ServiceBuilder::new()
//!     .layer(
//!         RateLimitLayer::new(
//!             RULES,
//!             |_: &http::request::Parts| async { Ok::<_, AuthError>(Identity::new("everyone")) },
//!             OnePerWindow::default(),
//!         )
//!         .on_blocked(slow_down)
//!         .failure_policy(FailurePolicy::Closed),
//!     )
//!     .service(service_fn(|_: Request<()>| async {
//!         Ok::<_, Infallible>(Response::new(Body::from("hello")))
//!     }));
//!
//! let response = service.clone().oneshot(Request::get("/api/a").body(())?).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! // `/api/b` counts in the same zone as `/api/a`.
//! let response = service.oneshot(Request::get("/api/b").body(())?).await?;
//! assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
//! assert_eq!(response.headers()[RETRY_AFTER], "1");
//! # Ok(())
//! # }
//! # mod support {
//! #     use std::{collections::HashSet, sync::Mutex, time::Duration};
//! #     use ratelimit::backend::*;
//! #     #[derive(Default)]
//! #     pub struct OnePerWindow(Mutex<HashSet<String>>);
//! #     impl Backend for OnePerWindow {
//! #         fn decide<'a>(&'a self, request: &'a DecisionRequest<'a>) -> DecisionFuture<'a> {
//! #             let limit = request.limits[0];
//! #             let fresh = self.0.lock().unwrap().insert(format!("{:?}", request.pool));
//! #             DecisionFuture::ready(Ok(if fresh {
//! #                 Decision::Allow(Quota { limit, remaining: limit.count() - 1, reset: limit.window(), counted_at: 0 })
//! #             } else {
//! #                 Decision::Deny(Denial { retry_after: Duration::from_millis(400), cause: DenialCause::Limit(limit) })
//! #             }))
//! #         }
//! #     }
//! # }
//! ```
//!
//! [`on_blocked`]: RateLimitLayer::on_blocked
//! [`on_auth_error`]: RateLimitLayer::on_auth_error
//! [`failure_policy`]: RateLimitLayer::failure_policy
//! [`on_backend_error`]: RateLimitLayer::on_backend_error
//! [`headers`]: RateLimitLayer::headers
//! [`limiter_extension`]: RateLimitLayer::limiter_extension

mod future;
mod give_back;
mod headers;
mod layer;
mod limiter;
mod live;
mod observe;
mod pipeline;
mod rejection;
mod response;
mod service;

#[cfg(all(test, feature = "macros"))]
mod tests;

pub use future::ResponseFuture;
pub use headers::RateLimitHeaders;
pub use layer::RateLimitLayer;
pub use limiter::{CheckError, Limiter, Outcome};
pub use live::RulesHandle;
pub use rejection::{Rejection, RejectionCause};
pub use response::FailurePolicy;
pub use service::RateLimit;
