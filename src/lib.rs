//! ctiscope: a dissector and capture analyzer for Cisco's CTI Server protocol (GED-188).
//!
//! The pipeline, one stage per module, each passing plain values to the next:
//!
//! 1. [`capture`] reads pcap / pcapng (plain or gzip, file or stream) into [`capture::Packet`]s;
//! 2. [`net`] slices link, IP and TCP headers (reassembling IPv4 fragments) into
//!    [`net::TcpSegment`]s and reassembles each TCP connection per direction into
//!    [`net::tcp::StreamEvent`]s (ordered bytes, gaps, retransmission conflicts);
//! 3. [`cti::framing`] cuts each direction's byte stream into CTI messages
//!    ([`cti::framing::Frame`]: 8-byte header plus body, with the capture frame numbers and
//!    timestamp of its bytes), resynchronising after gaps and mid-stream starts;
//! 4. [`pipeline`] ties these together and says which side of a connection is the CTI
//!    client: [`pipeline::Event`]s, framed messages among them, in capture order;
//! 5. [`stage`], the decode stage, learns each connection's protocol version (OPEN_REQ,
//!    `--protocol-version`, inference) and decodes every message once, handing on each
//!    event with its decoded message ([`parallel`] does the same on several threads,
//!    delivering in capture order);
//! 6. [`render`] prints what came out; [`analysis`] follows sessions, requests, calls and
//!    agents and reports rule violations. Both take the decoded messages of the stage.
//!
//! Decoding one message from its bytes (a HEARTBEAT_REQ with InvokeID 7):
//!
//! ```
//! use ctiscope::cti::decode::{decode, VersionSource};
//! let frame = [0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 7];
//! let d = decode(&frame, 24, VersionSource::Forced);
//! assert_eq!(d.type_name(), Some("HEARTBEAT_REQ"));
//! assert_eq!(d.number("InvokeID"), Some(7));
//! assert!(d.anomalies.is_empty());
//! ```
//!
//! And a whole capture, event by event, each message decoded:
//!
//! ```no_run
//! use ctiscope::pipeline::{Event, Settings};
//! ctiscope::stage::run_path("captures/contact-center.pcapng", &Settings::default(), None, &mut |ev, d| {
//!     if let (Event::Message { flow, .. }, Some(d)) = (ev, d) {
//!         println!("{} {} {}", flow.conn, flow.dir.as_str(), d.type_name().unwrap_or("UNKNOWN"));
//!     }
//! })
//! .expect("readable capture");
//! ```
//! [`live`] captures from a Linux interface into the same pipeline.
//!

pub mod analysis;
pub mod capture;
pub mod corpus;
pub mod cti;
pub mod cut;
pub mod dissector;
pub mod export;
pub mod filter;
pub mod fuzzing;
pub mod live;
pub mod net;
pub mod parallel;
pub mod pipeline;
pub mod render;
pub mod stage;
pub mod synth;
pub mod time;

/// Hash map for the per-packet and per-message tables (connections, flows).
pub type FastMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;

/// Hasher for integer keys the capture does not choose (connection numbers, handed out in
/// sequence; hashes computed already): one multiplication spreads them over the table.
#[derive(Debug, Default, Clone, Copy)]
pub struct IntHasher(u64);

impl std::hash::Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(8) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by integers the capture does not choose (see [`IntHasher`]).
pub type IntMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<IntHasher>>;

/// A set of integers the capture does not choose (see [`IntHasher`]).
pub type IntSet<K> = std::collections::HashSet<K, std::hash::BuildHasherDefault<IntHasher>>;

/// Timestamps are integer nanoseconds since 1970-01-01 00:00:00 UTC, end to end.
pub type TimestampNs = i64;

/// 64-bit FNV-1a: stable names for corpus files.
pub fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
