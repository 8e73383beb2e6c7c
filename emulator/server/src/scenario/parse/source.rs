//! Key paths and spans: where in the text a problem is, so every error
//! names its file, line, column and key.

use std::fmt;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::scenario::ScenarioError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct KeyPath(pub(super) Vec<Seg>);

impl KeyPath {
    pub(super) fn root() -> KeyPath {
        KeyPath(Vec::new())
    }
    pub(super) fn k(&self, key: &str) -> KeyPath {
        let mut p = self.clone();
        p.0.push(Seg::Key(key.to_string()));
        p
    }
    pub(super) fn i(&self, index: usize) -> KeyPath {
        let mut p = self.clone();
        p.0.push(Seg::Index(index));
        p
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if n == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// A problem found while checking, about one key.
pub(super) struct Problem {
    pub(super) path: KeyPath,
    pub(super) message: String,
    /// Where in the text, when known better than from the path (a key
    /// rather than its value).
    pub(super) at: Option<usize>,
}

pub(super) fn problem(path: &KeyPath, message: impl Into<String>) -> Problem {
    Problem {
        path: path.clone(),
        message: message.into(),
        at: None,
    }
}

pub(super) type Checked<T> = Result<T, Problem>;

/// Every key and array element of a document, with its path and spans.
pub(super) struct Entry {
    path: KeyPath,
    key: Range<usize>,
    value: Range<usize>,
}

pub(super) fn flatten_table(table: &DeTable<'_>, prefix: &KeyPath, out: &mut Vec<Entry>) {
    for (k, v) in table.iter() {
        let path = prefix.k(k.get_ref());
        out.push(Entry {
            path: path.clone(),
            key: k.span(),
            value: v.span(),
        });
        flatten_value(v, &path, out);
    }
}

fn flatten_value(value: &Spanned<DeValue<'_>>, path: &KeyPath, out: &mut Vec<Entry>) {
    match value.get_ref() {
        DeValue::Table(t) => flatten_table(t, path, out),
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                let p = path.i(i);
                out.push(Entry {
                    path: p.clone(),
                    key: item.span(),
                    value: item.span(),
                });
                flatten_value(item, &p, out);
            }
        }
        _ => {}
    }
}

fn contains(span: &Range<usize>, at: usize) -> bool {
    (span.start <= at && at < span.end) || span.start == at
}

/// The key an error at `at` is about: the deepest key whose name or value
/// holds it, else the last key before it.
fn path_at(entries: &[Entry], at: usize) -> Option<&Entry> {
    entries
        .iter()
        .filter(|e| contains(&e.key, at) || contains(&e.value, at))
        .max_by_key(|e| e.path.0.len())
        .or_else(|| {
            entries
                .iter()
                .filter(|e| e.key.start <= at)
                .max_by_key(|e| (e.key.start, e.path.0.len()))
        })
}

/// Where a key path is in the document: its value, or as near as the
/// document gets (the table it would be in).
pub(super) fn locate(root: &DeTable<'_>, path: &KeyPath) -> Option<usize> {
    let mut best = None;
    let mut current: Option<&Spanned<DeValue<'_>>> = None;
    for seg in &path.0 {
        let next = match (seg, current.map(|v| v.get_ref())) {
            (Seg::Key(key), None) => root
                .iter()
                .find(|(k, _)| k.get_ref() == key)
                .map(|(_, v)| v),
            (Seg::Key(key), Some(DeValue::Table(t))) => {
                t.iter().find(|(k, _)| k.get_ref() == key).map(|(_, v)| v)
            }
            (Seg::Index(i), Some(DeValue::Array(a))) => a.get(*i),
            _ => None,
        };
        match next {
            Some(v) => {
                best = Some(v.span().start);
                current = Some(v);
            }
            None => break,
        }
    }
    best
}

/// Line and column (1-based, in characters) of a byte offset.
pub(super) fn line_column(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let mut at = at;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
    (line, before[line_start..].chars().count() + 1)
}

pub(super) struct Source<'a> {
    pub(super) text: &'a str,
    pub(super) file: &'a str,
}

impl Source<'_> {
    pub(super) fn error(
        &self,
        at: Option<usize>,
        key: Option<String>,
        message: String,
    ) -> ScenarioError {
        let (line, column) = match at {
            Some(at) => {
                let (l, c) = line_column(self.text, at);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        ScenarioError {
            file: self.file.to_string(),
            line,
            column,
            key,
            message,
        }
    }

    /// A TOML error (syntax or serde), with the key it is about.
    pub(super) fn toml_error(&self, entries: &[Entry], e: &toml::de::Error) -> ScenarioError {
        let message = e.message().trim().to_string();
        let Some(span) = e.span() else {
            return self.error(None, None, message);
        };
        let mut at = span.start;
        let mut key = path_at(entries, at).map(|e| e.path.clone());
        // An unknown key reported on its table: point at the key itself.
        if let Some(name) = message
            .strip_prefix("unknown field `")
            .and_then(|m| m.split('`').next())
            && let Some(found) = entries.iter().find(|e| {
                key.as_ref().is_none_or(|k| e.path.0.starts_with(&k.0))
                    && e.path.0.last() == Some(&Seg::Key(name.to_string()))
            })
        {
            at = found.key.start;
            key = Some(found.path.clone());
        }
        self.error(
            Some(at),
            key.filter(|k| !k.0.is_empty()).map(|k| k.to_string()),
            message,
        )
    }
}
