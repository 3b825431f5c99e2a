//! docs/openapi.json against the code and the running server.
//!
//! - The parts of the description that the code decides — field names, the value each field
//!   accepts, the statistics, every size limit — are generated here from the model's field
//!   table and the server's limits, and must equal what the file says
//!   (`TAPESYNC_BLESS=1 cargo test --test e2e openapi` rewrites them). The file is kept in one
//!   canonical form (sorted keys, two-space indent), so a rewrite changes only what changed.
//! - The value patterns are checked to accept exactly what the server accepts.
//! - Every operation describes the statuses it can answer (431 everywhere; 400, 413 and 415
//!   wherever a body is read; 401 wherever a token is needed).
//! - The real server serves every documented path and method.
//!
//! scripts/api-fuzz then points schemathesis at the file and a running server.

use crate::common;

use crate::server_support::{admin, logon, Server, ADMIN_PASSWORD};
use regex::Regex;
use serde_json::{json, Value};
use std::time::Duration;
use tapesync_model::{canonicalise, Field, FieldKind, SessionOutcome, SyncStatistics};
use tapesync_server::{limits, CountersSnapshot};

fn spec_path() -> std::path::PathBuf {
    common::root().join("docs/openapi.json")
}

fn spec() -> Value {
    serde_json::from_str(&std::fs::read_to_string(spec_path()).expect("docs/openapi.json"))
        .expect("docs/openapi.json is JSON")
}

/// The file's one canonical text: sorted keys (serde_json's map), two-space indent.
fn canonical_text(spec: &Value) -> String {
    serde_json::to_string_pretty(spec).unwrap() + "\n"
}

// ---------------------------------------------------------------------------------------------
// What the code decides

/// The characters `str::trim` removes (Unicode White_Space), as a regex class: yes/no and
/// whole-number values are trimmed before they are checked.
const WHITESPACE: &str = r"[\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";

/// The yes/no spellings `tapesync_model::value::parse_bool` accepts, in any letter case.
const BOOL_WORDS: &str =
    "[Yy](?:[Ee][Ss])?|[Tt](?:[Rr][Uu][Ee])?|1|[Nn][Oo]?|[Ff](?:[Aa][Ll][Ss][Ee])?|0";

/// A calendar date `YYYY-MM-DD` (the Gregorian leap-year rule included), as the model's
/// canonical date check accepts it.
const DATE: &str = concat!(
    "(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])",
    "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)",
    "|02-(?:0[1-9]|1[0-9]|2[0-8]))",
    "|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)"
);
/// `HH:MM:SS`, a leap second allowed.
const TIME: &str = "(?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)";

/// A character that text may hold: anything but the controls `tapesync_model::is_control`
/// refuses (C0 but tab and line feed, DEL, C1, the bidirectional controls).
const TEXT_CHARACTER: &str =
    r"[^\x00-\x08\x0B-\x1F\x7F-\x9F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]";

/// What `set` accepts for `field`: null clears, and so does the empty string; anything else
/// must pass `tapesync_model::canonicalise`.
fn value_schema(field: Field) -> Value {
    let info = field.info();
    let pattern = |p: String| json!({"type": ["string", "null"], "pattern": format!("^(?:|{p})$"), "description": info.doc});
    match info.kind {
        FieldKind::Text => json!({
            "type": ["string", "null"],
            "maxLength": info.max_len,
            "pattern": format!("^{TEXT_CHARACTER}*$"),
            "description": info.doc
        }),
        FieldKind::Id => pattern(format!("[A-Za-z0-9]{{1,{}}}", info.max_len)),
        FieldKind::Bool => pattern(format!("{WHITESPACE}*(?:{BOOL_WORDS}){WHITESPACE}*")),
        FieldKind::Integer => pattern(format!(
            "{WHITESPACE}*[0-9]{{1,{}}}{WHITESPACE}*",
            info.max_len
        )),
        FieldKind::Date => pattern(DATE.to_string()),
        FieldKind::DateTime => pattern(format!("{DATE}T{TIME}")),
        FieldKind::VolumeId => panic!("{field} is not a stored field"),
    }
}

fn names(fields: impl Iterator<Item = Field>) -> Vec<&'static str> {
    fields.map(|f| f.name()).collect()
}

