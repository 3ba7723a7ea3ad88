//! Importing from HubSpot (issue 20): which WARP record a HubSpot record is. Pure rules; the
//! lookups they decide on are made by the caller, a page at a time.
//!
//! A record is matched first by its link, then by the unique key WARP writes (`warp_ban` on a
//! company, `warp_user_id` on a contact), then by a secondary identity (a company's domain, a
//! contact's email). A secondary match is taken only when it names exactly one WARP record that
//! is linked to nothing: a domain shared by two customers, or whose one customer is linked to
//! another company, is *proposed* (listed with its candidates for a person), never forced.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// What an import reads from HubSpot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImportObject {
    /// Companies, matched to customers.
    Companies,
    /// Contacts, matched to users.
    Contacts,
    /// Deals, mirrored (and won ones onboarded).
    Deals,
}

impl ImportObject {
    pub const ALL: [ImportObject; 3] = [
        ImportObject::Companies,
        ImportObject::Contacts,
        ImportObject::Deals,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ImportObject::Companies => "companies",
            ImportObject::Contacts => "contacts",
            ImportObject::Deals => "deals",
        }
    }
}

impl fmt::Display for ImportObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Not one of [`ImportObject::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be one of companies, contacts, deals")]
pub struct UnknownImportObject;

impl FromStr for ImportObject {
    type Err = UnknownImportObject;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ImportObject::ALL
            .into_iter()
            .find(|object| object.as_str() == text)
            .ok_or(UnknownImportObject)
    }
}

/// A WARP record a lookup found (deleted ones are never looked up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCandidate {
    pub id: Uuid,
    /// The HubSpot record it is linked to, if any.
    pub linked_to: Option<String>,
}

/// What the caller looked up for one HubSpot record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lookups {
    /// The WARP record linked to this HubSpot record.
    pub linked_here: Option<Uuid>,
    /// The record the HubSpot record's key names, when it carries one (`None` inside: the
    /// key names no WARP record).
    pub by_key: Option<Option<LocalCandidate>>,
    /// The records sharing its secondary identity (domain, email), when it has one.
    pub by_secondary: Vec<LocalCandidate>,
}

/// Which WARP record a HubSpot record is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// Linked already.
    Linked(Uuid),
    /// It carries this record's key: link it.
    ByKey(Uuid),
    /// The one unlinked record with its domain or email: link it.
    BySecondary(Uuid),
    /// More than one way to read it: for a person, with the candidates.
    Ambiguous {
        reason: String,
        candidates: Vec<Uuid>,
    },
    /// It carries a key that names no WARP record (from another environment, or a record
    /// deleted since): never linked or created by an import.
    UnknownKey { reason: String },
    /// Nothing in WARP is this record.
    Unmatched,
}

impl Match {
    /// The WARP record it is or becomes linked to.
    pub fn local_id(&self) -> Option<Uuid> {
        match self {
            Match::Linked(id) | Match::ByKey(id) | Match::BySecondary(id) => Some(*id),
            _ => None,
        }
    }
}

/// What `noun` (a "customer", a "user") and `secondary` (a "domain", an "email") are called in
/// reasons.
#[derive(Debug, Clone, Copy)]
pub struct Nouns {
    pub local: &'static str,
    pub key: &'static str,
    pub secondary: &'static str,
}

pub const CUSTOMER_NOUNS: Nouns = Nouns {
    local: "customer",
    key: "warp_ban",
    secondary: "domain",
};

pub const USER_NOUNS: Nouns = Nouns {
    local: "user",
    key: "warp_user_id",
    secondary: "email",
};

/// Decides which WARP record `hubspot_id` is.
pub fn match_record(hubspot_id: &str, lookups: &Lookups, nouns: Nouns) -> Match {
    if let Some(id) = lookups.linked_here {
        return Match::Linked(id);
    }
    if let Some(by_key) = &lookups.by_key {
        return match by_key {
            None => Match::UnknownKey {
                reason: format!("its {} names no WARP {}", nouns.key, nouns.local),
            },
            Some(found) => match &found.linked_to {
                Some(other) if other != hubspot_id => Match::Ambiguous {
                    reason: format!(
                        "its {} is {} {}'s, which is linked to HubSpot record {other}",
                        nouns.key, nouns.local, found.id
                    ),
                    candidates: vec![found.id],
                },
                _ => Match::ByKey(found.id),
            },
        };
    }
    match lookups.by_secondary.as_slice() {
        [] => Match::Unmatched,
        [only] => match &only.linked_to {
            None => Match::BySecondary(only.id),
            Some(other) => Match::Ambiguous {
                reason: format!(
                    "the one {} with its {} is linked to HubSpot record {other}",
                    nouns.local, nouns.secondary
                ),
                candidates: vec![only.id],
            },
        },
        several => Match::Ambiguous {
            reason: format!(
                "{} {}s have its {}",
                several.len(),
                nouns.local,
                nouns.secondary
            ),
            candidates: several.iter().map(|c| c.id).collect(),
        },
    }
}

/// One page's matches made consistent: a WARP record two HubSpot records of the page would be
/// linked to keeps the one that carries its key, when exactly one does; every other claim on it
/// (a second key, a domain or email match) becomes a proposal for a person.
pub fn settle_page(matches: Vec<(String, Match)>, nouns: Nouns) -> Vec<(String, Match)> {
    let mut claims: HashMap<Uuid, (usize, usize)> = HashMap::new();
    for (_, decided) in &matches {
        match decided {
            Match::ByKey(id) => claims.entry(*id).or_default().0 += 1,
            Match::BySecondary(id) => claims.entry(*id).or_default().1 += 1,
            _ => {}
        }
    }
    matches
        .into_iter()
        .map(|(hubspot_id, decided)| {
            let contested = match &decided {
                Match::ByKey(id) => claims[id].0 > 1,
                Match::BySecondary(id) => claims[id] != (0, 1),
                _ => false,
            };
            match (contested, decided.local_id()) {
                (true, Some(id)) => {
                    let reason = format!(
                        "{} HubSpot records of one page match this {}",
                        claims[&id].0 + claims[&id].1,
                        nouns.local
                    );
                    (
                        hubspot_id,
                        Match::Ambiguous {
                            reason,
                            candidates: vec![id],
                        },
                    )
                }
                _ => (hubspot_id, decided),
            }
        })
        .collect()
}

/// A company's domain as compared: lower-cased, without a scheme, `www.`, path or trailing
/// dot (HubSpot keeps what people type). `None` when nothing is left.
pub fn normalized_domain(domain: &str) -> Option<String> {
    let text = domain.trim().to_ascii_lowercase();
    let text = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .unwrap_or(&text);
    let host = text.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.strip_prefix("www.").unwrap_or(host);
    let host = host.trim_end_matches('.');
    (!host.is_empty()).then(|| host.to_owned())
}

/// What an import counts, page by page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    /// HubSpot records read.
    pub read: i64,
    /// Matched to a WARP record (linked before, or now).
    pub matched: i64,
    /// Of those matched, linked by this import (0 in a dry run).
    pub linked: i64,
    /// WARP records created or started: onboardings of companies the rule takes, deals
    /// stored for the first time (a dry run counts what it would create).
    pub created: i64,
    /// Proposed for a person (listed as the import's items).
    pub ambiguous: i64,
    /// Companies left as candidates to adopt.
    pub candidates: i64,
    /// Nothing in WARP, and nothing to create (a contact with no user, a key naming nothing).
    pub unmatched: i64,
    /// Records whose link HubSpot or WARP refused (listed as items with the reason).
    pub failed: i64,
}

impl std::ops::AddAssign for ImportCounts {
    fn add_assign(&mut self, other: Self) {
        self.read += other.read;
        self.matched += other.matched;
        self.linked += other.linked;
        self.created += other.created;
        self.ambiguous += other.ambiguous;
        self.candidates += other.candidates;
        self.unmatched += other.unmatched;
        self.failed += other.failed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn candidate(linked_to: Option<&str>) -> LocalCandidate {
        LocalCandidate {
            id: Uuid::now_v7(),
            linked_to: linked_to.map(str::to_owned),
        }
    }

    #[test]
    fn a_link_wins_then_the_key_then_one_unlinked_secondary() {
        let linked = Uuid::now_v7();
        let keyed = candidate(None);
        let lookups = Lookups {
            linked_here: Some(linked),
            by_key: Some(Some(keyed.clone())),
            by_secondary: vec![candidate(None)],
        };
        assert_eq!(
            match_record("7", &lookups, CUSTOMER_NOUNS),
            Match::Linked(linked)
        );
        let lookups = Lookups {
            linked_here: None,
            ..lookups
        };
        assert_eq!(
            match_record("7", &lookups, CUSTOMER_NOUNS),
            Match::ByKey(keyed.id)
        );
        let only = candidate(None);
        let lookups = Lookups {
            by_key: None,
            by_secondary: vec![only.clone()],
            ..Lookups::default()
        };
        assert_eq!(
            match_record("7", &lookups, CUSTOMER_NOUNS),
            Match::BySecondary(only.id)
        );
        assert_eq!(
            match_record("7", &Lookups::default(), CUSTOMER_NOUNS),
            Match::Unmatched
        );
    }

    #[test]
    fn a_key_naming_nothing_or_a_record_linked_elsewhere_is_never_linked() {
        let unknown = Lookups {
            by_key: Some(None),
            by_secondary: vec![candidate(None)],
            ..Lookups::default()
        };
        assert!(matches!(
            match_record("7", &unknown, CUSTOMER_NOUNS),
            Match::UnknownKey { reason } if reason == "its warp_ban names no WARP customer"
        ));
        let elsewhere = candidate(Some("8"));
        let lookups = Lookups {
            by_key: Some(Some(elsewhere.clone())),
            ..Lookups::default()
        };
        assert!(matches!(
            match_record("7", &lookups, CUSTOMER_NOUNS),
            Match::Ambiguous { candidates, .. } if candidates == vec![elsewhere.id]
        ));
        // Linked to this very record (the link was just not found by id): the key decides.
        let here = candidate(Some("7"));
        let lookups = Lookups {
            by_key: Some(Some(here.clone())),
            ..Lookups::default()
        };
        assert_eq!(
            match_record("7", &lookups, CUSTOMER_NOUNS),
            Match::ByKey(here.id)
        );
    }

    #[test]
    fn domains_compare_without_scheme_www_path_or_case() {
        assert_eq!(
            normalized_domain(" HTTPS://www.Acme.example/about "),
            Some("acme.example".into())
        );
        assert_eq!(
            normalized_domain("acme.example."),
            Some("acme.example".into())
        );
        assert_eq!(normalized_domain("http://"), None);
        assert_eq!(normalized_domain("  "), None);
    }

    #[test]
    fn import_objects_parse_by_name_only() {
        for object in ImportObject::ALL {
            assert_eq!(object.as_str().parse::<ImportObject>(), Ok(object));
        }
        assert!("Companies".parse::<ImportObject>().is_err());
        assert!("tickets".parse::<ImportObject>().is_err());
    }

    #[test]
    fn a_record_claimed_twice_on_a_page_keeps_its_one_key_match_and_proposes_the_rest() {
        let (keyed, domain_twice, key_twice) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let settled = settle_page(
            vec![
                ("1".into(), Match::ByKey(keyed)),
                ("2".into(), Match::BySecondary(keyed)),
                ("3".into(), Match::BySecondary(domain_twice)),
                ("4".into(), Match::BySecondary(domain_twice)),
                ("5".into(), Match::ByKey(key_twice)),
                ("6".into(), Match::ByKey(key_twice)),
                ("7".into(), Match::Unmatched),
            ],
            CUSTOMER_NOUNS,
        );
        let proposed: Vec<&str> = settled
            .iter()
            .filter(|(_, m)| matches!(m, Match::Ambiguous { .. }))
            .map(|(id, _)| id.as_str())
            .collect();
        assert_eq!(proposed, vec!["2", "3", "4", "5", "6"]);
        assert_eq!(settled[0].1, Match::ByKey(keyed));
        assert_eq!(settled[6].1, Match::Unmatched);
    }

    proptest! {
        /// After settling, no WARP record is linked by two records of a page.
        #[test]
        fn a_settled_page_links_each_record_once(picks in proptest::collection::vec((0usize..4, any::<bool>()), 0..12)) {
            let ids: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
            let page: Vec<(String, Match)> = picks
                .iter()
                .enumerate()
                .map(|(n, (pick, by_key))| {
                    let id = ids[*pick];
                    (n.to_string(), if *by_key { Match::ByKey(id) } else { Match::BySecondary(id) })
                })
                .collect();
            let settled = settle_page(page, USER_NOUNS);
            prop_assert_eq!(settled.len(), picks.len());
            let mut linked = std::collections::HashSet::new();
            for (_, decided) in &settled {
                if let Match::ByKey(id) | Match::BySecondary(id) = decided {
                    prop_assert!(linked.insert(*id), "{} linked twice", id);
                }
            }
        }

        /// A secondary identity links only when it names exactly one record linked to
        /// nothing; otherwise every record it names is proposed.
        #[test]
        fn a_secondary_match_is_never_forced(linked in proptest::collection::vec(any::<bool>(), 0..5)) {
            let found: Vec<LocalCandidate> = linked
                .iter()
                .map(|linked| candidate(linked.then_some("99")))
                .collect();
            let lookups = Lookups { by_secondary: found.clone(), ..Lookups::default() };
            let decided = match_record("7", &lookups, USER_NOUNS);
            match decided {
                Match::BySecondary(id) => {
                    prop_assert_eq!(found.len(), 1);
                    prop_assert_eq!(id, found[0].id);
                    prop_assert!(found[0].linked_to.is_none());
                }
                Match::Ambiguous { candidates, .. } => {
                    prop_assert!(!found.is_empty());
                    prop_assert_eq!(candidates, found.iter().map(|c| c.id).collect::<Vec<_>>());
                }
                Match::Unmatched => prop_assert!(found.is_empty()),
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
    }
}
