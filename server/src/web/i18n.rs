//! Interface languages and the translation table. Every string a page shows goes through
//! [`Tr::t`]; a unit test checks that each key used in a template exists in both languages.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::accounts::model::Role;

mod strings;

pub use crate::accounts::model::Lang;

/// Translator handed to templates as `page.tr`.
#[derive(Clone, Copy, Debug)]
pub struct Tr(pub Lang);

impl Tr {
    /// The text for `key`; an unknown key shows itself, so a gap is visible, not blank.
    pub fn t(&self, key: &'static str) -> &'static str {
        match table().get(key) {
            Some((en, zh)) => match self.0 {
                Lang::En => en,
                Lang::Zh => zh,
            },
            None => key,
        }
    }

    /// The text for a key made at run time (an audit action's words), if the table has it.
    pub fn lookup(&self, key: &str) -> Option<&'static str> {
        table().get(key).map(|(en, zh)| match self.0 {
            Lang::En => *en,
            Lang::Zh => *zh,
        })
    }

    pub fn role(&self, role: &Role) -> &'static str {
        match role {
            Role::Patient => self.t("role.patient"),
            Role::Doctor => self.t("role.doctor"),
            Role::Admin => self.t("role.admin"),
        }
    }

    /// The label of a review answer (`pending`, `accepted`, `declined`).
    pub fn rsvp(&self, response: &str) -> &'static str {
        match response {
            "accepted" => self.t("rsvp.accepted"),
            "declined" => self.t("rsvp.declined"),
            _ => self.t("rsvp.pending"),
        }
    }

    /// Every text whose key starts with `prefix`, as a JSON object safe inside a `<script>`
    /// element: for page scripts that build their own elements.
    pub fn json(&self, prefix: &str) -> String {
        let map: std::collections::BTreeMap<&str, &str> = strings::all()
            .filter(|(k, _, _)| k.starts_with(prefix))
            .map(|(k, en, zh)| (&k[prefix.len()..], if self.0 == Lang::Zh { *zh } else { *en }))
            .collect();
        serde_json::to_string(&map).unwrap_or_default().replace('<', "\\u003c")
    }

    /// A server message (an error's English text) in this language: the translation of the
    /// template it was made from, with the values it was made with put back (themselves
    /// translated where they are known words). A message the table lacks stays as it is.
    pub fn message<'a>(&self, english: &'a str) -> std::borrow::Cow<'a, str> {
        if self.0 == Lang::En {
            return english.into();
        }
        let catalogue = catalogue();
        if let Some(zh) = catalogue.exact.get(english) {
            return (*zh).into();
        }
        for t in &catalogue.templates {
            if let Some(values) = fill(&t.parts, english) {
                let values: Vec<&str> =
                    values.into_iter().map(|v| catalogue.values.get(v).copied().unwrap_or(v)).collect();
                return put_back(t.zh, &values).into();
            }
        }
        english.into()
    }

    /// Value for `<html lang>`.
    pub fn html_lang(&self) -> &'static str {
        match self.0 {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
        }
    }
}

/// The error texts, indexed: fixed ones by their text, the others by their literal pieces.
struct Catalogue {
    exact: HashMap<&'static str, &'static str>,
    templates: Vec<Template>,
    values: HashMap<&'static str, &'static str>,
}

struct Template {
    /// The English text split at each `{}`.
    parts: Vec<&'static str>,
    zh: &'static str,
}

fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        let (holes, fixed): (Vec<_>, Vec<_>) =
            strings::errors::ERRORS.iter().partition(|(en, _)| en.contains("{}"));
        // Longer templates first, so that a specific one wins over a general one.
        let mut templates: Vec<Template> =
            holes.into_iter().map(|(en, zh)| Template { parts: en.split("{}").collect(), zh }).collect();
        templates.sort_by_key(|t| std::cmp::Reverse(t.parts.iter().map(|p| p.len()).sum::<usize>()));
        Catalogue {
            exact: fixed.into_iter().collect(),
            templates,
            values: strings::errors::VALUES.iter().map(|(en, zh)| (*en, *zh)).collect(),
        }
    })
}

