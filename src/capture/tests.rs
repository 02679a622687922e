use super::write::{PcapNgWriter, PcapWriter, TsFormat};
use super::*;
use std::io::{Cursor, Read, Write};

/// An owned copy of a delivered packet.
#[derive(Debug, Clone, PartialEq, Eq)]
struct P {
    frame: u64,
    ts: i64,
    lt: u32,
    data: Vec<u8>,
    orig: u32,
}

fn own(p: &Packet<'_>) -> P {
    P { frame: p.frame, ts: p.ts_ns, lt: p.linktype, data: p.data.to_vec(), orig: p.orig_len }
}

fn bytes(data: &[u8]) -> (Vec<P>, Result<CaptureInfo, CaptureError>) {
    let mut v = vec![];
    let r = read_bytes("t", data, &mut |p| v.push(own(p)));
    (v, r)
}

fn stream(r: &mut dyn Read) -> (Vec<P>, Result<CaptureInfo, CaptureError>) {
    let mut v = vec![];
    let res = read_stream("s", r, &mut |p| v.push(own(p)));
    (v, res)
}

const T0: i64 = 1_700_000_000_123_456_789;

fn sample_pcap() -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), 1, 65535).unwrap();
    w.write_packet(T0, b"first packet").unwrap();
    w.write_packet(T0 + 1_000, b"second").unwrap();
    w.write_packet(T0 + 2_000_000_000, b"third!").unwrap();
    w.into_inner()
}

fn sample_packets() -> Vec<P> {
    vec![
        P { frame: 1, ts: T0, lt: 1, data: b"first packet".to_vec(), orig: 12 },
        P { frame: 2, ts: T0 + 1_000, lt: 1, data: b"second".to_vec(), orig: 6 },
        P { frame: 3, ts: T0 + 2_000_000_000, lt: 1, data: b"third!".to_vec(), orig: 6 },
    ]
}

#[test]
fn pcap_nanosecond_writer_round_trip() {
    let data = sample_pcap();
    let (v, r) = bytes(&data);
    let info = r.unwrap();
    assert_eq!(v, sample_packets());
    assert_eq!(
        info,
        CaptureInfo { format: CaptureFormat::Pcap, gzip: false, packets: 3, bytes: data.len() as u64 }
    );
    assert_eq!(data.len(), 24 + 3 * 16 + 12 + 6 + 6);
}

