//! The client against the HubSpot sandbox over real HTTP: bootstrap, CRUD, batch upsert,
//! rate limits, faults, a budget shared through Postgres, and search past the 10,000 cap.

mod common;

use common::{ban, properties};
use futures::TryStreamExt;
use hubspot_sandbox::{Faults, SandboxConfig};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use warp_hubspot::{
    BatchUpsertInput, Filter, FilterGroup, HubSpotClient, HubSpotError, ListOptions,
    PostgresRateBudget, RateBudget, ReadOptions, RecordLookup, SearchRequest, WARP_BAN_PROPERTY,
    ensure_warp_properties,
};
use warp_testkit::hubspot;

const UPSERT_ROUTE: &str = "POST /crm/objects/2026-09/companies/batch/upsert";

fn upserts(numbers: std::ops::Range<u32>, status: &str) -> Vec<BatchUpsertInput> {
    numbers
        .map(|n| {
            BatchUpsertInput::new(
                WARP_BAN_PROPERTY,
                ban(n),
                properties(&[("name", &format!("Company {n}")), ("warp_status", status)]),
            )
        })
        .collect()
}

/// Every company in the sandbox by BAN, read through the list endpoint.
async fn companies_by_ban(
    client: &HubSpotClient,
) -> BTreeMap<String, BTreeMap<String, Option<String>>> {
    let options = ListOptions {
        properties: vec![
            WARP_BAN_PROPERTY.into(),
            "warp_status".into(),
            "name".into(),
        ],
        ..Default::default()
    };
    let pages: Vec<_> = client
        .companies()
        .list(options)
        .try_collect()
        .await
        .unwrap();
    pages
        .into_iter()
        .flatten()
        .filter_map(|c| Some((c.property(WARP_BAN_PROPERTY)?.to_owned(), c.properties)))
        .collect()
}

#[tokio::test]
async fn bootstrap_creates_the_properties_once_and_a_second_run_creates_nothing() {
    let sandbox = common::sandbox(SandboxConfig::default()).await;
    let client = hubspot::client(&hubspot::client_config(
        &sandbox,
        hubspot::settings(100, 10_000),
    ));

    let first = ensure_warp_properties(&client).await.unwrap();
    assert!(first.group_created);
    // Companies 9 (+ 4 for trunks and numbers without custom objects, + 5 of usage), contacts 6, the deal's
    // BAN, the note's key and the call's, the ticket's 7.
    assert_eq!(first.created.len(), 18 + 6 + 3 + 7, "{first:?}");
    assert!(first.created.contains(&"calls.warp_call_id".to_owned()));
    assert!(first.created.contains(&"tickets.warp_ticket_id".to_owned()));
    assert!(
        first
            .created
            .contains(&"tickets.warp_sla_breach".to_owned())
    );
    assert!(first.created.contains(&"contacts.warp_user_id".to_owned()));
    assert!(first.created.contains(&"deals.warp_ban".to_owned()));
    assert!(first.already_existing.is_empty());

    let second = ensure_warp_properties(&client).await.unwrap();
    assert!(second.created_nothing(), "{second:?}");
    assert_eq!(second.already_existing.len(), 18 + 6 + 3 + 7);
    assert!(second.mismatched.is_empty(), "{second:?}");

    let user_id = client
        .contacts()
        .get_property("warp_user_id")
        .await
        .unwrap()
        .expect("the contact key exists");
    assert!(user_id.has_unique_value, "contacts are upserted by it");
    let note_key = client
        .objects(warp_hubspot::CrmObject::Notes)
        .get_property("warp_event_id")
        .await
        .unwrap()
        .expect("the note key exists");
    assert!(note_key.has_unique_value, "notes are upserted by it");
    let call_key = client
        .objects(warp_hubspot::CrmObject::Calls)
        .get_property("warp_call_id")
        .await
        .unwrap()
        .expect("the call key exists");
    assert!(call_key.has_unique_value, "calls are upserted by it");
    let deal_ban = client
        .deals()
        .get_property("warp_ban")
        .await
        .unwrap()
        .expect("deals carry the BAN");
    assert!(
        !deal_ban.has_unique_value,
        "every deal of a customer carries its BAN"
    );
    let last_login = client
        .contacts()
        .get_property("warp_last_login")
        .await
        .unwrap()
        .expect("created on contacts");
    assert_eq!(last_login.property_type, "datetime");

    let ban_property = client
        .companies()
        .get_property(WARP_BAN_PROPERTY)
        .await
        .unwrap()
        .unwrap();
    assert!(ban_property.has_unique_value);
    assert_eq!(ban_property.group_name, "warp");
    let group = client
        .companies()
        .get_property_group("warp")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(group.label, "WARP");
    assert!(
        client
            .companies()
            .get_property("warp_nonexistent")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn single_company_lifecycle_by_id_and_by_unique_property() {
    let sandbox = common::sandbox(SandboxConfig::default()).await;
    let client = hubspot::client(&hubspot::client_config(
        &sandbox,
        hubspot::settings(100, 10_000),
    ));
    ensure_warp_properties(&client).await.unwrap();

    let created = client
        .companies()
        .create(&properties(&[
            ("name", "Acme"),
            (WARP_BAN_PROPERTY, &ban(1)),
            ("warp_status", "ACTIVE"),
        ]))
        .await
        .unwrap();
    let by_ban = RecordLookup::UniqueProperty {
        property: WARP_BAN_PROPERTY.into(),
        value: ban(1),
    };
    let options = ReadOptions {
        properties_with_history: vec!["name".into()],
        ..ReadOptions::properties(["name", "warp_status"])
    };
    let found = client
        .companies()
        .get(&by_ban, &options)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, created.id);
    assert_eq!(found.property("warp_status"), Some("ACTIVE"));

    client
        .companies()
        .update(&by_ban, &properties(&[("name", "Acme Renamed")]))
        .await
        .unwrap();
    let after = client
        .companies()
        .get(&RecordLookup::Id(created.id.clone()), &options)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.property("name"), Some("Acme Renamed"));
    let history = &after.properties_with_history["name"];
    assert_eq!(
        history
            .iter()
            .filter_map(|v| v.value.as_deref())
            .collect::<Vec<_>>(),
        ["Acme Renamed", "Acme"]
    );

    // A value HubSpot refuses is a validation error naming the field, and never retried.
    let refused = client
        .companies()
        .update(&by_ban, &properties(&[("warp_status", "BOGUS")]))
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, HubSpotError::Validation { status: 400, .. }),
        "{refused:?}"
    );
    assert!(!refused.is_retryable());
    // A second company with the same unique value is a conflict.
    let duplicate = client
        .companies()
        .create(&properties(&[(WARP_BAN_PROPERTY, &ban(1))]))
        .await
        .unwrap_err();
    assert!(
        matches!(duplicate, HubSpotError::Conflict { .. }),
        "{duplicate:?}"
    );

    let other = client
        .companies()
        .create(&properties(&[
            ("name", "Other"),
            (WARP_BAN_PROPERTY, &ban(2)),
        ]))
        .await
        .unwrap();
    let merged = client
        .companies()
        .merge(&created.id, &other.id)
        .await
        .unwrap();
    assert_ne!(merged.id, other.id, "the primary survives");
    let survivor = client
        .companies()
        .get(&RecordLookup::Id(merged.id.clone()), &options)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        survivor.property("name"),
        Some("Acme Renamed"),
        "the primary keeps its values"
    );
    client.companies().archive(&merged.id).await.unwrap();
    assert!(
        client
            .companies()
            .get(&RecordLookup::Id(merged.id), &ReadOptions::default())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(sandbox.stats().rate_limited_real, 0);
}

