//! Output renderers: everything ctiscope prints.
//!
//! - [`summary`]: one line per pipeline event (tshark style);
//! - [`tree`] and [`hex`]: the `-V` field tree and hex dumps;
//! - [`json`] and [`events`]: JSON objects for messages and the other events;
//! - [`fields`]: `-T fields -e ...`, the listed fields of each message, tshark style;
//! - [`value`]: how decoded values read (named enums and masks, text, bytes);
//! - [`report`]: the analysis [`Report`](crate::analysis::Report) as text tables and JSON
//!   (findings, timeline, statistics) and the rule list;
//! - [`html`]: `ctiscope report`, one self-contained HTML file drawing a capture (ladders,
//!   agent states, calls, latency, findings);
//! - [`style`]: how text output looks on a terminal (tables fitted to its width,
//!   coloured severities) and off one (plain);
//! - [`time`]: timestamps and durations (re-exported from [`crate::time`]).
//!
//! Renderers read the decoded messages and the analysis's data; nothing else imports them.

pub mod events;
pub mod fields;
pub mod hex;
pub mod html;
pub mod json;
pub mod report;
pub mod style;
pub mod summary;
pub use crate::time;
pub mod tree;
pub mod value;
