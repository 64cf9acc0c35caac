//! The orders listings show records in, shared by the commands that sort
//! and the views that store records already sorted (so the sort finds
//! them in order and only checks it).

use std::cmp::Ordering;

/// `a.to_lowercase().cmp(&b.to_lowercase())`, without allocating when
/// both are ASCII.
pub fn cmp_lowercase(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        // Bytes that are equal are equal lowercased: compare from the
        // first that differs (names often share a long start).
        let same = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
        let (a, b) = (&a.as_bytes()[same..], &b.as_bytes()[same..]);
        a.iter()
            .map(u8::to_ascii_lowercase)
            .cmp(b.iter().map(u8::to_ascii_lowercase))
    } else {
        a.to_lowercase().cmp(&b.to_lowercase())
    }
}

/// The order of one account's people in `person list`: by name ignoring
/// case, then by id (the order a stable sort by name keeps for people
/// listed by id).
pub fn person_listing(a: (&str, &str), b: (&str, &str)) -> Ordering {
    let ((a_id, a_name), (b_id, b_name)) = (a, b);
    cmp_lowercase(a_name, b_name).then_with(|| a_id.cmp(b_id))
}

/// Sorts people into [`person_listing`] order, given each one's id and
/// name. Stable, and quick on people already in that order.
pub fn sort_people<T>(people: &mut [T], id_and_name: impl Fn(&T) -> (&str, &str)) {
    people.sort_by(|a, b| person_listing(id_and_name(a), id_and_name(b)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The ASCII shortcut orders as lowercasing both would.
        #[test]
        fn compares_as_lowercased(a in "[A-Za-z _0-9]{0,12}|\\PC{0,8}", b in "[A-Za-z _0-9]{0,12}|\\PC{0,8}") {
            prop_assert_eq!(cmp_lowercase(&a, &b), a.to_lowercase().cmp(&b.to_lowercase()));
        }
    }

    #[test]
    fn same_names_go_by_id() {
        assert_eq!(
            person_listing(("b", "Ana"), ("a", "ana")),
            Ordering::Greater
        );
        assert_eq!(person_listing(("a", "Bo"), ("b", "ana")), Ordering::Greater);
    }
}
