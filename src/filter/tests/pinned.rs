//! The filter engine's edges pinned value by value: the names it suggests, the boundaries
//! of its comparisons, its lexer's columns.

use super::*;

#[test]
fn suggested_names() {
    // The case-insensitive match first, with or without the `cti.` prefix.
    assert_eq!(suggest_name("AgentId"), Some("AgentID"));
    assert_eq!(suggest_name("cti.AgentId"), Some("AgentID"));
    // Pseudo-fields are suggested only without the prefix.
    assert_eq!(suggest_name("framee"), Some("frame"));
    assert_eq!(suggest_name("tcp.prot"), Some("tcp.port"));
    // Nothing near.
    assert_eq!(suggest_name("qqqqqqqqqqqqqqqq"), None);
}

#[test]
fn a_keyword_written_as_a_word_is_read_as_a_value_where_one_is_expected() {
    // The word is the value (text wants quotes), not a missing value.
    assert_eq!(
        error("ClientID == and"),
        (13, "unquoted text 'and' for ClientID at column 13: write it in quotes, \"and\"".to_string())
    );
    assert_eq!(error("ClientID in {eq}").0, 14);
    // Written as symbols, operators are never values.
    assert_eq!(error("ClientID == &&"), (10, "'==' at column 10 needs a value after it".to_string()));
    assert_eq!(error("ClientID == =="), (10, "'==' at column 10 needs a value after it".to_string()));
}

#[test]
fn tokens_carry_their_columns_in_characters() {
    let toks = crate::filter::lex::tokens("InvokeID==1 && ClientID contains \"é\"").unwrap();
    let cols: Vec<(usize, &str)> = toks.iter().map(|t| (t.col, t.text.as_str())).collect();
    assert_eq!(
        cols,
        vec![
            (1, "InvokeID"),
            (9, "=="),
            (11, "1"),
            (13, "&&"),
            (16, "ClientID"),
            (25, "contains"),
            (34, "\"é\""),
            (37, "")
        ]
    );
    // The end is one past the last character.
    assert_eq!(crate::filter::lex::tokens("").unwrap()[0].col, 1);
    assert_eq!(crate::filter::lex::tokens("ab").unwrap()[1].col, 3);
}

#[test]
fn string_errors_point_at_the_string() {
    assert_eq!(error("ClientID == \"abc"), (13, "unterminated string at column 13".to_string()));
    assert_eq!(error("ClientID == 'abc\\"), (13, "unterminated string at column 13".to_string()));
    // One hex digit where the string ends.
    assert_eq!(
        error("ClientID == \"\\x4"),
        (14, "'\\x' at column 14 needs two hex digits, as in \\x41".to_string())
    );
    assert_eq!(
        error("ClientID == \"\\x4g\""),
        (14, "'\\x' at column 14 needs two hex digits, as in \\x41".to_string())
    );
}
