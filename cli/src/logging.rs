//! Logs on standard error, as text or JSON lines (`--log-format`), for every command.
//!
//! The level follows `-q`/`-v`: `serve` logs each request at INFO by default, the other
//! commands only warnings; `-v` adds one level (`-vv` two), `-q` keeps errors only. Errors are
//! never filtered out by these flags: an internal error of the server always reaches standard
//! error. `TAPESYNC_LOG` replaces the filter entirely (tracing's `EnvFilter` syntax, e.g.
//! `tapesync=debug,tower_http=debug`) for the rare case that needs it.

use clap::ValueEnum;
use serde::Deserialize;
use tracing_subscriber::EnvFilter;

pub const FILTER_ENV: &str = "TAPESYNC_LOG";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines
    #[default]
    Text,
    /// One JSON object per line (for log shippers)
    Json,
}

impl LogFormat {
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<LogFormat, String> {
        <LogFormat as ValueEnum>::from_str(s, false)
            .map_err(|_| format!("`{s}` is not one of text, json"))
    }
}

const LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

/// The filter for `-q`/`-v`: tapesync's own targets at the chosen level, other crates at most
/// at `warn` (their debug output is rarely what an operator wants; `TAPESYNC_LOG` can ask).
pub fn filter_directives(quiet: bool, verbose: u8, server: bool) -> String {
    let base = if server { 2 } else { 1 };
    let index = if quiet {
        0
    } else {
        (base + usize::from(verbose)).min(LEVELS.len() - 1)
    };
    let others = LEVELS[index.min(1)];
    format!("{others},tapesync={}", LEVELS[index])
}

pub struct Options {
    pub quiet: bool,
    pub verbose: u8,
    pub format: LogFormat,
    pub color: bool,
    /// `serve`: request lines at INFO are shown by default.
    pub server: bool,
}

/// Installs the process's log subscriber (once; a second call changes nothing).
pub fn install(options: &Options) -> Result<(), String> {
    let filter = match std::env::var(FILTER_ENV) {
        Ok(directives) if !directives.trim().is_empty() => {
            EnvFilter::try_new(&directives).map_err(|e| format!("{FILTER_ENV}: {e}"))?
        }
        _ => EnvFilter::new(filter_directives(
            options.quiet,
            options.verbose,
            options.server,
        )),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match options.format {
        LogFormat::Text => builder.with_ansi(options.color).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_and_verbose_move_the_level() {
        assert_eq!(filter_directives(false, 0, true), "warn,tapesync=info");
        assert_eq!(filter_directives(false, 0, false), "warn,tapesync=warn");
        assert_eq!(filter_directives(false, 1, false), "warn,tapesync=info");
        assert_eq!(filter_directives(false, 2, true), "warn,tapesync=trace");
        assert_eq!(filter_directives(false, 9, true), "warn,tapesync=trace");
        assert_eq!(filter_directives(true, 0, true), "error,tapesync=error");
    }
}
