use super::*;
use crate::testutil::{csv_plan, date_format, glob, template};
use tapesync_compiler::plan::{
    Extraction, MoveDateAdjustment, RemoveCharacters, RepositoryOnMoveDate, RepositoryOnWriteTime,
    Span, Translation, ValueFilter,
};

fn now() -> NaiveDateTime {
    NaiveDateTime::parse_from_str("2026-06-15T12:00:00", "%Y-%m-%dT%H:%M:%S").unwrap()
}

fn rec(elements: &[&str]) -> RawRecord {
    RawRecord {
        line: 7,
        raw: elements.join(","),
        elements: elements.iter().map(|s| s.to_string()).collect(),
        pairs: Vec::new(),
        strict_elements: true,
        ..RawRecord::default()
    }
}

fn derive(plan: &Plan, elements: &[&str]) -> Derived {
    Deriver::new(plan, now()).derive(&[rec(elements)], &[])
}

fn record(d: Derived) -> SyncRecord {
    match d {
        Derived::Record(r) => r,
        other => panic!("{other:?}"),
    }
}

fn rejected(d: Derived) -> String {
    match d {
        Derived::Rejected(r) => r,
        other => panic!("{other:?}"),
    }
}

fn tr(field: Field, tested: Field, filter: &str, t: &str) -> Translation {
    Translation {
        field,
        tested,
        filter: glob(filter),
        template: template(t),
    }
}

#[test]
fn keys_are_canonicalised_and_values_trimmed() {
    let plan = csv_plan("us01", "lto3", &[(Field::Slot, 2), (Field::Scratch, 3)]);
    let r = record(derive(&plan, &[" a00001 ", " S 12", "Yes"]));
    assert_eq!(r.scope.to_string(), "US01.LTO3");
    assert_eq!(r.volume, "A00001");
    assert_eq!(r.fields[&Field::Slot], "S 12");
    assert_eq!(r.fields[&Field::Scratch], "true");
    assert_eq!(r.line, 7);
}

#[test]
fn bad_values_are_rejected_with_reasons() {
    let plan = csv_plan("US01", "LTO3", &[(Field::Scratch, 2)]);
    assert!(rejected(derive(&plan, &["A00001", "maybe"])).contains("SCRATCH"));
    assert!(rejected(derive(&plan, &["A", "yes"])).contains("too short"));
    assert!(rejected(derive(&plan, &["ABCDEFGHIJK", "yes"])).contains("at most 10"));
    assert!(rejected(derive(&plan, &["AB CD", "yes"])).contains("` `"));
    assert!(rejected(derive(&plan, &["", "yes"])).contains("VOLUME has no value"));
    assert!(rejected(derive(&plan, &["A00001"])).contains("needs element 2"));
}

#[test]
fn empty_value_means_no_value() {
    let plan = csv_plan("US01", "LTO3", &[(Field::Slot, 2)]);
    let r = record(derive(&plan, &["A00001", "  "]));
    assert!(!r.fields.contains_key(&Field::Slot));
}

#[test]
fn extract_length_cuts() {
    let mut plan = csv_plan("US01", "LTO3", &[]);
    plan.extractions[0].length = 6;
    let r = record(derive(&plan, &["A00001L3"]));
    assert_eq!(r.volume, "A00001");
}

#[test]
fn translations_first_match_then_translation2() {
    let mut plan = csv_plan(
        "US01",
        "LTO3",
        &[(Field::User(1), 2), (Field::Repository, 3)],
    );
    plan.remove_spaces = vec![Field::Volume];
    plan.translations = vec![
        tr(Field::Volume, Field::Volume, "??????", "*L3"),
        tr(Field::Volume, Field::Volume, "*", "NEVER"),
        tr(Field::User(1), Field::User(1), "Vault*", "OFFS"),
    ];
    plan.translations2 = vec![
        tr(Field::Repository, Field::User(1), "OFFS", "OFFS"),
        tr(Field::Repository, Field::User(1), "*", "LIBR"),
    ];
    let r = record(derive(&plan, &["A0 0001", "Vault 3", ""]));
    assert_eq!(r.volume, "A00001L3");
    assert_eq!(r.fields[&Field::Repository], "OFFS");
    assert!(!r.fields.contains_key(&Field::User(1)));
    let r = record(derive(&plan, &["B00001", "Robot", ""]));
    assert_eq!(r.fields[&Field::Repository], "LIBR");
}

#[test]
fn empty_translation_removes_the_value() {
    let mut plan = csv_plan("US01", "LTO3", &[(Field::Slot, 2)]);
    plan.translations = vec![tr(Field::Slot, Field::Slot, "-", "")];
    let r = record(derive(&plan, &["A00001", "-"]));
    assert!(!r.fields.contains_key(&Field::Slot));
}

