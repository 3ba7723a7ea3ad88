//! A customer's mapped fields in their canonical sync form: what WARP holds, as the outbound
//! diff, the inbound rules and reconciliation compare it.

use super::{FieldValues, WarpField};
use crate::customer::Customer;

/// Every mapped field of `customer`, canonical.
pub fn customer_field_values(customer: &Customer) -> FieldValues {
    let flag = |enabled: bool| Some(if enabled { "true" } else { "false" });
    FieldValues::new()
        .with(WarpField::Ban, Some(customer.ban.as_str()))
        .with(WarpField::CompanyName, Some(customer.company_name.as_str()))
        .with(
            WarpField::Domain,
            customer.domain.as_ref().map(|d| d.as_str()),
        )
        .with(WarpField::Status, Some(customer.status.as_str()))
        .with(
            WarpField::CustomerType,
            Some(customer.customer_type.as_str()),
        )
        .with(
            WarpField::CreditLimit,
            Some(&customer.credit_limit.to_string()),
        )
        .with(
            WarpField::CurrentBalance,
            Some(&customer.current_balance.to_string()),
        )
        .with(
            WarpField::ServicesVoice,
            flag(customer.services.voice.enabled),
        )
        .with(
            WarpField::ServicesMessaging,
            flag(customer.services.messaging.enabled),
        )
        .with(
            WarpField::ServicesData,
            flag(customer.services.data.enabled),
        )
        .with(
            WarpField::ContactEmail,
            customer.contact.email.as_ref().map(|e| e.as_str()),
        )
        .with(
            WarpField::ContactPhone,
            customer.contact.phone.as_ref().map(|p| p.as_str()),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customer::{Ban, Customer, NewCustomer};

    #[test]
    fn every_mapped_field_is_known_and_canonical() {
        let new = NewCustomer::from_json(&serde_json::json!({
            "company_name": "  Zeta Telecom ",
            "customer_type": "POSTPAID",
            "credit_limit": 1500,
            "domain": "Zeta.Example",
            "contact": {"email": "Ops@Zeta.example", "phone": "+14155550100"},
            "services": {"voice": {"enabled": true}}
        }))
        .expect("valid customer");
        let now = chrono::Utc::now();
        let customer = Customer {
            id: uuid::Uuid::nil(),
            ban: Ban::parse("ZT-487392012").unwrap(),
            company_name: new.company_name,
            customer_type: new.customer_type,
            status: new.status,
            credit_limit: new.credit_limit,
            current_balance: new.current_balance,
            domain: new.domain,
            contact: new.contact,
            address: new.address,
            services: new.services,
            external_ids: new.external_ids,
            version: 1,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        let values = customer_field_values(&customer);
        for field in WarpField::COMPANY {
            assert!(values.get(field).is_some(), "{field:?} must be known");
        }
        assert_eq!(values.get(WarpField::Ban), Some(Some("ZT-487392012")));
        assert_eq!(
            values.get(WarpField::CompanyName),
            Some(Some("Zeta Telecom"))
        );
        assert_eq!(values.get(WarpField::Domain), Some(Some("zeta.example")));
        assert_eq!(values.get(WarpField::CreditLimit), Some(Some("1500.00")));
        assert_eq!(values.get(WarpField::ServicesVoice), Some(Some("true")));
        assert_eq!(values.get(WarpField::ServicesData), Some(Some("false")));
        assert_eq!(
            values.get(WarpField::ContactEmail),
            Some(Some("Ops@zeta.example"))
        );
        assert_eq!(values.get(WarpField::Status), Some(Some("ACTIVE")));
    }
}
