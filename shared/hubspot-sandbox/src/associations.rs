//! Associations between records (HubSpot's v4 and 2026-09 association APIs): which contact
//! belongs to which company, by HubSpot-defined type ids. A primary association always comes
//! with the unlabeled one, every association is kept in both directions, and a contact has at
//! most one primary company (setting another moves it).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::error::ApiError;
use crate::objects::ObjectKind;

/// The category of HubSpot's own types.
pub const HUBSPOT_DEFINED: &str = "HUBSPOT_DEFINED";
/// The category of the types of custom object pairs (`custom_objects.rs`).
pub const USER_DEFINED: &str = "USER_DEFINED";

/// The category of a type id: custom pairs' ids start at 1000, above every HubSpot one.
pub fn category_of(type_id: u32) -> &'static str {
    if type_id >= 1000 {
        USER_DEFINED
    } else {
        HUBSPOT_DEFINED
    }
}

/// A HubSpot-defined association type between two object types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct AssociationType {
    from: ObjectKind,
    to: ObjectKind,
    id: u32,
    /// The inverse type, from `to` to `from`.
    inverse: u32,
    primary: bool,
    /// A primary type the `from` record holds once (a contact's or deal's one primary
    /// company); its inverse (the company's side) may be held many times.
    one_per_from: bool,
}

