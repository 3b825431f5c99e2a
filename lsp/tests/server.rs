//! Drives the language server in-process over `lsp_server::Connection::memory()`, the way an
//! editor would: initialize, open/change/close documents, ask for hovers, completions,
//! definitions and quick fixes.

use lsp_server::{Connection, Message, Notification, Request, RequestId, Response};
use lsp_types::{PublishDiagnosticsParams, Url};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tapesync_lsp::{serve, ServerError, ServerOptions};

const WAIT: Duration = Duration::from_secs(20);

struct Client {
    conn: Connection,
    server: Option<JoinHandle<Result<(), ServerError>>>,
    next_id: i32,
    /// Notifications that arrived while waiting for something else.
    queued: VecDeque<Notification>,
}

impl Client {
    fn start(debounce: Duration) -> Client {
        let (server_side, client_side) = Connection::memory();
        let server = std::thread::spawn(move || serve(&server_side, ServerOptions { debounce }));
        let mut client = Client {
            conn: client_side,
            server: Some(server),
            next_id: 0,
            queued: VecDeque::new(),
        };
        let init = client.request(
            "initialize",
            json!({
                "processId": null,
                "rootUri": null,
                "capabilities": {},
                "initializationOptions": { "docsBaseUrl": "https://docs.example.org/tapesync" },
            }),
        );
        assert_eq!(init["capabilities"]["positionEncoding"], "utf-16");
        assert_eq!(init["capabilities"]["hoverProvider"], true);
        client.notify("initialized", json!({}));
        client
    }

    fn notify(&self, method: &str, params: Value) {
        self.conn
            .sender
            .send(Notification::new(method.to_string(), params).into())
            .expect("server alive");
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = RequestId::from(self.next_id);
        self.conn
            .sender
            .send(Request::new(id.clone(), method.to_string(), params).into())
            .expect("server alive");
        let deadline = Instant::now() + WAIT;
        loop {
            match self.conn.receiver.recv_deadline(deadline) {
                Ok(Message::Response(Response {
                    id: rid,
                    result,
                    error,
                })) if rid == id => {
                    assert!(error.is_none(), "{method} failed: {error:?}");
                    return result.unwrap_or(Value::Null);
                }
                Ok(Message::Notification(n)) => self.queued.push_back(n),
                Ok(other) => panic!("unexpected message {other:?}"),
                Err(e) => panic!("no answer to {method}: {e}"),
            }
        }
    }

    /// The next `publishDiagnostics` for `uri`.
    fn diagnostics(&mut self, uri: &Url) -> PublishDiagnosticsParams {
        let matches = |n: &Notification| {
            n.method == "textDocument/publishDiagnostics" && n.params["uri"] == uri.as_str()
        };
        if let Some(i) = self.queued.iter().position(matches) {
            let n = self.queued.remove(i).expect("queued");
            return serde_json::from_value(n.params).expect("publishDiagnostics params");
        }
        let deadline = Instant::now() + WAIT;
        loop {
            match self.conn.receiver.recv_deadline(deadline) {
                Ok(Message::Notification(n)) if matches(&n) => {
                    return serde_json::from_value(n.params).expect("publishDiagnostics params")
                }
                Ok(Message::Notification(n)) => self.queued.push_back(n),
                Ok(other) => panic!("unexpected message {other:?}"),
                Err(e) => panic!("no diagnostics for {uri}: {e}"),
            }
        }
    }

    fn open(&self, uri: &Url, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "ttidef", "version": 1, "text": text } }),
        );
    }

    fn change(&self, uri: &Url, version: i32, changes: Value) {
        self.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": changes }),
        );
    }

    fn at(&mut self, method: &str, uri: &Url, line: u32, character: u32) -> Value {
        self.request(
            method,
            json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": character } }),
        )
    }

    fn shutdown(mut self) {
        let answer = self.request("shutdown", Value::Null);
        assert_eq!(answer, Value::Null);
        self.notify("exit", Value::Null);
        let server = self.server.take().expect("running");
        server
            .join()
            .expect("server thread did not panic")
            .expect("clean exit");
    }
}

