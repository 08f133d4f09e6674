//! People's identifiers from other systems (`person_identifiers`): shown on Patient and
//! Practitioner, searched by `identifier`, written by the EHR (see [`super::write`]).

use std::collections::HashMap;

use sqlx::{AnyConnection, Row};

use super::model::Identifier;
use super::outcome::{FhirError, FhirResult};
use super::patient::RECORD_NUMBER_SYSTEM;
use crate::db::{Arg, Filters};

/// The identifiers of each of `ids`.
pub async fn of(conn: &mut AnyConnection, ids: &[&str]) -> FhirResult<HashMap<String, Vec<Identifier>>> {
    let mut out: HashMap<String, Vec<Identifier>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let mut f = Filters::default();
    f.add_any("user_id = ?", ids.iter().map(|i| Arg::Text(i.to_string())).collect());
    let sql = format!(
        "SELECT user_id, system, value FROM person_identifiers {} ORDER BY system, value",
        f.where_clause()
    );
    for r in f.bind(sqlx::query(sqlx::AssertSqlSafe(sql))).fetch_all(conn).await? {
        out.entry(r.try_get("user_id")?).or_default().push(Identifier {
            use_: None,
            type_: None,
            system: r.try_get("system")?,
            value: r.try_get("value")?,
        });
    }
    Ok(out)
}

/// The conditions of one `identifier` search value (commas for alternatives) on the account
/// id `user`; `record_number` names the chart's record-number column, for patients.
pub fn condition(raw: &str, user: &str, record_number: Option<&str>) -> FhirResult<Vec<(String, Arg)>> {
    let mut tests = Vec::new();
    for token in raw.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let any_system = format!("{user} IN (SELECT user_id FROM person_identifiers WHERE value = ?)");
        let with_system =
            format!("{user} IN (SELECT user_id FROM person_identifiers WHERE system || '|' || value = ?)");
        match token.split_once('|') {
            Some((_, "")) => {
                return Err(FhirError::bad_param("identifier", "identifier takes system|value or a value"));
            }
            Some((system, value)) if system == RECORD_NUMBER_SYSTEM => match record_number {
                Some(col) => tests.push((format!("{col} = ?"), Arg::Text(value.to_string()))),
                None => tests.push(("1 = 0 AND ? IS NULL".to_string(), Arg::Text(String::new()))),
            },
            // `|value`: an identifier without a system, which none of ours is.
            Some(("", _)) => tests.push(("1 = 0 AND ? IS NULL".to_string(), Arg::Text(String::new()))),
            Some(_) => tests.push((with_system, Arg::Text(token.to_string()))),
            None => {
                let test = match record_number {
                    Some(col) => format!("({col} = ? OR {any_system})"),
                    None => any_system,
                };
                tests.push((test, Arg::Text(token.to_string())));
            }
        }
    }
    Ok(tests)
}
