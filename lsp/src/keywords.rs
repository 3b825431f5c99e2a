//! The bare-word keywords of the language and what each one means, for hovers and
//! completion. The compiler's catalogue says *where* a keyword is allowed (a parameter's
//! `Keyword { values }`); this says what it does.

/// `(keyword, meaning)`, in the order editors list them.
pub const KEYWORDS: &[(&str, &str)] = &[
    (
        "HEADER",
        "`AddString` type: a record matching the filter is the first record of a header section \
         (`SetHeaderCount` records long); `Extract(…, record > 0)` reads from it.",
    ),
    (
        "EXCLUSION",
        "`AddString` type: a record matching the filter is skipped.",
    ),
    (
        "START",
        "`AddString` type: processing begins at a record matching the filter (without any \
         START, at the first record); also resumes after an END.",
    ),
    (
        "END",
        "`AddString` type: processing pauses at a record matching the filter until the next \
         START record.",
    ),
    (
        "TERMINATE",
        "`AddString` type: processing stops for good at a record matching the filter.",
    ),
    (
        "NONE",
        "`SetCSVQuote(NONE)`: delimited input has no quote character; quotes are ordinary \
         characters.",
    ),
    (
        "TRUE",
        "A yes/no value (YES, NO, TRUE, FALSE; also Y, N, 1, 0) for fields such as SCRATCH \
         and ENCRYPTED; stored as `true`.",
    ),
    (
        "FALSE",
        "A yes/no value (YES, NO, TRUE, FALSE; also Y, N, 1, 0) for fields such as SCRATCH \
         and ENCRYPTED; stored as `false`.",
    ),
    (
        "YES",
        "A yes/no value (YES, NO, TRUE, FALSE; also Y, N, 1, 0) for fields such as SCRATCH \
         and ENCRYPTED; stored as `true`.",
    ),
    (
        "NO",
        "A yes/no value (YES, NO, TRUE, FALSE; also Y, N, 1, 0) for fields such as SCRATCH \
         and ENCRYPTED; stored as `false`.",
    ),
];

/// The meaning of a keyword (case-insensitive).
pub fn meaning(word: &str) -> Option<&'static str> {
    KEYWORDS
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(word))
        .map(|(_, m)| *m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_found_case_insensitively() {
        assert!(meaning("header").is_some_and(|m| m.contains("header section")));
        assert!(meaning("VOLUME").is_none());
    }
}