fn uri(path: &Path) -> Url {
    Url::from_file_path(path).expect("absolute path")
}

/// A definition that compiles clean, with non-ASCII text before the interesting column.
const CLEAN: &str = "# Référence “test” — café\n\
SetLiteral(CUSTOMER, \"US01\");\n\
SetLiteral(MEDIA, \"LTO\");\n\
Extract(VOLUME, 0, 6, 0);\n\
SetLiteral(DESCRIPTION, \"𝄞é\"); RemoveSpaces(VOLUME);\n";

#[test]
fn diagnostics_on_open_change_and_close() {
    let dir = tempfile::tempdir().expect("temp dir");
    let doc = uri(&dir.path().join("main.ttidef"));
    let mut client = Client::start(Duration::from_millis(50));

    client.open(&doc, CLEAN);
    let clean = client.diagnostics(&doc);
    assert!(clean.diagnostics.is_empty(), "{:#?}", clean.diagnostics);

    // Break line 4: `Frobnicate` where `RemoveSpaces` stood. Bytes before it on that line:
    // 35; characters: 31; UTF-16 units: 32 (𝄞 is a surrogate pair).
    let line = CLEAN.lines().nth(4).expect("line 4");
    let col = line[..line.find("RemoveSpaces").expect("statement")]
        .encode_utf16()
        .count() as u32;
    assert_eq!(col, 32);
    client.change(
        &doc,
        2,
        json!([{ "range": { "start": { "line": 4, "character": col }, "end": { "line": 4, "character": col + 12 } }, "text": "Frobnicate" }]),
    );
    let broken = client.diagnostics(&doc);
    assert_eq!(broken.version, Some(2));
    let d = broken
        .diagnostics
        .iter()
        .find(|d| d.code == Some(lsp_types::NumberOrString::String("E0009".into())))
        .unwrap_or_else(|| panic!("E0009 expected: {:#?}", broken.diagnostics));
    assert_eq!(d.range.start, lsp_types::Position::new(4, 32));
    assert_eq!(d.range.end, lsp_types::Position::new(4, 42));
    assert_eq!(d.severity, Some(lsp_types::DiagnosticSeverity::ERROR));
    assert!(d.message.contains("Frobnicate"), "{}", d.message);
    let href = d
        .code_description
        .as_ref()
        .expect("code description")
        .href
        .as_str();
    assert_eq!(
        href,
        "https://docs.example.org/tapesync/docs/diagnostics/E0009.md"
    );

    // Fix it with a whole-document change.
    client.change(&doc, 3, json!([{ "text": CLEAN }]));
    let fixed = client.diagnostics(&doc);
    assert_eq!(fixed.version, Some(3));
    assert!(fixed.diagnostics.is_empty(), "{:#?}", fixed.diagnostics);

    // Break it again and close: the diagnostics are cleared.
    client.change(
        &doc,
        4,
        json!([{ "text": "SetLitteral(CUSTOMER, \"US01\");\n" }]),
    );
    assert!(!client.diagnostics(&doc).diagnostics.is_empty());
    client.notify(
        "textDocument/didClose",
        json!({ "textDocument": { "uri": doc } }),
    );
    let closed = client.diagnostics(&doc);
    assert!(closed.diagnostics.is_empty());
    assert_eq!(closed.version, None);
    client.shutdown();
}

#[test]
fn a_burst_of_changes_is_checked_once_on_the_latest_text() {
    let dir = tempfile::tempdir().expect("temp dir");
    let doc = uri(&dir.path().join("burst.ttidef"));
    // Long enough that a busy machine cannot split the burst.
    let mut client = Client::start(Duration::from_millis(1000));
    client.open(&doc, CLEAN);
    assert!(client.diagnostics(&doc).diagnostics.is_empty());
    for version in 2..=6 {
        let text = format!("{CLEAN}Frob{version}(1);\n");
        client.change(&doc, version, json!([{ "text": text }]));
    }
    let published = client.diagnostics(&doc);
    assert_eq!(published.version, Some(6), "only the last text is checked");
    assert_eq!(
        published.diagnostics.len(),
        1,
        "{:#?}",
        published.diagnostics
    );
    assert!(published.diagnostics[0].message.contains("Frob6"));
    // Nothing else was published for the intermediate versions.
    let hover = client.at("textDocument/hover", &doc, 1, 2);
    assert!(hover.is_object());
    assert!(
        !client
            .queued
            .iter()
            .any(|n| n.method == "textDocument/publishDiagnostics"),
        "{:?}",
        client.queued
    );
    client.shutdown();
}