/// Builds a classic pcap by hand in either byte order and timestamp unit.
fn hand_pcap(be: bool, nanos: bool, linktype: u32, recs: &[(u32, u32, &[u8], u32)]) -> Vec<u8> {
    let u32b = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let u16b = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let mut out = vec![];
    out.extend_from_slice(&u32b(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
    out.extend_from_slice(&u16b(2));
    out.extend_from_slice(&u16b(4));
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&u32b(65535));
    out.extend_from_slice(&u32b(linktype));
    for (sec, frac, d, orig) in recs {
        out.extend_from_slice(&u32b(*sec));
        out.extend_from_slice(&u32b(*frac));
        out.extend_from_slice(&u32b(d.len() as u32));
        out.extend_from_slice(&u32b(*orig));
        out.extend_from_slice(d);
    }
    out
}

#[test]
fn pcap_usec_and_nsec_in_both_byte_orders() {
    for be in [false, true] {
        for nanos in [false, true] {
            let data = hand_pcap(
                be,
                nanos,
                113,
                &[(1_600_000_000, 999_999, b"abc", 3), (1_600_000_001, 5, b"de", 1500)],
            );
            if !be {
                let m: &[u8] = if nanos { &[0x4d, 0x3c, 0xb2, 0xa1] } else { &[0xd4, 0xc3, 0xb2, 0xa1] };
                assert_eq!(&data[..4], m);
            }
            let mult = if nanos { 1 } else { 1000 };
            let (v, r) = bytes(&data);
            assert_eq!(r.unwrap().packets, 2, "be={be} nanos={nanos}");
            assert_eq!(v[0].ts, 1_600_000_000_000_000_000 + 999_999 * mult);
            assert_eq!(v[1].ts, 1_600_000_001_000_000_000 + 5 * mult);
            assert_eq!(v[0].lt, 113);
            assert_eq!(v[0].data, b"abc");
            assert_eq!(v[1].data, b"de");
            assert_eq!(v[1].orig, 1500);
            assert_eq!(v[1].frame, 2);
        }
    }
}

/// A pcapng with two sections: the first has an Ethernet interface in nanoseconds and a
/// raw-IP interface in microseconds with a 100 s offset; the second has one SLL interface
/// with 2^-20 s units, a Simple Packet Block and blocks to skip.
fn two_section_pcapng() -> Vec<u8> {
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    assert_eq!(w.add_interface(1, 0).unwrap(), 0);
    let if1 = w.add_interface_with(101, 0, TsFormat { tsresol: 6, tsoffset_s: 100 }).unwrap();
    assert_eq!(if1, 1);
    w.write_packet(0, T0, b"eth-1").unwrap();
    w.write_packet(1, 1_700_000_000_123_456_000, b"raw-2").unwrap();
    // Name resolution block (type 4) with only opt_endofopt: skipped.
    w.write_block(4, &[0, 0, 0, 0]).unwrap();
    w.start_section().unwrap();
    w.add_interface_with(113, 4, TsFormat { tsresol: 0x80 | 20, tsoffset_s: 0 }).unwrap();
    w.write_packet(0, 1_500_000_000, b"sll-3").unwrap();
    // Unknown block type: skipped.
    w.write_block(0x0bad_0001, b"whatever").unwrap();
    // SPB: interface 0 (snap length 4), timestamp of the previous packet.
    w.write_simple_packet(b"spb-4").unwrap();
    // Interface statistics block (type 5): skipped.
    w.write_block(5, &[0; 12]).unwrap();
    w.into_inner()
}

#[test]
fn pcapng_sections_interfaces_resolutions_offset_spb_and_skipped_blocks() {
    let data = two_section_pcapng();
    let (v, r) = bytes(&data);
    let info = r.unwrap();
    assert_eq!(info.format, CaptureFormat::PcapNg);
    assert_eq!(info.packets, 4);
    assert_eq!(info.bytes, data.len() as u64);
    assert_eq!(
        v,
        vec![
            P { frame: 1, ts: T0, lt: 1, data: b"eth-1".to_vec(), orig: 5 },
            P { frame: 2, ts: 1_700_000_000_123_456_000, lt: 101, data: b"raw-2".to_vec(), orig: 5 },
            // Written with snap length 4.
            P { frame: 3, ts: 1_500_000_000, lt: 113, data: b"sll-".to_vec(), orig: 5 },
            P { frame: 4, ts: 1_500_000_000, lt: 113, data: b"spb-".to_vec(), orig: 5 },
        ]
    );
}

#[test]
fn pcapng_offset_units_are_really_applied() {
    // The raw-IP interface stores microseconds relative to +100 s: check the raw value.
    let data = two_section_pcapng();
    // SHB 28 bytes, IDB0 32, IDB1 44, EPB0 32+8=40: EPB1 starts at 144.
    let epb = &data[144..];
    assert_eq!(u32::from_le_bytes(epb[0..4].try_into().unwrap()), 6);
    let hi = u32::from_le_bytes(epb[12..16].try_into().unwrap()) as u64;
    let lo = u32::from_le_bytes(epb[16..20].try_into().unwrap()) as u64;
    assert_eq!((hi << 32) | lo, (1_700_000_000_123_456_000 - 100_000_000_000) / 1000);
}

#[test]
fn gzip_is_detected_by_magic_including_multiple_members() {
    let plain = sample_pcap();
    let mut gz = vec![];
    for half in [&plain[..30], &plain[30..]] {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(half).unwrap();
        gz.extend(e.finish().unwrap());
    }
    let (v, r) = bytes(&gz);
    let info = r.unwrap();
    assert_eq!(v, sample_packets());
    assert!(info.gzip);
    assert_eq!(info.bytes, plain.len() as u64);
    // Same through a stream.
    let (v2, r2) = stream(&mut Cursor::new(&gz));
    assert_eq!(v2, sample_packets());
    assert!(r2.unwrap().gzip);
}

#[test]
fn corrupt_gzip_is_a_gzip_error_after_the_good_packets() {
    let plain = sample_pcap();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&plain).unwrap();
    let mut gz = e.finish().unwrap();
    let n = gz.len();
    gz.truncate(n - 12); // cut the deflate stream and trailer
    let (v, r) = bytes(&gz);
    let err = r.unwrap_err();
    assert!(matches!(err.kind, CaptureErrorKind::Gzip(_) | CaptureErrorKind::Truncated { .. }), "{err}");
    assert!(v.len() <= 3);
    assert_eq!(err.frame, v.len() as u64 + 1);
}

/// A reader that hands out one byte per call.
struct OneByte<'a>(&'a [u8]);
impl Read for OneByte<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.0.is_empty() || buf.is_empty() {
            return Ok(0);
        }
        buf[0] = self.0[0];
        self.0 = &self.0[1..];
        Ok(1)
    }
}

