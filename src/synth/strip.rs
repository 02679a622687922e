//! The `drop-field` fault on a built message: every occurrence of one floating field is
//! cut out of the floating part and MessageLength shrinks to match, as if the sender had
//! never written the field.

use super::config::DropField;
use crate::cti::framing::{parse_header, HEADER_LEN};
use crate::cti::spec::{self, versions::TWO_BYTE_FLOATING_SINCE};

/// `frame` (a whole message at protocol `version`) without the field `drop` names; `None`
/// when the message does not carry it (or is not of the fault's message type).
///
/// The floating part is walked with the version's tag and length widths; a floating part
/// that does not walk to its end is left as it is from the first field that overruns it.
pub fn drop_floating(frame: &[u8], version: u32, drop: &DropField) -> Option<Vec<u8>> {
    let (len, ty) = parse_header(frame)?;
    let m = spec::message(ty, Some(version))?;
    if !drop.applies_to(m) {
        return None;
    }
    let mut tags = m.floating.iter().filter(|f| f.id == drop.field).filter_map(|f| f.tag).peekable();
    tags.peek()?;
    let tags: Vec<u16> = tags.collect();
    let end = (HEADER_LEN + len as usize).min(frame.len());
    let start = HEADER_LEN + spec::fixed_size(m, version);
    if start > end {
        return None;
    }
    let two = version >= TWO_BYTE_FLOATING_SINCE;
    let head = if two { 4 } else { 2 };
    let mut out = Vec::with_capacity(frame.len());
    out.extend_from_slice(&frame[..start]);
    let mut at = start;
    let mut dropped = false;
    while at + head <= end {
        let (tag, flen) = if two {
            (
                u16::from_be_bytes([frame[at], frame[at + 1]]),
                usize::from(u16::from_be_bytes([frame[at + 2], frame[at + 3]])),
            )
        } else {
            (u16::from(frame[at]), usize::from(frame[at + 1]))
        };
        let next = at + head + flen;
        if next > end {
            break;
        }
        if tags.contains(&tag) {
            dropped = true;
        } else {
            out.extend_from_slice(&frame[at..next]);
        }
        at = next;
    }
    if !dropped {
        return None;
    }
    out.extend_from_slice(&frame[at..]);
    let body = (out.len() - HEADER_LEN) as u32;
    out[..4].copy_from_slice(&body.to_be_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cti::decode::{decode, VersionSource};
    use crate::cti::encode::MessageBuilder;
    use crate::cti::spec::fields::field;
    use crate::cti::spec::MessageType;

    fn event(v: u32) -> Vec<u8> {
        let mut m = MessageBuilder::for_type(MessageType::AGENT_STATE_EVENT, v);
        m.set(field::NumFltSkillGroups, 1).unwrap();
        m.set(field::PeripheralType, u64::from(crate::synth::msgs::PERIPHERAL_TYPE)).unwrap();
        m.text(field::AgentID, "1001").unwrap();
        m.number(field::Direction, 0).unwrap();
        m.number(field::FltSkillGroupNumber, 100).unwrap();
        m.number(field::FltSkillGroupID, 5100).unwrap();
        m.number(field::FltSkillGroupPriority, 0).unwrap();
        m.number(field::FltSkillGroupState, 3).unwrap();
        if v >= 22 {
            m.number(field::MaxBeyondTaskLimit, 0).unwrap();
        }
        m.build()
    }

    #[test]
    fn the_field_goes_and_the_length_follows() {
        for v in [16, 19, 20, 24] {
            let frame = event(v);
            assert!(decode(&frame, v, VersionSource::Forced).anomalies.is_empty(), "v{v}");
            let drop = DropField::parse("Direction").unwrap();
            let out = drop_floating(&frame, v, &drop).expect("carries Direction");
            let head = if v >= 20 { 4 } else { 2 };
            assert_eq!(out.len(), frame.len() - head - 4, "v{v}");
            let d = decode(&out, v, VersionSource::Forced);
            assert!(d.get(field::Direction).is_none(), "v{v}");
            let codes: Vec<_> = d.anomalies.iter().map(|a| (a.code, a.field)).collect();
            assert_eq!(codes, vec![("required_missing", Some("Direction"))], "v{v}");
            assert_eq!(d.text(&out, "AgentID").as_deref(), Some("1001"));
            // Nothing left to drop the second time.
            assert_eq!(drop_floating(&out, v, &drop), None);
        }
    }

    #[test]
    fn only_the_named_message_and_only_floating_fields() {
        let frame = event(24);
        let other = DropField::parse("AGENT_STATE_EVENT.AgentID").unwrap();
        assert!(drop_floating(&frame, 24, &other).is_some());
        let elsewhere = DropField::parse("OPEN_REQ.AgentID").unwrap();
        assert_eq!(drop_floating(&frame, 24, &elsewhere), None);
        let hb = MessageBuilder::for_type(MessageType::HEARTBEAT_REQ, 24).build();
        assert_eq!(drop_floating(&hb, 24, &DropField::parse("AgentID").unwrap()), None);
        assert!(DropField::parse("InvokeID").unwrap_err().contains("not a floating field"));
        assert!(DropField::parse("HEARTBEAT_REQ.AgentID")
            .unwrap_err()
            .contains("not a floating field of HEARTBEAT_REQ"));
        assert!(DropField::parse("direction").unwrap_err().contains("did you mean Direction"));
        assert!(DropField::parse("NO_SUCH_EVENT.Direction").unwrap_err().contains("no message"));
        // Every repeat of a repeated field goes.
        let sg = DropField::parse("FltSkillGroupID").unwrap();
        let out = drop_floating(&frame, 24, &sg).unwrap();
        assert_eq!(out.len(), frame.len() - 8);
    }
}
