//! The HubSpot object types the engine syncs, by HubSpot's own names (the `{objectType}` of
//! `/crm/objects/{version}/{objectType}` and of `hubspot_sync_config.object_type`).

use std::fmt;
use std::str::FromStr;

/// A HubSpot object type paired with a WARP entity (DESIGN §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectType {
    /// HubSpot companies ↔ WARP customers.
    Companies,
    /// HubSpot contacts ↔ WARP users.
    Contacts,
}

impl ObjectType {
    pub const ALL: [ObjectType; 2] = [ObjectType::Companies, ObjectType::Contacts];

    /// HubSpot's name of the object type.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectType::Companies => "companies",
            ObjectType::Contacts => "contacts",
        }
    }

    /// The object in HubSpot's webhook subscription types (`contact` of
    /// `contact.propertyChange`).
    pub fn event_object(self) -> &'static str {
        match self {
            ObjectType::Companies => "company",
            ObjectType::Contacts => "contact",
        }
    }

    /// Whether its HubSpot records are a person's data, which HubSpot deletes for good on a
    /// privacy (GDPR) request: such a record gone even from the recycle bin is never made
    /// again from WARP.
    pub fn holds_personal_data(self) -> bool {
        match self {
            ObjectType::Companies => false,
            ObjectType::Contacts => true,
        }
    }
}

/// Every HubSpot CRM object type WARP calls, synced both ways or only read (deals are mirrored
/// from HubSpot): the `{objectType}` of HubSpot's paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CrmObject {
    Companies,
    Contacts,
    Deals,
    /// Notes on a record's timeline (written by WARP: onboarding's "account created").
    Notes,
    /// Finished calls of the platform, logged on the contact called (written by WARP).
    Calls,
    /// Support tickets opened by the platform's alerts (written by WARP, their stage read back).
    Tickets,
    /// A custom object type of one portal, by its `objectTypeId` (`2-4200001`): trunks and
    /// numbers (written by WARP). Made with [`CrmObject::custom`].
    #[serde(untagged)]
    Custom(&'static str),
}

impl CrmObject {
    /// HubSpot's name of the object type.
    pub fn as_str(self) -> &'static str {
        match self {
            CrmObject::Companies => "companies",
            CrmObject::Contacts => "contacts",
            CrmObject::Deals => "deals",
            CrmObject::Notes => "notes",
            CrmObject::Calls => "calls",
            CrmObject::Tickets => "tickets",
            CrmObject::Custom(type_id) => type_id,
        }
    }

    /// The custom object type `type_id` (`2-<digits>`, as HubSpot's schemas answer it);
    /// `None` for any other text. Type ids are interned for the process's life: a portal has a
    /// handful, and paths borrow the name like a built-in type's.
    pub fn custom(type_id: &str) -> Option<CrmObject> {
        static INTERNED: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
        let digits = type_id.strip_prefix("2-")?;
        if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut interned = INTERNED.lock().unwrap_or_else(|poison| poison.into_inner());
        let name = match interned.iter().find(|known| **known == type_id) {
            Some(known) => *known,
            None => {
                let leaked: &'static str = Box::leak(type_id.to_owned().into_boxed_str());
                interned.push(leaked);
                leaked
            }
        };
        Some(CrmObject::Custom(name))
    }
}

impl From<ObjectType> for CrmObject {
    fn from(object: ObjectType) -> Self {
        match object {
            ObjectType::Companies => CrmObject::Companies,
            ObjectType::Contacts => CrmObject::Contacts,
        }
    }
}

impl fmt::Display for CrmObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for ObjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_custom_type_is_its_type_id_once_interned() {
        let trunk = CrmObject::custom("2-4200001").unwrap();
        assert_eq!(trunk.as_str(), "2-4200001");
        assert_eq!(CrmObject::custom("2-4200001"), Some(trunk));
        for bad in ["4200001", "2-", "2-42x", "0-2", "p123_warp_trunk"] {
            assert_eq!(CrmObject::custom(bad), None, "{bad}");
        }
    }
}

/// A string that names no [`ObjectType`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown object type {0:?} (known: companies, contacts)")]
pub struct UnknownObjectType(pub String);

impl FromStr for ObjectType {
    type Err = UnknownObjectType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ObjectType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownObjectType(s.to_owned()))
    }
}
