//! Capture scenarios for the integration tests: small, deterministic CTI conversations
//! written as real pcap / pcapng bytes with the crate's own writers.

#![allow(dead_code)]

pub mod dialects;
pub mod messages;
mod run;
#[allow(unused_imports)]
pub use run::*;

use ctiscope::capture::build::{tcp_frame, Link, TcpSpec};
use ctiscope::capture::write::{PcapNgWriter, PcapWriter};
use ctiscope::cti::encode::MessageBuilder;
use std::net::SocketAddr;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

/// A packet to write: timestamp and link-layer frame.
pub type Pkt = (i64, Vec<u8>);

/// One TCP conversation between a CTI client and server.
pub struct Conv {
    pub link: Link,
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// Next sequence number of each side (client, server).
    pub seq: [u32; 2],
    pub ts: i64,
    pub pkts: Vec<Pkt>,
}

pub const C: usize = 0;
pub const S: usize = 1;

impl Conv {
    pub fn new(link: Link, client: &str, server: &str, isn: [u32; 2], ts: i64) -> Self {
        Conv {
            link,
            client: client.parse().unwrap(),
            server: server.parse().unwrap(),
            seq: isn,
            ts,
            pkts: Vec::new(),
        }
    }

    fn ends(&self, side: usize) -> (SocketAddr, SocketAddr) {
        if side == C {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        }
    }

    /// Build a segment from `side` without advancing anything.
    pub fn segment(&self, side: usize, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let (src, dst) = self.ends(side);
        let ack = self.seq[1 - side];
        tcp_frame(self.link, &TcpSpec { src, dst, seq, ack, flags, payload })
    }

    pub fn push(&mut self, frame: Vec<u8>) {
        self.ts += 1_000_000; // 1 ms between packets
        self.pkts.push((self.ts, frame));
    }

    pub fn handshake(&mut self) {
        let syn = self.segment(C, self.seq[C], SYN, &[]);
        self.push(syn);
        self.seq[C] = self.seq[C].wrapping_add(1);
        let (src, dst) = self.ends(S);
        let synack = tcp_frame(
            self.link,
            &TcpSpec { src, dst, seq: self.seq[S], ack: self.seq[C], flags: SYN | ACK, payload: &[] },
        );
        self.push(synack);
        self.seq[S] = self.seq[S].wrapping_add(1);
        let ack = self.segment(C, self.seq[C], ACK, &[]);
        self.push(ack);
    }

    /// Send bytes from `side`, cut into segments of at most `mss` bytes.
    pub fn send(&mut self, side: usize, bytes: &[u8], mss: usize) {
        for chunk in bytes.chunks(mss.max(1)) {
            let f = self.segment(side, self.seq[side], PSH | ACK, chunk);
            self.push(f);
            self.seq[side] = self.seq[side].wrapping_add(chunk.len() as u32);
        }
    }

    /// A pure ACK from `side`.
    pub fn ack(&mut self, side: usize) {
        let f = self.segment(side, self.seq[side], ACK, &[]);
        self.push(f);
    }

    /// Advance `side`'s sequence without capturing the bytes (a lost segment).
    pub fn lose(&mut self, side: usize, len: u32) {
        self.seq[side] = self.seq[side].wrapping_add(len);
    }

    pub fn close(&mut self) {
        for side in [C, S] {
            let f = self.segment(side, self.seq[side], FIN | ACK, &[]);
            self.push(f);
            self.seq[side] = self.seq[side].wrapping_add(1);
        }
        self.ack(C);
    }
}

