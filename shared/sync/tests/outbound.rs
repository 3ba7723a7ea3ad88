//! The outbound worker through the real parts: Postgres (a fresh database per test), the
//! HubSpot sandbox over HTTP, and the real HubSpot client.

mod outbound_support;

use outbound_support::*;
use serde_json::json;
use std::time::Duration;
use warp_domain::customer::CustomerPatch;
use warp_store::Update;
use warp_store::outbox;

#[tokio::test]
async fn created_customers_are_pushed_once_and_redelivery_changes_nothing() {
    let h = harness().await;
    let mut created = Vec::new();
    for name in ["Acme Telecom", "Zeta Mobile", "Orbit Data"] {
        created.push(h.create_named(name, "POSTPAID").await);
    }
    let ids: Vec<i64> = created.iter().map(|c| c.2).collect();

    let report = h.worker.process(&ids).await;
    assert_eq!(report.failed, vec![], "nothing fails");
    assert_eq!(report.succeeded, ids);
    assert_eq!(report.pushed_customers, 3);
    assert_eq!(
        report.hubspot_calls, 1,
        "one batch call for three customers"
    );

    let companies = h.companies_by_ban().await;
    assert_eq!(companies.len(), 3);
    for (customer_id, ban, outbox_id) in &created {
        let found = &companies[ban];
        assert_eq!(found.len(), 1, "exactly one company for {ban}");
        let (company_id, properties) = &found[0];
        assert_eq!(properties["warp_customer_type"], "POSTPAID");
        assert_eq!(properties["warp_status"], "ACTIVE");
        assert_eq!(properties["warp_credit_limit"], "1500.00");
        assert_eq!(properties["warp_services_voice"], "true");
        assert_eq!(properties["warp_billing_email"], "billing@example.com");
        assert_eq!(
            h.hubspot_company_id(*customer_id).await.as_deref(),
            Some(company_id.as_str())
        );
        assert_eq!(h.row(*outbox_id).await.0, "DONE");
        let known: Option<String> = h
            .database
            .one(&format!(
                "SELECT hubspot_value FROM hubspot_field_state WHERE local_id = '{customer_id}' AND field = 'customer_type'"
            ))
            .await;
        assert_eq!(
            known.as_deref(),
            Some("POSTPAID"),
            "HubSpot's side recorded"
        );
    }
    // The version is untouched by linking the company: it was not a customer write.
    let versions: i64 = h.database.one("SELECT max(version) FROM customers").await;
    assert_eq!(versions, 1);
    let rows: i64 = h
        .database
        .one("SELECT count(*) FROM hubspot_sync_queue")
        .await;
    assert_eq!(rows, 3, "linking the company enqueued nothing");

    // The log names fields, never values.
    let logged: i64 = h
        .database
        .one("SELECT count(*) FROM hubspot_sync_log WHERE status = 'SUCCESS' AND 'company_name' = ANY(fields_synced) AND hubspot_id IS NOT NULL")
        .await;
    assert_eq!(logged, 3);
    let leaked: i64 = h
        .database
        .one("SELECT count(*) FROM hubspot_sync_log l WHERE l::text ILIKE '%Acme%' OR l::text ILIKE '%billing@%'")
        .await;
    assert_eq!(leaked, 0, "no PII in the sync log");

    // Duplicate delivery: the same ids again do nothing, and HubSpot hears nothing.
    let calls_before = h.upsert_calls();
    let stats_before = h.sandbox.stats().requests_by_token.get("app").copied();
    let again = h.worker.process(&[ids.clone(), ids.clone()].concat()).await;
    assert_eq!(again.succeeded, ids, "done rows count as success");
    assert!(again.failed.is_empty());
    assert_eq!(again.hubspot_calls, 0);
    assert_eq!(h.upsert_calls(), calls_before);
    assert_eq!(
        h.sandbox.stats().requests_by_token.get("app").copied(),
        stats_before
    );
    assert_eq!(h.companies_by_ban().await.len(), 3);
}

