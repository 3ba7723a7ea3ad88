//! Guarantee 6 through real parts (the sandbox over HTTP, Postgres, the outbound worker and the
//! inbound processor): drift of every kind, made while the sandbox drops every webhook, is found
//! by a dry run that changes nothing, repaired by one run, and a second run finds zero.

mod common;

use common::harness;
use hubspot_sandbox::Faults;
use serde_json::json;
use std::time::Duration;
use warp_domain::customer::CustomerPatch;
use warp_domain::sync::ObjectType;
use warp_reconcile::RepairKind;
use warp_store::Update;
use warp_testkit::Sql;

/// LATEST_WINS calls changes within one second of each other a conflict: the scenario's
/// steps are spaced further apart so each side's change is clearly the later one.
const APART: Duration = Duration::from_millis(1_100);

#[tokio::test]
async fn every_kind_of_drift_is_found_by_a_dry_run_repaired_by_one_run_and_gone_after() {
    let h = harness().await;
    let (name_changed, _) = h.create("Name Telecom").await;
    let (limit_changed, _) = h.create("Limit Telecom").await;
    let (status_changed, _) = h.create("Status Telecom").await;
    let (domain_lost, _) = h.create("Domain Telecom").await;
    let (merged_away, merged_ban) = h.create("Merged Telecom").await;
    let (healthy, _) = h.create("Healthy Telecom").await;
    h.push_all().await;
    for customer in [
        name_changed,
        limit_changed,
        status_changed,
        domain_lost,
        merged_away,
        healthy,
    ] {
        assert!(h.company_of(customer).await.is_some(), "pushed and linked");
    }
    h.sandbox.set_faults(Faults {
        drop_webhooks: 1.0,
        ..Faults::default()
    });
    tokio::time::sleep(APART).await;

    // WARP-side drift: pushes that never reached HubSpot.
    let (missing, missing_ban) = h.create("Missing Telecom").await;
    let (unlinked, unlinked_ban) = h.create("Unlinked Telecom").await;
    let patch = CustomerPatch::from_json(&json!({"domain": "new-domain.example"})).unwrap();
    h.customers
        .update(domain_lost, None, &Update::Patch(patch))
        .await
        .unwrap();
    h.lose_pending_pushes().await;
    tokio::time::sleep(APART).await;

    // HubSpot-side drift, made in the UI while every webhook is dropped.
    h.ui.update(
        "companies",
        &h.linked(name_changed).await,
        json!({"name": "Name Telecom Inc"}),
    )
    .await;
    h.ui.update(
        "companies",
        &h.linked(limit_changed).await,
        json!({"warp_credit_limit": "9000"}),
    )
    .await;
    h.ui.update(
        "companies",
        &h.linked(status_changed).await,
        json!({"warp_status": "CLOSED"}),
    )
    .await;
    let survivor =
        h.ui.create("companies", json!({"name": "Merged Holdings"}))
            .await;
    h.ui.merge("companies", &survivor, &h.linked(merged_away).await)
        .await;
    let found_by_ban =
        h.ui.create(
            "companies",
            json!({"name": "Unlinked Telecom", "warp_ban": unlinked_ban}),
        )
        .await;
    assert_eq!(
        h.database
            .scalar("SELECT count(*) FROM hubspot_webhook_events")
            .await,
        0,
        "no webhook reached WARP"
    );

    // A dry run finds every kind and changes nothing.
    let before = h.fingerprint().await;
    let dry = h.reconciler.run(None, true, None).await.unwrap();
    assert_eq!(h.fingerprint().await, before, "a dry run changes nothing");
    assert_eq!(dry.errors, 0, "{:?}", dry.error_reasons);
    assert_eq!(dry.drift_fixed, 0);
    let companies = dry.of(ObjectType::Companies);
    let kinds: Vec<(&str, u64)> = companies
        .by_kind
        .iter()
        .map(|(k, t)| (*k, t.found))
        .collect();
    assert!(kinds.contains(&("MISSING_IN_HUBSPOT", 1)), "{kinds:?}");
    assert!(kinds.contains(&("LINKED_COMPANY_GONE", 1)), "{kinds:?}");
    assert!(
        kinds.contains(&("UNLINKED_COMPANY_WITH_OUR_BAN", 1)),
        "{kinds:?}"
    );
    for field in ["company_name", "credit_limit", "status", "domain"] {
        assert!(
            companies.by_field.contains_key(field),
            "{field}: {:?}",
            companies.by_field
        );
    }
    assert_eq!(dry.customers_checked, 8);
    let listed = |id| dry.records.iter().find(|c| c.local_id == id);
    assert!(listed(healthy).is_none());
    assert_eq!(listed(name_changed).unwrap().repairs, [RepairKind::Apply]);
    assert_eq!(listed(limit_changed).unwrap().repairs, [RepairKind::Apply]);
    assert_eq!(listed(status_changed).unwrap().repairs, [RepairKind::Push]);
    assert_eq!(listed(domain_lost).unwrap().repairs, [RepairKind::Push]);
    assert_eq!(listed(missing).unwrap().repairs, [RepairKind::Create]);
    assert!(
        listed(merged_away)
            .unwrap()
            .repairs
            .contains(&RepairKind::Link)
    );
    assert!(
        listed(unlinked)
            .unwrap()
            .repairs
            .contains(&RepairKind::Link)
    );
    let report_text = dry.to_json().to_string();
    for value in [
        "Name Telecom Inc",
        "9000",
        "new-domain.example",
        "Merged Holdings",
    ] {
        assert!(
            !report_text.contains(value),
            "the report holds no values: {value}"
        );
    }

    // One run repairs; the worker delivers the queued pushes as it would in production.
    let repaired = h.reconciler.run(None, false, None).await.unwrap();
    assert_eq!(repaired.errors, 0, "{:?}", repaired.error_reasons);
    assert_eq!(repaired.drift_found, dry.drift_found);
    assert_eq!(
        repaired.drift_fixed, repaired.drift_found,
        "{:?}",
        repaired.records
    );
    h.push_all().await;

    assert_eq!(
        h.database
            .text(&format!(
                "SELECT company_name FROM customers WHERE id = '{name_changed}'"
            ))
            .await
            .as_deref(),
        Some("Name Telecom Inc"),
        "HubSpot's later name applied (LATEST_WINS)"
    );
    assert_eq!(
        h.database
            .text(&format!(
                "SELECT credit_limit::text FROM customers WHERE id = '{limit_changed}'"
            ))
            .await
            .as_deref(),
        Some("9000.00"),
        "HUBSPOT_WINS applied"
    );
    assert_eq!(
        h.company(&h.linked(status_changed).await).await["warp_status"],
        "ACTIVE",
        "WARP_WINS pushed back"
    );
    assert_eq!(
        h.company(&h.linked(domain_lost).await).await["domain"],
        "new-domain.example",
        "WARP's later domain pushed (LATEST_WINS)"
    );
    assert_eq!(
        h.linked(merged_away).await,
        survivor,
        "relinked to the merge survivor"
    );
    assert_eq!(h.company(&survivor).await["warp_ban"], merged_ban);
    assert_eq!(
        h.linked(unlinked).await,
        found_by_ban,
        "linked to the company with its BAN"
    );
    let created = h.companies_with_ban(&missing_ban).await;
    assert_eq!(created.len(), 1, "the missing company was created once");
    assert_eq!(h.linked(missing).await, created[0]["id"].as_str().unwrap());
    let events: i64 = h
        .database
        .scalar(
            "SELECT count(*) FROM hubspot_webhook_events WHERE change_source = 'RECONCILIATION'",
        )
        .await;
    assert!(
        events >= 2,
        "HubSpot values went through the inbound rules as events"
    );

    // A second run finds zero.
    let again = h.reconciler.run(None, false, None).await.unwrap();
    assert_eq!(again.drift_found, 0, "{:?}", again.records);
    assert_eq!(again.errors, 0, "{:?}", again.error_reasons);
}

