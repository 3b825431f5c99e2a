//! Slow and idle clients against the real `tapesync serve`: a half-sent request head and an
//! idle keep-alive connection are closed after the header timeout, the number of connections
//! served at once is bounded, and SIGTERM ends the server within its shutdown grace even with
//! such a client connected.

use crate::server_support::Server;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

/// Connects and sends the start of a request head that never ends.
fn half_sent(server: &Server) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .unwrap();
    stream
}

/// Seconds until the server closes `stream` (reads to the end), or `None` within `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

/// A GET /healthz on `stream`: whether its answer came within `limit`.
fn answered_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 1024];
    matches!(stream.read(&mut buf), Ok(n) if n > 0 && buf.starts_with(b"HTTP/1.1 200"))
}

#[test]
fn half_sent_heads_and_idle_connections_are_closed_after_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path().join("t.db"), 0, &["--header-timeout", "1"]);
    let mut slow = half_sent(&server);
    let mut idle = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    assert!(answered_within(&mut idle, Duration::from_secs(5)));
    for (name, stream) in [
        ("half-sent head", &mut slow),
        ("idle keep-alive", &mut idle),
    ] {
        let closed = closed_within(stream, Duration::from_secs(10));
        assert!(
            closed.is_some(),
            "the {name} connection was still open after 10 s"
        );
    }
}

#[test]
fn connections_beyond_the_bound_wait_for_a_free_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path().join("t.db"),
        0,
        &["--max-connections", "3", "--header-timeout", "60"],
    );
    let mut held: Vec<TcpStream> = (0..3).map(|_| half_sent(&server)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut waiting = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    assert!(
        !answered_within(&mut waiting, Duration::from_millis(1500)),
        "a fourth connection was served while three were held"
    );
    drop(held.pop());
    let mut buf = [0u8; 1024];
    waiting
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let n = waiting.read(&mut buf).unwrap_or(0);
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "the waiting connection was not served once one was free: {:?}",
        String::from_utf8_lossy(&buf[..n])
    );
}

#[test]
fn sigterm_ends_the_server_within_its_grace_despite_a_slow_client() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_with(
        dir.path().join("t.db"),
        0,
        &["--header-timeout", "60", "--shutdown-grace", "1"],
    );
    let _slow = half_sent(&server);
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(8),
            "the server was still running 8 s after SIGTERM with a 1 s grace"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
