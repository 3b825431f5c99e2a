//! Settings that every run repeats, from four layers, highest first: a command-line flag, an
//! environment variable, the configuration file, a built-in default (docs/configuration.md).
//!
//! The file is `--config FILE`, else `TAPESYNC_CONFIG` (empty: no file), else
//! `config.toml` in the platform's configuration directory (`~/.config/tapesync/` on Linux)
//! when it exists. Each setting is one [`Key`] below; a command asks for the keys it uses with
//! its flag's value, and `tapesync config show` lists them all with where each came from.
//!
//! Adding a setting: a field in [`File`] (or [`ServeFile`]), a [`Key`] constant, the flag in
//! the command's `Args`, `layers.get(&KEY, flag)` where the command needs it, and one line in
//! `config_cmd::rows`.

use crate::color::ColorChoice;
use crate::logging::LogFormat;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use tapesync_store::StoreLocation;
use toml::Spanned;

/// The configuration file's contents. Unknown keys are refused, so a misspelt key is an error
/// and not silently a default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    store: Option<Spanned<StoreLocation>>,
    server: Option<Spanned<String>>,
    user: Option<Spanned<String>>,
    password: Option<Spanned<String>>,
    definition: Option<Spanned<PathBuf>>,
    input_command: Option<Spanned<String>>,
    add_new: Option<Spanned<bool>>,
    add_new_ids: Option<Spanned<bool>>,
    batch_size: Option<Spanned<u64>>,
    cache_dir: Option<Spanned<PathBuf>>,
    log_format: Option<Spanned<LogFormat>>,
    color: Option<Spanned<ColorChoice>>,
    #[serde(default)]
    serve: ServeFile,
}

/// The `[serve]` table: settings of `tapesync serve` only.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeFile {
    listen: Option<Spanned<String>>,
    readers: Option<Spanned<u16>>,
    token_minutes: Option<Spanned<u64>>,
    remember_logons_minutes: Option<Spanned<u64>>,
    secure_cookie: Option<Spanned<bool>>,
}

/// A value a setting can have: how it is read from an environment variable and shown.
pub trait Value: Clone {
    fn parse_env(text: &str) -> Result<Self, String>;
    fn show(&self) -> String;
    /// Paths in the file are relative to the file's folder, not to wherever a job runs.
    fn in_folder(self, _folder: &Path) -> Self {
        self
    }
}

impl Value for String {
    fn parse_env(text: &str) -> Result<String, String> {
        Ok(text.to_string())
    }
    fn show(&self) -> String {
        format!("{self:?}")
    }
}

impl Value for PathBuf {
    fn parse_env(text: &str) -> Result<PathBuf, String> {
        Ok(PathBuf::from(text))
    }
    fn show(&self) -> String {
        format!("{:?}", self.display().to_string())
    }
    fn in_folder(self, folder: &Path) -> PathBuf {
        folder.join(self)
    }
}

/// A SQLite file or a `postgres://` URL; shown without the URL's password.
impl Value for StoreLocation {
    fn parse_env(text: &str) -> Result<StoreLocation, String> {
        Ok(StoreLocation::parse(text))
    }
    fn show(&self) -> String {
        format!("{:?}", self.redacted())
    }
    fn in_folder(self, folder: &Path) -> StoreLocation {
        match self {
            StoreLocation::File(path) => StoreLocation::File(folder.join(path)),
            url => url,
        }
    }
}

