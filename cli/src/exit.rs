//! Exit codes, the same for every subcommand and output format.

/// Clean (warnings allowed unless `--deny-warnings`).
pub const OK: u8 = 0;
/// The input (definition, report records) has errors.
pub const INPUT_ERRORS: u8 = 1;
/// Usage, I/O or internal failure.
pub const USAGE: u8 = 2;
