//! The server as a process speaking LSP over its standard input/output: a hand-framed
//! session, and a real editor (neovim's built-in client) when nvim is installed.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

const SERVER: &str = env!("CARGO_BIN_EXE_tapesync-lsp");

fn frame(message: &Value) -> Vec<u8> {
    let body = message.to_string();
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some(n) = header.strip_prefix("Content-Length: ") {
            length = n.parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

#[test]
fn a_stdio_session_publishes_diagnostics_and_exits_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let uri = lsp_types::Url::from_file_path(dir.path().join("a.ttidef")).expect("uri");
    let mut child = Command::new(SERVER)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut send = |m: Value| stdin.write_all(&frame(&m)).and_then(|()| stdin.flush());

    send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}),
    )
    .expect("send");
    let init = read_message(&mut stdout).expect("initialize answer");
    assert_eq!(init["result"]["serverInfo"]["name"], "tapesync");
    send(json!({"jsonrpc": "2.0", "method": "initialized", "params": {}})).expect("send");
    send(json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": uri, "languageId": "ttidef", "version": 1, "text": "# é\n  SetLitteral(MEDIA, \"LTO\");\n"}}}))
    .expect("send");
    let published = read_message(&mut stdout).expect("diagnostics");
    assert_eq!(published["method"], "textDocument/publishDiagnostics");
    let first = published["params"]["diagnostics"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["code"] == "E0009"))
        .cloned()
        .unwrap_or_else(|| panic!("E0009 expected: {published}"));
    assert_eq!(first["range"]["start"], json!({"line": 1, "character": 2}));

    send(json!({"jsonrpc": "2.0", "id": 2, "method": "shutdown"})).expect("send");
    let answer = read_message(&mut stdout).expect("shutdown answer");
    assert_eq!(answer["id"], 2);
    send(json!({"jsonrpc": "2.0", "method": "exit"})).expect("send");
    let status = child.wait().expect("server exits");
    assert!(status.success(), "{status:?}");
}

/// neovim's LSP client against the server binary (editors/nvim/smoke.lua). Skipped, loudly,
/// when nvim is not installed.
#[test]
fn neovim_receives_diagnostics() {
    if Command::new("nvim").arg("--version").output().is_err() {
        eprintln!(
            "SKIPPED: neovim_receives_diagnostics (nvim is not installed; apt-get install neovim)"
        );
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("broken.ttidef");
    std::fs::write(
        &file,
        "# Référence “test”\nSetLiteral(CUSTOMER, \"US01\");\nSetLiteral(MEDIA, \"LTO\");\nExtract(VOLUME, 0, 6, 0);\nSetLiteral(DESCRIPTION, \"𝄞é\"); Frobnicate(1);\n",
    )
    .expect("write definition");
    let out = dir.path().join("out.txt");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../editors/nvim/smoke.lua");
    let status = Command::new("nvim")
        .args(["--headless", "-u", "NONE", "-i", "NONE", "-n", "-c"])
        .arg(format!("luafile {}", script.display()))
        .env("TAPESYNC_LSP_CMD", SERVER)
        .env("SMOKE_FILE", &file)
        .env("SMOKE_OUT", &out)
        .stdin(Stdio::null())
        .output()
        .expect("run nvim");
    let printed = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(
        status.status.success(),
        "nvim failed: {printed}\n{}",
        String::from_utf8_lossy(&status.stderr)
    );
    // Byte column 36: neovim converted the server's UTF-16 column 32 on a line with 𝄞 and é.
    assert!(
        printed.contains("diagnostic broken.ttidef:5:36-46 error[E0009] \"Frobnicate\""),
        "{printed}"
    );
    assert!(
        printed.contains("hover line 2: SetLiteral(field, value);"),
        "{printed}"
    );
}
