//! Line rules: which records of a report are body records, headers or skipped — `AddString`
//! (HEADER, EXCLUSION, START, END, TERMINATE) and `SetHeaderCount`.

use super::arguments::{Site, Val};
use super::{Compiler, Directive};
use crate::diagnostics::{Code, Diagnostic};
use crate::plan::{LineRule, LineRuleKind};

/// What the line-rule directives gave.
#[derive(Default)]
pub(super) struct LineRules {
    rules: Vec<(LineRule, Site)>,
    header_count: Option<(usize, Site)>,
}

/// The line rules as the plan has them, and what extractions from headers need to know.
pub(super) struct LoweredLines {
    pub(super) rules: Vec<LineRule>,
    /// Records in a header section (0 without a HEADER rule).
    pub(super) header_count: usize,
    /// Whether an `AddString(HEADER, …)` rule defines header sections.
    pub(super) has_header_rule: bool,
}

impl Compiler<'_> {
    /// `AddString`.
    pub(super) fn add_string(&mut self, d: &Directive<'_>) {
        let (v, site) = (&d.args, d.site);
        let kind = match &v[0] {
            Val::Keyword(k) => match k.as_str() {
                "HEADER" => LineRuleKind::Header,
                "EXCLUSION" => LineRuleKind::Exclusion,
                "START" => LineRuleKind::Start,
                "END" => LineRuleKind::End,
                _ => LineRuleKind::Terminate,
            },
            _ => return,
        };
        let Some(s) = v[2].str() else { return };
        if let Some(filter) = self.pattern(site.file, s) {
            self.given.lines.rules.push((
                LineRule {
                    kind,
                    offset: v[1].int() as usize,
                    filter,
                },
                site,
            ));
        }
    }

    /// `SetHeaderCount`.
    pub(super) fn set_header_count(&mut self, d: &Directive<'_>) {
        let (v, site) = (&d.args, d.site);
        let n = v[0].int() as usize;
        if let Some((old, first)) = self.given.lines.header_count {
            let message = "`SetHeaderCount` given twice; the last one wins";
            self.given_twice(site, first, old == n, message);
        }
        self.given.lines.header_count = Some((n, site));
    }

    /// The header size, checked against the HEADER rules.
    pub(super) fn lower_line_rules(&mut self) -> LoweredLines {
        let has_header_rule = self
            .given
            .lines
            .rules
            .iter()
            .any(|(r, _)| r.kind == LineRuleKind::Header);
        let header_count = match (self.given.lines.header_count, has_header_rule) {
            (Some((n, _)), true) => n,
            (None, true) => {
                let site = self
                    .given
                    .lines
                    .rules
                    .iter()
                    .find(|(r, _)| r.kind == LineRuleKind::Header)
                    .map(|(_, s)| *s);
                if let Some(site) = site {
                    self.emit(
                        Diagnostic::new(
                            Code::INCOMPLETE_HEADER,
                            site.file,
                            site.span,
                            "HEADER rule without `SetHeaderCount`: a header section is one record",
                        )
                        .help("add `SetHeaderCount(n);` with the number of records in a header"),
                    );
                }
                1
            }
            (Some((_, site)), false) => {
                self.emit(
                    Diagnostic::new(
                        Code::INCOMPLETE_HEADER,
                        site.file,
                        site.span,
                        "`SetHeaderCount` without an `AddString(HEADER, …)` rule has no effect",
                    )
                    .help("add the rule that recognises the first record of a header"),
                );
                0
            }
            (None, false) => 0,
        };
        LoweredLines {
            rules: self
                .given
                .lines
                .rules
                .iter()
                .map(|(r, _)| r.clone())
                .collect(),
            header_count,
            has_header_rule,
        }
    }
}
