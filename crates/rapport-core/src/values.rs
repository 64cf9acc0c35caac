//! Value types shared by records: calendar days, mergeable notes, and the
//! validation of free-form fields.

use crate::Error;
use chrono::{Datelike, Duration, NaiveDate};

/// A calendar day, stored as `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub NaiveDate);

impl Day {
    pub fn ymd(year: i32, month: u32, day: u32) -> Option<Day> {
        NaiveDate::from_ymd_opt(year, month, day).map(Day)
    }

    /// Parses `YYYY-MM-DD`, or a day relative to `today`: `today`,
    /// `yesterday`, `tomorrow`, `+3d`, `-2w`, `+1m` (30 days).
    pub fn parse_relative(input: &str, today: Day) -> Result<Day, Error> {
        let s = input.trim().to_ascii_lowercase();
        let invalid = || Error::InvalidValue {
            field: "date".into(),
            value: input.to_string(),
            allowed: "YYYY-MM-DD, today, yesterday, tomorrow, or an offset like +3d, -2w, +1m"
                .into(),
        };
        match s.as_str() {
            "today" => return Ok(today),
            "yesterday" => return Ok(today.add_days(-1)),
            "tomorrow" => return Ok(today.add_days(1)),
            _ => {}
        }
        if let Some(sign) = s.chars().next().filter(|c| *c == '+' || *c == '-') {
            let body = &s[1..];
            let (num, unit) = body.split_at(body.len().saturating_sub(1));
            let n: i64 = num.parse().map_err(|_| invalid())?;
            let days = match unit {
                "d" => n,
                "w" => n * 7,
                "m" => n * 30,
                _ => return Err(invalid()),
            };
            if days > 365 * 100 {
                return Err(invalid());
            }
            return Ok(today.add_days(if sign == '-' { -days } else { days }));
        }
        s.parse()
    }

    pub fn add_days(self, days: i64) -> Day {
        Day(self.0 + Duration::days(days))
    }

    /// Whole days from `self` until `later` (negative when `later` is earlier).
    pub fn days_until(self, later: Day) -> i64 {
        (later.0 - self.0).num_days()
    }

    pub fn year(self) -> i32 {
        self.0.year()
    }
}

impl std::str::FromStr for Day {
    type Err = Error;
    fn from_str(s: &str) -> Result<Day, Error> {
        NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .map(Day)
            .map_err(|_| Error::InvalidValue {
                field: "date".into(),
                value: s.to_string(),
                allowed: "YYYY-MM-DD".into(),
            })
    }
}

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl serde::Serialize for Day {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Day {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl autosurgeon::Reconcile for Day {
    type Key<'a> = autosurgeon::reconcile::NoKey;
    fn reconcile<R: autosurgeon::Reconciler>(&self, mut r: R) -> Result<(), R::Error> {
        r.str(self.to_string())
    }
}

impl autosurgeon::Hydrate for Day {
    fn hydrate_string(s: &str) -> Result<Self, autosurgeon::HydrateError> {
        s.parse()
            .map_err(|_| autosurgeon::HydrateError::unexpected("a YYYY-MM-DD date", s.to_string()))
    }
}

/// Free text stored as automerge text, so two people editing the same note
/// concurrently both keep their words.
#[derive(Debug, Clone, Default, PartialEq, Eq, autosurgeon::Reconcile, autosurgeon::Hydrate)]
pub struct Notes(autosurgeon::Text);

impl Notes {
    pub fn new(text: &str) -> Notes {
        Notes(autosurgeon::Text::with_value(text))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Replaces the text; reconciling then writes only the characters that
    /// changed, so concurrent edits elsewhere in the note survive.
    pub fn set(&mut self, text: &str) {
        self.0.update(text);
    }

    /// Adds a paragraph at the end.
    pub fn append(&mut self, text: &str) {
        let len = self.0.as_str().chars().count();
        let sep = if len == 0 { "" } else { "\n" };
        self.0.splice(len, 0, format!("{sep}{text}"));
    }

    pub fn is_empty(&self) -> bool {
        self.0.as_str().is_empty()
    }
}

impl serde::Serialize for Notes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Notes {
    /// Notes decoded this way are for reading only: to edit a note, hydrate
    /// the record with autosurgeon so the edit is a minimal splice.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <Option<String> as serde::Deserialize>::deserialize(d)?;
        Ok(Notes::new(s.as_deref().unwrap_or("")))
    }
}

fn invalid(field: &str, value: &str, allowed: &str) -> Error {
    Error::InvalidValue {
        field: field.into(),
        value: value.into(),
        allowed: allowed.into(),
    }
}

/// A required name: not blank, at most 200 characters, one line.
pub fn validate_name(field: &str, value: &str) -> Result<String, Error> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 200 || trimmed.contains('\n') {
        return Err(invalid(
            field,
            value,
            "a non-empty single line of at most 200 characters",
        ));
    }
    Ok(trimmed.to_string())
}

/// An email address: something@domain.tld, stored lowercase.
pub fn validate_email(value: &str) -> Result<String, Error> {
    let v = value.trim().to_ascii_lowercase();
    let ok = match v.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !v.contains(char::is_whitespace)
                && !domain.contains('@')
        }
        None => false,
    };
    if !ok {
        return Err(invalid("email", value, "an address like name@example.com"));
    }
    Ok(v)
}

