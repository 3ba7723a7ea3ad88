//! Imports from HubSpot through the real parts (issue 20): companies, contacts and deals made in
//! the sandbox by a person (by its UI token; no webhook reaches WARP, as if they were lost),
//! read by the real client page by page, matched against Postgres, linked, proposed or left as
//! candidates; a dry run changes nothing; an import resumes from its checkpoint after its
//! runner dies and counts nothing twice; the API queues and reports imports.

mod common;

use std::time::Duration;

use common::Harness;
use serde_json::{Value, json};
use uuid::Uuid;
use warp_domain::import::ImportObject;
use warp_domain::onboarding::CompanyRule;
use warp_reconcile::ImportEnd;
use warp_store::imports::{self, Import};
use warp_testkit::{PORTAL, Sql};

/// Runs an import of `object` to the end in this process.
async fn import(h: &Harness, object: ImportObject, dry_run: bool) -> Import {
    match h
        .reconciler
        .import_now(object, dry_run, "test", None)
        .await
        .unwrap()
    {
        Some(ImportEnd::Finished(import)) => import,
        other => panic!("the import did not finish: {other:?}"),
    }
}

async fn items(h: &Harness, import: &Import) -> Vec<(String, &'static str, Vec<Uuid>)> {
    imports::items(&h.database, import.id, None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|item| (item.hubspot_id, item.outcome, item.candidates))
        .collect()
}

/// A customer created in WARP whose push never reached HubSpot (unlinked), with a domain.
async fn unlinked_customer(h: &Harness, name: &str, domain: &str) -> (Uuid, String) {
    let (id, ban) = h.create(name).await;
    h.database
        .execute(&format!(
            "UPDATE customers SET domain = '{domain}' WHERE id = '{id}'"
        ))
        .await;
    h.lose_pending_pushes().await;
    (id, ban)
}

#[tokio::test]
async fn companies_are_linked_by_ban_then_domain_ambiguous_ones_proposed_the_rest_left_to_the_rule()
{
    let h = common::harness().await;
    // Linked already: pushed by the worker.
    let (pushed, _) = h.create("Pushed Corp").await;
    h.push_all().await;
    let pushed_company = h.linked(pushed).await;
    // Sales made companies in HubSpot: one carrying an unlinked customer's BAN, one with an
    // unlinked customer's domain (as typed: scheme, www, capitals), one whose domain two
    // customers share, one nobody has, one with a BAN WARP never issued.
    let (by_ban, ban) = unlinked_customer(&h, "Keyed Corp", "keyed.example").await;
    let (by_domain, domain_ban) = unlinked_customer(&h, "Domain Corp", "domain-corp.example").await;
    let (twin_a, _) = unlinked_customer(&h, "Twin A", "twins.example").await;
    let (twin_b, _) = unlinked_customer(&h, "Twin B", "twins.example").await;
    let keyed_company =
        h.ui.create(
            "companies",
            json!({"name": "Keyed (sales)", "warp_ban": ban}),
        )
        .await;
    let domain_company =
        h.ui.create(
            "companies",
            json!({"name": "Domain (sales)", "domain": "https://www.Domain-Corp.example/"}),
        )
        .await;
    let twins_company =
        h.ui.create(
            "companies",
            json!({"name": "Twins", "domain": "twins.example"}),
        )
        .await;
    let nobody_company =
        h.ui.create(
            "companies",
            json!({"name": "Nobody", "domain": "nobody.example", "lifecyclestage": "customer"}),
        )
        .await;
    let foreign_company =
        h.ui.create(
            "companies",
            json!({"name": "Foreign", "warp_ban": "ZZ-999999999"}),
        )
        .await;
    // HubSpot made two companies from one email domain: neither is forced on its customer.
    let (duplicated, _) = unlinked_customer(&h, "Dup Corp", "dup.example").await;
    let dup_one =
        h.ui.create(
            "companies",
            json!({"name": "Dup 1", "domain": "dup.example"}),
        )
        .await;
    let dup_two =
        h.ui.create(
            "companies",
            json!({"name": "Dup 2", "domain": "dup.example"}),
        )
        .await;

    // A dry run reports what it would do and changes nothing.
    let before = h.fingerprint().await;
    let dry = import(&h, ImportObject::Companies, true).await;
    assert_eq!(dry.status, "succeeded");
    assert_eq!(
        (dry.counts.read, dry.counts.matched, dry.counts.linked),
        (8, 3, 0)
    );
    assert_eq!(
        (
            dry.counts.ambiguous,
            dry.counts.candidates,
            dry.counts.unmatched,
            dry.counts.created
        ),
        (3, 1, 1, 0)
    );
    assert_eq!(h.fingerprint().await, before, "a dry run wrote something");
    assert_eq!(
        h.database
            .scalar("SELECT count(*) FROM hubspot_company_candidates")
            .await,
        0
    );

    let done = import(&h, ImportObject::Companies, false).await;
    assert_eq!(done.status, "succeeded");
    assert_eq!(
        (done.counts.read, done.counts.matched, done.counts.linked),
        (8, 3, 2)
    );
    assert_eq!(done.counts.failed, 0);
    assert_eq!(h.company_of(duplicated).await, None);
    assert_eq!(h.linked(by_ban).await, keyed_company);
    assert_eq!(h.linked(by_domain).await, domain_company);
    assert_eq!(h.linked(pushed).await, pushed_company);
    // The domain match got its customer's BAN before the link, so the push finds it.
    assert_eq!(h.company(&domain_company).await["warp_ban"], domain_ban);
    assert_eq!(h.company_of(twin_a).await, None);
    assert_eq!(h.company_of(twin_b).await, None);
    let mut twins = vec![twin_a, twin_b];
    twins.sort();
    assert_eq!(items(&h, &done).await, {
        let mut expected = vec![
            (twins_company.clone(), "ambiguous", twins.clone()),
            (foreign_company.clone(), "unknown_key", vec![]),
            (dup_one.clone(), "ambiguous", vec![duplicated]),
            (dup_two.clone(), "ambiguous", vec![duplicated]),
        ];
        expected.sort();
        expected
    });
    assert_eq!(
        h.database
            .text("SELECT string_agg(hubspot_company_id, ',') FROM hubspot_company_candidates")
            .await,
        Some(nobody_company.clone())
    );
    // The links' pushes reach the same companies: nothing is created twice.
    h.push_all().await;
    assert_eq!(h.ui.list_all("companies", "name").await.len(), 8);
    assert_eq!(
        h.company(&keyed_company).await["name"],
        "Keyed Corp",
        "the link's RESYNC pushed WARP's values"
    );

    // Again: everything matched is linked already; nothing new.
    let again = import(&h, ImportObject::Companies, false).await;
    assert_eq!(
        (
            again.counts.matched,
            again.counts.linked,
            again.counts.ambiguous
        ),
        (3, 0, 3)
    );

    // A rule taking lifecycle-stage customers onboards the candidate.
    warp_store::company_candidates::set_rule(
        &h.database,
        PORTAL,
        CompanyRule::LifecycleCustomer,
        "test",
    )
    .await
    .unwrap();
    let ruled = import(&h, ImportObject::Companies, false).await;
    assert_eq!((ruled.counts.created, ruled.counts.candidates), (1, 0));
    assert_eq!(
        h.database
            .text(&format!(
                "SELECT source || ':' || requested_by FROM onboardings WHERE hubspot_company_id = '{nobody_company}'"
            ))
            .await,
        Some(format!("RULE:import {}", ruled.id))
    );
}