#[tokio::test]
async fn a_change_made_on_both_sides_at_once_becomes_one_conflict_however_often_it_is_found() {
    let h = harness().await;
    let (customer, _) = h.create("Both Sides").await;
    h.push_all().await;
    h.sandbox.set_faults(Faults {
        drop_webhooks: 1.0,
        ..Faults::default()
    });
    tokio::time::sleep(APART).await;
    let company = h.company_of(customer).await.unwrap();
    let patch = CustomerPatch::from_json(&json!({"company_name": "Both Sides WARP"})).unwrap();
    h.customers
        .update(customer, None, &Update::Patch(patch))
        .await
        .unwrap();
    h.lose_pending_pushes().await;
    h.ui.update("companies", &company, json!({"name": "Both Sides HubSpot"}))
        .await;

    for _ in 0..2 {
        let report = h.reconciler.run(None, false, None).await.unwrap();
        assert_eq!(report.drift_found, 1);
        assert_eq!(report.drift_fixed, 0, "a conflict waits for a person");
        assert_eq!(report.records[0].repairs, [RepairKind::Conflict]);
        h.push_all().await;
    }
    assert_eq!(
        h.database
            .scalar("SELECT count(*) FROM sync_conflicts WHERE status = 'OPEN'")
            .await,
        1,
        "the same HubSpot change found twice is one conflict"
    );
    assert_eq!(
        h.company(&company).await["name"],
        "Both Sides HubSpot",
        "nothing pushed over it"
    );
}

