//! Files generated from the command-line definitions: shell completions
//! (`tapesync completions SHELL`) and manual pages (`tapesync man --out DIR`, hidden; the
//! Debian package and `docs/operating.md` use it).

use crate::exit;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(clap::Args)]
pub struct ManArgs {
    /// Folder to write the pages to (tapesync.1, tapesync-run.1, …); created if missing
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

pub fn completions(args: CompletionsArgs, mut command: clap::Command) -> ExitCode {
    let name = command.get_name().to_string();
    // Generated into memory first: clap_complete panics on a failed write (`| head`).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, name, &mut script);
    crate::output::stdout_bytes(&script);
    ExitCode::from(exit::OK)
}

pub fn man(args: ManArgs, command: clap::Command) -> ExitCode {
    let result = std::fs::create_dir_all(&args.out)
        .and_then(|()| clap_mangen::generate_to(command, &args.out));
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            eoutln!("error: writing manual pages to {}: {e}", args.out.display());
            ExitCode::from(exit::USAGE)
        }
    }
}
