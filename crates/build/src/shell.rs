//! Word expansion as BuildKit's shell lexer does it (`frontend/dockerfile/
//! shell/lex.go`): quotes, escapes with the Dockerfile's escape token, and
//! `$VAR`, `${VAR}`, `${VAR:-x}`, `${VAR-x}`, `${VAR:+x}`, `${VAR+x}`,
//! `${VAR:?x}`, `${VAR?x}`, `${VAR#p}`, `${VAR##p}`, `${VAR%p}`,
//! `${VAR%%p}`, `${VAR/p/r}` and `${VAR//p/r}`. Pure: the variables are
//! given, nothing is run.

/// Variables a word is expanded against.
pub trait Vars {
    fn get(&self, name: &str) -> Option<&str>;
}

/// `KEY=VALUE` strings, as an image config's `Env` holds them; the last
/// definition of a key wins.
impl Vars for [String] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter().rev().find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == name).then_some(v)
        })
    }
}

impl Vars for &[String] {
    fn get(&self, name: &str) -> Option<&str> {
        Vars::get(*self, name)
    }
}

impl Vars for Vec<String> {
    fn get(&self, name: &str) -> Option<&str> {
        Vars::get(self.as_slice(), name)
    }
}

/// No variables at all.
pub struct NoVars;

impl Vars for NoVars {
    fn get(&self, _: &str) -> Option<&str> {
        None
    }
}

/// A word that could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process {word:?}: {message}")]
pub struct ExpandError {
    pub word: String,
    pub message: String,
}

/// The lexer's settings.
#[derive(Debug, Clone, Copy)]
pub struct Lex {
    pub escape: char,
    /// Keep quote characters in the result.
    pub raw_quotes: bool,
    /// Keep escape tokens in the result.
    pub raw_escapes: bool,
    /// Leave references to unset variables as they are.
    pub skip_unset: bool,
}

impl Lex {
    pub fn new(escape: char) -> Lex {
        Lex {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset: false,
        }
    }

    /// Expands `word` into one string (spaces kept).
    pub fn process_word(&self, word: &str, vars: &dyn Vars) -> Result<String, ExpandError> {
        self.run(word, vars).map(|(s, _)| s)
    }

    /// Expands `word` and splits the result into words on unquoted white
    /// space (after expansion, as BuildKit does).
    pub fn process_words(&self, word: &str, vars: &dyn Vars) -> Result<Vec<String>, ExpandError> {
        self.run(word, vars).map(|(_, w)| w)
    }

    fn run(&self, word: &str, vars: &dyn Vars) -> Result<(String, Vec<String>), ExpandError> {
        let mut w = Word {
            lex: *self,
            chars: word.chars().collect(),
            pos: 0,
            vars,
            raw_escapes: self.raw_escapes,
        };
        w.stop_on(None, self.raw_escapes)
            .map_err(|message| ExpandError {
                word: word.to_owned(),
                message,
            })
    }
}

struct Word<'a> {
    lex: Lex,
    chars: Vec<char>,
    pos: usize,
    vars: &'a dyn Vars,
    raw_escapes: bool,
}

/// Words split on white space, with quoted parts kept whole.
#[derive(Default)]
struct Words {
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word && !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(c);
        }
    }
    fn add_raw_char(&mut self, c: char) {
        self.buf.push(c);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }
    fn add_raw_string(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(std::mem::take(&mut self.buf));
        }
        self.words
    }
}

type R<T> = Result<T, String>;