#[tokio::test]
async fn a_company_deleted_in_hubspot_is_reported_for_a_person_until_restored_then_relinked() {
    let h = harness().await;
    let (customer, _) = h.create("Deleted Telecom").await;
    h.push_all().await;
    let company = h.linked(customer).await;
    h.sandbox.set_faults(Faults {
        drop_webhooks: 1.0,
        ..Faults::default()
    });
    h.ui.delete("companies", &company).await;

    // The archived company still holds the BAN: nothing can be created with it, so nothing is
    // queued that could only fail; the customer is unlinked and the drift stays unfixed.
    let report = h.reconciler.run(None, false, None).await.unwrap();
    assert_eq!(
        report
            .kind(ObjectType::Companies, "LINKED_COMPANY_GONE")
            .found,
        1
    );
    assert_eq!(report.drift_fixed, 0);
    assert_eq!(report.records[0].repairs, [RepairKind::RestoreInHubSpot]);
    assert_eq!(h.company_of(customer).await, None, "unlinked");
    assert_eq!(
        h.database
            .scalar("SELECT count(*) FROM hubspot_sync_queue WHERE status = 'PENDING'")
            .await,
        0,
        "no push that HubSpot must refuse"
    );
    let again = h.reconciler.run(None, false, None).await.unwrap();
    assert_eq!(
        again
            .kind(ObjectType::Companies, "MISSING_IN_HUBSPOT")
            .found,
        1
    );
    assert_eq!(again.records[0].repairs, [RepairKind::RestoreInHubSpot]);

    // A person restores it (its webhook is dropped too): the next run relinks, then zero.
    h.ui.restore("companies", &company).await;
    let relinked = h.reconciler.run(None, false, None).await.unwrap();
    assert_eq!(
        relinked
            .kind(ObjectType::Companies, "UNLINKED_COMPANY_WITH_OUR_BAN")
            .fixed,
        1
    );
    assert_eq!(h.linked(customer).await, company);
    h.push_all().await;
    let settled = h.reconciler.run(None, false, None).await.unwrap();
    assert_eq!(settled.drift_found, 0, "{:?}", settled.records);
}

#[tokio::test]
async fn our_own_older_write_in_hubspot_is_pushed_over_not_applied() {
    let h = harness().await;
    let (customer, _) = h.create("Crossed Push").await;
    h.push_all().await;
    let company = h.linked(customer).await;
    // A push of the old credit limit crossed a HubSpot edit that WARP applied meanwhile: WARP
    // holds the edit, HubSpot (and the value it is known to hold) our older write. The rules
    // call HubSpot's value an echo, so applying it changes nothing; WARP's must go back.
    h.database.execute(&format!(
        "UPDATE customers SET credit_limit = 3100.00, version = version + 1 WHERE id = '{customer}'; \
         UPDATE hubspot_field_state SET warp_value = '3100.00' \
          WHERE local_id = '{customer}' AND field = 'credit_limit'"
    ))
    .await;

    let report = h.reconciler.run(None, false, None).await.unwrap();
    assert_eq!(report.drift_found, 1, "{report:?}");
    assert_eq!(report.drift_fixed, 1, "{report:?}");
    h.push_all().await;
    assert_eq!(h.company(&company).await["warp_credit_limit"], "3100.00");
    assert_eq!(
        h.database
            .text(&format!(
                "SELECT credit_limit::text FROM customers WHERE id = '{customer}'"
            ))
            .await
            .as_deref(),
        Some("3100.00"),
        "WARP's value stands"
    );
    let again = h.reconciler.run(None, true, None).await.unwrap();
    assert_eq!(again.drift_found, 0, "{again:?}");
}

