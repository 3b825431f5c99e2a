//! Memory of a running `tapesync serve` under a flood of huge logon bodies, which anyone can
//! send without a token (issue #18: 48 concurrent 60 MB logons held the server at 2.75 GB when
//! logons could carry 64 MiB). Sends CLIENTS logons at once, each announcing SIZE bytes and
//! streaming them in 64 KiB pieces until the server answers or closes; half announce a
//! `Content-Length`, half send chunked. Meanwhile it samples the server's resident memory
//! (`/proc/PID/status`, Linux) and prints it before, at its peak and after, with the answers.
//!
//! ```sh
//! tapesync serve --store /tmp/flood.db --listen 127.0.0.1:8740 &
//! cargo run --release -p tapesync-server --example logon_flood -- http://127.0.0.1:8740 $! [CLIENTS] [SIZE]
//! ```

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: logon_flood URL SERVER_PID [CLIENTS=48] [SIZE=60000000]");
        std::process::exit(2);
    }
    let address = args[1].trim_start_matches("http://").to_string();
    let pid: u32 = args[2].parse()?;
    let clients: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(48);
    let size: usize = args
        .get(4)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(60_000_000);

    let before = resident_kib(pid)?;
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(resident_kib(pid).unwrap_or(0));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    let started = Instant::now();
    let senders: Vec<_> = (0..clients)
        .map(|i| {
            let address = address.clone();
            std::thread::spawn(move || flood_one(&address, size, i % 2 == 0))
        })
        .collect();
    let mut answers: BTreeMap<String, usize> = BTreeMap::new();
    let mut sent_total = 0usize;
    for s in senders {
        let (answer, sent) = s.join().expect("sender thread");
        *answers.entry(answer).or_default() += 1;
        sent_total += sent;
    }
    let elapsed = started.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    done.store(true, Ordering::Relaxed);
    let peak = sampler.join().expect("sampler thread");
    let after = resident_kib(pid)?;
    println!(
        "{clients} logons announcing {size} bytes each: answered in {:.2} s, {:.1} MiB sent in all",
        elapsed.as_secs_f64(),
        sent_total as f64 / 1048576.0
    );
    for (answer, n) in &answers {
        println!("  {n} × {answer}");
    }
    println!(
        "server resident memory: {:.1} MiB before, {:.1} MiB at the peak, {:.1} MiB after",
        before as f64 / 1024.0,
        peak.max(before) as f64 / 1024.0,
        after as f64 / 1024.0
    );
    Ok(())
}

/// One logon with a body of `size` bytes; returns the status line it got and how much it sent.
fn flood_one(address: &str, size: usize, announce_length: bool) -> (String, usize) {
    let Ok(mut stream) = TcpStream::connect(address) else {
        return ("no connection".into(), 0);
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let head = if announce_length {
        format!("POST /api/v1/logon HTTP/1.1\r\nHost: flood\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n")
    } else {
        "POST /api/v1/logon HTTP/1.1\r\nHost: flood\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_string()
    };
    if stream.write_all(head.as_bytes()).is_err() {
        return ("refused the head".into(), 0);
    }
    // A JSON string that never ends: the body is valid up to wherever the server stops.
    let mut piece = [b'a'; 64 * 1024];
    piece[..10].copy_from_slice(b"{\"user\": \"");
    let mut sent = 0;
    while sent < size {
        let n = piece.len().min(size - sent);
        let ok = if announce_length {
            stream.write_all(&piece[..n])
        } else {
            stream
                .write_all(format!("{n:x}\r\n").as_bytes())
                .and_then(|_| stream.write_all(&piece[..n]))
                .and_then(|_| stream.write_all(b"\r\n"))
        };
        if ok.is_err() {
            break; // the server answered and closed
        }
        sent += n;
        piece[..10].fill(b'a');
    }
    if !announce_length {
        let _ = stream.write_all(b"0\r\n\r\n");
    }
    let mut answer = [0u8; 256];
    let n = stream.read(&mut answer).unwrap_or(0);
    let status = String::from_utf8_lossy(&answer[..n])
        .lines()
        .next()
        .unwrap_or("no answer")
        .to_string();
    let how = if announce_length {
        "Content-Length"
    } else {
        "chunked"
    };
    (format!("{status} ({how})"), sent)
}

fn resident_kib(pid: u32) -> Result<u64, Box<dyn std::error::Error>> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or("no VmRSS line")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .ok_or("no VmRSS value")?
        .parse()?)
}
