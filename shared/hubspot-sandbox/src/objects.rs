//! The CRM object types the sandbox serves, and what differs between them: their names in
//! paths and webhook subscriptions, the properties HubSpot computes and returns by default, and
//! how a duplicate is described.
//!
//! Notes and calls are engagements, not the records a sync mirrors: they are written by the
//! integration and read back, and HubSpot's webhook subscriptions do not cover them. Tickets
//! are written by the integration and their stage read back; the sandbox's app subscribes to
//! no ticket events, so none is sent for them.
//!
//! A custom object type (Enterprise portals) takes one of [`MAX_CUSTOM_OBJECTS`] slots of its
//! portal; its schema (name, labels, properties) lives in the portal's registry
//! (`custom_objects.rs`), its records in the slot's store like any other type's.

/// The custom object types one portal may define (HubSpot's Enterprise limit).
pub const MAX_CUSTOM_OBJECTS: usize = 10;

/// The `objectTypeId` of each custom slot. Real HubSpot numbers them per account; the sandbox
/// gives every portal the same ids, which a client reads from the schema like any other.
pub const CUSTOM_TYPE_IDS: [&str; MAX_CUSTOM_OBJECTS] = [
    "2-4200001",
    "2-4200002",
    "2-4200003",
    "2-4200004",
    "2-4200005",
    "2-4200006",
    "2-4200007",
    "2-4200008",
    "2-4200009",
    "2-4200010",
];

/// A HubSpot CRM object type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectKind {
    Companies,
    Contacts,
    Deals,
    Notes,
    Calls,
    Tickets,
    /// A custom object type, by its slot (below [`MAX_CUSTOM_OBJECTS`]).
    Custom(u8),
}

impl ObjectKind {
    /// HubSpot's own object types.
    pub const ALL: [ObjectKind; 6] = [
        ObjectKind::Companies,
        ObjectKind::Contacts,
        ObjectKind::Deals,
        ObjectKind::Notes,
        ObjectKind::Calls,
        ObjectKind::Tickets,
    ];

    /// Every custom slot, defined or not.
    pub fn custom_slots() -> impl Iterator<Item = ObjectKind> {
        (0..MAX_CUSTOM_OBJECTS as u8).map(ObjectKind::Custom)
    }

    /// Reads the `{objectType}` of a path: HubSpot takes the plural name or the type id. A
    /// custom type's id names its slot; whether the portal defined it, and its names
    /// (`p{portal}_warp_trunk`, `p_warp_trunk`), are the portal's to say
    /// (`Portal::object_kind`).
    pub fn from_path(segment: &str) -> Option<Self> {
        match segment {
            "companies" | "company" | "0-2" => Some(ObjectKind::Companies),
            "contacts" | "contact" | "0-1" => Some(ObjectKind::Contacts),
            "deals" | "deal" | "0-3" => Some(ObjectKind::Deals),
            "notes" | "note" | "0-46" => Some(ObjectKind::Notes),
            "calls" | "call" | "0-48" => Some(ObjectKind::Calls),
            "tickets" | "ticket" | "0-5" => Some(ObjectKind::Tickets),
            _ => CUSTOM_TYPE_IDS
                .iter()
                .position(|id| *id == segment)
                .map(|slot| ObjectKind::Custom(slot as u8)),
        }
    }

    pub fn is_custom(self) -> bool {
        matches!(self, ObjectKind::Custom(_))
    }