#[test]
fn hover_on_directive_field_and_keyword() {
    let dir = tempfile::tempdir().expect("temp dir");
    let doc = uri(&dir.path().join("hover.ttidef"));
    let mut client = Client::start(Duration::from_millis(20));
    client.open(
        &doc,
        &format!("{CLEAN}AddString(HEADER, 0, \"Volume*\");\n"),
    );

    let directive = client.at("textDocument/hover", &doc, 3, 3);
    let text = directive["contents"]["value"].as_str().expect("markdown");
    assert!(
        text.contains("Extract(field, offset, length, record)"),
        "{text}"
    );
    assert!(text.contains("rtfm.tapetrack.com"), "{text}");
    assert_eq!(
        directive["range"]["start"],
        json!({ "line": 3, "character": 0 })
    );
    assert_eq!(
        directive["range"]["end"],
        json!({ "line": 3, "character": 7 })
    );

    let field = client.at("textDocument/hover", &doc, 3, 10);
    let text = field["contents"]["value"].as_str().expect("markdown");
    assert!(
        text.contains("**VOLUME**") && text.contains("maximum length: 10"),
        "{text}"
    );

    // DESCRIPTION on the line with 𝄞 — the column is in UTF-16 units.
    let field = client.at("textDocument/hover", &doc, 4, 14);
    let text = field["contents"]["value"].as_str().expect("markdown");
    assert!(
        text.contains("**DESCRIPTION**") && text.contains("256"),
        "{text}"
    );

    let keyword = client.at("textDocument/hover", &doc, 5, 12);
    let text = keyword["contents"]["value"].as_str().expect("markdown");
    assert!(text.contains("header section"), "{text}");

    // Nothing to say inside a comment.
    assert_eq!(client.at("textDocument/hover", &doc, 0, 5), Value::Null);
    client.shutdown();
}

/// The directives of records of several lines and of value parts (extensions) are hovered
/// and completed from the catalogue like any other.
#[test]
fn hover_and_completion_of_record_grouping() {
    let dir = tempfile::tempdir().expect("temp dir");
    let doc = uri(&dir.path().join("lines.ttidef"));
    let mut client = Client::start(Duration::from_millis(20));
    client.open(
        &doc,
        "SetRecordLines(3);\nExtractLine(VOLUME, 1, 0, 8);\nSetRecord\nExtractLine(",
    );
    let hover = client.at("textDocument/hover", &doc, 1, 4);
    let text = hover["contents"]["value"].as_str().expect("markdown");
    assert!(
        text.contains("ExtractLine(field, line, offset, length)") && text.contains("extension"),
        "{text}"
    );
    let hover = client.at("textDocument/hover", &doc, 0, 4);
    let text = hover["contents"]["value"].as_str().expect("markdown");
    assert!(text.contains("cut short"), "{text}");
    let names = labels(&client.at("textDocument/completion", &doc, 2, 9));
    for name in [
        "SetRecordLines",
        "SetRecordIndent",
        "SetRecordStart",
        "ExtractLine",
        "SetSubstring",
        "SetValueTemplate",
    ] {
        assert!(names.contains(&name.to_string()), "{name}: {names:?}");
    }
    let fields = labels(&client.at("textDocument/completion", &doc, 3, 12));
    assert!(fields.contains(&"VOLUME".to_string()), "{fields:?}");
    client.shutdown();
}

