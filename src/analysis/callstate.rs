//! The state of each call connection a session's call events establish, kept with the call
//! in `calls`' table of live calls (one [`CallState`] per PeripheralID and
//! ConnectionCallID) so that following it costs no lookup of its own; `preconditions`
//! judges call-control requests against it.
//!
//! Followed only on a session that may send call-control requests (granted
//! CTI_SERVICE_CLIENT_CONTROL) and whose requests can be judged (captured from its start,
//! nothing lost either way): [`tracks_calls`]. For each connection with a static device
//! identifier (CONNECTION_ID_STATIC): alerting after CALL_DELIVERED_EVENT at the alerting
//! device, connected after CALL_ESTABLISHED_EVENT or CALL_RETRIEVED_EVENT, held after
//! CALL_HELD_EVENT at the holding device, gone after CALL_CONNECTION_CLEARED_EVENT or
//! CALL_CLEARED_EVENT, else the event's LocalConnectionState. A transfer, a conference, a
//! new call id (CALL_DATA_UPDATE_EVENT) or END_CALL_EVENT makes the calls unknown again
//! (`calls` drops their state). The devices of a call, for TRANSFER_CALL_REQ and
//! CONFERENCE_CALL_REQ, are those of its live connections and every device its events named
//! (alerting, answering, calling, called, holding, retrieving).

use super::state::{Conn, Msg};
use crate::cti::decode::{range_bytes, Decoded, Value};
use crate::cti::spec::fields::field;
use crate::cti::spec::values::connection_device_id_type::CONNECTION_ID_STATIC;
use crate::cti::spec::values::local_connection_state as lcs;
use crate::cti::spec::values::service_mask::CTI_SERVICE_CLIENT_CONTROL;
use crate::cti::spec::{FieldId, MessageType};
use smallvec::SmallVec;

/// Devices remembered per call, connections and named devices each (a call that names more
/// is not judged by `transfer-no-common-device`: a device in common may be among those
/// left out).
pub(crate) const MAX_DEVICES_PER_CALL: usize = 8;

/// Call-control requests remembered per call while their outcome is not known.
const MAX_FLUX: usize = 4;

/// The state of one call connection at one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Initiated,
    Alerting,
    Connected,
    Held,
    Queued,
    /// Cleared, failed or no relation to the device.
    Gone,
}

impl State {
    fn from_lcs(v: u64) -> Option<State> {
        Some(match u32::try_from(v).ok()? {
            lcs::LCS_NULL | lcs::LCS_FAIL => State::Gone,
            lcs::LCS_INITIATE => State::Initiated,
            lcs::LCS_ALERTING => State::Alerting,
            lcs::LCS_CONNECT => State::Connected,
            lcs::LCS_HOLD => State::Held,
            lcs::LCS_QUEUED => State::Queued,
            _ => return None,
        })
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            State::Initiated => "initiated",
            State::Alerting => "alerting",
            State::Connected => "connected",
            State::Held => "held",
            State::Queued => "queued",
            State::Gone => "cleared",
        }
    }
}

/// A device name as captured: most fit inline, so following a call allocates nothing.
type Device = SmallVec<[u8; 16]>;

/// A connection of a call: its device, its state and the frame of the event that set it.
pub(crate) type Connection = (Device, State, u64);

/// The connections of one call known from events.
#[derive(Debug, Default)]
pub(crate) struct CallState {
    pub devices: SmallVec<[Connection; 2]>,
    /// The call-control requests (InvokeIDs) that named the call after the last event
    /// that set a state and were not refused: the state may be changing.
    flux: SmallVec<[u32; 2]>,
    /// More such requests than [`MAX_FLUX`]: only an event ends the doubt.
    flux_full: bool,
    /// The other devices the call's events named (alerting, answering, calling, called,
    /// holding, retrieving), up to [`MAX_DEVICES_PER_CALL`]: a device in common with
    /// another call may be one of them.
    pub named: SmallVec<[Device; 2]>,
}

/// The fields of call events that name a device of the call (a route point the call was
/// redirected from is not one).
const DEVICE_FIELDS: [FieldId; 6] = [
    field::AlertingDeviceID,
    field::AnsweringDeviceID,
    field::CallingDeviceID,
    field::CalledDeviceID,
    field::HoldingDeviceID,
    field::RetrievingDeviceID,
];

