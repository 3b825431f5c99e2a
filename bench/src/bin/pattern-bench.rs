//! `tapesync-pattern-bench`: filter matching throughput, the worst cases first (issue #18: a
//! backtracking matcher did not finish `*A*A*A*A*X` against one 1,500-character line in 20 s).
//! Every case is compiled with the compiler's own filter compiler and matched with
//! `Pattern::matches`, the call the runtime makes per record and rule. Prints one Markdown row
//! per case: the value's length, matches per second and characters per second (median of 5
//! rounds of at least 0.2 s each).
//!
//! `cargo run --release -p tapesync-bench --bin tapesync-pattern-bench [-- --length N]`

use std::time::{Duration, Instant};
use tapesync_compiler::compile::arguments::pattern::compile_glob;

struct Case {
    name: &'static str,
    filter: String,
    value: String,
    expect: bool,
}

fn cases(length: usize) -> Vec<Case> {
    let a = "A".repeat(length);
    let groups = "(A|a)".repeat(24);
    vec![
        Case {
            name: "worst: four `*A` then X, on A…A",
            filter: "*A*A*A*A*X".into(),
            value: a.clone(),
            expect: false,
        },
        Case {
            name: "worst: eight `*A` then X, on A…A",
            filter: "*A*A*A*A*A*A*A*A*X".into(),
            value: a.clone(),
            expect: false,
        },
        Case {
            name: "worst: 24 groups `(A|a)` then X, on A…A",
            filter: format!("*{groups}X"),
            value: a.clone(),
            expect: false,
        },
        Case {
            name: "worst: nested `*(*A|?*)` twice, on A…A",
            filter: "*(*A|?*)*(*A|?*)B".into(),
            value: a.clone(),
            expect: false,
        },
        Case {
            name: "match: `*A*A*A*A*X` on A…AX",
            filter: "*A*A*A*A*X".into(),
            value: format!("{a}X"),
            expect: true,
        },
        Case {
            name: "common: `*YEARLY*` on a report line",
            filter: "*YEARLY*".into(),
            value: format!("{} yearly backup", "x".repeat(length.saturating_sub(14))),
            expect: true,
        },
        Case {
            name: "common: `CLN*` on a volume id",
            filter: "CLN*".into(),
            value: "CLN001L6".into(),
            expect: true,
        },
        Case {
            name: "common: `??????L[4-8]` on a volume id",
            filter: "??????L[4-8]".into(),
            value: "A00001L6".into(),
            expect: true,
        },
        Case {
            name: "common: `*(OFFS|LEGL|DEST)` on a repository",
            filter: "*(OFFS|LEGL|DEST)".into(),
            value: "XLEGL".into(),
            expect: true,
        },
    ]
}

/// Matches per second: the median of 5 rounds, each repeating the match for at least 0.2 s.
fn measure(case: &Case, pattern: &tapesync_compiler::plan::Pattern) -> f64 {
    let mut rates: Vec<f64> = (0..5)
        .map(|_| {
            let started = Instant::now();
            let mut n = 0u64;
            while started.elapsed() < Duration::from_millis(200) {
                for _ in 0..16 {
                    let hit = pattern.matches(std::hint::black_box(&case.value));
                    assert_eq!(hit, case.expect, "{}", case.name);
                }
                n += 16;
            }
            n as f64 / started.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[2]
}

fn main() {
    let mut length = 1_500usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next().and_then(|v| v.parse().ok())) {
            ("--length", Some(n)) => length = n,
            _ => {
                eprintln!("usage: tapesync-pattern-bench [--length N]");
                std::process::exit(2);
            }
        }
    }
    // `|` inside a Markdown table cell must be escaped.
    let cell = |s: &str| s.replace('|', "\\|");
    println!("| case | filter | value chars | matches/s | M chars/s |");
    println!("|---|---|---:|---:|---:|");
    for case in cases(length) {
        let (pattern, _) = compile_glob(&case.filter).expect("the benchmark's filters compile");
        let rate = measure(&case, &pattern);
        let chars = case.value.chars().count();
        println!(
            "| {} | `{}` | {chars} | {rate:.0} | {:.1} |",
            cell(case.name),
            cell(&if case.filter.len() > 40 {
                format!("{}…", &case.filter[..40])
            } else {
                case.filter.clone()
            }),
            rate * chars as f64 / 1e6
        );
    }
}
