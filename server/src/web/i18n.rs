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

    /// Value for `<html lang>`.
    pub fn html_lang(&self) -> &'static str {
        match self.0 {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
        }
    }
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

    /// Every audit action the server records (`Event::new("…")`) has words on the audit page.
    #[test]
    fn every_audit_action_has_words() {
        let mut missing = Vec::new();
        let mut stack = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("i18n.rs") {
                    let text = std::fs::read_to_string(&p).unwrap();
                    for piece in text.split("Event::new(\"").skip(1) {
                        let code = piece.split('"').next().unwrap();
                        if !table().contains_key(format!("audit.act.{code}").as_str()) {
                            missing.push(format!("{code} ({})", p.display()));
                        }
                    }
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
