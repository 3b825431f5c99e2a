pub mod date_format;
pub mod duration;
pub mod expand;
pub mod pattern;
pub mod template;