    /// The plural name used in paths.
    pub fn name(self) -> &'static str {
        match self {
            ObjectKind::Companies => "companies",
            ObjectKind::Contacts => "contacts",
            ObjectKind::Deals => "deals",
            ObjectKind::Notes => "notes",
            ObjectKind::Calls => "calls",
            ObjectKind::Tickets => "tickets",
            ObjectKind::Custom(slot) => custom_type_id(slot),
        }
    }

    /// The word in messages ("No contact exists with id 5").
    pub fn singular(self) -> &'static str {
        match self {
            ObjectKind::Companies => "company",
            ObjectKind::Contacts => "contact",
            ObjectKind::Deals => "deal",
            ObjectKind::Notes => "note",
            ObjectKind::Calls => "call",
            ObjectKind::Tickets => "ticket",
            ObjectKind::Custom(_) => "object",
        }
    }

    /// HubSpot's object type id.
    pub fn type_id(self) -> &'static str {
        match self {
            ObjectKind::Companies => "0-2",
            ObjectKind::Contacts => "0-1",
            ObjectKind::Deals => "0-3",
            ObjectKind::Notes => "0-46",
            ObjectKind::Calls => "0-48",
            ObjectKind::Tickets => "0-5",
            ObjectKind::Custom(slot) => custom_type_id(slot),
        }
    }

    /// The property HubSpot keeps the last change time in (contacts kept the old name).
    pub fn last_modified_property(self) -> &'static str {
        match self {
            ObjectKind::Companies
            | ObjectKind::Deals
            | ObjectKind::Notes
            | ObjectKind::Calls
            | ObjectKind::Tickets
            | ObjectKind::Custom(_) => "hs_lastmodifieddate",
            ObjectKind::Contacts => "lastmodifieddate",
        }
    }

    /// The property HubSpot returns a record's creation time in with every read: engagements
    /// (notes, calls) name it `hs_createdate`, and keep `createdate` only on request.
    pub fn create_date_property(self) -> &'static str {
        match self {
            ObjectKind::Companies
            | ObjectKind::Contacts
            | ObjectKind::Deals
            | ObjectKind::Tickets => "createdate",
            ObjectKind::Notes | ObjectKind::Calls | ObjectKind::Custom(_) => "hs_createdate",
        }
    }

    /// Properties HubSpot itself requires on every create, whatever the portal's rules: a
    /// note or call without its time, or a ticket without its name and stage, is refused on
    /// v3 as on the dated path.
    pub fn required_on_create(self) -> &'static [&'static str] {
        match self {
            ObjectKind::Companies
            | ObjectKind::Contacts
            | ObjectKind::Deals
            | ObjectKind::Custom(_) => &[],
            ObjectKind::Notes | ObjectKind::Calls => &["hs_timestamp"],
            ObjectKind::Tickets => &["hs_pipeline_stage", "subject"],
        }
    }

    /// Properties a read that names none returns, as HubSpot does.
    pub fn default_read_properties(self) -> &'static [&'static str] {
        match self {
            ObjectKind::Companies => &[
                "createdate",
                "domain",
                "hs_lastmodifieddate",
                "hs_object_id",
                "name",
            ],
            ObjectKind::Contacts => &[
                "createdate",
                "email",
                "firstname",
                "hs_object_id",
                "lastmodifieddate",
                "lastname",
            ],
            ObjectKind::Deals => &[
                "amount",
                "closedate",
                "createdate",
                "dealname",
                "dealstage",
                "hs_lastmodifieddate",
                "hs_object_id",
                "pipeline",
            ],
            ObjectKind::Notes | ObjectKind::Calls | ObjectKind::Custom(_) => {
                &["hs_createdate", "hs_lastmodifieddate", "hs_object_id"]
            }
            ObjectKind::Tickets => &[
                "content",
                "createdate",
                "hs_lastmodifieddate",
                "hs_object_id",
                "hs_pipeline",
                "hs_pipeline_stage",
                "hs_ticket_category",
                "hs_ticket_priority",
                "subject",
            ],
        }
    }

    /// Properties whose values identify one record though `hasUniqueValue` is false: HubSpot
    /// refuses a second contact with an email, and upserts and reads contacts by it.
    pub fn built_in_unique(self) -> &'static [&'static str] {
        match self {
            ObjectKind::Companies
            | ObjectKind::Deals
            | ObjectKind::Notes
            | ObjectKind::Calls
            | ObjectKind::Tickets
            | ObjectKind::Custom(_) => &[],
            ObjectKind::Contacts => &["email"],
        }
    }

    /// The webhook subscription type and id of an event kind for this object type; `None`
    /// for notes and calls, which no subscription covers (HubSpot sends no event for them),
    /// and tickets, which the sandbox's app does not subscribe to.
    pub fn subscription(self, event: &str) -> Option<(u64, &'static str)> {
        let (base, name) = match (self, event) {
            (ObjectKind::Companies, "creation") => (1, "company.creation"),
            (ObjectKind::Companies, "deletion") => (2, "company.deletion"),
            (ObjectKind::Companies, "propertyChange") => (3, "company.propertyChange"),
            (ObjectKind::Companies, "restore") => (4, "company.restore"),
            (ObjectKind::Companies, "merge") => (5, "company.merge"),
            (ObjectKind::Contacts, "creation") => (1, "contact.creation"),
            (ObjectKind::Contacts, "deletion") => (2, "contact.deletion"),
            (ObjectKind::Contacts, "propertyChange") => (3, "contact.propertyChange"),
            (ObjectKind::Contacts, "restore") => (4, "contact.restore"),
            (ObjectKind::Contacts, "merge") => (5, "contact.merge"),
            (ObjectKind::Companies, "associationChange") => (6, "company.associationChange"),
            (ObjectKind::Contacts, "associationChange") => (6, "contact.associationChange"),
            (ObjectKind::Contacts, "privacyDeletion") => (7, "contact.privacyDeletion"),
            (ObjectKind::Deals, "creation") => (1, "deal.creation"),
            (ObjectKind::Deals, "deletion") => (2, "deal.deletion"),
            (ObjectKind::Deals, "propertyChange") => (3, "deal.propertyChange"),
            (ObjectKind::Deals, "restore") => (4, "deal.restore"),
            (ObjectKind::Deals, "merge") => (5, "deal.merge"),
            (ObjectKind::Deals, "associationChange") => (6, "deal.associationChange"),
            (ObjectKind::Companies, _) => (9, "company.unknown"),
            (ObjectKind::Contacts, _) => (9, "contact.unknown"),
            (ObjectKind::Deals, _) => (9, "deal.unknown"),
            (
                ObjectKind::Notes | ObjectKind::Calls | ObjectKind::Tickets | ObjectKind::Custom(_),
                _,
            ) => return None,
        };
        let app = match self {
            ObjectKind::Companies => 1_000_000,
            ObjectKind::Contacts => 2_000_000,
            ObjectKind::Deals => 3_000_000,
            ObjectKind::Notes | ObjectKind::Calls | ObjectKind::Tickets | ObjectKind::Custom(_) => {
                return None;
            }
        };
        Some((app + base, name))
    }
}

