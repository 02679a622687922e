//! Sessions in the dialects of real implementations: fixed parts of a neighbouring
//! protocol version (DepartmentID missing at 19, SessionType missing at 24, DepartmentID
//! already at 18), built with the encoder and written as real captures.

use super::{pcap_bytes, Conv, C, S};
use ctiscope::capture::build::Link;
use ctiscope::cti::encode::MessageBuilder;

/// How an implementation lays out the messages whose fixed parts changed.
#[derive(Clone, Copy)]
pub struct Dialect {
    /// Protocol version of the session (OPEN_REQ.VersionNumber).
    pub version: u32,
    /// The version whose fixed part its OPEN_CONF has.
    pub open_conf: u32,
    /// The version whose fixed part its AGENT_STATE_EVENT and QUERY_AGENT_STATE_CONF have.
    pub agent_state: u32,
}

pub fn open_req(v: u32) -> Vec<u8> {
    let mut b = MessageBuilder::named("OPEN_REQ", v);
    b.set("InvokeID", 1).unwrap().set("VersionNumber", u64::from(v)).unwrap();
    b.set("IdleTimeout", 120).unwrap().set("PeripheralID", 5000).unwrap();
    b.set("ServicesRequested", 0x7).unwrap().set("CallMsgMask", 0xffff).unwrap();
    b.set("AgentStateMask", 0x3ff).unwrap();
    b.text("ClientID", "desk1").unwrap().bytes("ClientPassword", b"").unwrap();
    b.text("AgentExtension", "3001").unwrap().text("AgentID", "1001").unwrap();
    b.build()
}

pub fn open_conf(d: Dialect) -> Vec<u8> {
    let mut b = MessageBuilder::named("OPEN_CONF", d.version).with_fixed_part_of(d.open_conf);
    b.set("InvokeID", 1).unwrap().set("ServicesGranted", 0x7).unwrap();
    b.set("PeripheralOnline", 1).unwrap().set("PeripheralType", 17).unwrap().set("AgentState", 2).unwrap();
    b.number("NumPeripherals", 0).unwrap();
    if d.open_conf >= 19 {
        b.set("DepartmentID", 12).unwrap();
    }
    if d.open_conf >= 24 {
        b.set("SessionType", 1).unwrap();
    }
    b.text("AgentID", "1001").unwrap().text("AgentExtension", "3001").unwrap();
    b.build()
}

pub fn agent_state(d: Dialect, state: u64) -> Vec<u8> {
    let mut b = MessageBuilder::named("AGENT_STATE_EVENT", d.version).with_fixed_part_of(d.agent_state);
    b.set("PeripheralID", 5000).unwrap().set("AgentState", state).unwrap().set("PeripheralType", 17).unwrap();
    if d.agent_state >= 19 {
        b.set("DepartmentID", 12).unwrap();
    }
    b.text("AgentID", "1001").unwrap().text("AgentExtension", "3001").unwrap();
    if d.version >= 16 {
        b.number("Direction", 0).unwrap();
    }
    if d.version >= 22 {
        b.number("MaxBeyondTaskLimit", 0).unwrap();
    }
    b.build()
}

pub fn query(d: Dialect) -> (Vec<u8>, Vec<u8>) {
    let mut q = MessageBuilder::named("QUERY_AGENT_STATE_REQ", d.version);
    q.set("InvokeID", 5).unwrap().set("PeripheralID", 5000).unwrap();
    q.text("AgentInstrument", "3001").unwrap();
    let mut c = MessageBuilder::named("QUERY_AGENT_STATE_CONF", d.version).with_fixed_part_of(d.agent_state);
    c.set("InvokeID", 5).unwrap().set("AgentState", 3).unwrap();
    if d.agent_state >= 19 {
        c.set("DepartmentID", 12).unwrap();
    }
    c.text("AgentID", "1001").unwrap().text("AgentExtension", "3001").unwrap();
    if d.version >= 19 {
        c.number("InternalAgentState", 3).unwrap();
    }
    if d.version >= 22 {
        c.number("MaxBeyondTaskLimit", 0).unwrap();
    }
    (q.build(), c.build())
}

/// A desktop's connection to the CTI server, after its handshake.
pub fn desktop_connection() -> Conv {
    let mut c = Conv::new(
        Link::Ethernet,
        "10.0.0.5:50000",
        "10.0.0.1:42027",
        [1000, 5000],
        1_700_000_000_000_000_000,
    );
    c.handshake();
    c
}

/// A desktop session in `d`'s dialect; without `with_open_req` the client's OPEN_REQ is not
/// in the capture (the server's answer is).
pub fn capture(d: Dialect, with_open_req: bool) -> std::path::PathBuf {
    let mut c = desktop_connection();
    if with_open_req {
        c.send(C, &open_req(d.version), 1460);
    } else {
        c.lose(C, open_req(d.version).len() as u32);
    }
    c.send(S, &open_conf(d), 1460);
    c.send(S, &agent_state(d, 3), 1460);
    let (q, qc) = query(d);
    c.send(C, &q, 1460);
    c.send(S, &qc, 1460);
    c.send(S, &agent_state(d, 2), 1460);
    c.send(S, &agent_state(d, 3), 1460);
    c.close();
    let dir = std::env::temp_dir().join(format!("ctiscope-variants-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let name = format!("v{}-conf{}-state{}-{}.pcap", d.version, d.open_conf, d.agent_state, with_open_req);
    let path = dir.join(name);
    std::fs::write(&path, pcap_bytes(1, &c.pkts)).unwrap();
    path
}

/// The public PV19 codec: OPEN_CONF and AGENT_STATE_EVENT without DepartmentID.
pub const PV19_WITHOUT_DEPARTMENT: Dialect = Dialect { version: 19, open_conf: 18, agent_state: 18 };
/// A PV24 server whose OPEN_CONF ends before SessionType.
pub const PV24_WITHOUT_SESSION_TYPE: Dialect = Dialect { version: 24, open_conf: 23, agent_state: 24 };
/// A PV18 server that already sends DepartmentID.
pub const PV18_WITH_DEPARTMENT: Dialect = Dialect { version: 18, open_conf: 19, agent_state: 19 };
/// A PV24 server without DepartmentID anywhere (2-byte floating headers, PV18 fixed parts).
pub const PV24_WITHOUT_DEPARTMENT: Dialect = Dialect { version: 24, open_conf: 18, agent_state: 18 };