const TYPES: [AssociationType; 28] = [
    AssociationType {
        from: ObjectKind::Contacts,
        to: ObjectKind::Companies,
        id: 279,
        inverse: 280,
        primary: false,
        one_per_from: false,
    },
    AssociationType {
        from: ObjectKind::Contacts,
        to: ObjectKind::Companies,
        id: 1,
        inverse: 2,
        primary: true,
        one_per_from: true,
    },
    AssociationType {
        from: ObjectKind::Companies,
        to: ObjectKind::Contacts,
        id: 280,
        inverse: 279,
        primary: false,
        one_per_from: false,
    },
    AssociationType {
        from: ObjectKind::Companies,
        to: ObjectKind::Contacts,
        id: 2,
        inverse: 1,
        primary: true,
        one_per_from: false,
    },
    AssociationType {
        from: ObjectKind::Deals,
        to: ObjectKind::Companies,
        id: 341,
        inverse: 342,
        primary: false,
        one_per_from: false,
    },
    AssociationType {
        from: ObjectKind::Deals,
        to: ObjectKind::Companies,
        id: 5,
        inverse: 6,
        primary: true,
        one_per_from: true,
    },
    AssociationType {
        from: ObjectKind::Companies,
        to: ObjectKind::Deals,
        id: 342,
        inverse: 341,
        primary: false,
        one_per_from: false,
    },
    AssociationType {
        from: ObjectKind::Companies,
        to: ObjectKind::Deals,
        id: 6,
        inverse: 5,
        primary: true,
        one_per_from: false,
    },
    AssociationType {
        from: ObjectKind::Deals,
        to: ObjectKind::Contacts,
        id: 3,
        inverse: 4,
        primary: false,
        one_per_from: false,
    },
    AssociationType {
        from: ObjectKind::Contacts,
        to: ObjectKind::Deals,
        id: 4,
        inverse: 3,
        primary: false,
        one_per_from: false,
    },
    // A note has no primary record: one unlabeled type each way per pair.
    AssociationType {
        from: ObjectKind::Notes,
        to: ObjectKind::Companies,
        id: 190,
        inverse: 189,
        primary: false,
        one_per_from: false,
    },
    AssociationType {
        from: ObjectKind::Companies,
        to: ObjectKind::Notes,
        id: 189,
        inverse: 190,
        primary: false,
        one_per_from: false,
    },
    AssociationType {
        from: ObjectKind::Notes,
        to: ObjectKind::Deals,
        id: 214,
        inverse: 213,
        primary: false,
        one_per_from: false,
    },
    AssociationType {
        from: ObjectKind::Deals,
        to: ObjectKind::Notes,
        id: 213,
        inverse: 214,
        primary: false,
        one_per_from: false,
    },
    AssociationType {
        from: ObjectKind::Notes,
        to: ObjectKind::Contacts,
        id: 202,
        inverse: 201,
        primary: false,
        one_per_from: false,
    },
    AssociationType {
        from: ObjectKind::Contacts,
        to: ObjectKind::Notes,
        id: 201,
        inverse: 202,
        primary: false,
        one_per_from: false,
    },
    // A call, like a note, has no primary record.
    AssociationType {
        from: ObjectKind::Calls,
        to: ObjectKind::Contacts,
        id: 194,
        inverse: 193,
        primary: false,
        one_per_from: false,
    },
    AssociationType {
        from: ObjectKind::Contacts,
        to: ObjectKind::Calls,
        id: 193,
        inverse: 194,
        primary: false,
        one_per_from: false,
    },
    AssociationType {
        from: ObjectKind::Calls,
        to: ObjectKind::Companies,
        id: 182,
        inverse: 181,
        primary: false,
        one_per_from: false,
    },
    AssociationType {
        from: ObjectKind::Companies,
        to: ObjectKind::Calls,
        id: 181,
        inverse: 182,
        primary: false,
        one_per_from: false,
    },
    // A ticket has one primary company (339), like a deal.
    AssociationType {
        from: ObjectKind::Tickets,
        to: ObjectKind::Companies,
        id: 26,
        inverse: 25,
        primary: false,
        one_per_from: false,
    },
    AssociationType {
        from: ObjectKind::Tickets,
        to: ObjectKind::Companies,
        id: 339,
        inverse: 340,
        primary: true,
        one_per_from: true,
    },
    AssociationType {
        from: ObjectKind::Companies,
        to: ObjectKind::Tickets,
        id: 25,
        inverse: 26,
        primary: false,
        one_per_from: false,
    },
    AssociationType {
        from: ObjectKind::Companies,
        to: ObjectKind::Tickets,
        id: 340,
        inverse: 339,
        primary: true,
        one_per_from: false,
    },
    AssociationType {
        from: ObjectKind::Tickets,
        to: ObjectKind::Contacts,
        id: 16,
        inverse: 15,
        primary: false,
        one_per_from: false,
    },
    AssociationType {
        from: ObjectKind::Contacts,
        to: ObjectKind::Tickets,
        id: 15,
        inverse: 16,
        primary: false,
        one_per_from: false,
    },
    AssociationType {
        from: ObjectKind::Notes,
        to: ObjectKind::Tickets,
        id: 228,
        inverse: 227,
        primary: false,
        one_per_from: false,
    },
    AssociationType {
        from: ObjectKind::Tickets,
        to: ObjectKind::Notes,
        id: 227,
        inverse: 228,
        primary: false,
        one_per_from: false,
    },
];

fn type_of(from: ObjectKind, to: ObjectKind, id: u32) -> Option<AssociationType> {
    TYPES
        .into_iter()
        .chain(custom_type(from, to))
        .find(|t| t.from == from && t.to == to && t.id == id)
}

/// The unlabeled type from `from` to `to`, what a "default" association creates.
fn default_type(from: ObjectKind, to: ObjectKind) -> Option<AssociationType> {
    TYPES
        .into_iter()
        .chain(custom_type(from, to))
        .find(|t| t.from == from && t.to == to && !t.primary)
}

/// The one type of a pair with a custom object type.
fn custom_type(from: ObjectKind, to: ObjectKind) -> Option<AssociationType> {
    let (id, inverse) = crate::custom_objects::custom_association_type(from, to)?;
    Some(AssociationType {
        from,
        to,
        id,
        inverse,
        primary: false,
        one_per_from: false,
    })
}

/// One side of an association: an object type and a record id.
pub type End = (ObjectKind, u64);