#[tokio::test]
async fn an_incremental_run_compares_only_the_records_changed_on_either_side_and_repairs_them() {
    let h = harness().await;
    let mut customers = Vec::new();
    for n in 0..12 {
        customers.push(h.create(&format!("Incremental {n}")).await.0);
    }
    h.push_all().await;
    h.sandbox.set_faults(Faults {
        drop_webhooks: 1.0,
        ..Faults::default()
    });
    // The schedule's first run is full: no full run has succeeded yet.
    let first = warp_reconcile::jobs::reconcile_scheduled(&h.reconciler, false, false, "test")
        .await
        .unwrap()
        .expect("nothing else runs");
    let first = first.report.expect("it got to the end");
    assert_eq!(first.changed_since, None, "a full run");
    assert_eq!(first.companies_checked, 12);

    tokio::time::sleep(APART).await;
    let since = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Lost on the way in: a rename in HubSpot whose webhook was dropped.
    let renamed = h.linked(customers[0]).await;
    h.ui.update("companies", &renamed, json!({"name": "Renamed In HubSpot"}))
        .await;
    // Lost on the way out: a WARP change whose push was lost.
    let patch = CustomerPatch::from_json(&json!({"company_name": "Changed In WARP"})).unwrap();
    h.customers
        .update(customers[1], None, &Update::Patch(patch))
        .await
        .unwrap();
    h.lose_pending_pushes().await;

    let report = h
        .reconciler
        .run_incremental(None, false, since, None)
        .await
        .unwrap();
    assert_eq!(report.changed_since, Some(since));
    assert_eq!(
        report.companies_checked, 2,
        "the company changed in HubSpot and the one whose customer changed in WARP, no other"
    );
    assert_eq!(
        (report.drift_found, report.drift_fixed),
        (2, 2),
        "{report:?}"
    );
    h.push_all().await;
    let customer = h.customers.get(customers[0]).await.unwrap();
    assert_eq!(customer.company_name.as_str(), "Renamed In HubSpot");
    let company = h.linked(customers[1]).await;
    assert_eq!(h.company(&company).await["name"], "Changed In WARP");

    // The schedule's next run is incremental (a full run succeeded today), recorded as such.
    let next = warp_reconcile::jobs::reconcile_scheduled(&h.reconciler, false, false, "test")
        .await
        .unwrap()
        .expect("nothing else runs");
    let recorded = warp_store::reconciliation_runs::get(&h.database, next.id)
        .await
        .unwrap();
    assert_eq!(recorded.mode, "incremental");
    assert!(recorded.changed_since.is_some());
    assert_eq!(next.report.expect("it got to the end").drift_found, 0);
    // Asked for, a full run it is.
    let forced = warp_reconcile::jobs::reconcile_scheduled(&h.reconciler, false, true, "test")
        .await
        .unwrap()
        .expect("nothing else runs");
    let recorded = warp_store::reconciliation_runs::get(&h.database, forced.id)
        .await
        .unwrap();
    assert_eq!(
        (recorded.mode.as_str(), recorded.changed_since),
        ("full", None)
    );
}

/// Trunks and numbers are WARP's alone: a trunk record edited in HubSpot is drift of every run
/// (counted by a dry run, put back by a run), and gone once pushed.
#[tokio::test]
async fn a_trunk_edited_in_hubspot_is_drift_a_run_puts_back() {
    let mut h = harness().await;
    let answer = reqwest::Client::new()
        .post(format!("{}/_sandbox/portals", h.sandbox.base_url()))
        .json(&json!({"portal_id": warp_testkit::PORTAL, "enterprise": true}))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
    let desk = std::sync::Arc::new(warp_sync::service_objects::ServiceDesk::new(
        h.database.clone(),
        h.reconciler.hubspot.clone(),
        warp_testkit::PORTAL,
    ));
    h.reconciler.services = Some(desk.clone());
    let (customer, _) = h.create("Trunk Telecom").await;
    h.push_all().await;
    let trunk = warp_domain::trunk::NewTrunk::from_json(
        &json!({"name": "Main", "ip_addresses": ["198.51.100.10"]}),
    )
    .unwrap();
    let warp_store::services::CreatedItem::New(trunk, _) =
        warp_store::trunks::TrunkStore::new(h.database.clone())
            .create(customer, &trunk, None)
            .await
            .unwrap()
    else {
        unreachable!("a new trunk")
    };
    assert_eq!(desk.push().await.unwrap().trunks, 1);
    let record: String = h
        .database
        .client()
        .await
        .unwrap()
        .query_one(
            "SELECT hubspot_object_id FROM trunks WHERE id = $1",
            &[&trunk.id],
        )
        .await
        .unwrap()
        .get(0);
    let type_id = warp_store::service_push::load_mode(&h.database, warp_testkit::PORTAL)
        .await
        .unwrap()
        .unwrap()
        .trunk_type_id
        .unwrap();
    h.ui.update(
        &type_id,
        &record,
        json!({"warp_name": "Renamed in HubSpot"}),
    )
    .await;

    let run = |dry_run| warp_reconcile::jobs::reconcile_now(&h.reconciler, dry_run, "test", None);
    let dry = run(true).await.unwrap().unwrap().report.unwrap();
    let found = dry.service_objects.expect("the read-back ran");
    assert_eq!(
        (found.read, found.overridden.found, found.overridden.fixed),
        (1, 1, 0)
    );
    assert_eq!(dry.drift_found, 1, "{:?}", dry.records);
    let repair = run(false).await.unwrap().unwrap().report.unwrap();
    assert_eq!(repair.service_objects.unwrap().overridden.fixed, 1);
    assert_eq!(repair.drift_fixed, 1);
    assert_eq!(
        desk.push().await.unwrap().trunks,
        1,
        "WARP's values go back"
    );
    let after = run(true).await.unwrap().unwrap().report.unwrap();
    assert_eq!(after.drift_found, 0);
    assert_eq!(after.service_objects.unwrap().overridden.found, 0);
}
