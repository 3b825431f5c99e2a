//! The matcher of filters a backtracking matcher could take exponential time on (several `*`,
//! or groups): a Thompson automaton, built once when the plan is compiled, simulated with the
//! set of its live states as a bit set. Each character of the value advances every live state
//! at once, so a match costs O(value length × filter length) whatever the filter — `*A*A*A*X`
//! against a 1,500-character line is 1,500 steps, not billions of retries.
//!
//! Hand-rolled rather than the `regex` crate: the filter language is five tokens, its case
//! rule (ASCII letters only: `é` never matches `É`) and its class rule (a character matches
//! when either ASCII case of it is in a range) would have to be re-expressed in regex syntax
//! and kept equal to [`super::match_seq`]; the automaton reads the same tokens directly.

use super::PatternToken;

#[derive(Debug, Clone)]
enum Inst {
    /// One character, compared ASCII case-insensitively.
    Char(char),
    /// Any one character (`?`, and the loop of `*`).
    Any,
    /// One character in (or, negated, not in) the ranges, either ASCII case of it.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// Continue at both.
    Split(usize, usize),
    Jump(usize),
    /// The whole value was matched.
    Match,
}

/// A compiled filter body (the `!` is applied by the caller).
#[derive(Debug, Clone)]
pub(super) struct Automaton {
    insts: Vec<Inst>,
    /// 64-bit words per state set.
    words: usize,
    /// For each instruction, the consuming instructions (and `Match`) reachable from it without
    /// reading a character: `words` words per instruction.
    closures: Vec<u64>,
}

impl Automaton {
    pub(super) fn new(tokens: &[PatternToken]) -> Automaton {
        let mut insts = Vec::new();
        emit(tokens, &mut insts);
        insts.push(Inst::Match);
        let words = insts.len().div_ceil(64);
        let mut closures = vec![0u64; insts.len() * words];
        let mut stack = Vec::new();
        let mut seen = vec![false; insts.len()];
        for pc in 0..insts.len() {
            seen.iter_mut().for_each(|s| *s = false);
            let set = &mut closures[pc * words..(pc + 1) * words];
            stack.push(pc);
            while let Some(at) = stack.pop() {
                if std::mem::replace(&mut seen[at], true) {
                    continue;
                }
                match insts[at] {
                    Inst::Split(a, b) => stack.extend([a, b]),
                    Inst::Jump(to) => stack.push(to),
                    _ => set[at / 64] |= 1 << (at % 64),
                }
            }
        }
        Automaton {
            insts,
            words,
            closures,
        }
    }

    fn closure(&self, pc: usize) -> &[u64] {
        &self.closures[pc * self.words..(pc + 1) * self.words]
    }

    /// Whether the automaton accepts all of `value`.
    pub(super) fn matches(&self, value: &str) -> bool {
        let accept = self.insts.len() - 1;
        if self.words == 1 {
            // Filters of up to 64 instructions (nearly all): the state set is one register.
            let mut live = self.closures[0];
            for c in value.chars() {
                let mut next = 0u64;
                let mut bits = live;
                while bits != 0 {
                    let pc = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    if self.consumes(pc, c) {
                        next |= self.closures[pc + 1];
                    }
                }
                if next == 0 {
                    return false;
                }
                live = next;
            }
            return live & (1 << accept) != 0;
        }
        let mut live = self.closure(0).to_vec();
        let mut next = vec![0u64; self.words];
        for c in value.chars() {
            next.iter_mut().for_each(|w| *w = 0);
            for (i, &word) in live.iter().enumerate() {
                let mut bits = word;
                while bits != 0 {
                    let pc = i * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    if self.consumes(pc, c) {
                        for (n, add) in next.iter_mut().zip(self.closure(pc + 1)) {
                            *n |= add;
                        }
                    }
                }
            }
            if next.iter().all(|w| *w == 0) {
                return false;
            }
            std::mem::swap(&mut live, &mut next);
        }
        live[accept / 64] & (1 << (accept % 64)) != 0
    }

    fn consumes(&self, pc: usize, c: char) -> bool {
        match &self.insts[pc] {
            Inst::Char(t) => c.eq_ignore_ascii_case(t),
            Inst::Any => true,
            Inst::Class { negated, ranges } => super::in_class(c, ranges) != *negated,
            Inst::Split(..) | Inst::Jump(_) | Inst::Match => false,
        }
    }
}

/// Appends the instructions of `tokens` (Thompson's construction).
fn emit(tokens: &[PatternToken], insts: &mut Vec<Inst>) {
    for token in tokens {
        match token {
            PatternToken::Text(text) => insts.extend(text.chars().map(Inst::Char)),
            PatternToken::AnyOne => insts.push(Inst::Any),
            PatternToken::AnyRun => {
                // loop: Split(body, out); body: Any; Jump(loop); out:
                let at = insts.len();
                insts.push(Inst::Split(at + 1, at + 3));
                insts.push(Inst::Any);
                insts.push(Inst::Jump(at));
            }
            PatternToken::Class { negated, ranges } => insts.push(Inst::Class {
                negated: *negated,
                ranges: ranges.clone(),
            }),
            // A group of no alternatives (never written so) lets nothing through.
            PatternToken::Group(alternatives) if alternatives.is_empty() => {
                insts.push(Inst::Class {
                    negated: false,
                    ranges: Vec::new(),
                })
            }
            PatternToken::Group(alternatives) => {
                // Split(alt1, next); alt1; Jump(out); next: Split(alt2, …); …; last alt; out:
                let mut jumps = Vec::new();
                for (i, alternative) in alternatives.iter().enumerate() {
                    let last = i + 1 == alternatives.len();
                    let split = insts.len();
                    if !last {
                        insts.push(Inst::Split(split + 1, usize::MAX));
                    }
                    emit(alternative, insts);
                    if !last {
                        jumps.push(insts.len());
                        insts.push(Inst::Jump(usize::MAX));
                        let next = insts.len();
                        insts[split] = Inst::Split(split + 1, next);
                    }
                }
                let out = insts.len();
                for j in jumps {
                    insts[j] = Inst::Jump(out);
                }
            }
        }
    }
}
