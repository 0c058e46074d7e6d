//! The first layer of the Dockerfile parser: text → logical lines
//! ([`Node`]s) with their positions, as BuildKit's `parser.go` reads them:
//! parser directives (`# syntax=`, `# escape=`, `# check=`) at the top,
//! comments, line continuations with the escape token, builder flags
//! (`--from=x`) split off the arguments, and heredoc bodies collected for
//! RUN, COPY and ADD. Pure.

use std::fmt;

use crate::shell::{Lex, NoVars};

/// Where a malformed Dockerfile went wrong. Lines and columns count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Dockerfile:{}:{}: {}",
            self.line, self.column, self.message
        )
    }
}

/// A heredoc attached to an instruction (`RUN <<EOF ... EOF`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    /// Whether variables in the body are expanded (the word was unquoted).
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from the body.
    pub chomp: bool,
    /// The file descriptor (`3<<EOF`), 0 when none was given.
    pub fd: u32,
    pub content: String,
}

/// A builder flag as written (`--chown=1:1`), with where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFlag {
    pub text: String,
    pub offset: usize,
}

/// One piece of a logical line: where its text came from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    /// Byte offset in the logical line.
    logical: usize,
    line: usize,
    /// The physical line's text before the segment (for columns).
    prefix_chars: usize,
}

/// One instruction as written: a logical line with its flags and
/// arguments split off, and its heredocs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub keyword: String,
    pub flags: Vec<RawFlag>,
    pub args: String,
    /// Byte offset of `args` in `original`.
    pub args_offset: usize,
    /// The logical line (continuations joined, comments dropped).
    pub original: String,
    pub heredocs: Vec<Heredoc>,
    pub start_line: usize,
    pub end_line: usize,
    segments: Vec<Segment>,
}

impl Node {
    /// Line and column of a byte offset in the logical line.
    pub fn pos(&self, offset: usize) -> (usize, usize) {
        let seg = self
            .segments
            .iter()
            .rev()
            .find(|s| s.logical <= offset)
            .or(self.segments.first());
        match seg {
            Some(s) => {
                let within = self
                    .original
                    .get(s.logical..offset.min(self.original.len()))
                    .map_or(0, |t| t.chars().count());
                (s.line, s.prefix_chars + within + 1)
            }
            None => (self.start_line, 1),
        }
    }

    /// An error at a byte offset of the logical line.
    pub fn error_at(&self, offset: usize, message: impl Into<String>) -> ParseError {
        let (line, column) = self.pos(offset);
        ParseError {
            line,
            column,
            message: message.into(),
        }
    }

    /// An error at the start of the arguments.
    pub fn error_args(&self, message: impl Into<String>) -> ParseError {
        self.error_at(self.args_offset, message)
    }

    /// An error at the keyword.
    pub fn error(&self, message: impl Into<String>) -> ParseError {
        self.error_at(0, message)
    }

    /// A node for the instruction inside `ONBUILD`, `HEALTHCHECK CMD`:
    /// `rest` starts at byte `offset` of this node's line.
    pub fn sub(&self, offset: usize, escape: char) -> Result<Node, ParseError> {
        let text = self.original.get(offset..).unwrap_or("");
        let lead = text.len() - text.trim_start().len();
        let mut n = split_command(text.trim_start(), escape).map_err(|(o, m)| {
            let (line, column) = self.pos(offset + lead + o);
            ParseError {
                line,
                column,
                message: m,
            }
        })?;
        // Offsets of the sub node are relative to the parent's line.
        let shift = offset + lead;
        n.args_offset += shift;
        for f in &mut n.flags {
            f.offset += shift;
        }
        n.original = self.original.clone();
        n.segments = self.segments.clone();
        n.start_line = self.start_line;
        n.end_line = self.end_line;
        n.heredocs = self.heredocs.clone();
        Ok(n)
    }
}

/// The parsed file before instructions are typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFile {
    pub escape: char,
    /// Recognised parser directives, lower-cased name and value.
    pub directives: Vec<(String, String)>,
    pub nodes: Vec<Node>,
    /// Non-fatal findings (empty continuation lines).
    pub warnings: Vec<String>,
}

struct Directives {
    done: bool,
    seen: Vec<(String, String)>,
    escape: char,
}

