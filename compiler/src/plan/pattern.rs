//! Filter patterns, compiled (`compile::arguments::pattern` builds them) and matched.

use serde::{Deserialize, Serialize};

/// A compiled filter string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pattern {
    /// The filter as written (after variable expansion), for messages and `explain`.
    pub source: String,
    /// A leading `!` negates the whole filter.
    pub negated: bool,
    pub body: PatternBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PatternBody {
    /// A sequence of pattern tokens matched against the whole value.
    Glob { tokens: Vec<PatternToken> },
    /// `*LIST:file`: the value matches when any pattern of the file matches.
    List {
        path: String,
        patterns: Vec<Pattern>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", content = "v", rename_all = "snake_case")]
pub enum PatternToken {
    /// Literal text (compared ASCII case-insensitively).
    Text(String),
    /// `*`: any run of characters, possibly empty.
    AnyRun,
    /// `?`: exactly one character.
    AnyOne,
    /// `[...]`: one character in (or, negated, not in) the ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// `(A|B|C)`: one of several alternatives, each a token sequence.
    Group(Vec<Vec<PatternToken>>),
}

impl Pattern {
    /// Whether `value` matches, ASCII case-insensitively and anchored at both ends.
    ///
    /// Runs per record and per rule, so it works on the text in place: no allocation, and
    /// the common shapes (`TEXT`, `TEXT*`, `*TEXT`, `*`) cost one comparison each.
    pub fn matches(&self, value: &str) -> bool {
        let hit = match &self.body {
            PatternBody::Glob { tokens } => match_seq(tokens, value, None),
            PatternBody::List { patterns, .. } => patterns.iter().any(|p| p.matches(value)),
        };
        hit != self.negated
    }

    /// A pattern that matches exactly `text` (case-insensitively).
    pub fn exact(text: &str) -> Pattern {
        Pattern {
            source: text.to_string(),
            negated: false,
            body: PatternBody::Glob {
                tokens: vec![PatternToken::Text(text.to_string())],
            },
        }
    }
}

/// What is still to be matched after a group: the tokens following it, then the enclosing
/// continuation (a linked list on the stack, so nested groups allocate nothing).
struct Continuation<'a> {
    tokens: &'a [PatternToken],
    next: Option<&'a Continuation<'a>>,
}

/// `s` without the prefix `text` (compared ASCII case-insensitively), if it starts with it.
///
/// Comparing bytes is comparing characters here: ASCII bytes only ever equal ASCII bytes
/// (case folding stays within ASCII) and the bytes of other characters must be identical, so a
/// byte-wise match covers whole characters of both strings.
fn strip_prefix_ci<'s>(s: &'s str, text: &str) -> Option<&'s str> {
    let head = s.as_bytes().get(..text.len())?;
    if head.eq_ignore_ascii_case(text.as_bytes()) {
        s.get(text.len()..)
    } else {
        None
    }
}

/// Whether `s` ends with `text`, ASCII case-insensitively (see [`strip_prefix_ci`]).
fn ends_with_ci(s: &str, text: &str) -> bool {
    s.len() >= text.len()
        && s.as_bytes()[s.len() - text.len()..].eq_ignore_ascii_case(text.as_bytes())
}