#[test]
fn streaming_over_cursor_and_one_byte_reads() {
    for data in [sample_pcap(), two_section_pcapng()] {
        let (want, wr) = bytes(&data);
        let want_info = wr.unwrap();
        let (v, r) = stream(&mut Cursor::new(&data));
        assert_eq!(v, want);
        assert_eq!(r.unwrap(), want_info);
        let (v, r) = stream(&mut OneByte(&data));
        assert_eq!(v, want);
        assert_eq!(r.unwrap(), want_info);
    }
}

/// Gives out `data`, then fails: a packet must be delivered before the reader is asked
/// for anything beyond its record.
struct ThenFail<'a>(&'a [u8]);
impl Read for ThenFail<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.0.is_empty() {
            return Err(std::io::Error::other("pipe broke"));
        }
        let n = buf.len().min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn streaming_delivers_each_packet_as_soon_as_it_is_read() {
    let data = sample_pcap();
    let first_end = 24 + 16 + 12;
    let (v, r) = stream(&mut ThenFail(&data[..first_end]));
    assert_eq!(v, sample_packets()[..1].to_vec());
    let err = r.unwrap_err();
    assert_eq!(err.kind, CaptureErrorKind::Io("pipe broke".into()));
    assert_eq!(err.frame, 2);
    assert_eq!(err.offset, first_end as u64);
}

#[test]
fn truncated_global_header() {
    let data = sample_pcap();
    let (v, r) = bytes(&data[..10]);
    assert!(v.is_empty());
    let err = r.unwrap_err();
    assert_eq!(
        err,
        CaptureError {
            input: "t".into(),
            frame: 1,
            offset: 0,
            kind: CaptureErrorKind::Truncated { expected: "pcap global header" },
        }
    );
    assert_eq!(
        err.to_string(),
        "t: frame 1 (byte offset 0): capture is truncated: input ends inside pcap global header"
    );
}

#[test]
fn truncated_record_data_and_header() {
    let data = sample_pcap();
    let third = 24 + 16 + 12 + 16 + 6;
    // Cut inside the third record's data.
    let (v, r) = bytes(&data[..third + 16 + 3]);
    assert_eq!(v, sample_packets()[..2].to_vec());
    let err = r.unwrap_err();
    assert_eq!(err.frame, 3);
    assert_eq!(err.offset, third as u64 + 16);
    assert_eq!(err.kind, CaptureErrorKind::Truncated { expected: "pcap record data" });
    // Cut inside the third record's header, through a stream.
    let (v, r) = stream(&mut Cursor::new(&data[..third + 5]));
    assert_eq!(v.len(), 2);
    let err = r.unwrap_err();
    assert_eq!((err.frame, err.offset), (3, third as u64));
    assert_eq!(err.kind, CaptureErrorKind::Truncated { expected: "pcap record header" });
}

#[test]
fn oversized_pcap_record_is_malformed_not_allocated() {
    let mut data = hand_pcap(false, false, 1, &[]);
    data.extend_from_slice(&1u32.to_le_bytes());
    data.extend_from_slice(&0u32.to_le_bytes());
    data.extend_from_slice(&0x7fff_ffffu32.to_le_bytes());
    data.extend_from_slice(&0x7fff_ffffu32.to_le_bytes());
    for (v, r) in [bytes(&data), stream(&mut Cursor::new(&data))] {
        assert!(v.is_empty());
        let err = r.unwrap_err();
        assert_eq!((err.frame, err.offset), (1, 24));
        assert!(matches!(&err.kind, CaptureErrorKind::Malformed(m) if m.contains("2147483647")), "{err}");
    }
}

