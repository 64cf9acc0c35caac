//! The closed vocabularies of the domain (`DOMAIN.md`), each stored as a
//! stable lowercase string.
//!
//! Every enum parses its canonical spelling, case-insensitively, with spaces or
//! underscores accepted in place of hyphens, plus a few documented aliases
//! (`champion` and `coach` for `mentor`). Anything else is an
//! [`InvalidValue`](crate::Error::InvalidValue) error that lists the allowed
//! values. Ordered enums (levels, preferences, coverage) derive `Ord` in
//! ascending order.

use crate::Error;

/// Declares a string-backed enum with parsing, display, serde and
/// autosurgeon support. Variants are listed in ascending order.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $field:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal $(| $alias:literal)* ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in ascending order.
            pub const ALL: &'static [$name] = &[$( $name::$variant ),+];
            /// What the value is called in error messages.
            pub const FIELD: &'static str = $field;

            /// The stable lowercase spelling stored in documents.
            pub fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $text ),+ }
            }

            /// The canonical spellings, for error messages and help text.
            pub fn allowed() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }

            /// Position in the ladder (0 = lowest).
            pub fn rank(self) -> usize {
                Self::ALL.iter().position(|v| *v == self).unwrap_or(0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(input: &str) -> Result<Self, Error> {
                let norm = input.trim().to_ascii_lowercase().replace([' ', '_'], "-");
                match norm.as_str() {
                    $( $text $(| $alias)* => Ok($name::$variant), )+
                    _ => Err(Error::InvalidValue {
                        field: $field.to_string(),
                        value: input.to_string(),
                        allowed: Self::allowed(),
                    }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Visitor;
                impl serde::de::Visitor<'_> for Visitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(concat!("a ", $field))
                    }
                    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<$name, E> {
                        // The stored spelling, without the allocation of
                        // the lenient parse.
                        match s {
                            $( $text => Ok($name::$variant), )+
                            _ => s.parse().map_err(E::custom),
                        }
                    }
                }
                d.deserialize_str(Visitor)
            }
        }

        impl autosurgeon::Reconcile for $name {
            type Key<'a> = autosurgeon::reconcile::NoKey;
            fn reconcile<R: autosurgeon::Reconciler>(&self, mut r: R) -> Result<(), R::Error> {
                r.str(self.as_str())
            }
        }

        impl autosurgeon::Hydrate for $name {
            fn hydrate_text<D: autosurgeon::ReadDoc>(
                doc: &D,
                obj: &automerge::ObjId,
            ) -> Result<Self, autosurgeon::HydrateError> {
                Self::hydrate_string(&doc.text(obj)?)
            }
            fn hydrate_string(s: &str) -> Result<Self, autosurgeon::HydrateError> {
                s.parse().map_err(|_| {
                    autosurgeon::HydrateError::unexpected(
                        concat!("a ", $field),
                        s.to_string(),
                    )
                })
            }
        }
    };
}

string_enum! {
    /// How far a relationship has come: the ladder of `DOMAIN.md` section 4.
    Level, "level" {
        /// Known only as a supplier.
        Vendor => "vendor",
        CredibleSource => "credible-source",
        ProblemSolver => "problem-solver",
        /// They seek our advice on new directions, in confidence.
        TrustedAdvisor => "trusted-advisor",
    }
}

string_enum! {
    /// How much a contact supports us.
    Preference, "preference" {
        Enemy => "enemy",
        NonSupporter => "non-supporter",
        Neutral => "neutral",
        Supporter => "supporter",
        /// Sells on our behalf; also called champion or coach.
        Mentor => "mentor" | "champion" | "coach",
    }
}

impl Preference {
    /// The value used when measuring a gap: Neutral counts as Non-Supporter
    /// ("assume the worst, then bridge").
    pub fn for_gap(self) -> Preference {
        match self {
            Preference::Neutral => Preference::NonSupporter,
            other => other,
        }
    }
}