#[tokio::test]
async fn a_row_leased_by_another_worker_is_skipped_without_a_call() {
    let h = harness().await;
    let (_, _, outbox_id) = h.create_named("Leased Co", "PREPAID").await;
    let held = outbox::claim_by_ids(
        &h.database,
        PORTAL,
        &[outbox_id],
        Duration::from_secs(60),
        10,
    )
    .await
    .unwrap();
    assert_eq!(held.len(), 1);
    let report = h.worker.process(&[outbox_id]).await;
    assert_eq!(report.succeeded, vec![outbox_id], "a duplicate delivery");
    assert_eq!(report.hubspot_calls, 0);
    assert_eq!(
        h.row(outbox_id).await.0,
        "IN_FLIGHT",
        "still the other worker's"
    );
    assert_eq!(h.upsert_calls(), 0);

    // A second change of the same customer waits while the first push is in flight.
    let (customer_id, _, _) = (held[0].local_id, (), ());
    let patch = CustomerPatch::from_json(&json!({"company_name": "Leased Co 2"})).unwrap();
    let newer = h
        .customers
        .update(customer_id, None, &Update::Patch(patch))
        .await
        .unwrap()
        .outbox_id
        .unwrap();
    let report = h.worker.process(&[newer]).await;
    assert_eq!(report.failed.len(), 1, "retried later: {report:?}");
    assert_eq!(report.failed[0].0, newer);
    assert_eq!(h.row(newer).await.0, "PENDING");
}

#[tokio::test]
async fn an_update_sends_only_the_changed_field_and_an_unchanged_save_sends_nothing() {
    let h = harness().await;
    let (customer_id, ban, first) = h.create_named("Delta Networks", "PREPAID").await;
    h.worker.process(&[first]).await;
    let company_id = h.hubspot_company_id(customer_id).await.expect("linked");

    let patch = CustomerPatch::from_json(&json!({"company_name": "Delta Networks AG"})).unwrap();
    let second = h
        .customers
        .update(customer_id, None, &Update::Patch(patch))
        .await
        .unwrap()
        .outbox_id
        .unwrap();
    let report = h.worker.process(&[second]).await;
    assert_eq!(report.succeeded, vec![second]);
    assert_eq!(report.hubspot_calls, 1);
    let fields: Vec<String> = h
        .database
        .one(&format!(
            "SELECT fields_synced FROM hubspot_sync_log WHERE queue_id = {second}"
        ))
        .await;
    assert_eq!(
        fields,
        vec!["company_name".to_owned()],
        "only the change is sent"
    );
    assert_eq!(h.history_len(&company_id, "name").await, 2);
    assert_eq!(
        h.history_len(&company_id, "warp_status").await,
        1,
        "unchanged properties are not written again"
    );
    let companies = h.companies_by_ban().await;
    assert_eq!(companies[&ban][0].1["name"], "Delta Networks AG");

    // A save that changes no mapped value: a new outbox row, but no HubSpot call.
    let calls_before = h.upsert_calls();
    let patch = CustomerPatch::from_json(&json!({"company_name": "Delta Networks AG"})).unwrap();
    let third = h
        .customers
        .update(customer_id, None, &Update::Patch(patch))
        .await
        .unwrap()
        .outbox_id
        .unwrap();
    let report = h.worker.process(&[third]).await;
    assert_eq!(report.succeeded, vec![third]);
    assert_eq!(report.hubspot_calls, 0);
    assert_eq!(report.pushed_customers, 0);
    assert_eq!(h.upsert_calls(), calls_before, "HubSpot heard nothing");
    assert_eq!(h.row(third).await.0, "DONE");
    let skipped: String = h
        .database
        .one(&format!(
            "SELECT status FROM hubspot_sync_log WHERE queue_id = {third}"
        ))
        .await;
    assert_eq!(skipped, "SKIPPED");
}

