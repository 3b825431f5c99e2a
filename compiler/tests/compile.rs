//! Behaviour of the compiler facade on in-memory definitions.

use tapesync_compiler::plan::{ExtractSource, PatternBody, RecordFormat};
use tapesync_compiler::{
    compile_source, Code, Compilation, CompileOptions, MemoryLoader, Severity,
};
use tapesync_model::Field;

const KEYS: &str = "SetLiteral(CUSTOMER, \"US01\");\nSetLiteral(MEDIA, \"LTO\");\n";

fn compile_with(text: &str, loader: &MemoryLoader, compat: bool) -> Compilation {
    compile_source("main.ttidef", text, loader, &CompileOptions { compat })
}

fn compile(text: &str) -> Compilation {
    compile_with(text, &MemoryLoader::new(), false)
}

fn codes(c: &Compilation) -> Vec<Code> {
    c.diagnostics.iter().map(|d| d.code).collect()
}

#[test]
fn minimal_csv_compiles_to_the_expected_plan() {
    let c = compile(&format!("SetCSVDelimiter(\",\");\n{KEYS}Extract(VOLUME, 1, 25, 0);\nExtract(REPOSITORY, 0, 4, 0);\n"));
    assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
    let plan = c.plan.expect("plan");
    assert_eq!(
        plan.format,
        RecordFormat::Delimited {
            delimiter: b',',
            quote: Some(b'"')
        }
    );
    assert_eq!(
        plan.extractions[0].source,
        ExtractSource::Element { index: 1 }
    );
    assert_eq!(plan.extractions[1].source, ExtractSource::WholeRecord);
    assert_eq!(
        plan.fields_set,
        vec![
            Field::Customer,
            Field::Media,
            Field::Volume,
            Field::Repository
        ]
    );
}

#[test]
fn fixed_columns_and_headers() {
    let c = compile(&format!(
        "AddString(HEADER, 0, \"1*\");\nSetHeaderCount(7);\n{KEYS}Extract(VOLUME, 10, 6, 0);\nExtract(REPOSITORY, 70, 4, 3);\n"
    ));
    let plan = c.plan.expect("plan");
    assert_eq!(plan.header_count, 7);
    assert_eq!(
        plan.extractions[1].source,
        ExtractSource::Columns {
            offset: 70,
            record: 3
        }
    );
}

#[test]
fn names_are_case_insensitive() {
    let c = compile("setcsvdelimiter(\",\");\nsetliteral(customer, \"us01\");\nSETLITERAL(Media, \"lto\");\nextract(Volume, 1, 10, 0);\n");
    let plan = c.plan.expect("plan");
    assert_eq!(plan.literals[0].value, "US01");
}

#[test]
fn unknown_field_does_not_also_report_missing_volume() {
    let c = compile(&format!("{KEYS}Extract(VOLUMNE, 1, 10, 0);\n"));
    assert_eq!(codes(&c), vec![Code::UNKNOWN_FIELD]);
    let d = &c.diagnostics[0];
    assert_eq!(d.help.as_deref(), Some("did you mean `VOLUME`?"));
    assert_eq!(
        d.fix.as_ref().map(|f| f.replacement.as_str()),
        Some("VOLUME")
    );
}

#[test]
fn missing_keys_are_reported_each() {
    let c = compile("SetCSVDelimiter(\",\");\nExtract(REPOSITORY, 1, 4, 0);\n");
    assert_eq!(codes(&c), vec![Code::MISSING_KEY_FIELD; 3]);
    assert!(c.plan.is_none());
}

#[test]
fn pattern_errors_point_inside_the_string() {
    let text =
        format!("{KEYS}Extract(VOLUME, 1, 10, 0);\nAddExclusionOnValue(VOLUME, \"CLN[0-9\");\n");
    let c = compile(&text);
    assert_eq!(codes(&c), vec![Code::MALFORMED_PATTERN]);
    let span = c.diagnostics[0].primary.span;
    assert_eq!(&text[span.start..span.end], "[");
}

#[test]
fn docs_negation_example_is_a_warning_and_means_not_a_digit() {
    let c = compile(&format!(
        "{KEYS}AddString(EXCLUSION, 0, \"!([0-9]*\");\nExtract(VOLUME, 0, 6, 0);\n"
    ));
    assert_eq!(codes(&c), vec![Code::UNBALANCED_NEGATION]);
    assert_eq!(c.diagnostics[0].severity, Severity::Warning);
    let plan = c.plan.expect("warnings still give a plan");
    assert!(plan.line_rules[0].filter.matches("Volume report"));
    assert!(!plan.line_rules[0].filter.matches("123456 LIBR"));
}

#[test]
fn semicolon_typo_recovers_the_statement() {
    let c = compile(&format!(
        "{KEYS}Extract(VOLUME, 0, 6, 0);\nExtract(DESCRIPTION, 8, 9, 0);\nAddMoveDateAdjustment(DESCRIPTION, \"*YEARLY*\"; 7, 0, 0);\n"
    ));
    assert_eq!(codes(&c), vec![Code::SEMICOLON_FOR_COMMA]);
    assert_eq!(
        c.diagnostics[0]
            .fix
            .as_ref()
            .map(|f| f.replacement.as_str()),
        Some(",")
    );
}

#[test]
fn move_date_needs_its_format() {
    let c = compile(&format!(
        "{KEYS}Extract(VOLUME, 0, 6, 0);\nExtract(MOVEDATE, 8, 10, 0);\n"
    ));
    assert_eq!(codes(&c), vec![Code::DATE_FORMAT_MISSING]);
    let c = compile(&format!(
        "{KEYS}Extract(VOLUME, 0, 6, 0);\nExtract(MOVEDATE, 8, 10, 0);\nSetMoveDateFormat(\"%%d/%%m/%%Y\");\n"
    ));
    let plan = c.plan.expect("plan");
    assert_eq!(plan.date_formats[&Field::MoveDate].strftime, "%d/%m/%Y");
    assert_eq!(plan.date_formats[&Field::MoveDate].written, "%%d/%%m/%%Y");
}

