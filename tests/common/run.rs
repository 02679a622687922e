//! Running the built binary and comparing its output with golden files.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `CTISCOPE_BLESS=1` (exactly): write the golden files instead of comparing with them.
/// Any other value is refused, so that `CTISCOPE_BLESS=0` cannot bless by surprise.
pub fn bless() -> bool {
    bless_from(std::env::var("CTISCOPE_BLESS").ok().as_deref())
}

/// [`bless`] for a value of `CTISCOPE_BLESS` (`None`: unset).
pub fn bless_from(value: Option<&str>) -> bool {
    match value {
        Some("1") => true,
        Some(v) => panic!("CTISCOPE_BLESS={v:?}: set it to 1 to rewrite the golden files, or unset it"),
        None => false,
    }
}

/// Whether an outside tool the test needs (tshark, a browser, a Python package) is there.
/// Without it the test is skipped with a message, unless `CTISCOPE_REQUIRE_TOOLS=1` (set by
/// `.ci/run`, which installs every such tool): then a missing tool fails the test, so CI can
/// never pass by skipping.
pub fn tool_available(tool: &str, present: bool) -> bool {
    if present {
        return true;
    }
    if std::env::var("CTISCOPE_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("{tool} is not installed, and CTISCOPE_REQUIRE_TOOLS=1 says it must be (.ci/run installs it)");
    }
    eprintln!("skipped: {tool} is not installed (.ci/run installs it)");
    false
}

/// Run the binary in `dir`; returns (stdout, stderr, exit code; -1 if killed by a signal).
pub fn ctiscope_in(args: &[&str], dir: &Path) -> (String, String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_ctiscope")).args(args).current_dir(dir).output().unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.code().unwrap_or(-1),
    )
}

/// Run the binary in the repository root.
pub fn ctiscope(args: &[&str]) -> (String, String, i32) {
    ctiscope_in(args, &root())
}

/// Compare `actual` with the golden file `tests/snapshots/DIR/NAME` (written instead with
/// `CTISCOPE_BLESS=1`); a difference names the first lines that differ.
pub fn snapshot_in(dir: &str, name: &str, actual: &str) {
    let p = root().join("tests/snapshots").join(dir).join(name);
    if bless() {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    if want != actual {
        let (w, a): (Vec<&str>, Vec<&str>) = (want.lines().collect(), actual.lines().collect());
        let diff: Vec<String> = (0..w.len().max(a.len()))
            .filter(|&i| w.get(i) != a.get(i))
            .take(5)
            .map(|i| {
                let (x, y) = (w.get(i).unwrap_or(&"<end>"), a.get(i).unwrap_or(&"<end>"));
                format!("line {}:\n  want: {x}\n  got:  {y}", i + 1)
            })
            .collect();
        panic!(
            "{name}: output differs from the snapshot ({} vs {} lines)\n{}\n(CTISCOPE_BLESS=1 to regenerate)",
            w.len(),
            a.len(),
            diff.join("\n")
        );
    }
}
