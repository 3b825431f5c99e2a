//! Filter patterns, compiled (`compile::arguments::pattern` builds them) and matched.
//!
//! Matching is linear in the length of the value for every filter: the common shapes (at most
//! one `*` run and no group: `TEXT`, `TEXT*`, `*TEXT`, `??L[4-8]`) are matched in place by
//! [`match_seq`], which can only retry at one `*`; every other filter gets an automaton
//! ([`automaton`]) built from its tokens when the [`Glob`] is made, which the plan carries
//! beside them. The plan's JSON (`tapesync explain`) shows the tokens only: the automaton is
//! derived from them and rebuilt when a plan is read back.

mod automaton;

use automaton::Automaton;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
    Glob { tokens: Glob },
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

/// The tokens of a glob filter with what matches them, chosen when it is made (see the module
/// comment). Serialised as the token list; reads like a `[PatternToken]`.
#[derive(Clone)]
pub struct Glob {
    tokens: Vec<PatternToken>,
    /// `None`: the tokens are matched in place, which is linear for their shape.
    automaton: Option<Automaton>,
}

impl Glob {
    pub fn new(tokens: Vec<PatternToken>) -> Glob {
        let automaton = needs_automaton(&tokens).then(|| Automaton::new(&tokens));
        Glob { tokens, automaton }
    }

    pub fn tokens(&self) -> &[PatternToken] {
        &self.tokens
    }

    fn matches(&self, value: &str) -> bool {
        match &self.automaton {
            Some(automaton) => automaton.matches(value),
            None => match_seq(&self.tokens, value, None),
        }
    }
}

/// Whether matching `tokens` in place could take more than linear time in the value's length:
/// more than one run of `*` that is not at the end (a trailing `*` matches whatever is left, at
/// once), a `*` inside a group, or groups whose alternatives combine in more than
/// [`IN_PLACE_WAYS`] ways. Each retry point multiplies the work; with at most one `*` run and a
/// few fixed-length alternatives (`*TEXT`, `*YEARLY*`, `CLN*`, `*(OFFS|LEGL|DEST)`) it grows only
/// with the length, and matching in place is faster than the automaton.
fn needs_automaton(tokens: &[PatternToken]) -> bool {
    let body = match tokens
        .iter()
        .rposition(|t| !matches!(t, PatternToken::AnyRun))
    {
        Some(last) => &tokens[..=last],
        None => return false,
    };
    let mut runs = 0;
    let mut previous_was_run = false;
    for t in body {
        if matches!(t, PatternToken::AnyRun) && !previous_was_run {
            runs += 1;
        }
        previous_was_run = matches!(t, PatternToken::AnyRun);
    }
    runs > 1 || ways(body).is_none_or(|w| w > IN_PLACE_WAYS)
}

/// The most combinations of group alternatives a filter matched in place may have.
const IN_PLACE_WAYS: u64 = 16;

/// In how many ways the groups of `tokens` combine; `None` with a `*` inside a group (or too
/// many ways to count).
fn ways(tokens: &[PatternToken]) -> Option<u64> {
    tokens.iter().try_fold(1u64, |product, t| match t {
        PatternToken::Group(alternatives) => {
            let mut sum = 0u64;
            for alternative in alternatives {
                if alternative
                    .iter()
                    .any(|t| matches!(t, PatternToken::AnyRun))
                {
                    return None;
                }
                sum = sum.checked_add(ways(alternative)?)?;
            }
            product.checked_mul(sum.max(1))
        }
        _ => Some(product),
    })
}

impl From<Vec<PatternToken>> for Glob {
    fn from(tokens: Vec<PatternToken>) -> Glob {
        Glob::new(tokens)
    }
}

impl std::ops::Deref for Glob {
    type Target = [PatternToken];
    fn deref(&self) -> &[PatternToken] {
        &self.tokens
    }
}

impl std::fmt::Debug for Glob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.tokens.fmt(f)
    }
}

/// The automaton follows from the tokens: equal tokens, equal globs.
impl PartialEq for Glob {
    fn eq(&self, other: &Glob) -> bool {
        self.tokens == other.tokens
    }
}

impl Eq for Glob {}

impl Serialize for Glob {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.tokens.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Glob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Glob, D::Error> {
        Vec::<PatternToken>::deserialize(deserializer).map(Glob::new)
    }
}

