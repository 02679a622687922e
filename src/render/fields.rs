//! `-T fields -e FIELD ...`, as tshark: one line per selected message with the listed fields
//! (spec names, optionally `cti.`-prefixed, or the pseudo-fields of the display filters), in
//! order, separated, quoted and aggregated as the `-E` options say. Values read as `-T
//! jsonl` names them (enumerations and masks by name) unless raw values are asked for.
//!
//! `-E` options: `header=y|n` (a first line with the field names), `separator=C` (one
//! character, or `/t` tab, `/s` space; default tab), `quote=d|s|n` (every value in double or
//! single quotes, or none; with double quotes a quote inside a value is doubled, so a
//! spreadsheet opens `-E separator=, -E quote=d -E header=y` as CSV without fixes),
//! `occurrence=f|l|a` (first, last or all occurrences of a repeated field; default all),
//! `aggregator=C` (between occurrences; default `,`).

use crate::cti::spec::{self, FieldId};
use crate::filter::{Pseudo, Record};
use crate::render::value;
use crate::time;

/// One column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Field(FieldId),
    Pseudo(Pseudo),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quote {
    Double,
    Single,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occurrence {
    First,
    Last,
    All,
}

/// How `-T fields` prints.
#[derive(Debug, Clone)]
pub struct FieldsFormat {
    /// The names as given, and what they read.
    pub columns: Vec<(String, Column)>,
    pub header: bool,
    pub separator: String,
    pub quote: Quote,
    pub occurrence: Occurrence,
    pub aggregator: String,
    /// Numbers instead of enumeration and mask names (`-n`).
    pub raw: bool,
}

impl Default for FieldsFormat {
    fn default() -> Self {
        FieldsFormat {
            columns: Vec::new(),
            header: false,
            separator: "\t".into(),
            quote: Quote::None,
            occurrence: Occurrence::All,
            aggregator: ",".into(),
            raw: false,
        }
    }
}

/// `/t`, `/s` or one character.
fn separator_text(v: &str) -> Result<String, String> {
    match v {
        "/t" => Ok("\t".into()),
        "/s" => Ok(" ".into()),
        _ if v.chars().count() == 1 => Ok(v.into()),
        _ => Err(format!("-E separator={v}: one character, /t (tab) or /s (space)")),
    }
}

impl FieldsFormat {
    /// Add a column by name (`AgentID`, `cti.InvokeID`, `frame`, `ip.src`, ...).
    pub fn add_column(&mut self, name: &str) -> Result<(), String> {
        let bare = name.strip_prefix("cti.").unwrap_or(name);
        let col = if let Some(p) = Pseudo::by_name(name) {
            Column::Pseudo(p)
        } else if let Some(id) = spec::field_id(bare) {
            Column::Field(id)
        } else {
            let hint =
                crate::filter::suggest_name(bare).map_or(String::new(), |s| format!("; did you mean '{s}'?"));
            return Err(format!("-e {name}: unknown field{hint}"));
        };
        self.columns.push((name.to_string(), col));
        Ok(())
    }

    /// Apply one `-E key=value`.
    pub fn option(&mut self, kv: &str) -> Result<(), String> {
        let (k, v) = kv.split_once('=').ok_or_else(|| format!("-E {kv}: expected key=value"))?;
        let bad = || format!("-E {kv}: unknown value");
        match k {
            "header" => {
                self.header = matches!(v, "y" | "yes" | "1")
                    .then_some(true)
                    .or(matches!(v, "n" | "no" | "0").then_some(false))
                    .ok_or_else(bad)?
            }
            "separator" => self.separator = separator_text(v)?,
            "aggregator" => {
                self.aggregator = separator_text(v).or_else(|_| Ok::<_, String>(v.to_string()))?
            }
            "quote" => {
                self.quote = match v {
                    "d" => Quote::Double,
                    "s" => Quote::Single,
                    "n" => Quote::None,
                    _ => return Err(bad()),
                }
            }
            "occurrence" => {
                self.occurrence = match v {
                    "f" => Occurrence::First,
                    "l" => Occurrence::Last,
                    "a" => Occurrence::All,
                    _ => return Err(bad()),
                }
            }
            _ => {
                return Err(format!(
                    "-E {kv}: unknown option (header, separator, quote, occurrence, aggregator)"
                ))
            }
        }
        Ok(())
    }

    fn quoted(&self, b: &mut Vec<u8>, v: &[u8]) {
        match self.quote {
            Quote::None => b.extend_from_slice(v),
            Quote::Double => {
                b.push(b'"');
                for &c in v {
                    if c == b'"' {
                        b.push(b'"');
                    }
                    b.push(c);
                }
                b.push(b'"');
            }
            Quote::Single => {
                b.push(b'\'');
                b.extend_from_slice(v);
                b.push(b'\'');
            }
        }
    }

    /// The header line (with `header=y`).
    pub fn push_header(&self, b: &mut Vec<u8>) {
        for (i, (name, _)) in self.columns.iter().enumerate() {
            if i > 0 {
                b.extend_from_slice(self.separator.as_bytes());
            }
            self.quoted(b, name.as_bytes());
        }
        b.push(b'\n');
    }

    /// One message's line.
    pub fn push_line(&self, b: &mut Vec<u8>, r: &Record<'_>) {
        let mut vals: Vec<Vec<u8>> = Vec::new();
        for (i, (_, col)) in self.columns.iter().enumerate() {
            if i > 0 {
                b.extend_from_slice(self.separator.as_bytes());
            }
            vals.clear();
            self.values(r, *col, &mut vals);
            let picked: &[Vec<u8>] = match self.occurrence {
                _ if vals.is_empty() => &[],
                Occurrence::First => &vals[..1],
                Occurrence::Last => &vals[vals.len() - 1..],
                Occurrence::All => &vals,
            };
            let mut joined = Vec::new();
            for (j, v) in picked.iter().enumerate() {
                if j > 0 {
                    joined.extend_from_slice(self.aggregator.as_bytes());
                }
                joined.extend_from_slice(v);
            }
            if !picked.is_empty() || self.quote != Quote::None {
                self.quoted(b, &joined);
            }
        }
        b.push(b'\n');
    }

    /// Every occurrence of a column in a message.
    fn values(&self, r: &Record<'_>, col: Column, out: &mut Vec<Vec<u8>>) {
        let d = r.decoded;
        match col {
            Column::Field(id) => {
                for f in d.fields.iter().filter(|f| f.meta.id == id) {
                    let mut v = Vec::new();
                    if self.raw {
                        match f.number() {
                            Some(n) => v.extend_from_slice(n.to_string().as_bytes()),
                            None => value::push_short(&mut v, f, r.bytes),
                        }
                    } else {
                        value::push_short(&mut v, f, r.bytes);
                    }
                    out.push(v);
                }
            }
            Column::Pseudo(p) => {
                let text = |s: String| s.into_bytes();
                match p {
                    Pseudo::Frame => out.push(text(r.frame.to_string())),
                    Pseudo::Time => out.push(text(time::format_rfc3339(r.ts_ns))),
                    Pseudo::RelTime => out.push(text(time::format_seconds(r.ts_ns - r.first_ts_ns, 6))),
                    Pseudo::Conn => out.push(text(r.conn.to_string())),
                    Pseudo::Dir => out.push(text(r.dir.sender().to_string())),
                    Pseudo::Type => out.push(text(match (self.raw, d.type_name()) {
                        (false, Some(n)) => n.to_string(),
                        _ => d.msg_type.to_string(),
                    })),
                    Pseudo::Version => out.push(text(d.version.to_string())),
                    Pseudo::Len => out.push(text(r.bytes.len().to_string())),
                    Pseudo::Anomaly => out.extend(d.anomalies.iter().map(|a| a.code.as_bytes().to_vec())),
                    Pseudo::Finding => out.extend(r.findings.iter().map(|f| f.as_bytes().to_vec())),
                    Pseudo::IpAddr => {
                        out.push(text(r.src.ip().to_string()));
                        out.push(text(r.dst.ip().to_string()));
                    }
                    Pseudo::IpSrc => out.push(text(r.src.ip().to_string())),
                    Pseudo::IpDst => out.push(text(r.dst.ip().to_string())),
                    Pseudo::TcpPort => {
                        out.push(text(r.src.port().to_string()));
                        out.push(text(r.dst.port().to_string()));
                    }
                    Pseudo::TcpSrcPort => out.push(text(r.src.port().to_string())),
                    Pseudo::TcpDstPort => out.push(text(r.dst.port().to_string())),
                }
            }
        }
    }
}
