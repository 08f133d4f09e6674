//! Account types and the validated newtypes that guard what enters the `users` table.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{AppError, Result};

/// What an account may do across the platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Patient,
    Doctor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Patient, Role::Doctor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Doctor => "doctor",
            Role::Admin => "admin",
        }
    }

    /// Parses a role name, answering a field-level 422 for anything else.
    pub fn parse(s: &str) -> Result<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "patient" => Ok(Role::Patient),
            "doctor" => Ok(Role::Doctor),
            "admin" => Ok(Role::Admin),
            other => Err(AppError::invalid(
                "role",
                format!("unknown role {other:?}: choose patient, doctor or admin"),
            )),
        }
    }

    /// Doctors and admins see clinical data; patients only their own.
    pub fn is_clinician(self) -> bool {
        matches!(self, Role::Doctor | Role::Admin)
    }
}

/// A syntactically plausible email address, lower-cased. Delivery is not checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email> {
        let s = raw.trim().to_lowercase();
        let bad = || AppError::invalid("email", format!("{raw:?} is not an email address"));
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && !domain.contains("..");
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(bad());
        }
        Ok(Email(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person's display name: 1–120 characters after trimming, no control characters.
pub fn parse_name(raw: &str) -> Result<String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(AppError::invalid("name", "name must not be empty"));
    }
    if s.chars().count() > 120 || s.chars().any(char::is_control) {
        return Err(AppError::invalid("name", "name must be at most 120 printable characters"));
    }
    Ok(s.to_string())
}

/// An IANA time-zone name known to the time-zone database (e.g. `Europe/Berlin`).
pub fn parse_timezone(raw: &str) -> Result<String> {
    let s = raw.trim();
    match jiff::tz::TimeZone::get(s) {
        Ok(_) if !s.is_empty() => Ok(s.to_string()),
        _ => Err(AppError::invalid(
            "timezone",
            format!("{raw:?} is not a known IANA time zone such as Europe/Berlin"),
        )),
    }
}

/// A clinical specialty label, e.g. "Dermatology"; optional, at most 80 characters.
pub fn parse_specialty(raw: Option<&str>) -> Result<Option<String>> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) if s.chars().count() <= 80 && !s.chars().any(char::is_control) => Ok(Some(s.to_string())),
        Some(_) => Err(AppError::invalid("specialty", "specialty must be at most 80 characters")),
    }
}

/// A preferred interface language, or `None` to follow the browser.
pub fn parse_locale(raw: Option<&str>) -> Result<Option<Lang>> {
    match raw.map(str::trim) {
        None | Some("") | Some("auto") => Ok(None),
        Some(s) => Lang::from_code(s)
            .map(Some)
            .ok_or_else(|| AppError::invalid("locale", format!("unsupported language {s:?}: use en or zh"))),
    }
}

/// An account as stored.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// IANA time zone used to show times to this person.
    pub timezone: String,
    pub specialty: Option<String>,
    /// Preferred language (`en`, `zh`), or null to follow the browser.
    pub locale: Option<String>,
    pub active: bool,
    /// Creation time, milliseconds since the Unix epoch (UTC).
    pub created_at: i64,
    #[serde(skip)]
    #[schema(ignore)]
    pub token_version: i64,
}

/// Input to create an account (API and `consilium user add`).
#[derive(Clone, Deserialize, ToSchema)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: String,
    pub password: String,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub specialty: Option<String>,
    #[serde(default)]
    pub locale: Option<String>,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// A [`NewUser`] whose every field passed validation.
#[derive(Clone)]
pub struct ValidNewUser {
    pub email: Email,
    pub name: String,
    pub role: Role,
    pub password: String,
    pub timezone: String,
    pub specialty: Option<String>,
    pub locale: Option<Lang>,
}

impl NewUser {
    pub fn validate(self) -> Result<ValidNewUser> {
        let email = Email::parse(&self.email)?;
        let name = parse_name(&self.name)?;
        let role = Role::parse(&self.role)?;
        crate::auth::password::validate(&self.password)?;
        let timezone = parse_timezone(self.timezone.as_deref().unwrap_or("UTC"))?;
        let specialty = parse_specialty(self.specialty.as_deref())?;
        let locale = parse_locale(self.locale.as_deref())?;
        Ok(ValidNewUser { email, name, role, password: self.password, timezone, specialty, locale })
    }
}

/// A partial update of an account; absent fields stay as they are.
#[derive(Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub name: Option<String>,
    pub role: Option<String>,
    pub timezone: Option<String>,
    /// Empty string clears the specialty.
    pub specialty: Option<String>,
    /// `en`, `zh`, or `auto` to follow the browser.
    pub locale: Option<String>,
    /// `false` deactivates the account and ends its sessions.
    pub active: Option<bool>,
    /// A new password; ends the account's existing sessions.
    pub password: Option<String>,
}

impl std::fmt::Debug for UserPatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserPatch")
            .field("role", &self.role)
            .field("active", &self.active)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// A supported interface language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }

    /// Accepts `en`, `zh` and regional forms such as `en-GB`, `zh-CN`, `zh-Hans`.
    pub fn from_code(s: &str) -> Option<Lang> {
        let primary = s.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "zh" => Some(Lang::Zh),
            _ => None,
        }
    }

    /// Picks the supported language with the highest `q` in an `Accept-Language` header.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or("").trim();
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(lang) = Lang::from_code(tag)
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or(Lang::En)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_and_lowercased() {
        assert_eq!(Email::parse(" Ana@Example.ORG ").unwrap().as_str(), "ana@example.org");
        for bad in ["", "ana", "ana@", "@x.org", "ana@x", "a b@x.org", "ana@x..org", "a@b@c.org"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timezones_come_from_the_database() {
        assert!(parse_timezone("Europe/Berlin").is_ok());
        assert!(parse_timezone("Asia/Shanghai").is_ok());
        assert!(parse_timezone("Mars/Olympus").is_err());
        assert!(parse_timezone("").is_err());
    }

    #[test]
    fn roles_parse_case_insensitively() {
        assert_eq!(Role::parse("Doctor").unwrap(), Role::Doctor);
        assert!(Role::parse("nurse").is_err());
    }
}
