pub mod codes;
pub mod diagnostic;
pub(crate) mod suggest;
