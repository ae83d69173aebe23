//! Reading a MySQL expression: a tokenizer and a recursive-descent parser that build
//! the small tree `expr` translates. Both servers' spellings are read (MariaDB's
//! `` ucase(`c`) ``, `'it\'s'`; MySQL 8's parentheses, `_utf8mb4'x'` introducers and the
//! extra escaping its `information_schema` adds). Every node keeps the span of the text it
//! came from, so what cannot be translated is named exactly. Nesting is bounded, so a
//! crafted clause cannot exhaust the stack.

use crate::printable::escaped;

// ---------------------------------------------------------------------------------------
// Tokens

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    /// A bare word: a keyword, a function name or a column.
    Word(String),
    /// A `backticked` name, quotes undone.
    Quoted(String),
    Str(String),
    /// A string with a charset introducer other than a text one (`_binary'..'`), or a
    /// hexadecimal or bit literal.
    Binary,
    /// `"..."`: a string or, under ANSI_QUOTES, a name.
    DoubleQuoted,
    Num(String),
    Op(&'static str),
    End,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
}

enum LexError {
    /// A backslash outside a string: the clause is MySQL's escaped form.
    Backslash,
    At(usize, String),
}

const OPERATORS: &[&str] = &[
    "<=>", "<=", ">=", "<>", "!=", "<<", ">>", "&&", "||", ":=", "->", "(", ")", ",", ".", "+",
    "-", "*", "/", "%", "=", "<", ">", "!", "~", "&", "|", "^",
];

fn word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// A quoted string starting at `start` (the quote), with MySQL's escapes undone;
/// returns the value and the end offset.
fn read_string(text: &str, start: usize, quote: char) -> Result<(String, usize), LexError> {
    let mut value = String::new();
    let mut chars = text[start + 1..].char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e)) => match e {
                    '0' => value.push('\0'),
                    'b' => value.push('\u{8}'),
                    'n' => value.push('\n'),
                    'r' => value.push('\r'),
                    't' => value.push('\t'),
                    'Z' => value.push('\u{1a}'),
                    // LIKE's wildcards keep their backslash.
                    '%' | '_' => {
                        value.push('\\');
                        value.push(e);
                    }
                    other => value.push(other),
                },
                None => break,
            },
            c if c == quote => {
                if chars.peek().map(|(_, n)| *n) == Some(quote) {
                    chars.next();
                    value.push(quote);
                } else {
                    return Ok((value, start + 1 + i + c.len_utf8()));
                }
            }
            c => value.push(c),
        }
    }
    Err(LexError::At(start, "a string that is not closed".into()))
}