string_enum! {
    /// How well we cover a contact.
    Coverage, "coverage" {
        Unknown => "unknown",
        None => "none" | "no-contact",
        Brief => "brief",
        Multiple => "multiple" | "multiple-contacts",
        InDepth => "in-depth",
    }
}

string_enum! {
    /// How a contact makes decisions.
    DecisionOrientation, "orientation" {
        Financial => "financial",
        Technical => "technical",
        Business => "business",
        Relationship => "relationship",
    }
}

string_enum! {
    /// Where a contact stands in the account's politics. The first two make a
    /// key player.
    PoliticalStatus, "political status" {
        InnerCircle => "inner-circle",
        PoliticalStructure => "political-structure",
        Outside => "outside",
    }
}

impl PoliticalStatus {
    /// Inner circle and political structure make a key player.
    pub fn is_key_player(self) -> bool {
        !matches!(self, PoliticalStatus::Outside)
    }
}

string_enum! {
    /// What we want someone to say yes to.
    OpportunityKind, "kind" {
        Project => "project",
        Partnership => "partnership",
        Introduction => "introduction" | "intro",
        Interview => "interview",
        Referral => "referral",
        GuestPost => "guest-post",
        Other => "other",
    }
}

string_enum! {
    /// Every opportunity ends: won, lost or dropped.
    OpportunityStatus, "status" {
        Open => "open",
        Won => "won",
        Lost => "lost",
        Dropped => "dropped",
    }
}

string_enum! {
    /// A contact's role on one opportunity.
    BuyingRole, "role" {
        DecisionMaker => "decision-maker" | "dm",
        Approver => "approver",
        Evaluator => "evaluator",
        Influencer => "influencer",
        User => "user",
        Other => "other",
    }
}

string_enum! {
    /// Where a plan item (an investment) stands.
    PlanStatus, "status" {
        Planned => "planned",
        Done => "done",
        Dropped => "dropped",
    }
}

string_enum! {
    /// The three tests of a good investment.
    InvestmentTest, "test" {
        /// It shows we invest our own time.
        Time => "time",
        /// Doing it teaches us more about the client.
        Learn => "learn",
        /// It shows, not asserts, that we are useful beyond the current work.
        Illustrate => "illustrate",
    }
}

string_enum! {
    /// What happened, in the activity log.
    ActivityKind, "kind" {
        Meeting => "meeting",
        Call => "call",
        Email => "email",
        Message => "message",
        Event => "event",
        ReferralGiven => "referral-given" | "referral",
        IntroductionMade => "introduction-made" | "intro",
        HelpGiven => "help-given" | "help",
        AskMade => "ask-made" | "ask",
        Other => "other",
    }
}

impl ActivityKind {
    /// The direction implied by the kind, when the user gives none.
    pub fn default_direction(self) -> Direction {
        match self {
            ActivityKind::ReferralGiven
            | ActivityKind::IntroductionMade
            | ActivityKind::HelpGiven => Direction::Give,
            ActivityKind::AskMade => Direction::Ask,
            _ => Direction::Neutral,
        }
    }
}

string_enum! {
    /// Whether an activity gave, asked, or neither.
    Direction, "direction" {
        Give => "give",
        Ask => "ask",
        Neutral => "neutral",
    }
}

string_enum! {
    /// Whether a partnership commitment was kept.
    CommitmentStatus, "commitment status" {
        Open => "open",
        Kept => "kept",
        Missed => "missed",
    }
}