/// [`DEVICE_FIELDS`] as bits of their ids (every id below 128, checked when compiled): the
/// test of each floating field of an event.
const DEVICE_BITS: u128 = {
    let mut bits = 0u128;
    let mut i = 0;
    while i < DEVICE_FIELDS.len() {
        let id = DEVICE_FIELDS[i].0;
        assert!(id < 128);
        bits |= 1 << id;
        i += 1;
    }
    bits
};

fn is_device_field(id: FieldId) -> bool {
    id.0 < 128 && DEVICE_BITS >> id.0 & 1 == 1
}

impl CallState {
    /// The state of the connection at `device`, and the frame that set it.
    pub(crate) fn get(&self, device: &[u8]) -> Option<(State, u64)> {
        self.devices.iter().find(|d| d.0[..] == *device).map(|d| (d.1, d.2))
    }

    fn set(&mut self, device: &[u8], s: Option<State>, frame: u64) {
        let i = self.devices.iter().position(|d| d.0[..] == *device);
        match (i, s) {
            (Some(i), Some(s)) => {
                self.devices[i].1 = s;
                self.devices[i].2 = frame;
            }
            (Some(i), None) => {
                self.devices.remove(i);
            }
            (None, Some(s)) if self.devices.len() < MAX_DEVICES_PER_CALL => {
                self.devices.push((Device::from_slice(device), s, frame));
            }
            _ => {}
        }
        self.settled();
    }

    /// An event set a state: no request is in doubt any more.
    fn settled(&mut self) {
        self.flux.clear();
        self.flux_full = false;
    }

    /// The state may be changing.
    pub(crate) fn in_flux(&self) -> bool {
        self.flux_full || !self.flux.is_empty()
    }

    /// A call-control request named the call.
    pub(crate) fn request(&mut self, invoke: Option<u32>) {
        match invoke {
            Some(i) if self.flux.len() < MAX_FLUX => self.flux.push(i),
            _ => self.flux_full = true,
        }
    }

    /// The call-control request `invoke` was refused: it changed nothing.
    pub(crate) fn refused(&mut self, invoke: u32) {
        self.flux.retain(|i| *i != invoke);
    }

    /// As many devices as are kept: a device in common with another call may have been
    /// left out.
    pub(crate) fn full(&self) -> bool {
        self.devices.len() >= MAX_DEVICES_PER_CALL || self.named.len() >= MAX_DEVICES_PER_CALL
    }

    /// Devices with a live connection to the call, and the devices its events named.
    pub(crate) fn devices_of(&self) -> impl Iterator<Item = &[u8]> {
        let live = self.devices.iter().filter(|d| d.1 != State::Gone).map(|d| &d.0[..]);
        live.chain(self.named.iter().map(|n| &n[..]))
    }

    /// Remember the devices an event names (one pass over its floating fields).
    fn learn(&mut self, d: &Decoded, bytes: &[u8]) {
        for f in d.floating_fields() {
            if self.named.len() >= MAX_DEVICES_PER_CALL {
                return;
            }
            let Value::Text { start, len } = f.value else { continue };
            if !is_device_field(f.meta.id) {
                continue;
            }
            let t = range_bytes(bytes, (start, len));
            if !t.is_empty() && !self.named.iter().any(|n| n[..] == *t) {
                self.named.push(Device::from_slice(t));
            }
        }
    }
}

/// The session's knowledge is whole: captured from its start, nothing lost either way.
pub(crate) fn whole(c: &Conn) -> bool {
    c.complete(0) && c.complete(1)
}

/// Whether the call states of this session are followed: it may send call-control
/// requests (CTI_SERVICE_CLIENT_CONTROL granted) and its requests can be judged (captured
/// from its start, nothing lost).
#[inline]
pub(crate) fn tracks_calls(c: &Conn) -> bool {
    c.services_granted.is_some_and(|s| s & CTI_SERVICE_CLIENT_CONTROL != 0) && whole(c)
}