fn custom_type_id(slot: u8) -> &'static str {
    CUSTOM_TYPE_IDS
        .get(usize::from(slot))
        .copied()
        .unwrap_or("2-0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_take_names_and_type_ids() {
        for kind in ObjectKind::ALL {
            assert_eq!(ObjectKind::from_path(kind.name()), Some(kind));
            assert_eq!(ObjectKind::from_path(kind.type_id()), Some(kind));
        }
        assert_eq!(ObjectKind::from_path("widgets"), None);
        for kind in ObjectKind::custom_slots() {
            assert_eq!(ObjectKind::from_path(kind.type_id()), Some(kind));
        }
    }

    #[test]
    fn subscriptions_differ_by_object_type() {
        let company = ObjectKind::Companies.subscription("merge").unwrap();
        let contact = ObjectKind::Contacts.subscription("merge").unwrap();
        assert_eq!(contact.1, "contact.merge");
        assert_ne!(company.0, contact.0);
    }

    #[test]
    fn notes_have_no_subscription() {
        for event in [
            "creation",
            "deletion",
            "propertyChange",
            "associationChange",
        ] {
            assert_eq!(ObjectKind::Notes.subscription(event), None);
            assert_eq!(ObjectKind::Calls.subscription(event), None);
        }
        assert_eq!(ObjectKind::from_path("0-46"), Some(ObjectKind::Notes));
        assert_eq!(ObjectKind::from_path("note"), Some(ObjectKind::Notes));
    }
}
