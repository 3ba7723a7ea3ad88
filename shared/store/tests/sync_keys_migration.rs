//! V8 keys every sync table by (portal, object type, local id): a database holding V7's data
//! keeps every row and value, each row becomes a company row, and the sync summaries still
//! agree with their sources.

use warp_store::field_state;

const PORTAL: i64 = 62515;
const CUSTOMER: &str = "0196b3c4-0000-7000-8000-00000000c001";
const OTHER: &str = "0196b3c4-0000-7000-8000-00000000c002";

#[tokio::test]
async fn v8_moves_every_sync_row_to_the_generic_keys_without_loss() {
    let database = warp_testkit::empty_database().await;
    database.migrate_to(7).await.unwrap();
    let client = database.client().await.unwrap();
    // V7's schema with a customer pushed once and failing now, an inbound log row, field
    // state on both sides, an open conflict and two raw webhook events.
    client
        .batch_execute(&format!(
            "INSERT INTO customers (id, ban, company_name, customer_type, external_ids) VALUES
               ('{CUSTOMER}', 'AB-000000001', 'Acme', 'POSTPAID', '{{\"hubspot_company_id\": \"901\"}}'),
               ('{OTHER}', 'AB-000000002', 'Globex', 'PREPAID', '{{}}');
             INSERT INTO hubspot_sync_queue (portal_id, customer_id, operation, status, customer_version, attempts, last_error)
             VALUES ({PORTAL}, '{CUSTOMER}', 'CREATE', 'DONE', 1, 1, NULL),
                    ({PORTAL}, '{CUSTOMER}', 'UPDATE', 'FAILED', 2, 3, 'HubSpot answered 502'),
                    ({PORTAL}, '{OTHER}', 'CREATE', 'PENDING', 1, 0, NULL);
             INSERT INTO hubspot_sync_log (portal_id, queue_id, customer_id, direction, operation, status,
                                           fields_synced, hubspot_company_id, completed_at)
             VALUES ({PORTAL}, 1, '{CUSTOMER}', 'OUTBOUND', 'CREATE', 'SUCCESS', '{{company_name}}', '901', now()),
                    ({PORTAL}, NULL, '{CUSTOMER}', 'INBOUND', 'PROPERTY_CHANGE', 'SUCCESS', '{{domain}}', '901', now());
             INSERT INTO hubspot_field_state (portal_id, customer_id, field, warp_value, hubspot_value,
                                              warp_changed_at, hubspot_changed_at)
             VALUES ({PORTAL}, '{CUSTOMER}', 'company_name', 'Acme', 'Acme Inc', now(), now()),
                    ({PORTAL}, '{CUSTOMER}', 'domain', NULL, 'acme.example', NULL, now());
             INSERT INTO sync_conflicts (id, portal_id, customer_id, field, warp_value, hubspot_value)
             VALUES ('0196b3c4-0000-7000-8000-0000000000f1', {PORTAL}, '{CUSTOMER}', 'company_name', 'Acme', 'Acme Inc');
             INSERT INTO hubspot_webhook_events (portal_id, event_id, subscription_type, object_id, occurred_at_ms, raw)
             VALUES ({PORTAL}, 1, 'company.propertyChange', 901, 1, '{{}}'),
                    ({PORTAL}, 2, 'contact.creation', 77, 1, '{{}}');"
        ))
        .await
        .unwrap();
    let summary_before: String = client
        .query_one(
            &format!("SELECT row(s.*)::text FROM customer_sync_summaries s WHERE customer_id = '{CUSTOMER}'"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    drop(client);

    database.migrate().await.unwrap();
    let client = database.client().await.unwrap();

    let queue = texts(
        &client,
        "SELECT row(object_type, local_id, status, local_version, attempts, last_error)::text \
         FROM hubspot_sync_queue ORDER BY id",
    )
    .await;
    assert_eq!(
        queue,
        [
            format!("(companies,{CUSTOMER},DONE,1,1,)"),
            format!("(companies,{CUSTOMER},FAILED,2,3,\"HubSpot answered 502\")"),
            format!("(companies,{OTHER},PENDING,1,0,)"),
        ]
    );
    let log = texts(
        &client,
        "SELECT row(object_type, local_id, direction, hubspot_id, fields_synced)::text \
         FROM hubspot_sync_log ORDER BY id",
    )
    .await;
    assert_eq!(
        log,
        [
            format!("(companies,{CUSTOMER},OUTBOUND,901,{{company_name}})"),
            format!("(companies,{CUSTOMER},INBOUND,901,{{domain}})"),
        ]
    );

    let states = field_state::load(
        &**client,
        PORTAL,
        warp_domain::sync::ObjectType::Companies,
        &[CUSTOMER.parse().unwrap()],
    )
    .await
    .unwrap();
    let states = &states[&CUSTOMER.parse().unwrap()];
    assert_eq!(states.len(), 2, "both field rows kept");
    let name = &states[&warp_domain::sync::WarpField::CompanyName];
    assert_eq!(name.warp_value.as_deref(), Some("Acme"));
    assert_eq!(name.hubspot_value.as_deref(), Some("Acme Inc"));
    let contacts = field_state::load(
        &**client,
        PORTAL,
        warp_domain::sync::ObjectType::Contacts,
        &[CUSTOMER.parse().unwrap()],
    )
    .await
    .unwrap();
    assert!(contacts.is_empty(), "company rows are not a contact's");

    let conflict: (String, String, String) = client
        .query_one(
            "SELECT object_type, local_id::text, hubspot_value FROM sync_conflicts",
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .unwrap();
    assert_eq!(
        conflict,
        ("companies".into(), CUSTOMER.into(), "Acme Inc".into())
    );

    let events: Vec<String> = client
        .query(
            "SELECT object_type FROM hubspot_webhook_events ORDER BY event_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(events, vec!["companies".to_owned(), "contacts".to_owned()]);

    // The summary reads the renamed columns: the same state as before, and the triggers keep
    // it (a contact row with the customer's id changes nothing; a company row does).
    assert_eq!(summary(&client, CUSTOMER).await, summary_before);
    client
        .batch_execute(&format!(
            "INSERT INTO hubspot_sync_queue (portal_id, object_type, local_id, operation, status, last_error)
             VALUES ({PORTAL}, 'contacts', '{CUSTOMER}', 'UPDATE', 'FAILED', 'a contact failure')"
        ))
        .await
        .unwrap();
    assert_eq!(summary(&client, CUSTOMER).await, summary_before);
    client
        .batch_execute(&format!(
            "UPDATE hubspot_sync_queue SET status = 'DONE' WHERE object_type = 'companies' AND local_id = '{CUSTOMER}'"
        ))
        .await
        .unwrap();
    assert_ne!(summary(&client, CUSTOMER).await, summary_before);
    let drift: i64 = client
        .query_one("SELECT count(*) FROM customer_sync_summary_drift", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(drift, 0);

    // Links of the new object types: one HubSpot id per record and portal, and back.
    client
        .batch_execute(&format!(
            "INSERT INTO hubspot_links (portal_id, object_type, local_id, hubspot_id)
             VALUES ({PORTAL}, 'contacts', '{OTHER}', '501')"
        ))
        .await
        .unwrap();
    let duplicate = client
        .batch_execute(&format!(
            "INSERT INTO hubspot_links (portal_id, object_type, local_id, hubspot_id)
             VALUES ({PORTAL}, 'contacts', '{CUSTOMER}', '501')"
        ))
        .await;
    assert!(duplicate.is_err(), "a HubSpot id links one record");
}

async fn summary(client: &tokio_postgres::Client, customer: &str) -> String {
    let sql = format!(
        "SELECT row(s.*)::text FROM customer_sync_summaries s WHERE customer_id = '{customer}'"
    );
    client.query_one(&sql, &[]).await.unwrap().get(0)
}

async fn texts(client: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    client
        .query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}
