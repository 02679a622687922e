//! `ctiscope export`: which captures the command line names (folders, glob patterns in any
//! part of the path, `**`), the progress it reports while a capture is read, and the
//! compression of the pages. No Python needed: what is checked is on stderr and in the
//! manifest.

mod common;

use common::{ctiscope, ctiscope_in, root};
use std::path::{Path, PathBuf};

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ctiscope-export-inputs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Copy a shipped capture to `dir/rel` (distinct captures: each is its own capture id).
fn place(dir: &Path, shipped: &str, rel: &str) {
    let to = dir.join(rel);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(root().join(shipped), to).unwrap();
}

/// The `file` of every manifest entry under `out`, sorted.
fn manifest_files(out: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(out.join("_manifest")) else { return Vec::new() };
    let mut v: Vec<String> = rd
        .flatten()
        .map(|e| {
            let m: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap();
            m["file"].as_str().unwrap().to_string()
        })
        .collect();
    v.sort();
    v
}

/// The captures named in the per-capture progress lines, in the order they were done.
fn done_order(err: &str) -> Vec<String> {
    err.lines()
        .filter_map(|l| l.strip_prefix("ctiscope: export: "))
        .filter_map(|l| l.split_once(" captures (").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split_once("), ").map(|(name, _)| name.to_string()))
        .collect()
}

/// A fleet folder: hosts, days, captures, and files that are not captures.
fn fleet(dir: &Path) {
    place(dir, "captures/failover.pcap", "pg1/2026-01-01/a.pcap");
    place(dir, "tests/data/desktop-ethernet.pcap.gz", "pg1/2026-01-02/b.pcap.gz");
    place(dir, "captures/contact-center.pcapng", "pg2/2026-01-01/c.pcapng");
    place(dir, "captures/bridge.pcap", "pg2/2026-02-01/d.pcap");
    place(dir, "captures/midstream.pcap", "other/2026-01-01/e.pcap");
    place(dir, "captures/desktop-v15.pcap", "pg1/deep/er/2026-01-03/f.pcap");
    std::fs::write(dir.join("pg1/2026-01-01/notes.txt"), "not a capture").unwrap();
}

