//! `tapesync reconcile`: what the inventory expects in one repository of a customer against
//! what was found there — barcodes scanned (a file or standard input), or a vault's own
//! inventory read through a definition — recorded in the store or on the server, and printed
//! as a dated certificate. `--list` and `--id N` show recorded ones again (docs/operators.md,
//! "Reconciliation").

use crate::exit;
use crate::moves::{answer_json, read_scan, store_failure, Failure, Inventory, Source};
use crate::settings::Layers;
use clap::ValueEnum;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use tapesync_compiler::{compile_path, render_human, CompileOptions};
use tapesync_runtime::{InputSource, OpenInput};
use tapesync_store::{ReconcileRequest, Reconciliation, ReconciliationSummary};

#[derive(clap::Args)]
pub struct Args {
    /// The customer whose repository is reconciled
    #[arg(long, value_name = "CUSTOMER")]
    customer: String,
    /// The repository (library or vault) the barcodes were found in
    #[arg(long, value_name = "REPOSITORY", required_unless_present_any = ["list", "id"])]
    repository: Option<String>,
    /// Only volumes of this media are expected; records and barcodes of other media are not
    /// counted [default: every media]
    #[arg(long, value_name = "MEDIA")]
    media: Option<String>,
    /// The barcodes found: one per line, or a CSV with a `volume` column; `-` for standard
    /// input
    #[arg(value_name = "BARCODES-FILE|-", conflicts_with_all = ["definition", "list", "id"],
          required_unless_present_any = ["definition", "list", "id"])]
    file: Option<PathBuf>,
    /// Read the vault's inventory through this definition (the same language and reading as
    /// `tapesync run`): each record's VOLUME is a barcode found
    #[arg(long, value_name = "FILE", conflicts_with_all = ["list", "id"])]
    definition: Option<PathBuf>,
    /// The vault's inventory file read with --definition (`-` for standard input) [default:
    /// the definition's SetFile]
    #[arg(long, value_name = "FILE|-", requires = "definition")]
    input: Option<String>,
    /// List the customer's recorded reconciliations, newest first
    #[arg(long, conflicts_with_all = ["id", "repository", "media"])]
    list: bool,
    /// Show recorded reconciliation N again (its certificate)
    #[arg(long, value_name = "N", conflicts_with_all = ["repository", "media"])]
    id: Option<i64>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    #[command(flatten)]
    source: Source,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// The certificate for people (with --list: one line per reconciliation)
    Table,
    /// One line per volume: list,media,volume,detail (with --list: one per reconciliation)
    Csv,
    /// The API's answer
    Json,
}