#[tokio::test]
async fn several_rows_of_one_customer_make_one_push_and_a_resync_sends_everything() {
    let h = harness().await;
    let (customer_id, ban, first) = h.create_named("Coalesce Ltd", "PREPAID").await;
    let mut ids = vec![first];
    for limit in ["2000", "2500", "3000"] {
        let patch = CustomerPatch::from_json(&json!({"credit_limit": limit})).unwrap();
        ids.push(
            h.customers
                .update(customer_id, None, &Update::Patch(patch))
                .await
                .unwrap()
                .outbox_id
                .unwrap(),
        );
    }
    let report = h.worker.process(&ids).await;
    assert_eq!(report.succeeded, ids);
    assert_eq!(report.pushed_customers, 1, "one push for four rows");
    assert_eq!(report.hubspot_calls, 1);
    let companies = h.companies_by_ban().await;
    assert_eq!(companies[&ban].len(), 1);
    assert_eq!(companies[&ban][0].1["warp_credit_limit"], "3000.00");

    // RESYNC pushes every mapped field even though HubSpot is known to hold them.
    let resync = outbox::enqueue_resync(
        &h.database,
        None,
        warp_domain::sync::ObjectType::Companies,
        customer_id,
    )
    .await
    .unwrap();
    let report = h.worker.process(&[resync]).await;
    assert_eq!(report.hubspot_calls, 1);
    let fields: Vec<String> = h
        .database
        .one(&format!(
            "SELECT fields_synced FROM hubspot_sync_log WHERE queue_id = {resync}"
        ))
        .await;
    assert!(fields.len() >= 10, "a full push: {fields:?}");
    let unknown = outbox::enqueue_resync(
        &h.database,
        None,
        warp_domain::sync::ObjectType::Companies,
        uuid::Uuid::now_v7(),
    )
    .await;
    assert!(matches!(unknown, Err(warp_store::StoreError::NotFound)));
}

#[tokio::test]
async fn a_crash_between_hubspots_success_and_the_database_update_makes_no_second_company() {
    let h = harness().await;
    let (customer_id, ban, outbox_id) = h.create_named("Crashy Corp", "POSTPAID").await;
    h.worker.process(&[outbox_id]).await;
    let company_id = h.hubspot_company_id(customer_id).await.expect("linked");

    // As if the worker died after HubSpot answered: none of the bookkeeping happened.
    h.database.execute(&format!(
        "UPDATE customers SET external_ids = '{{}}' WHERE id = '{customer_id}';
         UPDATE hubspot_field_state SET hubspot_value = NULL, hubspot_changed_at = NULL WHERE local_id = '{customer_id}';
         DELETE FROM hubspot_sync_log;
         UPDATE hubspot_sync_queue SET status = 'PENDING', lease_until = NULL WHERE id = {outbox_id};"
    ))
    .await;
    let report = h.worker.process(&[outbox_id]).await;
    assert_eq!(report.succeeded, vec![outbox_id]);
    assert_eq!(report.hubspot_calls, 1, "pushed again");
    let companies = h.companies_by_ban().await;
    assert_eq!(companies[&ban].len(), 1, "still exactly one company");
    assert_eq!(companies.len(), 1);
    assert_eq!(
        h.hubspot_company_id(customer_id).await.as_deref(),
        Some(company_id.as_str()),
        "linked to the same company"
    );
    assert_eq!(h.row(outbox_id).await.0, "DONE");
}