#[tokio::test]
async fn an_import_resumes_at_its_checkpoint_when_its_runner_dies_and_counts_nothing_twice() {
    let h = common::harness().await;
    let companies = (0..250).map(|n| {
        hubspot_sandbox::PropertyValues::from([
            ("name".to_owned(), format!("Prospect {n}")),
            ("domain".to_owned(), format!("prospect{n}.example")),
        ])
    });
    h.sandbox.seed_companies(companies).unwrap();
    let requested = match imports::request(&h.database, PORTAL, ImportObject::Companies, false, "t")
        .await
        .unwrap()
    {
        imports::Requested::New(import) => import,
        other => panic!("{other:?}"),
    };
    // A second request finds the unfinished one.
    assert!(matches!(
        imports::request(&h.database, PORTAL, ImportObject::Companies, false, "t").await.unwrap(),
        imports::Requested::Existing(existing) if existing.id == requested.id
    ));

    // A job whose time is up after one page leaves the import at its cursor.
    let claimed = imports::claim(&h.database, PORTAL, None)
        .await
        .unwrap()
        .unwrap();
    let paused = h
        .reconciler
        .run_import(claimed, Some(Duration::ZERO), None)
        .await
        .unwrap();
    let ImportEnd::Paused(paused) = paused else {
        panic!("{paused:?}")
    };
    assert_eq!((paused.counts.read, paused.pages), (100, 1));
    assert!(paused.after_cursor.is_some());
    assert_eq!(paused.total_estimate, Some(250));

    // The next runner claims it and dies before its page commits (its lease goes stale);
    // another takes it over. The dead one's late page is refused; the new one resumes.
    let dying = imports::claim(&h.database, PORTAL, None)
        .await
        .unwrap()
        .unwrap();
    assert!(
        imports::claim(&h.database, PORTAL, None)
            .await
            .unwrap()
            .is_none(),
        "a live lease is not taken over"
    );
    h.database
        .execute("UPDATE hubspot_imports SET heartbeat_at = now() - interval '1 hour'")
        .await;
    let taker = imports::claim(&h.database, PORTAL, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taker.after_cursor, paused.after_cursor);
    assert_eq!(
        h.reconciler.run_import(dying, None, None).await.unwrap(),
        ImportEnd::LostLease
    );
    let ImportEnd::Finished(done) = h.reconciler.run_import(taker, None, None).await.unwrap()
    else {
        panic!("not finished")
    };
    assert_eq!(done.status, "succeeded");
    assert_eq!(
        (done.counts.read, done.counts.candidates, done.pages),
        (250, 250, 3)
    );
    assert_eq!(
        h.database
            .scalar("SELECT count(*) FROM hubspot_company_candidates")
            .await,
        250
    );

    // HubSpot failing for now leaves the import at its cursor with the reason; the next run
    // resumes it.
    let retried = match imports::request(&h.database, PORTAL, ImportObject::Companies, true, "t")
        .await
        .unwrap()
    {
        imports::Requested::New(import) => import,
        other => panic!("{other:?}"),
    };
    h.sandbox.set_faults(hubspot_sandbox::Faults {
        rate_5xx: 1.0,
        ..Default::default()
    });
    let claimed = imports::claim(&h.database, PORTAL, None)
        .await
        .unwrap()
        .unwrap();
    let ImportEnd::Released { error, .. } =
        h.reconciler.run_import(claimed, None, None).await.unwrap()
    else {
        panic!("not released")
    };
    assert!(error.contains("HubSpot list"), "{error}");
    let stopped = imports::get(&h.database, PORTAL, retried.id).await.unwrap();
    assert_eq!(
        (
            stopped.status.as_str(),
            stopped.attempts,
            stopped.counts.read
        ),
        ("running", 1, 0)
    );
    assert!(stopped.last_error.is_some());
    h.sandbox.set_faults(hubspot_sandbox::Faults::default());
    let ended = h
        .reconciler
        .run_due_imports(Duration::from_secs(60))
        .await
        .unwrap();
    assert!(matches!(&ended[..], [ImportEnd::Finished(import)] if import.counts.read == 250));
}