pub fn run(args: Args, context: &crate::Context) -> ExitCode {
    let result = if args.list {
        list(&args, &context.layers)
    } else if let Some(id) = args.id {
        show(&args, id, &context.layers)
    } else {
        reconcile(&args, context)
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err((code, message)) => {
            eoutln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

fn reconcile(args: &Args, context: &crate::Context) -> Result<u8, Failure> {
    let (barcodes, source) = match (&args.definition, &args.file) {
        (Some(definition), _) => read_inventory(args, definition, context)?,
        (None, Some(file)) => {
            let label = match file.to_str() {
                Some("-") => "standard input".to_string(),
                _ => file.display().to_string(),
            };
            (read_scan(file)?, label)
        }
        (None, None) => unreachable!("clap requires a file or --definition"),
    };
    let request = ReconcileRequest {
        repository: args.repository.clone().unwrap_or_default(),
        media: args.media.clone(),
        barcodes,
        source,
    };
    let mut inventory = Inventory::resolve(&args.source, &context.layers, true)?;
    let done = inventory.reconcile(&args.customer, &request)?;
    print_certificate(&done, args.format)?;
    Ok(if done.summary.is_clean() {
        exit::OK
    } else {
        exit::INPUT_ERRORS
    })
}

/// The barcodes of a vault's inventory read through a definition, and the source label.
/// A definition with errors, or a report with rejected records, is bad input (exit 1): a
/// certificate must not rest on records that could not be read.
fn read_inventory(
    args: &Args,
    definition: &std::path::Path,
    context: &crate::Context,
) -> Result<(Vec<String>, String), Failure> {
    let compilation = compile_path(definition, &CompileOptions::default());
    let shown = definition.display();
    let plan = match (&compilation.plan, compilation.has_errors()) {
        (Some(plan), false) => plan,
        _ => {
            eout!("{}", render_human(&compilation, context.color));
            return Err((
                exit::INPUT_ERRORS,
                format!("{shown} has errors; nothing was reconciled"),
            ));
        }
    };
    let source = match args.input.as_deref().or(plan.input.file.as_deref()) {
        None | Some("-") => InputSource::Stdin,
        Some(path) => InputSource::File(PathBuf::from(path)),
    };
    let input_name = source.display_name();
    let now = tapesync_runtime::now_or_override(std::env::var("TAPESYNC_NOW").ok().as_deref())
        .map_err(|e| (exit::USAGE, format!("TAPESYNC_NOW: {e}")))?;
    let input = OpenInput::open(&source).map_err(|e| (exit::USAGE, e.to_string()))?;
    let mut observer = crate::console::ConsoleObserver::new(crate::console::DEFAULT_REJECTION_CAP);
    let (spill, stats) = tapesync_runtime::read_records(plan, input.lines(), now, &mut observer)
        .map_err(|e| (exit::USAGE, e.to_string()))?;
    let rejected = stats.statistics.records_rejected;
    if rejected > 0 {
        return Err((
            exit::INPUT_ERRORS,
            format!(
                "{input_name}: {rejected} record{} rejected (above); correct the report or the \
                 definition — nothing was reconciled",
                if rejected == 1 { " was" } else { "s were" }
            ),
        ));
    }
    let customer = args.customer.trim().to_ascii_uppercase();
    let media = args.media.as_deref().map(|m| m.trim().to_ascii_uppercase());
    let mut barcodes = Vec::new();
    let mut not_counted: BTreeMap<String, u64> = BTreeMap::new();
    for (i, scope) in spill.scopes().iter().enumerate() {
        let records = spill.read(i).map_err(|e| (exit::USAGE, e.to_string()))?;
        if scope.customer != customer {
            *not_counted
                .entry(format!("customer {}", scope.customer))
                .or_default() += records.len();
            continue;
        }
        if media.as_ref().is_some_and(|m| *m != scope.media) {
            *not_counted
                .entry(format!("media {}", scope.media))
                .or_default() += records.len();
            continue;
        }
        for record in records.iter() {
            let record = record.map_err(|e| (exit::USAGE, e.to_string()))?;
            barcodes.push(record.volume.to_string());
        }
    }
    if !not_counted.is_empty() {
        let what: Vec<String> = not_counted
            .iter()
            .map(|(k, n)| format!("{n} of {k}"))
            .collect();
        eoutln!(
            "note: {input_name}: records not counted (not {customer}{}): {}",
            media.as_ref().map(|m| format!(" {m}")).unwrap_or_default(),
            what.join(", ")
        );
    }
    if barcodes.is_empty() {
        return Err((
            exit::INPUT_ERRORS,
            format!(
                "{input_name}: no record of customer {customer} was read through {shown}; \
                 nothing was reconciled"
            ),
        ));
    }
    Ok((barcodes, format!("definition {shown}, input {input_name}")))
}

fn list(args: &Args, layers: &Layers) -> Result<u8, Failure> {
    let inventory = Inventory::resolve(&args.source, layers, false)?;
    let list = inventory.reconciliations(&args.customer)?;
    match args.format {
        Format::Json => json(&list)?,
        Format::Csv => {
            let mut rows = vec![csv_row(&[
                "id",
                "at",
                "repository",
                "media",
                "actor",
                "source",
                "expected",
                "found",
                "present",
                "missing",
                "surplus",
            ])];
            for s in &list {
                let c = &s.counts;
                rows.push(csv_row(&[
                    &s.id.to_string(),
                    &s.at,
                    &s.repository,
                    s.media.as_deref().unwrap_or(""),
                    &s.actor,
                    &s.source,
                    &c.expected.to_string(),
                    &c.found.to_string(),
                    &c.present.to_string(),
                    &c.missing.to_string(),
                    &c.surplus.to_string(),
                ]));
            }
            out!("{}", rows.concat());
        }
        Format::Table => {
            if list.is_empty() {
                outln!("no reconciliations of {}", args.customer.to_uppercase());
            }
            for s in &list {
                let c = &s.counts;
                outln!(
                    "#{:<5} {}  {:<4} {:<4} {:<12} present {:>5}  missing {:>5}  surplus {:>5}  {}",
                    s.id,
                    s.date_text(),
                    s.repository,
                    s.media.as_deref().unwrap_or("all"),
                    s.actor,
                    c.present,
                    c.missing,
                    c.surplus,
                    s.source
                );
            }
        }
    }
    Ok(exit::OK)
}

fn show(args: &Args, id: i64, layers: &Layers) -> Result<u8, Failure> {
    let inventory = Inventory::resolve(&args.source, layers, false)?;
    let done = inventory.reconciliation(&args.customer, id)?;
    print_certificate(&done, args.format)?;
    Ok(exit::OK)
}

fn json<T: serde::Serialize>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|e| (exit::USAGE, e.to_string()))?;
    outln!("{text}");
    Ok(())
}

fn print_certificate(done: &Reconciliation, format: Format) -> Result<(), Failure> {
    match format {
        Format::Json => json(done)?,
        Format::Csv => out!("{}", certificate_csv(done)),
        Format::Table => out!("{}", certificate(done)),
    }
    Ok(())
}

/// The dated certificate, for people and for printing.
pub(crate) fn certificate(done: &Reconciliation) -> String {
    use std::fmt::Write as _;
    let s: &ReconciliationSummary = &done.summary;
    let c = &s.counts;
    let mut out = String::new();
    let _ = writeln!(out, "Reconciliation certificate #{}", s.id);
    let _ = writeln!(out, "Customer:    {}", s.customer);
    let _ = writeln!(out, "Repository:  {}", s.repository);
    let _ = writeln!(out, "Media:       {}", s.media.as_deref().unwrap_or("all"));
    let _ = writeln!(out, "Date:        {}", s.date_text());
    let _ = writeln!(out, "By:          {}", s.actor);
    let _ = writeln!(out, "Source:      {}", s.source);
    let _ = writeln!(
        out,
        "Counts:      expected {}, found {}, present {}, missing {}, surplus {}",
        c.expected, c.found, c.present, c.missing, c.surplus
    );
    let _ = writeln!(
        out,
        "Result:      {}",
        if s.is_clean() {
            "every expected volume was found, and nothing else".to_string()
        } else {
            format!(
                "DISCREPANCIES: {} missing, {} surplus",
                c.missing, c.surplus
            )
        }
    );
    let volumes = |out: &mut String, title: String, list: &[tapesync_store::ReconciledVolume]| {
        let _ = writeln!(out, "\n{title} ({}):", list.len());
        if !list.is_empty() {
            let _ = writeln!(out, "  {:<10}  MEDIA", "VOLUME");
        }
        for v in list {
            let _ = writeln!(out, "  {:<10}  {}", v.volume, v.media);
        }
    };
    volumes(
        &mut out,
        format!("Missing: expected in {}, not found", s.repository),
        &done.missing,
    );
    let _ = writeln!(
        out,
        "\nSurplus: found, not expected in {} ({}):",
        s.repository,
        done.surplus.len()
    );
    if !done.surplus.is_empty() {
        let _ = writeln!(out, "  {:<10}  {:<5}  INVENTORY", "VOLUME", "MEDIA");
    }
    for v in &done.surplus {
        let _ = writeln!(
            out,
            "  {:<10}  {:<5}  {}",
            v.volume,
            v.media.as_deref().unwrap_or("-"),
            v.whereabouts()
        );
    }
    volumes(&mut out, "Present".to_string(), &done.present);
    out
}

/// One line per volume of the three lists.
fn certificate_csv(done: &Reconciliation) -> String {
    let mut rows = vec![csv_row(&["list", "media", "volume", "detail"])];
    for v in &done.missing {
        rows.push(csv_row(&["missing", &v.media, &v.volume, ""]));
    }
    for v in &done.surplus {
        rows.push(csv_row(&[
            "surplus",
            v.media.as_deref().unwrap_or(""),
            &v.volume,
            &v.whereabouts(),
        ]));
    }
    for v in &done.present {
        rows.push(csv_row(&["present", &v.media, &v.volume, ""]));
    }
    rows.concat()
}

/// One CSV line (quoted where needed), through the csv crate.
fn csv_row(fields: &[&str]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = writer.write_record(fields);
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}

impl Inventory {
    fn reconcile(
        &mut self,
        customer: &str,
        request: &ReconcileRequest,
    ) -> Result<Reconciliation, Failure> {
        match self {
            Inventory::Store(store) => {
                let actor = tapesync_runtime::embedded::local_actor();
                store
                    .reconcile(&actor, customer, request)
                    .map_err(store_failure)
            }
            Inventory::Server {
                client,
                base,
                token,
            } => {
                let answer = client
                    .post(format!(
                        "{base}/api/v1/customers/{customer}/reconciliations"
                    ))
                    .bearer_auth(&*token)
                    .json(request)
                    .send()
                    .map_err(|e| (exit::USAGE, format!("{base}: {e}")))?;
                answer_json(answer)
            }
        }
    }

    fn reconciliations(&self, customer: &str) -> Result<Vec<ReconciliationSummary>, Failure> {
        match self {
            Inventory::Store(store) => store.reconciliations(customer).map_err(store_failure),
            Inventory::Server { .. } => self.get(&format!("customers/{customer}/reconciliations")),
        }
    }

    fn reconciliation(&self, customer: &str, id: i64) -> Result<Reconciliation, Failure> {
        match self {
            Inventory::Store(store) => store.reconciliation(customer, id).map_err(store_failure),
            Inventory::Server { .. } => {
                self.get(&format!("customers/{customer}/reconciliations/{id}"))
            }
        }
    }

    /// GETs `/api/v1/{path}` from the server.
    fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        let Inventory::Server {
            client,
            base,
            token,
        } = self
        else {
            unreachable!("only for a server")
        };
        let answer = client
            .get(format!("{base}/api/v1/{path}"))
            .bearer_auth(token)
            .send()
            .map_err(|e| (exit::USAGE, format!("{base}: {e}")))?;
        answer_json(answer)
    }
}