#[tokio::test]
async fn a_storm_of_429s_and_5xx_still_ends_with_every_row_done_and_one_company_each() {
    let h = harness_with(hubspot_sandbox::SandboxConfig::default(), 100, 1_000).await;
    // Enough customers for at least ten batch calls: with 40% of calls clean, the chance that
    // the storm misses every one of them (and this test proves nothing) is about 1 in 10,000.
    const CUSTOMERS: usize = 1_000;
    let harness = &h;
    let created = futures::future::join_all(
        (0..CUSTOMERS)
            .map(|n| async move { harness.create_named(&format!("Storm {n}"), "PREPAID").await }),
    )
    .await;
    h.sandbox.set_faults(hubspot_sandbox::Faults {
        rate_429: 0.5,
        rate_5xx: 0.2,
        ..Default::default()
    });
    let mut passes = 0;
    loop {
        passes += 1;
        assert!(passes <= 60, "the storm never cleared");
        let report = h.worker.process_due(1_000).await.unwrap();
        let open: i64 = h
            .database
            .one("SELECT count(*) FROM hubspot_sync_queue WHERE status <> 'DONE'")
            .await;
        if open == 0 {
            break;
        }
        if report.rows() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    h.sandbox.set_faults(hubspot_sandbox::Faults::default());
    let stats = h.sandbox.stats();
    assert!(
        stats.rate_limited_injected + stats.server_errors_injected > 0,
        "faults were injected"
    );
    let companies = h.companies_by_ban().await;
    assert_eq!(companies.len(), CUSTOMERS);
    for (customer_id, ban, _) in &created {
        assert_eq!(companies[ban].len(), 1, "one company for {ban}");
        assert_eq!(
            h.hubspot_company_id(*customer_id).await.as_deref(),
            Some(companies[ban][0].0.as_str())
        );
    }
}

#[tokio::test]
async fn one_bad_record_among_a_hundred_fails_alone() {
    let h = harness().await;
    // HubSpot no longer accepts RESELLER for warp_customer_type.
    h.allow_reseller(false).await;

    let mut ids = Vec::new();
    for n in 0..99 {
        ids.push(h.create_named(&format!("Good {n}"), "PREPAID").await.2);
    }
    let (bad_customer, bad_ban, bad_row) = h.create_named("Bad Reseller", "RESELLER").await;
    ids.insert(42, bad_row);

    let report = h.worker.process(&ids).await;
    assert_eq!(report.hubspot_calls, 1, "one call of 100");
    assert_eq!(report.pushed_customers, 99);
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    assert_eq!(report.failed[0].0, bad_row);
    assert!(report.failed[0].1.contains("warp_customer_type"));
    assert_eq!(report.succeeded.len(), 99);
    assert!(!report.succeeded.contains(&bad_row));

    let (status, attempts, last_error) = h.row(bad_row).await;
    assert_eq!(status, "FAILED");
    // HubSpot refused the record itself (VALIDATION_ERROR): sending it again cannot help, so
    // its attempts are used up at once and it waits for an operator.
    assert_eq!(attempts, 10);
    let last_error = last_error.expect("an error is kept");
    assert!(last_error.contains("warp_customer_type"), "{last_error}");
    assert!(!last_error.contains("RESELLER"), "no values: {last_error}");
    let done: i64 = h
        .database
        .one("SELECT count(*) FROM hubspot_sync_queue WHERE status = 'DONE'")
        .await;
    assert_eq!(done, 99);
    let companies = h.companies_by_ban().await;
    assert_eq!(companies.len(), 99);
    assert!(!companies.contains_key(&bad_ban));
    assert_eq!(h.hubspot_company_id(bad_customer).await, None);
    let failed_logs: i64 = h
        .database
        .one("SELECT count(*) FROM hubspot_sync_log WHERE status = 'FAILED'")
        .await;
    assert_eq!(failed_logs, 1);

    // Not retried by itself; the queue is told to forget it.
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(
        h.worker.process_due(100).await.unwrap().rows(),
        0,
        "not due any more"
    );
    let report = h.worker.process(&[bad_row]).await;
    assert_eq!(
        report.succeeded,
        vec![bad_row],
        "out of attempts: nothing for a queue to retry"
    );

    // The operator fixes HubSpot and retries.
    let requeued = warp_store::outbox_failures::requeue(
        &h.database,
        &warp_store::outbox_failures::FailureSelection::Matching(Default::default()),
    )
    .await
    .unwrap();
    assert_eq!(requeued, vec![bad_row]);
    h.allow_reseller(true).await;
    let report = h.worker.process(&[bad_row]).await;
    assert_eq!(report.succeeded, vec![bad_row]);
    assert_eq!(h.companies_by_ban().await.len(), 100);
}

#[tokio::test]
async fn a_deleted_customer_is_pushed_as_closed_not_archived() {
    let h = harness().await;
    let (customer_id, ban, first) = h.create_named("Goodbye GmbH", "PREPAID").await;
    h.worker.process(&[first]).await;
    let deleted = h
        .customers
        .soft_delete(customer_id, None)
        .await
        .unwrap()
        .outbox_id
        .unwrap();
    let report = h.worker.process(&[deleted]).await;
    assert_eq!(report.succeeded, vec![deleted]);
    let companies = h.companies_by_ban().await;
    assert_eq!(companies[&ban].len(), 1, "still there, not archived");
    assert_eq!(companies[&ban][0].1["warp_status"], "CLOSED");
}

#[tokio::test]
async fn the_local_outbox_loop_pushes_new_rows_and_stops_on_shutdown() {
    let h = harness().await;
    let database = h.database.clone();
    let customers = h.customers.clone();
    let worker = std::sync::Arc::new(h.worker);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let looping = tokio::spawn(warp_sync::outbound::run_outbox_loop(
        std::sync::Arc::clone(&worker),
        Duration::from_millis(20),
        async move {
            let _ = stopped.await;
        },
    ));
    let new = warp_domain::customer::NewCustomer::from_json(
        &json!({"company_name": "Looped Inc", "customer_type": "PREPAID"}),
    )
    .unwrap();
    let warp_store::Created::New(written, _) = customers.create(&new, None).await.unwrap() else {
        panic!("created")
    };
    let outbox_id = written.outbox_id.unwrap();
    let mut status = String::new();
    for _ in 0..100 {
        let client = database.client().await.unwrap();
        status = client
            .query_one(
                "SELECT status FROM hubspot_sync_queue WHERE id = $1",
                &[&outbox_id],
            )
            .await
            .unwrap()
            .get(0);
        if status == "DONE" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, "DONE", "the loop pushed the new row");
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), looping)
        .await
        .expect("the loop stops on shutdown")
        .unwrap();
}