#[tokio::test]
async fn contacts_are_linked_by_user_id_then_email_and_a_shared_email_is_proposed() {
    let h = common::harness().await;
    let (customer, _) = h.create("Contact Corp").await;
    let (other_customer, _) = h.create("Other Corp").await;
    h.push_all().await;
    let by_email = h
        .create_user(customer, "ana@contact-corp.example", "Ana")
        .await;
    let by_key = h
        .create_user(customer, "ben@contact-corp.example", "Ben")
        .await;
    let shared_a = h.create_user(customer, "ops@shared.example", "Ops").await;
    let shared_b = h
        .create_user(other_customer, "ops@shared.example", "Ops")
        .await;
    h.lose_pending_pushes().await;
    let ana_contact =
        h.ui.create(
            "contacts",
            json!({"email": "Ana@Contact-Corp.example", "firstname": "Ana"}),
        )
        .await;
    let ben_contact =
        h.ui.create(
            "contacts",
            json!({"email": "benjamin@elsewhere.example", "warp_user_id": by_key.to_string()}),
        )
        .await;
    let shared_contact =
        h.ui.create("contacts", json!({"email": "ops@shared.example"}))
            .await;
    h.ui.create("contacts", json!({"email": "lead@prospect.example"}))
        .await;
    // Ben's address on another contact (his email change was refused there): the contact
    // carrying his id keeps him, this one is proposed.
    let ben_by_email =
        h.ui.create("contacts", json!({"email": "ben@contact-corp.example"}))
            .await;

    let done = import(&h, ImportObject::Contacts, false).await;
    assert_eq!(
        (
            done.counts.read,
            done.counts.matched,
            done.counts.linked,
            done.counts.ambiguous,
            done.counts.unmatched
        ),
        (5, 2, 2, 2, 1)
    );
    assert_eq!(h.contact_of(by_email).await, Some(ana_contact.clone()));
    assert_eq!(h.contact_of(by_key).await, Some(ben_contact));
    assert_eq!(h.contact_of(shared_a).await, None);
    assert_eq!(h.contact_of(shared_b).await, None);
    let mut shared = vec![shared_a, shared_b];
    shared.sort();
    let mut expected = vec![
        (shared_contact, "ambiguous", shared),
        (ben_by_email, "ambiguous", vec![by_key]),
    ];
    expected.sort();
    assert_eq!(items(&h, &done).await, expected);
    // The push finds the contact by its email and gives it its warp_user_id: no second one.
    h.push_all().await;
    assert_eq!(
        h.contact(&ana_contact).await["warp_user_id"],
        Value::String(by_email.to_string())
    );
    assert_eq!(h.contacts_with_email("ana@contact-corp.example").await, 1);
}