#[test]
fn value_exclusion_after_translation() {
    let mut plan = csv_plan("US01", "LTO3", &[]);
    plan.translations = vec![tr(Field::Volume, Field::Volume, "CL*", "CLN*")];
    plan.value_exclusions = vec![ValueFilter {
        field: Field::Volume,
        filter: glob("CLN*"),
    }];
    assert_eq!(derive(&plan, &["CL0001"]), Derived::Excluded);
    assert!(matches!(derive(&plan, &["A00001"]), Derived::Record(_)));
}

#[test]
fn dates_parse_adjust_and_reject() {
    let mut plan = csv_plan(
        "US01",
        "LTO3",
        &[(Field::MoveDate, 2), (Field::Description, 3)],
    );
    plan.date_formats
        .insert(Field::MoveDate, date_format("%d/%m/%Y"));
    plan.move_date_adjustments = vec![
        MoveDateAdjustment {
            field: Field::Description,
            filter: glob("*YEARLY*"),
            years: 7,
            months: 0,
            days: 0,
        },
        MoveDateAdjustment {
            field: Field::Description,
            filter: glob("*"),
            years: 0,
            months: 1,
            days: -1,
        },
    ];
    let r = record(derive(&plan, &["A00001", "31/01/2020", "yearly full"]));
    assert_eq!(r.fields[&Field::MoveDate], "2027-02-27");
    assert!(rejected(derive(&plan, &["A00001", "31/02/2020", "x"])).contains("MOVEDATE"));
}

#[test]
fn repository_rules() {
    let mut plan = csv_plan(
        "US01",
        "LTO3",
        &[
            (Field::MoveDate, 2),
            (Field::WriteTime, 3),
            (Field::Description, 4),
        ],
    );
    plan.date_formats
        .insert(Field::MoveDate, date_format("%Y%m%d"));
    plan.date_formats
        .insert(Field::WriteTime, date_format("%Y%m%d %H:%M"));
    plan.repository_on_move_date = vec![RepositoryOnMoveDate {
        field: Field::Description,
        filter: glob("*"),
        within: Span {
            days: 7,
            ..Span::default()
        },
        repository: "SHIP".into(),
    }];
    plan.repository_on_write_time = vec![
        RepositoryOnWriteTime {
            field: Field::Description,
            filter: glob("*DAILY*"),
            age: Span {
                days: 1,
                ..Span::default()
            },
            repository: "LIBR".into(),
            move_date: Some(Span {
                days: 1,
                ..Span::default()
            }),
        },
        RepositoryOnWriteTime {
            field: Field::Description,
            filter: glob("*"),
            age: Span {
                years: 1,
                ..Span::default()
            },
            repository: "OFFS".into(),
            move_date: None,
        },
    ];
    assert_eq!(
        Deriver::compared_fields(&plan),
        [
            Field::Repository,
            Field::Description,
            Field::MoveDate,
            Field::WriteTime
        ]
    );
    // Move date within 7 days: the move-date rule wins.
    let r = record(derive(
        &plan,
        &["A1", "20260619", "20260615 01:00", "daily"],
    ));
    assert_eq!(r.fields[&Field::Repository], "SHIP");
    assert!(r.repository_by_rule);
    // Written within a day: LIBR, move date = write time + 1 day.
    let r = record(derive(
        &plan,
        &["A1", "20270101", "20260615 01:00", "daily"],
    ));
    assert_eq!(r.fields[&Field::Repository], "LIBR");
    assert_eq!(r.fields[&Field::MoveDate], "2026-06-16");
    assert_eq!(r.fields[&Field::WriteTime], "2026-06-15T01:00:00");
    // Older write: the second entry.
    let r = record(derive(&plan, &["A1", "", "20260101 01:00", "daily"]));
    assert_eq!(r.fields[&Field::Repository], "OFFS");
    // Too old for every rule.
    let r = record(derive(&plan, &["A1", "", "20200101 01:00", "daily"]));
    assert!(!r.fields.contains_key(&Field::Repository));
    assert!(!r.repository_by_rule);
}

#[test]
fn header_records_and_columns() {
    let mut plan = csv_plan("US01", "LTO3", &[]);
    plan.format = tapesync_compiler::plan::RecordFormat::FixedColumns;
    plan.extractions = vec![
        Extraction {
            field: Field::Volume,
            source: ExtractSource::Columns {
                offset: 2,
                record: 0,
            },
            length: 6,
        },
        Extraction {
            field: Field::Repository,
            source: ExtractSource::Columns {
                offset: 8,
                record: 2,
            },
            length: 4,
        },
        Extraction {
            field: Field::Slot,
            source: ExtractSource::Columns {
                offset: 40,
                record: 0,
            },
            length: 4,
        },
    ];
    let raw = RawRecord {
        line: 3,
        raw: "  A00001  short".into(),
        ..RawRecord::default()
    };
    let header: Vec<RawRecord> = ["Page 1", "Library LIBR"]
        .iter()
        .map(|t| RawRecord {
            raw: t.to_string(),
            ..RawRecord::default()
        })
        .collect();
    let r = record(Deriver::new(&plan, now()).derive(&[raw], &header));
    assert_eq!(r.volume, "A00001");
    assert_eq!(r.fields[&Field::Repository], "LIBR");
    assert!(!r.fields.contains_key(&Field::Slot));
}

