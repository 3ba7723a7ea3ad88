//! A WARP user: a customer's login (DESIGN §7), synced to a HubSpot contact. Values are parsed
//! into types that can only hold valid ones; create and update bodies are read field by field
//! with every error collected, like customers'.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::customer::text_value;
use crate::customer::{Change, Email, FieldError, InvalidValue, Phone};
use crate::json_input::{Reader, text};

code_enum!(
    /// What a user may do in WARP.
    UserRole { Admin => "admin", Developer => "developer", Billing => "billing", Readonly => "readonly" }
);

code_enum!(
    /// Whether a user can log in: `invited` until WARP enables the login, `disabled` after.
    UserStatus { Active => "active", Invited => "invited", Disabled => "disabled" }
);

text_value!(
    /// A login email: an [`Email`] stored lower-cased, so one address is one user per
    /// customer whatever its spelling.
    UserEmail
);

impl UserEmail {
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let email = Email::parse(text)?;
        Ok(UserEmail(email.as_str().to_lowercase()))
    }
}

text_value!(
    /// A person's first or last name, or a job title: trimmed, 1 to 100 characters, no
    /// control characters.
    PersonText
);

impl PersonText {
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(InvalidValue("must not be empty"));
        }
        if trimmed.chars().count() > 100 {
            return Err(InvalidValue("must be at most 100 characters"));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(InvalidValue("must not contain control characters"));
        }
        Ok(PersonText(trimmed.to_owned()))
    }
}

/// A stored user.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub email: UserEmail,
    pub first_name: Option<PersonText>,
    pub last_name: Option<PersonText>,
    pub phone: Option<Phone>,
    pub job_title: Option<PersonText>,
    pub role: UserRole,
    pub status: UserStatus,
    pub two_factor_enabled: bool,
    /// Facts WARP's login and API gateway record; this API only reports them.
    pub last_login_at: Option<DateTime<Utc>>,
    pub api_key_count: i32,
    pub last_api_call_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The fields of a user a client writes.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    pub email: UserEmail,
    pub first_name: Option<PersonText>,
    pub last_name: Option<PersonText>,
    pub phone: Option<Phone>,
    pub job_title: Option<PersonText>,
    pub role: UserRole,
    pub status: UserStatus,
    pub two_factor_enabled: bool,
}

/// A merge-patch of a user (RFC 7396): absent keeps, `null` clears an optional field.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserPatch {
    pub email: Option<UserEmail>,
    pub first_name: Change<PersonText>,
    pub last_name: Change<PersonText>,
    pub phone: Change<Phone>,
    pub job_title: Change<PersonText>,
    pub role: Option<UserRole>,
    pub status: Option<UserStatus>,
    pub two_factor_enabled: Option<bool>,
}

const WRITABLE: &[&str] = &[
    "email",
    "first_name",
    "last_name",
    "phone",
    "job_title",
    "role",
    "status",
    "two_factor_enabled",
];
const READ_ONLY: &[&str] = &[
    "id",
    "customer_id",
    "version",
    "created_at",
    "updated_at",
    "last_login_at",
    "api_key_count",
    "last_api_call_at",
];

impl NewUser {
    /// Reads a create body: `email` and `role` are required; `status` defaults to `invited`
    /// (a login is enabled on purpose, never by default).
    pub fn from_json(value: &Value) -> Result<Self, Vec<FieldError>> {
        let (patch, mut errors) = parse_patch(value);
        let mut require = |field: &str, present: bool| {
            if !present && !errors.iter().any(|e| e.field == field) {
                errors.push(FieldError::new(field, "is required"));
            }
        };
        require("email", patch.email.is_some());
        require("role", patch.role.is_some());
        match (errors.is_empty(), patch.email, patch.role) {
            (true, Some(email), Some(role)) => Ok(NewUser {
                email,
                first_name: patch.first_name.into_option(),
                last_name: patch.last_name.into_option(),
                phone: patch.phone.into_option(),
                job_title: patch.job_title.into_option(),
                role,
                status: patch.status.unwrap_or(UserStatus::Invited),
                two_factor_enabled: patch.two_factor_enabled.unwrap_or(false),
            }),
            _ => Err(errors),
        }
    }
}

impl UserPatch {
    pub fn from_json(value: &Value) -> Result<Self, Vec<FieldError>> {
        let (patch, errors) = parse_patch(value);
        if errors.is_empty() {
            Ok(patch)
        } else {
            Err(errors)
        }
    }