/// The values in `text` where `parts` (a template split at its holes) has holes, if `text`
/// was made from it.
fn fill<'a>(parts: &[&str], text: &'a str) -> Option<Vec<&'a str>> {
    let (first, rest) = parts.split_first()?;
    let mut left = text.strip_prefix(first)?;
    let mut values = Vec::with_capacity(rest.len());
    for (i, piece) in rest.iter().enumerate() {
        if i + 1 == rest.len() {
            values.push(left.strip_suffix(piece)?);
        } else {
            let at = left.find(piece).filter(|_| !piece.is_empty())?;
            values.push(&left[..at]);
            left = &left[at + piece.len()..];
        }
    }
    Some(values)
}

/// `template` with each `{}` (in turn) or `{N}` (the N-th) replaced by its value.
fn put_back(template: &str, values: &[&str]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut next = 0;
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else { break };
        let inner = &rest[open + 1..open + close];
        let index = if inner.is_empty() {
            next += 1;
            next - 1
        } else {
            inner.parse().unwrap_or(usize::MAX)
        };
        out.push_str(values.get(index).copied().unwrap_or_default());
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

fn table() -> &'static HashMap<&'static str, (&'static str, &'static str)> {
    static TABLE: OnceLock<HashMap<&'static str, (&'static str, &'static str)>> = OnceLock::new();
    TABLE.get_or_init(|| strings::all().map(|(k, en, zh)| (*k, (*en, *zh))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_supported_language() {
        assert_eq!(Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"), Lang::Zh);
        assert_eq!(Lang::from_accept_language("fr-FR,en;q=0.5,zh;q=0.4"), Lang::En);
        assert_eq!(Lang::from_accept_language("de"), Lang::En);
        assert_eq!(Lang::from_accept_language("en;q=0.2, zh-Hans;q=0.9"), Lang::Zh);
    }

    #[test]
    fn every_key_has_both_languages_once() {
        let mut seen = std::collections::HashSet::new();
        for (k, en, zh) in strings::all() {
            assert!(seen.insert(k), "duplicate key {k}");
            assert!(!en.is_empty() && !zh.is_empty(), "{k} lacks a translation");
        }
    }

    #[test]
    fn messages_are_translated_with_their_values_put_back() {
        let zh = Tr(Lang::Zh);
        assert_eq!(zh.message("invite not found"), "未找到该邀请");
        assert_eq!(
            zh.message("only a booked appointment can be moved; this one is completed"),
            "只有已预约的会诊可以改期；此会诊的状态为 已完成"
        );
        assert_eq!(
            zh.message("Dr. Hart signed this note at 2026-12-01T09:00:00Z; a signed note is not changed: add an addendum"),
            "Dr. Hart 已于 2026-12-01T09:00:00Z 签署此记录；已签署的记录不可更改：请添加补充记录"
        );
        assert_eq!(zh.message("password must be at least 12 characters"), "密码至少需要 12 个字符");
        assert_eq!(zh.message("a message no table has"), "a message no table has", "left as it is");
        assert_eq!(Tr(Lang::En).message("invite not found"), "invite not found");
    }

    /// The message argument of each refusal made in `text` (`AppError::Conflict("…")`,
    /// `AppError::invalid(field, format!("…", …))`, …) as a template, `{…}` made `{}`;
    /// refusals made from a value (`e.to_string()`) are not literal and are skipped.
    fn refusals_in(text: &str) -> Vec<String> {
        let mut found = Vec::new();
        let kinds = ["invalid", "Conflict", "Gone", "Unavailable", "BadRequest", "NotFound", "Unsupported"];
        let calls = kinds.map(|k| (format!("AppError::{k}("), usize::from(k == "invalid")));
        // The room's refusals over its socket: `self.error(id, "code", "…")`.
        for (call, skip) in calls.into_iter().chain([("self.error(".to_string(), 2)]) {
            for piece in text.split(&call).skip(1) {
                let mut rest = piece.trim_start();
                let Some(after) = skip_args(rest, skip) else { continue };
                rest = after;
                if let Some(r) = rest.strip_prefix("format!(") {
                    rest = r.trim_start();
                }
                let Some(body) = rest.strip_prefix('"') else { continue };
                let Some(end) = body.find('"') else { continue };
                // `{name}`, `{}` and `{:?}` are all values.
                let mut literal = String::new();
                let mut chars = body[..end].chars();
                while let Some(c) = chars.next() {
                    if c == '{' {
                        chars.by_ref().take_while(|&c| c != '}').for_each(drop);
                        literal.push_str("{}");
                    } else {
                        literal.push(c);
                    }
                }
                if call == "AppError::NotFound(" {
                    literal.push_str(" not found");
                }
                found.push(literal);
            }
        }
        found
    }

    /// `text` after its first `n` call arguments (each up to a comma outside parentheses and
    /// quotes).
    fn skip_args(mut text: &str, n: usize) -> Option<&str> {
        for _ in 0..n {
            let (mut depth, mut quoted, mut cut) = (0, false, None);
            for (i, c) in text.char_indices() {
                match c {
                    '"' => quoted = !quoted,
                    '(' if !quoted => depth += 1,
                    ')' if !quoted => depth -= 1,
                    ',' if !quoted && depth == 0 => {
                        cut = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            text = text[cut? + 1..].trim_start();
        }
        Some(text)
    }

    /// Every refusal the server makes with a literal text has that text in Chinese.
    #[test]
    fn every_refusal_the_server_makes_has_chinese_words() {
        let known: std::collections::HashSet<&str> =
            strings::errors::ERRORS.iter().map(|(en, _)| *en).collect();
        let mut missing = Vec::new();
        for (p, text) in server_sources() {
            for m in refusals_in(&text) {
                if !known.contains(m.as_str()) {
                    missing.push(format!("{m:?} ({})", p.display()));
                }
            }
        }
        assert!(missing.is_empty(), "refusals without Chinese words:\n{}", missing.join("\n"));
    }

    /// Every Rust file of the server but this one (whose tests quote what they look for),
    /// with its text.
    fn server_sources() -> Vec<(std::path::PathBuf, String)> {
        let mut files = Vec::new();
        let mut stack = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("i18n.rs") {
                    let text = std::fs::read_to_string(&p).unwrap();
                    files.push((p, text));
                }
            }
        }
        files
    }

    /// Every audit action the server records (`Event::new("…")`) has words on the audit page.
    #[test]
    fn every_audit_action_has_words() {
        let mut missing = Vec::new();
        for (p, text) in server_sources() {
            for piece in text.split("Event::new(\"").skip(1) {
                let code = piece.split('"').next().unwrap();
                if !table().contains_key(format!("audit.act.{code}").as_str()) {
                    missing.push(format!("{code} ({})", p.display()));
                }
            }
        }
        assert!(missing.is_empty(), "audit actions without words: {missing:?}");
    }

    #[test]
    fn every_key_used_in_templates_and_code_is_translated() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let mut files = Vec::new();
        for dir in [
            "web/templates",
            "server/src",
            "server/src/web",
            "server/src/auth",
            "server/src/accounts",
            "server/src/records",
        ] {
            for e in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
                let p = e.unwrap().path();
                if p.is_file()
                    && p.extension().is_some_and(|x| x == "html" || x == "rs")
                    && !p.ends_with("i18n.rs")
                {
                    files.push(p);
                }
            }
        }
        let mut missing = Vec::new();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for piece in text.split(".t(\"").skip(1) {
                let key = piece.split('"').next().unwrap();
                if !table().contains_key(key) {
                    missing.push(format!("{key} ({})", f.display()));
                }
            }
        }
        assert!(missing.is_empty(), "untranslated keys: {missing:?}");
    }
}
