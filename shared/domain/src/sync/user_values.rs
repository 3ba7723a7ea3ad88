//! A user's mapped fields in their canonical sync form (the contact side of DESIGN §7). Only
//! counts and dates of API use leave WARP: keys and secrets are not fields at all.

use super::{FieldValues, WarpField};
use crate::user::User;

/// Every mapped field of `user`, canonical.
pub fn user_field_values(user: &User) -> FieldValues {
    let instant = |at: Option<chrono::DateTime<chrono::Utc>>| {
        at.map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    };
    FieldValues::new()
        .with(WarpField::UserId, Some(&user.id.to_string()))
        .with(WarpField::Email, Some(user.email.as_str()))
        .with(
            WarpField::FirstName,
            user.first_name.as_ref().map(|t| t.as_str()),
        )
        .with(
            WarpField::LastName,
            user.last_name.as_ref().map(|t| t.as_str()),
        )
        .with(WarpField::Phone, user.phone.as_ref().map(|p| p.as_str()))
        .with(
            WarpField::JobTitle,
            user.job_title.as_ref().map(|t| t.as_str()),
        )
        .with(WarpField::Role, Some(user.role.as_str()))
        .with(
            WarpField::TwoFactorEnabled,
            Some(if user.two_factor_enabled {
                "true"
            } else {
                "false"
            }),
        )
        .with(
            WarpField::ApiKeyCount,
            Some(&user.api_key_count.to_string()),
        )
        .with(
            WarpField::LastApiCallAt,
            instant(user.last_api_call_at).as_deref(),
        )
        .with(
            WarpField::LastLoginAt,
            instant(user.last_login_at).as_deref(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::{PersonText, User, UserEmail, UserRole, UserStatus};
    use chrono::TimeZone;

    fn user() -> User {
        let at = chrono::Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
        User {
            id: uuid::Uuid::nil(),
            customer_id: uuid::Uuid::nil(),
            email: UserEmail::parse("Ada@Example.COM").unwrap(),
            first_name: Some(PersonText::parse(" Ada ").unwrap()),
            last_name: None,
            phone: None,
            job_title: None,
            role: UserRole::Developer,
            status: UserStatus::Active,
            two_factor_enabled: true,
            last_login_at: Some(at),
            api_key_count: 3,
            last_api_call_at: None,
            version: 1,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn every_contact_field_is_known_and_canonical() {
        let values = user_field_values(&user());
        for field in WarpField::CONTACT {
            assert!(values.get(field).is_some(), "{field} is known");
        }
        assert_eq!(values.get(WarpField::Email), Some(Some("ada@example.com")));
        assert_eq!(values.get(WarpField::FirstName), Some(Some("Ada")));
        assert_eq!(values.get(WarpField::LastName), Some(None));
        assert_eq!(values.get(WarpField::Role), Some(Some("developer")));
        assert_eq!(values.get(WarpField::TwoFactorEnabled), Some(Some("true")));
        assert_eq!(values.get(WarpField::ApiKeyCount), Some(Some("3")));
        assert_eq!(
            values.get(WarpField::LastLoginAt),
            Some(Some("2026-12-04T10:00:00.000Z"))
        );
    }

    #[test]
    fn hubspot_forms_of_an_instant_read_as_one_value() {
        let iso = super::super::canonical(WarpField::LastLoginAt, "2026-12-04T10:00:00Z");
        let millis = super::super::canonical(WarpField::LastLoginAt, "1796378400000");
        let offset = super::super::canonical(WarpField::LastLoginAt, "2026-12-04T11:00:00+01:00");
        assert_eq!(iso.as_deref(), Some("2026-12-04T10:00:00.000Z"));
        assert_eq!(iso, millis);
        assert_eq!(iso, offset);
        assert_eq!(
            super::super::canonical(WarpField::ApiKeyCount, " 7.0 ").as_deref(),
            Some("7")
        );
    }
}
