//! The CTI Server protocol: framing of the byte stream into messages ([`framing`]) and the
//! message tables of the guide ([`spec`]).

pub mod framing;
pub mod spec;
