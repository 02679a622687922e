//! Fuzzing corpora from captures: every distinct CTI message as its own file, optionally
//! with structure-aware mutated variants, and a manifest.
//!
//! Files are named `<TYPE>-<hash>.bin` where the hash is the 64-bit FNV-1a of the file's
//! bytes (stable across runs and machines, so re-exporting a capture gives the same names).
//! Identical messages are written once. Mutations are deterministic for a seed and use the
//! decoder's view of the message (field offsets, count fields, floating tags), so they hit
//! the places a decoder can get wrong: truncations, MessageLength edits, count fields set to
//! edge values, tags swapped for unknown or misplaced ones, values longer than their maximum.

use crate::cti::decode::{self, Decoded, Part, VersionSource};
use crate::cti::framing::HEADER_LEN;
use crate::cti::spec::WireType;
use std::collections::{BTreeMap, HashSet};

/// What is written for each message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorpusFormat {
    /// Header and body: what a framer or whole-message decoder reads.
    Frame,
    /// Body only (after the 8-byte header): for targets that take the MessageType apart.
    Body,
}

/// Export settings.
#[derive(Debug, Clone)]
pub struct CorpusSettings {
    pub format: CorpusFormat,
    /// At most this many distinct messages per MessageType (None: all).
    pub per_type: Option<usize>,
    /// Mutated variants written per distinct message.
    pub mutate: usize,
    pub seed: u64,
}

impl Default for CorpusSettings {
    fn default() -> Self {
        CorpusSettings { format: CorpusFormat::Frame, per_type: None, mutate: 0, seed: 1 }
    }
}

/// One file to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub file: String,
    pub type_name: String,
    pub type_id: u32,
    /// Capture frame that completed the source message.
    pub frame: u64,
    pub connection: u32,
    pub direction: &'static str,
    /// The mutation applied, for variants.
    pub mutation: Option<&'static str>,
    pub bytes: Vec<u8>,
}

pub use crate::fnv1a;

/// Collects distinct messages (and their variants) as they come out of the pipeline.
pub struct Corpus {
    settings: CorpusSettings,
    seen: HashSet<u64>,
    per_type: BTreeMap<u32, usize>,
    rng: crate::synth::rng::Rng,
    decoded: Decoded,
}

