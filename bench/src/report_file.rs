//! Writes the generated backup reports (CSV and fixed-column text) and the definitions that
//! read them.

use crate::dataset::{Dataset, Row};
use crate::prng::SplitMix64;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Seed of the shuffled record order.
const SHUFFLE_SEED: u64 = 0x5EED_0F5A_7E5E_11A1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Fixed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    Sorted,
    Shuffled,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Fixed => "fixed",
        }
    }
}

impl Order {
    pub fn name(self) -> &'static str {
        match self {
            Order::Sorted => "sorted",
            Order::Shuffled => "shuffled",
        }
    }
}

/// The report's columns with their fixed-layout widths (one blank between columns).
const COLUMNS: [(&str, usize); 9] = [
    ("CUST", 4),
    ("MEDI", 4),
    ("VOLUME", 10),
    ("LOCATION", 8),
    ("SLOT", 5),
    ("POOL", 16),
    ("SCR", 3),
    ("EXPIRY", 10),
    ("MOUNT", 5),
];

/// 0-based character offset of fixed-layout column `i`.
fn fixed_offset(i: usize) -> usize {
    COLUMNS[..i].iter().map(|(_, w)| w + 1).sum()
}

fn cells(row: &Row) -> [String; 9] {
    [
        row.customer.clone(),
        row.media.clone(),
        row.volume.clone(),
        row.location.to_string(),
        row.slot.clone(),
        row.pool.to_string(),
        row.scratch.to_string(),
        row.expiry.clone(),
        row.mounts.to_string(),
    ]
}

fn write_line(out: &mut impl Write, format: Format, cells: &[String; 9]) -> io::Result<()> {
    match format {
        Format::Csv => writeln!(out, "{}", cells.join(",")),
        Format::Fixed => {
            let mut line = String::with_capacity(80);
            for (i, (cell, (_, width))) in cells.iter().zip(COLUMNS).enumerate() {
                if i > 0 {
                    line.push(' ');
                }
                line.push_str(&format!("{cell:<width$}"));
            }
            writeln!(out, "{}", line.trim_end())
        }
    }
}

/// The report as a backup product would print it: a heading line, then one line per volume
/// in scope order (`Sorted`) or in a seeded random order (`Shuffled`).
/// Writes the report of `ds`; with `before` = `Some(changed_percent)`, the report of the night
/// before instead (the changed volumes' lines as the inventory holds them, see
/// [`Dataset::row_before`]).
pub fn write_report(
    path: &Path,
    ds: &Dataset,
    format: Format,
    order: Order,
    before: Option<u32>,
) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let heading: [String; 9] = match format {
        Format::Csv => [
            "customer", "media", "volume", "location", "slot", "pool", "scratch", "expiry",
            "mounts",
        ]
        .map(String::from),
        Format::Fixed => COLUMNS.map(|(name, _)| name.to_string()),
    };
    write_line(&mut out, format, &heading)?;
    let mut indices: Vec<u32> = (0..ds.records as u32).collect();
    if order == Order::Shuffled {
        SplitMix64::new(SHUFFLE_SEED).shuffle(&mut indices);
    }
    for r in indices {
        let row = match before {
            Some(changed) => ds.row_before(u64::from(r), changed),
            None => ds.row(u64::from(r)),
        };
        write_line(&mut out, format, &cells(&row))?;
    }
    out.flush()
}

/// The definition that reads a generated report. Both formats derive the same values:
/// location → repository by translation, `-` slot → no value, `DD/MM/YYYY` expiry dates.
pub fn definition(format: Format) -> String {
    definition_statements(format).join("\n") + "\n"
}

