//! The CTI Server protocol: framing of the byte stream into messages ([`framing`]), the
//! message tables of the guide ([`spec`]), and the generic decoder and encoder over them.

pub mod decode;
pub mod encode;
pub mod framing;
pub mod spec;

#[cfg(test)]
mod framing_tests;