#[tokio::test]
async fn a_deal_import_stores_every_deal_and_onboards_won_deals_whose_webhooks_were_lost() {
    let h = common::harness().await;
    let company =
        h.ui.create(
            "companies",
            json!({"name": "Won Corp", "domain": "won.example"}),
        )
        .await;
    let won =
        h.ui.create(
            "deals",
            json!({"dealname": "Won", "amount": "9000.50", "dealstage": "closedwon",
                   "closedate": "2026-12-05T00:00:00Z"}),
        )
        .await;
    h.ui.associate_as("deals", &won, "companies", &company, 5)
        .await;
    let open =
        h.ui.create(
            "deals",
            json!({"dealname": "Open", "dealstage": "contractsent"}),
        )
        .await;

    let dry = import(&h, ImportObject::Deals, true).await;
    assert_eq!((dry.counts.read, dry.counts.created), (2, 2));
    assert_eq!(h.database.scalar("SELECT count(*) FROM deals").await, 0);

    let done = import(&h, ImportObject::Deals, false).await;
    assert_eq!(
        (done.counts.read, done.counts.created, done.counts.matched),
        (2, 2, 0)
    );
    assert_eq!(
        h.database
            .text(&format!(
                "SELECT stage_outcome || ':' || amount || ':' || hubspot_company_id FROM deals WHERE hubspot_id = '{won}'"
            ))
            .await,
        Some(format!("won:9000.50:{company}"))
    );
    assert_eq!(
        h.database
            .text(&format!(
                "SELECT stage_outcome FROM deals WHERE hubspot_id = '{open}'"
            ))
            .await,
        Some("open".to_owned())
    );
    let onboarded = format!("SELECT count(*) FROM onboardings WHERE hubspot_deal_id = '{won}'");
    assert_eq!(h.database.scalar(&onboarded).await, 1);

    let again = import(&h, ImportObject::Deals, false).await;
    assert_eq!((again.counts.created, again.counts.matched), (0, 2));
    assert_eq!(h.database.scalar(&onboarded).await, 1, "onboarded once");
}

#[tokio::test]
async fn the_api_queues_an_import_answers_one_at_a_time_and_reports_counts_and_items() {
    let h = common::harness().await;
    let api = warp_testkit::api::ApiServer::start(&h.database, PORTAL).await;
    let (base, token) = (api.base.clone(), |role: &str| api.token(role));
    let http = reqwest::Client::new();
    let post = |body: Value, role: &str| {
        http.post(format!("{base}/v1/sync/imports"))
            .bearer_auth(token(role))
            .json(&body)
            .send()
    };

    assert_eq!(
        post(json!({"object_type": "companies"}), "editor")
            .await
            .unwrap()
            .status(),
        403
    );
    let invalid = post(json!({"object_type": "tickets", "dry_run": 1}), "admin")
        .await
        .unwrap();
    assert_eq!(invalid.status(), 422);
    let problem: Value = invalid.json().await.unwrap();
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields.len(), 2, "{problem}");
    assert!(fields.contains(&"object_type") && fields.contains(&"dry_run"));

    let queued = post(
        json!({"object_type": "companies", "dry_run": true}),
        "admin",
    )
    .await
    .unwrap();
    assert_eq!(queued.status(), 202);
    let location = queued.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = queued.json().await.unwrap();
    assert_eq!(
        (
            body["status"].as_str(),
            body["dry_run"].as_bool(),
            body["read"].as_i64()
        ),
        (Some("queued"), Some(true), Some(0))
    );
    let second = post(json!({"object_type": "companies"}), "admin")
        .await
        .unwrap();
    assert_eq!(second.status(), 409);
    assert_eq!(second.headers()["location"].to_str().unwrap(), location);

    h.ui.create(
        "companies",
        json!({"name": "Lonely", "domain": "lonely.example"}),
    )
    .await;
    h.reconciler
        .run_due_imports(Duration::from_secs(60))
        .await
        .unwrap();
    let viewer = token("viewer");
    let read: Value = http
        .get(format!("{base}{location}"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            read["status"].as_str(),
            read["read"].as_i64(),
            read["candidates"].as_i64()
        ),
        (Some("succeeded"), Some(1), Some(1))
    );
    let list: Value = http
        .get(format!("{base}/v1/sync/imports?limit=1"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["id"], read["id"]);
    let items = http
        .get(format!("{base}{location}/items?after=abc"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(items.status(), 422);
    let missing = http
        .get(format!("{base}/v1/sync/imports/{}", Uuid::now_v7()))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}