    /// The writable fields after this patch.
    pub fn apply_to(&self, current: &User) -> NewUser {
        NewUser {
            email: self.email.clone().unwrap_or_else(|| current.email.clone()),
            first_name: self.first_name.apply(&current.first_name),
            last_name: self.last_name.apply(&current.last_name),
            phone: self.phone.apply(&current.phone),
            job_title: self.job_title.apply(&current.job_title),
            role: self.role.unwrap_or(current.role),
            status: self.status.unwrap_or(current.status),
            two_factor_enabled: self
                .two_factor_enabled
                .unwrap_or(current.two_factor_enabled),
        }
    }
}

fn parse_patch(value: &Value) -> (UserPatch, Vec<FieldError>) {
    let mut reader = Reader::new(READ_ONLY);
    let mut patch = UserPatch::default();
    let Some(map) = reader.object(value, "", WRITABLE) else {
        return (patch, reader.into_errors());
    };
    patch.email = reader.required(map, "", "email", |v| {
        UserEmail::parse(text(v)?).map_err(|e| e.to_string())
    });
    let person = |v: &Value| PersonText::parse(text(v)?).map_err(|e| e.to_string());
    patch.first_name = reader.clearable(map, "", "first_name", person);
    patch.last_name = reader.clearable(map, "", "last_name", person);
    patch.job_title = reader.clearable(map, "", "job_title", person);
    patch.phone = reader.clearable(map, "", "phone", |v| {
        Phone::parse(text(v)?).map_err(|e| e.to_string())
    });
    patch.role = reader.required(map, "", "role", |v| {
        UserRole::parse(text(v)?).map_err(|e| e.to_string())
    });
    patch.status = reader.required(map, "", "status", |v| {
        UserStatus::parse(text(v)?).map_err(|e| e.to_string())
    });
    patch.two_factor_enabled = reader.required(map, "", "two_factor_enabled", |v| {
        v.as_bool()
            .ok_or_else(|| "must be true or false".to_owned())
    });
    (patch, reader.into_errors())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        let mut fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        fields.sort_unstable();
        fields
    }

    #[test]
    fn a_create_needs_email_and_role_and_starts_invited() {
        let user =
            NewUser::from_json(&json!({"email": "Ada@Example.COM", "role": "developer"})).unwrap();
        assert_eq!(user.email.as_str(), "ada@example.com");
        assert_eq!(user.status, UserStatus::Invited);
        assert!(!user.two_factor_enabled);
        let errors = NewUser::from_json(&json!({"first_name": "Ada"})).unwrap_err();
        assert_eq!(fields(&errors), ["email", "role"]);
    }

    #[test]
    fn every_bad_field_is_named_and_read_only_fields_are_refused() {
        let errors = NewUser::from_json(&json!({
            "email": "not-an-email", "role": "root", "status": "gone", "phone": "555",
            "first_name": "", "two_factor_enabled": "yes", "api_key_count": 3, "nickname": "x",
        }))
        .unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                "api_key_count",
                "email",
                "first_name",
                "nickname",
                "phone",
                "role",
                "status",
                "two_factor_enabled"
            ]
        );
        let read_only = errors.iter().find(|e| e.field == "api_key_count").unwrap();
        assert_eq!(read_only.message, "is read-only");
    }

    #[test]
    fn a_patch_keeps_absent_fields_and_clears_null_ones() {
        let current = User {
            id: Uuid::nil(),
            customer_id: Uuid::nil(),
            email: UserEmail::parse("a@example.com").unwrap(),
            first_name: Some(PersonText::parse("Ada").unwrap()),
            last_name: Some(PersonText::parse("Lovelace").unwrap()),
            phone: None,
            job_title: Some(PersonText::parse("Engineer").unwrap()),
            role: UserRole::Developer,
            status: UserStatus::Active,
            two_factor_enabled: true,
            last_login_at: None,
            api_key_count: 2,
            last_api_call_at: None,
            version: 3,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let patch = UserPatch::from_json(&json!({"job_title": null, "role": "billing"})).unwrap();
        let after = patch.apply_to(&current);
        assert_eq!(after.job_title, None);
        assert_eq!(after.role, UserRole::Billing);
        assert_eq!(after.first_name, current.first_name);
        assert!(after.two_factor_enabled);
        let errors = UserPatch::from_json(&json!({"email": null})).unwrap_err();
        assert_eq!(fields(&errors), ["email"]);
    }
}
