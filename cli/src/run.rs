//! `tapesync run`: compile a definition, read a report, sync the inventory, print statistics.
//! The work is `tapesync_runtime::run`; this module turns flags into a plan, an input, a
//! target and options, and the outcome into output and an exit code (docs/running.md).

use crate::console::{ConsoleObserver, DEFAULT_REJECTION_CAP};
use crate::exit;
use crate::settings::{self, Layers};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tapesync_compiler::{compile_path, render_human, CompileOptions};
use tapesync_model::SessionStart;
use tapesync_runtime::scope::cache::CacheSettings;
use tapesync_runtime::{EmbeddedTarget, InputSource, OpenInput, RetryPolicy, RunOptions, Target};
use tapesync_store::{Store, StoreLocation};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Definition file (TMSS10Sync: -d)
    /// [default: default.ttidef; setting `definition`, TAPESYNC_DEFINITION]
    #[arg(short = 'd', long, value_name = "FILE")]
    pub definition: Option<PathBuf>,
    /// Report to read (`-` for standard input); overrides the definition's SetFile and an
    /// `input_command` setting
    #[arg(long, value_name = "FILE|-", conflicts_with = "input_command")]
    pub input: Option<String>,
    /// Read the report from the output of a shell command (`sh -c`, on Windows `cmd /C`)
    /// [setting `input_command`, TAPESYNC_INPUT_COMMAND]
    #[arg(long, value_name = "CMD")]
    pub input_command: Option<String>,
    /// Inventory store: a SQLite file (created if missing) or a PostgreSQL database
    /// (`postgres://user@host/db`)
    /// [default: tapesync.db; setting `store`, TAPESYNC_STORE]
    #[arg(long, value_name = "PATH|URL")]
    pub store: Option<StoreLocation>,
    /// Show the changes a run would make; change nothing (no session is recorded)
    #[arg(long)]
    pub dry_run: bool,
    /// Create volumes the inventory does not have, and the customers, media and repositories
    /// the definition itself names (TMSS10Sync: -a) [setting `add_new`, TAPESYNC_ADD_NEW]
    #[arg(short = 'a', long)]
    pub add_new: bool,
    /// Also create customers, media and repositories that only the report names (a typo in
    /// the report becomes a new one) [setting `add_new_ids`, TAPESYNC_ADD_NEW_IDS]
    #[arg(long)]
    pub add_new_ids: bool,
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
    /// [default: 1000; setting `batch_size`, TAPESYNC_BATCH_SIZE]
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub batch_size: Option<u64>,
    /// Keep the scope tables a run downloads in DIR, and read a scope from there instead of
    /// the inventory while nobody changed it (docs/running.md, "The scope cache")
    /// [default: the platform's user cache folder, ~/.cache/tapesync on Linux; setting
    /// `cache_dir`, TAPESYNC_CACHE_DIR]
    #[arg(long, value_name = "DIR", conflicts_with = "no_cache")]
    pub cache_dir: Option<PathBuf>,
    /// Download every scope; neither read nor write the scope cache
    #[arg(long)]
    pub no_cache: bool,
    /// Sync against an inventory server (`tapesync serve`) instead of a store file; the
    /// password comes from TAPESYNC_PASSWORD, a private configuration file or a prompt on a
    /// terminal [setting `server`, TAPESYNC_SERVER]
    #[arg(long, value_name = "URL", conflicts_with = "store")]
    pub server: Option<String>,
    /// User to log on to the server as [setting `user`, TAPESYNC_USER]
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// TMSS10Sync's `-S` and the TMSS10Sync flags that are refused (tmss.rs).
    #[command(flatten)]
    pub tmss: crate::tmss::Compat,
}

/// Where the run sends its changes. Its `Debug` (logged with -v) never shows the password.
#[derive(Clone, PartialEq, Eq)]
enum Inventory {
    Store(StoreLocation),
    Server {
        url: String,
        user: String,
        /// From `-S USER:PASSWORD@…`; otherwise the `password` setting or a prompt.
        password: Option<String>,
    },
}

impl std::fmt::Debug for Inventory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Inventory::Store(location) => f.debug_tuple("Store").field(location).finish(),
            Inventory::Server { url, user, .. } => f
                .debug_struct("Server")
                .field("url", url)
                .field("user", user)
                .finish_non_exhaustive(),
        }
    }
}

/// The flags merged with the environment and the configuration file.
struct Resolved {
    definition: PathBuf,
    input_command: Option<String>,
    add_new: bool,
    add_new_ids: bool,
    batch_size: u64,
    inventory: Inventory,
    /// `None` with `--no-cache`.
    cache_dir: Option<PathBuf>,
}

