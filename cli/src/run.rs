//! `tapesync run`: compile a definition, read a report, sync the inventory, print statistics.
//! The work is `tapesync_runtime::run`; this module turns flags into a plan, an input, a
//! target and options, and the outcome into output and an exit code (docs/running.md).

use crate::console::{ConsoleObserver, DEFAULT_REJECTION_CAP};
use crate::exit;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tapesync_compiler::{compile_path, render_human, CompileOptions};
use tapesync_model::SessionStart;
use tapesync_runtime::{EmbeddedTarget, InputSource, OpenInput, RetryPolicy, RunOptions, Target};
use tapesync_store::Store;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Definition file (TMSS10Sync: -d)
    #[arg(
        short = 'd',
        long,
        value_name = "FILE",
        default_value = "default.ttidef"
    )]
    pub definition: PathBuf,
    /// Report to read (`-` for standard input); overrides the definition's SetFile
    #[arg(long, value_name = "FILE|-", conflicts_with = "input_command")]
    pub input: Option<String>,
    /// Read the report from the output of a shell command (`sh -c`, on Windows `cmd /C`)
    #[arg(long, value_name = "CMD")]
    pub input_command: Option<String>,
    /// Inventory store file (SQLite), created if missing
    #[arg(long, value_name = "PATH", default_value = "tapesync.db")]
    pub store: PathBuf,
    /// Show the changes a run would make; change nothing (no session is recorded)
    #[arg(long)]
    pub dry_run: bool,
    /// Create volumes (and customers, media, repositories) the inventory does not have
    /// (TMSS10Sync: -a)
    #[arg(short = 'a', long)]
    pub add_new: bool,
    /// Read at most N records (TMSS10Sync: -F)
    #[arg(short = 'F', long, value_name = "N")]
    pub limit: Option<u64>,
    /// Also write the statistics (with the volume lists) as JSON to FILE
    #[arg(long, value_name = "FILE")]
    pub stats_json: Option<PathBuf>,
    /// The first rejected record aborts the run before anything is applied
    #[arg(long)]
    pub strict: bool,
    /// Changes per atomic apply batch
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub batch_size: u64,
    /// Sync against an inventory server (`tapesync serve`) instead of a store file; the
    /// password comes from TAPESYNC_PASSWORD or a prompt on a terminal
    #[arg(long, value_name = "URL", requires = "user")]
    pub server: Option<String>,
    /// User to log on to the server as (with --server)
    #[arg(long, value_name = "NAME", requires = "server")]
    pub user: Option<String>,
}

pub fn run(args: Args) -> ExitCode {
    match execute(&args) {
        Ok(code) => ExitCode::from(code),
        Err((code, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

type Failure = (u8, String);

fn execute(args: &Args) -> Result<u8, Failure> {
    let now = tapesync_runtime::now_or_override(std::env::var("TAPESYNC_NOW").ok().as_deref())
        .map_err(|e| (exit::USAGE, format!("TAPESYNC_NOW: {e}")))?;
    let definition_text = std::fs::read(&args.definition).map_err(|e| {
        (
            exit::USAGE,
            format!("cannot read {}: {e}", args.definition.display()),
        )
    })?;
    let compilation = compile_path(&args.definition, &CompileOptions::default());
    if !compilation.diagnostics.is_empty() {
        use std::io::IsTerminal;
        eprint!(
            "{}",
            render_human(&compilation, std::io::stderr().is_terminal())
        );
    }
    let plan = match (&compilation.plan, compilation.has_errors()) {
        (Some(plan), false) => plan,
        _ => {
            return Err((
                exit::INPUT_ERRORS,
                format!("{} has errors; nothing was run", args.definition.display()),
            ))
        }
    };

    let source = input_source(args, plan.input.file.as_deref());
    let input = OpenInput::open(&source).map_err(|e| (exit::USAGE, e.to_string()))?;
    let mut target = open_target(args)?;
    let options = RunOptions {
        add_new: args.add_new,
        dry_run: args.dry_run,
        strict: args.strict,
        batch_size: usize::try_from(args.batch_size).unwrap_or(1000),
        limit: args.limit,
        now,
        retry: RetryPolicy::default(),
        session: SessionStart {
            definition_hash: tapesync_runtime::definition_hash(&definition_text),
            definition_name: args.definition.display().to_string(),
            source_name: source.display_name(),
        },
    };
    let mut observer = ConsoleObserver::new(DEFAULT_REJECTION_CAP);
    let outcome = tapesync_runtime::run(
        plan,
        input.lines(),
        target.as_mut(),
        &options,
        &mut observer,
    );
    observer.finish();

    print!("{}", outcome.stats.table());
    if let Some(path) = &args.stats_json {
        write_stats(path, &outcome.stats)?;
    }
    if let Some(e) = outcome.error {
        let code = if e.is_input_problem() {
            exit::INPUT_ERRORS
        } else {
            exit::USAGE
        };
        return Err((code, e.to_string()));
    }
    Ok(if outcome.stats.has_problems() {
        exit::INPUT_ERRORS
    } else {
        exit::OK
    })
}

/// `--input-command`, else `--input`, else the definition's `SetFile`, else standard input.
fn input_source(args: &Args, set_file: Option<&str>) -> InputSource {
    if let Some(c) = &args.input_command {
        return InputSource::Command(c.clone());
    }
    match args.input.as_deref().or(set_file) {
        None | Some("-") => InputSource::Stdin,
        Some(path) => InputSource::File(PathBuf::from(path)),
    }
}

/// The inventory the run talks to. A dry run never creates a store file: with no file there
/// it syncs against an empty in-memory inventory.
fn open_target(args: &Args) -> Result<Box<dyn Target>, Failure> {
    if let (Some(url), Some(user)) = (&args.server, &args.user) {
        return crate::client::open_http_target(url, user);
    }
    let actor = tapesync_runtime::embedded::local_actor();
    if args.dry_run && !args.store.exists() {
        eprintln!(
            "note: {} does not exist; the dry run compares with an empty inventory",
            args.store.display()
        );
        let store = Store::open_in_memory().map_err(|e| (exit::USAGE, e.to_string()))?;
        return Ok(Box::new(EmbeddedTarget::new(store, &actor)));
    }
    let target =
        EmbeddedTarget::open(&args.store, &actor).map_err(|e| (exit::USAGE, e.to_string()))?;
    Ok(Box::new(target))
}

fn write_stats(path: &Path, stats: &tapesync_runtime::RunStats) -> Result<(), Failure> {
    let mut text = serde_json::to_string_pretty(stats)
        .map_err(|e| (exit::USAGE, format!("statistics JSON: {e}")))?;
    text.push('\n');
    std::fs::write(path, text).map_err(|e| (exit::USAGE, format!("{}: {e}", path.display())))
}
