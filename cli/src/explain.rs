//! `tapesync explain FILE`: the compiled plan as pretty JSON on stdout. Warnings go to stderr;
//! with errors the diagnostics go to stderr and the exit code is 1 (2 if unreadable).

use crate::exit;
use std::path::PathBuf;
use std::process::ExitCode;
use tapesync_compiler::{render_human, try_compile_path, CompileOptions};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The definition file
    pub file: PathBuf,
    /// TapeTrack compatibility: warn on every tapesync extension
    #[arg(long)]
    pub compat: bool,
}

pub fn run(args: Args, context: &crate::Context) -> ExitCode {
    let options = CompileOptions {
        compat: args.compat,
    };
    let compilation = match try_compile_path(&args.file, &options) {
        Ok(c) => c,
        Err(e) => {
            eoutln!("error: cannot read `{}`: {e}", args.file.display());
            return ExitCode::from(exit::USAGE);
        }
    };
    if !compilation.diagnostics.is_empty() {
        let text = render_human(&compilation, context.color);
        crate::eout!("{text}");
    }
    match &compilation.plan {
        Some(plan) => match serde_json::to_string_pretty(plan) {
            Ok(json) => {
                crate::outln!("{json}");
                ExitCode::from(exit::OK)
            }
            Err(e) => {
                eoutln!("error: cannot serialise the plan: {e}");
                ExitCode::from(exit::USAGE)
            }
        },
        None => ExitCode::from(exit::INPUT_ERRORS),
    }
}