impl Word<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn stop_on(&mut self, stop: Option<char>, raw_escapes: bool) -> R<(String, Vec<String>)> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let out = self.stop_on_inner(stop);
        self.raw_escapes = saved;
        out
    }

    fn stop_on_inner(&mut self, stop: Option<char>) -> R<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            let special = match c {
                '$' => Some(self.dollar()?),
                '<' => Some(self.possible_heredoc()),
                '\'' => Some(self.single_quote()?),
                '"' => Some(self.double_quote()?),
                _ => None,
            };
            if let Some(tmp) = special {
                result.push_str(&tmp);
                if c == '$' {
                    words.add_string(&tmp);
                } else {
                    words.add_raw_string(&tmp);
                }
                continue;
            }
            self.pos += 1;
            let mut ch = c;
            if ch == self.lex.escape {
                if self.raw_escapes {
                    words.add_raw_char(ch);
                    result.push(ch);
                }
                match self.next() {
                    None => break,
                    Some(n) => ch = n,
                }
                words.add_raw_char(ch);
            } else {
                words.add_char(ch);
            }
            result.push(ch);
        }
        if let Some(s) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {s}"
            ));
        }
        Ok((result, words.finish()))
    }

    fn single_quote(&mut self) -> R<String> {
        let mut out = String::new();
        let q = self.next().unwrap_or('\'');
        if self.lex.raw_quotes {
            out.push(q);
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
                Some('\'') => {
                    if self.lex.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> R<String> {
        let mut out = String::new();
        let q = self.next().unwrap_or('"');
        if self.lex.raw_quotes {
            out.push(q);
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    )
                }
                Some('"') => {
                    self.pos += 1;
                    if self.lex.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => {
                    let v = self.dollar()?;
                    out.push_str(&v);
                }
                Some(mut c) => {
                    self.pos += 1;
                    if c == self.lex.escape {
                        if self.raw_escapes {
                            out.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.lex.escape => {
                                self.pos += 1;
                                c = n;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    fn possible_heredoc(&mut self) -> String {
        self.pos += 1;
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.pos += 1;
        let mut s = String::from("<<");
        while let Some(c) = self.peek().filter(|c| *c == ' ' || *c == '\t') {
            s.push(c);
            self.pos += 1;
        }
        s
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return c.to_string();
            }
            if !c.is_alphanumeric() && c != '_' {
                break;
            }
            name.push(c);
            self.pos += 1;
        }
        name
    }

    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).map(str::to_owned)
    }

    fn dollar(&mut self) -> R<String> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.var(&name) {
                Some(v) => v,
                None if self.lex.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1;
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            _ => {}
        }
        let name = self.name();
        let Some(mut ch) = self.next() else {
            return Err("syntax error: missing '}'".into());
        };
        let mut modifier = ch.to_string();
        let mut null_is_unset = false;
        match ch {
            '}' => {
                return Ok(match self.var(&name) {
                    Some(v) => v,
                    None if self.lex.skip_unset => format!("${{{name}}}"),
                    None => String::new(),
                })
            }
            ':' => {
                null_is_unset = true;
                ch = self.next().unwrap_or('\0');
                modifier.push(ch);
            }
            '/' => return self.replace(&name),
            _ => {}
        }
        if !matches!(ch, '+' | '-' | '?' | '#' | '%') {
            return Err(format!("unsupported modifier ({modifier}) in substitution"));
        }
        let raw = ch == '#' || ch == '%';
        if null_is_unset && raw {
            return Err(format!("unsupported modifier ({modifier}) in substitution"));
        }
        let word = match self.stop_on(Some('}'), raw) {
            Ok((w, _)) => w,
            Err(_) if self.peek().is_none() => return Err("syntax error: missing '}'".into()),
            Err(e) => return Err(e),
        };
        let value = self.var(&name);
        if self.lex.skip_unset && value.is_none() {
            return Ok(format!("${{{name}{modifier}{word}}}"));
        }
        let unset = value.is_none() || (null_is_unset && value.as_deref() == Some(""));
        match ch {
            '-' => Ok(if unset {
                word
            } else {
                value.unwrap_or_default()
            }),
            '+' => Ok(if unset { String::new() } else { word }),
            '?' => match value {
                None => Err(format!(
                    "{name}: {}",
                    if word.is_empty() {
                        "is not allowed to be unset"
                    } else {
                        &word
                    }
                )),
                Some(v) if null_is_unset && v.is_empty() => Err(format!(
                    "{name}: {}",
                    if word.is_empty() {
                        "is not allowed to be empty"
                    } else {
                        &word
                    }
                )),
                Some(v) => Ok(v),
            },
            _ => {
                let value = value.unwrap_or_default();
                let (greedy, pat) = match word.strip_prefix(ch) {
                    Some(p) => (true, p.to_owned()),
                    None => (false, word),
                };
                let pat: Vec<char> = pat.chars().collect();
                Ok(if ch == '%' {
                    trim_suffix(&pat, &value, greedy)
                } else {
                    trim_prefix(&pat, &value, greedy)
                })
            }
        }
    }

    fn replace(&mut self, name: &str) -> R<String> {
        let all = self.peek() == Some('/');
        if all {
            self.pos += 1;
        }
        let pattern = match self.stop_on(Some('/'), true) {
            Ok((p, _)) => p,
            Err(_) if self.peek().is_none() => {
                return Err("syntax error: missing '/' in ${}".into())
            }
            Err(e) => return Err(e),
        };
        let replacement = match self.stop_on(Some('}'), true) {
            Ok((r, _)) => r,
            Err(_) if self.peek().is_none() => return Err("syntax error: missing '}'".into()),
            Err(e) => return Err(e),
        };
        let Some(value) = self.var(name) else {
            if self.lex.skip_unset {
                return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
            }
            return Ok(String::new());
        };
        let pat: Vec<char> = pattern.chars().collect();
        let v: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        let mut done = false;
        while i <= v.len() {
            if !done {
                // Leftmost, longest match starting at i (empty matches skipped).
                if let Some(end) = (i + 1..=v.len())
                    .rev()
                    .find(|&e| glob_match(&pat, &v[i..e]))
                {
                    out.push_str(&replacement);
                    i = end;
                    done = !all;
                    continue;
                }
            }
            if let Some(c) = v.get(i) {
                out.push(*c);
            }
            i += 1;
        }
        Ok(out)
    }
}

fn trim_prefix(pat: &[char], value: &str, greedy: bool) -> String {
    let v: Vec<char> = value.chars().collect();
    let mut ends: Box<dyn Iterator<Item = usize>> = if greedy {
        Box::new((0..=v.len()).rev())
    } else {
        Box::new(0..=v.len())
    };
    match ends.find(|&e| glob_match(pat, &v[..e])) {
        Some(e) => v[e..].iter().collect(),
        None => value.to_owned(),
    }
}

fn trim_suffix(pat: &[char], value: &str, greedy: bool) -> String {
    let v: Vec<char> = value.chars().collect();
    let mut starts: Box<dyn Iterator<Item = usize>> = if greedy {
        Box::new(0..=v.len())
    } else {
        Box::new((0..=v.len()).rev())
    };
    match starts.find(|&s| glob_match(pat, &v[s..])) {
        Some(s) => v[..s].iter().collect(),
        None => value.to_owned(),
    }
}

/// Shell wildcard match of the whole of `s`: `*`, `?`, `\x` literal.
fn glob_match(pat: &[char], s: &[char]) -> bool {
    match pat.first() {
        None => s.is_empty(),
        Some('*') => (0..=s.len()).any(|i| glob_match(&pat[1..], &s[i..])),
        Some('?') => !s.is_empty() && glob_match(&pat[1..], &s[1..]),
        Some('\\') if pat.len() > 1 => s.first() == Some(&pat[1]) && glob_match(&pat[2..], &s[1..]),
        Some(c) => s.first() == Some(c) && glob_match(&pat[1..], &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<String> {
        [
            "PWD=/home",
            "SHELL=bash",
            "KOREAN=한국어",
            "EMPTY=",
            "PATTERN=foo.bar.baz",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn word(w: &str) -> Result<String, String> {
        Lex::new('\\')
            .process_word(w, &env())
            .map_err(|e| e.message)
    }

    // Cases from BuildKit's envVarTest, with the results it gives.
    #[test]
    fn expands_like_buildkit() {
        let table: &[(&str, &str)] = &[
            ("hello", "hello"),
            ("he'll'o", "hello"),
            ("he'llo", "<err>"),
            ("he\\'llo", "he'llo"),
            ("he\\\\'llo", "<err>"),
            ("abc\\\\def", "abc\\def"),
            ("\"\"", ""),
            ("\"'\"", "'"),
            ("'\\\"'", "\\\""),
            ("\"a\\b\"", "a\\b"),
            ("\"a\\\"b\"", "a\"b"),
            ("$PWD", "/home"),
            ("${PWD}", "/home"),
            ("\\$PWD", "$PWD"),
            ("'$PWD'", "$PWD"),
            ("\"$PWD\"", "/home"),
            ("$PWD/x", "/home/x"),
            ("${PWD}x", "/homex"),
            ("$PWDx", ""),
            ("${NOPE:-def}", "def"),
            ("${EMPTY:-def}", "def"),
            ("${EMPTY-def}", ""),
            ("${NOPE-def}", "def"),
            ("${PWD:-def}", "/home"),
            ("${PWD:+alt}", "alt"),
            ("${EMPTY:+alt}", ""),
            ("${EMPTY+alt}", "alt"),
            ("${NOPE+alt}", ""),
            ("${KOREAN}", "한국어"),
            ("${PWD:-${SHELL}}", "/home"),
            ("${NOPE:-${SHELL}x}", "bashx"),
            ("${NOPE:-'a b'}", "a b"),
            ("${NOPE:?}", "<err>"),
            ("${EMPTY:?}", "<err>"),
            ("${EMPTY?}", ""),
            ("${PWD:?}", "/home"),
            ("${}", "<err>"),
            ("${:}", "<err>"),
            ("${PWD", "<err>"),
            ("${PWD:=x}", "<err>"),
            ("$", "$"),
            ("a$", "a$"),
            ("${PATTERN#*.}", "bar.baz"),
            ("${PATTERN##*.}", "baz"),
            ("${PATTERN%.*}", "foo.bar"),
            ("${PATTERN%%.*}", "foo"),
            ("${PATTERN/./-}", "foo-bar.baz"),
            ("${PATTERN//./-}", "foo-bar-baz"),
            ("${PATTERN:#x}", "<err>"),
        ];
        for (input, want) in table {
            let got = word(input).unwrap_or_else(|_| "<err>".to_string());
            assert_eq!(&got, want, "input {input:?}");
        }
    }

    #[test]
    fn errors_say_what_is_missing() {
        assert_eq!(word("${PWD").unwrap_err(), "syntax error: missing '}'");
        assert_eq!(
            word("${NOPE:?must be set}").unwrap_err(),
            "NOPE: must be set"
        );
        assert!(word("'open").unwrap_err().contains("single-quote"));
    }

    #[test]
    fn words_split_after_expansion_but_not_inside_quotes() {
        let e: Vec<String> = vec!["A=x y".into()];
        let l = Lex::new('\\');
        assert_eq!(
            l.process_words("$A \"q r\" z", &e).unwrap(),
            ["x", "y", "q r", "z"]
        );
        assert_eq!(l.process_words("a\\ b c", &e).unwrap(), ["a b", "c"]);
    }

    #[test]
    fn backtick_escape_token() {
        let l = Lex::new('`');
        assert_eq!(l.process_word("a`$b\\c", &NoVars).unwrap(), "a$b\\c");
    }

    #[test]
    fn skip_unset_keeps_references() {
        let mut l = Lex::new('\\');
        l.skip_unset = true;
        assert_eq!(
            l.process_word("$X ${Y} ${Z:-d}", &NoVars).unwrap(),
            "$X ${Y} ${Z:-d}"
        );
    }
}
