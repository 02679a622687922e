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

#[test]
fn integers_take_no_sign_but_a_minus() {
    use crate::filter::literal::integer;
    assert_eq!(integer("42"), Some(42));
    assert_eq!(integer("-0x10"), Some(-16));
    // Rust's own parser takes a leading '+'; the filter language does not.
    assert_eq!(integer("+5"), None);
    assert_eq!(integer("0x+5"), None);
    assert_eq!(integer(""), None);
    assert_eq!(integer("-"), None);
}

#[test]
fn february_the_29th_only_in_leap_years() {
    use crate::filter::literal::utc_time;
    let day = 86_400_000_000_000i128;
    // 2000 is divisible by 400, 2024 by 4; 1900 and 2100 by 100 only.
    assert_eq!(utc_time("2000-02-29"), Some((11_016 * day, day)));
    assert!(utc_time("2024-02-29").is_some());
    assert_eq!(utc_time("1900-02-29"), None);
    assert_eq!(utc_time("2100-02-29"), None);
    assert_eq!(utc_time("2023-02-29"), None);
    assert!(utc_time("2023-02-28").is_some());
}

#[test]
fn a_time_offset_counts_hours_and_minutes() {
    use crate::filter::literal::utc_time;
    let utc = utc_time("2026-01-05 09:00Z").unwrap();
    // 11:30 at +02:30 is 09:00 UTC; 06:45 at -02:15 too.
    assert_eq!(utc_time("2026-01-05 11:30+02:30"), Some(utc));
    assert_eq!(utc_time("2026-01-05T06:45-02:15"), Some(utc));
    assert_eq!(utc_time("2026-01-05 09:00+24:00"), None);
}

#[test]
fn prefix_lengths_are_digits_only() {
    use crate::filter::literal::ip_net;
    let v4 = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    assert_eq!(ip_net("10.10.0.0/16"), Some((v4("10.10.0.0"), 16)));
    assert_eq!(ip_net("10.10.0.0/+16"), None);
    assert_eq!(ip_net("10.10.0.0/"), None);
    assert_eq!(ip_net("10.10.0.0/33"), None);
    // IPv4-mapped IPv6: the IPv4 network.
    assert_eq!(ip_net("::ffff:10.10.0.0/112"), Some((v4("10.10.0.0"), 16)));
}

#[test]
fn edit_distances_count_transpositions_of_neighbours_once() {
    use crate::filter::literal::distance;
    let cases = [
        ("", "abc", 3),
        ("kitten", "sitting", 3),
        ("flaw", "lawn", 2),
        // One transposition, wherever it is.
        ("ab", "ba", 1),
        ("abcdef", "abcdfe", 1),
        ("abcdef", "bacdef", 1),
        ("AgentState", "agnetstate", 1),
        ("AgentExtension", "AgentExtnesion", 1),
        // Optimal string alignment: a transposed pair is not edited again.
        ("ca", "abc", 3),
    ];
    for (a, b, d) in cases {
        assert_eq!(distance(a, b), d, "{a} / {b}");
        assert_eq!(distance(b, a), d, "{b} / {a}");
    }
}

#[test]
fn a_family_of_two_names_has_short_forms() {
    // AllocationState: ALLOC_CALL_DELIVERED and ALLOC_CALL_ESTABLISHED.
    let t = crate::cti::spec::value_table("AllocationState").unwrap();
    let shorts = crate::filter::compile::short_names(t);
    let pairs: Vec<_> = t.entries.iter().map(|e| e.1).zip(shorts.iter().copied()).collect();
    assert!(pairs.contains(&("ALLOC_CALL_DELIVERED", Some("DELIVERED"))), "{pairs:?}");
    assert!(pairs.contains(&("ALLOC_CALL_ESTABLISHED", Some("ESTABLISHED"))), "{pairs:?}");
}

#[test]
fn a_set_may_mix_quoted_and_bare_elements() {
    assert!(Filter::compile("AgentID in {\"1001\" 1002}").is_ok());
    assert!(Filter::compile("AgentID in {1002, \"1001\"}").is_ok());
}