#[tokio::test]
async fn upserting_250_companies_takes_three_calls_and_a_second_run_only_updates() {
    let sandbox = common::sandbox(SandboxConfig::default()).await;
    let client = hubspot::client(&hubspot::client_config(
        &sandbox,
        hubspot::settings(100, 10_000),
    ));
    ensure_warp_properties(&client).await.unwrap();
    let inputs = upserts(0..250, "ACTIVE");

    let first = client.companies().batch_upsert(&inputs).await;
    assert!(
        first.is_complete(),
        "{:?} {:?}",
        first.errors,
        first.failed_calls
    );
    assert_eq!(first.calls, 3);
    assert_eq!(first.results.len(), 250);
    assert!(first.results.iter().all(|r| r.created));
    assert_eq!(
        sandbox.stats().requests_by_route.get(UPSERT_ROUTE),
        Some(&3)
    );

    let second = client
        .companies()
        .batch_upsert(&upserts(0..250, "SUSPENDED"))
        .await;
    assert!(second.is_complete());
    assert_eq!(second.results.len(), 250);
    assert!(
        second.results.iter().all(|r| !r.created),
        "a second run must not create"
    );
    assert_eq!(
        sandbox.stats().requests_by_route.get(UPSERT_ROUTE),
        Some(&6)
    );
    assert_eq!(sandbox.stats().companies, 250);

    // A bad value among them is reported for that input only (207), the rest are written.
    let mut mixed = upserts(300..310, "ACTIVE");
    mixed[4]
        .properties
        .insert("warp_status".into(), "BOGUS".into());
    let partial = client.companies().batch_upsert(&mixed).await;
    assert!(partial.failed_calls.is_empty());
    assert_eq!(partial.errors.len(), 1, "{:?}", partial.errors);
    assert_eq!(partial.results.len(), 9);
    assert!(!partial.errors[0].category.is_empty());
}

