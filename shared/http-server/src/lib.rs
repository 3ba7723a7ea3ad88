//! Serving an axum router on a local socket with the limits a production HTTP server has, so a
//! slow or idle client cannot hold the process's connections or files: a header read timeout,
//! a whole-request timeout (the body included; 408 past it), an idle timeout between requests,
//! and a cap on open connections (past it a new connection is closed at once, so the process
//! never runs out of file descriptors and frees up as soon as slow clients time out).
//! `warp dev` (API and webhook) and the HubSpot sandbox both serve through it; in AWS the
//! Lambda front ends play this part (README, "What protects the Function URL").

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;
use tower_http::timeout::TimeoutLayer;

/// The limits; [`ServerLimits::default`] suits local development and tests of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// How long a client may take to send a request's headers, from the first byte (or, on a
    /// kept-alive connection, from the previous answer): trickling does not extend it. It also
    /// closes kept-alive connections left unused that long.
    pub header_read_timeout: Duration,
    /// How long one request may take, reading its body and answering included (408 past it).
    pub request_timeout: Duration,
    /// How long a connection may stay open with nothing read or written (a backstop; must be
    /// longer than `request_timeout`, or a slow handler's connection would be cut instead of
    /// answered 408).
    pub idle_timeout: Duration,
    /// Open connections at most; further ones are closed as soon as they are accepted.
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

/// Raises this process's soft limit of open files to its hard limit (a no-op where it already
/// is): the connection cap, not the default soft limit of 1,024, should decide when to refuse.
pub fn raise_open_files_limit() {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets open connections finish
/// their requests (at most `request_timeout`) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let router = router
        .layer(axum::middleware::from_fn(read_bodies_handlers_ignore))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut last_refusal_logged: Option<Instant> = None;
    let mut refused_since_log = 0u64;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // EMFILE and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(stream);
            refused_since_log += 1;
            if last_refusal_logged.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
                tracing::warn!(
                    refused = refused_since_log,
                    max_connections = limits.max_connections,
                    "connection cap reached: connections closed on accept"
                );
                last_refusal_logged = Some(Instant::now());
                refused_since_log = 0;
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Tracked {
            inner: stream,
            activity: activity.clone(),
        });
        // The peer's address, as axum's ConnectInfo (the webhook's allow-list reads it).
        let service = TowerToHyperService::new(router.clone().map_request(
            move |request: Request<Incoming>| {
                let mut request = request.map(axum::body::Body::new);
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                request
            },
        ));
        // HTTP/1 only: hyper's header read timeout is an HTTP/1 setting, and an HTTP/2 client
        // could trickle frames forever past it. Nothing local needs HTTP/2.
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(io, service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _slot = slot;
            tokio::pin!(connection);
            let idle = limits.idle_timeout;
            loop {
                let wait = idle
                    .saturating_sub(activity.idle_for())
                    .max(Duration::from_millis(50));
                tokio::select! {
                    _ = &mut connection => return,
                    () = tokio::time::sleep(wait) => {
                        if activity.idle_for() >= idle {
                            // Dropping the connection closes the socket.
                            return;
                        }
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(limits.request_timeout, graceful.shutdown()).await;
    Ok(())
}

/// Most bytes of a body sent with a GET, HEAD, DELETE or OPTIONS that are read before the
/// handler runs (a larger one is refused with 413).
pub const IGNORED_BODY_LIMIT: usize = 1 << 20;

/// Reads the body a client sent with a request whose handler does not read one (a GET with a
/// JSON body, as some clients send) before the handler runs. Left unread, hyper closes the
/// connection after answering with those bytes still in the socket, and the kernel then resets
/// it: the client can lose the end of the answer ("connection reset" mid-body).
async fn read_bodies_handlers_ignore(
    request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{Method, header};
    let bodiless = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS
    );
    let declares_body = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|length| length.as_bytes() != b"0")
        || request.headers().contains_key(header::TRANSFER_ENCODING);
    if !(bodiless && declares_body) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, IGNORED_BODY_LIMIT).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
        Err(_) => {
            axum::response::IntoResponse::into_response(axum::http::StatusCode::PAYLOAD_TOO_LARGE)
        }
    }
}

/// When a connection last read or wrote a byte.
struct Activity {
    started: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity {
            started: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.last_ms.store(now, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }
}

/// A socket that records its activity for the idle timeout.
struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
