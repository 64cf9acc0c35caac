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

    /// The day `n` days after 31 December of year 0 (day 1 is 1 January
    /// of year 1): how binary formats store a day.
    pub fn from_days(n: i32) -> Option<Day> {
        NaiveDate::from_num_days_from_ce_opt(n).map(Day)
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
                "d" => Some(n),
                "w" => n.checked_mul(7),
                "m" => n.checked_mul(30),
                _ => return Err(invalid()),
            };
            let days = days.filter(|d| *d >= 0).ok_or_else(invalid)?;
            if days > 365 * 100 {
                return Err(invalid());
            }
            return Ok(today.add_days(if sign == '-' { -days } else { days }));
        }
        s.parse().map_err(|_| invalid())
    }

    /// `days` later (earlier when negative), saturating at the last (or
    /// first) day a date can be rather than overflowing: a cadence or a
    /// window of billions of days is far away, not a crash.
    pub fn add_days(self, days: i64) -> Day {
        let far = if days < 0 {
            NaiveDate::MIN
        } else {
            NaiveDate::MAX
        };
        Day(Duration::try_days(days)
            .and_then(|d| self.0.checked_add_signed(d))
            .unwrap_or(far))
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
    /// `%Y-%m-%d`, written directly for four-digit years (chrono's
    /// formatter parses its format string on every call, and an agenda
    /// prints thousands of days).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (y, m, d) = (self.0.year(), self.0.month(), self.0.day());
        if (0..=9999).contains(&y) {
            write!(f, "{y:04}-{m:02}-{d:02}")
        } else {
            write!(f, "{}", self.0.format("%Y-%m-%d"))
        }
    }
}

/// `YYYY-MM-DD` in human-readable formats (JSON); in binary ones (the
/// materialized views) the day number since 1 January of year 1, which
/// needs no parsing.
impl serde::Serialize for Day {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            s.serialize_i32(self.0.num_days_from_ce())
        }
    }
}

impl<'de> serde::Deserialize<'de> for Day {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if !d.is_human_readable() {
            let n = i32::deserialize(d)?;
            return Day::from_days(n)
                .ok_or_else(|| serde::de::Error::custom(format!("day {n} is out of range")));
        }
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Day;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a YYYY-MM-DD date")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Day, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(Visitor)
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
    fn hydrate_text<D: autosurgeon::ReadDoc>(
        doc: &D,
        obj: &automerge::ObjId,
    ) -> Result<Self, autosurgeon::HydrateError> {
        Self::hydrate_string(&doc.text(obj)?)
    }
}

/// Free text stored as automerge text, so two people editing the same note
/// concurrently both keep their words.
///
/// Held as a plain string: reconciling it has automerge diff the
/// document's text against it and write only the characters that changed
/// (`update_text`). (autosurgeon's `Text` records splices at byte offsets
/// and hands them to automerge, which counts characters: an edit after an
/// accent or an emoji landed in the wrong place, or panicked.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notes(String);

impl autosurgeon::Reconcile for Notes {
    type Key<'a> = autosurgeon::reconcile::NoKey;
    fn reconcile<R: autosurgeon::Reconciler>(&self, mut r: R) -> Result<(), R::Error> {
        use autosurgeon::reconcile::TextReconciler as _;
        r.text()?.update(&self.0)
    }
}

/// Text, as written; a plain string or null from another client reads as
/// that string or empty (and is turned into text when next edited).
impl autosurgeon::Hydrate for Notes {
    fn hydrate_text<D: autosurgeon::ReadDoc>(
        doc: &D,
        obj: &automerge::ObjId,
    ) -> Result<Self, autosurgeon::HydrateError> {
        Ok(Notes(doc.text(obj)?))
    }
    fn hydrate_string(s: &str) -> Result<Self, autosurgeon::HydrateError> {
        Ok(Notes::new(s))
    }
    fn hydrate_none() -> Result<Self, autosurgeon::HydrateError> {
        Ok(Notes::default())
    }
}