#[tokio::test]
async fn a_burst_past_the_limit_meets_429s_and_still_completes_every_write() {
    // HubSpot allows 10 per second; this client believes it may send 100.
    let sandbox = common::sandbox_with_limit(10, 1000).await;
    let mut config = hubspot::client_config(&sandbox, hubspot::settings(100, 1000));
    config.max_retries = 20;
    let client = Arc::new(hubspot::client(&config));
    ensure_warp_properties(&client).await.unwrap();

    let writes = (0..30u32).map(|n| {
        let client = Arc::clone(&client);
        async move {
            let input = upserts(n..n + 1, "ACTIVE");
            client.companies().batch_upsert(&input).await
        }
    });
    let results = futures::future::join_all(writes).await;
    for result in &results {
        assert!(
            result.is_complete(),
            "{:?} {:?}",
            result.errors,
            result.failed_calls
        );
    }
    let stats = sandbox.stats();
    assert!(
        stats.rate_limited_real > 0,
        "the burst should have met HubSpot's limit: {stats:?}"
    );
    assert_eq!(companies_by_ban(&client).await.len(), 30);
}

#[tokio::test]
async fn a_storm_of_429s_5xx_and_timeouts_loses_no_write() {
    let sandbox = common::sandbox_with_limit(100, 1000).await;
    let mut config = hubspot::client_config(&sandbox, hubspot::settings(100, 1000));
    config.max_retries = 12;
    config.timeout = Duration::from_millis(800);
    let client = hubspot::client(&config);
    ensure_warp_properties(&client).await.unwrap();

    sandbox.set_faults(Faults {
        rate_429: 0.2,
        rate_5xx: 0.15,
        rate_timeout: 0.05,
        ..Default::default()
    });
    let batch = client
        .companies()
        .batch_upsert(&upserts(0..300, "ACTIVE"))
        .await;
    assert!(
        batch.is_complete(),
        "{:?} {:?}",
        batch.errors,
        batch.failed_calls
    );
    for n in 0..15u32 {
        let lookup = RecordLookup::UniqueProperty {
            property: WARP_BAN_PROPERTY.into(),
            value: ban(n),
        };
        client
            .companies()
            .update(&lookup, &properties(&[("warp_status", "CLOSED")]))
            .await
            .unwrap();
    }
    let stats = sandbox.stats();
    sandbox.set_faults(Faults::default());

    let injected =
        stats.rate_limited_injected + stats.server_errors_injected + stats.timeouts_injected;
    assert!(injected > 0, "the storm should have hit: {stats:?}");
    let stored = companies_by_ban(&client).await;
    assert_eq!(stored.len(), 300);
    for n in 0..300u32 {
        let expected = if n < 15 { "CLOSED" } else { "ACTIVE" };
        assert_eq!(
            stored[&ban(n)]["warp_status"].as_deref(),
            Some(expected),
            "company {n}"
        );
    }
}

#[tokio::test]
async fn two_clients_sharing_a_postgres_budget_never_exceed_the_limit_together() {
    let sandbox = common::sandbox_with_limit(10, 1000).await;
    let db = common::fresh_database().await;
    let second_pool = warp_store::Database::connect(db.url(), 4).unwrap();
    let config = hubspot::client_config(&sandbox, hubspot::settings(10, 1000));
    let make = |pool: deadpool_postgres::Pool| {
        let budget: Arc<dyn RateBudget> = Arc::new(PostgresRateBudget::new(
            pool,
            config.portal_id,
            &config.rate_limit,
        ));
        Arc::new(HubSpotClient::new(&config, budget).unwrap())
    };
    let clients = [make(db.pool().clone()), make(second_pool.pool().clone())];

    let mut calls = Vec::new();
    for client in &clients {
        for _ in 0..12 {
            let client = Arc::clone(client);
            calls.push(tokio::spawn(async move {
                client.companies().list_properties().await.map(|p| p.len())
            }));
        }
    }
    for call in calls {
        assert!(call.await.unwrap().unwrap() > 0);
    }
    let stats = sandbox.stats();
    assert_eq!(
        stats.rate_limited_real, 0,
        "the shared budget kept both clients under the limit: {stats:?}"
    );
    assert_eq!(stats.requests_total, 24);
}

