//! Which customers, media and repositories a run may create (docs/running.md, "What
//! `--add-new` creates").
//!
//! `--add-new` creates volumes, and only the customers, media and repositories the definition
//! itself names: a `SetLiteral`, a translation whose result is a constant, a repository rule's
//! repository. Those were written and reviewed by whoever wrote the definition; a value that
//! only the report carries is data, and a typo in it (`XXXX` for a repository) must not
//! become a new repository in the inventory. `--add-new-ids` creates whatever the report
//! names, for the rare first load that really brings new ones. Anything else unknown is
//! rejected with the record that names it.

use std::collections::BTreeSet;
use tapesync_compiler::plan::{Plan, Template, TemplatePart};
use tapesync_model::{canonicalise, CreateIds, Field, ScopeKey, VolumeChange};

/// The run's rule for creating customers, media and repositories.
#[derive(Debug, Clone, Default)]
pub struct NewIds {
    /// `--add-new-ids`: any the report names.
    any: bool,
    /// `--add-new`: those the definition names.
    named_ones: bool,
    customers: BTreeSet<String>,
    media: BTreeSet<String>,
    repositories: BTreeSet<String>,
}

impl NewIds {
    pub fn new(plan: &Plan, add_new: bool, add_new_ids: bool) -> NewIds {
        NewIds {
            any: add_new_ids,
            named_ones: add_new,
            customers: named_by(plan, Field::Customer),
            media: named_by(plan, Field::Media),
            repositories: named_by(plan, Field::Repository),
        }
    }

    /// `--add-new` with a definition that names these repositories (for tests).
    #[cfg(test)]
    pub(crate) fn naming_repositories(repositories: &[&str]) -> NewIds {
        NewIds {
            named_ones: true,
            repositories: repositories.iter().map(|r| r.to_string()).collect(),
            ..NewIds::default()
        }
    }

    fn allows(&self, named: &BTreeSet<String>, id: &str) -> bool {
        self.any || (self.named_ones && named.contains(id))
    }

    pub fn customer(&self, id: &str) -> bool {
        self.allows(&self.customers, id)
    }

    pub fn media(&self, id: &str) -> bool {
        self.allows(&self.media, id)
    }

    pub fn repository(&self, id: &str) -> bool {
        self.allows(&self.repositories, id)
    }

    /// What a batch of `scope` with `changes` may create: the scope's customer and media and
    /// the repositories its changes name, each as far as the rule allows. The inventory
    /// creates only those of them that are missing.
    pub fn for_batch<'c>(
        &self,
        scope: &ScopeKey,
        changes: impl Iterator<Item = &'c VolumeChange>,
    ) -> CreateIds {
        let mut repositories: BTreeSet<&str> = BTreeSet::new();
        for change in changes {
            if let Some(Some(r)) = change.set.get(&Field::Repository) {
                if self.repository(r) {
                    repositories.insert(r);
                }
            }
        }
        CreateIds {
            customer: self.customer(&scope.customer),
            media: self.media(&scope.media),
            repositories: repositories.into_iter().map(str::to_string).collect(),
        }
    }

    /// The reason a record naming a missing customer, media or repository (`missing`, "…
    /// does not exist …") is rejected: under `--add-new`, with why it was not created.
    pub fn refusal(&self, missing: String) -> String {
        if self.named_ones && !self.any {
            format!(
                "{missing}; --add-new creates only the customers, media and repositories the \
                 definition names (add it with `tapesync admin`, correct the report, or allow \
                 the report's own with --add-new-ids)"
            )
        } else {
            missing
        }
    }
}

/// The values of `field` the definition writes itself, canonical.
fn named_by(plan: &Plan, field: Field) -> BTreeSet<String> {
    let literals = plan
        .literals
        .iter()
        .filter(|l| l.field == field)
        .map(|l| l.value.clone());
    let translated = plan
        .translations
        .iter()
        .chain(&plan.translations2)
        .filter(|t| t.field == field)
        .filter_map(|t| constant(&t.template));
    let by_rule = plan
        .repository_on_move_date
        .iter()
        .map(|r| r.repository.clone())
        .chain(
            plan.repository_on_write_time
                .iter()
                .map(|r| r.repository.clone()),
        )
        .filter(|_| field == Field::Repository);
    literals
        .chain(translated)
        .chain(by_rule)
        .filter_map(|v| canonicalise(field, v.trim()).ok())
        .filter(|v| !v.is_empty())
        .collect()
}

/// A translation's result when it does not depend on the value translated.
fn constant(template: &Template) -> Option<String> {
    let mut text = String::new();
    for part in &template.parts {
        match part {
            TemplatePart::Text(t) => text.push_str(t),
            _ => return None,
        }
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use tapesync_compiler::{compile_source, CompileOptions, MemoryLoader};

    fn plan(source: &str) -> Plan {
        let compilation = compile_source(
            "t.ttidef",
            source,
            &MemoryLoader::new(),
            &CompileOptions::default(),
        );
        assert!(!compilation.has_errors(), "{:?}", compilation.diagnostics);
        compilation.plan.expect("a plan")
    }

    const DEFINITION: &str = "\
SetCSVDelimiter(\",\");
SetLiteral(CUSTOMER, \"acme\");
Extract(MEDIA, 1, 4, 0);
Extract(VOLUME, 3, 10, 0);
Extract(REPOSITORY, 2, 8, 0);
AddTranslation(REPOSITORY, \"NONE\", \"OFFS\");
AddTranslation(REPOSITORY, \"Lib*\", \"LIBR\");
AddTranslation(REPOSITORY, \"X*\", \"*\");
AddTranslation(MEDIA, \"HCART*\", \"LTO\");
";

    #[test]
    fn add_new_creates_what_the_definition_names_and_add_new_ids_anything() {
        let plan = plan(DEFINITION);
        let named = NewIds::new(&plan, true, false);
        assert!(named.customer("ACME"));
        assert!(!named.customer("BETA"));
        assert!(named.media("LTO") && !named.media("DLT"));
        assert!(named.repository("OFFS") && named.repository("LIBR"));
        // `*` passes the report's value through: not a name the definition gives.
        assert!(!named.repository("XXXX"));
        let none = NewIds::new(&plan, false, false);
        assert!(!none.customer("ACME") && !none.repository("OFFS"));
        let any = NewIds::new(&plan, false, true);
        assert!(any.customer("BETA") && any.media("DLT") && any.repository("XXXX"));

        let scope = ScopeKey {
            customer: "ACME".into(),
            media: "DLT".into(),
        };
        let change = |r: &str| VolumeChange {
            volume: "V1".into(),
            expected_version: None,
            set: BTreeMap::from([(Field::Repository, Some(r.to_string()))]),
        };
        let changes = [change("XXXX"), change("OFFS"), change("OFFS")];
        assert_eq!(
            named.for_batch(&scope, changes.iter()),
            CreateIds {
                customer: true,
                media: false,
                repositories: vec!["OFFS".into()],
            }
        );
    }
}
