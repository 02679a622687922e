//! What the generator reports besides the capture: the truth file (one JSON line per
//! injected fault), the message truth file (one JSON line per message written), and, for
//! tests, the messages themselves.

use crate::cti::spec::fields::field;
use std::io::{self, Write};

/// One message as an application wrote it (before TCP), for tests.
#[derive(Debug, Clone)]
pub struct GeneratedMessage {
    pub connection: u32,
    /// "client->server" or "server->client".
    pub direction: &'static str,
    pub version: u32,
    pub bytes: Vec<u8>,
    /// The protocol fault injected into this message, if any.
    pub fault: Option<&'static str>,
}

/// A protocol fault carried by a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtoFault {
    Unanswered { invoke: u32 },
    AfterEnd { call: u32 },
    Oversize,
    BadCount,
}

impl ProtoFault {
    pub fn name(self) -> &'static str {
        match self {
            ProtoFault::Unanswered { .. } => "unanswered",
            ProtoFault::AfterEnd { .. } => "after-end",
            ProtoFault::Oversize => "oversize",
            ProtoFault::BadCount => "bad-count",
        }
    }

    /// The fault's own members of its truth line (after `"captured"`).
    fn detail(self) -> String {
        match self {
            ProtoFault::Unanswered { invoke } => format!(",\"invoke_id\":{invoke}"),
            ProtoFault::AfterEnd { call } => format!(",\"call_id\":{call}"),
            ProtoFault::Oversize => format!(",\"field\":\"{}\"", field::CallVariable1.name()),
            ProtoFault::BadCount => format!(",\"field\":\"{}\"", field::NumNamedVariables.name()),
        }
    }
}

/// A message whose last byte has gone out: where it is in the stream and the capture.
pub struct MessageRecord<'r> {
    pub connection: u32,
    pub direction: &'static str,
    pub type_name: &'r str,
    pub type_id: u32,
    pub stream_offset: u64,
    pub length: u64,
    pub first_frame: u64,
    pub last_frame: u64,
    /// Every byte of it is in the capture.
    pub captured: bool,
    pub fault: Option<ProtoFault>,
}

/// The truth outputs, each optional.
pub struct Truth<'a> {
    faults: Option<&'a mut dyn Write>,
    messages: Option<&'a mut dyn Write>,
    collected: Option<Vec<GeneratedMessage>>,
}

impl<'a> Truth<'a> {
    pub fn new(
        faults: Option<&'a mut dyn Write>,
        messages: Option<&'a mut dyn Write>,
        collect: bool,
    ) -> Self {
        Truth { faults, messages, collected: collect.then(Vec::new) }
    }

    /// Is the fault truth file written (worth formatting its lines)?
    pub fn wants_faults(&self) -> bool {
        self.faults.is_some()
    }

    /// Is the message truth file written?
    pub fn wants_messages(&self) -> bool {
        self.messages.is_some()
    }

    /// One line of the fault truth file.
    pub fn fault(&mut self, line: &str) -> io::Result<()> {
        if let Some(t) = &mut self.faults {
            writeln!(t, "{line}")?;
        }
        Ok(())
    }

    /// Keeps a copy of a message written, when collecting.
    pub fn collecting(&mut self) -> Option<&mut Vec<GeneratedMessage>> {
        self.collected.as_mut()
    }

    /// The message truth line of a message, and the fault line of its protocol fault.
    pub fn message(&mut self, r: &MessageRecord<'_>) -> io::Result<()> {
        let (id, dir, name) = (r.connection, r.direction, r.type_name);
        if let Some(t) = &mut self.messages {
            writeln!(
                t,
                "{{\"connection\":{id},\"direction\":\"{dir}\",\"type\":\"{name}\",\"type_id\":{},\"stream_offset\":{},\"length\":{},\"first_frame\":{},\"last_frame\":{},\"captured\":{}}}",
                r.type_id, r.stream_offset, r.length, r.first_frame, r.last_frame, r.captured
            )?;
        }
        if let Some(f) = r.fault {
            self.fault(&format!(
                "{{\"fault\":\"{}\",\"frame\":{},\"connection\":{id},\"direction\":\"{dir}\",\"stream_offset\":{},\"length\":{},\"type\":\"{name}\",\"captured\":{}{}}}",
                f.name(),
                r.first_frame,
                r.stream_offset,
                r.length,
                r.captured,
                f.detail()
            ))?;
        }
        Ok(())
    }

    /// Flushes both files; returns the collected messages.
    pub fn finish(self) -> io::Result<Vec<GeneratedMessage>> {
        if let Some(t) = self.faults {
            t.flush()?;
        }
        if let Some(t) = self.messages {
            t.flush()?;
        }
        Ok(self.collected.unwrap_or_default())
    }
}