fn definition_statements(format: Format) -> Vec<String> {
    let fields = [
        ("CUSTOMER", 4),
        ("MEDIA", 4),
        ("VOLUME", 10),
        ("REPOSITORY", 16),
        ("SLOT", 10),
        ("DESCRIPTION", 64),
        ("SCRATCH", 3),
        ("EXPIRYDATE", 10),
        ("USAGECOUNT", 10),
    ];
    let mut s = Vec::new();
    match format {
        Format::Csv => {
            s.push(r#"SetCSVDelimiter(",");"#.to_string());
            s.push(r#"AddString(EXCLUSION, 0, "customer,*");"#.to_string());
            for (i, (field, len)) in fields.iter().enumerate() {
                s.push(format!("Extract({field}, {}, {len}, 0);", i + 1));
            }
        }
        Format::Fixed => {
            s.push(r#"AddString(EXCLUSION, 0, "CUST *");"#.to_string());
            for (i, (field, _)) in fields.iter().enumerate() {
                let width = COLUMNS[i].1;
                s.push(format!(
                    "Extract({field}, {}, {width}, 0);",
                    fixed_offset(i)
                ));
            }
        }
    }
    s.push(r#"AddTranslation(REPOSITORY, "jb*", "LIBR");"#.to_string());
    s.push(r#"AddTranslation(REPOSITORY, "*", "OFFS");"#.to_string());
    s.push(r#"AddTranslation(SLOT, "-", "");"#.to_string());
    s.push(r#"SetDateFormat(EXPIRYDATE, "%%d/%%m/%%Y");"#.to_string());
    s
}

/// A CSV definition of exactly `statements` statements (the compile-time target): the real
/// definition plus site-style pool renames, volume exclusions with classes and groups, and
/// comments, all in front of the catch-all translations where they would sit in practice.
pub fn big_definition(statements: usize) -> String {
    let base = definition_statements(Format::Csv);
    let mut out = String::from("# Generated by tapesync-bench: a large site definition.\n");
    let filler = statements.saturating_sub(base.len());
    let (head, tail) = base.split_at(2 + 9);
    for line in head {
        out.push_str(line);
        out.push('\n');
    }
    for i in 0..filler {
        if i % 50 == 0 {
            out.push_str(&format!("# --- site block {} ---\n", i / 50));
        }
        let line = match i % 4 {
            0 => format!(r#"AddTranslation(DESCRIPTION, "Pool-{i:04}*", "P{i:04}");"#),
            1 => format!(r#"AddTranslation(DESCRIPTION, "(site{i}a|site{i}b)", "S{i:04}");"#),
            2 => format!(r#"AddExclusionOnValue(VOLUME, "X{i:04}[0-9]?*");"#),
            _ => format!(r#"AddTranslation(REPOSITORY, "jb{i:04}", "LIBR"); # jukebox {i}"#),
        };
        out.push_str(&line);
        out.push('\n');
    }
    for line in tail {
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement_count(text: &str) -> usize {
        text.lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .filter(|l| l.trim_end().ends_with(");"))
            .count()
    }

    #[test]
    fn big_definition_has_exactly_the_statements_asked_for() {
        assert_eq!(statement_count(&big_definition(1000)), 1000);
        assert_eq!(
            statement_count(&definition(Format::Csv)),
            definition_statements(Format::Csv).len()
        );
    }

    #[test]
    fn fixed_offsets_line_up_with_the_written_layout() {
        let ds = Dataset::new(10, 1).unwrap();
        let row = ds.row(4);
        let mut buf = Vec::new();
        write_line(&mut buf, Format::Fixed, &cells(&row)).unwrap();
        let line = String::from_utf8(buf).unwrap();
        assert_eq!(&line[fixed_offset(2)..fixed_offset(2) + 8], "V0000004");
        assert_eq!(line[fixed_offset(8)..].trim_end(), row.mounts.to_string());
    }

    #[test]
    fn reports_are_deterministic_and_shuffles_keep_every_record() {
        let dir = std::env::temp_dir().join(format!("tapesync-bench-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ds = Dataset::new(200, 10).unwrap();
        let read = |name: &str, order| {
            let p = dir.join(name);
            write_report(&p, &ds, Format::Csv, order, None).unwrap();
            std::fs::read_to_string(p).unwrap()
        };
        let sorted = read("a.csv", Order::Sorted);
        assert_eq!(sorted, read("b.csv", Order::Sorted));
        let shuffled = read("c.csv", Order::Shuffled);
        assert_ne!(sorted, shuffled);
        let mut x: Vec<&str> = sorted.lines().skip(1).collect();
        let mut y: Vec<&str> = shuffled.lines().skip(1).collect();
        assert_eq!(x.len(), 200);
        x.sort_unstable();
        y.sort_unstable();
        assert_eq!(x, y);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
