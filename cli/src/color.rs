//! Whether output is coloured: `--color auto|always|never` (or the `color` setting).
//!
//! `auto` colours a stream only when it is a terminal, `NO_COLOR` is unset or empty
//! (no-color.org) and `TERM` is not `dumb`. `always` and `never` win over the environment:
//! they are what the user asked for on this command line.

use clap::ValueEnum;
use serde::Deserialize;
use std::io::IsTerminal;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    pub fn name(self) -> &'static str {
        match self {
            ColorChoice::Auto => "auto",
            ColorChoice::Always => "always",
            ColorChoice::Never => "never",
        }
    }

    /// The decision for a stream, given whether it is a terminal and the two environment
    /// variables that matter.
    pub fn decide(self, is_terminal: bool, no_color: Option<&str>, term: Option<&str>) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                is_terminal && no_color.is_none_or(str::is_empty) && term != Some("dumb")
            }
        }
    }

    /// The decision for standard error (diagnostics, logs), from the real environment.
    pub fn for_stderr(self) -> bool {
        self.decide(
            std::io::stderr().is_terminal(),
            std::env::var("NO_COLOR").ok().as_deref(),
            std::env::var("TERM").ok().as_deref(),
        )
    }

    /// clap's own setting for help and usage errors.
    pub fn for_clap(self) -> clap::ColorChoice {
        match self {
            // clap's `auto` already honours NO_COLOR and TERM=dumb.
            ColorChoice::Auto => clap::ColorChoice::Auto,
            ColorChoice::Always => clap::ColorChoice::Always,
            ColorChoice::Never => clap::ColorChoice::Never,
        }
    }
}

impl std::str::FromStr for ColorChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<ColorChoice, String> {
        <ColorChoice as ValueEnum>::from_str(s, false)
            .map_err(|_| format!("`{s}` is not one of auto, always, never"))
    }
}

/// The `--color` value on a command line, looked at before clap parses it so that clap's own
/// help and errors follow it too. Only the forms clap accepts are recognised; anything else is
/// left for clap to report.
pub fn from_args(args: &[std::ffi::OsString]) -> Option<ColorChoice> {
    let mut found = None;
    let mut iter = args.iter().skip(1).filter_map(|a| a.to_str());
    while let Some(arg) = iter.next() {
        if arg == "--" {
            break;
        }
        let value = match arg.strip_prefix("--color") {
            Some("") => iter.next(),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        if let Some(choice) = value.and_then(|v| v.parse().ok()) {
            found = Some(choice);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_needs_a_terminal_and_no_objection_from_the_environment() {
        let auto = ColorChoice::Auto;
        assert!(auto.decide(true, None, Some("xterm-256color")));
        assert!(
            auto.decide(true, Some(""), None),
            "an empty NO_COLOR is unset"
        );
        assert!(!auto.decide(false, None, None));
        assert!(!auto.decide(true, Some("1"), None));
        assert!(!auto.decide(true, None, Some("dumb")));
    }

    #[test]
    fn always_and_never_overrule_the_environment() {
        assert!(ColorChoice::Always.decide(false, Some("1"), Some("dumb")));
        assert!(!ColorChoice::Never.decide(true, None, None));
    }

    #[test]
    fn the_flag_is_found_in_both_spellings() {
        let args = |a: &[&str]| {
            a.iter()
                .map(Into::into)
                .collect::<Vec<std::ffi::OsString>>()
        };
        assert_eq!(
            from_args(&args(&["tapesync", "--color", "never", "check"])),
            Some(ColorChoice::Never)
        );
        assert_eq!(
            from_args(&args(&["tapesync", "check", "--color=always"])),
            Some(ColorChoice::Always)
        );
        assert_eq!(from_args(&args(&["tapesync", "check"])), None);
        assert_eq!(
            from_args(&args(&["tapesync", "--", "--color=always"])),
            None
        );
    }
}
