//! Finding a record the way people name it: by id prefix, email, or name.

use crate::Error;

/// One record that a reference may name.
#[derive(Debug, Clone)]
pub struct Candidate<K> {
    /// What the caller gets back.
    pub key: K,
    /// The record id.
    pub id: String,
    /// The record's name or title.
    pub name: String,
    pub email: Option<String>,
    /// Where it lives (an account's name), shown when listing ambiguous matches.
    pub context: Option<String>,
    /// Archived records are matched only when nothing active matches.
    pub archived: bool,
}

impl<K> Candidate<K> {
    fn describe(&self) -> String {
        let mut s = self.name.clone();
        if let Some(e) = &self.email {
            s.push_str(&format!(" <{e}>"));
        }
        if let Some(c) = &self.context {
            s.push_str(&format!(" in {c}"));
        }
        s.push_str(&format!(" ({})", self.id.get(..8).unwrap_or(&self.id)));
        if self.archived {
            s.push_str(" [archived]");
        }
        s
    }
}

/// How many ways a query can match a candidate ([`Query::matches`]).
const RULES: usize = 5;

/// A query as [`resolve`] reads it: trimmed, and lowercased for the rules
/// that ignore case (made once for every candidate).
pub struct Query {
    q: String,
    ql: String,
}

impl Query {
    pub fn new(query: &str) -> Query {
        let q = query.trim();
        Query {
            q: q.to_string(),
            ql: q.to_lowercase(),
        }
    }

    /// Whether it matches a candidate of this id, email and name by rule
    /// `rule`: the exact id, the exact email, the exact name
    /// (case-insensitive), a unique id prefix (4+ characters), then a name
    /// containing the query.
    fn matches(&self, rule: usize, id: &str, email: Option<&str>, name: &str) -> bool {
        let (q, ql) = (self.q.as_str(), self.ql.as_str());
        match rule {
            0 => id == q,
            1 => email.is_some_and(|e| e.eq_ignore_ascii_case(q)),
            2 => lowercase_eq(name, ql),
            3 => q.len() >= 4 && lowercase_starts_with(id, ql),
            4 => !ql.is_empty() && lowercase_contains(name, ql),
            _ => false,
        }
    }

    /// Whether it matches a candidate of this id, email and name by any of
    /// [`resolve`]'s rules. [`resolve`] among the candidates that may
    /// match gives what it gives among all of them (the others match no
    /// rule), so a caller can leave them out before making them: `log
    /// edit` reads only those of 73k activities.
    pub fn may_match(&self, id: &str, email: Option<&str>, name: &str) -> bool {
        (0..RULES).any(|rule| self.matches(rule, id, email, name))
    }
}

// `text.to_lowercase()` compared with `lower` (a lowercased query), with
// nothing allocated when both are ASCII, as names and ids mostly are:
// every candidate of 10k is tested.

fn lowercase_eq(text: &str, lower: &str) -> bool {
    if text.is_ascii() && lower.is_ascii() {
        return text.len() == lower.len()
            && text
                .bytes()
                .zip(lower.bytes())
                .all(|(t, l)| t.to_ascii_lowercase() == l);
    }
    text.to_lowercase() == lower
}

fn lowercase_starts_with(text: &str, lower: &str) -> bool {
    if text.is_ascii() && lower.is_ascii() {
        return text
            .get(..lower.len())
            .is_some_and(|head| lowercase_eq(head, lower));
    }
    text.to_lowercase().starts_with(lower)
}

fn lowercase_contains(text: &str, lower: &str) -> bool {
    if lower.is_empty() {
        return true;
    }
    if text.is_ascii() && lower.is_ascii() {
        let lower = lower.as_bytes();
        return text.as_bytes().windows(lower.len()).any(|w| {
            w.iter()
                .zip(lower)
                .all(|(t, l)| t.to_ascii_lowercase() == *l)
        });
    }
    text.to_lowercase().contains(lower)
}

