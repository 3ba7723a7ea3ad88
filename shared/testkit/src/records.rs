//! The customers and users sync tests start from, created through the stores as the API
//! creates them (validated, versioned, with their outbox rows).

use serde_json::{Value, json};
use uuid::Uuid;
use warp_domain::customer::NewCustomer;
use warp_domain::user::NewUser;
use warp_store::users::{CreatedUser, UserStore};
use warp_store::{Created, CustomerStore};

/// A customer as the store answered its creation.
#[derive(Clone, Debug)]
pub struct CreatedCustomer {
    pub id: Uuid,
    pub ban: String,
    /// The outbox row that pushes it to HubSpot.
    pub outbox_id: Option<i64>,
}

/// A valid postpaid customer named `name`, with a domain made from the name, a credit limit
/// and a billing contact.
pub fn customer_body(name: &str) -> Value {
    json!({
        "company_name": name,
        "customer_type": "POSTPAID",
        "credit_limit": "2500.00",
        "domain": format!("{}.example", name.to_lowercase().replace(' ', "-")),
        "contact": {"email": "billing@example.com", "phone": "+14155550100"},
    })
}

/// Creates the customer `body` describes through the store.
pub async fn create_customer(store: &CustomerStore, body: &Value) -> CreatedCustomer {
    let new = NewCustomer::from_json(body).expect("a valid customer");
    match store
        .create(&new, None)
        .await
        .expect("the customer is created")
    {
        Created::New(written, _) => CreatedCustomer {
            id: written.value.id,
            ban: written.value.ban.to_string(),
            outbox_id: written.outbox_id,
        },
        Created::Replayed(_) => unreachable!("no idempotency key was given"),
    }
}

/// Creates an active developer of `customer` through the store; answers the user's id.
pub async fn create_user(store: &UserStore, customer: Uuid, email: &str, first_name: &str) -> Uuid {
    let new = NewUser::from_json(&json!({
        "email": email,
        "first_name": first_name,
        "last_name": "Tester",
        "role": "developer",
    }))
    .expect("a valid user");
    match store
        .create(customer, &new, None)
        .await
        .expect("the user is created")
    {
        CreatedUser::New(user, _, _) => user.id,
        CreatedUser::Replayed(_) => unreachable!("no idempotency key was given"),
    }
}

/// A customer linked to a company made in `home` (as a first push leaves it): the customer's id
/// and the company's.
pub async fn linked_customer(
    store: &CustomerStore,
    database: &warp_store::Database,
    home: &warp_hubspot::HubSpotClient,
    name: &str,
) -> (Uuid, String) {
    use crate::Sql;
    let customer = create_customer(store, &customer_body(name)).await.id;
    let company = home
        .objects(warp_hubspot::CrmObject::Companies)
        .create(&std::collections::BTreeMap::from([(
            "name".to_owned(),
            name.to_owned(),
        )]))
        .await
        .expect("the company is created")
        .id;
    database
        .execute(&format!(
            "UPDATE customers SET external_ids = jsonb_build_object('hubspot_company_id', '{company}') \
             WHERE id = '{customer}'"
        ))
        .await;
    (customer, company.as_str().to_owned())
}
