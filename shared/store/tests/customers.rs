//! The customer repository against a real database: BAN collisions retry, versions guard
//! updates, soft deletes keep the row, every write has its outbox row.

use serde_json::json;
use warp_domain::customer::{Ban, CustomerPatch, NewCustomer, Status};
use warp_store::{Created, CustomerStore, ListQuery, StoreError, Update};

fn acme() -> NewCustomer {
    NewCustomer::from_json(&json!({"company_name": "Acme", "customer_type": "PREPAID"})).unwrap()
}

async fn created(
    store: &CustomerStore,
    bans: &[&str],
) -> Result<warp_domain::customer::Customer, StoreError> {
    let mut bans = bans
        .iter()
        .map(|b| Ban::parse(b).unwrap())
        .collect::<Vec<_>>()
        .into_iter();
    let fallback = Ban::parse("ZZ-999999999").unwrap();
    match store
        .create_with_bans(&acme(), None, move || {
            bans.next().unwrap_or_else(|| fallback.clone())
        })
        .await?
    {
        Created::New(written, _) => Ok(written.value),
        Created::Replayed(_) => panic!("no idempotency key was given"),
    }
}

#[tokio::test]
async fn a_taken_ban_is_retried_with_the_next_one() {
    let database = warp_testkit::fresh_database().await;
    let store = CustomerStore::new(database.clone(), 7);
    let first = created(&store, &["AB-000000001"]).await.unwrap();
    assert_eq!(first.ban.as_str(), "AB-000000001");
    let second = created(&store, &["AB-000000001", "AB-000000001", "AB-000000002"])
        .await
        .unwrap();
    assert_eq!(second.ban.as_str(), "AB-000000002");
    let client = database.client().await.unwrap();
    let outbox: i64 = client
        .query_one(
            "SELECT count(*) FROM hubspot_sync_queue WHERE portal_id = 7",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(outbox, 2);
}

#[tokio::test]
async fn versions_guard_updates_and_deletes_keep_the_row() {
    let database = warp_testkit::fresh_database().await;
    let store = CustomerStore::new(database, 7);
    let customer = created(&store, &["CD-000000001"]).await.unwrap();
    let patch = CustomerPatch::from_json(&json!({"status": "SUSPENDED"})).unwrap();
    let updated = store
        .update(customer.id, Some(1), &Update::Patch(patch.clone()))
        .await
        .unwrap();
    assert_eq!(updated.value.version, 2);
    assert_eq!(updated.value.status, Status::Suspended);
    let stale = store
        .update(customer.id, Some(1), &Update::Patch(patch))
        .await;
    assert!(matches!(
        stale,
        Err(StoreError::VersionMismatch { current: 2 })
    ));
    let deleted = store.soft_delete(customer.id, None).await.unwrap();
    assert!(deleted.outbox_id.is_some());
    assert_eq!(deleted.value.status, Status::Closed);
    let again = store.soft_delete(customer.id, None).await.unwrap();
    assert!(again.outbox_id.is_none());
    assert_eq!(again.value.version, 3);
    let read = store
        .get_by_ban(&Ban::parse("CD-000000001").unwrap())
        .await
        .unwrap();
    assert!(read.deleted_at.is_some());
    let live = store
        .list(&ListQuery {
            limit: 20,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert!(live.items.is_empty());
    let closed = store
        .list(&ListQuery {
            limit: 20,
            status: Some(Status::Closed),
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(closed.items.len(), 1);
    assert!(matches!(
        store.get(uuid::Uuid::now_v7()).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn every_write_records_warps_field_values_and_moves_only_changed_fields_times() {
    use warp_domain::sync::WarpField;
    use warp_store::field_state;
    let database = warp_testkit::fresh_database().await;
    let store = CustomerStore::new(database.clone(), 7);
    let customer = created(&store, &["AB-000000001"]).await.unwrap();
    let client = database.client().await.unwrap();
    let before = field_state::load(
        &**client,
        7,
        warp_domain::sync::ObjectType::Companies,
        &[customer.id],
    )
    .await
    .unwrap();
    let before = &before[&customer.id];
    assert_eq!(
        before.len(),
        WarpField::COMPANY.len(),
        "every mapped field recorded on create"
    );
    assert_eq!(
        before[&WarpField::CompanyName].warp_value.as_deref(),
        Some("Acme")
    );
    assert_eq!(
        before[&WarpField::Ban].warp_value.as_deref(),
        Some("AB-000000001")
    );
    assert!(
        before[&WarpField::CompanyName].hubspot_changed_at.is_none(),
        "HubSpot's side unknown"
    );

    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let patch = CustomerPatch::from_json(&json!({"company_name": "Acme Two"})).unwrap();
    store
        .update(customer.id, None, &Update::Patch(patch))
        .await
        .unwrap();
    let after = field_state::load(
        &**client,
        7,
        warp_domain::sync::ObjectType::Companies,
        &[customer.id],
    )
    .await
    .unwrap();
    let after = &after[&customer.id];
    assert_eq!(
        after[&WarpField::CompanyName].warp_value.as_deref(),
        Some("Acme Two")
    );
    assert!(
        after[&WarpField::CompanyName].warp_changed_at
            > before[&WarpField::CompanyName].warp_changed_at,
        "the changed field's time moved"
    );
    assert_eq!(
        after[&WarpField::CustomerType].warp_changed_at,
        before[&WarpField::CustomerType].warp_changed_at,
        "an unchanged field keeps its change time"
    );
    // Another portal's state is separate.
    assert!(
        field_state::load(
            &**client,
            8,
            warp_domain::sync::ObjectType::Companies,
            &[customer.id]
        )
        .await
        .unwrap()
        .is_empty()
    );
}
