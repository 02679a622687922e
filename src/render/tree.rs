//! The `-V` tree: every field with its byte offset and length in the frame, values named.

use crate::cti::decode::{Decoded, Part};
use crate::cti::framing::Frame;
use crate::pipeline::Flow;
use crate::render::{time, value};
use std::io::{self, Write};

/// Write the tree of one message.
pub fn write_tree(w: &mut dyn Write, flow: &Flow, frame: &Frame<'_>, d: &Decoded) -> io::Result<()> {
    let frames = if frame.first_frame == frame.last_frame {
        format!("Frame {}", frame.last_frame)
    } else {
        format!("Frame {} (bytes from frames {}-{})", frame.last_frame, frame.first_frame, frame.last_frame)
    };
    writeln!(
        w,
        "{frames}, {} UTC, connection {} {}",
        time::format_utc(frame.ts_ns, 9),
        flow.conn,
        flow.dir.as_str()
    )?;
    writeln!(w, "    {} → {}, stream offset {}", flow.src, flow.dst, frame.offset)?;
    let name = d.type_name().unwrap_or("UNKNOWN");
    let table = d.spec.and_then(|s| s.table).map(|t| format!(", guide table {t}")).unwrap_or_default();
    writeln!(
        w,
        "CTI Server Protocol, {name} ({}), {} bytes, protocol version {} ({}){table}",
        d.msg_type,
        frame.bytes.len(),
        d.version,
        d.version_source.map_or("?", |s| s.as_str())
    )?;
    if let (Some(v), Some(spec)) = (d.variant, d.spec) {
        writeln!(w, "    Layout: {}", v.describe(spec, d.version))?;
    }
    writeln!(w, "    Header")?;
    writeln!(w, "        {:<8}MessageLength: {}", "0+4", frame.length)?;
    writeln!(w, "        {:<8}MessageType: {name} ({})", "4+4", d.msg_type)?;
    let bytes = frame.bytes;
    let mut section: Option<Part> = None;
    let mut group: Option<(&str, u16)> = None;
    for f in &d.fields {
        if section != Some(f.part()) {
            section = Some(f.part());
            group = None;
            writeln!(w, "    {} part", if f.part() == Part::Fixed { "Fixed" } else { "Floating" })?;
        }
        if f.group() != group {
            if let Some((g, i)) = f.group() {
                writeln!(w, "        {g} [{i}]")?;
            }
            group = f.group();
        }
        let indent = if group.is_some() { "            " } else { "        " };
        let pos = format!("{}+{}", f.offset, f.len);
        let tag = match f.tag {
            Some(t) => format!(" (tag {t})"),
            None => String::new(),
        };
        writeln!(w, "{indent}{pos:<8}{}{tag}: {}", f.name(), value::display(f, bytes))?;
    }
    if !d.anomalies.is_empty() {
        writeln!(w, "    Anomalies")?;
        for a in &d.anomalies {
            writeln!(w, "        @{} [{}] {}", a.offset, a.code, a.message)?;
        }
    }
    Ok(())
}
