//! `.dockerignore`: which context paths a build may read, with the syntax
//! of moby/patternmatcher: one pattern a line, `#` comments, `!`
//! exceptions (the last matching pattern wins), paths cleaned and a
//! leading `/` dropped, `*` and `?` within one path component, `**` across
//! any number of them, `[a-z]` classes and `\` escapes. A pattern that
//! matches a directory matches everything below it. Pure.

/// One piece of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `?`: one character other than `/`.
    One,
    /// `*`: any run of characters other than `/`.
    Star,
    /// `**` not at the end (`**/` too): nothing, or anything ending in `/`.
    AnyDirs,
    /// `**` at the end: anything at all.
    Rest,
    /// `[...]`: (negated, ranges).
    Class(bool, Vec<(char, char)>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    text: String,
    exclusion: bool,
    toks: Vec<Tok>,
}

/// The patterns of one `.dockerignore`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matcher {
    patterns: Vec<Pattern>,
}

/// A pattern that cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(".dockerignore line {line}: pattern {pattern:?}: {problem}")]
pub struct PatternError {
    pub line: usize,
    pub pattern: String,
    pub problem: String,
}

/// Go's `path.Clean` for slash-separated paths.
pub fn clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            x => out.push(x),
        }
    }
    let body = out.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

impl Matcher {
    /// Reads a `.dockerignore` file's text.
    pub fn parse(text: &str) -> Result<Matcher, PatternError> {
        let mut patterns = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let mut p = line.trim();
            if p.is_empty() || p.starts_with('#') {
                continue;
            }
            let exclusion = p.starts_with('!');
            if exclusion {
                p = p[1..].trim();
                if p.is_empty() {
                    return Err(PatternError {
                        line: i + 1,
                        pattern: line.to_owned(),
                        problem: "illegal exclusion pattern: \"!\"".into(),
                    });
                }
            }
            let mut c = clean(p);
            if c.len() > 1 && c.starts_with('/') {
                c.remove(0);
            }
            let toks = compile(&c).map_err(|problem| PatternError {
                line: i + 1,
                pattern: line.to_owned(),
                problem,
            })?;
            patterns.push(Pattern {
                text: c,
                exclusion,
                toks,
            });
        }
        Ok(Matcher { patterns })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether any pattern is an exception (`!`): then an excluded
    /// directory must still be walked, something below it may be let in.
    pub fn has_exclusions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Whether `path` (relative to the context, `/`-separated) is
    /// ignored: the last pattern matching it or one of its parent
    /// directories decides.
    pub fn ignored(&self, path: &str) -> bool {
        let path = clean(path);
        let path = path.trim_start_matches('/');
        let parents: Vec<&str> = match path.rfind('/') {
            Some(i) => path[..i].split('/').collect(),
            None => Vec::new(),
        };
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut hit = matches(&p.toks, &chars(path));
            if !hit {
                for i in 0..parents.len() {
                    if matches(&p.toks, &chars(&parents[..=i].join("/"))) {
                        hit = true;
                        break;
                    }
                }
            }
            if hit {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// The patterns as cleaned (for cache keys and messages).
    pub fn patterns(&self) -> Vec<String> {
        self.patterns
            .iter()
            .map(|p| {
                if p.exclusion {
                    format!("!{}", p.text)
                } else {
                    p.text.clone()
                }
            })
            .collect()
    }
}

fn chars(s: &str) -> Vec<char> {
    s.chars().collect()
}

fn compile(p: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = p.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '*' if c.get(i + 1) == Some(&'*') => {
                i += 2;
                if c.get(i) == Some(&'/') {
                    i += 1;
                }
                toks.push(if i >= c.len() {
                    Tok::Rest
                } else {
                    Tok::AnyDirs
                });
                continue;
            }
            '*' => toks.push(Tok::Star),
            '?' => toks.push(Tok::One),
            '\\' => {
                i += 1;
                toks.push(Tok::Lit(c.get(i).copied().unwrap_or('\\')));
            }
            '[' => {
                let (tok, next) = class(&c, i)?;
                toks.push(tok);
                i = next;
                continue;
            }
            x => toks.push(Tok::Lit(x)),
        }
        i += 1;
    }
    Ok(toks)
}

/// `[...]` starting at `start`; returns the class and the index after it.
fn class(c: &[char], start: usize) -> Result<(Tok, usize), String> {
    let mut i = start + 1;
    let negated = c.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let Some(&ch) = c.get(i) else {
            return Err("syntax error in pattern: unterminated [".into());
        };
        if ch == ']' && !first {
            return Ok((Tok::Class(negated, ranges), i + 1));
        }
        first = false;
        let lo = if ch == '\\' {
            i += 1;
            *c.get(i)
                .ok_or("syntax error in pattern: trailing \\ in [")?
        } else {
            ch
        };
        i += 1;
        if c.get(i) == Some(&'-') && c.get(i + 1).is_some_and(|x| *x != ']') {
            let hi = c[i + 1];
            if hi < lo {
                return Err(format!("syntax error in pattern: bad range {lo}-{hi}"));
            }
            ranges.push((lo, hi));
            i += 2;
        } else {
            ranges.push((lo, lo));
        }
    }
}