impl Directives {
    /// Looks at a line for a parser directive; true when it was one.
    fn line(&mut self, line: &str) -> Result<bool, String> {
        if self.done {
            return Ok(false);
        }
        let Some(rest) = line.strip_prefix('#') else {
            self.done = true;
            return Ok(false);
        };
        let rest = rest.trim_start();
        let Some((k, v)) = rest.split_once('=') else {
            self.done = true;
            return Ok(false);
        };
        let k = k.trim_end();
        let v = v.trim();
        let valid_name = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && k.chars().all(|c| c.is_ascii_alphanumeric());
        let k = k.to_ascii_lowercase();
        if !valid_name || v.is_empty() || !matches!(k.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(false);
        }
        if self.seen.iter().any(|(n, _)| *n == k) {
            return Err(format!("only one {k} parser directive can be used"));
        }
        if k == "escape" {
            self.escape = match v {
                "\\" => '\\',
                "`" => '`',
                _ => return Err(format!("invalid escape token '{v}' does not match ` or \\")),
            };
        }
        self.seen.push((k, v.to_owned()));
        Ok(true)
    }
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Removes a trailing continuation (escape token, then only blanks) and
/// says whether the line ended there.
fn trim_continuation(line: &str, escape: char) -> (String, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    if let Some(before) = t.strip_suffix(escape) {
        if before.is_empty() || !before.ends_with(escape) {
            return (before.to_owned(), false);
        }
    }
    (line.to_owned(), true)
}

const HEREDOC_KEYWORDS: &[&str] = &["run", "copy", "add"];

/// Parses the text into logical lines.
pub fn parse_raw(text: &str) -> Result<RawFile, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut d = Directives {
        done: false,
        seen: Vec::new(),
        escape: '\\',
    };
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();
    let mut i = 0;
    let err = |line: usize, message: String| ParseError {
        line,
        column: 1,
        message,
    };
    while i < lines.len() {
        let raw = lines[i].trim_end_matches(['\r', '\n']);
        i += 1;
        let start_line = i;
        let lead = raw.len() - raw.trim_start().len();
        let first = &raw[lead..];
        let directive = d.line(first).map_err(|m| err(i, m))?;
        if directive || is_comment(first) {
            continue;
        }
        let (body, mut ended) = trim_continuation(first, d.escape);
        if ended && body.is_empty() {
            continue;
        }
        let mut logical = body;
        let mut segments = vec![Segment {
            logical: 0,
            line: i,
            prefix_chars: raw[..lead].chars().count(),
        }];
        let mut empty_continuation = false;
        while !ended && i < lines.len() {
            let raw = lines[i].trim_end_matches(['\r', '\n']);
            i += 1;
            d.done = true;
            if is_comment(raw) {
                continue;
            }
            if raw.trim_start().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (body, e) = trim_continuation(raw, d.escape);
            ended = e;
            segments.push(Segment {
                logical: logical.len(),
                line: i,
                prefix_chars: 0,
            });
            logical.push_str(&body);
        }
        if empty_continuation {
            warnings.push(format!(
                "line {start_line}: empty continuation line found in: {logical}"
            ));
        }
        let mut node = split_command(&logical, d.escape).map_err(|(off, m)| {
            let n = Node {
                keyword: String::new(),
                flags: Vec::new(),
                args: String::new(),
                args_offset: 0,
                original: logical.clone(),
                heredocs: Vec::new(),
                start_line,
                end_line: i,
                segments: segments.clone(),
            };
            n.error_at(off, m)
        })?;
        node.original = logical;
        node.segments = segments;
        node.start_line = start_line;
        node.end_line = i;
        if heredoc_capable(&node, d.escape) && node.original.contains("<<") {
            for mut h in heredocs_in_line(&node.original) {
                let mut content = String::new();
                let mut terminated = false;
                while i < lines.len() {
                    let l = lines[i];
                    i += 1;
                    let mut candidate = l.trim_end_matches(['\r', '\n']);
                    if h.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == h.name {
                        terminated = true;
                        break;
                    }
                    content.push_str(l);
                }
                if !terminated {
                    return Err(ParseError {
                        line: start_line,
                        column: 1,
                        message: format!(
                            "unterminated heredoc: no line {:?} after line {start_line} ends it",
                            h.name
                        ),
                    });
                }
                h.content = content;
                node.heredocs.push(h);
            }
            node.end_line = i;
        }
        nodes.push(node);
    }
    if nodes.is_empty() {
        return Err(ParseError {
            line: lines.len().max(1),
            column: 1,
            message: "file with no instructions".into(),
        });
    }
    Ok(RawFile {
        escape: d.escape,
        directives: d.seen,
        nodes,
        warnings,
    })
}