/// Whether a call event makes its calls unknown: the calls a transfer or conference joins
/// (by PrimaryCallID and SecondaryCallID), a call that ended, a call given a new call id
/// (CALL_DATA_UPDATE_EVENT's NewConnectionCallID other than its ConnectionCallID). The
/// call ids to forget, if any.
pub(crate) fn forgets(id: MessageType, d: &Decoded) -> SmallVec<[u64; 2]> {
    let num = |n: FieldId| d.fixed(n).and_then(|f| f.number());
    let mut out = SmallVec::new();
    match id {
        MessageType::CALL_TRANSFERRED_EVENT | MessageType::CALL_CONFERENCED_EVENT => {
            out.extend([field::PrimaryCallID, field::SecondaryCallID].into_iter().filter_map(num));
        }
        MessageType::END_CALL_EVENT | MessageType::CALL_DATA_UPDATE_EVENT => {
            let renamed = id == MessageType::END_CALL_EVENT
                || num(field::NewConnectionCallID) != num(field::ConnectionCallID);
            if let (true, Some(call)) = (renamed, num(field::ConnectionCallID)) {
                out.push(call);
            }
        }
        _ => {}
    }
    out
}

/// Whether [`forgets`] may name calls for this message type.
#[inline]
pub(crate) fn may_forget(id: MessageType) -> bool {
    matches!(
        id,
        MessageType::CALL_TRANSFERRED_EVENT
            | MessageType::CALL_CONFERENCED_EVENT
            | MessageType::END_CALL_EVENT
            | MessageType::CALL_DATA_UPDATE_EVENT
    )
}