#[test]
fn only_named_variables_have_a_name_and_a_value() {
    assert!(Filter::compile("NamedVariable.name == \"user.x\"").is_ok());
    assert!(Filter::compile("NamedArray.index == 1").is_ok());
    for expr in ["AgentID.name == \"x\"", "AgentID.value == \"x\"", "NamedVariable.index == 1"] {
        let (col, msg) = error(expr);
        assert_eq!(col, 1, "{expr}: {msg}");
    }
}

#[test]
fn true_and_false_are_values_of_boolean_fields_only() {
    assert!(Filter::compile("PeripheralOnline < true").is_ok());
    assert!(Filter::compile("PeripheralOnline >= false").is_ok());
    let (col, msg) = error("InvokeID < true");
    assert_eq!(col, 12, "{msg}");
    let (col, msg) = error("PeripheralOnline < maybe");
    assert_eq!(col, 20, "{msg}");
}

#[test]
fn only_an_unquoted_date_before_a_time_of_day_asks_for_quotes() {
    let quotes = "a date and time are written in quotes";
    assert!(error("time >= 2026-01-05 09:00").1.contains(quotes));
    // Seconds since 1970 are a time too, but not a date: the word after it is just unexpected.
    for expr in ["time >= 1767603618.5 09:00", "time >= \"2026-01-05\" 09:00", "frame >= 2026010509 09:00"] {
        let (_, msg) = error(expr);
        assert!(!msg.contains(quotes), "{expr}: {msg}");
    }
}

#[test]
fn seconds_have_at_most_twelve_whole_digits() {
    use crate::filter::literal::seconds;
    let s = 1_000_000_000i128;
    assert_eq!(seconds("999999999999"), Some((999_999_999_999 * s, s)));
    assert_eq!(seconds("1000000000000"), None);
    assert_eq!(seconds("10000000000000"), None);
    assert_eq!(seconds("+5"), None);
    assert_eq!(seconds(""), None);
    assert_eq!(seconds(".5"), None);
    assert_eq!(seconds("5."), None);
    assert_eq!(seconds("-2.25"), Some((-2_250_000_000, 10_000_000)));
}

#[test]
fn times_of_day_to_their_last_minute_and_second() {
    use crate::filter::literal::utc_time;
    let day = utc_time("2026-04-30").unwrap().0;
    let s = 1_000_000_000i128;
    assert_eq!(utc_time("2026-04-30 23:59"), Some((day + (23 * 3600 + 59 * 60) * s, 60 * s)));
    assert_eq!(utc_time("2026-04-30 23:59:59"), Some((day + 86_399 * s, s)));
    assert_eq!(utc_time("2026-04-30 24:00"), None);
    assert_eq!(utc_time("2026-04-30 23:60"), None);
    assert_eq!(utc_time("2026-04-30 23:59:60"), None);
    // Thirty days have April, June, September and November.
    for m in ["04", "06", "09", "11"] {
        assert!(utc_time(&format!("2026-{m}-30")).is_some(), "{m}");
        assert_eq!(utc_time(&format!("2026-{m}-31")), None, "{m}");
    }
    assert!(utc_time("2026-05-31").is_some());
    // Offsets up to 23:59.
    assert_eq!(utc_time("2026-04-30 23:59+23:59"), Some((day, 60 * s)));
    assert_eq!(utc_time("2026-04-30 23:59+00:59"), Some((day + (23 * 3600) * s, 60 * s)));
    assert_eq!(utc_time("2026-04-30 23:59+00:60"), None);
}

#[test]
fn a_mapped_address_is_an_ipv4_network_only_from_prefix_96() {
    use crate::filter::literal::ip_net;
    let a = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    assert_eq!(ip_net("::ffff:10.10.0.0/96"), Some((a("10.10.0.0"), 0)));
    assert_eq!(ip_net("::ffff:10.10.0.0/64"), Some((a("::ffff:10.10.0.0"), 64)));
}