/// A team member's handle: 1-32 of a-z, 0-9, `-`, `_`, `.`.
pub fn validate_handle(value: &str) -> Result<String, Error> {
    let v = value.trim().to_ascii_lowercase();
    let ok = !v.is_empty()
        && v.len() <= 32
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
    if !ok {
        return Err(invalid(
            "handle",
            value,
            "1-32 characters of a-z, 0-9, '-', '_', '.'",
        ));
    }
    Ok(v)
}

/// A whole number within `min..=max`.
pub fn validate_range(field: &str, value: i64, min: i64, max: i64) -> Result<i64, Error> {
    if value < min || value > max {
        return Err(invalid(
            field,
            &value.to_string(),
            &format!("a whole number from {min} to {max}"),
        ));
    }
    Ok(value)
}

/// A currency code: three letters, stored uppercase.
pub fn validate_currency(value: &str) -> Result<String, Error> {
    let v = value.trim().to_ascii_uppercase();
    if v.len() != 3 || !v.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(invalid(
            "currency",
            value,
            "a three-letter code like EUR or USD",
        ));
    }
    Ok(v)
}

/// Hydrates an optional whole number written as int, uint, or an integral
/// float (JS clients write plain numbers as int or f64), so a number from
/// another client never makes its record unreadable.
pub(crate) fn hydrate_opt_int<D, T>(
    doc: &D,
    obj: &automerge::ObjId,
    prop: autosurgeon::Prop<'_>,
) -> Result<Option<T>, autosurgeon::HydrateError>
where
    D: autosurgeon::ReadDoc,
    T: TryFrom<i64>,
{
    use automerge::{ScalarValue, Value};
    let out_of_range =
        |v: String| autosurgeon::HydrateError::unexpected("a whole number in range", v);
    let n: i64 = match doc.get(obj, &prop)? {
        None => return Ok(None),
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Null => return Ok(None),
            ScalarValue::Int(i) => *i,
            ScalarValue::Uint(u) => i64::try_from(*u).map_err(|_| out_of_range(u.to_string()))?,
            ScalarValue::F64(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => *f as i64,
            other => {
                return Err(autosurgeon::HydrateError::unexpected(
                    "a whole number",
                    other.to_string(),
                ));
            }
        },
        Some((other, _)) => {
            return Err(autosurgeon::HydrateError::unexpected(
                "a whole number",
                format!("{other:?}"),
            ));
        }
    };
    T::try_from(n)
        .map(Some)
        .map_err(|_| out_of_range(n.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Day {
        s.parse().unwrap()
    }

    #[test]
    fn relative_days() {
        let today = day("2026-11-23");
        assert_eq!(Day::parse_relative("today", today).unwrap(), today);
        assert_eq!(
            Day::parse_relative("+3d", today).unwrap(),
            day("2026-11-26")
        );
        assert_eq!(
            Day::parse_relative("-1w", today).unwrap(),
            day("2026-11-16")
        );
        assert_eq!(
            Day::parse_relative("2027-01-05", today).unwrap(),
            day("2027-01-05")
        );
        assert!(Day::parse_relative("2026-02-30", today).is_err());
        assert!(Day::parse_relative("+3x", today).is_err());
        assert!(Day::parse_relative("next week", today).is_err());
        assert_eq!(today.days_until(day("2026-11-30")), 7);
    }

    #[test]
    fn validation() {
        assert_eq!(
            validate_email(" Ana@Example.COM ").unwrap(),
            "ana@example.com"
        );
        for bad in ["ana", "ana@", "@x.com", "ana@x", "a b@x.com", "a@.com"] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
        assert_eq!(validate_handle("Sam").unwrap(), "sam");
        assert!(validate_handle("sam smith").is_err());
        assert!(validate_name("name", "  ").is_err());
        assert!(validate_range("score", 6, 1, 5).is_err());
        assert_eq!(validate_currency("eur").unwrap(), "EUR");
        assert!(validate_currency("euro").is_err());
    }

    #[test]
    fn notes_append_and_set() {
        let mut n = Notes::new("");
        n.append("first");
        n.append("second");
        assert_eq!(n.as_str(), "first\nsecond");
        n.set("replaced");
        assert_eq!(n.as_str(), "replaced");
    }
}
