//! Resource ids in paths and queries, accepted in one canonical form only: a UUID as 36
//! lower-case hyphenated characters, a BAN as `AB-123456789`. uuid's parser also takes
//! `{…}`, `urn:uuid:…`, upper case and no hyphens; accepting those would give one resource
//! many URLs (caches, audit trails and logs would not see them as one).

use uuid::Uuid;
use warp_domain::customer::{Ban, FieldError};

use crate::Problem;

/// The id if `text` is its canonical spelling.
pub(crate) fn canonical_uuid(text: &str) -> Option<Uuid> {
    let id = Uuid::try_parse(text).ok()?;
    let mut buffer = Uuid::encode_buffer();
    (id.hyphenated().encode_lower(&mut buffer) == text).then_some(id)
}

/// A path id: anything but a canonical UUID names no resource (404).
pub(crate) fn path_id(text: &str) -> Result<Uuid, Problem> {
    canonical_uuid(text).ok_or_else(Problem::not_found)
}

/// A path BAN: anything but a canonical BAN names no customer (404).
pub(crate) fn path_ban(text: &str) -> Result<Ban, Problem> {
    Ban::parse(text).map_err(|_| Problem::not_found())
}

/// A query parameter holding an id: 422 naming `field` unless canonical.
pub(crate) fn query_id(field: &str, text: &str) -> Result<Uuid, FieldError> {
    canonical_uuid(text).ok_or_else(|| {
        FieldError::new(
            field,
            "must be a UUID as 36 lower-case hyphenated characters",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_the_canonical_spellings_are_accepted() {
        let canonical = "01a20c00-7d4e-7b3a-9c1f-2a3b4c5d6e7f";
        assert!(canonical_uuid(canonical).is_some());
        for other in [
            "{01a20c00-7d4e-7b3a-9c1f-2a3b4c5d6e7f}",
            "urn:uuid:01a20c00-7d4e-7b3a-9c1f-2a3b4c5d6e7f",
            "01a20c007d4e7b3a9c1f2a3b4c5d6e7f",
            "01A20C00-7D4E-7B3A-9C1F-2A3B4C5D6E7F",
            " 01a20c00-7d4e-7b3a-9c1f-2a3b4c5d6e7f",
        ] {
            assert!(canonical_uuid(other).is_none(), "{other}");
            assert_eq!(path_id(other).unwrap_err().status, 404);
        }
        assert!(path_ban("ZT-487392012").is_ok());
        for other in ["zt-487392012", " ZT-487392012", "ZT487392012"] {
            assert_eq!(path_ban(other).unwrap_err().status, 404, "{other}");
        }
    }

    proptest! {
        #[test]
        fn every_uuid_reads_back_from_its_display(bytes in any::<[u8; 16]>()) {
            let id = Uuid::from_bytes(bytes);
            prop_assert_eq!(canonical_uuid(&id.to_string()), Some(id));
        }
    }
}