impl Pattern {
    /// Whether `value` matches, ASCII case-insensitively and anchored at both ends.
    ///
    /// Runs per record and per rule, so it works on the text in place: no allocation, and
    /// the common shapes (`TEXT`, `TEXT*`, `*TEXT`, `*`) cost one comparison each.
    pub fn matches(&self, value: &str) -> bool {
        let hit = match &self.body {
            PatternBody::Glob { tokens } => tokens.matches(value),
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
                tokens: Glob::new(vec![PatternToken::Text(text.to_string())]),
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

/// Whether `c`, in either ASCII case, is in one of `ranges`.
fn in_class(c: char, ranges: &[(char, char)]) -> bool {
    let up = c.to_ascii_uppercase();
    let low = c.to_ascii_lowercase();
    ranges
        .iter()
        .any(|(a, b)| (*a..=*b).contains(&up) || (*a..=*b).contains(&low))
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
                Some(c) => in_class(c, ranges) != *negated && match_seq(tail, chars.as_str(), rest),
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
            body: PatternBody::Glob {
                tokens: Glob::new(tokens),
            },
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
            // Both matchers on every shape, whichever the glob chose.
            let automaton = Automaton::new(&tokens);
            for _ in 0..20 {
                let value: String = (0..rng.next(6))
                    .map(|_| PIECES[rng.next(PIECES.len())])
                    .collect();
                let chars: Vec<char> = value.chars().collect();
                let want = reference(&tokens, &chars, &[]);
                assert_eq!(p.matches(&value), want, "{tokens:?} on {value:?}");
                assert_eq!(
                    match_seq(&tokens, &value, None),
                    want,
                    "in place: {tokens:?} on {value:?}"
                );
                assert_eq!(
                    automaton.matches(&value),
                    want,
                    "automaton: {tokens:?} on {value:?}"
                );
            }
        }
    }

    /// Filters that make a backtracking matcher try exponentially many ways (in the number of
    /// `*` or of groups) answer at once, on a long line, both ways.
    #[test]
    fn pathological_filters_answer_in_time_linear_in_the_line() {
        let long_a = "A".repeat(1_500);
        let stars = glob(vec![
            AnyRun,
            Text("A".into()),
            AnyRun,
            Text("A".into()),
            AnyRun,
            Text("A".into()),
            AnyRun,
            Text("A".into()),
            AnyRun,
            Text("X".into()),
        ]);
        assert!(!stars.matches(&long_a));
        assert!(stars.matches(&format!("{long_a}x")));
        let groups = glob(
            (0..40)
                .map(|_| Group(vec![vec![Text("a".into())], vec![Text("A".into())]]))
                .chain([Text("X".into())])
                .collect(),
        );
        assert!(!groups.matches(&"a".repeat(40)));
        assert!(groups.matches(&format!("{}X", "a".repeat(40))));
        let nested = glob(vec![
            AnyRun,
            Group(vec![vec![AnyRun, Text("A".into())], vec![AnyOne, AnyRun]]),
            AnyRun,
            Group(vec![vec![AnyRun, Text("A".into())], vec![AnyOne, AnyRun]]),
            Text("B".into()),
        ]);
        assert!(!nested.matches(&long_a));
        assert!(nested.matches(&format!("{long_a}B")));
    }

    /// More than 64 instructions: the state set spans several words.
    #[test]
    fn long_filters_match_like_short_ones() {
        let tokens: Vec<PatternToken> = (0..30)
            .flat_map(|i| [AnyRun, Text(format!("{}", i % 10))])
            .chain([Group(vec![vec![Text("END".into())], vec![AnyOne]])])
            .collect();
        let p = glob(tokens.clone());
        let digits: String = (0..30).map(|i| format!("x{}", i % 10)).collect();
        assert!(p.matches(&format!("{digits}end")));
        assert!(p.matches(&format!("{digits}?")));
        assert!(!p.matches(&format!("{digits}en")));
        assert!(!p.matches(&digits[2..]));
        let chars: Vec<char> = digits.chars().collect();
        assert_eq!(p.matches(&digits), reference(&tokens, &chars, &[]));
    }

    #[test]
    fn the_plan_shows_the_tokens_and_reads_back_with_its_matcher() {
        let p = glob(vec![AnyRun, Text("A".into()), AnyRun, Text("X".into())]);
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(
            json["body"],
            serde_json::json!({"kind": "glob", "tokens": [
                {"t": "any_run"}, {"t": "text", "v": "A"}, {"t": "any_run"}, {"t": "text", "v": "X"}
            ]})
        );
        let back: Pattern = serde_json::from_value(json).unwrap();
        assert_eq!(back, p);
        assert!(back.matches(&format!("{}X", "A".repeat(2_000))));
        assert!(!back.matches(&"A".repeat(2_000)));
    }

    #[test]
    fn only_filters_that_could_retry_in_many_ways_get_an_automaton() {
        let t = || Text("A".into());
        for (tokens, expected) in [
            (vec![t()], false),
            (vec![AnyRun], false),
            (vec![t(), AnyRun], false),
            (vec![AnyRun, t()], false),
            (vec![AnyRun, AnyRun, t(), AnyRun, AnyRun], false),
            (vec![AnyRun, t(), AnyOne, AnyRun], false),
            (vec![AnyRun, t(), AnyRun, t()], true),
            (vec![t(), AnyRun, t(), AnyRun, t(), AnyRun], true),
            (
                vec![AnyRun, Group(vec![vec![t()], vec![t(), t()]]), t()],
                false,
            ),
            (vec![Group(vec![vec![t(), AnyRun]])], true),
            (vec![Group(vec![vec![t()], vec![t()]]); 4], false),
            (vec![Group(vec![vec![t()], vec![t()]]); 5], true),
        ] {
            assert_eq!(needs_automaton(&tokens), expected, "{tokens:?}");
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