/// Every session outcome (the match fails to compile when one is added).
fn outcomes() -> Vec<Value> {
    let all = [
        SessionOutcome::Running,
        SessionOutcome::Completed,
        SessionOutcome::DryRun,
        SessionOutcome::Failed,
        SessionOutcome::Abandoned,
    ];
    for o in all {
        match o {
            SessionOutcome::Running
            | SessionOutcome::Completed
            | SessionOutcome::DryRun
            | SessionOutcome::Failed
            | SessionOutcome::Abandoned => {}
        }
    }
    all.iter()
        .map(|o| serde_json::to_value(o).unwrap())
        .collect()
}

/// A counters object: every member a count the type serialises, nothing else.
fn counts_schema(example: Value, description: &str) -> Value {
    let members = example.as_object().expect("an object").clone();
    let properties: serde_json::Map<String, Value> = members
        .iter()
        .map(|(name, value)| {
            let schema = match value {
                Value::Bool(_) => json!({"type": "boolean"}),
                Value::Number(_) => json!({"type": "integer", "minimum": 0, "maximum": u64::MAX}),
                // A group of counts (the moves of a sync).
                Value::Object(_) => counts_schema(value.clone(), &format!("{name}: counts")),
                other => panic!("{name}: no schema for {other}"),
            };
            (name.clone(), schema)
        })
        .collect();
    json!({
        "type": "object",
        "description": description,
        "properties": properties,
        "required": members.keys().collect::<Vec<_>>(),
        "additionalProperties": false,
    })
}

/// `schema` with `members` no longer required (they have a default).
fn optional(mut schema: Value, members: &[&str]) -> Value {
    if let Some(Value::Array(required)) = schema.get_mut("required") {
        required.retain(|m| !members.iter().any(|o| m == o));
    }
    schema
}

