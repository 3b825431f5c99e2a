//! `tapesync`: the command line. Each subcommand lives in its own module with its clap `Args`
//! and a `run` function; the logic itself belongs to the library crates.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// See cli/Cargo.toml: the allocator is a measurable share of a large sync.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// First: the output macros (`outln!` …) are used by every module after it.
#[macro_use]
mod output;

mod admin;
mod allocator;
mod check;
mod client;
mod color;
mod config_cmd;
mod console;
mod exit;
mod explain;
mod generate;
mod logging;
mod lsp;
mod moves;
mod reconcile;
mod run;
mod serve;
mod settings;
mod tmss;

use color::ColorChoice;
use logging::LogFormat;
use settings::Layers;

/// Shown at the end of `--help` and in the manual page.
const AFTER_HELP: &str = "\
Settings: flags beat environment variables, which beat the configuration file, which beats the
built-in defaults. The file is --config FILE, else $TAPESYNC_CONFIG (empty: none), else
config.toml in the platform's configuration folder (~/.config/tapesync/ on Linux).
`tapesync config show` prints every setting and where it came from (docs/configuration.md).

Environment: TAPESYNC_CONFIG, TAPESYNC_STORE, TAPESYNC_SERVER, TAPESYNC_USER,
TAPESYNC_PASSWORD, TAPESYNC_DEFINITION, TAPESYNC_INPUT_COMMAND, TAPESYNC_ADD_NEW,
TAPESYNC_ADD_NEW_IDS, TAPESYNC_BATCH_SIZE, TAPESYNC_CACHE_DIR, TAPESYNC_LOG_FORMAT,
TAPESYNC_LISTEN, TAPESYNC_READERS, TAPESYNC_TOKEN_MINUTES, TAPESYNC_REMEMBER_LOGONS_MINUTES,
TAPESYNC_SECURE_COOKIE, TAPESYNC_ADMIN_PASSWORD (first start of serve), TAPESYNC_LOG (log
filter), TAPESYNC_DOCS_URL (published docs, for links in diagnostics), NO_COLOR, TERM.

Exit status: 0 clean, 1 the input has errors, 2 usage, I/O or internal failure.";

#[derive(Parser)]
#[command(
    name = "tapesync",
    version = env!("TAPESYNC_LONG_VERSION"),
    about = "Keeps a tape inventory in step with what backup software reports",
    propagate_version = true,
    after_long_help = AFTER_HELP
)]
struct Cli {
    #[command(flatten)]
    globals: Globals,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes.
#[derive(clap::Args, Clone)]
pub struct Globals {
    /// Configuration file (default: $TAPESYNC_CONFIG, else config.toml in the platform's
    /// configuration folder)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Errors only: `run` prints no statistics table, `check` no summary, logs only errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More log output on standard error (-v, -vv, -vvv)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Colour output: auto (on a terminal, unless NO_COLOR is set or TERM=dumb), always, never
    #[arg(long, global = true, value_enum, value_name = "WHEN")]
    pub color: Option<ColorChoice>,
    /// Log lines on standard error as text or JSON (one object per line)
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
}

#[derive(Subcommand)]
enum Command {
    // One variant per subcommand; each module owns its Args.
    /// Manage an inventory store: users, grants, customers, import/export, sessions
    Admin(admin::Args),
    /// Check definition files and report problems (human, short or JSON)
    Check(check::Args),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish)
    Completions(generate::CompletionsArgs),
    /// Show the effective settings and where each came from
    Config(config_cmd::Args),
    /// Print the compiled plan of a definition file as JSON
    Explain(explain::Args),
    /// Language server for .ttidef files (LSP over stdio) for editors
    Lsp(lsp::Args),
    /// Write the manual pages (for packaging)
    #[command(hide = true)]
    Man(generate::ManArgs),
    /// Pending moves of a customer: picking and distribution lists
    Moves(moves::Args),
    /// Reconcile a repository: expected volumes against barcodes found (or a vault's
    /// inventory read through a definition), recorded and printed as a dated certificate
    Reconcile(reconcile::Args),
    /// Sync the inventory with a report: derive, diff, apply changes, print statistics
    Run(run::Args),
    /// Run the inventory server: HTTP API, logon, per-customer rights, web page
    Serve(serve::Args),
}

/// What a command gets besides its own arguments.
pub struct Context {
    pub layers: Layers,
    pub quiet: bool,
    /// Colour on standard error (diagnostics).
    pub color: bool,
}

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut command = Cli::command();
    if let Some(choice) = color::from_args(&argv) {
        command = command.color(choice.for_clap());
    }
    let parsed = command
        .try_get_matches_from(&argv)
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version on stdout with exit 0; real usage errors are exit 2.
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // Generated files and the editor's language server do not depend on any setting: a broken
    // configuration file must not stop them.
    let code = match cli.command {
        Command::Completions(args) => generate::completions(args, Cli::command()),
        Command::Man(args) => generate::man(args, Cli::command()),
        _ => match prepare(&cli) {
            Ok(context) => dispatch(cli, &context),
            Err(e) => {
                eoutln!("error: {e}");
                ExitCode::from(exit::USAGE)
            }
        },
    };
    // Output that could not be written makes any command's exit code 2 (output.rs).
    output::exit_code(code)
}

fn dispatch(cli: Cli, context: &Context) -> ExitCode {
    match cli.command {
        Command::Admin(args) => admin::run(args, context),
        Command::Check(args) => check::run(args, context),
        Command::Config(args) => config_cmd::run(args, &context.layers, &cli.globals),
        Command::Explain(args) => explain::run(args, context),
        Command::Lsp(args) => lsp::run(args),
        Command::Moves(args) => moves::run(args, context),
        Command::Reconcile(args) => reconcile::run(args, context),
        Command::Run(args) => run::run(args, context),
        Command::Serve(args) => serve::run(args, context),
        Command::Completions(_) | Command::Man(_) => unreachable!("handled above"),
    }
}

/// Reads the configuration, decides on colour and installs the log subscriber.
fn prepare(cli: &Cli) -> Result<Context, String> {
    let layers = match cli.command {
        Command::Lsp(_) => Layers::none(),
        _ => Layers::load(cli.globals.config.as_deref())?,
    };
    let color = layers
        .value(&settings::COLOR, cli.globals.color)?
        .value
        .for_stderr();
    let format = layers
        .value(&settings::LOG_FORMAT, cli.globals.log_format)?
        .value;
    logging::install(&logging::Options {
        quiet: cli.globals.quiet,
        verbose: cli.globals.verbose,
        format,
        color,
        server: matches!(cli.command, Command::Serve(_)),
    })?;
    Ok(Context {
        layers,
        quiet: cli.globals.quiet,
        color,
    })
}
