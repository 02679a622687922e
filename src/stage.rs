//! The decode stage: between framing and everything that reads messages.
//!
//! ```text
//! capture -> net (slicing, TCP reassembly) -> framing -> decode stage -> consumers
//! \_____________ crate::pipeline: Pipeline, Event ____/   this module   render, analysis
//! ```
//!
//! [`Pipeline`](crate::pipeline::Pipeline) hands on framed messages and the events around
//! them; this stage decodes every message once and hands on `(event, Some(&Decoded))` for a
//! message and `(event, None)` for every other event. Printers, the analysis and the `-j`
//! threads take the decoded message from here and never decode on their own.
//!
//! The stage is the one place that knows each connection's protocol version ([`Versions`]),
//! in this order of precedence ([`Decoder::choose_version`], with its
//! [`VersionSource`](crate::cti::decode::VersionSource)):
//! `--protocol-version` when given (forced); otherwise the VersionNumber of the connection's
//! OPEN_REQ when the client's OPEN_REQ was captured (seen: read where the spec table puts it
//! in the fixed part, and the OPEN_REQ itself is decoded with it); otherwise the version
//! inferred from the bytes of the first message that tells the layouts apart (inferred);
//! otherwise the default (assumed). A connection's state is dropped at its
//! [`Event::ConnectionEnd`].
//!
//! Choosing the version depends on the messages before (an OPEN_REQ, an inference), so it is
//! done in capture order; decoding itself does not, so it can be done later and elsewhere:
//! [`Stage`] does both in line, [`crate::parallel`] chooses on the reading thread and
//! decodes batches on several.
//!
//! The whole chain over a capture, event by event:
//!
//! ```no_run
//! use ctiscope::pipeline::{Event, Settings};
//! ctiscope::stage::run_path("captures/contact-center.pcapng", &Settings::default(), None, &mut |ev, d| {
//!     if let (Event::Message { flow, .. }, Some(d)) = (ev, d) {
//!         println!("{} {}", flow.conn, d.type_name().unwrap_or("UNKNOWN"));
//!     }
//! })
//! .expect("readable capture");
//! ```

use crate::capture::CaptureError;
use crate::cti::decode::{decode_choice, Choice, Decoded, Decoder, VersionState};
use crate::cti::framing::{Frame, HEADER_LEN};
use crate::cti::spec::{self, fields::field, MessageType};
use crate::net::tcp::ConnId;
use crate::pipeline::{self, Direction, Event, Flow, Settings, Stats};

/// What the stage keeps of one connection.
#[derive(Debug, Default)]
struct ConnVersion {
    /// VersionNumber of the connection's OPEN_REQ, once one was captured.
    seen: Option<u32>,
    /// Inference from the bytes, when there is no OPEN_REQ.
    inference: VersionState,
}

/// Where an OPEN_REQ carries its VersionNumber, from the spec table.
#[derive(Debug, Clone, Copy)]
struct OpenReq {
    msg_type: u32,
    /// Offset of VersionNumber in the frame (header included).
    offset: usize,
}

impl OpenReq {
    fn from_spec() -> Self {
        let ty = MessageType::OPEN_REQ;
        let m = spec::message(ty.0, None).expect("OPEN_REQ has a layout");
        let at =
            m.fixed.iter().position(|f| f.id == field::VersionNumber).expect("OPEN_REQ has a VersionNumber");
        let before = &m.fixed[..at];
        assert!(before.iter().all(|f| f.since == 0), "the fields before VersionNumber are in every version");
        let offset = HEADER_LEN + before.iter().map(|f| usize::from(f.size)).sum::<usize>();
        OpenReq { msg_type: ty.0, offset }
    }

    /// The VersionNumber of `frame`, if it is an OPEN_REQ long enough to carry one.
    fn version(&self, frame: &Frame<'_>) -> Option<u32> {
        if frame.msg_type != self.msg_type {
            return None;
        }
        let b = frame.bytes.get(self.offset..self.offset + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Each connection's protocol version, learned in capture order: the sequential half of the
/// stage. Give it every event, in order.
#[derive(Debug)]
pub struct Versions {
    decoder: Decoder,
    open_req: OpenReq,
    conns: crate::IntMap<ConnId, ConnVersion>,
}

impl Versions {
    /// `forced`: `--protocol-version`, which wins over everything else.
    pub fn new(forced: Option<u32>) -> Self {
        Versions { decoder: Decoder { forced }, open_req: OpenReq::from_spec(), conns: Default::default() }
    }

    /// The version `ev` is decoded with and where it came from, for a message (None for any
    /// other event). A client's OPEN_REQ sets its connection's version, itself included; a
    /// connection's end forgets it.
    pub fn choose(&mut self, ev: &Event<'_>) -> Option<Choice> {
        match ev {
            Event::Message { flow, frame } => Some(self.message(flow, frame)),
            Event::ConnectionEnd { conn, .. } => {
                self.conns.remove(conn);
                None
            }
            _ => None,
        }
    }

    /// [`Versions::choose`] for a message.
    #[inline(always)]
    pub(crate) fn message(&mut self, flow: &Flow, frame: &Frame<'_>) -> Choice {
        let c = self.conns.entry(flow.conn).or_default();
        if flow.dir == Direction::ToServer {
            if let Some(v) = self.open_req.version(frame) {
                c.seen = Some(v);
            }
        }
        self.decoder.choose(frame.bytes, c.seen, &mut c.inference)
    }
}

impl Versions {
    /// Remember the fixed-part layout a message of `conn` was decoded with, so that the next
    /// message of its type starts from it ([`Choice::start`]). Only the in-line stage
    /// learns: the layout [`decode_choice`] settles on does not depend on it.
    pub fn learn(&mut self, conn: ConnId, d: &Decoded) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.inference.learn(d.msg_type, d);
        }
    }
}

/// The decode stage in line: [`Versions`] and one reused [`Decoded`].
#[derive(Debug)]
pub struct Stage {
    versions: Versions,
    decoded: Decoded,
}

impl Stage {
    /// `forced`: `--protocol-version`.
    pub fn new(forced: Option<u32>) -> Self {
        Stage { versions: Versions::new(forced), decoded: Decoded::default() }
    }