#[test]
fn wildcards_in_folder_names_select_captures_across_hosts_and_days_in_sorted_order() {
    let work = scratch("dirs");
    fleet(&work);
    let (_, err, code) =
        ctiscope_in(&["export", "-j", "1", "--progress", "-o", "out", "pg*/2026-01-0?/*.pcap*"], &work);
    assert_eq!(code, 0, "{err}");
    let want = ["pg1/2026-01-01/a.pcap", "pg1/2026-01-02/b.pcap.gz", "pg2/2026-01-01/c.pcapng"];
    assert_eq!(done_order(&err), want, "{err}");
    assert_eq!(manifest_files(&work.join("out")), want);
    assert!(err.contains("3 exported, 0 already exported, 0 failed"), "{err}");
    // `[...]` classes, and an absolute pattern gives absolute names.
    let abs = work.join("pg[2]/2026-0[12]-01/*").to_string_lossy().into_owned();
    let (_, err, code) = ctiscope_in(&["export", "-j", "1", "--progress", "-o", "out2", &abs], &work);
    assert_eq!(code, 0, "{err}");
    let want: Vec<String> = ["pg2/2026-01-01/c.pcapng", "pg2/2026-02-01/d.pcap"]
        .iter()
        .map(|r| work.join(r).to_string_lossy().into_owned())
        .collect();
    assert_eq!(done_order(&err), want, "{err}");
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn a_double_star_matches_any_depth_and_a_matched_folder_is_walked() {
    let work = scratch("deep");
    fleet(&work);
    let (_, err, code) =
        ctiscope_in(&["export", "-j", "1", "--progress", "-o", "out", "pg1/**/*.pcap"], &work);
    assert_eq!(code, 0, "{err}");
    // Zero or more folders between pg1 and the file; `*.pcap` does not match `.pcap.gz`.
    assert_eq!(done_order(&err), ["pg1/2026-01-01/a.pcap", "pg1/deep/er/2026-01-03/f.pcap"], "{err}");
    // A pattern that matches folders: each is walked for its captures (notes.txt is not one).
    let (_, err, code) = ctiscope_in(&["export", "-j", "1", "--progress", "-o", "out2", "pg1/2026-*"], &work);
    assert_eq!(code, 0, "{err}");
    assert_eq!(done_order(&err), ["pg1/2026-01-01/a.pcap", "pg1/2026-01-02/b.pcap.gz"], "{err}");
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn a_pattern_that_matches_nothing_is_named_and_fails_the_run_and_the_others_are_exported() {
    let work = scratch("nomatch");
    fleet(&work);
    let (_, err, code) = ctiscope_in(
        &["export", "-j", "1", "--progress", "-o", "out", "pg3/*/*.pcap", "pg2/2026-02-*/*.pcap", "x[.pcap"],
        &work,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("ctiscope: pg3/*/*.pcap: matches no capture"), "{err}");
    assert!(err.contains("ctiscope: x[.pcap: bad pattern"), "{err}");
    assert_eq!(manifest_files(&work.join("out")), ["pg2/2026-02-01/d.pcap"]);
    assert!(err.contains("1 exported, 0 already exported, 2 failed"), "{err}");
    let _ = std::fs::remove_dir_all(&work);
}

/// The `X` of each `X of Y MB` progress line, in order, up to the capture's end.
fn bytes_read(err: &str) -> Vec<f64> {
    err.lines()
        .filter(|l| l.starts_with("ctiscope: export: 0/1 captures, "))
        .map(|l| l.split(", ").nth(1).unwrap().split(" of ").next().unwrap().parse::<f64>().unwrap())
        .collect()
}

#[test]
fn progress_reports_the_bytes_read_within_a_capture_and_a_summary_when_asked() {
    let work = scratch("progress");
    let cap = work.join("big.pcap").to_string_lossy().into_owned();
    let (_, err, code) = ctiscope(&["synth", "--seed", "3", "--size", "5M", "-w", &cap]);
    assert_eq!(code, 0, "{err}");
    let out = work.join("out").to_string_lossy().into_owned();
    let (_, err, code) = ctiscope(&["export", "-j", "1", "--progress", "-o", &out, &cap]);
    assert_eq!(code, 0, "{err}");
    // A 5 MB capture: a line per MiB read, before the line of the capture done.
    let read = bytes_read(&err);
    assert_eq!(read.len(), 5, "{err}");
    assert!(read.windows(2).all(|w| w[0] < w[1]), "{err}");
    assert!(read[0] >= 1.0 && read[4] >= 5.0, "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines[lines.len() - 2].starts_with(&format!("ctiscope: export: 1/1 captures ({cap}), 5.2 of 5.2 MB")),
        "{err}"
    );
    assert!(
        lines[lines.len() - 1].starts_with("ctiscope: export: 1 exported, 0 already exported, 0 failed;"),
        "{err}"
    );
    // Piped without --progress: nothing on stderr.
    let (_, err, code) = ctiscope(&["export", "-j", "1", "--force", "-o", &out, &cap]);
    assert_eq!((code, err.as_str()), (0, ""));
    let _ = std::fs::remove_dir_all(&work);
}

/// Every table file under `out`, by its path below `out`.
fn parquet_files(out: &Path) -> Vec<PathBuf> {
    fn walk(d: &Path, v: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, v);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                v.push(p);
            }
        }
    }
    let mut v = Vec::new();
    walk(out, &mut v);
    v.sort();
    v
}

#[test]
fn every_compression_writes_the_same_rows_with_its_codec() {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::basic::Compression;
    let work = scratch("codec");
    let mut tables = Vec::new();
    for (codec, want) in
        [("snappy", Compression::SNAPPY), ("lz4", Compression::LZ4_RAW), ("none", Compression::UNCOMPRESSED)]
    {
        let out = work.join(codec);
        let out_s = out.to_string_lossy().into_owned();
        let (_, err, code) = ctiscope(&[
            "export",
            "-j",
            "1",
            "--compression",
            codec,
            "-o",
            &out_s,
            "captures/contact-center.pcapng",
        ]);
        assert_eq!(code, 0, "{codec}: {err}");
        let files = parquet_files(&out);
        assert_eq!(files.len(), 7, "{codec}: one file per table");
        let mut batches = Vec::new();
        for f in &files {
            let r = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(f).unwrap()).unwrap();
            for rg in r.metadata().row_groups() {
                for c in rg.columns() {
                    assert_eq!(c.compression(), want, "{codec}: {}", f.display());
                }
            }
            let rows: Vec<_> = r.build().unwrap().map(|b| b.unwrap()).collect();
            batches.push((f.strip_prefix(&out).unwrap().to_path_buf(), rows));
        }
        assert!(batches.iter().any(|(_, b)| b.iter().map(|b| b.num_rows()).sum::<usize>() == 414));
        tables.push(batches);
    }
    assert!(tables[1] == tables[0] && tables[2] == tables[0], "the same rows whatever the codec");
    let _ = std::fs::remove_dir_all(&work);
}