/// RUN, COPY and ADD in shell form (or under ONBUILD) may have heredocs.
fn heredoc_capable(node: &Node, escape: char) -> bool {
    let kw = node.keyword.to_ascii_lowercase();
    if kw == "onbuild" {
        return match node.sub(node.args_offset, escape) {
            Ok(n) => heredoc_capable(&n, escape),
            Err(_) => false,
        };
    }
    HEREDOC_KEYWORDS.contains(&kw.as_str()) && !looks_json(&node.args)
}

/// Whether arguments are a JSON array of strings (exec form).
pub fn looks_json(args: &str) -> bool {
    let t = args.trim_start();
    t.starts_with('[') && serde_json::from_str::<Vec<String>>(t).is_ok()
}

/// Finds the heredoc markers of a line, as BuildKit does: the line is
/// split into words (quotes and escapes kept), and every word of the form
/// `[n]<<[-]WORD` with WORD a single word names one.
fn heredocs_in_line(line: &str) -> Vec<Heredoc> {
    let lex = Lex {
        escape: '\\',
        raw_quotes: true,
        raw_escapes: true,
        skip_unset: true,
    };
    let Ok(words) = lex.process_words(line, &NoVars) else {
        return Vec::new();
    };
    words.iter().filter_map(|w| heredoc_of_word(w)).collect()
}

/// `[n]<<[-]WORD` (WORD possibly quoted) as a heredoc marker.
pub fn heredoc_of_word(word: &str) -> Option<Heredoc> {
    let digits = word.chars().take_while(char::is_ascii_digit).count();
    let rest = word[digits..].strip_prefix("<<")?;
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_start();
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let fd = word[..digits].parse().unwrap_or(0);
    let plain = Lex {
        escape: '\\',
        raw_quotes: false,
        raw_escapes: false,
        skip_unset: true,
    };
    let words = plain.process_words(rest, &NoVars).ok()?;
    let [name] = words.as_slice() else {
        return None;
    };
    let raw = Lex {
        raw_quotes: true,
        ..plain
    };
    let raw_words = raw.process_words(rest, &NoVars).ok()?;
    let quotes = |s: &str| s.matches(['\'', '"']).count();
    let expand = raw_words.first().is_some_and(|r| quotes(r) == quotes(name));
    Some(Heredoc {
        name: name.clone(),
        expand,
        chomp,
        fd,
        content: String::new(),
    })
}

/// Splits `KEYWORD [--flags] args`; an error carries its byte offset.
fn split_command(line: &str, escape: char) -> Result<Node, (usize, String)> {
    let trimmed = line.trim();
    let lead = line.len() - line.trim_start().len();
    let is_ws = |c: char| matches!(c, ' ' | '\t' | '\x0b' | '\x0c' | '\r');
    let (keyword, rest_off) = match trimmed.find(is_ws) {
        Some(k) => {
            let after = &trimmed[k..];
            let skip = after.len() - after.trim_start_matches(is_ws).len();
            (&trimmed[..k], lead + k + skip)
        }
        None => (trimmed, line.len()),
    };
    let rest = line.get(rest_off..).unwrap_or("");
    let (flags, args_rel) = extract_flags(rest, escape);
    let args_part = &rest[args_rel..];
    let args = args_part.trim();
    let args_offset = rest_off + args_rel + (args_part.len() - args_part.trim_start().len());
    Ok(Node {
        keyword: keyword.to_owned(),
        flags: flags
            .into_iter()
            .map(|(text, off)| RawFlag {
                text,
                offset: rest_off + off,
            })
            .collect(),
        args: args.to_owned(),
        args_offset,
        original: line.to_owned(),
        heredocs: Vec::new(),
        start_line: 0,
        end_line: 0,
        segments: Vec::new(),
    })
}

