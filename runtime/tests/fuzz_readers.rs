//! A bounded, deterministic fuzz run of the record readers that CI can afford: every example
//! definition's sample report (and the run cases that group lines into records), mutated at the byte level (invalid UTF-8, stray quotes and
//! delimiters, NULs, CRs, cut and doubled lines, over-long values and lines), goes through the
//! real `run` — reading on a second thread, selection, derivation, spill, download, diff and
//! apply — against an in-memory store. The test fails on any panic, a failed run, a rejection
//! without its line, or a dry run that wrote. The unbounded fuzzer is `fuzz/` (target `read`).

#[path = "support/read_fuzz.rs"]
mod read_fuzz;

use read_fuzz::{cases, check, decode, seeds, Case, Mode};
use std::path::Path;

/// xorshift64*: small, seeded, good enough to explore.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that mean something to some reader: delimiters, quotes, line ends, key/value
/// separators, pattern characters, NUL and bytes that are not UTF-8.
const SPECIAL: &[u8] = b",;|\t \"'\r\n\0:=*?-/0123456789\xff\xc3\x80";

fn line_starts(bytes: &[u8]) -> Vec<usize> {
    std::iter::once(0)
        .chain(
            bytes
                .iter()
                .enumerate()
                .filter(|(_, &b)| b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .filter(|&i| i < bytes.len())
        .collect()
}

fn a_line(rng: &mut Rng, bytes: &[u8]) -> std::ops::Range<usize> {
    let starts = line_starts(bytes);
    if starts.is_empty() {
        return 0..0;
    }
    let start = starts[rng.below(starts.len())];
    let end = bytes[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |p| start + p + 1);
    start..end
}

fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8], round: usize) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..=rng.below(5) {
        let at = rng.below(bytes.len() + 1).min(bytes.len());
        match rng.below(8) {
            0 => {
                let end = (at + 1 + rng.below(8)).min(bytes.len());
                bytes.drain(at..end);
            }
            1 | 2 => bytes.insert(at, SPECIAL[rng.below(SPECIAL.len())]),
            3 => {
                if let Some(b) = bytes.get_mut(at) {
                    *b = rng.next() as u8;
                }
            }
            4 => {
                // A line twice: the same volume twice in one report.
                let line = a_line(rng, &bytes);
                let copy = bytes[line.clone()].to_vec();
                bytes.splice(line.start..line.start, copy);
            }
            5 => {
                // A line of another product's report.
                let line = a_line(rng, other);
                bytes.splice(at..at, other[line].iter().copied());
            }
            6 => bytes.truncate(at),
            _ => {
                let end = (at + rng.below(24)).min(bytes.len());
                let chunk = bytes[at..end].to_vec();
                bytes.splice(at..at, chunk);
            }
        }
    }
    // Now and then a value past the spill's 64 KiB or a line past the reader's 1 MiB limit.
    if round.is_multiple_of(97) {
        let at = rng.below(bytes.len() + 1).min(bytes.len());
        let len = if round.is_multiple_of(2) {
            70 * 1024
        } else {
            (1 << 20) + 10
        };
        bytes.splice(at..at, std::iter::repeat_n(b'A', len));
    }
    bytes
}

/// A run that writes and adds new volumes, without `--strict`.
const REAL_RUN: Mode = Mode {
    dry_run: false,
    add_new: true,
    strict: false,
};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

#[test]
fn every_example_reaches_the_diff_unmutated() {
    // The harness is only worth its mutations if the seeds themselves sync volumes.
    let cases = cases(root());
    assert!(
        cases.len() >= 10,
        "found {} example definitions",
        cases.len()
    );
    for case in &cases {
        for sample in &case.samples {
            let seen = check(case, sample, REAL_RUN);
            assert!(
                seen.volumes_compared > 0,
                "{}: no volume compared",
                case.name
            );
            if case.clean {
                assert_eq!(seen.rejected, 0, "{}: the sample has rejects", case.name);
            }
        }
    }
}

/// The seed corpus of the cargo-fuzz target `read`, written when `TAPESYNC_FUZZ_SEEDS`
/// names a directory (fuzz/README.md); the seeds are checked like any other input.
#[test]
fn fuzz_seeds_decode_to_their_own_case() {
    let cases = cases(root());
    let out = std::env::var_os("TAPESYNC_FUZZ_SEEDS").map(std::path::PathBuf::from);
    for (name, data) in seeds(&cases) {
        let (case, report, mode) = decode(&cases, &data).expect("a seed decodes");
        assert!(
            name.starts_with(&case.name),
            "{name} decodes to {}",
            case.name
        );
        assert_eq!(mode, REAL_RUN);
        check(case, report, mode);
        if let Some(dir) = &out {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join(format!("seed-{name}")), &data).unwrap();
        }
    }
}

#[test]
fn record_readers_never_panic_fail_or_lose_a_line() {
    let cases: Vec<Case> = cases(root());
    let mut rng = Rng(0x5eed_0000_feed_0002);
    let rounds = 4000;
    let (mut with_rejects, mut with_volumes) = (0, 0);
    for round in 0..rounds {
        let case = &cases[rng.below(cases.len())];
        let seed = &case.samples[rng.below(case.samples.len())];
        let other_case = &cases[rng.below(cases.len())];
        let other = &other_case.samples[rng.below(other_case.samples.len())];
        let input = mutate(&mut rng, seed, other, round);
        // Every combination of the three switches comes up (2 × 3 × 5 rounds).
        let mode = Mode {
            dry_run: round.is_multiple_of(2),
            add_new: !round.is_multiple_of(3),
            strict: round.is_multiple_of(5),
        };
        let seen = check(case, &input, mode);
        with_rejects += usize::from(seen.rejected > 0);
        with_volumes += usize::from(seen.volumes_compared > 0);
    }
    // The mutations must both break records and leave most of them readable; otherwise the
    // run explores nothing.
    eprintln!(
        "{rounds} rounds: {with_rejects} with rejected records, {with_volumes} reached the diff"
    );
    assert!(
        with_rejects > rounds / 20,
        "{with_rejects} of {rounds} rounds rejected a record"
    );
    assert!(
        with_volumes > rounds / 2,
        "{with_volumes} of {rounds} rounds compared a volume"
    );
}