/// Matches `tokens` followed by the continuation `rest` against all of `s`.
fn match_seq(tokens: &[PatternToken], s: &str, rest: Option<&Continuation<'_>>) -> bool {
    let Some((first, tail)) = tokens.split_first() else {
        return match rest {
            Some(next) => match_seq(next.tokens, s, next.next),
            None => s.is_empty(),
        };
    };
    match first {
        PatternToken::Text(text) => {
            strip_prefix_ci(s, text).is_some_and(|after| match_seq(tail, after, rest))
        }
        PatternToken::AnyOne => {
            let mut chars = s.chars();
            chars.next().is_some() && match_seq(tail, chars.as_str(), rest)
        }
        PatternToken::AnyRun => match (tail, rest) {
            // `**` is `*`: trying every split point twice over would be quadratic.
            ([PatternToken::AnyRun, ..], _) => match_seq(tail, s, rest),
            ([], None) => true,
            ([PatternToken::Text(text)], None) => ends_with_ci(s, text),
            _ => {
                let mut at = s;
                loop {
                    if match_seq(tail, at, rest) {
                        return true;
                    }
                    let mut chars = at.chars();
                    if chars.next().is_none() {
                        return false;
                    }
                    at = chars.as_str();
                }
            }
        },
        PatternToken::Class { negated, ranges } => {
            let mut chars = s.chars();
            match chars.next() {
                Some(c) => {
                    let up = c.to_ascii_uppercase();
                    let low = c.to_ascii_lowercase();
                    let inside = ranges
                        .iter()
                        .any(|(a, b)| (*a..=*b).contains(&up) || (*a..=*b).contains(&low));
                    inside != *negated && match_seq(tail, chars.as_str(), rest)
                }
                None => false,
            }
        }
        PatternToken::Group(alternatives) => {
            let after = Continuation {
                tokens: tail,
                next: rest,
            };
            alternatives
                .iter()
                .any(|alt| match_seq(alt, s, Some(&after)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PatternToken::*;

    fn glob(tokens: Vec<PatternToken>) -> Pattern {
        Pattern {
            source: String::new(),
            negated: false,
            body: PatternBody::Glob { tokens },
        }
    }

    #[test]
    fn glob_matching() {
        let p = glob(vec![Text("CLN".into()), AnyRun]);
        assert!(p.matches("CLN001"));
        assert!(p.matches("cln"));
        assert!(!p.matches("XCLN"));
        let p = glob(vec![
            AnyRun,
            Group(vec![vec![Text("OFFS".into())], vec![Text("LEGL".into())]]),
        ]);
        assert!(p.matches("xxOFFS"));
        assert!(p.matches("LEGL"));
        assert!(!p.matches("LEGLX"));
        let p = glob(vec![
            AnyOne,
            AnyOne,
            Class {
                negated: false,
                ranges: vec![('4', '7')],
            },
        ]);
        assert!(p.matches("AB5"));
        assert!(!p.matches("AB8"));
        let mut n = glob(vec![
            Class {
                negated: false,
                ranges: vec![('0', '9')],
            },
            AnyRun,
        ]);
        n.negated = true;
        assert!(n.matches("Volume"));
        assert!(!n.matches("1 abc"));
    }

    /// The straightforward matcher (characters collected, a stack of continuations) that
    /// [`match_seq`] must agree with.
    fn reference(tokens: &[PatternToken], s: &[char], rest: &[&[PatternToken]]) -> bool {
        let Some((first, tail)) = tokens.split_first() else {
            return match rest.split_first() {
                Some((next, more)) => reference(next, s, more),
                None => s.is_empty(),
            };
        };
        match first {
            Text(text) => {
                let mut i = 0;
                for t in text.chars() {
                    match s.get(i) {
                        Some(c) if c.eq_ignore_ascii_case(&t) => i += 1,
                        _ => return false,
                    }
                }
                reference(tail, &s[i..], rest)
            }
            AnyOne => !s.is_empty() && reference(tail, &s[1..], rest),
            AnyRun => (0..=s.len()).any(|k| reference(tail, &s[k..], rest)),
            Class { negated, ranges } => match s.first() {
                Some(c) => {
                    let (up, low) = (c.to_ascii_uppercase(), c.to_ascii_lowercase());
                    let inside = ranges
                        .iter()
                        .any(|(a, b)| (*a..=*b).contains(&up) || (*a..=*b).contains(&low));
                    inside != *negated && reference(tail, &s[1..], rest)
                }
                None => false,
            },
            Group(alternatives) => {
                let mut stack: Vec<&[PatternToken]> = vec![tail];
                stack.extend_from_slice(rest);
                alternatives.iter().any(|alt| reference(alt, s, &stack))
            }
        }
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    const PIECES: [&str; 8] = ["a", "B", "ab", "é", "É", "1", "-", "bA"];

    fn random_tokens(rng: &mut Rng, depth: usize) -> Vec<PatternToken> {
        (0..rng.next(5))
            .map(|_| match rng.next(if depth > 1 { 5 } else { 6 }) {
                0 | 1 => Text(PIECES[rng.next(PIECES.len())].to_string()),
                2 => AnyRun,
                3 => AnyOne,
                4 => Class {
                    negated: rng.next(2) == 0,
                    ranges: vec![('A', 'B'), ('0', '9')],
                },
                _ => Group(
                    (0..1 + rng.next(3))
                        .map(|_| random_tokens(rng, depth + 1))
                        .collect(),
                ),
            })
            .collect()
    }

    #[test]
    fn matcher_agrees_with_the_reference() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        for _ in 0..3_000 {
            let tokens = random_tokens(&mut rng, 0);
            let p = glob(tokens.clone());
            for _ in 0..20 {
                let value: String = (0..rng.next(6))
                    .map(|_| PIECES[rng.next(PIECES.len())])
                    .collect();
                let chars: Vec<char> = value.chars().collect();
                assert_eq!(
                    p.matches(&value),
                    reference(&tokens, &chars, &[]),
                    "{tokens:?} on {value:?}"
                );
            }
        }
    }

    #[test]
    fn common_shapes() {
        let p = glob(vec![AnyRun, Text("fs".into())]);
        assert!(p.matches("OFFS"));
        assert!(p.matches("fs"));
        assert!(!p.matches("s"));
        assert!(!p.matches("OFFSx"));
        assert!(!p.matches("éfs\u{301}"));
        let p = glob(vec![AnyRun, AnyRun, Text("é".into()), AnyRun]);
        assert!(p.matches("xxéyy"));
        assert!(!p.matches("xxÉyy"));
        assert!(glob(vec![AnyRun]).matches(""));
        assert!(glob(vec![Text("Vault".into())]).matches("VAULT"));
    }
}
