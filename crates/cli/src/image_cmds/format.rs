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

/// Docker's binary size with 4 significant digits (`units.BytesSize`):
/// `1.211MiB`, `7.667GiB`, `0B`.
pub fn binary_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    let digits = if v >= 1.0 {
        v.log10().floor() as i32 + 1
    } else {
        1
    };
    let s = format!("{v:.*}", (4 - digits).max(0) as usize);
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    };
    format!("{s}{}", UNITS[i])
}

/// Docker's `HumanDuration` + " ago".
pub fn since(secs: i64) -> String {
    format!(
        "{} ago",
        berth_engine::time::human(i128::from(secs) * 1_000_000_000)
    )
}

/// Seconds since the epoch of an RFC 3339 time (`2024-01-02T03:04:05.6Z`).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    berth_engine::time::parse_rfc3339(s).map(|n| n.div_euclid(1_000_000_000) as i64)
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
    fn binary_sizes_like_docker() {
        assert_eq!(binary_size(0), "0B");
        assert_eq!(binary_size(1023), "1023B");
        assert_eq!(binary_size(1_269_760), "1.211MiB");
        assert_eq!(binary_size(8_232_689_664), "7.667GiB");
        assert_eq!(binary_size(64 * 1024 * 1024), "64MiB");
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
