//! The page's links: percent-encoded query strings, and the volume list's filter, which is
//! both what the list page reads from its query and what every count on the overview links to.

use serde::Deserialize;
use std::fmt::Write;

/// Percent-encodes a query-string value (links carry volume ids, scopes and search text).
pub fn query_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The filters of the volume list (`/volumes`, `/volumes.csv`), as query parameters. An empty
/// value (the filter form's "any") filters nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeFilter {
    #[serde(default)]
    pub customer: String,
    pub media: Option<String>,
    /// A repository id, or [`VolumeFilter::NO_REPOSITORY`] for volumes without one.
    pub repository: Option<String>,
    /// `scratch`, `active` or `unknown`.
    pub scratch: Option<String>,
    /// `yes` (only volumes with a pending move) or `no` (only those without).
    pub pending: Option<String>,
    /// Part of a Volume-ID (or of any field value).
    pub text: Option<String>,
    /// Continue after this `MEDIA/VOLUME` (the last one of the previous page).
    pub after: Option<String>,
}

impl VolumeFilter {
    /// Repository ids are letters and digits only, so `-` cannot be one.
    pub const NO_REPOSITORY: &'static str = "-";

    pub fn customer(customer: &str) -> Self {
        VolumeFilter {
            customer: customer.to_string(),
            ..VolumeFilter::default()
        }
    }

    /// The same filter with surrounding blanks trimmed and empty values dropped. The scratch
    /// state and the pending-move answer are words of the form's own choosing: only an empty
    /// one is dropped, never trimmed.
    pub fn tidy(self) -> Self {
        let set = |v: Option<String>| v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        VolumeFilter {
            customer: self.customer.trim().to_string(),
            media: set(self.media),
            repository: set(self.repository),
            scratch: self.scratch.filter(|v| !v.trim().is_empty()),
            pending: self.pending.filter(|v| !v.trim().is_empty()),
            text: set(self.text),
            after: set(self.after),
        }
    }

    fn query(&self) -> String {
        let mut q = format!("customer={}", query_value(&self.customer));
        for (name, value) in [
            ("media", &self.media),
            ("repository", &self.repository),
            ("scratch", &self.scratch),
            ("pending", &self.pending),
            ("text", &self.text),
        ] {
            if let Some(v) = value {
                let _ = write!(q, "&{name}={}", query_value(v));
            }
        }
        q
    }

    /// The list page with these filters (from the start unless `after` is set).
    pub fn href(&self) -> String {
        match &self.after {
            Some(after) => format!("/volumes?{}&after={}", self.query(), query_value(after)),
            None => format!("/volumes?{}", self.query()),
        }
    }

    /// The CSV export of the whole filtered list (every page).
    pub fn csv_href(&self) -> String {
        format!("/volumes.csv?{}", self.query())
    }

    /// The page that starts after `media`/`volume`.
    pub fn after(&self, media: &str, volume: &str) -> Self {
        VolumeFilter {
            after: Some(format!("{media}/{volume}")),
            ..self.clone()
        }
    }

    /// The same filters from the start of the list.
    pub fn first(&self) -> Self {
        VolumeFilter {
            after: None,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(query_value("AB 1&x=<"), "AB%201%26x%3D%3C");
        assert_eq!(query_value("LTO-7"), "LTO-7");
    }

    #[test]
    fn filters_make_links_with_only_the_set_parameters() {
        let f = VolumeFilter {
            media: Some("LTO".into()),
            repository: Some(VolumeFilter::NO_REPOSITORY.into()),
            pending: Some("yes".into()),
            text: Some("a b".into()),
            ..VolumeFilter::customer("ACME")
        };
        assert_eq!(
            f.href(),
            "/volumes?customer=ACME&media=LTO&repository=-&pending=yes&text=a%20b"
        );
        assert_eq!(
            f.after("LTO", "A-1").href(),
            "/volumes?customer=ACME&media=LTO&repository=-&pending=yes&text=a%20b&after=LTO%2FA-1"
        );
        assert_eq!(
            f.csv_href(),
            "/volumes.csv?customer=ACME&media=LTO&repository=-&pending=yes&text=a%20b"
        );
    }
}