fn tokenize(text: &str) -> Result<Vec<Token>, LexError> {
    let mut out = Vec::new();
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < text.len() {
        let c = text[i..].chars().next().unwrap_or(' ');
        let start = i;
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        let tok = if c == '\\' {
            return Err(LexError::Backslash);
        } else if c == '\'' {
            let (v, end) = read_string(text, i, '\'')?;
            i = end;
            Tok::Str(v)
        } else if c == '"' {
            let (_, end) = read_string(text, i, '"')?;
            i = end;
            Tok::DoubleQuoted
        } else if c == '`' {
            let mut name = String::new();
            let mut j = i + 1;
            loop {
                let Some(n) = text[j..].chars().next() else {
                    return Err(LexError::At(start, "a `name` that is not closed".into()));
                };
                j += n.len_utf8();
                if n == '`' {
                    if text[j..].starts_with('`') {
                        name.push('`');
                        j += 1;
                    } else {
                        break;
                    }
                } else {
                    name.push(n);
                }
            }
            i = j;
            Tok::Quoted(name)
        } else if c.is_ascii_digit()
            || (c == '.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            if c == '0' && matches!(bytes.get(i + 1), Some(b'x' | b'X' | b'b' | b'B')) {
                i += 2;
                while let Some(n) = text[i..].chars().next().filter(|n| word_char(*n)) {
                    i += n.len_utf8();
                }
                Tok::Binary
            } else {
                let mut j = i;
                while j < text.len() && bytes[j].is_ascii_digit() {
                    j += 1;
                }
                if j < text.len() && bytes[j] == b'.' {
                    j += 1;
                    while j < text.len() && bytes[j].is_ascii_digit() {
                        j += 1;
                    }
                }
                if j < text.len() && matches!(bytes[j], b'e' | b'E') {
                    let mut k = j + 1;
                    if k < text.len() && matches!(bytes[k], b'+' | b'-') {
                        k += 1;
                    }
                    if k < text.len() && bytes[k].is_ascii_digit() {
                        while k < text.len() && bytes[k].is_ascii_digit() {
                            k += 1;
                        }
                        j = k;
                    }
                }
                if j < text.len() && word_char(text[j..].chars().next().unwrap_or(' ')) {
                    return Err(LexError::At(
                        start,
                        "a name that starts with a digit".into(),
                    ));
                }
                i = j;
                Tok::Num(text[start..j].to_string())
            }
        } else if word_char(c) {
            let mut j = i;
            while j < text.len() {
                let n = text[j..].chars().next().unwrap_or(' ');
                if !word_char(n) {
                    break;
                }
                j += n.len_utf8();
            }
            let word = &text[i..j];
            i = j;
            if text[j..].starts_with('\'') {
                // An introducer or a prefixed literal: _utf8mb4'x', N'x', X'0A', b'01'.
                let (v, end) = read_string(text, j, '\'')?;
                i = end;
                let w = word.to_ascii_lowercase();
                if w == "x" || w == "b" || w == "_binary" {
                    Tok::Binary
                } else if w == "n" || w.starts_with('_') {
                    Tok::Str(v)
                } else {
                    // DATE'2020-01-01' (MariaDB prints no space): a word, then a string.
                    i = j;
                    Tok::Word(word.to_string())
                }
            } else {
                Tok::Word(word.to_string())
            }
        } else if text[i..].starts_with("/*")
            || c == '#'
            || (text[i..].starts_with("--")
                && text[i + 2..].chars().next().is_none_or(char::is_whitespace))
        {
            return Err(LexError::At(start, "a comment".into()));
        } else if let Some(op) = OPERATORS.iter().find(|op| text[i..].starts_with(**op)) {
            i += op.len();
            Tok::Op(op)
        } else {
            return Err(LexError::At(start, format!("the character {:?}", c)));
        };
        out.push(Token { tok, start, end: i });
    }
    out.push(Token {
        tok: Tok::End,
        start: text.len(),
        end: text.len(),
    });
    Ok(out)
}

