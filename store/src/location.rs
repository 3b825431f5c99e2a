//! Where a store is: a SQLite file, or a PostgreSQL database named by a URL.
//!
//! A URL may carry a password. It is needed to connect and must never be shown: the
//! `Display` of a location, and every error that names one, uses [`StoreLocation::redacted`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite file (created with its schema on first use).
    File(PathBuf),
    /// A PostgreSQL database: `postgres://` or `postgresql://` URL, as libpq takes it.
    Postgres(String),
}

impl StoreLocation {
    /// Reads a `--store` value: a `postgres://` or `postgresql://` URL, anything else a path.
    pub fn parse(text: &str) -> StoreLocation {
        let lower = text.trim_start().to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            StoreLocation::Postgres(text.trim().to_string())
        } else {
            StoreLocation::File(PathBuf::from(text))
        }
    }

    pub fn file(&self) -> Option<&Path> {
        match self {
            StoreLocation::File(p) => Some(p),
            StoreLocation::Postgres(_) => None,
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, StoreLocation::Postgres(_))
    }

    /// The location as it may be shown: a file's path, or the URL without its password (in
    /// the user part or as a `password=` parameter).
    pub fn redacted(&self) -> String {
        match self {
            StoreLocation::File(p) => p.display().to_string(),
            StoreLocation::Postgres(url) => redact_url(url),
        }
    }
}

impl From<&Path> for StoreLocation {
    fn from(path: &Path) -> StoreLocation {
        StoreLocation::File(path.to_path_buf())
    }
}

impl From<PathBuf> for StoreLocation {
    fn from(path: PathBuf) -> StoreLocation {
        StoreLocation::File(path)
    }
}

impl FromStr for StoreLocation {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<StoreLocation, Self::Err> {
        Ok(StoreLocation::parse(s))
    }
}

/// Read from text as on the command line (a configuration file's `store = "…"`).
impl<'de> serde::Deserialize<'de> for StoreLocation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<StoreLocation, D::Error> {
        let text = String::deserialize(d)?;
        Ok(StoreLocation::parse(&text))
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Debug is redacted too: locations end up in `{:?}` of options structs.
impl fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::File(p) => f.debug_tuple("File").field(p).finish(),
            StoreLocation::Postgres(_) => {
                f.debug_tuple("Postgres").field(&self.redacted()).finish()
            }
        }
    }
}

/// `scheme://user:secret@host/db?password=x&sslmode=y` → `scheme://user@host/db?sslmode=y`.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some(parts) => parts,
        None => return url.to_string(),
    };
    // The authority ends at the first '/' or '?' (a password may contain neither unescaped).
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{user}@{hosts}")
        }
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|p| {
                    let key = p.split_once('=').map_or(*p, |(k, _)| k);
                    !key.eq_ignore_ascii_case("password")
                })
                .collect();
            if kept.is_empty() {
                path.to_string()
            } else {
                format!("{path}?{}", kept.join("&"))
            }
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths_are_told_apart() {
        assert!(StoreLocation::parse("postgres://h/db").is_postgres());
        assert!(StoreLocation::parse("PostgreSQL://h/db").is_postgres());
        assert_eq!(
            StoreLocation::parse("inventory.db"),
            StoreLocation::File("inventory.db".into())
        );
        assert_eq!(
            StoreLocation::parse("./postgres://x").file(),
            Some(Path::new("./postgres://x"))
        );
    }

    #[test]
    fn passwords_never_show() {
        let cases = [
            (
                "postgres://u:s3cret@db:5432/inv",
                "postgres://u@db:5432/inv",
            ),
            (
                "postgresql://u:s3cret@db/inv?sslmode=require",
                "postgresql://u@db/inv?sslmode=require",
            ),
            (
                "postgres://u@db/inv?password=s3cret&application_name=x",
                "postgres://u@db/inv?application_name=x",
            ),
            ("postgres://u:p@ss:w@rd@db/inv", "postgres://u@db/inv"),
            ("postgres://db/inv?PASSWORD=s3cret", "postgres://db/inv"),
            ("postgres://u:s3cret@h1,h2/inv", "postgres://u@h1,h2/inv"),
        ];
        for (url, shown) in cases {
            let location = StoreLocation::parse(url);
            assert_eq!(location.to_string(), shown);
            assert!(!format!("{location:?}").contains("s3cret"));
        }
    }
}
