//! A bounded, deterministic fuzz run that CI can afford: mutated real definitions and token
//! soup go through lex → parse → compile (with an in-memory loader, includes and lists
//! included); the test fails on any panic. The unbounded fuzzer is `fuzz/` (cargo-fuzz).

use tapesync_compiler::{
    compile_source, render_human, render_json, render_short, CompileOptions, MemoryLoader,
};

const SEEDS: &[&str] = &[
    "SetFile(\"Inventory.csv\");\nSetCSVDelimiter(\",\");\nSetLiteral(CUSTOMER, \"US01\");\nSetLiteral(MEDIA, \"LTO\");\nExtract(VOLUME, 1, 25, 0);\nRemoveSpaces(VOLUME);\nExtract(REPOSITORY, 2, 20, 0);\n",
    "AddString(HEADER, 0, \"1*\");\nSetHeaderCount(7);\nAddString(EXCLUSION, 0, \"!([0-9]*\");\nAddString(TERMINATE, 0, \"   *\");\nExtract(REPOSITORY, 70, 4, 3);\n",
    "AddTranslation(VOLUME, \"A*\", \"^^^~~~~~~L4\");\nAddTranslation2(VOLUME, USER1, \"HCART3\", \"*L3\");\nAddSkipOnRepositoryChange(\"HOLD\", \"LIBR\", \"*(OFFS|LEGL|DEST)\");\n",
    "Extract(WRITEDATE, 10, 20, 0);\nSetWriteDateFormat(\"%%H:%%M:%%S %%d/%%m/%%Y\");\nAddRepositoryOnWriteTime(DESCRIPTION, \"*YEARLY*\", \"0:0:1\", \"OFFS\", \"0:1:1\");\nAddMoveDateAdjustment(DESCRIPTION, \"*YEARLY*\"; 7, 0, 0);\n",
    "Include(\"a.inc\");\nSetVariable(X, \"%HOME%\");\nSetWhitespaceDelimited(3);\nSetKeyValueFormat(\":\");\nExtractKey(VOLUME, \"Media ID\", 10);\nAddExclusionOnValue(VOLUME, \"*LIST:l.txt\");\n# c\nSetLiteral(CUSTOMER, “US01”);\n",
];

const SOUP: &[&str] = &[
    "SetLiteral",
    "Extract",
    "AddString",
    "Include",
    "SetVariable",
    "AddTranslation",
    "VOLUME",
    "MOVEDATE",
    "(",
    ")",
    ",",
    ";",
    ";",
    "\n",
    " ",
    "\"",
    "“",
    "”",
    "'",
    "#",
    "-1",
    "0",
    "99999999999999999999",
    "\"*\"",
    "\"[a-\"",
    "\"(A|\"",
    "\"!(\"",
    "\"%%d\"",
    "\"%X%\"",
    "\"%\"",
    "é",
    "𝄞",
    "\u{0}",
    "\r\n",
    "\"*LIST:\"",
    "\"*REG:x\"",
    "\"0:1:2:3\"",
    "\"12h\"",
    "HEADER",
    "NONE",
];

/// xorshift64*: small, seeded, good enough to explore.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, seed: &str) -> String {
    let mut bytes = seed.as_bytes().to_vec();
    for _ in 0..=rng.below(6) {
        if bytes.is_empty() {
            break;
        }
        let at = rng.below(bytes.len());
        match rng.below(4) {
            0 => {
                bytes.remove(at);
            }
            1 => bytes.insert(at, b"(),;\"%*[]!|#\n-0a"[rng.below(16)]),
            2 => {
                let token = SOUP[rng.below(SOUP.len())].as_bytes();
                bytes.splice(at..at, token.iter().copied());
            }
            _ => {
                let end = (at + rng.below(8)).min(bytes.len());
                let chunk: Vec<u8> = bytes[at..end].to_vec();
                bytes.splice(at..at, chunk);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn soup(rng: &mut Rng) -> String {
    (0..rng.below(40))
        .map(|_| SOUP[rng.below(SOUP.len())])
        .collect()
}

#[test]
fn compiler_never_panics() {
    let loader = MemoryLoader::new()
        .with_file(
            "a.inc",
            "Include(\"b.inc\");\nSetLiteral(MEDIA, \"LTO\");\n",
        )
        .with_file("b.inc", "Include(\"a.inc\");\n")
        .with_file("l.txt", "CLN*\n[bad\n")
        .with_env("HOME", "/home/x");
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for i in 0..3000 {
        let text = if i % 3 == 0 {
            soup(&mut rng)
        } else {
            let seed = SEEDS[rng.below(SEEDS.len())];
            mutate(&mut rng, seed)
        };
        let compat = i % 2 == 0;
        let c = compile_source("main.ttidef", &text, &loader, &CompileOptions { compat });
        // Renderers must cope with every span the compiler produces.
        let _ = render_short(&c);
        let _ = render_json(&c);
        if i % 10 == 0 {
            let _ = render_human(&c, false);
        }
        assert_eq!(c.plan.is_some(), !c.has_errors(), "{text:?}");
    }
}
