//! Repository and date rules: the date format of each date field (`SetMoveDateFormat`,
//! `SetWriteTimeFormat`, `SetDateFormat`), `AddMoveDateAdjustment`, the rules that choose a
//! repository by move date or write time (`AddRepositoryOnMoveDate`,
//! `AddRepositoryOnWriteTime`) and `AddSkipOnRepositoryChange`.

use super::arguments::Site;
use super::{Compiler, Directive};
use crate::catalogue::DirectiveId;
use crate::diagnostics::{Code, Diagnostic};
use crate::plan::{
    DateFormat, MoveDateAdjustment, RepositoryOnMoveDate, RepositoryOnWriteTime,
    SkipOnRepositoryChange, Span,
};
use std::collections::BTreeMap;
use tapesync_grammar::ArgKind;
use tapesync_model::Field;

/// What the repository and date directives gave.
#[derive(Default)]
pub(super) struct RepositoryAndDateRules {
    /// The date format of each field, with the statement that gave it.
    pub(super) date_formats: BTreeMap<Field, (DateFormat, Site)>,
    pub(super) move_date_adjustments: Vec<MoveDateAdjustment>,
    pub(super) repository_on_move_date: Vec<RepositoryOnMoveDate>,
    pub(super) repository_on_write_time: Vec<RepositoryOnWriteTime>,
    pub(super) skip_on_repository_change: Vec<SkipOnRepositoryChange>,
}

impl RepositoryAndDateRules {
    /// The fields these rules can give a value: REPOSITORY when a rule chooses one, MOVEDATE
    /// when a write-time rule also sets the move date.
    pub(super) fn fields_set(&self) -> Vec<Field> {
        let mut out = Vec::new();
        if !self.repository_on_move_date.is_empty() || !self.repository_on_write_time.is_empty() {
            out.push(Field::Repository);
        }
        if self
            .repository_on_write_time
            .iter()
            .any(|r| r.move_date.is_some())
        {
            out.push(Field::MoveDate);
        }
        out
    }
}

impl Compiler<'_> {
    /// `SetMoveDateFormat`, `SetWriteTimeFormat` and `SetDateFormat`.
    pub(super) fn set_date_format(&mut self, d: &Directive<'_>) {
        let (info, stmt, v, site) = (d.info, d.statement, &d.args, d.site);
        let (field, fmt_arg) = match info.id {
            DirectiveId::SetMoveDateFormat => (Field::MoveDate, &v[0]),
            DirectiveId::SetWriteTimeFormat => (Field::WriteTime, &v[0]),
            _ => (v[0].field(), &v[1]),
        };
        let Some(s) = fmt_arg.str() else { return };
        if !field.is_temporal() {
            self.emit(
                Diagnostic::new(
                    Code::FIELD_NOT_ALLOWED,
                    site.file,
                    stmt.args[0].span,
                    format!("{field} is not a date or time field"),
                )
                .label("no date format applies")
                .note("date and time fields: MOVEDATE, WRITETIME, EXPIRYDATE, MOUNTTIME, READTIME"),
            );
            return;
        }
        let written = match &stmt.args[stmt.args.len() - 1].kind {
            ArgKind::Str { value, .. } => value.clone(),
            _ => s.text().to_string(),
        };
        let Some(format) = self.date_format(site.file, s, &written) else {
            return;
        };
        if let Some((old, first)) = self.given.rules.date_formats.get(&field) {
            let (same, first) = (old.strftime == format.strftime, *first);
            let message = format!("the date format of {field} is given twice; the last one wins");
            self.given_twice(site, first, same, message);
        }
        self.given.rules.date_formats.insert(field, (format, site));
    }

    /// `AddMoveDateAdjustment`.
    pub(super) fn add_move_date_adjustment(&mut self, d: &Directive<'_>) {
        let (v, site) = (&d.args, d.site);
        let Some(s) = v[1].str() else { return };
        if let Some(filter) = self.pattern(site.file, s) {
            self.given
                .rules
                .move_date_adjustments
                .push(MoveDateAdjustment {
                    field: v[0].field(),
                    filter,
                    years: v[2].int() as i32,
                    months: v[3].int() as i32,
                    days: v[4].int() as i32,
                });
        }
    }

    /// `AddRepositoryOnWriteTime`.
    pub(super) fn add_repository_on_write_time(&mut self, d: &Directive<'_>) {
        let (v, site) = (&d.args, d.site);
        let (Some(fs), Some(age), Some(repo), Some(md)) =
            (v[1].str(), v[2].str(), v[3].str(), v[4].str())
        else {
            return;
        };
        let filter = self.pattern(site.file, fs);
        let age = self.duration(site.file, age);
        let repository = self.repository(site.file, repo);
        let move_date = self.duration(site.file, md);
        if let (Some(filter), Some(age), Some(repository), Some(move_date)) =
            (filter, age, repository, move_date)
        {
            let move_date = (move_date != Span::default()).then_some(move_date);
            self.given
                .rules
                .repository_on_write_time
                .push(RepositoryOnWriteTime {
                    field: v[0].field(),
                    filter,
                    age,
                    repository,
                    move_date,
                });
        }
    }

    /// `AddRepositoryOnMoveDate`.
    pub(super) fn add_repository_on_move_date(&mut self, d: &Directive<'_>) {
        let (v, site) = (&d.args, d.site);
        let (Some(fs), Some(within), Some(repo)) = (v[1].str(), v[2].str(), v[3].str()) else {
            return;
        };
        let filter = self.pattern(site.file, fs);
        let within = self.duration(site.file, within);
        let repository = self.repository(site.file, repo);
        if let (Some(filter), Some(within), Some(repository)) = (filter, within, repository) {
            self.given
                .rules
                .repository_on_move_date
                .push(RepositoryOnMoveDate {
                    field: v[0].field(),
                    filter,
                    within,
                    repository,
                });
        }
    }

    /// `AddSkipOnRepositoryChange`.
    pub(super) fn add_skip_on_repository_change(&mut self, d: &Directive<'_>) {
        let (v, site) = (&d.args, d.site);
        let (Some(a), Some(b), Some(c)) = (v[0].str(), v[1].str(), v[2].str()) else {
            return;
        };
        let (a, b, c) = (
            self.pattern(site.file, a),
            self.pattern(site.file, b),
            self.pattern(site.file, c),
        );
        if let (Some(proposed), Some(target), Some(current)) = (a, b, c) {
            self.given
                .rules
                .skip_on_repository_change
                .push(SkipOnRepositoryChange {
                    proposed,
                    target,
                    current,
                });
        }
    }
}