/// Whether the tokens match the whole of `s`.
fn matches(t: &[Tok], s: &[char]) -> bool {
    let Some(first) = t.first() else {
        return s.is_empty();
    };
    let rest = &t[1..];
    match first {
        Tok::Lit(c) => s.first() == Some(c) && matches(rest, &s[1..]),
        Tok::One => s.first().is_some_and(|c| *c != '/') && matches(rest, &s[1..]),
        Tok::Class(neg, ranges) => {
            s.first().is_some_and(|c| {
                *c != '/' && (ranges.iter().any(|(lo, hi)| lo <= c && c <= hi) != *neg)
            }) && matches(rest, &s[1..])
        }
        Tok::Star => {
            let run = s.iter().take_while(|c| **c != '/').count();
            (0..=run).any(|n| matches(rest, &s[n..]))
        }
        Tok::Rest => true,
        Tok::AnyDirs => {
            matches(rest, s) || (0..s.len()).any(|n| s[n] == '/' && matches(rest, &s[n + 1..]))
        }
    }
}

/// `filepath.Match` of one path (no `**`; `*` stops at `/`), for the
/// sources of COPY and ADD.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    match compile(pattern) {
        Ok(t) => {
            !t.iter().any(|x| matches!(x, Tok::AnyDirs | Tok::Rest)) && matches(&t, &chars(path))
        }
        Err(_) => false,
    }
}

/// Whether a COPY source has glob characters.
pub fn has_glob(p: &str) -> bool {
    p.contains(['*', '?', '['])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str) -> Matcher {
        Matcher::parse(text).unwrap()
    }

    #[test]
    fn cleans_like_go() {
        assert_eq!(clean("a/./b/../c/"), "a/c");
        assert_eq!(clean("/../a"), "/a");
        assert_eq!(clean("../a"), "../a");
        assert_eq!(clean(""), ".");
        assert_eq!(clean("//x//"), "/x");
    }

    #[test]
    fn patterns_as_patternmatcher_reads_them() {
        let table: &[(&str, &str, bool)] = &[
            ("*.md", "README.md", true),
            ("*.md", "docs/a.md", false),
            ("**/*.md", "docs/a.md", true),
            ("**/*.md", "a.md", true),
            ("docs", "docs/deep/x", true),
            ("/docs", "docs/x", true),
            ("./docs/", "docs/x", true),
            ("a/**/b", "a/b", true),
            ("a/**/b", "a/x/y/b", true),
            ("a/**/b", "a/x/y/c", false),
            ("a/**", "a/x/y", true),
            ("**", "anything/at/all", true),
            ("?.txt", "a.txt", true),
            ("?.txt", "ab.txt", false),
            ("[a-c].txt", "b.txt", true),
            ("[^a-c].txt", "b.txt", false),
            ("[!a-c].txt", "d.txt", false),
            ("[!a-c].txt", "!.txt", true),
            ("\\*.txt", "*.txt", true),
            ("\\*.txt", "a.txt", false),
            ("dir/*", "dir/sub/file", true),
            ("*", "x/y", true),
            ("x", "xy", false),
        ];
        for (p, path, want) in table {
            assert_eq!(m(p).ignored(path), *want, "pattern {p:?} path {path:?}");
        }
    }

    #[test]
    fn last_match_wins_with_exceptions() {
        let x = m("# comment\n*.log\n!keep.log\n\ntmp\n!tmp/keep\n");
        assert!(x.ignored("a.log"));
        assert!(!x.ignored("keep.log"));
        assert!(x.ignored("tmp/junk"));
        assert!(!x.ignored("tmp/keep"));
        assert!(x.has_exclusions());
        let y = m("*\n!src\nsrc/*.o\n");
        assert!(y.ignored("Makefile"));
        assert!(!y.ignored("src/main.c"));
        assert!(y.ignored("src/main.o"));
    }

    #[test]
    fn bad_patterns_are_named() {
        let e = Matcher::parse("ok\n[abc\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("unterminated ["), "{e}");
        assert!(Matcher::parse("!\n").is_err());
    }

    #[test]
    fn copy_globs_stay_within_a_component() {
        assert!(glob_match("*.txt", "a.txt"));
        assert!(!glob_match("*.txt", "d/a.txt"));
        assert!(glob_match("d/*.txt", "d/a.txt"));
        assert!(has_glob("a*") && !has_glob("plain"));
    }
}