string_enum! {
    /// Who owes a partnership commitment.
    Party, "party" {
        Us => "us" | "we",
        Them => "them" | "they",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every canonical spelling round-trips, in any case and with spaces or
    /// underscores for hyphens.
    fn round_trips<T>(all: &[T])
    where
        T: Copy + std::fmt::Debug + PartialEq + std::str::FromStr + std::fmt::Display,
        <T as std::str::FromStr>::Err: std::fmt::Debug,
    {
        for v in all {
            let s = v.to_string();
            assert_eq!(s.parse::<T>().unwrap(), *v);
            assert_eq!(s.to_uppercase().parse::<T>().unwrap(), *v);
            assert_eq!(s.replace('-', " ").parse::<T>().unwrap(), *v);
            assert_eq!(s.replace('-', "_").parse::<T>().unwrap(), *v);
        }
    }

    #[test]
    fn every_enum_parses_its_documented_spellings() {
        round_trips(Level::ALL);
        round_trips(Preference::ALL);
        round_trips(Coverage::ALL);
        round_trips(DecisionOrientation::ALL);
        round_trips(PoliticalStatus::ALL);
        round_trips(OpportunityKind::ALL);
        round_trips(OpportunityStatus::ALL);
        round_trips(BuyingRole::ALL);
        round_trips(PlanStatus::ALL);
        round_trips(InvestmentTest::ALL);
        round_trips(ActivityKind::ALL);
        round_trips(Direction::ALL);
        round_trips(CommitmentStatus::ALL);
        round_trips(Party::ALL);
    }

    #[test]
    fn aliases_parse() {
        assert_eq!(
            "champion".parse::<Preference>().unwrap(),
            Preference::Mentor
        );
        assert_eq!("Coach".parse::<Preference>().unwrap(), Preference::Mentor);
        assert_eq!("no contact".parse::<Coverage>().unwrap(), Coverage::None);
        assert_eq!(
            "DM".parse::<BuyingRole>().unwrap(),
            BuyingRole::DecisionMaker
        );
        assert_eq!(
            "intro".parse::<ActivityKind>().unwrap(),
            ActivityKind::IntroductionMade
        );
    }

    #[test]
    fn unknown_values_are_rejected_with_the_allowed_list() {
        let err = "friend".parse::<Level>().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("level"), "{msg}");
        assert!(msg.contains("friend"), "{msg}");
        assert!(
            msg.contains("vendor, credible-source, problem-solver, trusted-advisor"),
            "{msg}"
        );
        assert!("".parse::<Preference>().is_err());
        assert!("mentors".parse::<Preference>().is_err());
        assert!("trustedadvisor".parse::<Level>().is_err());
    }

    #[test]
    fn levels_and_preferences_ascend() {
        assert!(Level::Vendor < Level::CredibleSource);
        assert!(Level::CredibleSource < Level::ProblemSolver);
        assert!(Level::ProblemSolver < Level::TrustedAdvisor);
        assert!(Preference::Enemy < Preference::NonSupporter);
        assert!(Preference::NonSupporter < Preference::Neutral);
        assert!(Preference::Neutral < Preference::Supporter);
        assert!(Preference::Supporter < Preference::Mentor);
        assert!(Coverage::Unknown < Coverage::None && Coverage::Brief < Coverage::InDepth);
        assert_eq!(Level::TrustedAdvisor.rank(), 3);
    }

    #[test]
    fn neutral_counts_as_non_supporter_for_gaps() {
        assert_eq!(Preference::Neutral.for_gap(), Preference::NonSupporter);
        assert_eq!(Preference::Mentor.for_gap(), Preference::Mentor);
        assert_eq!(Preference::Enemy.for_gap(), Preference::Enemy);
    }

    #[test]
    fn kinds_imply_a_direction() {
        assert_eq!(
            ActivityKind::ReferralGiven.default_direction(),
            Direction::Give
        );
        assert_eq!(ActivityKind::AskMade.default_direction(), Direction::Ask);
        assert_eq!(
            ActivityKind::Meeting.default_direction(),
            Direction::Neutral
        );
    }

    #[test]
    fn key_players() {
        assert!(PoliticalStatus::InnerCircle.is_key_player());
        assert!(PoliticalStatus::PoliticalStructure.is_key_player());
        assert!(!PoliticalStatus::Outside.is_key_player());
    }
}