#[test]
fn write_time_rules_use_days_months_years() {
    let c = compile(&format!(
        "{KEYS}Extract(VOLUME, 0, 8, 0);\nExtract(WRITEDATE, 10, 20, 0);\nSetWriteDateFormat(\"%%H:%%M:%%S %%d/%%m/%%Y\");\n\
         AddRepositoryOnWriteTime(VOLUME, \"SC*\", \"7\", \"OFFS\", \"0\");\nAddRepositoryOnWriteTime(VOLUME, \"*\", \"0:0:1\", \"libr\", \"0:1:1\");\n"
    ));
    let plan = c.plan.expect("plan");
    let r = &plan.repository_on_write_time;
    assert_eq!((r[0].age.days, r[0].move_date), (7, None));
    assert_eq!(r[1].age.years, 1);
    assert_eq!(r[1].repository, "LIBR");
    let md = r[1].move_date.expect("move date");
    assert_eq!((md.months, md.years), (1, 1));
    assert!(plan.fields_set.contains(&Field::Repository));
    assert!(plan.fields_set.contains(&Field::MoveDate));
}

#[test]
fn literal_limits_use_the_model() {
    let c = compile("SetLiteral(CUSTOMER, \"ACME1\");\nSetLiteral(MEDIA, \"LTO\");\nExtract(VOLUME, 0, 6, 0);\n");
    assert_eq!(codes(&c), vec![Code::VALUE_INVALID]);
    assert!(
        c.diagnostics[0].message.contains("at most 4"),
        "{}",
        c.diagnostics[0].message
    );
}

#[test]
fn includes_variables_and_lists_go_through_the_loader() {
    let loader = MemoryLoader::new()
        .with_file("inc/keys.inc", "SetVariable(CUST, \"AB01\");\nSetLiteral(CUSTOMER, \"%CUST%\");\nSetLiteral(MEDIA, \"%MEDIA_ENV%\");\n")
        .with_file("inc/clean.list", "CLN*\n# comment\nCU??\n")
        .with_env("MEDIA_ENV", "LTO");
    let c = compile_with(
        "Include(\"inc/keys.inc\");\nExtract(VOLUME, 0, 6, 0);\nAddExclusionOnValue(VOLUME, \"*LIST:inc/clean.list\");\n",
        &loader,
        false,
    );
    assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
    let plan = c.plan.expect("plan");
    assert_eq!(plan.literals[0].value, "AB01");
    assert_eq!(plan.literals[1].value, "LTO");
    let f = &plan.value_exclusions[0].filter;
    assert!(matches!(&f.body, PatternBody::List { patterns, .. } if patterns.len() == 2));
    assert!(f.matches("CU12"));
    assert!(!f.matches("A00001"));
}

#[test]
fn include_cycle_and_missing_include_are_reported_at_the_include() {
    let loader = MemoryLoader::new().with_file("a.inc", "Include(\"main.ttidef\");\n");
    let text = format!(
        "{KEYS}Include(\"a.inc\");\nInclude(\"missing.inc\");\nExtract(VOLUME, 0, 6, 0);\n"
    );
    let c = compile_with(&text, &loader, false);
    assert_eq!(
        codes(&c),
        vec![Code::INCLUDE_NOT_FOUND, Code::INCLUDE_CYCLE]
    );
    let missing = c
        .diagnostics
        .iter()
        .find(|d| d.code == Code::INCLUDE_NOT_FOUND)
        .expect("missing");
    assert_eq!(
        &text[missing.primary.span.start..missing.primary.span.end],
        "\"missing.inc\""
    );
    let cycle = c
        .diagnostics
        .iter()
        .find(|d| d.code == Code::INCLUDE_CYCLE)
        .expect("cycle");
    assert_eq!(c.files.name(cycle.primary.file), "a.inc");
}

#[test]
fn compat_warns_on_extensions_only() {
    let text = format!("SetWhitespaceDelimited();\n{KEYS}Extract(VOLUME, 1, 10, 0);\n");
    assert!(compile(&text).diagnostics.is_empty());
    let c = compile_with(&text, &MemoryLoader::new(), true);
    assert_eq!(codes(&c), vec![Code::EXTENSION_USED]);
    assert!(c.plan.is_some());
}

#[test]
fn utf16_columns_are_available() {
    let text = "# header\nSetLiteral(USER1, \"𝄞\"); SetLiteral(CUSTOMER, “US01”);\n";
    let c = compile(text);
    let d = c
        .diagnostics
        .iter()
        .find(|d| d.code == Code::TYPOGRAPHIC_QUOTES)
        .expect("warning");
    let loc = c.files.location(d.primary.file, d.primary.span.start);
    assert_eq!(loc.line, 2);
    // The musical symbol is one character but two UTF-16 code units.
    assert_eq!(loc.column_utf16, loc.column + 1);
}

#[test]
fn language_reference_lists_every_directive_with_its_source() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/language.md"))
        .expect("docs/language.md");
    for d in tapesync_compiler::catalogue() {
        assert!(
            doc.contains(&format!("`{}`", d.name)),
            "{} missing from docs/language.md",
            d.name
        );
        if let Some(url) = d.source {
            assert!(
                doc.contains(url),
                "{} source {url} missing from docs/language.md",
                d.name
            );
        }
        for alias in d.aliases {
            assert!(doc.contains(alias), "alias {alias} missing");
        }
    }
}