/// Any other call event of a followed session: the state it sets at its connection, whose
/// device type and device (`has_device`: the event carries ConnectionDeviceID) `calls`
/// read for the call's key. `slot` is the state of the event's call (every connection of
/// its PeripheralID and ConnectionCallID), created when a state is first set and dropped
/// when no connection's state is known. Out of line: inlined, it makes `calls`' handling
/// of every call event too large to stay inlined in turn (measured: 5.6 M more
/// instructions on a 20 MB capture).
#[inline(never)]
pub(crate) fn event(
    slot: &mut Option<Box<CallState>>,
    m: &Msg<'_, '_>,
    dev_type: u16,
    device: &[u8],
    has_device: bool,
) {
    let (d, bytes) = (m.d, m.frame.bytes);
    let (change, device_field): (Option<State>, Option<FieldId>) = match m.id {
        MessageType::CALL_DELIVERED_EVENT => (Some(State::Alerting), Some(field::AlertingDeviceID)),
        MessageType::CALL_ESTABLISHED_EVENT => (Some(State::Connected), Some(field::AnsweringDeviceID)),
        MessageType::CALL_HELD_EVENT => (Some(State::Held), Some(field::HoldingDeviceID)),
        MessageType::CALL_RETRIEVED_EVENT => (Some(State::Connected), Some(field::RetrievingDeviceID)),
        MessageType::CALL_CONNECTION_CLEARED_EVENT => (Some(State::Gone), Some(field::ReleasingDeviceID)),
        MessageType::CALL_CLEARED_EVENT => (Some(State::Gone), None),
        _ => (None, None),
    };
    let lcs = d.number_of(field::LocalConnectionState);
    if change.is_none() && lcs.is_none() {
        return;
    }
    if m.id == MessageType::CALL_CLEARED_EVENT {
        if let Some(cs) = slot {
            for dev in cs.devices.iter_mut() {
                dev.1 = State::Gone;
                dev.2 = m.fr;
            }
            cs.settled();
        }
        return;
    }
    if !has_device || dev_type != CONNECTION_ID_STATIC as u16 {
        // Without the connection's static device the call's state is no longer known.
        *slot = None;
        return;
    }
    // The event's device (alerting, answering, holding...) is this connection's: the
    // change applies; else its LocalConnectionState says, if it is a state.
    let at_device = device_field.and_then(|id| d.get(id)).is_some_and(|f| match f.value {
        Value::Text { start, len } => range_bytes(bytes, (start, len)) == device,
        _ => false,
    });
    let state = if at_device { change } else { lcs.and_then(State::from_lcs) };
    let cs = match slot {
        Some(cs) => cs,
        None if state.is_some() => slot.insert(Box::default()),
        None => return,
    };
    cs.set(device, state, m.fr);
    if matches!(
        m.id,
        MessageType::CALL_DELIVERED_EVENT
            | MessageType::CALL_ESTABLISHED_EVENT
            | MessageType::CALL_ORIGINATED_EVENT
    ) {
        cs.learn(d, bytes);
    }
    if cs.devices.is_empty() {
        *slot = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_device_bits_are_the_device_fields() {
        // Every field id of the dictionary, and ids past it.
        let n = crate::cti::spec::fields::FIELDS.len() as u16 + 200;
        let found: Vec<FieldId> = (0..n).map(FieldId).filter(|&id| is_device_field(id)).collect();
        let mut want = DEVICE_FIELDS.to_vec();
        want.sort_by_key(|id| id.0);
        assert_eq!(found, want);
    }

    #[test]
    fn every_local_connection_state_has_its_state() {
        let want = [
            (lcs::LCS_NULL, Some(State::Gone)),
            (lcs::LCS_INITIATE, Some(State::Initiated)),
            (lcs::LCS_ALERTING, Some(State::Alerting)),
            (lcs::LCS_CONNECT, Some(State::Connected)),
            (lcs::LCS_HOLD, Some(State::Held)),
            (lcs::LCS_QUEUED, Some(State::Queued)),
            (lcs::LCS_FAIL, Some(State::Gone)),
            (lcs::LCS_NONE, None),
            (7, None),
        ];
        for (v, s) in want {
            assert_eq!(State::from_lcs(u64::from(v)), s, "{v}");
        }
        assert_eq!(State::from_lcs(1 << 32), None, "a value past 32 bits is no state");
        assert_eq!(State::from_lcs((1 << 32) | 4), None);
        let words: Vec<_> =
            [State::Initiated, State::Alerting, State::Connected, State::Held, State::Queued, State::Gone]
                .map(State::describe)
                .to_vec();
        assert_eq!(words, ["initiated", "alerting", "connected", "held", "queued", "cleared"]);
    }

    #[test]
    fn a_call_state_keeps_one_entry_per_device_and_its_doubts() {
        let mut cs = CallState::default();
        assert_eq!(cs.get(b"1001"), None);
        cs.set(b"1001", Some(State::Alerting), 3);
        cs.set(b"2002", Some(State::Connected), 4);
        assert_eq!(cs.get(b"1001"), Some((State::Alerting, 3)));
        assert_eq!(cs.get(b"100"), None, "a device is named whole");
        // A request puts the call in doubt until the next event sets a state.
        assert!(!cs.in_flux());
        cs.request(Some(9));
        assert!(cs.in_flux());
        cs.set(b"1001", Some(State::Connected), 5);
        assert_eq!(cs.get(b"1001"), Some((State::Connected, 5)));
        assert!(!cs.in_flux(), "an event settles the doubt");
        // A refusal ends the doubt of its request only.
        cs.request(Some(1));
        cs.request(Some(2));
        cs.refused(1);
        assert!(cs.in_flux() && cs.flux[..] == [2]);
        cs.refused(2);
        assert!(!cs.in_flux());
        // More requests than are remembered: only an event ends the doubt.
        for i in 0..=MAX_FLUX as u32 {
            cs.request(Some(i));
        }
        assert!(cs.flux_full && cs.flux.len() == MAX_FLUX);
        cs.flux.clear();
        assert!(cs.in_flux(), "a full list stays in doubt when emptied");
        cs.request(None);
        cs.settled();
        assert!(!cs.in_flux() && cs.flux.is_empty());
        cs.request(None);
        assert!(cs.flux_full && cs.flux.is_empty(), "a request without InvokeID is a doubt no answer ends");
        // No state: the device is forgotten.
        cs.set(b"2002", None, 6);
        assert_eq!(cs.get(b"2002"), None);
        assert_eq!(cs.devices.len(), 1);
        cs.set(b"3003", None, 6);
        assert_eq!(cs.devices.len(), 1, "no state for an unknown device adds nothing");
        // At most MAX_DEVICES_PER_CALL devices.
        assert!(!cs.full());
        for i in 0..2 * MAX_DEVICES_PER_CALL {
            cs.set(format!("9{i}").as_bytes(), Some(State::Held), 7);
        }
        assert_eq!(cs.devices.len(), MAX_DEVICES_PER_CALL);
        assert!(cs.full());
        assert_eq!(cs.get(b"90"), Some((State::Held, 7)));
        // Devices of the call: live connections, then the named ones; cleared ones are not.
        let mut cs = CallState::default();
        cs.set(b"1001", Some(State::Connected), 1);
        cs.set(b"2002", Some(State::Gone), 1);
        cs.named.push(Device::from_slice(b"3003"));
        let devs: Vec<&[u8]> = cs.devices_of().collect();
        assert_eq!(devs, [&b"1001"[..], &b"3003"[..]]);
        for i in 1..MAX_DEVICES_PER_CALL {
            assert!(!cs.full(), "{i} named");
            cs.named.push(Device::from_slice(format!("8{i}").as_bytes()));
        }
        assert!(cs.full(), "as many named devices as are kept");
    }

    #[test]
    fn a_call_learns_the_devices_its_events_name() {
        use crate::cti::encode::MessageBuilder;
        let mut m = MessageBuilder::named("CALL_DELIVERED_EVENT", 24);
        m.set("ConnectionCallID", 7).unwrap();
        m.text("ConnectionDeviceID", "1001").unwrap();
        m.text("AlertingDeviceID", "1001").unwrap();
        m.text("CallingDeviceID", "5551").unwrap();
        m.text("CalledDeviceID", "1001").unwrap();
        m.text("LastRedirectDeviceID", "7777").unwrap();
        let frame = m.build();
        let d = crate::cti::decode::decode(&frame, 24, crate::cti::decode::VersionSource::Forced);
        let mut cs = CallState::default();
        cs.learn(&d, &frame);
        let named: Vec<&[u8]> = cs.named.iter().map(|n| &n[..]).collect();
        // Each device once, in wire order; the connection's own device and a redirecting
        // route point are not among them.
        assert_eq!(named, [&b"1001"[..], &b"5551"[..]]);
        // At most MAX_DEVICES_PER_CALL.
        let mut cs = CallState::default();
        for i in 0..MAX_DEVICES_PER_CALL - 1 {
            cs.named.push(Device::from_slice(format!("8{i}").as_bytes()));
        }
        cs.learn(&d, &frame);
        assert_eq!(cs.named.len(), MAX_DEVICES_PER_CALL);
        assert_eq!(&cs.named[MAX_DEVICES_PER_CALL - 1][..], b"1001");
    }

    #[test]
    fn the_events_that_forget_calls_name_them() {
        use crate::cti::encode::MessageBuilder;
        let decoded = |name: &str, fields: &[(&str, u64)]| {
            let mut m = MessageBuilder::named(name, 24);
            for (f, v) in fields {
                m.set(*f, *v).unwrap();
            }
            let frame = m.build();
            let d = crate::cti::decode::decode(&frame, 24, crate::cti::decode::VersionSource::Forced);
            (d.message_type(), forgets(d.message_type(), &d).to_vec())
        };
        let (id, ids) = decoded("CALL_TRANSFERRED_EVENT", &[("PrimaryCallID", 7), ("SecondaryCallID", 9)]);
        assert!(may_forget(id));
        assert_eq!(ids, [7, 9]);
        let (id, ids) = decoded("CALL_CONFERENCED_EVENT", &[("PrimaryCallID", 3), ("SecondaryCallID", 4)]);
        assert!(may_forget(id));
        assert_eq!(ids, [3, 4]);
        assert_eq!(decoded("END_CALL_EVENT", &[("ConnectionCallID", 7)]).1, [7]);
        let renamed = [("ConnectionCallID", 7), ("NewConnectionCallID", 8)];
        assert_eq!(decoded("CALL_DATA_UPDATE_EVENT", &renamed).1, [7]);
        let same = [("ConnectionCallID", 7), ("NewConnectionCallID", 7)];
        assert!(decoded("CALL_DATA_UPDATE_EVENT", &same).1.is_empty(), "the same call id");
        let (id, ids) = decoded("CALL_HELD_EVENT", &[("ConnectionCallID", 7)]);
        assert!(!may_forget(id) && ids.is_empty());
        for m in crate::cti::spec::messages() {
            let want = matches!(
                m.name,
                "CALL_TRANSFERRED_EVENT"
                    | "CALL_CONFERENCED_EVENT"
                    | "END_CALL_EVENT"
                    | "CALL_DATA_UPDATE_EVENT"
            );
            assert_eq!(may_forget(m.id), want, "{}", m.name);
        }
    }
}
