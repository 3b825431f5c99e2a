//! `cargo run --release -p tapesync-compiler --example check_file -- FILE [N]`: compiles a
//! definition N times (default 1) and prints the short diagnostics once — the work of
//! `tapesync check` without the command line around it, for timing the front end.

use std::path::PathBuf;
use std::time::Instant;
use tapesync_compiler::{compile_path, render_short, CompileOptions};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next().map(PathBuf::from) else {
        eprintln!("usage: check_file FILE [N]");
        std::process::exit(2);
    };
    let n: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1).max(1);
    let options = CompileOptions::default();
    let mut times = Vec::with_capacity(n as usize);
    let mut last = None;
    for _ in 0..n {
        let start = Instant::now();
        let c = compile_path(&path, &options);
        let _ = render_short(&c);
        times.push(start.elapsed());
        last = Some(c);
    }
    if let Some(c) = last {
        print!("{}", render_short(&c));
        times.sort();
        eprintln!(
            "{} runs: median {:?}, min {:?}, max {:?}",
            n,
            times[times.len() / 2],
            times[0],
            times[times.len() - 1]
        );
        if c.has_errors() {
            std::process::exit(1);
        }
    }
}
