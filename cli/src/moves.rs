//! `tapesync moves`: the operator's pending moves — the picking and distribution lists of a
//! customer — read from a store (`--store`) or an inventory server (`--server`).

use crate::exit;
use crate::settings::{self, Layers};
use clap::{Subcommand, ValueEnum};
use std::process::ExitCode;
use tapesync_model::{ApiErrorBody, LogonRequest, LogonResponse};
use tapesync_store::{Confirmation, PendingMove, Problem, Store, StoreError, StoreLocation};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: MovesCommand,
}

#[derive(Subcommand)]
enum MovesCommand {
    /// The volumes to take out of each repository and where they go (the picking and
    /// distribution lists), for a customer and a day
    List(ListArgs),
    /// Confirm moves by the barcodes scanned: expected volumes become current at their
    /// targets; anything else is listed as a discrepancy (exit 1) and changes nothing
    Confirm(ConfirmArgs),
}

#[derive(clap::Args)]
struct ConfirmArgs {
    /// The customer whose moves were carried out
    #[arg(long, value_name = "CUSTOMER")]
    customer: String,
    /// The day whose list was worked: the moves due on or before it are expected [default:
    /// today, UTC]
    #[arg(long, value_name = "YYYY-MM-DD")]
    due: Option<String>,
    /// The barcodes scanned: one per line, or a CSV with a `volume` column (such as the list's
    /// own CSV); `-` for standard input
    #[arg(value_name = "FILE|-")]
    file: std::path::PathBuf,
    #[command(flatten)]
    source: Source,
}

/// Where the moves are read.
#[derive(clap::Args)]
pub(crate) struct Source {
    /// The inventory store: a SQLite file or a PostgreSQL URL [setting `store`,
    /// TAPESYNC_STORE]
    #[arg(long, value_name = "PATH|URL", conflicts_with = "server")]
    store: Option<StoreLocation>,
    /// An inventory server (`tapesync serve`) instead of a store; the password comes from
    /// TAPESYNC_PASSWORD, a private configuration file or a prompt on a terminal [setting
    /// `server`, TAPESYNC_SERVER]
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// User to log on to the server as [setting `user`, TAPESYNC_USER]
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
}

#[derive(clap::Args)]
struct ListArgs {
    /// The customer whose moves to list
    #[arg(long, value_name = "CUSTOMER")]
    customer: String,
    /// Only moves due on or before this day (a move without MOVEDATE is due at once)
    /// [default: every pending move]
    #[arg(long, value_name = "YYYY-MM-DD")]
    due: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    #[command(flatten)]
    source: Source,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One list per repository the volumes leave, for people
    Table,
    /// One line per volume with a header line (from,to,media,volume,slot,move_date)
    Csv,
    /// The API's answer: an array of moves
    Json,
}

/// A failure: its exit code and message.
pub(crate) type Failure = (u8, String);