#[test]
fn bad_pcapng_block_lengths() {
    let good = two_section_pcapng();
    // The first EPB starts at 28 + 32 + 44 = 104.
    let at = 104usize;
    let set_len = |d: &mut Vec<u8>, v: u32| d[at + 4..at + 8].copy_from_slice(&v.to_le_bytes());

    // The damaged block is skipped up to the next block whose type and two lengths agree
    // (the second packet's, 40 bytes on): the packets after it are read, and the error still
    // says the file was damaged and where.
    for bad in [8u32, 42] {
        let mut d = good.clone();
        set_len(&mut d, bad);
        for (v, r) in [bytes(&d), stream(&mut Cursor::new(&d))] {
            assert_eq!(v.len(), 3, "the three packets after the damaged block");
            assert_eq!(v[0].data, b"raw-2");
            let err = r.unwrap_err();
            assert_eq!(err.offset, at as u64);
            assert_eq!(
                err.kind,
                CaptureErrorKind::Malformed(format!(
                    "block at offset 104 (type 0x00000006) has bad length {bad}; 40 bytes of damaged blocks were skipped, every block after them was read"
                ))
            );
        }
    }
    // Longer than what is left.
    let mut d = good.clone();
    set_len(&mut d, 1_000_000);
    let err = bytes(&d).1.unwrap_err();
    assert_eq!(err.offset, 104);
    assert_eq!(err.kind, CaptureErrorKind::Truncated { expected: "pcapng block" });
    // Over the hard cap.
    let mut d = good.clone();
    set_len(&mut d, MAX_PCAPNG_BLOCK + 4);
    let err = bytes(&d).1.unwrap_err();
    assert!(matches!(err.kind, CaptureErrorKind::Malformed(ref m) if m.contains("limit")));
    // Trailing length differs from the leading one.
    let mut d = good.clone();
    d[at + 36..at + 40].copy_from_slice(&44u32.to_le_bytes());
    let (v, r) = bytes(&d);
    assert_eq!(v.len(), 3);
    assert_eq!(
        r.unwrap_err().kind,
        CaptureErrorKind::Malformed(
            "block at offset 104 (type 0x00000006) has length 40 but trailing length 44; 40 bytes of damaged blocks were skipped, every block after them was read".into()
        )
    );
    // Garbage with no valid block after it: the error says so.
    let mut d = good[..at].to_vec();
    d.extend_from_slice(&[0xee; 64]);
    let (v, r) = bytes(&d);
    assert!(v.is_empty());
    assert!(
        matches!(r.unwrap_err().kind, CaptureErrorKind::Malformed(ref m) if m.contains("no valid block follows it"))
    );
    // The file cut inside the last block: the packets before it are delivered.
    let (v, r) = bytes(&good[..good.len() - 3]);
    assert_eq!(v.len(), 4);
    let err = r.unwrap_err();
    assert_eq!(err.frame, 5);
    assert_eq!(err.offset, good.len() as u64 - 24);
}

#[test]
fn epb_on_unknown_interface_is_malformed() {
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    w.add_interface(1, 0).unwrap();
    w.write_packet(0, 5, b"x").unwrap();
    let mut d = w.into_inner();
    let at = 28 + 32;
    d[at + 8..at + 12].copy_from_slice(&7u32.to_le_bytes());
    let err = bytes(&d).1.unwrap_err();
    assert!(matches!(err.kind, CaptureErrorKind::Malformed(ref m) if m.contains("interface 7")));
}

#[test]
fn empty_and_unknown_inputs() {
    let err = bytes(&[]).1.unwrap_err();
    assert_eq!((err.kind, err.frame, err.offset), (CaptureErrorKind::Empty, 1, 0));
    let err = stream(&mut Cursor::new(Vec::new())).1.unwrap_err();
    assert_eq!(err.kind, CaptureErrorKind::Empty);
    let err = bytes(b"GET / HTTP/1.1\r\n").1.unwrap_err();
    assert_eq!(err.kind, CaptureErrorKind::UnknownFormat { magic: *b"GET " });
    assert!(err.to_string().contains("magic 47455420"));
    let err = bytes(&[0xd4, 0xc3]).1.unwrap_err();
    assert_eq!(err.kind, CaptureErrorKind::Truncated { expected: "capture file header" });
}

fn temp_path(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("ctiscope-capture-{}-{tag}", std::process::id()))
}

#[test]
fn read_path_mmap_gzip_empty_and_missing() {
    let plain = sample_pcap();
    let p = temp_path("plain.pcap");
    std::fs::write(&p, &plain).unwrap();
    let mut v = vec![];
    let info = read_path(p.to_str().unwrap(), &mut |pk| v.push(own(pk))).unwrap();
    assert_eq!(v, sample_packets());
    assert!(!info.gzip);

    // Gzip detected by content: the name says nothing.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&plain).unwrap();
    let g = temp_path("compressed.bin");
    std::fs::write(&g, e.finish().unwrap()).unwrap();
    let mut v = vec![];
    let info = read_path(g.to_str().unwrap(), &mut |pk| v.push(own(pk))).unwrap();
    assert_eq!(v, sample_packets());
    assert!(info.gzip);

    let z = temp_path("empty.pcap");
    std::fs::write(&z, b"").unwrap();
    let err = read_path(z.to_str().unwrap(), &mut |_| {}).unwrap_err();
    assert_eq!(err.kind, CaptureErrorKind::Empty);
    assert_eq!(err.input, z.to_str().unwrap());

    let missing = temp_path("missing.pcap");
    let err = read_path(missing.to_str().unwrap(), &mut |_| {}).unwrap_err();
    assert_eq!(err.kind, CaptureErrorKind::Open("no such file".to_string()));
    assert_eq!(err.to_string(), format!("{}: no such file", missing.display()));

    for f in [p, g, z] {
        std::fs::remove_file(f).unwrap();
    }
}