/// Resolves `query` among `candidates`, trying in turn each rule of
/// [`Query::matches`]. The first rule with matches decides: one match
/// wins, several are an [`Error::Ambiguous`] listing them.
pub fn resolve<K: Clone>(kind: &str, query: &str, candidates: &[Candidate<K>]) -> Result<K, Error> {
    let query = Query::new(query);
    for rule in 0..RULES {
        for active_only in [true, false] {
            let found: Vec<&Candidate<K>> = candidates
                .iter()
                .filter(|c| {
                    (!active_only || !c.archived)
                        && query.matches(rule, &c.id, c.email.as_deref(), &c.name)
                })
                .collect();
            match found.len() {
                0 => continue,
                1 => return Ok(found[0].key.clone()),
                _ => {
                    return Err(Error::Ambiguous {
                        kind: kind.to_string(),
                        query: query.q.clone(),
                        candidates: found.iter().map(|c| c.describe()).collect(),
                    });
                }
            }
        }
    }
    Err(Error::NotFound {
        kind: kind.to_string(),
        query: query.q,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The ASCII shortcuts agree with lowercasing the text.
        #[test]
        fn compares_as_lowercased(
            text in "[A-Za-z0-9 ]{0,10}|\\PC{0,6}",
            query in "[a-z0-9 ]{0,4}|[A-Z]{1,3}|\\PC{0,3}",
        ) {
            let lower = query.to_lowercase();
            let t = text.to_lowercase();
            prop_assert_eq!(lowercase_eq(&text, &lower), t == lower);
            prop_assert_eq!(lowercase_starts_with(&text, &lower), t.starts_with(&lower));
            prop_assert_eq!(lowercase_contains(&text, &lower), t.contains(&lower));
            // A query that is a piece of the text, whatever its case.
            if let Some(piece) = text.get(1..text.len().min(4)) {
                let lower = piece.to_lowercase();
                prop_assert_eq!(lowercase_contains(&text, &lower), t.contains(&lower));
                prop_assert_eq!(lowercase_eq(piece, &lower), true);
            }
        }
    }

    fn cand(id: &str, name: &str, email: Option<&str>, archived: bool) -> Candidate<String> {
        Candidate {
            key: id.to_string(),
            id: id.to_string(),
            name: name.to_string(),
            email: email.map(String::from),
            context: None,
            archived,
        }
    }

    fn people() -> Vec<Candidate<String>> {
        vec![
            cand("a1b2c3d4e5f60718", "Ana Silva", Some("ana@acme.com"), false),
            cand("a1b2ffff00000000", "Ana Costa", None, false),
            cand(
                "9999000011112222",
                "Bruno Alves",
                Some("bruno@acme.com"),
                false,
            ),
            cand("8888000011112222", "Bruno Alves", None, true),
        ]
    }

    #[test]
    fn by_name_email_and_id_prefix() {
        let p = people();
        assert_eq!(
            resolve("person", "ana silva", &p).unwrap(),
            "a1b2c3d4e5f60718"
        );
        assert_eq!(
            resolve("person", "ANA@acme.com", &p).unwrap(),
            "a1b2c3d4e5f60718"
        );
        assert_eq!(resolve("person", "a1b2c", &p).unwrap(), "a1b2c3d4e5f60718");
        assert_eq!(resolve("person", "costa", &p).unwrap(), "a1b2ffff00000000");
    }

    #[test]
    fn ambiguous_lists_candidates() {
        let err = resolve("person", "ana", &people()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::Ambiguous { .. }));
        assert!(
            msg.contains("Ana Silva <ana@acme.com>") && msg.contains("Ana Costa"),
            "{msg}"
        );
        assert!(
            resolve("person", "a1b2", &people()).is_err(),
            "short shared prefix"
        );
    }

    #[test]
    fn active_records_win_over_archived() {
        assert_eq!(
            resolve("person", "Bruno Alves", &people()).unwrap(),
            "9999000011112222"
        );
        assert_eq!(
            resolve("person", "8888", &people()).unwrap(),
            "8888000011112222"
        );
    }

    #[test]
    fn not_found() {
        assert!(matches!(
            resolve("person", "zed", &people()),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            resolve("person", "", &people()),
            Err(Error::NotFound { .. })
        ));
    }

    proptest::proptest! {
        /// Resolving among the candidates that `may_match` keeps gives
        /// what resolving among all of them gives: the same one, or the
        /// same error listing the same candidates.
        #[test]
        fn candidates_that_may_not_match_change_nothing(
            cands in proptest::collection::vec(
                ("[0-9a-f]{4,6}", "[A-Ca-c ]{0,5}", proptest::option::of("[ab]@[xy]"), proptest::bool::ANY),
                0..12,
            ),
            query in "[0-9a-fA-C@xy ]{0,5}",
        ) {
            let all: Vec<Candidate<usize>> = cands
                .iter()
                .enumerate()
                .map(|(key, (id, name, email, archived))| Candidate {
                    key,
                    id: id.clone(),
                    name: name.clone(),
                    email: email.clone(),
                    context: None,
                    archived: *archived,
                })
                .collect();
            let prepared = Query::new(&query);
            let kept: Vec<Candidate<usize>> = all
                .iter()
                .filter(|c| prepared.may_match(&c.id, c.email.as_deref(), &c.name))
                .cloned()
                .collect();
            proptest::prop_assert_eq!(
                format!("{:?}", resolve("entry", &query, &all)),
                format!("{:?}", resolve("entry", &query, &kept))
            );
        }
    }
}
