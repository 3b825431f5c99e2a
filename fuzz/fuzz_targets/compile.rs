//! Arbitrary bytes (lossy UTF-8) through lex → parse → compile with an in-memory loader whose
//! files include each other and hold malformed list entries; any panic is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapesync_compiler::{compile_source, render_human, render_json, CompileOptions, MemoryLoader};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = tapesync_grammar::parse(&text);
    let loader = MemoryLoader::new()
        .with_file(
            "a.inc",
            "Include(\"main.ttidef\");\nSetLiteral(MEDIA, \"LTO\");\n",
        )
        .with_file("l.txt", "CLN*\n[bad\n(A|B)\n")
        .with_file("main.ttidef", text.as_ref())
        .with_env("HOME", "/root");
    let compat = data.first().is_some_and(|b| b & 1 == 1);
    let c = compile_source("main.ttidef", &text, &loader, &CompileOptions { compat });
    let _ = render_json(&c);
    let _ = render_human(&c, false);
    assert_eq!(c.plan.is_some(), !c.has_errors());
});
