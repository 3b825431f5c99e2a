//! The harness's working directory: generated inputs and baseline stores are cached there
//! under names that encode every parameter (and a generator version), so repeated runs skip
//! generation while a change to the generator never reuses stale files.

use crate::dataset::Dataset;
use crate::inventory;
use crate::report_file::{self, Format, Order};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Bump when generated content changes.
const GENERATOR_VERSION: u32 = 1;

pub struct Workspace {
    root: PathBuf,
}

impl Workspace {
    pub fn new(root: &Path) -> io::Result<Workspace> {
        for sub in ["inputs", "stores", "runs", "defs"] {
            std::fs::create_dir_all(root.join(sub))?;
        }
        Ok(Workspace {
            root: root.to_path_buf(),
        })
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }

    /// The definition for `format` (rewritten every time: it is tiny).
    pub fn definition(&self, format: Format) -> io::Result<PathBuf> {
        let path = self
            .root
            .join("defs")
            .join(format!("bench-{}.ttidef", format.name()));
        std::fs::write(&path, report_file::definition(format))?;
        Ok(path)
    }

    pub fn big_definition(&self, statements: usize) -> io::Result<PathBuf> {
        let path = self
            .root
            .join("defs")
            .join(format!("big-{statements}.ttidef"));
        std::fs::write(&path, report_file::big_definition(statements))?;
        Ok(path)
    }

    /// The report file, generated on first use.
    pub fn report(&self, ds: &Dataset, format: Format, order: Order) -> io::Result<PathBuf> {
        self.report_of(ds, format, order, None)
    }

    /// The report of the night before (`before` = the changed share), generated on first use:
    /// the warm case's untimed run reads it, so that the line memo holds last night's lines.
    pub fn report_before(
        &self,
        ds: &Dataset,
        format: Format,
        order: Order,
        changed_percent: u32,
    ) -> io::Result<PathBuf> {
        self.report_of(ds, format, order, Some(changed_percent))
    }

    fn report_of(
        &self,
        ds: &Dataset,
        format: Format,
        order: Order,
        before: Option<u32>,
    ) -> io::Result<PathBuf> {
        let ext = match format {
            Format::Csv => "csv",
            Format::Fixed => "txt",
        };
        let path = self.root.join("inputs").join(format!(
            "report-g{GENERATOR_VERSION}-r{}-s{}-{}{}.{ext}",
            ds.records,
            ds.scopes,
            order.name(),
            before.map_or(String::new(), |p| format!("-before{p}"))
        ));
        if !path.exists() {
            let started = Instant::now();
            let tmp = path.with_extension("partial");
            report_file::write_report(&tmp, ds, format, order, before)?;
            std::fs::rename(&tmp, &path)?;
            eprintln!(
                "  generated {} in {:.1}s",
                path.display(),
                started.elapsed().as_secs_f64()
            );
        }
        Ok(path)
    }

    /// The baseline store for the data set with `changed_percent` % stale volumes, built on
    /// first use.
    pub fn baseline(&self, ds: &Dataset, changed_percent: u32) -> Result<PathBuf, String> {
        let path = self.root.join("stores").join(format!(
            "base-g{GENERATOR_VERSION}-schema{}-r{}-s{}-c{changed_percent}.db",
            tapesync_store::SCHEMA_VERSION,
            ds.records,
            ds.scopes
        ));
        if !path.exists() {
            let started = Instant::now();
            let tmp = path.with_extension("partial");
            inventory::remove_store(&tmp).map_err(|e| e.to_string())?;
            inventory::build(&tmp, ds, changed_percent).map_err(|e| e.to_string())?;
            inventory::copy_store(&tmp, &path).map_err(|e| e.to_string())?;
            inventory::remove_store(&tmp).map_err(|e| e.to_string())?;
            eprintln!(
                "  built inventory {} in {:.1}s",
                path.display(),
                started.elapsed().as_secs_f64()
            );
        }
        Ok(path)
    }
}