/// CTI messages of a short agent desktop session at protocol version `v`.
pub fn desktop_session(v: u32) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut open = MessageBuilder::named("OPEN_REQ", v);
    open.set("InvokeID", 1).unwrap().set("VersionNumber", v as u64).unwrap();
    open.set("IdleTimeout", 120).unwrap().set("PeripheralID", 5000).unwrap();
    open.set("ServicesRequested", 0x7).unwrap().set("CallMsgMask", 0xffff).unwrap();
    open.set("AgentStateMask", 0x3ff).unwrap();
    open.text("ClientID", "desk1").unwrap().bytes("ClientPassword", b"").unwrap();
    open.text("AgentExtension", "3001").unwrap().text("AgentID", "1001").unwrap();
    let mut conf = MessageBuilder::named("OPEN_CONF", v);
    conf.set("InvokeID", 1).unwrap().set("ServicesGranted", 0x7).unwrap();
    conf.set("PeripheralOnline", 1).unwrap().set("PeripheralType", 17).unwrap().set("AgentState", 2).unwrap();
    conf.number("NumPeripherals", 0).unwrap();
    let mut hb = MessageBuilder::named("HEARTBEAT_REQ", v);
    hb.set("InvokeID", 2).unwrap();
    let mut hbc = MessageBuilder::named("HEARTBEAT_CONF", v);
    hbc.set("InvokeID", 2).unwrap();
    let mut st = MessageBuilder::named("AGENT_STATE_EVENT", v);
    st.set("PeripheralID", 5000).unwrap().set("AgentState", 3).unwrap().set("PeripheralType", 17).unwrap();
    st.text("AgentID", "1001").unwrap().text("AgentExtension", "3001").unwrap();
    if v >= 16 {
        st.number("Direction", 0).unwrap();
    }
    if v >= 22 {
        st.number("MaxBeyondTaskLimit", 0).unwrap();
    }
    let mut begin = MessageBuilder::named("BEGIN_CALL_EVENT", v);
    begin.set("PeripheralID", 5000).unwrap().set("ConnectionCallID", 77).unwrap();
    begin.set("ConnectionDeviceIDType", 0).unwrap().set("CallType", 1).unwrap();
    begin.set("PeripheralType", 17).unwrap();
    begin.text("ConnectionDeviceID", "3001").unwrap().text("ANI", "+14155550123").unwrap();
    begin.text("DNIS", "8005550100").unwrap();
    begin.named_var("user.account", "42").unwrap();
    begin.set("NumNamedVariables", 1).unwrap();
    let mut end = MessageBuilder::named("END_CALL_EVENT", v);
    end.set("PeripheralID", 5000).unwrap().set("ConnectionCallID", 77).unwrap();
    end.set("ConnectionDeviceIDType", 0).unwrap().set("PeripheralType", 17).unwrap();
    end.text("ConnectionDeviceID", "3001").unwrap();
    let mut close = MessageBuilder::named("CLOSE_REQ", v);
    close.set("InvokeID", 3).unwrap();
    let mut closec = MessageBuilder::named("CLOSE_CONF", v);
    closec.set("InvokeID", 3).unwrap();
    let client = vec![open.build(), hb.build(), close.build()];
    let server = vec![conf.build(), hbc.build(), st.build(), begin.build(), end.build(), closec.build()];
    (client, server)
}

/// The conversation of [`desktop_session`], each message in its own write, with the
/// given MSS; client and server messages interleaved as a real session would.
pub fn desktop_conv(link: Link, client: &str, server: &str, v: u32, mss: usize, ts: i64) -> Conv {
    let (cm, sm) = desktop_session(v);
    let mut c = Conv::new(link, client, server, [1000, 0xffff_fff0], ts);
    c.handshake();
    c.send(C, &cm[0], mss);
    c.send(S, &sm[0], mss);
    c.send(C, &cm[1], mss);
    c.send(S, &sm[1], mss);
    c.send(S, &sm[2], mss);
    c.send(S, &sm[3], mss);
    c.send(S, &sm[4], mss);
    c.send(C, &cm[2], mss);
    c.send(S, &sm[5], mss);
    c.close();
    c
}

pub fn pcap_bytes(linktype: u32, pkts: &[Pkt]) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), linktype, 65535).unwrap();
    for (ts, p) in pkts {
        w.write_packet(*ts, p).unwrap();
    }
    w.into_inner()
}

pub fn pcapng_bytes(linktype: u32, pkts: &[Pkt]) -> Vec<u8> {
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    let i = w.add_interface(linktype, 65535).unwrap();
    for (ts, p) in pkts {
        w.write_packet(i, *ts, p).unwrap();
    }
    w.into_inner()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}