    /// The decoded message of `ev`, None for events other than messages. Give it every
    /// event, in capture order. The message is decoded into the same buffer every time.
    #[inline]
    pub fn decode(&mut self, ev: &Event<'_>) -> Option<&Decoded> {
        match ev {
            Event::Message { flow, frame } => {
                let choice = self.versions.message(flow, frame);
                decode_choice(frame.bytes, &choice, &mut self.decoded);
                if choice.start.is_some() || self.decoded.variant.is_some() {
                    self.versions.learn(flow.conn, &self.decoded);
                }
                Some(&self.decoded)
            }
            other => {
                self.versions.choose(other);
                None
            }
        }
    }
}

/// Run the pipeline and the stage over a capture path ("-" for stdin) on this thread:
/// `sink` gets every event with its decoded message. `forced`: `--protocol-version`.
/// Returns the capture error, if any, after every event before it was delivered.
pub fn run_path(
    path: &str,
    settings: &Settings,
    forced: Option<u32>,
    sink: &mut dyn FnMut(&Event<'_>, Option<&Decoded>),
) -> Result<Stats, CaptureError> {
    let mut stage = Stage::new(forced);
    pipeline::run_path(path, settings, &mut |ev| {
        let d = stage.decode(&ev);
        sink(&ev, d)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cti::decode::VersionSource;

    fn flow(dir: Direction) -> Flow {
        Flow { conn: 1, dir, src: "10.0.0.1:50000".parse().unwrap(), dst: "10.0.0.2:42027".parse().unwrap() }
    }

    fn frame(bytes: &[u8]) -> Frame<'_> {
        let (length, msg_type) = crate::cti::framing::parse_header(bytes).unwrap();
        Frame { offset: 0, first_frame: 1, last_frame: 1, ts_ns: 0, msg_type, length, bytes }
    }

    /// OPEN_REQ with InvokeID 1 and VersionNumber `v` (only as much of the body as given).
    fn open_req(v: u32, body: usize) -> Vec<u8> {
        let mut b = vec![0, 0, 0, body as u8, 0, 0, 0, 3, 0, 0, 0, 1];
        b.extend_from_slice(&v.to_be_bytes());
        b.resize(HEADER_LEN + body, 0);
        b
    }

    #[test]
    fn the_open_req_version_number_is_read_where_the_spec_puts_it() {
        let o = OpenReq::from_spec();
        assert_eq!((o.msg_type, o.offset), (3, HEADER_LEN + 4));
        assert_eq!(o.version(&frame(&open_req(15, 8))), Some(15));
        assert_eq!(o.version(&frame(&open_req(15, 6))), None, "cut before the VersionNumber ends");
    }

    #[test]
    fn a_client_open_req_sets_the_version_of_its_connection_until_it_ends() {
        let mut v = Versions::new(None);
        let heartbeat = [0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 7];
        let msg = |dir, bytes| Event::Message { flow: flow(dir), frame: frame(bytes) };
        assert_eq!(v.choose(&msg(Direction::ToServer, &heartbeat)).unwrap().source, VersionSource::Assumed);
        // From the server an OPEN_REQ teaches nothing.
        let open = open_req(19, 8);
        assert_eq!(v.choose(&msg(Direction::ToClient, &open)).unwrap().source, VersionSource::Assumed);
        assert_eq!(
            v.choose(&msg(Direction::ToServer, &open)).map(|c| (c.version, c.source)),
            Some((19, VersionSource::Seen))
        );
        assert_eq!(
            v.choose(&msg(Direction::ToClient, &heartbeat)).map(|c| (c.version, c.source)),
            Some((19, VersionSource::Seen))
        );
        let end = Event::ConnectionEnd {
            conn: 1,
            end: crate::net::tcp::ConnEnd::Fin,
            by: None,
            frame: 2,
            ts_ns: 0,
        };
        assert_eq!(v.choose(&end), None);
        assert_eq!(v.choose(&msg(Direction::ToServer, &heartbeat)).unwrap().source, VersionSource::Assumed);
        // `--protocol-version` wins.
        let mut forced = Versions::new(Some(15));
        assert_eq!(
            forced.choose(&msg(Direction::ToServer, &open)).map(|c| (c.version, c.source)),
            Some((15, VersionSource::Forced))
        );
    }
}
