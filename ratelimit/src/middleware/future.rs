//! [`ResponseFuture`]: the response future of [`RateLimit`](super::RateLimit).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::headers::ResponseHeaders;
use super::limiter::{CheckFuture, Conclusion};

pin_project! {
    /// Response future of [`RateLimit`](super::RateLimit).
    ///
    /// A request no route matches is the inner service's future, unboxed; so is a limited
    /// request that the authenticator and the backend decide at once (the in-memory backend
    /// with a built-in authenticator). Otherwise a limited request boxes its check
    /// (authentication and backend), then runs the inner service's future.
    /// See the [module docs](super) for an example.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<B>>,
    {
        Call {
            #[pin]
            future: S::Future,
            headers: Option<Box<ResponseHeaders>>,
        },
        Check {
            check: CheckFuture<S::Response>,
            service: Option<S>,
            body: Option<B>,
        },
        Respond {
            response: Option<S::Response>,
        },
        Done,
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    pub(crate) const fn call(future: S::Future, headers: Option<Box<ResponseHeaders>>) -> Self {
        Self {
            state: State::Call { future, headers },
        }
    }

    pub(crate) const fn respond(response: S::Response) -> Self {
        Self {
            state: State::Respond {
                response: Some(response),
            },
        }
    }

    pub(crate) const fn check(check: CheckFuture<S::Response>, service: S, body: B) -> Self {
        Self {
            state: State::Check {
                check,
                service: Some(service),
                body: Some(body),
            },
        }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        if let StateProj::Call {
            future,
            headers: None,
        } = state.as_mut().project()
        {
            // Nothing to add (the common case): the inner service's answer as it is, not
            // moved through this future (a polled-to-completion future is not polled again,
            // so the state can stay), and without the frame the other states need.
            return future.poll(cx);
        }
        poll_state(state, cx)
    }
}

/// [`ResponseFuture::poll`] for every state but a call with nothing to add.
#[inline(never)]
fn poll_state<S, B, ResBody>(
    mut state: Pin<&mut State<S, B>>,
    cx: &mut Context<'_>,
) -> Poll<Result<Response<ResBody>, S::Error>>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    loop {
        match state.as_mut().project() {
            StateProj::Call { future, headers } => {
                let result = ready!(future.poll(cx));
                let headers = headers.take();
                state.set(State::Done);
                let mut response = result?;
                if let Some(headers) = headers {
                    headers.apply(&mut response);
                }
                return Poll::Ready(Ok(response));
            }
            StateProj::Check {
                check,
                service,
                body,
            } => match ready!(check.as_mut().poll(cx)) {
                (_, Conclusion::Respond(response)) => {
                    state.set(State::Done);
                    return Poll::Ready(Ok(response));
                }
                (parts, Conclusion::Proceed(headers)) => {
                    let (Some(mut service), Some(body)) = (service.take(), body.take()) else {
                        unreachable!("the service and body are taken only here");
                    };
                    let future = service.call(Request::from_parts(parts, body));
                    state.set(State::Call { future, headers });
                }
            },
            StateProj::Respond { response } => {
                let response = response.take();
                state.set(State::Done);
                if let Some(response) = response {
                    return Poll::Ready(Ok(response));
                }
            }
            StateProj::Done => panic!("`ResponseFuture` polled after it completed"),
        }
    }
}

impl<S, B> fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Call { .. } => "call",
            State::Check { .. } => "check",
            State::Respond { .. } => "respond",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
