//! Pending moves: where a volume should be (REPOSITORY, its target) against where it is
//! (CURRENT_REPOSITORY). A volume whose two differ has a pending move, due on its MOVEDATE
//! (at once without one).
//!
//! What a batch's change of either field means is worked out here, once for both backends:
//! the value it implies for the other (a new volume starts where it should be), and whether
//! it creates, changes, cancels or completes a move.

use crate::error::StoreError;
use crate::validate::id;
use crate::Store;
use tapesync_model::{Field, MoveCounts};

/// A volume that is not where it should be: it is to be taken out of `from` and brought to
/// `to` (also an answer of the HTTP API).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingMove {
    pub media: String,
    pub volume: String,
    /// The volume's version, which a confirmation names (a volume changed since is a
    /// conflict, not an overwrite).
    pub version: u64,
    /// CURRENT_REPOSITORY: where the volume is.
    pub from: String,
    /// REPOSITORY: where it should be.
    pub to: String,
    /// MOVEDATE (`YYYY-MM-DD`); `None` means due at once.
    pub move_date: Option<String>,
    pub slot: Option<String>,
}

/// The pending moves of a customer: `customer` and `due` are the backend's placeholders.
/// The condition on the two repositories is the one of the partial index `volumes_moving`
/// (schema step 7), written the same way so that both databases use it.
pub(crate) fn pending_moves_query(customer: &str, due: &str) -> String {
    format!(
        "SELECT media, volume, version, current_repository, repository, movedate, slot \
         FROM volumes WHERE customer = {customer} AND current_repository <> repository \
         AND ({due} IS NULL OR movedate IS NULL OR movedate <= {due}) \
         ORDER BY current_repository, repository, media, volume"
    )
}

/// Checks a day written `YYYY-MM-DD` (the form MOVEDATE is stored in, which sorts as text).
pub(crate) fn check_day(day: &str) -> Result<String, StoreError> {
    chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .ok()
        .filter(|d| d.format("%Y-%m-%d").to_string() == day)
        .map(|_| day.to_string())
        .ok_or_else(|| {
            StoreError::invalid(
                None,
                format!("`{day}` is not a date: write the day as YYYY-MM-DD, e.g. 2026-11-29"),
            )
        })
}

impl Store {
    /// The pending moves of `customer` due on or before `due` (`YYYY-MM-DD`; every pending
    /// move without it), sorted by where the volumes are, where they go, media and volume:
    /// the picking list of each repository in turn. `NotFound` for a customer that does not
    /// exist.
    pub fn pending_moves(
        &self,
        customer: &str,
        due: Option<&str>,
    ) -> Result<Vec<PendingMove>, StoreError> {
        let customer = id(Field::Customer, customer)?;
        let due = due.map(check_day).transpose()?;
        if !self.backend.customer_exists(&customer)? {
            return Err(StoreError::NotFound(format!("customer {customer}")));
        }
        self.backend.pending_moves(&customer, due.as_deref())
    }
}

/// The location fields of a volume, before or after a change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Location {
    pub target: Option<String>,
    pub current: Option<String>,
}

impl Location {
    /// Whether the volume is not where it should be (both known, and different).
    pub fn pending(&self) -> bool {
        matches!((&self.target, &self.current), (Some(t), Some(c)) if t != c)
    }
}

/// The values a change implies beyond those it sets, and what it does to a pending move.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Implied {
    /// Field values to add to the change (fields it does not set itself).
    pub set: Vec<(Field, String)>,
    pub moves: MoveCounts,
}