macro_rules! number_value {
    ($($t:ty),*) => {$(
        impl Value for $t {
            fn parse_env(text: &str) -> Result<$t, String> {
                text.trim().parse().map_err(|_| format!("`{text}` is not a whole number"))
            }
            fn show(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
number_value!(u16, u64);

impl Value for bool {
    fn parse_env(text: &str) -> Result<bool, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(format!("`{text}` is not true or false (1/0, yes/no)")),
        }
    }
    fn show(&self) -> String {
        self.to_string()
    }
}

impl Value for LogFormat {
    fn parse_env(text: &str) -> Result<LogFormat, String> {
        text.trim().parse()
    }
    fn show(&self) -> String {
        format!("{:?}", self.name())
    }
}

impl Value for ColorChoice {
    fn parse_env(text: &str) -> Result<ColorChoice, String> {
        text.trim().parse()
    }
    fn show(&self) -> String {
        format!("{:?}", self.name())
    }
}

/// One setting: its name in the file, its flag and environment variable, and its default.
pub struct Key<T: 'static> {
    /// As written in the file; `serve.listen` is `listen` in the `[serve]` table.
    pub name: &'static str,
    pub flag: Option<&'static str>,
    pub env: Option<&'static str>,
    file: fn(&File) -> Option<&Spanned<T>>,
    default: Option<fn() -> T>,
    check: fn(&T) -> Result<(), String>,
    /// Shown masked by `config show`; only read from a file other users cannot read.
    pub secret: bool,
}

fn any<T>(_: &T) -> Result<(), String> {
    Ok(())
}

fn in_range(value: u64, low: u64, high: u64) -> Result<(), String> {
    if (low..=high).contains(&value) {
        Ok(())
    } else {
        Err(format!("{value} is not in {low}..={high}"))
    }
}

pub const STORE: Key<StoreLocation> = Key {
    name: "store",
    flag: Some("--store"),
    env: Some("TAPESYNC_STORE"),
    file: |f| f.store.as_ref(),
    default: Some(|| StoreLocation::File(PathBuf::from("tapesync.db"))),
    check: any,
    secret: false,
};
pub const SERVER: Key<String> = Key {
    name: "server",
    flag: Some("--server"),
    env: Some("TAPESYNC_SERVER"),
    file: |f| f.server.as_ref(),
    default: None,
    check: any,
    secret: false,
};
pub const USER: Key<String> = Key {
    name: "user",
    flag: Some("--user"),
    env: Some("TAPESYNC_USER"),
    file: |f| f.user.as_ref(),
    default: None,
    check: any,
    secret: false,
};
/// The password of `run --server`. Never a flag: other users of the machine can read a
/// process's arguments.
pub const PASSWORD: Key<String> = Key {
    name: "password",
    flag: None,
    env: Some("TAPESYNC_PASSWORD"),
    file: |f| f.password.as_ref(),
    default: None,
    check: any,
    secret: true,
};
pub const DEFINITION: Key<PathBuf> = Key {
    name: "definition",
    flag: Some("--definition"),
    env: Some("TAPESYNC_DEFINITION"),
    file: |f| f.definition.as_ref(),
    default: Some(|| PathBuf::from("default.ttidef")),
    check: any,
    secret: false,
};
pub const INPUT_COMMAND: Key<String> = Key {
    name: "input_command",
    flag: Some("--input-command"),
    env: Some("TAPESYNC_INPUT_COMMAND"),
    file: |f| f.input_command.as_ref(),
    default: None,
    check: any,
    secret: false,
};
pub const ADD_NEW: Key<bool> = Key {
    name: "add_new",
    flag: Some("--add-new"),
    env: Some("TAPESYNC_ADD_NEW"),
    file: |f| f.add_new.as_ref(),
    default: Some(|| false),
    check: any,
    secret: false,
};
/// Create the customers, media and repositories a report names (not only those the
/// definition names): docs/running.md, "What `--add-new` creates".
pub const ADD_NEW_IDS: Key<bool> = Key {
    name: "add_new_ids",
    flag: Some("--add-new-ids"),
    env: Some("TAPESYNC_ADD_NEW_IDS"),
    file: |f| f.add_new_ids.as_ref(),
    default: Some(|| false),
    check: any,
    secret: false,
};
pub const BATCH_SIZE: Key<u64> = Key {
    name: "batch_size",
    flag: Some("--batch-size"),
    env: Some("TAPESYNC_BATCH_SIZE"),
    file: |f| f.batch_size.as_ref(),
    default: Some(|| 1000),
    check: |n| in_range(*n, 1, 1_000_000),
    secret: false,
};
/// The scope cache's folder (docs/running.md, "The scope cache"): the platform's user cache
/// folder (`~/.cache/tapesync` on Linux) unless set.
pub const CACHE_DIR: Key<PathBuf> = Key {
    name: "cache_dir",
    flag: Some("--cache-dir"),
    env: Some("TAPESYNC_CACHE_DIR"),
    file: |f| f.cache_dir.as_ref(),
    default: Some(|| {
        dirs::cache_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("tapesync")
    }),
    check: any,
    secret: false,
};
pub const LOG_FORMAT: Key<LogFormat> = Key {
    name: "log_format",
    flag: Some("--log-format"),
    env: Some("TAPESYNC_LOG_FORMAT"),
    file: |f| f.log_format.as_ref(),
    default: Some(|| LogFormat::Text),
    check: any,
    secret: false,
};
/// No environment variable of its own: `NO_COLOR` and `TERM=dumb` are what `auto` looks at.
pub const COLOR: Key<ColorChoice> = Key {
    name: "color",
    flag: Some("--color"),
    env: None,
    file: |f| f.color.as_ref(),
    default: Some(|| ColorChoice::Auto),
    check: any,
    secret: false,
};
pub const LISTEN: Key<String> = Key {
    name: "serve.listen",
    flag: Some("--listen"),
    env: Some("TAPESYNC_LISTEN"),
    file: |f| f.serve.listen.as_ref(),
    default: Some(|| "127.0.0.1:8740".to_string()),
    check: any,
    secret: false,
};
pub const READERS: Key<u16> = Key {
    name: "serve.readers",
    flag: Some("--readers"),
    env: Some("TAPESYNC_READERS"),
    file: |f| f.serve.readers.as_ref(),
    default: Some(|| 4),
    check: |n| in_range(u64::from(*n), 1, 64),
    secret: false,
};
pub const TOKEN_MINUTES: Key<u64> = Key {
    name: "serve.token_minutes",
    flag: Some("--token-minutes"),
    env: Some("TAPESYNC_TOKEN_MINUTES"),
    file: |f| f.serve.token_minutes.as_ref(),
    default: Some(|| 720),
    check: |n| in_range(*n, 1, 525_600),
    secret: false,
};
pub const REMEMBER_LOGONS_MINUTES: Key<u64> = Key {
    name: "serve.remember_logons_minutes",
    flag: Some("--remember-logons-minutes"),
    env: Some("TAPESYNC_REMEMBER_LOGONS_MINUTES"),
    file: |f| f.serve.remember_logons_minutes.as_ref(),
    default: Some(|| 720),
    check: |n| in_range(*n, 0, 525_600),
    secret: false,
};
pub const SECURE_COOKIE: Key<bool> = Key {
    name: "serve.secure_cookie",
    flag: Some("--secure-cookie"),
    env: Some("TAPESYNC_SECURE_COOKIE"),
    file: |f| f.serve.secure_cookie.as_ref(),
    default: Some(|| false),
    check: any,
    secret: false,
};

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag(&'static str),
    Env(&'static str),
    File(PathBuf),
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(flag) => write!(f, "flag {flag}"),
            Source::Env(var) => write!(f, "environment {var}"),
            Source::File(path) => write!(f, "file {}", path.display()),
            Source::Default => f.write_str("default"),
        }
    }
}

impl Source {
    /// Flags beat the environment, which beats the file, which beats the default.
    pub fn rank(&self) -> u8 {
        match self {
            Source::Flag(_) => 3,
            Source::Env(_) => 2,
            Source::File(_) => 1,
            Source::Default => 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting<T> {
    pub value: T,
    pub source: Source,
}

/// How the configuration file was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOrigin {
    Flag,
    Env,
    DefaultLocation,
}

/// A configuration file that was read.
#[derive(Debug)]
pub struct LoadedFile {
    pub path: PathBuf,
    pub origin: FileOrigin,
    text: String,
    settings: File,
}

impl LoadedFile {
    /// `FILE:LINE:COLUMN: message` for a value at `offset` in the file.
    fn error_at(&self, offset: usize, message: &str) -> String {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rfind('\n')
            .map_or(before, |nl| &before[nl + 1..])
            .chars()
            .count()
            + 1;
        format!("{}:{line}:{column}: {message}", self.path.display())
    }

    fn folder(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }
}

type EnvLookup = Box<dyn Fn(&str) -> Option<String>>;

/// The environment and the configuration file, ready to answer for any [`Key`].
pub struct Layers {
    pub file: Option<LoadedFile>,
    env: EnvLookup,
}

pub const CONFIG_ENV: &str = "TAPESYNC_CONFIG";

/// The configuration file in the platform's configuration directory.
pub fn default_location() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("tapesync").join("config.toml"))
}

impl Layers {
    /// No file, no environment: defaults only (commands that take no settings).
    pub fn none() -> Layers {
        Layers {
            file: None,
            env: Box::new(|_| None),
        }
    }

    /// Reads the configuration file chosen by `--config`, `TAPESYNC_CONFIG` or the default
    /// location, with the process's environment.
    pub fn load(flag: Option<&Path>) -> Result<Layers, String> {
        Layers::load_with(
            flag,
            Box::new(|name| std::env::var(name).ok()),
            default_location(),
        )
    }

    pub fn load_with(
        flag: Option<&Path>,
        env: EnvLookup,
        default: Option<PathBuf>,
    ) -> Result<Layers, String> {
        let chosen = match (flag, env(CONFIG_ENV)) {
            (Some(path), _) => Some((path.to_path_buf(), FileOrigin::Flag)),
            (None, Some(path)) if path.is_empty() => None,
            (None, Some(path)) => Some((PathBuf::from(path), FileOrigin::Env)),
            (None, None) => default
                .filter(|p| p.exists())
                .map(|p| (p, FileOrigin::DefaultLocation)),
        };
        let file = match chosen {
            Some((path, origin)) => Some(read_file(path, origin)?),
            None => None,
        };
        Ok(Layers { file, env })
    }

    /// The value of `key`: the flag's if given, else the environment's, the file's, the default.
    /// `None` only for a key without a default that no layer sets.
    pub fn get<T: Value>(
        &self,
        key: &Key<T>,
        flag: Option<T>,
    ) -> Result<Option<Setting<T>>, String> {
        if let (Some(value), Some(name)) = (flag, key.flag) {
            return Ok(Some(Setting {
                value,
                source: Source::Flag(name),
            }));
        }
        if let Some(var) = key.env {
            if let Some(text) = (self.env)(var).filter(|t| !t.is_empty()) {
                let value = T::parse_env(&text)
                    .and_then(|v| (key.check)(&v).map(|()| v))
                    .map_err(|e| format!("{var}: {e}"))?;
                return Ok(Some(Setting {
                    value,
                    source: Source::Env(var),
                }));
            }
        }
        if let Some(file) = &self.file {
            if let Some(spanned) = (key.file)(&file.settings) {
                (key.check)(spanned.get_ref()).map_err(|e| {
                    file.error_at(spanned.span().start, &format!("{}: {e}", key.name))
                })?;
                return Ok(Some(Setting {
                    value: spanned.get_ref().clone().in_folder(file.folder()),
                    source: Source::File(file.path.clone()),
                }));
            }
        }
        Ok(key.default.map(|default| Setting {
            value: default(),
            source: Source::Default,
        }))
    }

    /// [`Layers::get`] for a key with a default: always a value.
    pub fn value<T: Value>(&self, key: &Key<T>, flag: Option<T>) -> Result<Setting<T>, String> {
        self.get(key, flag)?
            .ok_or_else(|| format!("the setting {} has no value", key.name))
    }
}

fn read_file(path: PathBuf, origin: FileOrigin) -> Result<LoadedFile, String> {
    let how = match origin {
        FileOrigin::Flag => "--config",
        FileOrigin::Env => CONFIG_ENV,
        FileOrigin::DefaultLocation => "the default location",
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "cannot read the configuration file {} ({how}): {e}",
            path.display()
        )
    })?;
    let mut loaded = LoadedFile {
        path,
        origin,
        text,
        settings: File::default(),
    };
    loaded.settings = toml::from_str(&loaded.text).map_err(|e| {
        let message = e.message().trim().to_string();
        match e.span() {
            Some(span) => loaded.error_at(span.start, &message),
            None => format!("{}: {message}", loaded.path.display()),
        }
    })?;
    if loaded.settings.password.is_some() {
        check_private(&loaded.path)?;
    }
    Ok(loaded)
}