#[test]
fn big_endian_pcapng_section() {
    // SHB, IDB (if_tsresol 3, if_tsoffset 10 s), EPB, all big-endian, built by hand.
    let mut d = vec![];
    let blk = |d: &mut Vec<u8>, t: u32, body: &[u8]| {
        let len = (12 + body.len()) as u32;
        d.extend_from_slice(&t.to_be_bytes());
        d.extend_from_slice(&len.to_be_bytes());
        d.extend_from_slice(body);
        d.extend_from_slice(&len.to_be_bytes());
    };
    let mut shb = vec![0x1a, 0x2b, 0x3c, 0x4d, 0, 1, 0, 0];
    shb.extend_from_slice(&(-1i64).to_be_bytes());
    blk(&mut d, 0x0a0d_0d0a, &shb);
    let mut idb = vec![0, 1, 0, 0, 0, 0, 0xff, 0xff];
    idb.extend_from_slice(&[0, 9, 0, 1, 3, 0, 0, 0]);
    idb.extend_from_slice(&[0, 14, 0, 8]);
    idb.extend_from_slice(&10i64.to_be_bytes());
    idb.extend_from_slice(&[0, 0, 0, 0]);
    blk(&mut d, 1, &idb);
    let mut epb = vec![];
    epb.extend_from_slice(&0u32.to_be_bytes());
    epb.extend_from_slice(&0u32.to_be_bytes());
    epb.extend_from_slice(&2500u32.to_be_bytes()); // 2.5 s in milliseconds
    epb.extend_from_slice(&3u32.to_be_bytes());
    epb.extend_from_slice(&60u32.to_be_bytes());
    epb.extend_from_slice(b"abc\0");
    blk(&mut d, 6, &epb);
    let (v, r) = bytes(&d);
    assert_eq!(r.unwrap().packets, 1);
    assert_eq!(v, vec![P { frame: 1, ts: 12_500_000_000, lt: 1, data: b"abc".to_vec(), orig: 60 }]);
}

/// A pcap of `n` packets of 1000 bytes each, plain and gzip-compressed (level 0: stored, so
/// the compressed file is about as long as the plain one).
fn big_pcap(n: usize) -> (Vec<u8>, Vec<u8>) {
    let mut w = PcapWriter::new(Vec::new(), 1, 65535).unwrap();
    for i in 0..n {
        w.write_packet(T0 + i as i64, &[i as u8; 1000]).unwrap();
    }
    let plain = w.into_inner();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
    e.write_all(&plain).unwrap();
    (plain, e.finish().unwrap())
}

/// The positions the progress hook reports while `path` is read on this thread.
fn reported(path: &std::path::Path) -> (Vec<u64>, u64) {
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let s = seen.clone();
    set_progress_hook(Some(Box::new(move |at| s.borrow_mut().push(at))));
    let mut packets = 0;
    read_path(path.to_str().unwrap(), &mut |_| packets += 1).unwrap();
    set_progress_hook(None);
    let v = seen.borrow().clone();
    (v, packets)
}

#[test]
fn the_progress_hook_follows_the_position_in_the_file_mapped_or_compressed() {
    let dir = std::env::temp_dir().join(format!("ctiscope-capture-progress-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (plain, gz) = big_pcap(2000);
    for (name, data) in [("plain.pcap", &plain), ("stored.pcap.gz", &gz)] {
        let path = dir.join(name);
        std::fs::write(&path, data).unwrap();
        let (at, packets) = reported(&path);
        assert_eq!(packets, 2000, "{name}");
        // About 2 MB read: a report per 256 KiB, growing, and the whole file at the end.
        assert!(at.len() >= 7 && at.len() <= 10, "{name}: {at:?}");
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{name}: {at:?}");
        assert!(at.windows(2).all(|w| w[1] - w[0] <= PROGRESS_STEP + 64 * 1024), "{name}: {at:?}");
        assert_eq!(*at.last().unwrap(), data.len() as u64, "{name}");
    }
    // Without a hook, nothing is reported and the read is the same.
    let (mut n, path) = (0, dir.join("plain.pcap"));
    read_path(path.to_str().unwrap(), &mut |_| n += 1).unwrap();
    assert_eq!(n, 2000);
    let _ = std::fs::remove_dir_all(&dir);
}
