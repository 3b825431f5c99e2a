//! Arbitrary report bytes through the real `run` (reading on a second thread, selection,
//! derivation, spill, download, diff, apply) for one of the example definitions, against an
//! in-memory store holding that example's inventory. The first byte picks the definition and
//! whether the run is a dry run, adds new volumes and is `--strict`; the rest is the report. A
//! panic, a failed run, a rejection without its line, a dry run that wrote, a stopped
//! `--strict` run that wrote, or a second run of the same report that still finds changes is a
//! finding
//! (`runtime/tests/support/read_fuzz.rs`, shared with the bounded run in CI).
#![no_main]

// Shared with the CI test, which also uses the seeds and what a run saw.
#[allow(dead_code)]
#[path = "../../runtime/tests/support/read_fuzz.rs"]
mod read_fuzz;

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::OnceLock;

static CASES: OnceLock<Vec<read_fuzz::Case>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let cases = CASES
        .get_or_init(|| read_fuzz::cases(Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()));
    if let Some((case, report, mode)) = read_fuzz::decode(cases, data) {
        read_fuzz::check(case, report, mode);
    }
});