impl Notes {
    pub fn new(text: &str) -> Notes {
        Notes(text.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Replaces the text; reconciling then writes only the characters that
    /// changed, so concurrent edits elsewhere in the note survive.
    pub fn set(&mut self, text: &str) {
        text.clone_into(&mut self.0);
    }

    /// Adds a paragraph at the end.
    pub fn append(&mut self, text: &str) {
        if !self.0.is_empty() {
            self.0.push('\n');
        }
        self.0.push_str(text);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
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
    ///
    /// Human-readable input (a document's JSON) may hold null for an absent
    /// note; binary input (a view) holds exactly what `serialize` wrote, a
    /// string, since a format without type tags cannot tell the two apart.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if !d.is_human_readable() {
            struct Visitor;
            impl serde::de::Visitor<'_> for Visitor {
                type Value = Notes;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a note")
                }
                fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Notes, E> {
                    Ok(Notes::new(s))
                }
            }
            return d.deserialize_str(Visitor);
        }
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

/// A string field as written by any client: a scalar string, or a text
/// object (automerge 3's JS API writes plain strings as text). `None` when
/// absent or null.
fn lenient_str<D: autosurgeon::ReadDoc>(
    doc: &D,
    obj: &automerge::ObjId,
    prop: &autosurgeon::Prop<'_>,
) -> Result<Option<String>, autosurgeon::HydrateError> {
    use automerge::{ObjType, ScalarValue, Value};
    match doc.get(obj, prop)? {
        None => Ok(None),
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Null => Ok(None),
            ScalarValue::Str(s) => Ok(Some(s.to_string())),
            other => Err(autosurgeon::HydrateError::unexpected(
                "a string",
                other.to_string(),
            )),
        },
        Some((Value::Object(ObjType::Text), id)) => Ok(Some(doc.text(&id)?)),
        Some((other, _)) => Err(autosurgeon::HydrateError::unexpected(
            "a string",
            format!("{other:?}"),
        )),
    }
}

/// A required string, scalar or text.
pub(crate) fn hydrate_string<D: autosurgeon::ReadDoc>(
    doc: &D,
    obj: &automerge::ObjId,
    prop: autosurgeon::Prop<'_>,
) -> Result<String, autosurgeon::HydrateError> {
    lenient_str(doc, obj, &prop)?
        .ok_or_else(|| autosurgeon::HydrateError::unexpected("a string", "nothing".into()))
}

/// An optional string, scalar or text.
pub(crate) fn hydrate_opt_string<D: autosurgeon::ReadDoc>(
    doc: &D,
    obj: &automerge::ObjId,
    prop: autosurgeon::Prop<'_>,
) -> Result<Option<String>, autosurgeon::HydrateError> {
    lenient_str(doc, obj, &prop)
}

/// A list of strings whose items may be scalars or text; absent or null is empty.
pub(crate) fn hydrate_strings<D: autosurgeon::ReadDoc>(
    doc: &D,
    obj: &automerge::ObjId,
    prop: autosurgeon::Prop<'_>,
) -> Result<Vec<String>, autosurgeon::HydrateError> {
    use automerge::{ObjType, Value};
    let list = match doc.get(obj, &prop)? {
        None => return Ok(Vec::new()),
        Some((Value::Object(ObjType::List), id)) => id,
        Some((Value::Scalar(s), _)) if s.is_null() => return Ok(Vec::new()),
        Some((other, _)) => {
            return Err(autosurgeon::HydrateError::unexpected(
                "a list",
                format!("{other:?}"),
            ));
        }
    };
    let mut out = Vec::new();
    for i in 0..doc.length(&list) {
        if let Some(s) = lenient_str(doc, &list, &autosurgeon::Prop::Index(i as u32))? {
            out.push(s);
        }
    }
    Ok(out)
}