/// Escapes a key for a JSON pointer.
fn pointer(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// The parts of docs/openapi.json that are derived from the code: JSON pointer → value.
fn generated() -> Vec<(String, Value)> {
    let schema = |name: &str| pointer(&["components", "schemas", name]);
    let kib = |n: usize| format!("{} KiB", n / 1024);
    let stored: Vec<Field> = Field::stored().collect();
    let mut parts = vec![
        (
            schema("FieldName"),
            json!({"type": "string", "description": "A field stored on volumes, by its canonical name (aliases and other letter cases belong to the definition language, not the wire)",
                   "enum": names(stored.iter().copied())}),
        ),
        (
            schema("AnyFieldName"),
            json!({"type": "string", "description": "Any field of the field table",
                   "enum": names(Field::ALL.into_iter())}),
        ),
        (
            schema("FieldValues"),
            json!({"type": "object",
                   "description": "Fields to set, by canonical name, each at most once; null or an empty string clears the field",
                   "properties": stored.iter().map(|f| (f.name().to_string(), value_schema(*f))).collect::<serde_json::Map<_, _>>(),
                   "additionalProperties": false}),
        ),
        (
            schema("StoredFields"),
            json!({"type": "object",
                   "description": "The fields of a volume that have a value, in canonical form",
                   "properties": stored.iter().map(|f| (f.name().to_string(), json!({"type": "string"}))).collect::<serde_json::Map<_, _>>(),
                   "additionalProperties": false}),
        ),
        (
            schema("SyncStatistics"),
            optional(
                counts_schema(
                    serde_json::to_value(SyncStatistics::default()).unwrap(),
                    "Statistics of one sync session, as `tapesync run` prints them",
                ),
                // Newer than the first statistics recorded: absent means 0.
                &["scopes_from_cache", "moves"],
            ),
        ),
        (
            schema("ServerStatistics"),
            counts_schema(
                serde_json::to_value(CountersSnapshot::default()).unwrap(),
                "Requests served since the server started",
            ),
        ),
        (
            schema("SessionOutcome"),
            json!({"type": "string", "enum": outcomes()}),
        ),
        (
            pointer(&[
                "components",
                "schemas",
                "ApplyBatch",
                "properties",
                "idempotency_key",
                "pattern",
            ]),
            json!(format!("^[!-~]{{1,{}}}$", limits::MAX_IDEMPOTENCY_KEY)),
        ),
        (
            pointer(&[
                "components",
                "schemas",
                "ApplyBatch",
                "properties",
                "changes",
                "maxItems",
            ]),
            json!(limits::MAX_CHANGES_PER_BATCH),
        ),
        (
            pointer(&[
                "components",
                "schemas",
                "BatchGroup",
                "properties",
                "batches",
                "maxItems",
            ]),
            json!(limits::MAX_GROUP_BATCHES),
        ),
        (
            pointer(&["components", "schemas", "BatchGroup", "description"]),
            json!(format!(
                "Several batches, of one scope or several, applied in one transaction: all or \
                 none. At most {} changes in all the batches together",
                limits::MAX_GROUP_CHANGES
            )),
        ),
        (
            pointer(&[
                "components",
                "schemas",
                "ScopeVersionsRequest",
                "properties",
                "scopes",
                "maxItems",
            ]),
            json!(limits::MAX_SCOPES_PER_VERSIONS),
        ),
        (
            pointer(&[
                "components",
                "schemas",
                "LogonRequest",
                "properties",
                "user",
                "maxLength",
            ]),
            json!(limits::MAX_USER_NAME),
        ),
        (
            pointer(&[
                "components",
                "schemas",
                "LogonRequest",
                "properties",
                "password",
                "maxLength",
            ]),
            json!(limits::MAX_PASSWORD),
        ),
        (
            pointer(&[
                "paths",
                "/api/v1/sync-sessions",
                "get",
                "parameters",
                "0",
                "schema",
            ]),
            json!({"type": "integer", "minimum": 1, "maximum": limits::MAX_SESSION_LIST,
                   "default": limits::DEFAULT_SESSION_LIST}),
        ),
        (
            pointer(&["paths", "/volume", "get", "parameters", "0", "schema"]),
            json!({"type": "string",
                   "pattern": format!("^{WHITESPACE}*[A-Za-z0-9][A-Za-z0-9-]{{1,9}}{WHITESPACE}*$")}),
        ),
        (
            pointer(&["components", "responses", "HeadTooLarge", "description"]),
            json!(format!(
                "More than {} header fields, or more than {} of request line and header fields",
                limits::MAX_HEADER_FIELDS,
                kib(limits::MAX_HEAD_BYTES)
            )),
        ),
    ];
    for member in ["definition_hash", "definition_name", "source_name"] {
        parts.push((
            pointer(&[
                "components",
                "schemas",
                "SessionStart",
                "properties",
                member,
                "maxLength",
            ]),
            json!(limits::MAX_SESSION_TEXT),
        ));
        // The store refuses control characters in these as in volume text.
        parts.push((
            pointer(&[
                "components",
                "schemas",
                "SessionStart",
                "properties",
                member,
                "pattern",
            ]),
            json!(format!("^{TEXT_CHARACTER}*$")),
        ));
    }
    let reconcile = |member: &str, key: &str| {
        pointer(&[
            "components",
            "schemas",
            "ReconcileRequest",
            "properties",
            member,
            key,
        ])
    };
    parts.push((
        reconcile("barcodes", "maxItems"),
        json!(limits::MAX_RECONCILE_BARCODES),
    ));
    parts.push((
        reconcile("source", "maxLength"),
        json!(tapesync_store::SOURCE_MAX),
    ));
    parts.push((
        reconcile("source", "pattern"),
        json!(format!("^{TEXT_CHARACTER}*$")),
    ));
    let body_limit = |limit: String| json!(format!("The body may be at most {limit}."));
    for (path, method, limit) in [
        ("/api/v1/logon", "post", kib(limits::LOGON_BODY_LIMIT)),
        ("/logon", "post", kib(limits::LOGON_BODY_LIMIT)),
        (
            "/moves/confirm",
            "post",
            kib(limits::CONFIRM_FORM_BODY_LIMIT),
        ),
        (
            "/api/v1/sync-sessions",
            "post",
            kib(limits::SESSION_BODY_LIMIT),
        ),
        (
            "/api/v1/sync-sessions/{id}/finish",
            "post",
            kib(limits::SESSION_BODY_LIMIT),
        ),
        (
            "/api/v1/scope-versions",
            "post",
            kib(limits::SCOPE_VERSIONS_BODY_LIMIT),
        ),
        (
            "/api/v1/customers/{customer}/reconciliations",
            "post",
            kib(limits::RECONCILE_BODY_LIMIT),
        ),
    ] {
        parts.push((
            pointer(&["paths", path, method, "description"]),
            body_limit(limit),
        ));
    }
    parts
}

/// Sets `value` at `pointer`, creating the last member if needed.
fn set_at(spec: &mut Value, pointer: &str, value: Value) {
    let (parent, last) = pointer.rsplit_once('/').expect("a pointer");
    let last = last.replace("~1", "/").replace("~0", "~");
    match spec.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.insert(last, value);
        }
        Some(Value::Array(items)) => {
            let i: usize = last.parse().expect("an index");
            items[i] = value;
        }
        _ => panic!("docs/openapi.json has nothing at {parent}"),
    }
}