impl Corpus {
    pub fn new(settings: CorpusSettings) -> Self {
        let rng = crate::synth::rng::Rng::new(settings.seed);
        Corpus { settings, seen: HashSet::new(), per_type: BTreeMap::new(), rng, decoded: Decoded::default() }
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            self.rng.below(n as u64) as usize
        }
    }

    /// Offer one message (a whole frame); returns the entries to write (none when it is a
    /// duplicate or its type is full).
    pub fn offer(
        &mut self,
        frame_bytes: &[u8],
        version: u32,
        frame: u64,
        connection: u32,
        direction: &'static str,
    ) -> Vec<Entry> {
        let Some((_, ty)) = crate::cti::framing::parse_header(frame_bytes) else { return Vec::new() };
        let h = fnv1a(frame_bytes);
        if !self.seen.insert(h) {
            return Vec::new();
        }
        let count = self.per_type.entry(ty).or_insert(0);
        if self.settings.per_type.is_some_and(|n| *count >= n) {
            return Vec::new();
        }
        *count += 1;
        let type_name =
            crate::cti::spec::type_name(ty).map_or_else(|| format!("UNKNOWN_{ty}"), str::to_string);
        let mut out =
            vec![self.entry(&type_name, ty, frame, connection, direction, None, frame_bytes.to_vec())];
        if self.settings.mutate > 0 {
            decode::decode_at(frame_bytes, version, VersionSource::Forced, &mut self.decoded);
            let decoded = std::mem::take(&mut self.decoded);
            for _ in 0..self.settings.mutate {
                let (what, bytes) = self.mutate(frame_bytes, &decoded, version);
                if self.seen.insert(fnv1a(&bytes)) {
                    out.push(self.entry(&type_name, ty, frame, connection, direction, Some(what), bytes));
                }
            }
            self.decoded = decoded;
        }
        out
    }

    // The entry's fields, one argument each, as the manifest lists them.
    #[allow(clippy::too_many_arguments)]
    fn entry(
        &self,
        type_name: &str,
        type_id: u32,
        frame: u64,
        connection: u32,
        direction: &'static str,
        mutation: Option<&'static str>,
        frame_bytes: Vec<u8>,
    ) -> Entry {
        let bytes = match self.settings.format {
            CorpusFormat::Frame => frame_bytes,
            CorpusFormat::Body => frame_bytes.get(HEADER_LEN..).unwrap_or(&[]).to_vec(),
        };
        let file = format!("{type_name}-{:016x}.bin", fnv1a(&bytes));
        Entry {
            file,
            type_name: type_name.to_string(),
            type_id,
            frame,
            connection,
            direction,
            mutation,
            bytes,
        }
    }

    /// One structure-aware mutation of a frame.
    fn mutate(&mut self, frame: &[u8], d: &Decoded, version: u32) -> (&'static str, Vec<u8>) {
        let mut v = frame.to_vec();
        let floating: Vec<_> =
            d.fields.iter().filter(|f| f.part() == Part::Floating && f.tag.is_some()).collect();
        let counts: Vec<_> = d
            .fields
            .iter()
            .filter(|f| {
                f.part() == Part::Fixed && f.name().starts_with("Num") && matches!(f.ty(), WireType::UShort)
            })
            .collect();
        let w = decode::tlv_width(version);
        loop {
            match self.below(6) {
                0 if v.len() > 1 => {
                    let at = 1 + self.below(v.len() - 1);
                    v.truncate(at);
                    return ("truncate", v);
                }
                1 => {
                    let len = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
                    let new =
                        [len.wrapping_add(1), len.wrapping_sub(1), 0, u32::MAX, 0x7fff_ffff][self.below(5)];
                    v[..4].copy_from_slice(&new.to_be_bytes());
                    return ("message_length", v);
                }
                2 if !counts.is_empty() => {
                    let f = counts[self.below(counts.len())];
                    let cur = f.number().unwrap_or(0) as u16;
                    let new = [0u16, 1, cur.wrapping_add(1), 17, 100, u16::MAX][self.below(6)];
                    let o = f.offset as usize;
                    v[o..o + 2].copy_from_slice(&new.to_be_bytes());
                    return ("count_field", v);
                }
                3 if !floating.is_empty() => {
                    let f = floating[self.below(floating.len())];
                    let o = f.offset as usize;
                    // An unknown tag, a tag of another message, or a tag of this message.
                    let new: u16 = match self.below(3) {
                        0 => 301,
                        1 => [1u16, 39, 82, 183, 244][self.below(5)],
                        _ => floating[self.below(floating.len())].tag.unwrap_or(0),
                    };
                    if w == 1 {
                        v[o] = new as u8;
                    } else {
                        v[o..o + 2].copy_from_slice(&new.to_be_bytes());
                    }
                    return ("tag_swap", v);
                }
                4 if !floating.is_empty() => {
                    // Grow one floating value past its maximum, fixing its length fields.
                    let f = floating[self.below(floating.len())];
                    let max = f.spec().map_or(64, |s| s.max as usize);
                    let grow = max + 1 + self.below(64);
                    let limit = if w == 1 { 255 } else { 65_535 };
                    let new_len = (f.data_len() as usize + grow).min(limit);
                    let add = new_len - f.data_len() as usize;
                    let end = (f.data_offset() + f.data_len()) as usize;
                    let filler: Vec<u8> = std::iter::repeat_n(b'A', add).collect();
                    v.splice(end..end, filler);
                    let o = f.offset as usize;
                    if w == 1 {
                        v[o + 1] = new_len as u8;
                    } else {
                        v[o + 2..o + 4].copy_from_slice(&(new_len as u16).to_be_bytes());
                    }
                    let body = (v.len() - HEADER_LEN) as u32;
                    v[..4].copy_from_slice(&body.to_be_bytes());
                    return ("oversize_value", v);
                }
                5 if v.len() > HEADER_LEN => {
                    let i = HEADER_LEN + self.below(v.len() - HEADER_LEN);
                    v[i] ^= 1 << self.below(8);
                    return ("bit_flip", v);
                }
                _ => {}
            }
        }
    }
}