/// Works out what a change of `before` (`None` for a volume the change creates) that sets the
/// location fields in `set` (`Some(None)` clears, `None` leaves alone) implies:
///
/// - A volume with no known current location takes its target as its location (a new volume
///   starts where it should be), and a new volume reported only where it *is* takes that as
///   its target.
///
/// The move date is left alone: it is MOVEDATE, as the backup product or the operator set it.
/// (Setting it here would fight a definition that sets MOVEDATE from its report, and would
/// make every run that moves a volume write a value its own changes did not hold.)
pub(crate) fn implied(
    before: Option<&Location>,
    set_target: Option<Option<&str>>,
    set_current: Option<Option<&str>>,
) -> Implied {
    let old = before.cloned().unwrap_or_default();
    let mut new = Location {
        target: set_target.map_or(old.target.clone(), |v| v.map(str::to_string)),
        current: set_current.map_or(old.current.clone(), |v| v.map(str::to_string)),
    };
    let mut result = Implied::default();
    if set_current.is_none() && new.current.is_none() {
        if let Some(target) = &new.target {
            new.current = Some(target.clone());
            result.set.push((Field::CurrentRepository, target.clone()));
        }
    }
    if before.is_none() && set_target.is_none() {
        if let Some(current) = &new.current {
            new.target = Some(current.clone());
            result.set.push((Field::Repository, current.clone()));
        }
    }
    match (old.pending(), new.pending()) {
        (false, true) => result.moves.created = 1,
        (true, false) if new.current != old.current => result.moves.completed = 1,
        (true, false) => result.moves.cancelled = 1,
        (true, true) if new != old => result.moves.changed = 1,
        _ => {}
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(target: &str, current: &str) -> Location {
        let id = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Location {
            target: id(target),
            current: id(current),
        }
    }

    fn moves(created: u64, changed: u64, cancelled: u64, completed: u64) -> MoveCounts {
        MoveCounts {
            created,
            changed,
            cancelled,
            completed,
        }
    }

    #[test]
    fn a_new_volume_starts_where_it_should_be() {
        let r = implied(None, Some(Some("LIBR")), None);
        assert_eq!(r.set, [(Field::CurrentRepository, "LIBR".to_string())]);
        assert!(r.moves.is_zero());
        let r = implied(None, None, Some(Some("OFFS")));
        assert_eq!(r.set, [(Field::Repository, "OFFS".to_string())]);
        assert!(r.moves.is_zero());
    }

    #[test]
    fn a_new_target_creates_a_move() {
        let r = implied(Some(&at("LIBR", "LIBR")), Some(Some("OFFS")), None);
        assert!(r.set.is_empty());
        assert_eq!(r.moves, moves(1, 0, 0, 0));
    }

    #[test]
    fn a_pending_move_changes_cancels_and_completes() {
        let pending = at("OFFS", "LIBR");
        let r = implied(Some(&pending), Some(Some("SHIP")), None);
        assert_eq!(r.moves, moves(0, 1, 0, 0));
        assert!(r.set.is_empty());
        let r = implied(Some(&pending), Some(Some("LIBR")), None);
        assert_eq!(r.moves, moves(0, 0, 1, 0));
        assert!(r.set.is_empty());
        let r = implied(Some(&pending), None, Some(Some("OFFS")));
        assert_eq!(r.moves, moves(0, 0, 0, 1));
        assert!(r.set.is_empty());
        // Reported somewhere else again, still not at the target: the move changed.
        let r = implied(Some(&pending), None, Some(Some("SHIP")));
        assert_eq!(r.moves, moves(0, 1, 0, 0));
        assert!(r.set.is_empty());
    }

    #[test]
    fn a_volume_found_elsewhere_has_a_move_back() {
        let r = implied(Some(&at("LIBR", "LIBR")), None, Some(Some("OFFS")));
        assert_eq!(r.moves, moves(1, 0, 0, 0));
        assert!(r.set.is_empty());
    }

    #[test]
    fn a_volume_without_a_location_takes_its_target() {
        let r = implied(Some(&at("", "")), Some(Some("LIBR")), None);
        assert_eq!(r.set, [(Field::CurrentRepository, "LIBR".to_string())]);
        assert!(r.moves.is_zero());
    }

    #[test]
    fn setting_what_is_already_there_implies_nothing() {
        let r = implied(Some(&at("LIBR", "LIBR")), Some(Some("LIBR")), None);
        assert_eq!(r, Implied::default());
    }
}

/// What an operator's scan of moved volumes came to (also an answer of the HTTP API).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Confirmation {
    /// The day whose list was confirmed (`YYYY-MM-DD`).
    pub due: String,
    /// Moves now done: the volumes are current at their targets.
    pub confirmed: Vec<PendingMove>,
    /// Everything that did not match, never accepted silently.
    pub discrepancies: Vec<Discrepancy>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Discrepancy {
    pub volume: String,
    pub problem: Problem,
    /// What the inventory says about the volume, for the operator.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// Scanned, but not on the day's list (no pending move, or one due later).
    NotExpected,
    /// On the day's list, not scanned.
    NotScanned,
    /// Scanned and expected, but changed by someone else since: not confirmed.
    Changed,
}

/// Makes the idempotency keys of two confirmations in the same millisecond differ.
static CONFIRMATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Store {
    /// Confirms the moves of `customer` due on or before `due` whose volumes were scanned:
    /// each becomes current at its target (CURRENT_REPOSITORY := REPOSITORY), through the
    /// ordinary batch — versions checked, audited with `actor` and the time. A scanned volume
    /// that was not expected, and an expected one not scanned, are listed as discrepancies
    /// and change nothing.
    ///
    /// Bad input changes nothing at all: a barcode that is no Volume-ID, or one that no volume
    /// of the customer has (`Invalid`, naming them), a day in another form (`Invalid`), a
    /// customer that does not exist (`NotFound`).
    pub fn confirm_moves(
        &mut self,
        actor: &str,
        customer: &str,
        due: &str,
        scanned: &[String],
    ) -> Result<Confirmation, StoreError> {
        let customer = id(Field::Customer, customer)?;
        let due = check_day(due)?;
        let mut barcodes = Vec::with_capacity(scanned.len());
        for raw in scanned {
            barcodes.push(crate::validate::volume_id(raw.trim())?);
        }
        barcodes.sort_unstable();
        barcodes.dedup();
        if !self.backend.customer_exists(&customer)? {
            return Err(StoreError::NotFound(format!("customer {customer}")));
        }
        let pending = self.backend.pending_moves(&customer, None)?;
        let is_due = |m: &PendingMove| m.move_date.as_deref().is_none_or(|d| d <= due.as_str());
        let mut to_confirm: Vec<PendingMove> = Vec::new();
        let mut discrepancies = Vec::new();
        let mut unknown = Vec::new();
        for barcode in &barcodes {
            let mine: Vec<&PendingMove> = pending.iter().filter(|m| &m.volume == barcode).collect();
            if let Some(m) = mine.iter().find(|m| is_due(m)) {
                to_confirm.push((*m).clone());
            } else if let Some(m) = mine.first() {
                discrepancies.push(Discrepancy {
                    volume: barcode.clone(),
                    problem: Problem::NotExpected,
                    detail: format!(
                        "its move from {} to {} is due on {}, not by {due}",
                        m.from,
                        m.to,
                        m.move_date.as_deref().unwrap_or("?")
                    ),
                });
            } else {
                match self.where_is(&customer, barcode)? {
                    Some(place) => discrepancies.push(Discrepancy {
                        volume: barcode.clone(),
                        problem: Problem::NotExpected,
                        detail: format!("no move is pending: it should be where it is, {place}"),
                    }),
                    None => unknown.push(barcode.clone()),
                }
            }
        }
        if !unknown.is_empty() {
            return Err(StoreError::invalid(
                None,
                format!(
                    "no volume of customer {customer} has the barcode{} {}; correct the list \
                     (nothing was confirmed)",
                    if unknown.len() == 1 { "" } else { "s" },
                    unknown.join(", ")
                ),
            ));
        }
        for m in pending.iter().filter(|m| is_due(m)) {
            if barcodes.binary_search(&m.volume).is_err() {
                discrepancies.push(Discrepancy {
                    volume: m.volume.clone(),
                    problem: Problem::NotScanned,
                    detail: format!("expected out of {} to {}, not scanned", m.from, m.to),
                });
            }
        }
        let confirmed = self.make_current(actor, &customer, to_confirm, &mut discrepancies)?;
        discrepancies.sort_by(|a, b| a.volume.cmp(&b.volume));
        Ok(Confirmation {
            due,
            confirmed,
            discrepancies,
        })
    }

    /// Where a volume of the customer is (its current repository, else its target, else
    /// "no repository"), in any media; `None` when the customer has no such volume.
    fn where_is(&self, customer: &str, volume: &str) -> Result<Option<String>, StoreError> {
        let query = crate::VolumeListQuery {
            text: Some(volume.to_string()),
            ..Default::default()
        };
        let list = self.list_volumes(customer, &query)?;
        Ok(list
            .volumes
            .into_iter()
            .find(|v| v.volume.volume == volume)
            .map(|v| {
                let fields = &v.volume.fields;
                fields
                    .get(&Field::CurrentRepository)
                    .or_else(|| fields.get(&Field::Repository))
                    .cloned()
                    .unwrap_or_else(|| "no repository".to_string())
            }))
    }

    /// Sets CURRENT_REPOSITORY to the target of each move, one batch per media; a volume
    /// changed since it was read is a discrepancy, not an overwrite.
    fn make_current(
        &mut self,
        actor: &str,
        customer: &str,
        moves: Vec<PendingMove>,
        discrepancies: &mut Vec<Discrepancy>,
    ) -> Result<Vec<PendingMove>, StoreError> {
        let mut confirmed = Vec::new();
        let mut media: Vec<String> = moves.iter().map(|m| m.media.clone()).collect();
        media.sort_unstable();
        media.dedup();
        for medium in media {
            let these: Vec<PendingMove> = moves
                .iter()
                .filter(|m| m.media == medium)
                .cloned()
                .collect();
            let sequence = CONFIRMATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let batch = tapesync_model::ApplyBatch {
                idempotency_key: format!(
                    "confirm {actor} {} {sequence} {}",
                    crate::clock::now_text(),
                    std::process::id()
                ),
                session: None,
                create_missing: false,
                create: None,
                changes: these
                    .iter()
                    .map(|m| tapesync_model::VolumeChange {
                        volume: m.volume.clone(),
                        expected_version: Some(m.version),
                        set: [(Field::CurrentRepository, Some(m.to.clone()))].into(),
                    })
                    .collect(),
            };
            let scope = tapesync_model::ScopeKey {
                customer: customer.to_string(),
                media: medium,
            };
            let answer = self.apply(actor, &scope, &batch)?;
            for (m, result) in these.into_iter().zip(answer.results) {
                match result.outcome {
                    tapesync_model::VolumeOutcome::Applied { .. } => confirmed.push(m),
                    other => discrepancies.push(Discrepancy {
                        volume: m.volume,
                        problem: Problem::Changed,
                        detail: match other {
                            tapesync_model::VolumeOutcome::Rejected { reason, .. } => reason,
                            _ => "changed by someone else since the list was read; list the \
                                  moves again and confirm it"
                                .to_string(),
                        },
                    }),
                }
            }
        }
        Ok(confirmed)
    }
}

/// The barcodes of a scan, as an operator gives them to a confirmation (a file, standard input
/// or the web page's text box): one per line (blank lines and surrounding blanks ignored), or,
/// when the first line holds a comma, a CSV whose header has a `volume` column — such as the
/// picking list's own CSV with the lines of the tapes not carried deleted. The error says what
/// to fix: the CSV's columns when none is `volume`, or the number of a ragged line.
pub fn scanned_barcodes(text: &str) -> Result<Vec<String>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if !first.contains(',') {
        return Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect());
    }
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| e.to_string())?.clone();
    let column = header
        .iter()
        .position(|h| h.eq_ignore_ascii_case("volume"))
        .ok_or_else(|| {
            format!(
                "the CSV has no `volume` column (its columns: {}); give one barcode per line, or \
                 a CSV with a `volume` column",
                header.iter().collect::<Vec<_>>().join(", ")
            )
        })?;
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| match e.position() {
            Some(p) => format!("line {}: {e}", p.line()),
            None => e.to_string(),
        })?;
        if let Some(v) = record.get(column).filter(|v| !v.is_empty()) {
            out.push(v.to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod scan_tests {
    use super::scanned_barcodes;

    #[test]
    fn a_scan_is_one_barcode_a_line_or_the_lists_csv() {
        assert_eq!(
            scanned_barcodes("\u{feff} A1 \r\n\r\nB2\n").unwrap(),
            ["A1", "B2"]
        );
        let csv = "from,to,media,volume,slot,move_date\nLIBR,OFFS,LTO,A1,,\nLIBR,OFFS,LTO, B2 ,S1,2026-11-30\n";
        assert_eq!(scanned_barcodes(csv).unwrap(), ["A1", "B2"]);
    }

    #[test]
    fn a_csv_without_a_volume_column_or_with_a_ragged_line_says_what_to_fix() {
        let e = scanned_barcodes("from,to\nLIBR,OFFS\n").unwrap_err();
        assert!(
            e.contains("no `volume` column (its columns: from, to)"),
            "{e}"
        );
        let e = scanned_barcodes("volume,slot\nA1,S1\nB2\n").unwrap_err();
        assert!(e.starts_with("line 3:"), "{e}");
    }
}