fn resolve(args: &Args, layers: &Layers) -> Result<Resolved, String> {
    let refused = args.tmss.refusals();
    if !refused.is_empty() {
        return Err(crate::tmss::refusal_message(&refused));
    }
    // `-S` gives the server, the user and the password at flag level (clap keeps it apart
    // from --server, --user and --store).
    let logon = args
        .tmss
        .logon
        .as_deref()
        .map(crate::tmss::parse_logon)
        .transpose()?;
    let from_logon = |value: String| settings::Setting {
        value,
        source: settings::Source::Flag("-S"),
    };
    let (server, user, password) = match logon {
        Some(logon) => (
            Some(from_logon(logon.url)),
            match logon.user {
                Some(user) => Some(from_logon(user)),
                None => layers.get(&settings::USER, None)?,
            },
            logon.password,
        ),
        None => (
            layers.get(&settings::SERVER, args.server.clone())?,
            layers.get(&settings::USER, args.user.clone())?,
            None,
        ),
    };
    let store = layers.value(&settings::STORE, args.store.clone())?;
    // A server URL wins over a store path from the same or a lower layer: a configuration
    // file may name both (the store for `serve` and `admin`, the server for `run`).
    let inventory = match server {
        Some(server) if server.source.rank() >= store.source.rank() => {
            let user = user.ok_or_else(|| {
                format!(
                    "the server {} (from {}) needs a user: --user (or USER@ in -S), \
                     TAPESYNC_USER or `user` in the configuration file",
                    server.value, server.source
                )
            })?;
            // Checked before a password is asked for: a usage error that says what to write.
            tapesync_runtime::server_url(&server.value)
                .map_err(|e| format!("{e} (from {})", server.source))?;
            Inventory::Server {
                url: server.value,
                user: user.value,
                password,
            }
        }
        _ => {
            if args.user.is_some() {
                return Err(
                    "--user is for --server; a store file has no users to log on as".to_string(),
                );
            }
            Inventory::Store(store.value)
        }
    };
    // `--input` on the command line replaces an input command from anywhere else.
    let input_command = match &args.input {
        Some(_) => None,
        None => layers
            .get(&settings::INPUT_COMMAND, args.input_command.clone())?
            .map(|s| s.value),
    };
    Ok(Resolved {
        definition: layers
            .value(&settings::DEFINITION, args.definition.clone())?
            .value,
        input_command,
        add_new: layers
            .value(&settings::ADD_NEW, args.add_new.then_some(true))?
            .value,
        add_new_ids: layers
            .value(&settings::ADD_NEW_IDS, args.add_new_ids.then_some(true))?
            .value,
        batch_size: layers.value(&settings::BATCH_SIZE, args.batch_size)?.value,
        inventory,
        cache_dir: if args.no_cache {
            None
        } else {
            Some(
                layers
                    .value(&settings::CACHE_DIR, args.cache_dir.clone())?
                    .value,
            )
        },
    })
}

/// The inventory as the scope cache's key names it: a store file by its absolute path, a
/// PostgreSQL store or a server by its URL without password (the store's identity, also in
/// the key, tells two stores behind one name apart).
fn cache_target(inventory: &Inventory) -> String {
    match inventory {
        Inventory::Store(StoreLocation::File(path)) => {
            let absolute = std::path::absolute(path).unwrap_or_else(|_| path.clone());
            format!("file:{}", absolute.display())
        }
        Inventory::Store(location) => location.redacted(),
        Inventory::Server { url, .. } => url.trim_end_matches('/').to_string(),
    }
}

