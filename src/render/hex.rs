//! Hex dump: 16 bytes a line, offset, hex, ASCII.

use std::io::{self, Write};

pub fn write_hex(w: &mut dyn Write, bytes: &[u8], indent: &str) -> io::Result<()> {
    for (i, chunk) in bytes.chunks(16).enumerate() {
        write!(w, "{indent}{:04x}  ", i * 16)?;
        for j in 0..16 {
            match chunk.get(j) {
                Some(b) => write!(w, "{b:02x} ")?,
                None => write!(w, "   ")?,
            }
            if j == 7 {
                write!(w, " ")?;
            }
        }
        write!(w, " ")?;
        for &b in chunk {
            let c = if (0x20..0x7f).contains(&b) { b as char } else { '.' };
            write!(w, "{c}")?;
        }
        writeln!(w)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn dump_layout() {
        let mut out = Vec::new();
        super::write_hex(&mut out, b"\x00\x00\x00\x04\x00\x00\x00\x05ABCDEFGHIJ", "").unwrap();
        let s = String::from_utf8(out).unwrap();
        assert_eq!(
            s,
            "0000  00 00 00 04 00 00 00 05  41 42 43 44 45 46 47 48  ........ABCDEFGH\n\
             0010  49 4a                                             IJ\n"
        );
    }
}
