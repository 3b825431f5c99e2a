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