/// Every association of the portal, in both directions.
#[derive(Debug, Default)]
pub struct Associations {
    types: BTreeMap<(End, End), BTreeSet<u32>>,
}

impl Associations {
    /// The type ids `types` names, checked against the pair; the unlabeled type is added to a
    /// primary one, as HubSpot does.
    pub fn checked_types(
        from: ObjectKind,
        to: ObjectKind,
        types: &[(String, i64)],
    ) -> Result<Vec<u32>, ApiError> {
        let mut ids = Vec::new();
        for (category, id) in types {
            let known = u32::try_from(*id)
                .ok()
                .filter(|id| category == category_of(*id))
                .and_then(|id| type_of(from, to, id));
            let Some(known) = known else {
                return Err(ApiError::validation(format!(
                    "Association type {category}/{id} does not exist between {} and {}",
                    from.name(),
                    to.name()
                )));
            };
            ids.push(known.id);
            if known.primary
                && let Some(unlabeled) = default_type(from, to)
            {
                ids.push(unlabeled.id);
            }
        }
        if ids.is_empty() {
            return Err(ApiError::validation(
                "At least one association type is required",
            ));
        }
        Ok(ids)
    }

    /// The object type at the other end of `types` from `from`, and the type ids they name:
    /// how HubSpot reads the `associations` of a create, whose `to` carries only an id.
    pub fn target_of(
        from: ObjectKind,
        types: &[(String, i64)],
    ) -> Result<(ObjectKind, Vec<u32>), ApiError> {
        ObjectKind::ALL
            .into_iter()
            .chain(ObjectKind::custom_slots())
            .find_map(|to| {
                Self::checked_types(from, to, types)
                    .ok()
                    .map(|ids| (to, ids))
            })
            .ok_or_else(|| {
                let named: Vec<String> = types
                    .iter()
                    .map(|(category, id)| format!("{category}/{id}"))
                    .collect();
                ApiError::validation(format!(
                    "Association types [{}] do not all lead from {} to one object type",
                    named.join(", "),
                    from.name()
                ))
            })
    }

    /// The default (unlabeled) type from `from` to `to`, if the pair has one.
    pub fn default_type_id(from: ObjectKind, to: ObjectKind) -> Result<u32, ApiError> {
        default_type(from, to).map(|t| t.id).ok_or_else(|| {
            ApiError::validation(format!(
                "No default association exists between {} and {}",
                from.name(),
                to.name()
            ))
        })
    }

    /// Adds `type_ids` from `from` to `to`, and their inverses.
    pub fn add(&mut self, from: End, to: End, type_ids: &[u32]) {
        for &id in type_ids {
            let Some(kind) = type_of(from.0, to.0, id) else {
                continue;
            };
            if kind.primary {
                // The contact or deal has one primary company, whichever side names it.
                let (child, parent, child_type, parent_type) = if kind.one_per_from {
                    (from, to, id, kind.inverse)
                } else {
                    (to, from, kind.inverse, id)
                };
                let previous: Vec<End> = self
                    .types
                    .iter()
                    .filter(|((a, b), ids)| {
                        *a == child && b.0 == parent.0 && *b != parent && ids.contains(&child_type)
                    })
                    .map(|((_, b), _)| *b)
                    .collect();
                for other in previous {
                    self.remove_type(child, other, child_type, parent_type);
                }
            }
            self.types.entry((from, to)).or_default().insert(id);
            self.types
                .entry((to, from))
                .or_default()
                .insert(kind.inverse);
        }
    }

    fn remove_type(&mut self, from: End, to: End, id: u32, inverse: u32) {
        for (key, type_id) in [((from, to), id), ((to, from), inverse)] {
            if let Some(ids) = self.types.get_mut(&key) {
                ids.remove(&type_id);
                if ids.is_empty() {
                    self.types.remove(&key);
                }
            }
        }
    }

    /// Removes every association between the two records.
    pub fn remove_all(&mut self, a: End, b: End) {
        self.types.remove(&(a, b));
        self.types.remove(&(b, a));
    }