#[tokio::test]
async fn search_reads_every_match_past_the_10000_cap() {
    let sandbox = common::sandbox(SandboxConfig {
        search_per_second: 50,
        ..Default::default()
    })
    .await;
    let mut config = hubspot::client_config(&sandbox, hubspot::settings(100, 10_000));
    config.rate_limit.search_per_second = 50;
    let client = hubspot::client(&config);
    ensure_warp_properties(&client).await.unwrap();
    let seeded = sandbox
        .seed_companies((0..10_450u32).map(|n| {
            let status = if n % 10 == 0 { "CLOSED" } else { "ACTIVE" };
            properties(&[
                ("name", &format!("Seeded {n}")),
                (WARP_BAN_PROPERTY, &ban(n)),
                ("warp_status", status),
            ])
        }))
        .unwrap();
    let active: BTreeSet<String> = seeded
        .iter()
        .enumerate()
        .filter(|(n, _)| n % 10 != 0)
        .map(|(_, id)| id.to_string())
        .collect();
    assert!(active.len() > 9_000);

    let request = SearchRequest {
        filter_groups: vec![FilterGroup {
            filters: vec![Filter::has_property(WARP_BAN_PROPERTY)],
        }],
        properties: vec![WARP_BAN_PROPERTY.into()],
        limit: 200,
        ..Default::default()
    };
    let pages: Vec<_> = client
        .companies()
        .search_all(request)
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<String> = pages.iter().flatten().map(|c| c.id.to_string()).collect();
    assert_eq!(ids.len(), 10_450, "every match once");
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        10_450,
        "no duplicates across windows"
    );

    // A filtered search under a small cap windows too and finds exactly the matches.
    let small_cap = hubspot::client(&config).with_search_result_cap(1_000);
    let active_only = SearchRequest {
        filter_groups: vec![FilterGroup {
            filters: vec![Filter::eq("warp_status", "ACTIVE")],
        }],
        limit: 200,
        ..Default::default()
    };
    let found: BTreeSet<String> = small_cap
        .companies()
        .search_all(active_only)
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .into_iter()
        .flatten()
        .map(|c| c.id.to_string())
        .collect();
    assert_eq!(found, active);
}

#[tokio::test]
async fn a_wrong_token_is_unauthorized_and_not_retried() {
    let sandbox = common::sandbox(SandboxConfig::default()).await;
    let mut config = hubspot::client_config(&sandbox, hubspot::settings(100, 10_000));
    config.token = secrecy::SecretString::from("pat-wrong");
    let client = hubspot::client(&config);
    let error = client.companies().list_properties().await.unwrap_err();
    assert!(
        matches!(error, HubSpotError::Unauthorized { status: 401, .. }),
        "{error:?}"
    );
    assert_eq!(sandbox.stats().requests_total, 1, "401 is never retried");
    assert!(!format!("{client:?}").contains("pat-wrong"));
}

#[tokio::test]
async fn contacts_and_their_company_associations_through_the_generic_client() {
    use warp_hubspot::{AssociationInput, ObjectType, type_ids};
    let sandbox = common::sandbox(SandboxConfig::default()).await;
    let client = hubspot::client(&hubspot::client_config(
        &sandbox,
        hubspot::settings(100, 10_000),
    ));
    let contact = client
        .contacts()
        .create(&properties(&[
            ("email", "ada@example.test"),
            ("firstname", "Ada"),
        ]))
        .await
        .unwrap();
    let company = client
        .companies()
        .create(&properties(&[("name", "Acme")]))
        .await
        .unwrap();
    let read = client
        .contacts()
        .get(
            &RecordLookup::Id(contact.id.clone()),
            &ReadOptions::properties(["firstname"]),
        )
        .await
        .unwrap()
        .expect("the contact");
    assert_eq!(read.property("firstname"), Some("Ada"));
    assert!(read.property("lastmodifieddate").is_some());

    let to_companies = client.associations(ObjectType::Contacts, ObjectType::Companies);
    let created = to_companies
        .batch_create(&[AssociationInput::new(
            contact.id.clone(),
            company.id.clone(),
            &[type_ids::CONTACT_TO_COMPANY_PRIMARY],
        )])
        .await;
    assert!(created.is_complete(), "{created:?}");
    assert_eq!(created.results[0].labels, ["Primary"]);
    // Repeating the default association changes nothing.
    let to_contacts = client.associations(ObjectType::Companies, ObjectType::Contacts);
    to_contacts
        .associate_default(&company.id, &contact.id)
        .await
        .unwrap();
    let read = to_companies
        .batch_read(std::slice::from_ref(&contact.id))
        .await;
    assert!(read.is_complete(), "{read:?}");
    let associated = &read.results[0].to[0];
    assert_eq!(associated.to_object_id, company.id.as_str());
    assert!(associated.has_type(type_ids::CONTACT_TO_COMPANY_PRIMARY));
    assert!(associated.has_type(type_ids::CONTACT_TO_COMPANY));
    let back = to_contacts
        .batch_read(std::slice::from_ref(&company.id))
        .await;
    assert!(back.results[0].to[0].has_type(type_ids::COMPANY_TO_CONTACT_PRIMARY));
    let routes = sandbox.stats().requests_by_route;
    assert_eq!(
        routes.get("POST /crm/associations/2026-09/contacts/{to_type}/batch/create"),
        Some(&1),
        "{routes:?}"
    );
}
