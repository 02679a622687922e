//! Output renderers: summary lines, the `-V` tree, hex dumps, JSON, and the shared value
//! and time formatting.

pub mod events;
pub mod hex;
pub mod json;
pub mod summary;
pub mod time;
pub mod tree;
pub mod value;