pub fn run(args: Args, context: &crate::Context) -> ExitCode {
    let result = match args.command {
        MovesCommand::List(list_args) => list(&list_args, &context.layers),
        MovesCommand::Confirm(confirm_args) => confirm(&confirm_args, &context.layers),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err((code, message)) => {
            eoutln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

fn list(args: &ListArgs, layers: &Layers) -> Result<u8, Failure> {
    let inventory = Inventory::resolve(&args.source, layers, false)?;
    let moves = inventory.pending_moves(&args.customer, args.due.as_deref())?;
    match args.format {
        Format::Table => out!("{}", table(&moves)),
        Format::Csv => out!("{}", csv_text(&moves)?),
        Format::Json => {
            let text =
                serde_json::to_string_pretty(&moves).map_err(|e| (exit::USAGE, e.to_string()))?;
            outln!("{text}");
        }
    }
    Ok(exit::OK)
}

/// The lists for people: one block per repository the volumes leave, then where they go.
fn table(moves: &[PendingMove]) -> String {
    use std::fmt::Write as _;
    if moves.is_empty() {
        return "no pending moves\n".to_string();
    }
    let mut out = String::new();
    let mut from: Option<&str> = None;
    for m in moves {
        if from != Some(m.from.as_str()) {
            let count = moves.iter().filter(|o| o.from == m.from).count();
            if from.is_some() {
                out.push('\n');
            }
            let _ = writeln!(out, "take out of {} ({count}):", m.from);
            let _ = writeln!(
                out,
                "  {:<10}  {:<4}  {:<4}  {:<10}  {:<10}",
                "VOLUME", "MEDIA", "TO", "SLOT", "DUE"
            );
            from = Some(&m.from);
        }
        let _ = writeln!(
            out,
            "  {:<10}  {:<4}  {:<4}  {:<10}  {:<10}",
            m.volume,
            m.media,
            m.to,
            m.slot.as_deref().unwrap_or("-"),
            m.move_date.as_deref().unwrap_or("now"),
        );
    }
    let mut destinations: Vec<&str> = moves.iter().map(|m| m.to.as_str()).collect();
    destinations.sort_unstable();
    destinations.dedup();
    out.push_str("\ngoing to:");
    for to in destinations {
        let count = moves.iter().filter(|m| m.to == to).count();
        let _ = write!(out, " {to} {count}");
        out.push(';');
    }
    out.pop();
    out.push('\n');
    out
}

fn csv_text(moves: &[PendingMove]) -> Result<String, Failure> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let failed = |e: csv::Error| (exit::USAGE, e.to_string());
    writer
        .write_record(["from", "to", "media", "volume", "slot", "move_date"])
        .map_err(failed)?;
    for m in moves {
        writer
            .write_record([
                m.from.as_str(),
                &m.to,
                &m.media,
                &m.volume,
                m.slot.as_deref().unwrap_or(""),
                m.move_date.as_deref().unwrap_or(""),
            ])
            .map_err(failed)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| (exit::USAGE, e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| (exit::USAGE, e.to_string()))
}

/// A store opened read-only, or a server logged on to.
pub(crate) enum Inventory {
    Store(Store),
    Server {
        client: reqwest::blocking::Client,
        base: String,
        token: String,
    },
}

impl Inventory {
    /// `--server` (or the `server` setting, when it comes from a layer at least as strong as
    /// the store's) with its user, else the store.
    pub(crate) fn resolve(
        source: &Source,
        layers: &Layers,
        write: bool,
    ) -> Result<Inventory, Failure> {
        let usage = |e: String| (exit::USAGE, e);
        let server = layers
            .get(&settings::SERVER, source.server.clone())
            .map_err(usage)?;
        let store = layers
            .value(&settings::STORE, source.store.clone())
            .map_err(usage)?;
        match server {
            Some(server) if server.source.rank() >= store.source.rank() => {
                let user = layers
                    .get(&settings::USER, source.user.clone())
                    .map_err(usage)?
                    .ok_or_else(|| {
                        usage(format!(
                            "the server {} needs a user: --user, TAPESYNC_USER or `user` in the \
                             configuration file",
                            server.value
                        ))
                    })?;
                tapesync_runtime::server_url(&server.value).map_err(usage)?;
                let base = server.value.trim().trim_end_matches('/').to_string();
                Inventory::log_on(base, &user.value, layers)
            }
            _ => {
                if source.user.is_some() {
                    return Err(usage("--user is for --server".to_string()));
                }
                let location = store.value;
                let shown = location.redacted();
                let opened = if write {
                    Store::open_existing(&location)
                } else {
                    Store::open_read_only(&location)
                };
                match opened {
                    Ok(Some(store)) => Ok(Inventory::Store(store)),
                    Ok(None) | Err(StoreError::NotFound(_)) => {
                        Err(usage(format!("store {shown} does not exist")))
                    }
                    Err(e) => Err(usage(format!("{shown}: {e}"))),
                }
            }
        }
    }

    fn log_on(base: String, user: &str, layers: &Layers) -> Result<Inventory, Failure> {
        let password = crate::client::password(&base, user, layers)?;
        let client = crate::client::http_client()?;
        let request = LogonRequest {
            user: user.to_string(),
            password,
        };
        let answer = client
            .post(format!("{base}/api/v1/logon"))
            .json(&request)
            .send()
            .map_err(|e| (exit::USAGE, format!("{base}: {e}")))?;
        let logon: LogonResponse = answer_json(answer)?;
        Ok(Inventory::Server {
            client,
            base,
            token: logon.token,
        })
    }

    fn pending_moves(
        &self,
        customer: &str,
        due: Option<&str>,
    ) -> Result<Vec<PendingMove>, Failure> {
        match self {
            Inventory::Store(store) => store.pending_moves(customer, due).map_err(store_failure),
            Inventory::Server {
                client,
                base,
                token,
            } => {
                let mut request = client
                    .get(format!("{base}/api/v1/customers/{customer}/moves"))
                    .bearer_auth(token);
                if let Some(due) = due {
                    request = request.query(&[("due", due)]);
                }
                let answer = request
                    .send()
                    .map_err(|e| (exit::USAGE, format!("{base}: {e}")))?;
                answer_json(answer)
            }
        }
    }
}

impl Inventory {
    fn confirm(
        &mut self,
        customer: &str,
        due: &str,
        barcodes: &[String],
    ) -> Result<Confirmation, Failure> {
        match self {
            Inventory::Store(store) => {
                let actor = tapesync_runtime::embedded::local_actor();
                store
                    .confirm_moves(&actor, customer, due, barcodes)
                    .map_err(store_failure)
            }
            Inventory::Server {
                client,
                base,
                token,
            } => {
                let answer = client
                    .post(format!("{base}/api/v1/customers/{customer}/moves:confirm"))
                    .bearer_auth(&*token)
                    .json(&serde_json::json!({"due": due, "barcodes": barcodes}))
                    .send()
                    .map_err(|e| (exit::USAGE, format!("{base}: {e}")))?;
                answer_json(answer)
            }
        }
    }
}

/// The barcodes of a scan file (`-`: standard input): unreadable is exit 2, a CSV without a
/// `volume` column or with a broken line exit 1.
pub(crate) fn read_scan(file: &std::path::Path) -> Result<Vec<String>, Failure> {
    let name = file.display().to_string();
    let text = if name == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| (exit::USAGE, format!("reading standard input: {e}")))?;
        text
    } else {
        std::fs::read_to_string(file).map_err(|e| (exit::USAGE, format!("{name}: {e}")))?
    };
    tapesync_store::scanned_barcodes(&text)
        .map_err(|e| (exit::INPUT_ERRORS, format!("{name}: {e}")))
}

fn confirm(args: &ConfirmArgs, layers: &Layers) -> Result<u8, Failure> {
    let barcodes = read_scan(&args.file)?;
    let due = args
        .due
        .clone()
        .unwrap_or_else(|| chrono::Utc::now().format("%Y-%m-%d").to_string());
    let mut inventory = Inventory::resolve(&args.source, layers, true)?;
    let done = inventory.confirm(&args.customer, &due, &barcodes)?;
    outln!(
        "confirmed {} move{} due by {}",
        done.confirmed.len(),
        if done.confirmed.len() == 1 { "" } else { "s" },
        done.due
    );
    for m in &done.confirmed {
        outln!("  {} {}: {} -> {}", m.media, m.volume, m.from, m.to);
    }
    if done.discrepancies.is_empty() {
        return Ok(exit::OK);
    }
    outln!("discrepancies ({}):", done.discrepancies.len());
    for d in &done.discrepancies {
        let problem = match d.problem {
            Problem::NotExpected => "scanned, not expected",
            Problem::NotScanned => "expected, not scanned",
            Problem::Changed => "not confirmed",
        };
        outln!("  {}: {problem}: {}", d.volume, d.detail);
    }
    Ok(exit::INPUT_ERRORS)
}

/// What the store said, as a failure: what the user asked for is wrong (exit 1), or
/// the store failed (exit 2).
pub(crate) fn store_failure(e: StoreError) -> Failure {
    match e {
        StoreError::NotFound(what) => (exit::INPUT_ERRORS, format!("{what} does not exist")),
        StoreError::Invalid { .. } | StoreError::Conflict(_) => (exit::INPUT_ERRORS, e.to_string()),
        e => (exit::USAGE, e.to_string()),
    }
}

/// The JSON of a successful answer, or the server's error message: a request the server
/// refused for what it asked (400, 404, 409) exits 1, any other failure 2.
pub(crate) fn answer_json<T: serde::de::DeserializeOwned>(
    answer: reqwest::blocking::Response,
) -> Result<T, Failure> {
    let status = answer.status();
    let text = answer
        .text()
        .map_err(|e| (exit::USAGE, format!("reading the answer: {e}")))?;
    if status.is_success() {
        return serde_json::from_str(&text)
            .map_err(|e| (exit::USAGE, format!("the server's answer: {e}")));
    }
    let message = serde_json::from_str::<ApiErrorBody>(&text)
        .map(|b| b.error)
        .unwrap_or(text);
    let code = match status.as_u16() {
        400 | 404 | 409 => exit::INPUT_ERRORS,
        _ => exit::USAGE,
    };
    let message = if status.as_u16() == 404 {
        format!("{message} (no such customer, or no grant on it)")
    } else {
        message
    };
    Err((code, format!("the server answered {status}: {message}")))
}
