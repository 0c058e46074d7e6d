//! Docker's output conventions: human sizes and ages, and the small subset
//! of Go templates `--format` uses (`{{.Field}}`, `{{json .}}`, `table`).

use std::collections::BTreeMap;

/// Docker's SI size with 3 significant digits: `4.26MB`, `12.3kB`, `512B`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let s = if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    };
    format!("{s}{}", UNITS[i])
}

/// Docker's `HumanDuration` + " ago".
pub fn since(secs: i64) -> String {
    let s = secs.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    let t = if s < 1 {
        "Less than a second".to_owned()
    } else if s == 1 {
        "1 second".to_owned()
    } else if s < 60 {
        format!("{s} seconds")
    } else if m == 1 {
        "About a minute".to_owned()
    } else if m < 60 {
        format!("{m} minutes")
    } else if h == 1 {
        "About an hour".to_owned()
    } else if h < 48 {
        format!("{h} hours")
    } else if h < 24 * 7 * 2 {
        format!("{d} days")
    } else if h < 24 * 30 * 2 {
        format!("{} weeks", d / 7)
    } else if h < 24 * 365 * 2 {
        format!("{} months", d / 30)
    } else {
        format!("{} years", d / 365)
    };
    format!("{t} ago")
}

/// Seconds since the epoch of an RFC 3339 time (`2024-01-02T03:04:05.6Z`).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || (b[10] != b'T' && b[10] != b't' && b[10] != b' ')
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    if let Some(r) = rest.strip_prefix('.') {
        rest = r.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest {
        "Z" | "z" => 0,
        r if r.len() == 6 && (r.starts_with('+') || r.starts_with('-')) => {
            let oh: i64 = r.get(1..3)?.parse().ok()?;
            let om: i64 = r.get(4..6)?.parse().ok()?;
            let o = oh * 3600 + om * 60;
            if r.starts_with('-') {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    // days from civil (Howard Hinnant's algorithm)
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86400 + h * 3600 + mi * 60 + se - offset)
}

/// A parsed `--format` template.
pub struct Template {
    pub table: bool,
    parts: Vec<Part>,
}

enum Part {
    Text(String),
    Field(String),
    Json,
}

impl Template {
    /// Parses `text`, checking every field against `known`.
    pub fn parse(text: &str, known: &[&str]) -> Result<Template, String> {
        let (table, body) = match text.strip_prefix("table") {
            Some(rest) => (true, rest.trim_start()),
            None => (false, text),
        };
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        let mut parts = Vec::new();
        let mut rest = body.as_str();
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("template: unclosed action in {text:?}"))?;
            let action = after[..end].trim();
            if action == "json ." {
                parts.push(Part::Json);
            } else if let Some(field) = action.strip_prefix('.') {
                if !known.contains(&field) {
                    return Err(format!(
                        "template: can't evaluate field {field} (known: {})",
                        known.join(", ")
                    ));
                }
                parts.push(Part::Field(field.to_owned()));
            } else {
                return Err(format!("template: unsupported action {{{{{action}}}}}"));
            }
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template { table, parts })
    }

    /// The header row for `table` templates, given each field's title.
    pub fn header(&self, titles: &BTreeMap<&str, &str>) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.clone(),
                Part::Field(f) => titles
                    .get(f.as_str())
                    .map_or_else(|| f.to_uppercase(), |t| (*t).to_owned()),
                Part::Json => String::new(),
            })
            .collect()
    }

    pub fn render(&self, fields: &BTreeMap<&str, String>) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.clone(),
                Part::Field(f) => fields.get(f.as_str()).cloned().unwrap_or_default(),
                Part::Json => serde_json::to_string(fields).unwrap_or_default(),
            })
            .collect()
    }
}

/// Pads tab-separated rows into aligned columns (3 spaces apart), like
/// Docker's tabwriter.
pub fn columns(rows: &[String]) -> String {
    let cells: Vec<Vec<&str>> = rows.iter().map(|r| r.split('\t').collect()).collect();
    let n = cells.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; n];
    for r in &cells {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in &cells {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            line.push_str(c);
            if i + 1 < r.len() {
                line.push_str(&" ".repeat(widths[i] - c.chars().count() + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker() {
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(4_261_000), "4.26MB");
        assert_eq!(human_size(12_340), "12.3kB");
        assert_eq!(human_size(123_400_000), "123MB");
        assert_eq!(human_size(4_000_000), "4MB");
    }

    #[test]
    fn ages_and_times() {
        assert_eq!(since(0), "Less than a second ago");
        assert_eq!(since(3 * 86400), "3 days ago");
        assert_eq!(since(20 * 86400), "2 weeks ago");
        assert_eq!(parse_rfc3339("1970-01-02T00:00:00Z"), Some(86400));
        assert_eq!(
            parse_rfc3339("2024-05-01T12:00:00.123456789+02:00"),
            Some(1_714_557_600)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn templates() {
        let t = Template::parse("{{.Repository}}:{{.Tag}}", &["Repository", "Tag"]).expect("parse");
        let mut f = BTreeMap::new();
        f.insert("Repository", "busybox".to_owned());
        f.insert("Tag", "latest".to_owned());
        assert_eq!(t.render(&f), "busybox:latest");
        assert!(Template::parse("{{.Nope}}", &["Tag"]).is_err());
        assert!(Template::parse("{{.Tag", &["Tag"]).is_err());
        let t =
            Template::parse("table {{.Tag}}\\t{{.Repository}}", &["Repository", "Tag"]).expect("t");
        assert!(t.table);
        assert_eq!(t.render(&f), "latest\tbusybox");
    }
}
