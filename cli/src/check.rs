//! `tapesync check`: compile definition files and report diagnostics (human, short or JSON).
//! Exit codes are the same in every format: 0 clean or warnings only, 1 errors (or warnings
//! with `--deny-warnings`), 2 a file could not be read.

use crate::exit;
use clap::ValueEnum;
use std::path::PathBuf;
use std::process::ExitCode;
use tapesync_compiler::render::JsonFailure;
use tapesync_compiler::{
    json_report, render_human, render_short, try_compile_path, CompileOptions, JsonReport,
    JSON_FORMAT_VERSION,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Short,
    Json,
    /// SARIF 2.1.0 for CI code scanning (stdout)
    Sarif,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Definition files to check (default: default.ttidef in the working directory)
    pub files: Vec<PathBuf>,
    /// Output format: human (snippets, on stderr), short (one line each, on stderr), json or
    /// sarif (stdout)
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Treat warnings as errors (exit 1)
    #[arg(long)]
    pub deny_warnings: bool,
    /// TapeTrack compatibility: warn on every tapesync extension
    #[arg(long)]
    pub compat: bool,
}

pub fn run(args: Args, context: &crate::Context) -> ExitCode {
    let files = if args.files.is_empty() {
        vec![PathBuf::from("default.ttidef")]
    } else {
        args.files.clone()
    };
    let options = CompileOptions {
        compat: args.compat,
    };
    let color = context.color;
    let mut report = JsonReport {
        version: JSON_FORMAT_VERSION,
        diagnostics: Vec::new(),
        failures: Vec::new(),
    };
    let mut text = String::new();
    let mut sarif: Vec<tapesync_compiler::Compilation> = Vec::new();
    let (mut errors, mut warnings, mut unreadable) = (0usize, 0usize, false);
    for path in &files {
        let compilation = match try_compile_path(path, &options) {
            Ok(c) => c,
            Err(e) => {
                unreadable = true;
                let message = format!("cannot read `{}`: {e}", path.display());
                if args.format != Format::Json {
                    text.push_str(&format!("error: {message}\n"));
                }
                report.failures.push(JsonFailure {
                    file: path.display().to_string(),
                    message,
                });
                continue;
            }
        };
        errors += compilation
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .count();
        warnings += compilation.diagnostics.len()
            - compilation
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .count();
        match args.format {
            Format::Human => text.push_str(&render_human(&compilation, color)),
            Format::Short => text.push_str(&render_short(&compilation)),
            Format::Json => report
                .diagnostics
                .extend(json_report(&compilation).diagnostics),
            Format::Sarif => sarif.push(compilation),
        }
    }
    if args.format == Format::Human && !unreadable && !context.quiet {
        text.push_str(&summary(errors, warnings, files.len()));
    }
    match args.format {
        Format::Json => {
            let json = serde_json::to_string_pretty(&report).unwrap_or_default();
            crate::outln!("{json}");
        }
        Format::Sarif => {
            let runs: Vec<&tapesync_compiler::Compilation> = sarif.iter().collect();
            let log = tapesync_compiler::sarif::render_sarif_many(&runs);
            crate::outln!("{log}");
            // Unreadable files are not SARIF results; they are reported beside it (exit 2).
            crate::eout!("{text}");
        }
        _ => {
            crate::eout!("{text}");
        }
    }
    let code = if unreadable {
        exit::USAGE
    } else if errors > 0 || (args.deny_warnings && warnings > 0) {
        exit::INPUT_ERRORS
    } else {
        exit::OK
    };
    ExitCode::from(code)
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

fn summary(errors: usize, warnings: usize, files: usize) -> String {
    if errors == 0 && warnings == 0 {
        format!("checked {}: no problems found\n", plural(files, "file"))
    } else {
        format!(
            "checked {}: {}, {}\n",
            plural(files, "file"),
            plural(errors, "error"),
            plural(warnings, "warning")
        )
    }
}