pub fn run(args: Args, context: &crate::Context) -> ExitCode {
    match execute(&args, context) {
        Ok(code) => ExitCode::from(code),
        Err((code, message)) => {
            eoutln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

type Failure = (u8, String);

fn execute(args: &Args, context: &crate::Context) -> Result<u8, Failure> {
    let resolved = resolve(args, &context.layers).map_err(|e| (exit::USAGE, e))?;
    if matches!(
        &resolved.inventory,
        Inventory::Server {
            password: Some(_),
            ..
        }
    ) {
        // Even with -q: the warning goes away when the password leaves the command line.
        eoutln!("{}", crate::tmss::PASSWORD_WARNING);
    }
    let now = tapesync_runtime::now_or_override(std::env::var("TAPESYNC_NOW").ok().as_deref())
        .map_err(|e| (exit::USAGE, format!("TAPESYNC_NOW: {e}")))?;
    let definition = &resolved.definition;
    let definition_text = std::fs::read(definition).map_err(|e| {
        (
            exit::USAGE,
            format!("cannot read {}: {e}", definition.display()),
        )
    })?;
    let compilation = compile_path(definition, &CompileOptions::default());
    if !compilation.diagnostics.is_empty() {
        eout!("{}", render_human(&compilation, context.color));
    }
    let plan = match (&compilation.plan, compilation.has_errors()) {
        (Some(plan), false) => plan,
        _ => {
            return Err((
                exit::INPUT_ERRORS,
                format!("{} has errors; nothing was run", definition.display()),
            ))
        }
    };

    let source = input_source(args, &resolved, plan.input.file.as_deref());
    let input = OpenInput::open(&source).map_err(|e| (exit::USAGE, e.to_string()))?;
    tracing::info!(
        definition = %definition.display(),
        input = %source.display_name(),
        inventory = ?resolved.inventory,
        "sync starts"
    );
    let mut target = open_target(&resolved.inventory, args.dry_run, &context.layers)?;
    let options = RunOptions {
        add_new: resolved.add_new,
        add_new_ids: resolved.add_new_ids,
        dry_run: args.dry_run,
        strict: args.strict,
        batch_size: usize::try_from(resolved.batch_size).unwrap_or(1000),
        limit: args.limit,
        now,
        retry: RetryPolicy::default(),
        session: SessionStart {
            definition_hash: tapesync_runtime::definition_hash(&definition_text),
            definition_name: definition.display().to_string(),
            source_name: source.display_name(),
        },
        cache: resolved.cache_dir.as_ref().map(|dir| CacheSettings {
            dir: dir.clone(),
            target: cache_target(&resolved.inventory),
        }),
    };
    let started = std::time::Instant::now();
    let mut observer = ConsoleObserver::new(DEFAULT_REJECTION_CAP);
    let outcome = tapesync_runtime::run(
        plan,
        input.lines(),
        target.as_mut(),
        &options,
        &mut observer,
    );
    observer.finish();
    tracing::info!(
        seconds = started.elapsed().as_secs_f64(),
        failed = outcome.error.is_some(),
        "sync ends"
    );

    if !context.quiet {
        out!("{}", outcome.stats.table());
    }
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

/// `--input`, else the input command (flag or setting), else the definition's `SetFile`,
/// else standard input.
fn input_source(args: &Args, resolved: &Resolved, set_file: Option<&str>) -> InputSource {
    if let Some(c) = &resolved.input_command {
        return InputSource::Command(c.clone());
    }
    match args.input.as_deref().or(set_file) {
        None | Some("-") => InputSource::Stdin,
        Some(path) => InputSource::File(PathBuf::from(path)),
    }
}

/// The inventory the run talks to. A dry run never creates a store file: with no file there
/// it syncs against an empty in-memory inventory.
fn open_target(
    inventory: &Inventory,
    dry_run: bool,
    layers: &Layers,
) -> Result<Box<dyn Target>, Failure> {
    let location = match inventory {
        Inventory::Server {
            url,
            user,
            password,
        } => return crate::client::open_http_target(url, user, password.as_deref(), layers),
        Inventory::Store(location) => location,
    };
    let actor = tapesync_runtime::embedded::local_actor();
    if let Some(path) = location.file().filter(|p| dry_run && !p.exists()) {
        eoutln!(
            "note: {} does not exist; the dry run compares with an empty inventory",
            path.display()
        );
        let store = Store::open_in_memory().map_err(|e| (exit::USAGE, e.to_string()))?;
        return Ok(Box::new(EmbeddedTarget::new(store, &actor)));
    }
    if dry_run {
        // A dry run only reads: the store may be read-only, and is left as it is.
        let store = Store::open_read_only(location)
            .map_err(|e| {
                (
                    exit::USAGE,
                    format!("cannot open the store {location}: {e}"),
                )
            })?
            .ok_or_else(|| (exit::USAGE, format!("the store {location} does not exist")))?;
        return Ok(Box::new(EmbeddedTarget::new(store, &actor)));
    }
    let target = EmbeddedTarget::open_location(location, &actor)
        .map_err(|e| (exit::USAGE, e.to_string()))?;
    Ok(Box::new(target))
}

fn write_stats(path: &Path, stats: &tapesync_runtime::RunStats) -> Result<(), Failure> {
    let mut text = serde_json::to_string_pretty(stats)
        .map_err(|e| (exit::USAGE, format!("statistics JSON: {e}")))?;
    text.push('\n');
    std::fs::write(path, text).map_err(|e| (exit::USAGE, format!("{}: {e}", path.display())))
}
