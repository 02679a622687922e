//! The filter's tokens: words, quoted strings, operators and punctuation, each with the
//! column (1-based, in characters) where it starts.

use super::FilterError;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    /// `&&` or `and`.
    And,
    /// `||` or `or`.
    Or,
    /// `!` or `not`.
    Not,
    /// `&` (bit test).
    Amp,
    Cmp(CmpOp),
    /// `contains`.
    Contains,
    /// `matches` or `~`.
    Matches,
    /// `in`.
    In,
    /// A bare word: a field name, a number, a value name, an address.
    Word(String),
    /// A quoted string, escapes applied.
    Str(Vec<u8>),
    End,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    /// 1-based, in characters.
    pub col: usize,
    /// The token as written (for messages; for a keyword read as a value, its word).
    pub text: String,
}

impl Token {
    /// A keyword word (`in`, `and`, `eq`, ...) where a value is expected is that word.
    pub fn as_word(&self) -> Option<&str> {
        match &self.tok {
            Tok::Word(w) => Some(w),
            Tok::And | Tok::Or | Tok::Not | Tok::Contains | Tok::Matches | Tok::In | Tok::Cmp(_)
                if self.text.bytes().all(|b| b.is_ascii_alphabetic()) =>
            {
                Some(&self.text)
            }
            _ => None,
        }
    }
}

/// Characters of a bare word: field names (`cti.AgentID`, `ip.addr`), numbers (`-5`, `0x1F`),
/// value names, rule ids (`session-reconnect`), addresses (`10.0.0.0/8`, `fe80::1`), dates
/// and ranges (`1..5`).
fn word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-' | '/')
}

fn keyword(w: &str) -> Option<Tok> {
    Some(match w {
        "and" => Tok::And,
        "or" => Tok::Or,
        "not" => Tok::Not,
        "contains" => Tok::Contains,
        "matches" => Tok::Matches,
        "in" => Tok::In,
        "eq" => Tok::Cmp(CmpOp::Eq),
        "ne" => Tok::Cmp(CmpOp::Ne),
        "lt" => Tok::Cmp(CmpOp::Lt),
        "le" => Tok::Cmp(CmpOp::Le),
        "gt" => Tok::Cmp(CmpOp::Gt),
        "ge" => Tok::Cmp(CmpOp::Ge),
        _ => return None,
    })
}

/// Cut `expr` into tokens, ending with [`Tok::End`].
pub(crate) fn tokens(expr: &str) -> Result<Vec<Token>, FilterError> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let next = chars.get(i + 1).copied();
        let two = |second: char| next == Some(second);
        let (tok, len) = match c {
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            '{' => (Tok::LBrace, 1),
            '}' => (Tok::RBrace, 1),
            ',' => (Tok::Comma, 1),
            '~' => (Tok::Matches, 1),
            '&' if two('&') => (Tok::And, 2),
            '&' => (Tok::Amp, 1),
            '|' if two('|') => (Tok::Or, 2),
            '|' => return Err(FilterError::new(col, format!("'|' at column {col}: use '||' (or 'or')"))),
            '=' if two('=') => (Tok::Cmp(CmpOp::Eq), 2),
            '=' => return Err(FilterError::new(col, format!("'=' at column {col}: use '==' to compare"))),
            '!' if two('=') => (Tok::Cmp(CmpOp::Ne), 2),
            '!' => (Tok::Not, 1),
            '<' if two('=') => (Tok::Cmp(CmpOp::Le), 2),
            '<' => (Tok::Cmp(CmpOp::Lt), 1),
            '>' if two('=') => (Tok::Cmp(CmpOp::Ge), 2),
            '>' => (Tok::Cmp(CmpOp::Gt), 1),
            '"' | '\'' => {
                let (bytes, len) = string(&chars, i)?;
                (Tok::Str(bytes), len)
            }
            c if word_char(c) => {
                let len = chars[i..].iter().take_while(|&&c| word_char(c)).count();
                let w: String = chars[i..i + len].iter().collect();
                (keyword(&w).unwrap_or(Tok::Word(w)), len)
            }
            c => {
                return Err(FilterError::new(col, format!("unexpected character '{c}' at column {col}")));
            }
        };
        let text: String = chars[i..i + len].iter().collect();
        out.push(Token { tok, col, text });
        i += len;
    }
    out.push(Token { tok: Tok::End, col: chars.len() + 1, text: String::new() });
    Ok(out)
}

/// The string opening at `chars[start]` (its quote): its bytes with escapes applied and the
/// characters it takes, quotes included. Escapes: `\"`, `\'`, `\\`, `\n`, `\r`, `\t`, `\0`
/// and `\xHH`; any other backslash is kept with the character after it, so that regular
/// expressions read as written (`"user\.id"`).
fn string(chars: &[char], start: usize) -> Result<(Vec<u8>, usize), FilterError> {
    let quote = chars[start];
    let mut out = Vec::new();
    let mut i = start + 1;
    let mut buf = [0u8; 4];
    loop {
        let Some(&c) = chars.get(i) else {
            let col = start + 1;
            return Err(FilterError::new(col, format!("unterminated string at column {col}")));
        };
        if c == quote {
            return Ok((out, i + 1 - start));
        }
        if c != '\\' {
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            i += 1;
            continue;
        }
        let Some(&e) = chars.get(i + 1) else {
            let col = start + 1;
            return Err(FilterError::new(col, format!("unterminated string at column {col}")));
        };
        match e {
            '"' | '\'' | '\\' => out.push(e as u8),
            'n' => out.push(b'\n'),
            'r' => out.push(b'\r'),
            't' => out.push(b'\t'),
            '0' => out.push(0),
            'x' => {
                let hex: String = chars.iter().skip(i + 2).take(2).collect();
                match u8::from_str_radix(&hex, 16) {
                    Ok(b) if hex.len() == 2 => out.push(b),
                    _ => {
                        let col = i + 1;
                        return Err(FilterError::new(
                            col,
                            format!("'\\x' at column {col} needs two hex digits, as in \\x41"),
                        ));
                    }
                }
                i += 4;
                continue;
            }
            other => {
                out.push(b'\\');
                out.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
            }
        }
        i += 2;
    }
}