/// One manifest line (JSON, no newline).
pub fn manifest_line(e: &Entry) -> String {
    let mut s = String::from("{\"file\":");
    let mut b = Vec::new();
    crate::render::json::push_str(&mut b, &e.file);
    s.push_str(std::str::from_utf8(&b).expect("JSON is UTF-8"));
    s.push_str(&format!(
        ",\"type\":\"{}\",\"type_id\":{},\"frame\":{},\"connection\":{},\"direction\":\"{}\"",
        e.type_name, e.type_id, e.frame, e.connection, e.direction
    ));
    match e.mutation {
        Some(m) => s.push_str(&format!(",\"mutation\":\"{m}\"")),
        None => s.push_str(",\"mutation\":null"),
    }
    s.push_str(&format!(",\"bytes\":{}}}", e.bytes.len()));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cti::encode::MessageBuilder;
    use crate::cti::spec::fields::field;
    use crate::cti::spec::values::agent_state;
    use crate::cti::spec::MessageType;

    fn sample() -> Vec<u8> {
        let mut m = MessageBuilder::for_type(MessageType::AGENT_STATE_EVENT, 24);
        m.set(field::AgentState, agent_state::AGENT_STATE_AVAILABLE.into())
            .unwrap()
            .text(field::AgentID, "1001")
            .unwrap()
            .text(field::AgentExtension, "3001")
            .unwrap();
        m.build()
    }

    #[test]
    fn duplicates_are_written_once_and_named_by_hash() {
        let mut c = Corpus::new(CorpusSettings::default());
        let s = sample();
        let a = c.offer(&s, 24, 7, 0, "server->client");
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].file, format!("AGENT_STATE_EVENT-{:016x}.bin", fnv1a(&s)));
        assert_eq!(a[0].bytes, s);
        assert!(c.offer(&s, 24, 9, 0, "server->client").is_empty());
    }

    #[test]
    fn per_type_limit_and_body_format() {
        let mut c = Corpus::new(CorpusSettings {
            per_type: Some(1),
            format: CorpusFormat::Body,
            ..Default::default()
        });
        let s = sample();
        let mut t = s.clone();
        *t.last_mut().unwrap() = b'x';
        assert_eq!(c.offer(&s, 24, 1, 0, "server->client")[0].bytes, s[8..].to_vec());
        assert!(c.offer(&t, 24, 2, 0, "server->client").is_empty());
    }

    #[test]
    fn mutations_are_deterministic_and_distinct() {
        let run = || {
            let mut c = Corpus::new(CorpusSettings { mutate: 20, seed: 5, ..Default::default() });
            c.offer(&sample(), 24, 1, 0, "server->client")
        };
        let a = run();
        assert_eq!(a, run());
        assert!(a.len() > 10, "{}", a.len());
        let kinds: HashSet<_> = a.iter().filter_map(|e| e.mutation).collect();
        for k in ["truncate", "message_length", "count_field", "tag_swap", "oversize_value", "bit_flip"] {
            assert!(kinds.contains(k), "{k} missing from {kinds:?}");
        }
        // Oversize variants decode with value_too_long.
        let over = a.iter().find(|e| e.mutation == Some("oversize_value")).unwrap();
        let d = decode::decode(&over.bytes, 24, VersionSource::Forced);
        assert!(d.anomalies.iter().any(|x| x.code == "value_too_long"), "{:?}", d.anomalies);
    }

    #[test]
    fn manifest_lines_are_json() {
        let mut c = Corpus::new(CorpusSettings { mutate: 2, ..Default::default() });
        for e in c.offer(&sample(), 24, 3, 1, "server->client") {
            let v: serde_json::Value = serde_json::from_str(&manifest_line(&e)).unwrap();
            assert_eq!(v["type"], "AGENT_STATE_EVENT");
            assert_eq!(v["frame"], 3);
        }
    }
}
