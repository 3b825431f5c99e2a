//! `tapesync admin`: manages an inventory store file directly — users and grants, customers,
//! media and repositories, import/export, and a look at sync sessions and volume histories.
//! Everything here is a thin shell over `tapesync_store::Store`.

use crate::exit;
use clap::{Subcommand, ValueEnum};
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tapesync_model::{validate_id, validate_volume_id, Field, InventoryDump, ScopeKey};
use tapesync_store::{
    Role, Store, StoreError, StoreLocation, ThrottlePolicy, IDEMPOTENCY_RETENTION,
};

/// Environment variable that supplies a password without a prompt (scripts, tests).
const PASSWORD_ENV: &str = "TAPESYNC_PASSWORD";

#[derive(clap::Args)]
pub struct Args {
    /// The inventory store: a SQLite file (created by commands that add something) or a
    /// PostgreSQL database (`postgres://user@host/db`; tables created likewise)
    /// [default: tapesync.db; setting `store`, TAPESYNC_STORE]
    #[arg(long, global = true, value_name = "PATH|URL")]
    store: Option<StoreLocation>,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Add, list, disable, enable or delete users, or change their passwords
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// End a user's logon tokens at once (every server node)
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Give a user a role on one customer (replaces an earlier grant)
    Grant {
        user: String,
        customer: String,
        #[arg(value_enum)]
        role: RoleArg,
    },
    /// Take a user's grant on one customer away
    Revoke { user: String, customer: String },
    /// Add or list customers
    Customer {
        #[command(subcommand)]
        command: CustomerCommand,
    },
    /// Add a media type to a customer
    Media {
        #[command(subcommand)]
        command: MediaCommand,
    },
    /// Add a repository (library, vault, …) to a customer
    Repository {
        #[command(subcommand)]
        command: RepositoryCommand,
    },
    /// Load an inventory dump (JSON, `-` for standard input) in one transaction
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Write the whole inventory as a dump (JSON) to FILE or standard output
    Export {
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Remove expired tokens, idempotency records older than 7 days and idle logon-throttle
    /// counters now (a running server does this every 10 minutes)
    Prune,
    /// List recent sync sessions, newest first
    Sessions {
        /// How many sessions to show
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Only sessions that applied changes to this customer (repeatable)
        #[arg(long = "customer", value_name = "CUSTOMER")]
        customers: Vec<String>,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Set, remove or list minimum numbers of scratch volumes (per customer, media and
    /// repository); the list shows the level now against each minimum
    ScratchMin {
        #[command(subcommand)]
        command: ScratchMinCommand,
    },
    /// Show the audit trail of one volume, oldest first
    History {
        customer: String,
        media: String,
        volume: String,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; the password comes from TAPESYNC_PASSWORD or a prompt
    Add {
        name: String,
        /// Administrator: every role on every customer
        #[arg(long)]
        admin: bool,
    },
    /// Change a user's password (TAPESYNC_PASSWORD or a prompt); ends the user's tokens
    Passwd { name: String },
    /// Stop a user from logging on and end its tokens at once (the user and its grants stay)
    Disable { name: String },
    /// Let a disabled user log on again
    Enable { name: String },
    /// Delete a user with its grants and tokens (sessions and history keep the name)
    Delete { name: String },
    /// List users with their grants
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum TokensCommand {
    /// End every token of USER now; the user can log on again
    Revoke {
        #[arg(value_name = "USER")]
        user: String,
    },
}

#[derive(Subcommand)]
enum CustomerCommand {
    /// Add a customer
    Add { id: String, name: Option<String> },
    /// List customers with their media and repositories
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum MediaCommand {
    /// Add a media type to a customer
    Add {
        customer: String,
        id: String,
        description: Option<String>,
    },
}

#[derive(Subcommand)]
enum RepositoryCommand {
    /// Add a repository to a customer (description at most 20 characters)
    Add {
        customer: String,
        id: String,
        description: Option<String>,
    },
}

#[derive(Subcommand)]
enum ScratchMinCommand {
    /// Set (or replace) the minimum of scratch volumes of MEDIA in REPOSITORY of CUSTOMER
    Set {
        customer: String,
        media: String,
        repository: String,
        minimum: u64,
    },
    /// Remove a minimum
    Remove {
        customer: String,
        media: String,
        repository: String,
    },
    /// List the minimums (of one customer, or all) with the scratch volumes there now; a
    /// level under its minimum is marked SHORT
    List {
        customer: Option<String>,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Read,
    Write,
    Admin,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Read => Role::Read,
            RoleArg::Write => Role::Write,
            RoleArg::Admin => Role::Admin,
        }
    }
}

/// A failure with the exit code it maps to: 1 for wrong input, 2 for I/O and internal errors.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn input(message: impl Into<String>) -> Failure {
        Failure {
            code: exit::INPUT_ERRORS,
            message: message.into(),
        }
    }

    fn io(message: impl Into<String>) -> Failure {
        Failure {
            code: exit::USAGE,
            message: message.into(),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        match e {
            StoreError::NotFound(_) | StoreError::Invalid { .. } | StoreError::Conflict(_) => {
                Failure::input(e.to_string())
            }
            other => Failure::io(other.to_string()),
        }
    }
}

type Outcome = Result<(), Failure>;

pub fn run(args: Args, context: &crate::Context) -> ExitCode {
    let store = match context
        .layers
        .value(&crate::settings::STORE, args.store.clone())
    {
        Ok(setting) => setting.value,
        Err(e) => {
            eoutln!("error: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    match dispatch(args, &store) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(f) => {
            eoutln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn dispatch(args: Args, path: &StoreLocation) -> Outcome {
    match args.command {
        AdminCommand::User { command } => match command {
            UserCommand::Add { name, admin } => {
                let password = read_password(&name, true)?;
                let store = open(path, Access::Create)?;
                store.add_user(&name, &password, admin)?;
                say(&format!(
                    "added {}user {name}",
                    if admin { "administrator " } else { "" }
                ));
                Ok(())
            }
            UserCommand::Passwd { name } => {
                let store = open(path, Access::Change)?;
                if store.user(&name)?.is_none() {
                    return Err(Failure::input(format!("user {name} does not exist")));
                }
                let password = read_password(&name, true)?;
                store.set_password(&name, &password)?;
                say(&format!(
                    "changed the password of {name}; its logon tokens have ended"
                ));
                Ok(())
            }
            UserCommand::Disable { name } => {
                open(path, Access::Change)?.set_disabled(&name, true)?;
                say(&format!("disabled {name}; its logon tokens have ended"));
                Ok(())
            }
            UserCommand::Enable { name } => {
                open(path, Access::Change)?.set_disabled(&name, false)?;
                say(&format!("enabled {name}"));
                Ok(())
            }
            UserCommand::Delete { name } => {
                open(path, Access::Change)?.delete_user(&name)?;
                say(&format!("deleted user {name}"));
                Ok(())
            }
            UserCommand::List { json } => user_list(&open(path, Access::Read)?, json),
        },
        AdminCommand::Tokens {
            command: TokensCommand::Revoke { user },
        } => {
            let ended = open(path, Access::Change)?.revoke_tokens(&user)?;
            say(&format!(
                "ended {ended} logon token{} of {user}",
                if ended == 1 { "" } else { "s" }
            ));
            Ok(())
        }
        AdminCommand::Grant {
            user,
            customer,
            role,
        } => {
            let customer = id(Field::Customer, &customer)?;
            let store = open(path, Access::Change)?;
            let role = Role::from(role);
            store.grant(&user, &customer, role)?;
            say(&format!("granted {role} on {customer} to {user}"));
            if !store.list_customers()?.iter().any(|c| c.id == customer) {
                eoutln!(
                    "note: customer {customer} does not exist yet; the grant applies once it does"
                );
            }
            Ok(())
        }
        AdminCommand::Revoke { user, customer } => {
            let customer = id(Field::Customer, &customer)?;
            let store = open(path, Access::Change)?;
            if store.revoke(&user, &customer)? {
                say(&format!("revoked {user}'s grant on {customer}"));
            } else {
                say(&format!("{user} had no grant on {customer}"));
            }
            Ok(())
        }
        AdminCommand::Customer { command } => match command {
            CustomerCommand::Add { id: raw, name } => {
                let customer = id(Field::Customer, &raw)?;
                open(path, Access::Create)?
                    .add_customer(&customer, name.as_deref().unwrap_or(""))?;
                say(&format!("added customer {customer}"));
                Ok(())
            }
            CustomerCommand::List { json } => customer_list(&open(path, Access::Read)?, json),
        },
        AdminCommand::Media {
            command:
                MediaCommand::Add {
                    customer,
                    id: raw,
                    description,
                },
        } => {
            let customer = id(Field::Customer, &customer)?;
            let media = id(Field::Media, &raw)?;
            open(path, Access::Change)?.add_media(
                &customer,
                &media,
                description.as_deref().unwrap_or(""),
            )?;
            say(&format!("added media {media} to customer {customer}"));
            Ok(())
        }
        AdminCommand::Repository {
            command:
                RepositoryCommand::Add {
                    customer,
                    id: raw,
                    description,
                },
        } => {
            let customer = id(Field::Customer, &customer)?;
            let repository = id(Field::Repository, &raw)?;
            open(path, Access::Change)?.add_repository(
                &customer,
                &repository,
                description.as_deref().unwrap_or(""),
            )?;
            say(&format!(
                "added repository {repository} to customer {customer}"
            ));
            Ok(())
        }
        AdminCommand::Import { file } => import(path, &file),
        AdminCommand::Export { file } => export(path, file.as_deref()),
        AdminCommand::Prune => {
            let report = open(path, Access::Change)?.prune(&ThrottlePolicy::default())?;
            say(&format!(
                "removed {} expired token(s), {} idempotency record(s) older than {} days, {} idle \
                 logon-throttle counter(s)",
                report.expired_tokens,
                report.idempotency_records,
                IDEMPOTENCY_RETENTION.num_days(),
                report.throttle_counters
            ));
            Ok(())
        }
        AdminCommand::Sessions {
            limit,
            customers,
            json,
        } => {
            let customers = customers
                .iter()
                .map(|c| id(Field::Customer, c))
                .collect::<Result<Vec<_>, _>>()?;
            sessions(&open(path, Access::Read)?, limit, &customers, json)
        }
        AdminCommand::History {
            customer,
            media,
            volume,
            json,
        } => history(path, &customer, &media, &volume, json),
        AdminCommand::ScratchMin { command } => scratch_min(path, command),
    }
}

/// What a command does with the store.
#[derive(Clone, Copy)]
enum Access {
    /// Adds things: creates the store (file, or tables in the database) if missing.
    Create,
    /// Changes existing things: the store must exist.
    Change,
    /// Only reads: the store must exist, and it is opened without write access (it may be
    /// a read-only file in a read-only folder) and left unchanged.
    Read,
}

/// Opens the store. Commands that only read or change existing things refuse a missing
/// store (file, or tables in the database), so a mistyped `--store` does not silently
/// create an empty inventory.
fn open(location: &StoreLocation, access: Access) -> Result<Store, Failure> {
    let shown = location.redacted();
    let missing = || {
        Failure::io(format!(
            "store {shown} does not exist (create it with `tapesync admin --store {shown} customer add ...`)"
        ))
    };
    let opened = match access {
        Access::Create => Store::open_location(location).map(Some),
        Access::Change => Store::open_existing(location),
        Access::Read => Store::open_read_only(location),
    };
    match opened {
        Ok(Some(store)) => Ok(store),
        Ok(None) | Err(StoreError::NotFound(_)) => Err(missing()),
        Err(e) => Err(Failure::io(format!("{shown}: {e}"))),
    }
}

fn id(field: Field, raw: &str) -> Result<String, Failure> {
    validate_id(field, raw)
        .map_err(|e| Failure::input(format!("{} id `{raw}`: {e}", field_noun(field))))
}

fn field_noun(field: Field) -> &'static str {
    match field {
        Field::Customer => "customer",
        Field::Media => "media",
        _ => "repository",
    }
}

fn say(line: &str) {
    outln!("{line}");
}

/// The password for `user`: from TAPESYNC_PASSWORD, else typed twice on a terminal without
/// echo. Never from the command line, where other users could read it in the process list.
fn read_password(user: &str, confirm: bool) -> Result<String, Failure> {
    if let Ok(password) = std::env::var(PASSWORD_ENV) {
        if password.is_empty() {
            return Err(Failure::input(format!("{PASSWORD_ENV} is empty")));
        }
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::io(format!(
            "no password: set {PASSWORD_ENV} or run on a terminal to be asked"
        )));
    }
    let password = rpassword::prompt_password(format!("Password for {user}: "))
        .map_err(|e| Failure::io(format!("reading the password: {e}")))?;
    if password.is_empty() {
        return Err(Failure::input("the password is empty"));
    }
    if confirm {
        let again = rpassword::prompt_password("Repeat the password: ")
            .map_err(|e| Failure::io(format!("reading the password: {e}")))?;
        if again != password {
            return Err(Failure::input("the passwords do not match"));
        }
    }
    Ok(password)
}

fn print_json<T: serde::Serialize>(value: &T) -> Outcome {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::io(format!("writing JSON: {e}")))?;
    outln!("{text}");
    Ok(())
}

fn user_list(store: &Store, json: bool) -> Outcome {
    let users = store.list_users()?;
    if json {
        return print_json(&users);
    }
    let mut rows = vec![vec![
        "USER".to_string(),
        "ADMIN".into(),
        "STATE".into(),
        "GRANTS".into(),
    ]];
    for u in &users {
        let grants = u
            .grants
            .iter()
            .map(|(c, r)| format!("{c}:{r}"))
            .collect::<Vec<_>>()
            .join(" ");
        rows.push(vec![
            u.user.name.clone(),
            if u.user.is_admin { "yes" } else { "no" }.into(),
            if u.disabled { "disabled" } else { "enabled" }.into(),
            grants,
        ]);
    }
    print_table(&rows);
    Ok(())
}

fn customer_list(store: &Store, json: bool) -> Outcome {
    let customers = store.list_customers()?;
    if json {
        return print_json(&customers);
    }
    let mut rows = vec![vec![
        "CUSTOMER".to_string(),
        "NAME".into(),
        "MEDIA".into(),
        "REPOSITORIES".into(),
    ]];
    for c in &customers {
        rows.push(vec![
            c.id.clone(),
            c.name.clone(),
            c.media
                .iter()
                .map(|m| m.id.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            c.repositories
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ]);
    }
    print_table(&rows);
    Ok(())
}

fn import(path: &StoreLocation, file: &Path) -> Outcome {
    // Bytes, not text: a dump that is not UTF-8 is a wrong dump (exit 1), not an I/O failure.
    let bytes = if file == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| Failure::io(format!("reading standard input: {e}")))?;
        bytes
    } else {
        std::fs::read(file).map_err(|e| Failure::io(format!("{}: {e}", file.display())))?
    };
    let dump: InventoryDump = serde_json::from_slice(&bytes)
        .map_err(|e| Failure::input(format!("{}: not an inventory dump: {e}", file.display())))?;
    let mut store = open(path, Access::Create)?;
    store.import(&dump)?;
    say(&format!(
        "imported {} customers and {} volumes",
        dump.customers.len(),
        dump.volumes.len()
    ));
    Ok(())
}

fn export(path: &StoreLocation, file: Option<&Path>) -> Outcome {
    let dump = open(path, Access::Read)?.export()?;
    let mut text = serde_json::to_string_pretty(&dump)
        .map_err(|e| Failure::io(format!("writing JSON: {e}")))?;
    text.push('\n');
    match file {
        None => {
            crate::out!("{text}");
            Ok(())
        }
        Some(f) => {
            std::fs::write(f, text).map_err(|e| Failure::io(format!("{}: {e}", f.display())))
        }
    }
}

fn sessions(store: &Store, limit: usize, customers: &[String], json: bool) -> Outcome {
    let filter = (!customers.is_empty()).then_some(customers);
    let sessions = store.list_sessions(filter, limit)?;
    if json {
        return print_json(&sessions);
    }
    let mut rows = vec![[
        "ID",
        "USER",
        "STARTED",
        "OUTCOME",
        "DEFINITION",
        "SOURCE",
        "READ",
        "UPDATED",
        "ADDED",
        "CONFLICTS",
    ]
    .map(String::from)
    .to_vec()];
    for s in &sessions {
        let figure = |f: fn(&tapesync_model::SyncStatistics) -> u64| {
            s.statistics
                .as_ref()
                .map(|st| f(st).to_string())
                .unwrap_or_else(|| "-".into())
        };
        rows.push(vec![
            s.id.to_string(),
            s.user.clone(),
            s.started_at.clone(),
            serde_json::to_value(s.outcome)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            s.definition_name.clone(),
            s.source_name.clone(),
            figure(|st| st.records_read),
            figure(|st| st.volumes_updated),
            figure(|st| st.volumes_added),
            figure(|st| st.conflicts),
        ]);
    }
    print_table(&rows);
    Ok(())
}

fn history(path: &StoreLocation, customer: &str, media: &str, volume: &str, json: bool) -> Outcome {
    let scope = ScopeKey {
        customer: id(Field::Customer, customer)?,
        media: id(Field::Media, media)?,
    };
    let volume = validate_volume_id(volume)
        .map_err(|e| Failure::input(format!("volume id `{volume}`: {e}")))?;
    let store = open(path, Access::Read)?;
    let current = store.volume(&scope, &volume)?;
    let entries = store.volume_history(&scope, &volume)?;
    if current.is_none() && entries.is_empty() {
        return Err(Failure::input(format!(
            "volume {volume} does not exist in {scope}"
        )));
    }
    if json {
        return print_json(&entries);
    }
    let mut rows = vec![["AT", "USER", "SESSION", "FIELD", "OLD", "NEW"]
        .map(String::from)
        .to_vec()];
    for e in &entries {
        rows.push(vec![
            e.at.clone(),
            e.user.clone(),
            e.session
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into()),
            e.field.to_string(),
            e.old.clone().unwrap_or_else(|| "-".into()),
            e.new.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    print_table(&rows);
    if let Some(v) = current {
        say(&format!("{scope} {volume} is at version {}", v.version));
    }
    Ok(())
}

/// Prints rows as left-aligned columns separated by two spaces (first row: headings).
fn scratch_min(path: &StoreLocation, command: ScratchMinCommand) -> Outcome {
    match command {
        ScratchMinCommand::Set {
            customer,
            media,
            repository,
            minimum,
        } => {
            let (c, m, r) = place(&customer, &media, &repository)?;
            open(path, Access::Change)?.set_scratch_minimum(&c, &m, &r, minimum)?;
            say(&format!(
                "set the scratch minimum of {m} in {r} of customer {c} to {minimum}"
            ));
            Ok(())
        }
        ScratchMinCommand::Remove {
            customer,
            media,
            repository,
        } => {
            let (c, m, r) = place(&customer, &media, &repository)?;
            open(path, Access::Change)?.remove_scratch_minimum(&c, &m, &r)?;
            say(&format!(
                "removed the scratch minimum of {m} in {r} of customer {c}"
            ));
            Ok(())
        }
        ScratchMinCommand::List { customer, json } => {
            let customer = customer.map(|c| id(Field::Customer, &c)).transpose()?;
            let levels = open(path, Access::Read)?.scratch_levels(customer.as_deref())?;
            if json {
                return print_json(&levels);
            }
            let mut rows = vec![[
                "CUSTOMER",
                "MEDIA",
                "REPOSITORY",
                "SCRATCH",
                "MINIMUM",
                "STATE",
            ]
            .map(String::from)
            .to_vec()];
            for l in &levels {
                rows.push(vec![
                    l.customer.clone(),
                    l.media.clone(),
                    l.repository.clone(),
                    l.scratch.to_string(),
                    l.minimum.to_string(),
                    if l.is_short() { "SHORT" } else { "ok" }.to_string(),
                ]);
            }
            print_table(&rows);
            Ok(())
        }
    }
}

/// Checked customer, media and repository ids.
fn place(
    customer: &str,
    media: &str,
    repository: &str,
) -> Result<(String, String, String), Failure> {
    Ok((
        id(Field::Customer, customer)?,
        id(Field::Media, media)?,
        id(Field::Repository, repository)?,
    ))
}

fn print_table(rows: &[Vec<String>]) {
    // Stored text may predate the refusal of control characters (or come from a newer
    // writer): escape them, so a listing can neither move the cursor nor reorder the line.
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| tapesync_model::escape_controls(c).into_owned())
                .collect()
        })
        .collect();
    let rows = &rows;
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        outln!("{}", line.trim_end());
    }
}
