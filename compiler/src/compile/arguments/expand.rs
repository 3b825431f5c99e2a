//! Variable expansion inside strings: `%NAME%` (definition variables first, then the
//! environment) and `%%` for a literal `%`. Every byte of the result remembers where in the
//! source it came from, so later errors (a bad pattern character) point into the string.

/// A string after expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expanded {
    pub text: String,
    /// `map[i]` is the source byte offset of expanded byte `i`; one extra entry maps the end.
    pub map: Vec<usize>,
}

impl Expanded {
    /// A string whose bytes map one-to-one onto the source starting at `start`.
    pub fn verbatim(text: &str, start: usize) -> Expanded {
        Expanded {
            text: text.to_string(),
            map: (0..=text.len()).map(|i| start + i).collect(),
        }
    }

    /// The source span of expanded bytes `start..end`.
    pub fn source_span(&self, start: usize, end: usize) -> tapesync_grammar::Span {
        let s = self.map.get(start).copied().unwrap_or_else(|| self.end());
        let e = if end > start {
            // The last byte's source position + 1 keeps a one-character span one wide even
            // when it came out of a variable.
            self.map.get(end - 1).map_or(self.end(), |p| p + 1)
        } else {
            s
        };
        tapesync_grammar::Span::new(s, e.max(s))
    }

    fn end(&self) -> usize {
        self.map.last().copied().unwrap_or(0)
    }
}

/// Something found while expanding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpandProblem {
    /// `%NAME%` with no such definition or environment variable; `start..end` is the
    /// reference in source bytes.
    Undefined {
        name: String,
        start: usize,
        end: usize,
    },
    /// A `%` that is neither `%%` nor part of `%NAME%`; it is kept as a literal `%`.
    LonePercent { at: usize },
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Expands `raw` (the characters between the quotes, starting at source byte `start`).
pub fn expand(
    raw: &str,
    start: usize,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> (Expanded, Vec<ExpandProblem>) {
    let bytes = raw.as_bytes();
    let mut text = String::with_capacity(raw.len());
    let mut map = Vec::with_capacity(raw.len() + 1);
    let mut problems = Vec::new();
    let mut i = 0;
    let mut plain_from = 0;
    let flush = |text: &mut String, map: &mut Vec<usize>, from: usize, to: usize| {
        text.push_str(&raw[from..to]);
        map.extend((from..to).map(|k| start + k));
    };
    while i < bytes.len() {
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        flush(&mut text, &mut map, plain_from, i);
        if bytes.get(i + 1) == Some(&b'%') {
            text.push('%');
            map.push(start + i);
            i += 2;
        } else if bytes.get(i + 1).is_some_and(|&b| is_name_start(b)) {
            let mut j = i + 1;
            while j < bytes.len() && is_name_char(bytes[j]) {
                j += 1;
            }
            if bytes.get(j) == Some(&b'%') {
                let name = &raw[i + 1..j];
                match lookup(name) {
                    Some(value) => {
                        map.extend(std::iter::repeat_n(start + i, value.len()));
                        text.push_str(&value);
                    }
                    None => {
                        problems.push(ExpandProblem::Undefined {
                            name: name.to_string(),
                            start: start + i,
                            end: start + j + 1,
                        });
                        // Keep the reference as written so later checks see something
                        // sensible and do not pile up knock-on errors.
                        text.push_str(&raw[i..=j]);
                        map.extend((i..=j).map(|k| start + k));
                    }
                }
                i = j + 1;
            } else {
                problems.push(ExpandProblem::LonePercent { at: start + i });
                text.push('%');
                map.push(start + i);
                i += 1;
            }
        } else {
            problems.push(ExpandProblem::LonePercent { at: start + i });
            text.push('%');
            map.push(start + i);
            i += 1;
        }
        plain_from = i;
    }
    flush(&mut text, &mut map, plain_from, bytes.len());
    map.push(start + bytes.len());
    (Expanded { text, map }, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        (name == "SITE").then(|| "LON".to_string())
    }

    #[test]
    fn doubles_and_variables() {
        let (e, p) = expand("%%d/%%m/%%Y", 10, &vars);
        assert_eq!(e.text, "%d/%m/%Y");
        assert!(p.is_empty());
        assert_eq!(e.source_span(1, 2), tapesync_grammar::Span::new(12, 13));
        let (e, p) = expand("*%SITE%*", 0, &vars);
        assert_eq!(e.text, "*LON*");
        assert!(p.is_empty());
        assert_eq!(e.map.len(), e.text.len() + 1);
    }

    #[test]
    fn problems() {
        let (e, p) = expand("%NOPE% 5%", 0, &vars);
        assert_eq!(e.text, "%NOPE% 5%");
        assert_eq!(
            p,
            vec![
                ExpandProblem::Undefined {
                    name: "NOPE".into(),
                    start: 0,
                    end: 6
                },
                ExpandProblem::LonePercent { at: 8 }
            ]
        );
    }
}