/// A flag; absent or null is false.
pub(crate) fn hydrate_flag<D: autosurgeon::ReadDoc>(
    doc: &D,
    obj: &automerge::ObjId,
    prop: autosurgeon::Prop<'_>,
) -> Result<bool, autosurgeon::HydrateError> {
    use automerge::{ScalarValue, Value};
    match doc.get(obj, &prop)? {
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Boolean(b) => Ok(*b),
            ScalarValue::Null => Ok(false),
            other => Err(autosurgeon::HydrateError::unexpected(
                "true or false",
                other.to_string(),
            )),
        },
        None => Ok(false),
        Some((other, _)) => Err(autosurgeon::HydrateError::unexpected(
            "true or false",
            format!("{other:?}"),
        )),
    }
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

    #[test]
    fn days_print_as_chrono_formats_them() {
        let mut day = NaiveDate::from_ymd_opt(-3, 12, 25).unwrap();
        let ends = [
            NaiveDate::from_ymd_opt(3, 1, 1).unwrap(),
            NaiveDate::from_ymd_opt(1999, 12, 1).unwrap(),
            NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(),
            NaiveDate::from_ymd_opt(10_000, 1, 3).unwrap(),
        ];
        let mut starts = [
            NaiveDate::from_ymd_opt(-3, 12, 25).unwrap(),
            NaiveDate::from_ymd_opt(1999, 1, 1).unwrap(),
            NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            NaiveDate::from_ymd_opt(9999, 12, 20).unwrap(),
        ];
        for (start, end) in starts.iter_mut().zip(ends) {
            day = *start;
            while day < end {
                assert_eq!(Day(day).to_string(), day.format("%Y-%m-%d").to_string());
                day = day.succ_opt().unwrap();
            }
        }
        assert_eq!(Day(day).to_string(), "+10000-01-03");
    }

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
        for far in ["+999999999999999999m", "+-5d", "--3w", "+-999999999999d"] {
            assert!(Day::parse_relative(far, today).is_err(), "{far}");
        }
        assert_eq!(today.days_until(day("2026-11-30")), 7);
    }

    #[test]
    fn far_days_saturate_instead_of_overflowing() {
        let today = day("2026-11-23");
        assert_eq!(today.add_days(i64::from(u32::MAX)), Day(NaiveDate::MAX));
        assert_eq!(today.add_days(i64::MAX), Day(NaiveDate::MAX));
        assert_eq!(today.add_days(i64::MIN), Day(NaiveDate::MIN));
        assert_eq!(today.add_days(7), day("2026-11-30"));
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

    /// Notes edited in a document, hydrated back each time, as the CLI
    /// edits them: accents and emoji in the text before an edit must not
    /// move where the edit lands (automerge counts text positions in
    /// characters, not bytes).
    #[test]
    fn notes_edits_land_where_they_are_made_in_any_script() {
        #[derive(autosurgeon::Reconcile, autosurgeon::Hydrate)]
        struct R {
            notes: Notes,
        }
        let mut doc = automerge::AutoCommit::new();
        type Edit<'a> = (&'a dyn Fn(&mut Notes), &'a str);
        let edits: [Edit; 6] = [
            (&|n| n.set("café"), "café"),
            (&|n| n.append("größer 🎉"), "café\ngrößer 🎉"),
            (&|n| n.append("next"), "café\ngrößer 🎉\nnext"),
            (
                &|n| n.set("café au lait\ngrößer 🎉\nnext"),
                "café au lait\ngrößer 🎉\nnext",
            ),
            (&|n| n.set("une café\n🎉!"), "une café\n🎉!"),
            (&|n| n.set(""), ""),
        ];
        autosurgeon::reconcile(
            &mut doc,
            &R {
                notes: Notes::default(),
            },
        )
        .unwrap();
        for (edit, want) in edits {
            let mut r: R = autosurgeon::hydrate(&doc).unwrap();
            edit(&mut r.notes);
            assert_eq!(r.notes.as_str(), want);
            autosurgeon::reconcile(&mut doc, &r).unwrap();
            let back: R = autosurgeon::hydrate(&doc).unwrap();
            assert_eq!(back.notes.as_str(), want);
        }
    }
}