    /// The type ids from `from` to `to`.
    pub fn between(&self, from: End, to: End) -> Vec<u32> {
        self.types
            .get(&(from, to))
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Every record of type `to` associated with `from`, with its type ids, by id.
    pub fn of(&self, from: End, to: ObjectKind) -> Vec<(u64, Vec<u32>)> {
        self.types
            .range((from, (to, 0))..=(from, (to, u64::MAX)))
            .map(|((_, b), ids)| (b.1, ids.iter().copied().collect()))
            .collect()
    }

    pub fn clear(&mut self) {
        self.types.clear();
    }
}

/// The `associationTypes` entries of a read (`AssociationSpecWithLabel`).
pub fn type_json(from: ObjectKind, to: ObjectKind, ids: &[u32]) -> Vec<Value> {
    ids.iter()
        .map(|id| {
            let mut entry = json!({"category": category_of(*id), "typeId": id});
            // An unlabeled type has no label member (the schema does not allow null).
            if type_of(from, to, *id).is_some_and(|t| t.primary) {
                entry["label"] = Value::from("Primary");
            }
            entry
        })
        .collect()
}

/// The v3 name of a type, as a record read with `associations=` names it
/// (`AssociatedId.type`): `contact_to_company` for the primary type (1),
/// `contact_to_company_unlabeled` for the unlabeled one (279). A pair without a primary
/// type has nothing to tell its one type from: `note_to_company` (190).
pub fn v3_type_name(from: ObjectKind, to: ObjectKind, id: u32) -> Option<String> {
    let known = type_of(from, to, id)?;
    let name = format!("{}_to_{}", from.singular(), to.singular());
    let pair_has_primary = TYPES
        .iter()
        .any(|t| t.from == from && t.to == to && t.primary);
    Some(if known.primary || !pair_has_primary {
        name
    } else {
        format!("{name}_unlabeled")
    })
}

/// The labels of a pair's types (`LabelsBetweenObjectPair.labels`): "Primary" or none.
pub fn labels(from: ObjectKind, to: ObjectKind, ids: &[u32]) -> Vec<String> {
    ids.iter()
        .filter(|id| type_of(from, to, **id).is_some_and(|t| t.primary))
        .map(|_| "Primary".to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTACT: End = (ObjectKind::Contacts, 5);
    const ACME: End = (ObjectKind::Companies, 7);
    const GLOBEX: End = (ObjectKind::Companies, 8);

    #[test]
    fn a_primary_association_brings_the_unlabeled_one_and_both_inverses() {
        let mut all = Associations::default();
        let ids = Associations::checked_types(
            ObjectKind::Contacts,
            ObjectKind::Companies,
            &[(HUBSPOT_DEFINED.into(), 1)],
        )
        .unwrap();
        all.add(CONTACT, ACME, &ids);
        assert_eq!(all.between(CONTACT, ACME), [1, 279]);
        assert_eq!(all.between(ACME, CONTACT), [2, 280]);
    }

    #[test]
    fn a_contact_has_one_primary_company() {
        let mut all = Associations::default();
        all.add(CONTACT, ACME, &[1, 279]);
        all.add(CONTACT, GLOBEX, &[1, 279]);
        assert_eq!(all.between(CONTACT, ACME), [279]);
        assert_eq!(all.between(ACME, CONTACT), [280]);
        assert_eq!(all.between(CONTACT, GLOBEX), [1, 279]);
        assert_eq!(all.of(CONTACT, ObjectKind::Companies).len(), 2);
    }

    #[test]
    fn a_deal_has_one_primary_company_and_a_company_is_primary_to_many() {
        let (first_deal, second_deal) = ((ObjectKind::Deals, 1), (ObjectKind::Deals, 2));
        let mut all = Associations::default();
        all.add(first_deal, ACME, &[5, 341]);
        // Named from the company's side (6): the second deal's primary company is Acme too.
        all.add(ACME, second_deal, &[6, 342]);
        all.add(ACME, CONTACT, &[2, 280]);
        assert_eq!(all.between(first_deal, ACME), [5, 341]);
        assert_eq!(all.between(second_deal, ACME), [5, 341]);
        assert_eq!(all.between(CONTACT, ACME), [1, 279]);
        // Another primary company for the first deal, named from that company's side.
        all.add(GLOBEX, first_deal, &[6, 342]);
        assert_eq!(all.between(first_deal, ACME), [341]);
        assert_eq!(all.between(ACME, first_deal), [342]);
        assert_eq!(all.between(first_deal, GLOBEX), [5, 341]);
        assert_eq!(all.between(second_deal, ACME), [5, 341]);
    }

    #[test]
    fn a_create_s_types_name_the_other_object_type() {
        let (to, ids) =
            Associations::target_of(ObjectKind::Contacts, &[(HUBSPOT_DEFINED.into(), 1)]).unwrap();
        assert_eq!((to, ids), (ObjectKind::Companies, vec![1, 279]));
        let (to, ids) =
            Associations::target_of(ObjectKind::Companies, &[(HUBSPOT_DEFINED.into(), 280)])
                .unwrap();
        assert_eq!((to, ids), (ObjectKind::Contacts, vec![280]));
        // 279 leads from contacts, not from companies; mixed targets name no one type.
        assert!(
            Associations::target_of(ObjectKind::Companies, &[(HUBSPOT_DEFINED.into(), 279)])
                .is_err()
        );
        assert!(Associations::target_of(ObjectKind::Contacts, &[]).is_err());
    }

    #[test]
    fn v3_names_tell_primary_from_unlabeled() {
        let name = |from, to, id| v3_type_name(from, to, id).unwrap();
        use ObjectKind::{Companies, Contacts};
        assert_eq!(name(Contacts, Companies, 1), "contact_to_company");
        assert_eq!(
            name(Contacts, Companies, 279),
            "contact_to_company_unlabeled"
        );
        assert_eq!(name(Companies, Contacts, 2), "company_to_contact");
        assert_eq!(
            name(Companies, Contacts, 280),
            "company_to_contact_unlabeled"
        );
        assert_eq!(v3_type_name(Companies, Contacts, 1), None);
    }

    #[test]
    fn a_note_s_default_types_and_their_inverses() {
        use ObjectKind::{Companies, Contacts, Deals, Notes};
        for (to, forward, inverse) in [
            (Companies, 190, 189),
            (Deals, 214, 213),
            (Contacts, 202, 201),
        ] {
            assert_eq!(Associations::default_type_id(Notes, to).unwrap(), forward);
            assert_eq!(Associations::default_type_id(to, Notes).unwrap(), inverse);
            let mut all = Associations::default();
            all.add((Notes, 1), (to, 2), &[forward]);
            assert_eq!(all.between((to, 2), (Notes, 1)), [inverse]);
            assert_eq!(labels(Notes, to, &[forward]), Vec::<String>::new());
        }
        let (to, ids) = Associations::target_of(Notes, &[(HUBSPOT_DEFINED.into(), 214)]).unwrap();
        assert_eq!((to, ids), (Deals, vec![214]));
        assert_eq!(
            v3_type_name(Notes, Companies, 190).as_deref(),
            Some("note_to_company")
        );
    }

    #[test]
    fn types_must_fit_the_pair() {
        let wrong = Associations::checked_types(
            ObjectKind::Companies,
            ObjectKind::Contacts,
            &[(HUBSPOT_DEFINED.into(), 1)],
        );
        assert!(wrong.is_err());
        let user_defined = Associations::checked_types(
            ObjectKind::Contacts,
            ObjectKind::Companies,
            &[("USER_DEFINED".into(), 279)],
        );
        assert!(user_defined.is_err());
    }
}
