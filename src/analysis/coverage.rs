//! The coverage table: every normative statement of the guide's "Application Level
//! Interfaces" chapter, with the rule that checks it or the reason no rule can
//! (`spec/coverage.tsv`, compiled in; `ctiscope rules --coverage` prints it).

use std::collections::BTreeSet;
use std::fmt;
use std::sync::OnceLock;

/// The table as the repository keeps it.
const TSV: &str = include_str!("../../spec/coverage.tsv");

/// The columns of `spec/coverage.tsv`, in order.
pub const COLUMNS: [&str; 5] = ["id", "reference", "statement", "rule", "reason"];

/// Reasons that start with this mark a statement a capture could show but no rule tests.
pub const NOT_CHECKED: &str = "not checked:";

/// One normative statement of the chapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Stable id: `C001`, `C002`, ...
    pub id: &'static str,
    /// Where the guide says it ("guide Table 124 (TRANSFER_CALL_REQ)").
    pub reference: &'static str,
    /// A short quotation, or a paraphrase marked `paraphrase:`.
    pub statement: &'static str,
    /// The rule that checks it, if one does.
    pub rule: Option<&'static str>,
    /// Why no rule does (set exactly when `rule` is not).
    pub reason: Option<&'static str>,
}

impl Statement {
    /// Visible on the wire but checked by no rule (its reason starts with [`NOT_CHECKED`]).
    pub fn unchecked(&self) -> bool {
        self.reason.is_some_and(|r| r.starts_with(NOT_CHECKED))
    }
}

/// What is wrong with a table (line numbers count the header as line 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "spec/coverage.tsv line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for TableError {}

/// Parses a coverage table: a header naming [`COLUMNS`], then one statement per line with
/// five tab-separated cells, exactly one of `rule` and `reason` set, ids `C001`, `C002`, ...
/// in order. Blank lines are skipped.
pub fn parse(text: &'static str) -> Result<Vec<Statement>, TableError> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let err = |line: usize, message: String| TableError { line: line + 1, message };
    let Some((hl, header)) = lines.next() else {
        return Err(err(0, "empty table".into()));
    };
    if header.split('\t').ne(COLUMNS) {
        return Err(err(hl, format!("header is not {}", COLUMNS.join(" "))));
    }
    let mut rows = Vec::new();
    for (ln, line) in lines {
        let cells: Vec<&'static str> = line.split('\t').collect();
        let [id, reference, statement, rule, reason] = cells[..] else {
            return Err(err(ln, format!("{} cells, expected {}", cells.len(), COLUMNS.len())));
        };
        let expected = format!("C{:03}", rows.len() + 1);
        if id != expected {
            return Err(err(ln, format!("id {id}, expected {expected}")));
        }
        for (name, cell) in [("reference", reference), ("statement", statement)] {
            if cell.trim().is_empty() {
                return Err(err(ln, format!("{id} has no {name}")));
            }
        }
        let set = |c: &'static str| (!c.trim().is_empty()).then_some(c);
        let (rule, reason) = (set(rule), set(reason));
        if rule.is_some() == reason.is_some() {
            return Err(err(ln, format!("{id} needs exactly one of rule and reason")));
        }
        rows.push(Statement { id, reference, statement, rule, reason });
    }
    Ok(rows)
}

/// The repository's table, parsed at first use. A malformed file is a build defect that
/// `tests/coverage.rs` catches; the error is returned, not a panic.
pub fn coverage() -> Result<&'static [Statement], &'static TableError> {
    static TABLE: OnceLock<Result<Vec<Statement>, TableError>> = OnceLock::new();
    TABLE.get_or_init(|| parse(TSV)).as_ref().map(Vec::as_slice)
}

/// Counts for the summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Rows.
    pub statements: usize,
    /// Rows with a rule.
    pub checked: usize,
    /// Distinct rules named.
    pub rules: usize,
    /// Rows with a reason.
    pub explained: usize,
    /// Of those, visible on the wire but checked by no rule.
    pub unchecked: usize,
}

impl Summary {
    pub fn of(rows: &[Statement]) -> Summary {
        let rules: BTreeSet<&str> = rows.iter().filter_map(|s| s.rule).collect();
        Summary {
            statements: rows.len(),
            checked: rows.iter().filter(|s| s.rule.is_some()).count(),
            rules: rules.len(),
            explained: rows.iter().filter(|s| s.reason.is_some()).count(),
            unchecked: rows.iter().filter(|s| s.unchecked()).count(),
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} statements, {} checked by {} rules, {} explained ({} of them visible on the wire but not checked)",
            self.statements, self.checked, self.rules, self.explained, self.unchecked
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "id\treference\tstatement\trule\treason\n";

    fn table(rows: &str) -> &'static str {
        Box::leak(format!("{HEAD}{rows}").into_boxed_str())
    }

    #[test]
    fn the_shipped_table_parses() {
        let rows = coverage().unwrap_or_else(|e| panic!("{e}"));
        assert!(rows.len() >= 100, "{} rows", rows.len());
        let s = Summary::of(rows);
        assert_eq!(s.checked + s.explained, s.statements);
        assert!(s.unchecked <= s.explained);
    }

    #[test]
    fn a_row_has_a_rule_or_a_reason() {
        let rows = parse(table(
            "C001\tguide Table 2\t\"always precedes\"\tcall-event-before-begin\t\n\
             C002\tguide Table 5\t\"client must replace\"\t\ta client-side duty\n",
        ))
        .unwrap();
        assert_eq!(rows[0].rule, Some("call-event-before-begin"));
        assert_eq!(rows[0].reason, None);
        assert_eq!(rows[1].rule, None);
        assert_eq!(rows[1].reason, Some("a client-side duty"));
        assert!(!rows[1].unchecked());
        let s = Summary::of(&rows);
        assert_eq!((s.statements, s.checked, s.rules, s.explained, s.unchecked), (2, 1, 1, 1, 0));
        assert_eq!(
            s.to_string(),
            "2 statements, 1 checked by 1 rules, 1 explained (0 of them visible on the wire but not checked)"
        );
    }

    #[test]
    fn both_or_neither_is_refused() {
        let e = parse(table("C001\tguide Table 2\tx\tsome-rule\tsome reason\n")).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("exactly one"), "{e}");
        let e = parse(table("C001\tguide Table 2\tx\t\t\n")).unwrap_err();
        assert!(e.message.contains("exactly one"), "{e}");
    }

    #[test]
    fn ids_run_without_a_gap() {
        let e = parse(table("C001\tr\ts\trule\t\nC003\tr\ts\trule\t\n")).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("expected C002"), "{e}");
    }

    #[test]
    fn malformed_lines_are_errors_not_panics() {
        assert!(parse("").unwrap_err().message.contains("empty"));
        assert!(parse("id\tstatement\n").unwrap_err().message.contains("header"));
        let e = parse(table("C001\tonly three\tcells\n")).unwrap_err();
        assert!(e.message.contains("3 cells"), "{e}");
        let e = parse(table("C001\t \tstatement\trule\t\n")).unwrap_err();
        assert!(e.message.contains("no reference"), "{e}");
        assert_eq!(e.to_string(), "spec/coverage.tsv line 2: C001 has no reference");
    }

    #[test]
    fn unchecked_reasons_are_counted() {
        let rows = parse(table("C001\tr\ts\t\tnot checked: nobody looks\nC002\tr\ts\t\tadvice\n")).unwrap();
        assert!(rows[0].unchecked());
        assert_eq!(Summary::of(&rows).unchecked, 1);
    }
}