#[test]
fn the_first_of_equally_close_names_is_suggested() {
    use crate::filter::literal::suggest;
    assert_eq!(suggest("abx", ["aby", "abz"]), Some("aby"));
    assert_eq!(suggest("abx", ["abz", "aby"]), Some("abz"));
    // A closer one later wins.
    assert_eq!(suggest("abcdef", ["abcxyf", "abcdex"]), Some("abcdex"));
}

#[test]
fn true_and_false_order_as_one_and_zero() {
    let m = open_conf();
    m.all(&["PeripheralOnline >= true", "PeripheralOnline > false", "PeripheralOnline <= true"]);
    m.none(&["PeripheralOnline < true", "PeripheralOnline <= false"]);
}

#[test]
fn a_time_in_a_set_covers_the_whole_seconds_within_its_precision() {
    let m = open_conf();
    m.all(&[
        "ICMCentralControllerTime in {\"2026-01-05 09:00:18\"}",
        "ICMCentralControllerTime in {\"2026-01-05 09:00\"}",
        "ICMCentralControllerTime in {\"2026-01-05 09:00:17.9\" \"2026-01-05 09:00:18.0\"}",
    ]);
    // 17.9 s to 17.999... holds no whole second.
    m.none(&["ICMCentralControllerTime in {\"2026-01-05 09:00:17.9\"}"]);
    // The capture time to the microsecond written: 09:00:18.364264.
    let r = open_req();
    r.all(&["time in {\"2026-01-05 09:00:18.364264\"}", "time in {\"2026-01-05 09:00:18.36\"}"]);
    r.none(&["time in {\"2026-01-05 09:00:18.364263\"}", "time in {\"2026-01-05 09:00:18.35\"}"]);
}

#[test]
fn a_range_is_a_set_element_only() {
    assert!(Filter::compile("InvokeID in {1..3}").is_ok());
    let (col, msg) = error("InvokeID == 1..3");
    assert_eq!(col, 13, "{msg}");
}

#[test]
fn bit_tests_of_numbers_and_of_the_frame_number() {
    let m = open_req();
    // Frame 39: bits 0, 1, 2 and 5.
    m.all(&["frame & 1", "frame & 0x20"]);
    m.none(&["frame & 8"]);
    let (_, msg) = error("InvokeID & abc");
    assert!(msg.contains("a number"), "{msg}");
}

#[test]
fn negations_side_by_side_do_not_add_up_to_a_nesting() {
    let many = vec!["!frame"; 3 * crate::filter::compile::MAX_NESTING].join(" || ");
    assert!(Filter::compile(&many).is_ok());
    let many = vec!["(frame)"; 3 * crate::filter::compile::MAX_NESTING].join(" || ");
    assert!(Filter::compile(&many).is_ok());
}

#[test]
fn a_date_asks_for_quotes_only_before_a_time_of_day() {
    let quotes = "a date and time are written in quotes";
    for expr in ["time >= 2026-01-05 0900", "time >= 2026-01-05 a:b", "time >= 2026-01-05 abc"] {
        let (_, msg) = error(expr);
        assert!(!msg.contains(quotes), "{expr}: {msg}");
    }
}

#[test]
fn a_relative_time_in_a_set_covers_its_precision() {
    // 12.5 s after the first packet.
    let m = open_req();
    m.all(&["reltime in {12.5}", "reltime in {12}", "reltime in {1 12.50}"]);
    m.none(&["reltime in {12.4}", "reltime in {12.49}", "reltime in {13}"]);
}

#[test]
fn fractions_of_a_second_to_nine_digits() {
    use crate::filter::literal::utc_time;
    let s = utc_time("2026-01-05 09:00:18").unwrap().0;
    assert_eq!(utc_time("2026-01-05 09:00:18.364264001"), Some((s + 364_264_001, 1)));
    assert_eq!(utc_time("2026-01-05 09:00:18.36426400"), Some((s + 364_264_000, 10)));
    assert_eq!(utc_time("2026-01-05 09:00:18.3642640011"), None);
    assert_eq!(utc_time("2026-01-05 09:00:18."), None);
}