fn labels(items: &Value) -> Vec<String> {
    items
        .as_array()
        .expect("completion list")
        .iter()
        .filter_map(|i| i["label"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn completion_by_position() {
    let dir = tempfile::tempdir().expect("temp dir");
    let doc = uri(&dir.path().join("complete.ttidef"));
    let mut client = Client::start(Duration::from_millis(20));
    client.open(
        &doc,
        "SetLiteral(CUSTOMER, \"US01\");\nExt\nExtract(\nAddString(",
    );

    let start = client.at("textDocument/completion", &doc, 1, 3);
    let names = labels(&start);
    assert!(names.contains(&"Extract".to_string()), "{names:?}");
    assert!(
        names.contains(&"SetWhitespaceDelimited".to_string()),
        "{names:?}"
    );
    let extract = start
        .as_array()
        .and_then(|a| a.iter().find(|i| i["label"] == "Extract"))
        .expect("Extract item");
    assert_eq!(extract["insertTextFormat"], 2, "a snippet");
    assert_eq!(extract["detail"], "Extract(field, offset, length, record)");

    let fields = labels(&client.at("textDocument/completion", &doc, 2, 8));
    assert!(
        fields.contains(&"VOLUME".to_string()) && fields.contains(&"USER1".to_string()),
        "{fields:?}"
    );
    assert!(!fields.contains(&"Extract".to_string()));

    let keywords = labels(&client.at("textDocument/completion", &doc, 3, 10));
    assert_eq!(
        keywords,
        ["HEADER", "EXCLUSION", "START", "END", "TERMINATE"]
    );
    client.shutdown();
}

#[test]
fn definition_of_includes_and_variables() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("common")).expect("mkdir");
    let base = dir.path().join("common").join("base.ttidef");
    std::fs::write(
        &base,
        "# shared\nSetVariable(POOL, \"P1\");\nSetLiteral(CUSTOMER, \"US01\");\n",
    )
    .expect("write base");
    let doc = uri(&dir.path().join("main.ttidef"));
    let text = "Include(\"common/base.ttidef\");\n\
SetVariable(SITE, \"LON\");\n\
SetLiteral(MEDIA, \"LTO\");\n\
Extract(VOLUME, 0, 6, 0);\n\
AddExclusionOnValue(VOLUME, \"%SITE%-%POOL%\");\n";
    let mut client = Client::start(Duration::from_millis(20));
    client.open(&doc, text);
    let published = client.diagnostics(&doc);
    assert!(
        published.diagnostics.is_empty(),
        "{:#?}",
        published.diagnostics
    );

    let include = client.at("textDocument/definition", &doc, 0, 12);
    assert_eq!(include["uri"], uri(&base).as_str());
    assert_eq!(
        include["range"]["start"],
        json!({ "line": 0, "character": 0 })
    );

    let local = client.at("textDocument/definition", &doc, 4, 31);
    assert_eq!(local["uri"], doc.as_str());
    assert_eq!(
        local["range"],
        json!({ "start": { "line": 1, "character": 12 }, "end": { "line": 1, "character": 16 } })
    );

    let remote = client.at("textDocument/definition", &doc, 4, 37);
    assert_eq!(remote["uri"], uri(&base).as_str());
    assert_eq!(
        remote["range"]["start"],
        json!({ "line": 1, "character": 12 })
    );

    // An unsaved, broken edit of the included file is what the main file sees; the problem
    // is shown at the include.
    let base_uri = uri(&base);
    client.open(
        &base_uri,
        "SetVariable(POOL, \"P1\");\nSetLiteral(CUSTOMER, \"US01\")\n",
    );
    let _ = client.diagnostics(&base_uri);
    let via_include = client.diagnostics(&doc);
    let d = via_include
        .diagnostics
        .first()
        .expect("problem via include");
    assert!(d.message.contains("in included file"), "{}", d.message);
    assert_eq!(d.range.start, lsp_types::Position::new(0, 8));
    let related = d.related_information.as_ref().expect("related information");
    assert_eq!(related[0].location.uri, base_uri);
    assert_eq!(related[0].location.range.start.line, 1);
    // Closing it falls back to the (clean) file on disk.
    client.notify(
        "textDocument/didClose",
        json!({ "textDocument": { "uri": base_uri } }),
    );
    assert!(client.diagnostics(&base_uri).diagnostics.is_empty());
    assert!(client.diagnostics(&doc).diagnostics.is_empty());
    client.shutdown();
}

#[test]
fn quick_fixes_from_diagnostic_fixes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let doc = uri(&dir.path().join("fix.ttidef"));
    let mut client = Client::start(Duration::from_millis(20));
    let text = format!("{CLEAN}AddMoveDateAdjustment(DESCRIPTION, \"*YEARLY*\"; 7, 0, 0);\n");
    client.open(&doc, &text);
    let published = client.diagnostics(&doc);
    let d = published
        .diagnostics
        .iter()
        .find(|d| d.code == Some(lsp_types::NumberOrString::String("E0005".into())))
        .unwrap_or_else(|| panic!("E0005 expected: {:#?}", published.diagnostics));
    let actions = client.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": doc }, "range": d.range, "context": { "diagnostics": [d] } }),
    );
    let action = &actions[0];
    assert_eq!(action["kind"], "quickfix");
    let edits = &action["edit"]["changes"][doc.as_str()];
    assert_eq!(edits[0]["newText"], ",");
    assert_eq!(
        edits[0]["range"],
        serde_json::to_value(d.range).expect("range")
    );

    // Typographic quotes, after a line with non-ASCII text: the edit range is in UTF-16 too.
    client.change(
        &doc,
        2,
        json!([{ "text": format!("{CLEAN}AddExclusionOnValue(VOLUME, “CLN*”);\n") }]),
    );
    let published = client.diagnostics(&doc);
    let d = published
        .diagnostics
        .iter()
        .find(|d| d.code == Some(lsp_types::NumberOrString::String("E0006".into())))
        .unwrap_or_else(|| panic!("E0006 expected: {:#?}", published.diagnostics));
    assert_eq!(d.severity, Some(lsp_types::DiagnosticSeverity::WARNING));
    let actions = client.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": doc }, "range": { "start": d.range.start, "end": d.range.start }, "context": { "diagnostics": [] } }),
    );
    let edit = &actions[0]["edit"]["changes"][doc.as_str()][0];
    assert_eq!(edit["newText"], "\"CLN*\"");
    assert_eq!(
        edit["range"],
        json!({ "start": { "line": 5, "character": 28 }, "end": { "line": 5, "character": 34 } })
    );
    assert_eq!(actions[0]["title"], "Use straight double quotes");
    client.shutdown();
}