#[test]
fn remove_characters_before_translation() {
    let mut plan = csv_plan("US01", "LTO3", &[(Field::UsageCount, 2)]);
    plan.remove_characters = vec![RemoveCharacters {
        field: Field::UsageCount,
        chars: ",.".into(),
    }];
    plan.translations = vec![tr(Field::UsageCount, Field::UsageCount, "1000", "*0")];
    let r = record(derive(&plan, &["A00001", "1,000"]));
    assert_eq!(r.fields[&Field::UsageCount], "10000");
}

#[test]
fn header_elements_of_delimited_and_whitespace_input() {
    let mut plan = csv_plan("US01", "LTO3", &[]);
    plan.extractions.push(Extraction {
        field: Field::Repository,
        source: ExtractSource::HeaderElement {
            index: 2,
            record: 1,
        },
        length: 4,
    });
    let header = [rec(&["Library", "OFFS"])];
    let deriver = Deriver::new(&plan, now());
    let r = record(deriver.derive(&[rec(&["A00001"])], &header));
    assert_eq!(r.fields[&Field::Repository], "OFFS");
    // Before the first header section there is no value.
    let r = record(deriver.derive(&[rec(&["A00001"])], &[]));
    assert!(!r.fields.contains_key(&Field::Repository));
    // A ragged delimited header record is an error naming it; a missing word is empty.
    let mut short = rec(&["Library"]);
    let why = rejected(deriver.derive(&[rec(&["A00001"])], std::slice::from_ref(&short)));
    assert!(why.contains("header record 1 (line 7)"), "{why}");
    short.strict_elements = false;
    let r = record(deriver.derive(&[rec(&["A00001"])], &[short]));
    assert!(!r.fields.contains_key(&Field::Repository));
}

#[test]
fn elements_counted_from_the_end() {
    let mut plan = csv_plan("US01", "LTO3", &[]);
    let from_end = |index, line, record| ExtractSource::ElementFromEnd {
        index,
        line,
        record,
    };
    plan.extractions.push(Extraction {
        field: Field::Slot,
        source: from_end(2, 1, 0),
        length: 10,
    });
    plan.extractions.push(Extraction {
        field: Field::Description,
        source: from_end(1, 2, 0),
        length: 10,
    });
    plan.extractions.push(Extraction {
        field: Field::Repository,
        source: from_end(1, 1, 1),
        length: 4,
    });
    let deriver = Deriver::new(&plan, now());
    let lines = [rec(&["A00001", "x", "12", "LTO"]), rec(&["more", "last"])];
    let r = record(deriver.derive(&lines, &[rec(&["Library", "OFFS"])]));
    assert_eq!(r.fields[&Field::Slot], "12");
    assert_eq!(r.fields[&Field::Description], "last");
    assert_eq!(r.fields[&Field::Repository], "OFFS");
    // Too few elements: a ragged delimited row is rejected, naming the count from the end.
    let why = rejected(deriver.derive(&[rec(&["A00001"]), rec(&["x"])], &[]));
    assert!(why.contains("element 2 from the end"), "{why}");
}

#[test]
fn substrings_then_templates_then_translations() {
    use tapesync_compiler::plan::{Substring, ValuePart, ValueTemplate};
    let mut plan = csv_plan("US01", "LTO3", &[(Field::User(1), 2), (Field::User(2), 3)]);
    plan.substrings = vec![Substring {
        field: Field::Volume,
        offset: 0,
        length: 6,
    }];
    plan.value_templates = vec![ValueTemplate {
        field: Field::Description,
        source: "{USER1}-{USER2} of {VOLUME}".into(),
        parts: vec![
            ValuePart::Field(Field::User(1)),
            ValuePart::Text("-".into()),
            ValuePart::Field(Field::User(2)),
            ValuePart::Text(" of ".into()),
            ValuePart::Field(Field::Volume),
        ],
    }];
    plan.translations = vec![tr(Field::Description, Field::Description, "a-b*", "*!")];
    let r = record(derive(&plan, &["A00001L8", "a", "b"]));
    assert_eq!(r.volume, "A00001");
    assert_eq!(r.fields[&Field::Description], "a-b of A00001!");
    // A template whose fields are all empty leaves no value.
    plan.value_templates[0]
        .parts
        .retain(|p| matches!(p, ValuePart::Field(_)));
    plan.value_templates[0].parts.pop();
    plan.translations.clear();
    let r = record(derive(&plan, &["A00001L8", "", ""]));
    assert!(!r.fields.contains_key(&Field::Description));
}