/// Leading `--name[=value]` words (quotes and escapes processed, as
/// BuildKit's extractBuilderFlags does); returns them with their offsets
/// and where the arguments start. A lone `--` ends the flags.
fn extract_flags(line: &str, escape: char) -> (Vec<(String, usize)>, usize) {
    let mut flags = Vec::new();
    let b: Vec<(usize, char)> = line.char_indices().collect();
    let mut i = 0;
    loop {
        while i < b.len() && b[i].1.is_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            return (flags, line.len());
        }
        let start = b[i].0;
        if !(b[i].1 == '-' && b.get(i + 1).is_some_and(|c| c.1 == '-')) {
            return (flags, start);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        let mut blank_ok = false;
        while i < b.len() {
            let c = b[i].1;
            match quote {
                None if c.is_whitespace() => break,
                None if c == '\'' || c == '"' => {
                    quote = Some(c);
                    blank_ok = true;
                }
                Some(q) if c == q => quote = None,
                _ if c == escape => {
                    if let Some(n) = b.get(i + 1) {
                        word.push(n.1);
                        i += 1;
                    }
                }
                _ => word.push(c),
            }
            i += 1;
        }
        if word == "--" {
            let end = b.get(i).map_or(line.len(), |x| x.0);
            return (flags, end);
        }
        if blank_ok || !word.is_empty() {
            flags.push((word, start));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_comments_and_positions() {
        let f = parse_raw("FROM a\n\n# c\nRUN echo \\\n  # inner\n  hi \\\n\n  there\nENV x=1\n")
            .unwrap();
        assert_eq!(f.nodes.len(), 3);
        let run = &f.nodes[1];
        assert_eq!(run.keyword, "RUN");
        assert_eq!(run.args, "echo   hi   there");
        assert_eq!((run.start_line, run.end_line), (4, 8));
        assert_eq!(f.warnings.len(), 1);
        // "there" is on line 8, column 3.
        let off = run.original.find("there").unwrap();
        assert_eq!(run.pos(off), (8, 3));
        assert_eq!(f.nodes[2].start_line, 9);
    }

    #[test]
    fn directives_only_at_the_top() {
        let f =
            parse_raw("# syntax=docker/dockerfile:1\n# escape=`\nFROM a\nRUN a `\n b\n").unwrap();
        assert_eq!(f.escape, '`');
        assert_eq!(
            f.directives[0],
            ("syntax".into(), "docker/dockerfile:1".into())
        );
        assert_eq!(f.nodes[1].args, "a  b");
        let f = parse_raw("\n# escape=`\nFROM a\nRUN a `\n").unwrap();
        assert_eq!(f.escape, '\\', "an empty line ends the directives");
        let e = parse_raw("# escape=x\nFROM a\n").unwrap_err();
        assert_eq!((e.line, e.column), (1, 1));
        assert!(e.message.contains("invalid escape token 'x'"), "{e}");
        let e = parse_raw("# escape=`\n# escape=\\\nFROM a\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("only one escape"));
    }

    #[test]
    fn flags_split_off_with_offsets() {
        let f = parse_raw("COPY --from=b --chown=\"1:2\" a b\n").unwrap();
        let n = &f.nodes[0];
        assert_eq!(
            n.flags.iter().map(|f| f.text.as_str()).collect::<Vec<_>>(),
            ["--from=b", "--chown=1:2"]
        );
        assert_eq!(n.pos(n.flags[1].offset), (1, 15));
        assert_eq!(n.args, "a b");
        assert_eq!(n.pos(n.args_offset), (1, 29));
    }

    #[test]
    fn heredocs_are_collected() {
        let f = parse_raw(
            "FROM a\nRUN <<EOF\necho $X\nEOF\nCOPY <<-\"A\" <<B /d/\n\tone\n\tA\ntwo\nB\nRUN [\"a\", \"<<E\"]\n",
        )
        .unwrap();
        let run = &f.nodes[1];
        assert_eq!(run.heredocs.len(), 1);
        assert_eq!(run.heredocs[0].content, "echo $X\n");
        assert!(run.heredocs[0].expand);
        let copy = &f.nodes[2];
        assert_eq!(copy.heredocs[0].name, "A");
        assert!(copy.heredocs[0].chomp && !copy.heredocs[0].expand);
        assert_eq!(copy.heredocs[0].content, "\tone\n");
        assert_eq!(copy.heredocs[1].content, "two\n");
        assert!(f.nodes[3].heredocs.is_empty(), "exec form has none");
        let e = parse_raw("FROM a\nRUN <<EOF\nx\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("unterminated heredoc"));
    }

    #[test]
    fn empty_file_is_an_error() {
        let e = parse_raw("# only a comment\n\n").unwrap_err();
        assert_eq!(e.message, "file with no instructions");
    }
}
