//! Diagnostics, the compiler's product besides the plan: the registry of [`codes`], the
//! [`Diagnostic`] messages with their labels and fixes, the [`SourceMap`] they point into,
//! and "did you mean …?" suggestions. The renderers (`crate::render`) and the language
//! server read them; nothing here knows how a definition is compiled.

pub mod codes;
mod diagnostic;
mod severity;
mod source;
pub(crate) mod suggest;

pub use codes::{Code, CodeInfo, REGISTRY};
pub use diagnostic::{Diagnostic, Fix, Label};
pub use severity::Severity;
pub use source::{FileId, Location, SourceMap, SourceText};

/// Diagnostics together with the sources they point into: what every renderer takes. A
/// [`crate::Compilation`] is one; so is a pair of the two.
pub trait Diagnosed {
    fn diagnostics(&self) -> &[Diagnostic];
    fn sources(&self) -> &SourceMap;
}

impl Diagnosed for (&[Diagnostic], &SourceMap) {
    fn diagnostics(&self) -> &[Diagnostic] {
        self.0
    }
    fn sources(&self) -> &SourceMap {
        self.1
    }
}
