//! `tapesync config show`: the settings a command would use, and where each comes from.

use crate::exit;
use crate::settings::{self as s, FileOrigin, Key, Layers, Value};
use crate::Globals;
use clap::Subcommand;
use serde::Serialize;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective settings (flags given to a command beat what this shows, except
    /// the global ones given here) and where each came from; passwords are masked
    Show {
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
}

#[derive(Serialize)]
struct Row {
    key: &'static str,
    /// `None`: not set anywhere.
    value: Option<String>,
    source: Option<String>,
    env: Option<&'static str>,
}

#[derive(Serialize)]
struct Shown {
    file: Option<String>,
    file_chosen_by: Option<&'static str>,
    settings: Vec<Row>,
}

fn row<T: Value>(layers: &Layers, key: &Key<T>, flag: Option<T>) -> Result<Row, String> {
    let setting = layers.get(key, flag)?;
    Ok(Row {
        key: key.name,
        value: setting.as_ref().map(|s| {
            if key.secret {
                "********".to_string()
            } else {
                s.value.show()
            }
        }),
        source: setting.map(|s| s.source.to_string()),
        env: key.env,
    })
}

/// Every setting, in the order of docs/configuration.md.
fn rows(layers: &Layers, globals: &Globals) -> Result<Vec<Row>, String> {
    Ok(vec![
        row(layers, &s::STORE, None)?,
        row(layers, &s::SERVER, None)?,
        row(layers, &s::USER, None)?,
        row(layers, &s::PASSWORD, None)?,
        row(layers, &s::DEFINITION, None)?,
        row(layers, &s::INPUT_COMMAND, None)?,
        row(layers, &s::ADD_NEW, None)?,
        row(layers, &s::ADD_NEW_IDS, None)?,
        row(layers, &s::BATCH_SIZE, None)?,
        row(layers, &s::CACHE_DIR, None)?,
        row(layers, &s::LOG_FORMAT, globals.log_format)?,
        row(layers, &s::COLOR, globals.color)?,
        row(layers, &s::LISTEN, None)?,
        row(layers, &s::READERS, None)?,
        row(layers, &s::TOKEN_MINUTES, None)?,
        row(layers, &s::REMEMBER_LOGONS_MINUTES, None)?,
        row(layers, &s::SECURE_COOKIE, None)?,
    ])
}

pub fn run(args: Args, layers: &Layers, globals: &Globals) -> ExitCode {
    let ConfigCommand::Show { json } = args.command;
    let rows = match rows(layers, globals) {
        Ok(rows) => rows,
        Err(e) => {
            eoutln!("error: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let shown = Shown {
        file: layers.file.as_ref().map(|f| f.path.display().to_string()),
        file_chosen_by: layers.file.as_ref().map(|f| match f.origin {
            FileOrigin::Flag => "--config",
            FileOrigin::Env => s::CONFIG_ENV,
            FileOrigin::DefaultLocation => "default location",
        }),
        settings: rows,
    };
    let text = if json {
        let mut text = serde_json::to_string_pretty(&shown).unwrap_or_default();
        text.push('\n');
        text
    } else {
        table(&shown)
    };
    crate::output::stdout_bytes(text.as_bytes());
    ExitCode::from(exit::OK)
}

fn table(shown: &Shown) -> String {
    let mut text = match (&shown.file, shown.file_chosen_by) {
        (Some(path), Some(by)) => format!("# configuration file: {path} (chosen by {by})\n"),
        _ => {
            let default = s::default_location()
                .map(|p| format!(" (looked for {})", p.display()))
                .unwrap_or_default();
            format!("# no configuration file{default}\n")
        }
    };
    let width = shown
        .settings
        .iter()
        .map(|r| r.key.len())
        .max()
        .unwrap_or(0);
    // Dotted keys (`serve.listen = …`) are valid TOML: the lines read like the file.
    for r in &shown.settings {
        match (&r.value, &r.source) {
            (Some(value), Some(source)) => {
                text.push_str(&format!("{:width$} = {value}  # {source}\n", r.key))
            }
            _ => text.push_str(&format!("# {:width$}   (not set)\n", r.key)),
        }
    }
    text
}