#[test]
fn the_description_states_what_the_code_decides() {
    let text = std::fs::read_to_string(spec_path()).unwrap();
    let mut spec: Value = serde_json::from_str(&text).unwrap();
    let mut differences = Vec::new();
    for (at, want) in generated() {
        if spec.pointer(&at) != Some(&want) {
            differences.push(format!(
                "{at}:\n  the file: {}\n  the code: {}",
                spec.pointer(&at)
                    .map(Value::to_string)
                    .unwrap_or("<absent>".into()),
                want
            ));
            set_at(&mut spec, &at, want);
        }
    }
    let canonical = canonical_text(&spec);
    if common::blessing() {
        std::fs::write(spec_path(), &canonical).unwrap();
        return;
    }
    assert!(
        differences.is_empty(),
        "docs/openapi.json disagrees with the code (run `TAPESYNC_BLESS=1 cargo test --test e2e openapi` \
         to rewrite these parts, and review the diff):\n{}",
        differences.join("\n")
    );
    assert!(
        text == canonical,
        "docs/openapi.json is not in its canonical form (sorted keys, two-space indent); \
         run `TAPESYNC_BLESS=1 cargo test --test e2e openapi`"
    );
}

#[test]
fn the_whitespace_class_is_what_trim_removes() {
    let class = Regex::new(&format!("^{WHITESPACE}$")).unwrap();
    for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
        assert_eq!(
            class.is_match(c.encode_utf8(&mut [0; 4])),
            c.is_whitespace(),
            "U+{:04X}",
            c as u32
        );
    }
}

/// A deterministic stream of strings over `alphabet` (xorshift; no dependency, same on every run).
fn strings(alphabet: &[&str], count: usize, max_len: usize) -> Vec<String> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|_| {
            let len = (next() % (max_len as u64 + 1)) as usize;
            (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect()
        })
        .collect()
}

/// Values of interest for `kind`: boundaries, then many random ones over a telling alphabet.
fn candidates(kind: FieldKind, max_len: usize) -> Vec<String> {
    let mut out: Vec<String> = [
        "", " ", "\t", "a", "A", "0", "1", "-", "é", "\u{85}", "\u{3000}", "\u{FEFF}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for n in [max_len.saturating_sub(1), max_len, max_len + 1] {
        out.push("x".repeat(n));
        out.push("é".repeat(n));
        out.push("7".repeat(n));
        out.push("🦀".repeat(n));
    }
    let alphabet: &[&str] = match kind {
        FieldKind::Bool => &[
            "Y", "y", "E", "e", "S", "s", "T", "t", "R", "r", "U", "u", "N", "n", "O", "o", "F",
            "f", "A", "a", "L", "l", "1", "0", "2", " ", "\t", "\u{A0}", "\u{FEFF}", "\u{2028}",
        ],
        FieldKind::Integer => &["0", "1", "9", " ", "\u{3000}", "\u{85}", "+", "-", "a", "٣"],
        FieldKind::Id => &["A", "z", "0", "9", "-", " ", "é", "_"],
        FieldKind::Date | FieldKind::DateTime => {
            for y in [
                "0000", "1900", "2000", "2023", "2024", "2100", "2400", "9999",
            ] {
                for m in 0..=13 {
                    for d in 0..=32 {
                        out.push(format!("{y}-{m:02}-{d:02}"));
                        out.push(format!("{y}-{m:02}-{d:02}T23:59:60"));
                    }
                }
            }
            for t in [
                "00:00:00", "24:00:00", "23:60:00", "23:59:61", "9:00:00", "09:00",
            ] {
                out.push(format!("2024-02-29T{t}"));
            }
            &["0", "1", "2", "9", "-", ":", "T", " "]
        }
        FieldKind::Text | FieldKind::VolumeId => &[
            "a", "é", " ", "\n", "🦀", "\t", "\r", "\0", "\x1b", "\x7f", "\u{9b}", "\u{a0}",
            "\u{202e}", "\u{2069}", "\u{200d}",
        ],
    };
    out.extend(strings(alphabet, 20_000, max_len.min(24) + 2));
    out
}

