//! Checks of the whole definition, once every statement has been read: a field set in two
//! ways, REPOSITORY beside REPOSITORY_DESC, and the key fields every record needs.

use super::Compiler;
use crate::diagnostics::{Code, Diagnostic, FileId};
use tapesync_grammar::Span as ByteSpan;
use tapesync_model::Field;

impl Compiler<'_> {
    /// Reports what only the whole definition shows; returns every field the plan can set,
    /// in catalogue order.
    pub(super) fn check_definition(&mut self, main: FileId) -> Vec<Field> {
        let lits = &self.given.fields.literals;
        let pending = &self.given.fields.extractions;
        let mut problems = Vec::new();
        // Conflicts between ways of setting one field.
        for (field, _, lit_site) in lits {
            if let Some((_, _, _, ex_site)) = pending.iter().find(|(f, _, _, _)| f == field) {
                problems.push(
                    Diagnostic::new(
                        Code::CONFLICTING_DEFINITIONS,
                        ex_site.file,
                        ex_site.span,
                        format!("{field} is both a literal and extracted"),
                    )
                    .label("extracted here")
                    .secondary(lit_site.file, lit_site.span, "literal here")
                    .note("the extracted value replaces the literal whenever it is not empty"),
                );
            }
        }

        let mut fields_set: Vec<Field> = lits
            .iter()
            .map(|(f, _, _)| *f)
            .chain(pending.iter().map(|(f, _, _, _)| *f))
            .chain(self.given.fields.translated())
            .chain(self.given.parts.templated().map(|(f, _)| f))
            .chain(self.given.rules.fields_set())
            .collect();
        if fields_set.contains(&Field::RepositoryDesc) {
            fields_set.push(Field::Repository);
        }
        fields_set.sort();
        fields_set.dedup();

        let sets_repo_directly = lits.iter().any(|(f, _, _)| *f == Field::Repository)
            || pending.iter().any(|(f, _, _, _)| *f == Field::Repository);
        let desc_site = lits
            .iter()
            .map(|(f, _, s)| (*f, *s))
            .chain(pending.iter().map(|(f, _, _, s)| (*f, *s)))
            .find(|(f, _)| *f == Field::RepositoryDesc);
        if let (true, Some((_, site))) = (sets_repo_directly, desc_site) {
            problems.push(
                Diagnostic::new(
                    Code::CONFLICTING_DEFINITIONS,
                    site.file,
                    site.span,
                    "both REPOSITORY and REPOSITORY_DESC are set",
                )
                .note("REPOSITORY_DESC is looked up and overrides REPOSITORY when it resolves"),
            );
        }

        for d in problems {
            self.emit(d);
        }

        // Missing keys: only when nothing else went wrong, since a broken statement may well
        // have been the one that sets the key.
        if self.error_count() == 0 {
            let first_line = self
                .files
                .get(main)
                .map(|f| f.text.find('\n').unwrap_or(f.text.len()))
                .unwrap_or(0);
            for key in [Field::Customer, Field::Media, Field::Volume] {
                if !fields_set.contains(&key) {
                    let example = match key {
                        Field::Volume => "Extract(VOLUME, 1, 10, 0);".to_string(),
                        k => format!("SetLiteral({k}, \"…\");"),
                    };
                    self.emit(
                        Diagnostic::new(
                            Code::MISSING_KEY_FIELD,
                            main,
                            ByteSpan::new(0, first_line),
                            format!("the definition never sets {key}"),
                        )
                        .note("every record needs CUSTOMER, MEDIA and VOLUME")
                        .help(format!("add e.g. `{example}`")),
                    );
                }
            }
        }
        fields_set
    }
}
