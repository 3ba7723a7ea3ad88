//! The mapping as data against a real database: V6 moves today's rows without loss, a portal's
//! own row replaces the default, and a `MappingSource` re-reads the table when stale and keeps
//! the mapping in use when the rows cannot be used.

use std::time::Duration;

use warp_domain::sync::{FieldMap, ObjectType, SyncDirection, WarpField};
use warp_store::Database;
use warp_store::sync_config::{self, MappingSource};

const PORTAL: i64 = 7001;

async fn execute(database: &Database, sql: &str) {
    database
        .client()
        .await
        .unwrap()
        .batch_execute(sql)
        .await
        .unwrap();
}

#[tokio::test]
async fn v6_keeps_every_stored_mapping_row_and_seeds_the_contact_defaults() {
    let database = warp_testkit::empty_database().await;
    database.migrate_to(5).await.unwrap();
    // Today's schema with a changed default and a portal's own row in it.
    execute(
        &database,
        &format!(
            "UPDATE hubspot_sync_config SET enabled = false WHERE portal_id = 0 AND warp_field = 'contact.phone';
             INSERT INTO hubspot_sync_config (portal_id, warp_field, hubspot_property, direction, conflict_rule)
             VALUES ({PORTAL}, 'domain', 'website_domain', 'WARP_TO_HUBSPOT', 'WARP_WINS');"
        ),
    )
    .await;
    database.migrate().await.unwrap();

    let client = database.client().await.unwrap();
    let companies = sync_config::effective_rows(&**client, PORTAL, ObjectType::Companies)
        .await
        .unwrap();
    assert_eq!(companies.len(), WarpField::COMPANY.len());
    let domain = companies
        .iter()
        .find(|m| m.row.warp_field == "domain")
        .unwrap();
    assert!(domain.portal_specific);
    assert_eq!(domain.row.hubspot_property, "website_domain");
    assert_eq!(domain.row.direction, "WARP_TO_HUBSPOT");
    assert!(!domain.row.never_overwrite_with_empty);
    let phone = companies
        .iter()
        .find(|m| m.row.warp_field == "contact.phone")
        .unwrap();
    assert!(!phone.row.enabled, "the changed default row kept its value");
    // Another portal sees the defaults only.
    let other = sync_config::effective_rows(&**client, 1, ObjectType::Companies)
        .await
        .unwrap();
    assert!(other.iter().all(|m| !m.portal_specific));
    assert_eq!(
        other
            .iter()
            .find(|m| m.row.warp_field == "domain")
            .unwrap()
            .row
            .hubspot_property,
        "domain"
    );

    let contacts = sync_config::effective_rows(&**client, PORTAL, ObjectType::Contacts)
        .await
        .unwrap();
    let by_field = |field: &str| {
        contacts
            .iter()
            .find(|m| m.row.warp_field == field)
            .unwrap_or_else(|| panic!("contact field {field}"))
            .row
            .clone()
    };
    assert_eq!(contacts.len(), 11);
    assert_eq!(by_field("user_id").hubspot_property, "warp_user_id");
    let email = by_field("email");
    assert_eq!(
        (email.direction.as_str(), email.conflict_rule.as_str()),
        ("WARP_TO_HUBSPOT", "WARP_WINS"),
        "a login email is never changed from HubSpot"
    );
    assert!(by_field("first_name").never_overwrite_with_empty);
    // The key now includes the object type: a contact row may share a field name.
    execute(
        &database,
        "INSERT INTO hubspot_sync_config (portal_id, object_type, warp_field, hubspot_property, direction, conflict_rule)
         VALUES (0, 'companies', 'email', 'x_email', 'BOTH', 'LATEST_WINS')",
    )
    .await;
}

#[tokio::test]
async fn a_source_rereads_when_stale_and_keeps_its_mapping_when_the_rows_are_broken() {
    let database = warp_testkit::fresh_database().await;
    let patient = MappingSource::load(database.clone(), PORTAL, Duration::from_secs(3600))
        .await
        .unwrap();
    let eager = MappingSource::read_every_time(database.clone(), PORTAL)
        .await
        .unwrap();
    assert_eq!(*eager.fresh().await, FieldMap::default_mapping());

    let client = database.client().await.unwrap();
    let mut row = FieldMap::default_mapping()
        .get(WarpField::Domain)
        .unwrap()
        .to_row();
    row.direction = SyncDirection::WarpToHubSpot.as_str().to_owned();
    row.conflict_rule = "WARP_WINS".to_owned();
    let saved =
        sync_config::save_portal_row(&**client, PORTAL, ObjectType::Companies, &row, "ops-1")
            .await
            .unwrap();
    assert_eq!(saved.updated_by.as_deref(), Some("ops-1"));

    let changed = eager.fresh().await;
    assert_eq!(
        changed.get(WarpField::Domain).unwrap().direction,
        SyncDirection::WarpToHubSpot
    );
    // Not stale yet: the old mapping stays until its age is up.
    assert_eq!(*patient.fresh().await, FieldMap::default_mapping());

    // A row broken by hand (the key moved to another property) is not taken up.
    execute(
        &database,
        &format!(
            "INSERT INTO hubspot_sync_config (portal_id, object_type, warp_field, hubspot_property, direction, conflict_rule)
             VALUES ({PORTAL}, 'companies', 'ban', 'other_ban', 'WARP_TO_HUBSPOT', 'WARP_WINS')"
        ),
    )
    .await;
    assert_eq!(eager.fresh().await, changed);
    assert!(
        MappingSource::load(database.clone(), PORTAL, Duration::ZERO)
            .await
            .is_err(),
        "a process does not start on a mapping it cannot use"
    );
}
