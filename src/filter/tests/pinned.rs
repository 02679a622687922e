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