#[test]
fn each_field_value_pattern_accepts_exactly_what_the_server_accepts() {
    let mut failures = Vec::new();
    for field in Field::stored() {
        let schema = value_schema(field);
        let info = field.info();
        let re = Regex::new(
            schema["pattern"]
                .as_str()
                .expect("every value has a pattern"),
        )
        .unwrap_or_else(|e| panic!("{field}: {e}"));
        let max = schema["maxLength"].as_u64().map(|m| m as usize);
        let accepted_by_description =
            |v: &str| re.is_match(v) && max.is_none_or(|max| v.chars().count() <= max);
        for value in candidates(info.kind, info.max_len) {
            // What the store does with a `set` value: empty clears, else canonicalise.
            let accepted_by_server = value.is_empty() || canonicalise(field, &value).is_ok();
            if accepted_by_description(&value) != accepted_by_server {
                failures.push(format!(
                    "{field} {value:?}: description {}, server {}",
                    accepted_by_description(&value),
                    accepted_by_server
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures[..failures.len().min(40)].join("\n")
    );
}

/// Resolves a `$ref` into components (one level, as the file uses them).
fn resolve<'a>(spec: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str() {
        Some(r) => spec
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling {r}")),
        None => v,
    }
}

#[test]
fn every_operation_describes_the_statuses_it_can_answer() {
    let spec = spec();
    let mut failures = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let has = |code: &str| responses.contains_key(code);
            let mut need = vec!["431"];
            if op.get("requestBody").is_some() {
                need.extend(["400", "413", "415"]);
            }
            let security = op["security"].as_array();
            let token_needed = security.is_some_and(|alternatives| {
                !alternatives.is_empty()
                    && alternatives
                        .iter()
                        .all(|a| a.as_object().is_some_and(|o| !o.is_empty()))
            });
            if token_needed {
                need.push("401");
            }
            if op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| resolve(&spec, p)["in"] == "path")
            {
                need.extend(["400", "404"]);
            }
            for code in need {
                if !has(code) {
                    failures.push(format!("{method} {path} does not describe {code}"));
                }
            }
            // An answer that names a wait describes the header.
            for code in ["429", "503"] {
                if let Some(r) = responses.get(code) {
                    if resolve(&spec, r)["headers"]["Retry-After"]["required"] != true {
                        failures.push(format!("{method} {path} {code} without Retry-After"));
                    }
                }
            }
            if op["operationId"].as_str().is_none() {
                failures.push(format!(
                    "{method} {path} has no operationId (links need it)"
                ));
            }
        }
    }
    // Every schema of a request body refuses what it does not describe.
    for (name, schema) in spec["components"]["schemas"].as_object().unwrap() {
        if schema["type"] == "object" && schema["additionalProperties"] != false {
            failures.push(format!("schema {name} allows members it does not describe"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_logon_body_limit_fits_every_valid_logon() {
    let spec = spec();
    let max = |member: &str| {
        spec["components"]["schemas"]["LogonRequest"]["properties"][member]["maxLength"]
            .as_u64()
            .unwrap() as usize
    };
    // The worst a client may send: every character outside the BMP, escaped as a surrogate
    // pair (`\ud83e\udd80`, 12 bytes), plus the rest of the object.
    let worst = serde_json::to_string(&json!({"user": "", "password": ""}))
        .unwrap()
        .len()
        + 12 * (max("user") + max("password"));
    assert!(
        worst <= limits::LOGON_BODY_LIMIT,
        "a valid logon can take {worst} bytes, the limit is {}",
        limits::LOGON_BODY_LIMIT
    );
    let worst_session = serde_json::to_string(
        &json!({"definition_hash": "", "definition_name": "", "source_name": ""}),
    )
    .unwrap()
    .len()
        + 3 * 12 * limits::MAX_SESSION_TEXT;
    assert!(worst_session <= limits::SESSION_BODY_LIMIT);
    // Ids are at most 4 characters; each escaped as a surrogate pair is 12 bytes.
    let one_scope = serde_json::to_string(&json!({"customer": "", "media": ""}))
        .unwrap()
        .len()
        + 1
        + 2 * 4 * 12;
    let worst_versions = r#"{"scopes":[]}"#.len() + limits::MAX_SCOPES_PER_VERSIONS * one_scope;
    assert!(worst_versions <= limits::SCOPE_VERSIONS_BODY_LIMIT);
    // Barcodes are at most 10 characters.
    let worst_reconcile = serde_json::to_string(
        &json!({"repository": "", "media": "", "barcodes": [], "source": ""}),
    )
    .unwrap()
    .len()
        + 2 * 4 * 12
        + limits::MAX_RECONCILE_BARCODES * (3 + 10 * 12)
        + 12 * tapesync_store::SOURCE_MAX;
    assert!(worst_reconcile <= limits::RECONCILE_BODY_LIMIT);
    // The client splits its requests at the server's limit.
    assert_eq!(
        tapesync_runtime::target::http::MAX_SCOPES_PER_VERSIONS,
        limits::MAX_SCOPES_PER_VERSIONS
    );
}

// ---------------------------------------------------------------------------------------------
// What the server serves

/// A valid body for each documented request body, so the success path is exercised.
fn valid_body(path: &str, session: i64) -> Option<(&'static str, String)> {
    let json_body = |v: Value| Some(("application/json", v.to_string()));
    match path {
        "/api/v1/logon" => json_body(json!({"user": "root", "password": ADMIN_PASSWORD})),
        "/api/v1/customers/{customer}/media/{media}/volumes:apply" => json_body(json!({
            "idempotency_key": "openapi-1", "session": session, "create_missing": false,
            "changes": [{"volume": "V00001", "expected_version": 1, "set": {"SLOT": "7"}}]})),
        "/api/v1/batches" => json_body(json!({"batches": [{
            "customer": "ACME", "media": "LTO", "batch": {
                "idempotency_key": "openapi-group-1", "session": session, "create_missing": true,
                "changes": [{"volume": "V00002", "expected_version": null, "set": {"SLOT": "8"}}]}}]})),
        "/api/v1/customers/{customer}/moves:confirm" => {
            json_body(json!({"due": "2026-11-30", "barcodes": []}))
        }
        "/api/v1/customers/{customer}/reconciliations" => json_body(json!({
            "repository": "LIBR", "barcodes": ["V00001"], "source": "openapi"})),
        "/api/v1/scope-versions" => json_body(json!({
            "scopes": [{"customer": "ACME", "media": "LTO"}]})),
        "/api/v1/sync-sessions" => json_body(json!({
            "definition_hash": "00", "definition_name": "d", "source_name": "s"})),
        "/api/v1/sync-sessions/{id}/finish" => json_body(json!({
            "outcome": "completed",
            "statistics": tapesync_model::SyncStatistics { records_read: 1, ..Default::default() }})),
        "/reconciliations" => Some((
            "application/x-www-form-urlencoded",
            "customer=ACME&repository=LIBR&barcodes=V00001%0D%0A".to_string(),
        )),
        "/logon" => Some((
            "application/x-www-form-urlencoded",
            format!("user=root&password={}", ADMIN_PASSWORD.replace(' ', "+")),
        )),
        // V00001 has no pending move: a discrepancy, listed on the 200 page.
        "/moves/confirm" => Some((
            "application/x-www-form-urlencoded",
            "barcodes=V00001".to_string(),
        )),
        _ => None,
    }
}

/// A store at `dir` with the administrator `root` and the given other users and dump, and the
/// real server over it. The directory must outlive the server.
fn start_server(dir: &std::path::Path, users: &[(&str, &str)], dump: Option<Value>) -> Server {
    let store = dir.join("inv.db");
    admin(
        &store,
        &["user", "add", "root", "--admin"],
        Some(ADMIN_PASSWORD),
    );
    for (name, password) in users {
        admin(&store, &["user", "add", name], Some(password));
    }
    if let Some(dump) = dump {
        let path = dir.join("dump.json");
        std::fs::write(&path, dump.to_string()).unwrap();
        admin(&store, &["import", path.to_str().unwrap()], None);
    }
    Server::start(&store, 0)
}

#[test]
fn the_server_serves_every_documented_path() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(
        dir.path(),
        &[],
        Some(
            json!({"customers": [{"id": "ACME", "media": [{"id": "LTO"}], "repositories": [{"id": "LIBR"}]}],
               "volumes": [{"customer": "ACME", "media": "LTO", "volume": "V00001",
                            "fields": {"REPOSITORY": "LIBR"}}]}),
        ),
    );
    let base = server.url();
    let token = logon(&base, "root", ADMIN_PASSWORD);
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let session: i64 = client
        .post(format!("{base}/api/v1/sync-sessions"))
        .bearer_auth(&token)
        .json(&json!({"definition_hash": "00", "definition_name": "d", "source_name": "s"}))
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap()["id"]
        .as_i64()
        .unwrap();

    // A recorded reconciliation, for the path that reads one back.
    let reconciliation: i64 = client
        .post(format!("{base}/api/v1/customers/ACME/reconciliations"))
        .bearer_auth(&token)
        .json(&json!({"repository": "LIBR", "barcodes": ["V00001"], "source": "s"}))
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap()["summary"]["id"]
        .as_i64()
        .unwrap();

    let spec = spec();
    let paths = spec["paths"].as_object().expect("paths");
    let mut failures = Vec::new();
    let mut operations = 0;
    for (template, item) in paths {
        let url = format!(
            "{base}{}",
            template
                .replace("{customer}", "ACME")
                .replace("{media}", "LTO")
                .replace("{volume}", "V00001")
                .replace("{id}", &session.to_string())
                .replace("{reconciliation}", &reconciliation.to_string())
        );
        for (method, op) in item.as_object().expect("path item") {
            operations += 1;
            // Required query parameters get a real value.
            let query: Vec<String> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| resolve(&spec, p))
                .filter(|p| p["in"] == "query" && p["required"] == true)
                .map(|p| match p["name"].as_str() {
                    Some("volume") => "volume=V00001".to_string(),
                    Some("customer") => "customer=ACME".to_string(),
                    Some("due") => "due=2026-11-30".to_string(),
                    other => panic!("{template}: no test value for query parameter {other:?}"),
                })
                .collect();
            let url = if query.is_empty() {
                url.clone()
            } else {
                format!("{url}?{}", query.join("&"))
            };
            let documented: Vec<u16> = op["responses"]
                .as_object()
                .expect("responses")
                .keys()
                .filter_map(|k| k.parse().ok())
                .collect();
            let success = documented.iter().copied().filter(|s| *s < 400).min();
            let request = |body: Option<(&str, String)>| {
                let mut r = match method.as_str() {
                    "get" => client.get(&url),
                    "post" => client.post(&url),
                    other => panic!("{template}: method {other} not handled by this test"),
                };
                // The API's token; the web page takes it too (its cookie is tested in
                // web_page.rs), and the log-off ignores it, so the token stays valid.
                r = r.bearer_auth(&token);
                if let Some((content_type, text)) = body {
                    r = r.header("content-type", content_type).body(text);
                }
                r.send().expect("request").status().as_u16()
            };
            let status = request(valid_body(template, session));
            if Some(status) != success {
                failures.push(format!(
                    "{method} {template}: answered {status}, documented success {success:?}"
                ));
            }
            // A JSON endpoint given an empty object answers a documented 400 (proving the
            // route exists and validates; the router's fallback would be 404).
            if method == "post" && template.starts_with("/api/") {
                let status = request(Some(("application/json", "{}".into())));
                if status != 400 || !documented.contains(&400) {
                    failures.push(format!(
                        "{method} {template}: empty body answered {status}; documented {documented:?}"
                    ));
                }
            }
        }
    }
    assert!(operations >= 18, "only {operations} operations documented");
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // And the reverse for the API: an undocumented path is the router's JSON 404.
    let status = client
        .get(format!("{base}/api/v1/undocumented"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 404);
}

/// Sends a request head and the first `sent` bytes of a body that claims to be much longer,
/// then reads the answer: the server must answer without waiting for the rest (the read would
/// time out, failing the test, if it did).
fn answer_to_a_partial_body(base: &str, head: &str, sent: usize) -> (u16, Value) {
    use std::io::{Read, Write};
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    // The server may stop reading (and close) as soon as it has answered.
    let _ = stream.write_all(&vec![b'x'; sent]);
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    // Until the head and the announced body are in (the connection may stay open).
    loop {
        let n = stream
            .read(&mut buffer)
            .expect("the server answers before the body is complete");
        answer.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&answer).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= length || n == 0 {
                let status = head[9..12].parse().unwrap();
                return (
                    status,
                    serde_json::from_str(&body[..length]).unwrap_or(Value::Null),
                );
            }
        }
        assert!(n > 0, "connection closed without an answer");
    }
}

#[test]
fn large_bodies_are_refused_before_they_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), &[("nobody", "nobody's password")], None);
    let base = server.url();
    let admin_token = logon(&base, "root", ADMIN_PASSWORD);
    let nobody = logon(&base, "nobody", "nobody's password");
    let claimed = 60_000_000;

    // A logon, which anyone may send: 413 at once, from the announced length alone ...
    let (status, body) = answer_to_a_partial_body(
        &base,
        &format!("POST /api/v1/logon HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {claimed}\r\n\r\n"),
        8 * 1024,
    );
    assert_eq!(status, 413, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("16384 bytes"),
        "{body}"
    );
    // ... or after the limit when no length is announced (chunked).
    let (status, _) = answer_to_a_partial_body(
        &base,
        "POST /logon HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n8000\r\n",
        0x8000,
    );
    assert_eq!(status, 413);
    // The large limit of an apply is for callers who may write there: the body of anyone
    // else is never read ...
    let (status, body) = answer_to_a_partial_body(
        &base,
        &format!("POST /api/v1/customers/ACME/media/LTO/volumes:apply HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {nobody}\r\nContent-Type: application/json\r\nContent-Length: {claimed}\r\n\r\n"),
        8 * 1024,
    );
    assert_eq!((status, body["error"].as_str()), (404, Some("not found")));
    let (status, _) = answer_to_a_partial_body(
        &base,
        &format!("POST /api/v1/customers/ACME/media/LTO/volumes:apply HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {claimed}\r\n\r\n"),
        8 * 1024,
    );
    assert_eq!(status, 401);
    // ... and an administrator's over the limit is refused from its announced length.
    let (status, _) = answer_to_a_partial_body(
        &base,
        &format!("POST /api/v1/customers/ACME/media/LTO/volumes:apply HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {admin_token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", 65 * 1024 * 1024),
        8 * 1024,
    );
    assert_eq!(status, 413);
    // A group names its customers in the body: it is read only for a caller with a write
    // grant somewhere, and an administrator's over the limit is refused the same way.
    let (status, _) = answer_to_a_partial_body(
        &base,
        &format!("POST /api/v1/batches HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {nobody}\r\nContent-Type: application/json\r\nContent-Length: {claimed}\r\n\r\n"),
        8 * 1024,
    );
    assert_eq!(status, 403);
    let (status, _) = answer_to_a_partial_body(
        &base,
        &format!("POST /api/v1/batches HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {admin_token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", 65 * 1024 * 1024),
        8 * 1024,
    );
    assert_eq!(status, 413);
    // The server is still there for everyone else.
    logon(&base, "root", ADMIN_PASSWORD);
}

#[test]
fn an_oversized_request_head_gets_the_json_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), &[], None);
    let fields: String = (0..150).map(|i| format!("X-Field-{i}: v\r\n")).collect();
    let (status, body) = answer_to_a_partial_body(
        &server.url(),
        &format!("GET /healthz HTTP/1.1\r\nHost: t\r\n{fields}\r\n"),
        0,
    );
    assert_eq!(status, 431);
    assert!(
        body["error"].as_str().unwrap().contains("header fields"),
        "{body}"
    );
    let (status, body) = answer_to_a_partial_body(
        &server.url(),
        &format!(
            "GET /api/v1/customers HTTP/1.1\r\nHost: t\r\nCookie: {}\r\n\r\n",
            "c".repeat(40_000)
        ),
        0,
    );
    assert_eq!(status, 431);
    assert!(body["error"].is_string(), "{body}");
}
