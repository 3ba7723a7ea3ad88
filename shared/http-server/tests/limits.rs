//! The limits through real sockets on 127.0.0.1: slow and idle clients are cut off, the
//! connection cap closes extra connections without stopping the server, and ordinary requests
//! are answered all along.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{get, post};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use warp_http_server::{ServerLimits, serve};

const LIMITS: ServerLimits = ServerLimits {
    header_read_timeout: Duration::from_millis(400),
    request_timeout: Duration::from_millis(600),
    idle_timeout: Duration::from_millis(800),
    max_connections: 64,
};

async fn start(limits: ServerLimits) -> std::net::SocketAddr {
    let router = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/echo", post(|body: String| async move { body }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, router, limits, std::future::pending()));
    addr
}

/// Waits until the server closes `stream` (EOF or reset); answers what it sent first.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    let read = tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&received).into_owned())
}

async fn health(addr: std::net::SocketAddr) -> Option<String> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .await
        .ok()?;
    until_closed(&mut stream, Duration::from_secs(3)).await
}

#[tokio::test]
async fn slow_headers_slow_bodies_and_idle_connections_are_closed() {
    let addr = start(LIMITS).await;
    let mut slow_headers = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /health HTTP/1.1\r\nhost: t\r\nx-slow: ")
            .await
            .unwrap();
        slow_headers.push(stream);
    }
    let mut slow_bodies = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 100\r\n\r\nonly-part")
            .await
            .unwrap();
        slow_bodies.push(stream);
    }
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // Meanwhile an ordinary request is answered.
    assert!(health(addr).await.unwrap().contains("200 OK"));

    let started = Instant::now();
    for stream in slow_headers.iter_mut().chain(idle.iter_mut()) {
        assert!(
            until_closed(stream, Duration::from_secs(3)).await.is_some(),
            "a slow or idle connection was kept open"
        );
    }
    for stream in &mut slow_bodies {
        let answer = until_closed(stream, Duration::from_secs(3))
            .await
            .expect("a slow body was kept open");
        assert!(answer.is_empty() || answer.contains("408"), "{answer}");
    }
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn trickled_headers_are_cut_off_at_the_header_timeout() {
    let addr = start(LIMITS).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nhost: t\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    // A byte every 100 ms: well inside the idle timeout, so only the header deadline can end it.
    let mut cut_off = false;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if stream.write_all(b"x").await.is_err() {
            cut_off = true;
            break;
        }
        let mut probe = [0u8; 64];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(1), stream.read(&mut probe)).await
        {
            cut_off = true;
            break;
        }
    }
    assert!(cut_off, "a trickling client kept its connection for 3 s");
    assert!(started.elapsed() < LIMITS.idle_timeout + Duration::from_millis(500));
}

#[tokio::test]
async fn past_the_cap_new_connections_are_closed_and_the_server_recovers() {
    let addr = start(LIMITS).await;
    let mut held = Vec::new();
    for _ in 0..LIMITS.max_connections {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /health HTTP/1.1\r\nhost: t\r\n")
            .await
            .unwrap();
        held.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The cap is reached: one more is closed at once, unanswered.
    let mut extra = TcpStream::connect(addr).await.unwrap();
    let _ = extra
        .write_all(b"GET /health HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .await;
    let answer = until_closed(&mut extra, Duration::from_millis(300)).await;
    assert_eq!(answer.as_deref(), Some(""), "over the cap: {answer:?}");
    // Once the slow ones time out, the server answers again.
    tokio::time::sleep(LIMITS.header_read_timeout + Duration::from_millis(300)).await;
    assert!(health(addr).await.unwrap().contains("200 OK"));
    drop(held);
}

#[tokio::test]
async fn keep_alive_requests_within_the_idle_timeout_are_served() {
    let addr = start(LIMITS).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    for _ in 0..3 {
        stream
            .write_all(b"GET /health HTTP/1.1\r\nhost: t\r\n\r\n")
            .await
            .unwrap();
        let mut buffer = [0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buffer))
            .await
            .unwrap()
            .unwrap();
        assert!(String::from_utf8_lossy(&buffer[..n]).contains("200 OK"));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn a_body_sent_with_a_get_is_read_so_the_answer_arrives_whole_and_the_connection_stays_open()
{
    let big = "x".repeat(200_000);
    let router = Router::new().route("/big", get(move || async move { big.clone() }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, router, LIMITS, std::future::pending()));
    let mut stream = TcpStream::connect(addr).await.unwrap();
    for _ in 0..2 {
        // As HTTP clients do: the headers, then the body in a write of its own.
        stream
            .write_all(b"GET /big HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        stream.write_all(b"{}").await.unwrap();
        let mut received = Vec::new();
        let mut buffer = [0u8; 65_536];
        while !received.ends_with(&[b'x'; 16]) || received.len() < 200_000 {
            let n = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buffer))
                .await
                .expect("the answer arrives")
                .expect("the connection is not reset");
            assert!(
                n > 0,
                "the connection was closed after {} bytes",
                received.len()
            );
            received.extend_from_slice(&buffer[..n]);
        }
        let text = String::from_utf8_lossy(&received);
        assert!(text.starts_with("HTTP/1.1 200"), "{}", &text[..80]);
        assert!(text.contains("content-length: 200000"), "{}", &text[..200]);
    }
    // A body over the limit is refused, not read forever.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let over = warp_http_server::IGNORED_BODY_LIMIT + 1;
    stream
        .write_all(format!("GET /big HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-length: {over}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    stream.write_all(&vec![b'y'; over]).await.ok();
    let answer = until_closed(&mut stream, Duration::from_secs(3))
        .await
        .unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:.80}");
}