/// A file with a password must not be readable by other users.
#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o044 != 0 {
        return Err(format!(
            "{path} holds a password but other users can read it (mode {mode:04o}); \
             make it private with `chmod 600 {path}`, or remove the password and set \
             TAPESYNC_PASSWORD instead",
            path = path.display()
        ));
    }
    Ok(())
}

/// Windows files are protected by ACLs, which this check does not read (docs/configuration.md).
#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> EnvLookup {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Box::new(move |name| map.get(name).cloned())
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn flags_beat_the_environment_beats_the_file_beats_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "c.toml",
            "batch_size = 10\nuser = \"file-user\"\n",
        );
        let layers = Layers::load_with(
            Some(&file),
            env(&[("TAPESYNC_BATCH_SIZE", "20"), ("TAPESYNC_USER", "")]),
            None,
        )
        .unwrap();
        let batch = layers.value(&BATCH_SIZE, Some(30)).unwrap();
        assert_eq!(
            (batch.value, batch.source),
            (30, Source::Flag("--batch-size"))
        );
        let batch = layers.value(&BATCH_SIZE, None).unwrap();
        assert_eq!(
            (batch.value, batch.source),
            (20, Source::Env("TAPESYNC_BATCH_SIZE"))
        );
        // An empty variable counts as unset.
        let user = layers.get(&USER, None).unwrap().unwrap();
        assert_eq!(user.value, "file-user");
        assert_eq!(user.source, Source::File(file.clone()));
        let store = layers.value(&STORE, None).unwrap();
        assert_eq!(
            (store.value, store.source),
            (StoreLocation::File("tapesync.db".into()), Source::Default)
        );
        assert_eq!(layers.get(&SERVER, None).unwrap(), None);
    }

    #[test]
    fn paths_in_the_file_are_relative_to_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "c.toml", "store = \"inv.db\"\n");
        let layers = Layers::load_with(Some(&file), env(&[]), None).unwrap();
        assert_eq!(
            layers.value(&STORE, None).unwrap().value,
            StoreLocation::File(dir.path().join("inv.db"))
        );
        // A database URL is no path: it stays as written, and is shown without its password.
        let url = "postgres://sync:secret@db.example/inventory";
        let file = write(dir.path(), "d.toml", &format!("store = \"{url}\"\n"));
        let layers = Layers::load_with(Some(&file), env(&[]), None).unwrap();
        let store = layers.value(&STORE, None).unwrap().value;
        assert_eq!(store, StoreLocation::Postgres(url.into()));
        assert!(!store.show().contains("secret"), "{}", store.show());
    }

    #[test]
    fn the_file_is_chosen_by_flag_then_environment_then_default_location() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a.toml", "user = \"a\"\n");
        let b = write(dir.path(), "b.toml", "user = \"b\"\n");
        let c = write(dir.path(), "c.toml", "user = \"c\"\n");
        let b_env = b.display().to_string();
        let user = |flag: Option<&Path>, vars: &[(&str, &str)]| {
            Layers::load_with(flag, env(vars), Some(c.clone()))
                .unwrap()
                .get(&USER, None)
                .unwrap()
                .map(|s| s.value)
        };
        assert_eq!(
            user(Some(&a), &[(CONFIG_ENV, &b_env)]).as_deref(),
            Some("a")
        );
        assert_eq!(user(None, &[(CONFIG_ENV, &b_env)]).as_deref(), Some("b"));
        assert_eq!(user(None, &[]).as_deref(), Some("c"));
        assert_eq!(user(None, &[(CONFIG_ENV, "")]), None, "empty: no file");
        // A missing default file is no error; a missing named one is.
        let none = Layers::load_with(None, env(&[]), Some(dir.path().join("missing.toml")));
        assert!(none.unwrap().file.is_none());
        let missing = dir.path().join("missing.toml");
        let err = Layers::load_with(Some(&missing), env(&[]), None)
            .err()
            .unwrap();
        assert!(
            err.contains("missing.toml") && err.contains("--config"),
            "{err}"
        );
    }

    #[test]
    fn environment_values_are_checked_too() {
        let layers =
            Layers::load_with(None, env(&[("TAPESYNC_BATCH_SIZE", "lots")]), None).unwrap();
        let err = layers.value(&BATCH_SIZE, None).err().unwrap();
        assert_eq!(err, "TAPESYNC_BATCH_SIZE: `lots` is not a whole number");
    }
}