/// MySQL 8 shows CHECK clauses and generation expressions in `information_schema`
/// escaped once more (`_utf8mb4\'it\\\'s\'`); this undoes that.
fn unescape_once(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('0') => out.push('\0'),
            Some('Z') => out.push('\u{1a}'),
            Some(o @ ('\\' | '\'' | '"')) => out.push(o),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// The tree

pub(super) type Span = (usize, usize);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    NullSafeEq,
    Add,
    Sub,
    Mul,
    Div,
    IntDiv,
    Mod,
    /// XOR, bit operators, shifts: parsed, never translated.
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Temporal {
    Date,
    Time,
    Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TrimSide {
    Both,
    Leading,
    Trailing,
}

#[derive(Clone, Debug)]
pub(super) enum Node {
    Column(String),
    Str(String),
    Num(String),
    Null,
    Bool(bool),
    Typed(Temporal, String),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    Between {
        e: Box<Expr>,
        lo: Box<Expr>,
        hi: Box<Expr>,
        negated: bool,
    },
    In {
        e: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    IsNull {
        e: Box<Expr>,
        negated: bool,
    },
    Like {
        e: Box<Expr>,
        pattern: Box<Expr>,
        escape: Option<Box<Expr>>,
        negated: bool,
    },
    Regexp {
        e: Box<Expr>,
        pattern: Box<Expr>,
        flags: Option<Box<Expr>>,
        negated: bool,
    },
    Call(String, Vec<Expr>),
    Trim {
        side: TrimSide,
        chars: Option<Box<Expr>>,
        e: Box<Expr>,
    },
    Case {
        operand: Option<Box<Expr>>,
        whens: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
    },
    /// Parsed but outside the subset (CAST, INTERVAL, a row, a subquery, ...).
    Unsupported(String),
}

#[derive(Clone, Debug)]
pub(super) struct Expr {
    pub node: Node,
    pub span: Span,
}

/// Where parsing stopped: the span of the part that could not be read, and why.
struct Stop {
    span: Span,
    why: String,
}

struct Parser<'t> {
    toks: Vec<Token>,
    pos: usize,
    text: &'t str,
    /// How deeply the expression nests so far (a crafted one must not exhaust the stack).
    depth: usize,
}

/// Deeper expressions are reported, not parsed (real CHECK clauses nest a few levels).
const MAX_DEPTH: usize = 64;

fn boxed(e: Expr) -> Box<Expr> {
    Box::new(e)
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].tok
    }

    fn start(&self) -> usize {
        self.toks[self.pos].start
    }

    fn last_end(&self) -> usize {
        if self.pos == 0 {
            0
        } else {
            self.toks[self.pos - 1].end
        }
    }

    fn bump(&mut self) -> Token {
        let t = self.toks[self.pos].clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Word(x) if x.eq_ignore_ascii_case(w))
    }

    fn is_word_at(&self, n: usize, w: &str) -> bool {
        matches!(self.peek_at(n), Tok::Word(x) if x.eq_ignore_ascii_case(w))
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if self.is_word(w) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Tok::Op(o) if *o == op)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        if self.is_op(op) {
            self.bump();
            true
        } else {
            false
        }
    }

    /// The end of the group the current token is in: the next `,` or unmatched `)` at
    /// this depth, or the end of the text.
    fn group_end(&self) -> usize {
        let mut depth = 0i32;
        for t in &self.toks[self.pos..] {
            match &t.tok {
                Tok::Op("(") => depth += 1,
                Tok::Op(")") if depth == 0 => return t.start,
                Tok::Op(")") => depth -= 1,
                Tok::Op(",") if depth == 0 => return t.start,
                Tok::End => return t.start,
                _ => {}
            }
        }
        self.text.len()
    }

    fn stop(&self, why: impl Into<String>) -> Stop {
        self.stop_from(self.start(), why)
    }

    /// Stops with the span from `start` to the end of the current group.
    fn stop_from(&self, start: usize, why: impl Into<String>) -> Stop {
        let end = self.group_end().max(self.toks[self.pos].end);
        Stop {
            span: (start, end),
            why: why.into(),
        }
    }

    fn unexpected(&self) -> Stop {
        let what = match self.peek() {
            Tok::End => return self.stop("the expression ends too early"),
            Tok::Word(w) => format!("`{}` is not part of the translated subset", escaped(w)),
            Tok::Op(o) => format!("`{o}` is not expected here"),
            Tok::DoubleQuoted => {
                "a double-quoted string or name is ambiguous (ANSI_QUOTES)".to_string()
            }
            _ => "this is not expected here".to_string(),
        };
        self.stop(what)
    }

    fn expect_op(&mut self, op: &str) -> Result<(), Stop> {
        if self.eat_op(op) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn make(&self, node: Node, start: usize) -> Expr {
        Expr {
            node,
            span: (start, self.last_end()),
        }
    }

    fn parse(mut self) -> Result<Expr, Stop> {
        let e = self.or()?;
        if *self.peek() != Tok::End {
            return Err(self.unexpected());
        }
        Ok(e)
    }

    /// Runs `f` one level deeper, refusing to go past `MAX_DEPTH`.
    fn nested(&mut self, f: fn(&mut Self) -> Result<Expr, Stop>) -> Result<Expr, Stop> {
        if self.depth >= MAX_DEPTH {
            return Err(Stop {
                span: (self.start(), self.text.len()),
                why: "the expression is nested too deeply".into(),
            });
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn or(&mut self) -> Result<Expr, Stop> {
        self.nested(Self::or_inner)
    }

    fn or_inner(&mut self) -> Result<Expr, Stop> {
        let start = self.start();
        let mut l = self.xor()?;
        while self.eat_word("or") || self.eat_op("||") {
            let r = self.xor()?;
            l = self.make(Node::Bin(BinOp::Or, boxed(l), boxed(r)), start);
        }
        Ok(l)
    }

    fn xor(&mut self) -> Result<Expr, Stop> {
        let start = self.start();
        let mut l = self.and()?;
        while self.eat_word("xor") {
            let r = self.and()?;
            l = self.make(Node::Bin(BinOp::Other, boxed(l), boxed(r)), start);
        }
        Ok(l)
    }

    fn and(&mut self) -> Result<Expr, Stop> {
        let start = self.start();
        let mut l = self.not()?;
        while self.eat_word("and") || self.eat_op("&&") {
            let r = self.not()?;
            l = self.make(Node::Bin(BinOp::And, boxed(l), boxed(r)), start);
        }
        Ok(l)
    }

    fn not(&mut self) -> Result<Expr, Stop> {
        let start = self.start();
        if self.eat_word("not") {
            let e = self.nested(Self::not)?;
            return Ok(self.make(Node::Not(boxed(e)), start));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, Stop> {
        let start = self.start();
        let mut l = self.bit_or()?;
        loop {
            let op = match self.peek() {
                Tok::Op("=") => Some(BinOp::Eq),
                Tok::Op("<>") | Tok::Op("!=") => Some(BinOp::Ne),
                Tok::Op("<") => Some(BinOp::Lt),
                Tok::Op("<=") => Some(BinOp::Le),
                Tok::Op(">") => Some(BinOp::Gt),
                Tok::Op(">=") => Some(BinOp::Ge),
                Tok::Op("<=>") => Some(BinOp::NullSafeEq),
                _ => None,
            };
            if let Some(op) = op {
                self.bump();
                if self.is_word("any") || self.is_word("all") || self.is_word("some") {
                    return Err(self.stop("a subquery comparison is not translated"));
                }
                let r = self.bit_or()?;
                l = self.make(Node::Bin(op, boxed(l), boxed(r)), start);
                continue;
            }
            if self.is_word("is") {
                self.bump();
                let negated = self.eat_word("not");
                if !self.eat_word("null") {
                    return Err(self.unexpected());
                }
                l = self.make(
                    Node::IsNull {
                        e: boxed(l),
                        negated,
                    },
                    start,
                );
                continue;
            }
            let negated = self.is_word("not")
                && (self.is_word_at(1, "between")
                    || self.is_word_at(1, "in")
                    || self.is_word_at(1, "like")
                    || self.is_word_at(1, "regexp")
                    || self.is_word_at(1, "rlike"));
            if negated {
                self.bump();
            }
            if self.eat_word("between") {
                let lo = self.bit_or()?;
                if !self.eat_word("and") {
                    return Err(self.unexpected());
                }
                let hi = self.bit_or()?;
                l = self.make(
                    Node::Between {
                        e: boxed(l),
                        lo: boxed(lo),
                        hi: boxed(hi),
                        negated,
                    },
                    start,
                );
            } else if self.eat_word("in") {
                if matches!(self.peek_at(1), Tok::Word(w) if w.eq_ignore_ascii_case("select")) {
                    self.skip_group()?;
                    l = self.make(
                        Node::Unsupported("a subquery is not translated".into()),
                        start,
                    );
                    continue;
                }
                self.expect_op("(")?;
                let mut list = vec![self.or()?];
                while self.eat_op(",") {
                    list.push(self.or()?);
                }
                self.expect_op(")")?;
                l = self.make(
                    Node::In {
                        e: boxed(l),
                        list,
                        negated,
                    },
                    start,
                );
            } else if self.eat_word("like") {
                let pattern = self.bit_or()?;
                let escape = if self.eat_word("escape") {
                    Some(boxed(self.bit_or()?))
                } else {
                    None
                };
                l = self.make(
                    Node::Like {
                        e: boxed(l),
                        pattern: boxed(pattern),
                        escape,
                        negated,
                    },
                    start,
                );
            } else if self.eat_word("regexp") || self.eat_word("rlike") {
                let pattern = self.bit_or()?;
                l = self.make(
                    Node::Regexp {
                        e: boxed(l),
                        pattern: boxed(pattern),
                        flags: None,
                        negated,
                    },
                    start,
                );
            } else if self.is_word("sounds") || self.is_word("member") {
                return Err(self.unexpected());
            } else {
                return Ok(l);
            }
        }
    }

    fn bit_or(&mut self) -> Result<Expr, Stop> {
        let start = self.start();
        let mut l = self.bit_and()?;
        while self.eat_op("|") {
            let r = self.bit_and()?;
            l = self.make(Node::Bin(BinOp::Other, boxed(l), boxed(r)), start);
        }
        Ok(l)
    }

    fn bit_and(&mut self) -> Result<Expr, Stop> {
        let start = self.start();
        let mut l = self.shift()?;
        while self.eat_op("&") {
            let r = self.shift()?;
            l = self.make(Node::Bin(BinOp::Other, boxed(l), boxed(r)), start);
        }
        Ok(l)
    }

    fn shift(&mut self) -> Result<Expr, Stop> {
        let start = self.start();
        let mut l = self.additive()?;
        while self.eat_op("<<") || self.eat_op(">>") {
            let r = self.additive()?;
            l = self.make(Node::Bin(BinOp::Other, boxed(l), boxed(r)), start);
        }
        Ok(l)
    }

    fn additive(&mut self) -> Result<Expr, Stop> {
        let start = self.start();
        let mut l = self.multiplicative()?;
        loop {
            let op = if self.eat_op("+") {
                BinOp::Add
            } else if self.eat_op("-") {
                BinOp::Sub
            } else {
                return Ok(l);
            };
            if self.is_word("interval") {
                return Err(self.stop("INTERVAL arithmetic is not translated"));
            }
            let r = self.multiplicative()?;
            l = self.make(Node::Bin(op, boxed(l), boxed(r)), start);
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, Stop> {
        let start = self.start();
        let mut l = self.bit_xor()?;
        loop {
            let op = if self.eat_op("*") {
                BinOp::Mul
            } else if self.eat_op("/") {
                BinOp::Div
            } else if self.eat_op("%") || self.eat_word("mod") {
                BinOp::Mod
            } else if self.eat_word("div") {
                BinOp::IntDiv
            } else {
                return Ok(l);
            };
            let r = self.bit_xor()?;
            l = self.make(Node::Bin(op, boxed(l), boxed(r)), start);
        }
    }

    fn bit_xor(&mut self) -> Result<Expr, Stop> {
        let start = self.start();
        let mut l = self.unary()?;
        while self.eat_op("^") {
            let r = self.unary()?;
            l = self.make(Node::Bin(BinOp::Other, boxed(l), boxed(r)), start);
        }
        Ok(l)
    }

    fn unary(&mut self) -> Result<Expr, Stop> {
        let start = self.start();
        if self.eat_op("-") {
            let e = self.nested(Self::unary)?;
            return Ok(self.make(Node::Neg(boxed(e)), start));
        }
        if self.eat_op("+") {
            return self.nested(Self::unary);
        }
        if self.eat_op("!") {
            let e = self.nested(Self::unary)?;
            return Ok(self.make(Node::Not(boxed(e)), start));
        }
        if self.eat_op("~") {
            let _ = self.nested(Self::unary)?;
            return Ok(self.make(
                Node::Unsupported("bit inversion (~) is not translated".into()),
                start,
            ));
        }
        if self.eat_word("binary") {
            let _ = self.nested(Self::unary)?;
            return Ok(self.make(Node::Unsupported("BINARY is not translated".into()), start));
        }
        let e = self.primary()?;
        if self.is_word("collate") {
            self.bump();
            self.bump();
            return Ok(self.make(Node::Unsupported("COLLATE is not translated".into()), start));
        }
        Ok(e)
    }

    /// Skips a parenthesized group that starts at the current `(`.
    fn skip_group(&mut self) -> Result<(), Stop> {
        self.expect_op("(")?;
        let mut depth = 1;
        while depth > 0 {
            match self.bump().tok {
                Tok::Op("(") => depth += 1,
                Tok::Op(")") => depth -= 1,
                Tok::End => return Err(self.stop("a parenthesis is not closed")),
                _ => {}
            }
        }
        Ok(())
    }

    fn args(&mut self) -> Result<Vec<Expr>, Stop> {
        let mut args = Vec::new();
        if self.eat_op(")") {
            return Ok(args);
        }
        loop {
            args.push(self.or()?);
            if self.eat_op(")") {
                return Ok(args);
            }
            self.expect_op(",")?;
        }
    }

    fn primary(&mut self) -> Result<Expr, Stop> {
        let start = self.start();
        let tok = self.peek().clone();
        match tok {
            Tok::Op("(") => {
                if matches!(self.peek_at(1), Tok::Word(w) if w.eq_ignore_ascii_case("select")) {
                    self.skip_group()?;
                    return Ok(self.make(
                        Node::Unsupported("a subquery is not translated".into()),
                        start,
                    ));
                }
                self.bump();
                let e = self.or()?;
                if self.is_op(",") {
                    while !self.is_op(")") && *self.peek() != Tok::End {
                        self.bump();
                    }
                    self.expect_op(")")?;
                    return Ok(self.make(
                        Node::Unsupported("a row of values is not translated".into()),
                        start,
                    ));
                }
                self.expect_op(")")?;
                Ok(Expr {
                    node: e.node,
                    span: (start, self.last_end()),
                })
            }
            Tok::Str(v) => {
                self.bump();
                Ok(self.make(Node::Str(v), start))
            }
            Tok::Num(n) => {
                self.bump();
                Ok(self.make(Node::Num(n), start))
            }
            Tok::Binary => {
                self.bump();
                Ok(self.make(
                    Node::Unsupported(
                        "a binary, hexadecimal or bit literal is not translated".into(),
                    ),
                    start,
                ))
            }
            Tok::Quoted(name) => {
                self.bump();
                if self.is_op(".") {
                    return Err(self.stop_from(start, "a qualified name is not translated"));
                }
                Ok(self.make(Node::Column(name), start))
            }
            Tok::Word(w) => self.word(w, start),
            _ => Err(self.unexpected()),
        }
    }

    fn word(&mut self, w: String, start: usize) -> Result<Expr, Stop> {
        let lower = w.to_ascii_lowercase();
        let call = matches!(self.peek_at(1), Tok::Op("("));
        match lower.as_str() {
            "null" => {
                self.bump();
                return Ok(self.make(Node::Null, start));
            }
            "true" | "false" => {
                self.bump();
                return Ok(self.make(Node::Bool(lower == "true"), start));
            }
            "date" | "time" | "timestamp" if matches!(self.peek_at(1), Tok::Str(_)) => {
                self.bump();
                let Tok::Str(v) = self.bump().tok else {
                    unreachable!("checked above")
                };
                let kind = match lower.as_str() {
                    "date" => Temporal::Date,
                    "time" => Temporal::Time,
                    _ => Temporal::Timestamp,
                };
                return Ok(self.make(Node::Typed(kind, v), start));
            }
            "case" => {
                self.bump();
                return self.case(start);
            }
            "interval" => return Err(self.stop("INTERVAL arithmetic is not translated")),
            "exists" | "select" => return Err(self.stop("a subquery is not translated")),
            "current_timestamp" | "current_date" | "current_time" | "localtime"
            | "localtimestamp" | "current_user" | "utc_timestamp" | "utc_date" | "utc_time"
                if !call =>
            {
                self.bump();
                return Ok(self.make(
                    Node::Unsupported(format!(
                        "{} changes from one evaluation to the next",
                        w.to_ascii_uppercase()
                    )),
                    start,
                ));
            }
            _ => {}
        }
        self.bump();
        if !call {
            if self.is_op(".") {
                return Err(self.stop_from(start, "a qualified name is not translated"));
            }
            return Ok(self.make(Node::Column(w), start));
        }
        match lower.as_str() {
            "cast" | "convert" | "extract" | "match" | "position" | "char" | "weight_string"
            | "json_table" | "json_value" | "group_concat" => {
                self.skip_group()?;
                return Ok(self.make(
                    Node::Unsupported(format!("{} is not translated", lower.to_uppercase())),
                    start,
                ));
            }
            _ => {}
        }
        self.expect_op("(")?;
        match lower.as_str() {
            "substring" | "substr" | "mid" => {
                let s = self.or()?;
                let mut args = vec![s];
                if self.eat_word("from") {
                    args.push(self.or()?);
                    if self.eat_word("for") {
                        args.push(self.or()?);
                    }
                    self.expect_op(")")?;
                } else if self.eat_op(",") {
                    args.extend(self.args()?);
                } else {
                    self.expect_op(")")?;
                }
                Ok(self.make(Node::Call("substring".into(), args), start))
            }
            "trim" => {
                let side = if self.eat_word("both") {
                    Some(TrimSide::Both)
                } else if self.eat_word("leading") {
                    Some(TrimSide::Leading)
                } else if self.eat_word("trailing") {
                    Some(TrimSide::Trailing)
                } else {
                    None
                };
                let (chars, e) = if side.is_some() && self.eat_word("from") {
                    (None, self.or()?)
                } else {
                    let first = self.or()?;
                    if self.eat_word("from") {
                        (Some(boxed(first)), self.or()?)
                    } else if side.is_some() {
                        return Err(self.unexpected());
                    } else {
                        (None, first)
                    }
                };
                self.expect_op(")")?;
                Ok(self.make(
                    Node::Trim {
                        side: side.unwrap_or(TrimSide::Both),
                        chars,
                        e: boxed(e),
                    },
                    start,
                ))
            }
            "regexp_like" => {
                let mut args = self.args()?;
                if args.len() < 2 || args.len() > 3 {
                    return Ok(self.make(
                        Node::Unsupported("REGEXP_LIKE with other than 2 or 3 arguments".into()),
                        start,
                    ));
                }
                let flags = if args.len() == 3 { args.pop() } else { None };
                let pattern = args.pop().expect("two arguments");
                let e = args.pop().expect("two arguments");
                Ok(self.make(
                    Node::Regexp {
                        e: boxed(e),
                        pattern: boxed(pattern),
                        flags: flags.map(boxed),
                        negated: false,
                    },
                    start,
                ))
            }
            _ => {
                let args = self.args()?;
                Ok(self.make(Node::Call(lower, args), start))
            }
        }
    }

    fn case(&mut self, start: usize) -> Result<Expr, Stop> {
        let operand = if self.is_word("when") {
            None
        } else {
            Some(boxed(self.or()?))
        };
        let mut whens = Vec::new();
        while self.eat_word("when") {
            let w = self.or()?;
            if !self.eat_word("then") {
                return Err(self.unexpected());
            }
            let t = self.or()?;
            whens.push((w, t));
        }
        if whens.is_empty() {
            return Err(self.unexpected());
        }
        let otherwise = if self.eat_word("else") {
            Some(boxed(self.or()?))
        } else {
            None
        };
        if !self.eat_word("end") {
            return Err(self.unexpected());
        }
        Ok(self.make(
            Node::Case {
                operand,
                whens,
                otherwise,
            },
            start,
        ))
    }
}

/// Reads `text`. Returns the text the spans refer to (MySQL 8's extra escaping undone)
/// and the tree, or the span that could not be read and why.
pub(super) fn parse(text: &str) -> (String, Result<Expr, (Span, String)>) {
    let decoded = text.to_string();
    let toks = match tokenize(text) {
        Ok(t) => t,
        Err(LexError::Backslash) => {
            let decoded = unescape_once(text);
            return match tokenize(&decoded) {
                Ok(t) => {
                    let tree = run(t, &decoded);
                    (decoded, tree)
                }
                Err(e) => {
                    let stop = lex_failure(&decoded, e);
                    (decoded, Err(stop))
                }
            };
        }
        Err(e) => {
            let stop = lex_failure(text, e);
            return (decoded, Err(stop));
        }
    };
    let tree = run(toks, &decoded);
    (decoded, tree)
}

fn run(toks: Vec<Token>, text: &str) -> Result<Expr, (Span, String)> {
    let parser = Parser {
        toks,
        pos: 0,
        text,
        depth: 0,
    };
    parser.parse().map_err(|stop| (stop.span, stop.why))
}

fn lex_failure(text: &str, e: LexError) -> (Span, String) {
    match e {
        LexError::Backslash => ((0, text.len()), "a backslash outside a string".into()),
        LexError::At(at, why) => {
            let end = text[at..]
                .char_indices()
                .nth(24)
                .map(|(i, _)| at + i)
                .unwrap_or(text.len());
            ((at, end), format!("{why} cannot be read"))
        }
    }
}