#[test]
fn half_typed_and_garbage_documents_do_not_crash_the_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let doc = uri(&dir.path().join("garbage.ttidef"));
    let mut client = Client::start(Duration::from_millis(5));
    let samples = [
        "Extract(VOL",
        "SetFile(\"abc\nInclude(\"",
        "AddTranslation(VOLUME, “*L3, \"x\"; ;;; ))((\n%%%\u{0}\u{feff}𝄞",
        "Include(\"%UNDEFINED%/x.ttidef\");\nSetVariable(, );\nSetVariable(A, \"%A%\");",
        "'''\"\"\"“”“”#\n\r\n\t(,);Extract(0, -99999999999999999999999, 1, 1);",
        "Include(\"garbage.ttidef\");",
    ];
    for (n, text) in samples.iter().enumerate() {
        let version = i32::try_from(n).expect("few samples") + 1;
        if n == 0 {
            client.open(&doc, text);
        } else {
            client.change(&doc, version, json!([{ "text": text }]));
        }
        let _ = client.diagnostics(&doc);
        // Ask everything at every position, including past the end of lines and the text.
        let lines = u32::try_from(text.lines().count()).expect("few lines") + 1;
        for line in 0..lines {
            for character in 0..40 {
                for method in [
                    "textDocument/hover",
                    "textDocument/completion",
                    "textDocument/definition",
                ] {
                    let _ = client.at(method, &doc, line, character);
                }
            }
        }
    }
    let actions = client.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": doc }, "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 99, "character": 0 } }, "context": { "diagnostics": [] } }),
    );
    assert!(actions.is_array());
    // Requests about documents that are not open answer null.
    let other = uri(&dir.path().join("never-opened.ttidef"));
    assert_eq!(client.at("textDocument/hover", &other, 0, 0), Value::Null);
    client.shutdown();
}
