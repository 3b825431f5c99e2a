//! Lowering to the plan: each family turns what its statements gave into the plan's form,
//! the whole definition is checked, and the [`Plan`] is built — only when there is no error.

use super::Compiler;
use crate::diagnostics::FileId;
use crate::plan::{Plan, PLAN_FORMAT_VERSION};

impl Compiler<'_> {
    /// The plan of definition `name` (whose main file is `main`), or `None` after errors.
    pub(super) fn finish(&mut self, name: &str, main: FileId) -> Option<Plan> {
        // In this order: extractions depend on the record format and the header size, and
        // the checks of the whole definition see every problem the lowering found.
        let input = self.lower_input_format();
        let lines = self.lower_line_rules();
        let fields = self.lower_fields(&input.format, &lines, input.grouping.as_ref());
        let parts = self.lower_value_parts();
        let fields_set = self.check_definition(main);
        if self.error_count() > 0 {
            return None;
        }
        let rules = std::mem::take(&mut self.given.rules);
        Some(Plan {
            format_version: PLAN_FORMAT_VERSION,
            definition: name.to_string(),
            input: input.input,
            format: input.format,
            header_count: lines.header_count,
            line_rules: lines.rules,
            grouping: input.grouping,
            literals: fields.literals,
            extractions: fields.extractions,
            remove_spaces: fields.remove_spaces,
            remove_characters: fields.remove_characters,
            substrings: parts.substrings,
            value_templates: parts.value_templates,
            whitespace_tail: input.whitespace_tail,
            translations: fields.translations,
            translations2: fields.translations2,
            value_exclusions: fields.value_exclusions,
            // The repository and date rules were checked as their statements were read.
            date_formats: rules
                .date_formats
                .into_iter()
                .map(|(field, (format, _))| (field, format))
                .collect(),
            move_date_adjustments: rules.move_date_adjustments,
            repository_on_move_date: rules.repository_on_move_date,
            repository_on_write_time: rules.repository_on_write_time,
            skip_on_repository_change: rules.skip_on_repository_change,
            fields_set,
        })
    }
}
