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

/// One way a query can match a candidate.
type Rule<'a, K> = dyn Fn(&Candidate<K>) -> bool + 'a;

/// Resolves `query` among `candidates`, trying in turn: the exact id, the
/// exact email, the exact name (case-insensitive), a unique id prefix (4+
/// characters), then a name containing the query. The first rule with
/// matches decides: one match wins, several are an
/// [`Error::Ambiguous`] listing them.
pub fn resolve<K: Clone>(kind: &str, query: &str, candidates: &[Candidate<K>]) -> Result<K, Error> {
    let q = query.trim();
    let ql = q.to_lowercase();
    let rules: [&Rule<'_, K>; 5] = [
        &|c| c.id == q,
        &|c| {
            c.email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(q))
        },
        &|c| c.name.to_lowercase() == ql,
        &|c| q.len() >= 4 && c.id.to_lowercase().starts_with(&ql),
        &|c| !ql.is_empty() && c.name.to_lowercase().contains(&ql),
    ];
    for rule in rules {
        for active_only in [true, false] {
            let matches: Vec<&Candidate<K>> = candidates
                .iter()
                .filter(|c| (!active_only || !c.archived) && rule(c))
                .collect();
            match matches.len() {
                0 => continue,
                1 => return Ok(matches[0].key.clone()),
                _ => {
                    return Err(Error::Ambiguous {
                        kind: kind.to_string(),
                        query: q.to_string(),
                        candidates: matches.iter().map(|c| c.describe()).collect(),
                    });
                }
            }
        }
    }
    Err(Error::NotFound {
        kind: kind.to_string(),
        query: q.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