#[tokio::test]
async fn two_workers_given_the_same_rows_push_each_customer_once() {
    let h = harness().await;
    let other = warp_sync::outbound::OutboundWorker::new(
        h.database.clone(),
        hubspot_client(&h.sandbox, 100, 10_000),
        PORTAL,
        warp_store::sync_config::MappingSource::read_every_time(h.database.clone(), PORTAL)
            .await
            .unwrap(),
    );
    let mut ids = Vec::new();
    for n in 0..60 {
        ids.push(h.create_named(&format!("Twice {n}"), "POSTPAID").await.2);
    }
    let (first, second) = tokio::join!(h.worker.process(&ids), other.process(&ids));
    assert_eq!(
        first.pushed_customers + second.pushed_customers,
        60,
        "every customer pushed exactly once: {} + {}",
        first.pushed_customers,
        second.pushed_customers
    );
    assert!(first.failed.is_empty() && second.failed.is_empty());
    let companies = h.companies_by_ban().await;
    assert_eq!(companies.len(), 60);
    assert!(companies.values().all(|found| found.len() == 1));
    let done: i64 = h
        .database
        .one("SELECT count(*) FROM hubspot_sync_queue WHERE status = 'DONE'")
        .await;
    assert_eq!(done, 60);
}

#[tokio::test]
async fn a_drain_with_overlapping_passes_pushes_every_row_once_and_stops_when_none_is_left() {
    let h = harness().await;
    let mut created = Vec::new();
    for n in 0..25 {
        created.push(h.create_named(&format!("Drain Co {n:02}"), "PREPAID").await);
    }
    // Passes of 10: three claims (10, 10, 5), up to two passes going at once.
    let report = h.worker.drain_due(10).await.unwrap();
    let mut expected: Vec<i64> = created.iter().map(|c| c.2).collect();
    expected.sort_unstable();
    assert_eq!(report.succeeded, expected, "{report:?}");
    assert!(report.failed.is_empty());
    assert_eq!(report.pushed_customers, 25);
    assert_eq!(report.hubspot_calls, 3, "one batch call per pass");
    let companies = h.companies_by_ban().await;
    assert_eq!(companies.len(), 25);
    assert!(companies.values().all(|found| found.len() == 1));
    let open: i64 = h
        .database
        .one("SELECT count(*) FROM hubspot_sync_queue WHERE status <> 'DONE'")
        .await;
    assert_eq!(open, 0);
    // Nothing left: a drain claims nothing and calls nobody.
    let idle = h.worker.drain_due(10).await.unwrap();
    assert_eq!((idle.rows(), idle.hubspot_calls), (0, 0));
}
