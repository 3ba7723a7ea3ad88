//! Reconciliation of users ↔ contacts through the real parts: Postgres, the HubSpot sandbox
//! over HTTP, the outbound worker and the inbound processor. Drift is made the way it happens
//! in production: a person edits or deletes in HubSpot's UI while the webhook is lost, a link
//! or a push is lost in WARP.

mod common;

use common::harness;
use warp_domain::sync::ObjectType;
use warp_reconcile::RepairKind;
use warp_testkit::{PORTAL, Sql};

#[tokio::test]
async fn contact_drift_is_found_by_field_record_and_association_and_repaired_to_zero() {
    let h = harness().await;
    let (customer, _) = h.create("Contact Drift").await;
    let renamed = h
        .create_user(customer, "renamed@drift.example", "Ann")
        .await;
    let email_edited = h.create_user(customer, "login@drift.example", "Bob").await;
    let dissociated = h.create_user(customer, "moved@drift.example", "Cid").await;
    let relinked = h.create_user(customer, "relink@drift.example", "Dee").await;
    let healthy = h.create_user(customer, "fine@drift.example", "Eve").await;
    h.push_all().await;
    let company = h.linked(customer).await;
    let mut contacts = Vec::new();
    for user in [renamed, email_edited, dissociated, relinked] {
        contacts.push(h.contact_of(user).await.expect("linked"));
    }
    let [renamed_c, email_c, dissociated_c, relinked_c] =
        <[String; 4]>::try_from(contacts).unwrap();
    assert_eq!(
        h.contact_companies(&dissociated_c).await,
        [(company.clone(), vec![1, 279])],
        "a user's contact starts associated with its customer's company as primary"
    );

    // WARP's writes were a while ago (changes within a second of each other are a conflict).
    h.database.execute("UPDATE hubspot_field_state SET warp_changed_at = warp_changed_at - interval '1 minute'")
        .await;
    // Drift, with every webhook lost (the harness delivers none):
    h.ui.update(
        "contacts",
        &renamed_c,
        serde_json::json!({"firstname": "Annabel"}),
    )
    .await;
    h.ui.update(
        "contacts",
        &email_c,
        serde_json::json!({"email": "typo@drift.example"}),
    )
    .await;
    h.ui.dissociate(&dissociated_c, &company).await;
    h.database
        .execute(&format!(
            "DELETE FROM hubspot_links WHERE local_id = '{relinked}'"
        ))
        .await;
    // A user whose contact push was lost: missing in HubSpot.
    let missing = h
        .create_user(customer, "missing@drift.example", "Fay")
        .await;
    h.lose_pending_pushes().await;

    let before = h.fingerprint().await;
    let dry = h.reconciler.run(None, true, None).await.unwrap();
    assert_eq!(h.fingerprint().await, before, "a dry run changes nothing");
    assert_eq!(dry.errors, 0, "{:?}", dry.error_reasons);
    let contacts = dry.of(ObjectType::Contacts);
    assert_eq!((contacts.warp_checked, contacts.hubspot_checked), (6, 5));
    for kind in [
        "MISSING_IN_HUBSPOT",
        "UNLINKED_CONTACT_WITH_OUR_USER_ID",
        "BROKEN_ASSOCIATION",
    ] {
        assert_eq!(
            dry.kind(ObjectType::Contacts, kind).found,
            1,
            "{kind}: {:?}",
            contacts.by_kind
        );
    }
    assert_eq!(contacts.by_field["first_name"].found, 1);
    assert_eq!(contacts.by_field["email"].found, 1);
    assert_eq!(
        dry.of(ObjectType::Companies).found,
        0,
        "the company is sound"
    );
    let listed = |id| {
        dry.records
            .iter()
            .find(|r| r.local_id == id && r.object_type == ObjectType::Contacts)
    };
    assert!(listed(healthy).is_none());
    assert_eq!(listed(renamed).unwrap().repairs, [RepairKind::Apply]);
    assert_eq!(listed(email_edited).unwrap().repairs, [RepairKind::Push]);
    assert_eq!(
        listed(dissociated).unwrap().repairs,
        [RepairKind::Associate]
    );
    assert_eq!(listed(relinked).unwrap().repairs, [RepairKind::Link]);
    assert_eq!(listed(missing).unwrap().repairs, [RepairKind::Create]);
    assert!(!listed(missing).unwrap().fixed, "a dry run fixes nothing");

    let repaired = h.reconciler.run(None, false, None).await.unwrap();
    assert_eq!(repaired.errors, 0, "{:?}", repaired.error_reasons);
    assert_eq!(
        repaired.of(ObjectType::Contacts).found,
        repaired.of(ObjectType::Contacts).fixed,
        "{:?}",
        repaired.records
    );
    h.push_all().await;

    // HubSpot's first name (the later change, LATEST_WINS) is WARP's now.
    assert_eq!(
        h.database
            .text(&format!(
                "SELECT first_name FROM users WHERE id = '{renamed}'"
            ))
            .await
            .as_deref(),
        Some("Annabel")
    );
    // The login email is WARP's: pushed back over the edit.
    assert_eq!(h.contact(&email_c).await["email"], "login@drift.example");
    // The association is back, primary.
    assert_eq!(
        h.contact_companies(&dissociated_c).await,
        [(company.clone(), vec![1, 279])]
    );
    // The lost link is found again by warp_user_id, not duplicated.
    assert_eq!(
        h.contact_of(relinked).await.as_deref(),
        Some(relinked_c.as_str())
    );
    assert_eq!(h.contacts_with_email("relink@drift.example").await, 1);
    // The missing user has its contact, associated with the company.
    let created = h.contact_of(missing).await.expect("created and linked");
    assert_eq!(
        h.contact(&created).await["warp_user_id"],
        missing.to_string()
    );
    assert_eq!(
        h.contact_companies(&created).await,
        [(company.clone(), vec![1, 279])]
    );

    let settled = h.reconciler.run(None, true, None).await.unwrap();
    assert_eq!(settled.drift_found, 0, "{:?}", settled.records);
}

#[tokio::test]
async fn a_contact_deleted_in_hubspot_is_reported_for_a_person_and_a_user_waiting_for_its_company_is_not_drift()
 {
    let h = harness().await;
    let (customer, _) = h.create("Deleted Contact").await;
    let user = h.create_user(customer, "gone@drift.example", "Gus").await;
    h.push_all().await;
    let contact = h.contact_of(user).await.expect("linked");
    // Deleted in HubSpot's UI, the webhook lost: the archived contact still holds the
    // user's warp_user_id, so no new contact can take it; a person restores it.
    h.ui.delete("contacts", &contact).await;
    // A customer whose company push was lost, with a user: the user waits for the company.
    let (waiting_customer, _) = h.create("Waiting Customer").await;
    h.lose_pending_pushes().await;
    h.create_user(waiting_customer, "waits@drift.example", "Wes")
        .await;
    h.lose_pending_pushes().await;

    let report = h.reconciler.run(None, false, None).await.unwrap();
    assert_eq!(report.errors, 0, "{:?}", report.error_reasons);
    let gone = report.kind(ObjectType::Contacts, "LINKED_CONTACT_GONE");
    assert_eq!((gone.found, gone.fixed), (1, 0), "{:?}", report.records);
    let entry = report.records.iter().find(|r| r.local_id == user).unwrap();
    assert_eq!(entry.repairs, [RepairKind::RestoreInHubSpot]);
    assert_eq!(entry.hubspot_id.as_deref(), Some(contact.as_str()));
    assert_eq!(
        h.contact_of(user).await,
        None,
        "unlinked from the gone contact"
    );
    assert_eq!(
        report.of(ObjectType::Contacts).found,
        1,
        "the waiting user is not drift: its customer's company is ({:?})",
        report.records
    );
    assert_eq!(
        report
            .kind(ObjectType::Companies, "MISSING_IN_HUBSPOT")
            .found,
        1
    );
}

#[tokio::test]
async fn a_contact_deleted_for_good_on_a_privacy_request_whose_webhook_was_lost_is_never_made_again()
 {
    let h = harness().await;
    let (customer, _) = h.create("Private Person").await;
    let forgotten = h
        .create_user(customer, "forget.me@drift.example", "Fay")
        .await;
    let deleted = h
        .create_user(customer, "deleted@drift.example", "Dan")
        .await;
    h.push_all().await;
    let forgotten_contact = h.contact_of(forgotten).await.expect("linked");
    let deleted_contact = h.contact_of(deleted).await.expect("linked");
    // The person's GDPR request deletes the contact for good; beside it a plain deletion,
    // which HubSpot keeps in its recycle bin. Both webhooks are lost.
    h.ui.gdpr_delete("contacts", &forgotten_contact).await;
    h.ui.delete("contacts", &deleted_contact).await;

    let dry = h.reconciler.run(None, true, None).await.unwrap();
    let purged = dry.kind(ObjectType::Contacts, "LINKED_CONTACT_PURGED");
    assert_eq!((purged.found, purged.fixed), (1, 0), "{:?}", dry.records);
    assert_eq!(
        dry.kind(ObjectType::Contacts, "LINKED_CONTACT_GONE").found,
        1,
        "a plain deletion stays a deletion: {:?}",
        dry.records
    );
    assert_eq!(
        h.contact_of(forgotten).await.as_deref(),
        Some(forgotten_contact.as_str()),
        "a dry run changes nothing"
    );

    let report = h.reconciler.run(None, false, None).await.unwrap();
    assert_eq!(report.errors, 0, "{:?}", report.error_reasons);
    let purged = report.kind(ObjectType::Contacts, "LINKED_CONTACT_PURGED");
    assert_eq!((purged.found, purged.fixed), (1, 1), "{:?}", report.records);
    let entry = report
        .records
        .iter()
        .find(|r| r.local_id == forgotten)
        .expect("the forgotten user is reported");
    assert_eq!(entry.kinds, ["LINKED_CONTACT_PURGED"]);
    assert_eq!(entry.repairs, [RepairKind::RecordPrivacyDeletion]);
    assert_eq!(
        entry.hubspot_id.as_deref(),
        Some(forgotten_contact.as_str())
    );
    assert_eq!(h.contact_of(forgotten).await, None, "unlinked");
    assert_eq!(
        h.database
            .scalar(&format!(
                "SELECT count(*) FROM hubspot_privacy_deletions \
                 WHERE local_id = '{forgotten}' AND hubspot_id = '{forgotten_contact}'"
            ))
            .await,
        1,
        "recorded as the lost webhook would have"
    );
    assert_eq!(
        report
            .records
            .iter()
            .find(|r| r.local_id == deleted)
            .expect("the deleted user's contact is reported")
            .repairs,
        [RepairKind::RestoreInHubSpot]
    );

    // Whatever is queued for the user now, the person's data does not go back to HubSpot.
    h.database
        .execute(&format!(
            "UPDATE users SET first_name = 'Faye', version = version + 1 WHERE id = '{forgotten}'; \
             INSERT INTO hubspot_sync_queue (portal_id, object_type, local_id, operation, local_version) \
             SELECT {PORTAL}, 'contacts', id, 'RESYNC', version FROM users WHERE id = '{forgotten}'"
        ))
        .await;
    h.push_all().await;
    assert_eq!(
        h.contacts_with_email("forget.me@drift.example").await,
        0,
        "no contact made again"
    );
    let settled = h.reconciler.run(None, true, None).await.unwrap();
    assert!(
        settled.records.iter().all(|r| r.local_id != forgotten),
        "the next run leaves the user alone: {:?}",
        settled.records
    );
}

#[tokio::test]
async fn records_a_person_unlinked_are_neither_missing_nor_recreated_by_a_reconciliation() {
    use warp_store::manual_links;
    let h = harness().await;
    let actor = warp_store::audit::Actor {
        subject: "ops@warp.example".into(),
        route: "DELETE /v1/customers/{id}/hubspot-link".into(),
        request_id: None,
    };
    let (unlinked_customer, ban) = h.create("Unlinked By A Person").await;
    let (customer, _) = h.create("Keeps Its Company").await;
    let user = h.create_user(customer, "held@drift.example", "Hal").await;
    h.push_all().await;
    let company = h.linked(unlinked_customer).await;
    let contact = h.contact_of(user).await.expect("linked");
    // As the unlink routes do: hold, clear the key in HubSpot, unlink.
    for (object_type, local_id, hubspot_id, key) in [
        (
            ObjectType::Companies,
            unlinked_customer,
            &company,
            "warp_ban",
        ),
        (ObjectType::Contacts, user, &contact, "warp_user_id"),
    ] {
        let (_, linked) = manual_links::hold_for_unlink(&h.database, PORTAL, object_type, local_id)
            .await
            .unwrap();
        assert_eq!(linked.map(|(linked, _)| linked).as_ref(), Some(hubspot_id));
        h.ui.update(
            object_type.as_str(),
            hubspot_id,
            serde_json::json!({ key: "" }),
        )
        .await;
        manual_links::unlink(
            &h.database,
            PORTAL,
            object_type,
            local_id,
            hubspot_id,
            &actor,
        )
        .await
        .unwrap();
    }

    let report = h.reconciler.run(None, false, None).await.unwrap();
    assert_eq!(report.errors, 0, "{:?}", report.error_reasons);
    assert_eq!(
        report.of(ObjectType::Companies).found,
        0,
        "{:?}",
        report.records
    );
    assert_eq!(
        report.of(ObjectType::Contacts).found,
        0,
        "{:?}",
        report.records
    );
    h.push_all().await;
    assert!(
        h.companies_with_ban(&ban).await.is_empty(),
        "no company made for the BAN"
    );
    assert_eq!(h.company_of(unlinked_customer).await, None);
    assert_eq!(h.contact_of(user).await, None);
    assert_eq!(
        h.contacts_with_email("held@drift.example").await,
        1,
        "no contact made"
    );

    // An import finds the old contact by the user's email, and leaves it to a person.
    let Some(warp_reconcile::ImportEnd::Finished(import)) = h
        .reconciler
        .import_now(
            warp_domain::import::ImportObject::Contacts,
            false,
            "test",
            None,
        )
        .await
        .unwrap()
    else {
        panic!("the import did not finish");
    };
    let items = warp_store::imports::items(&h.database, import.id, None, 100)
        .await
        .unwrap();
    assert!(
        items.iter().any(|item| item.hubspot_id == contact
            && item.outcome == "failed"
            && item.reason == manual_links::HELD_UNLINKED
            && item.candidates == [user]),
        "{items:?}"
    );
    assert_eq!(h.contact_of(user).await, None, "still unlinked");
}

#[tokio::test]
async fn the_relay_jobs_figures_count_each_push_failure_and_429_once_per_portal_and_object_type() {
    use warp_reconcile::metrics::figure_lines;
    use warp_store::sync_metrics::take;
    let h = harness().await;
    // The first take only sets the marks: what happened before is not counted as new.
    h.create("Before").await;
    h.push_all().await;
    let first = take(&h.database, MAX_ATTEMPTS).await.unwrap();
    assert!(
        first.by_object.values().all(|f| f.records_pushed == 0),
        "{first:?}"
    );

    let (customer, _) = h.create("Counted").await;
    h.create_user(customer, "counted@metrics.example", "Cy")
        .await;
    h.push_all().await;
    // A portal rule refuses the next company: one validation failure.
    let rule = reqwest::Client::new()
        .put(format!(
            "{}/_sandbox/validation-rules/companies",
            h.sandbox.base_url()
        ))
        .json(&serde_json::json!({"required": ["industry"]}))
        .send()
        .await
        .unwrap();
    assert!(rule.status().is_success());
    h.create("Refused").await;
    h.push_all().await;
    h.database
        .execute(&format!(
            "INSERT INTO hubspot_rate_limit_events (portal_id, bucket) VALUES ({PORTAL}, 'burst')"
        ))
        .await;
    h.database
        .execute("UPDATE hubspot_sync_queue SET status = 'DONE' WHERE status <> 'DONE'")
        .await;
    h.create("Waiting").await;

    // Counters lag one take (a row committing late below the mark is still counted): this take
    // sees the new rows, the next counts them.
    let seen = take(&h.database, MAX_ATTEMPTS).await.unwrap();
    assert!(
        seen.by_object.values().all(|f| f.records_pushed == 0),
        "{seen:?}"
    );
    let figures = take(&h.database, MAX_ATTEMPTS).await.unwrap();
    let companies = &figures.by_object[&(PORTAL, "companies".to_owned())];
    let contacts = &figures.by_object[&(PORTAL, "contacts".to_owned())];
    assert_eq!(
        (companies.records_pushed, companies.records_failed),
        (1, 1),
        "{figures:?}"
    );
    assert_eq!(contacts.records_pushed, 1, "{figures:?}");
    assert_eq!(figures.rate_limited[&PORTAL], 1);
    let lines: Vec<serde_json::Value> = figure_lines(&figures, 0)
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let refused = lines
        .iter()
        .find(|line| line.get("RecordsFailedByReason").is_some())
        .expect("a failure by reason");
    assert_eq!(refused["Reason"], "VALIDATION_ERROR", "{refused}");
    assert_eq!(refused["ObjectType"], "companies");
    assert_eq!(refused["RecordsFailedByReason"], 1.0);
    // The customer created last has not been pushed: its row waits.
    assert_eq!(companies.outbox_waiting, 1, "{figures:?}");
    assert!(companies.outbox_oldest_wait_seconds >= 0.0);

    // Counted once: the next take finds nothing new.
    let again = take(&h.database, MAX_ATTEMPTS).await.unwrap();
    assert!(
        again
            .by_object
            .values()
            .all(|f| f.records_pushed == 0 && f.records_failed == 0),
        "{again:?}"
    );
    assert!(again.rate_limited.is_empty());

    // A push logged by a transaction that commits after a later one (its id is lower) and
    // after a take: still counted, once.
    let log_row = format!(
        "INSERT INTO hubspot_sync_log (portal_id, object_type, direction, operation, status) \
         VALUES ({PORTAL}, 'contacts', 'OUTBOUND', 'UPDATE', 'SUCCESS')"
    );
    let mut late_client = h.database.client().await.unwrap();
    let late = late_client.transaction().await.unwrap();
    late.batch_execute(&log_row).await.unwrap();
    h.database.execute(&log_row).await;
    take(&h.database, MAX_ATTEMPTS).await.unwrap();
    late.commit().await.unwrap();
    let both = take(&h.database, MAX_ATTEMPTS).await.unwrap();
    assert_eq!(
        both.by_object[&(PORTAL, "contacts".to_owned())].records_pushed,
        2,
        "{both:?}"
    );
    let after = take(&h.database, MAX_ATTEMPTS).await.unwrap();
    assert!(
        after.by_object.values().all(|f| f.records_pushed == 0),
        "{after:?}"
    );
}

/// The workers' retry limit, as the relay job passes it.
const MAX_ATTEMPTS: i32 = 5;

#[tokio::test]
async fn with_a_read_only_credential_the_reconciler_reads_with_it_and_repairs_with_the_other() {
    let mut h = harness().await;
    let mut config = warp_testkit::hubspot::client_config(
        &h.sandbox,
        warp_testkit::hubspot::settings(100, 10_000),
    );
    config.token = secrecy::SecretString::from("sandbox-read-token");
    let reader = warp_testkit::hubspot::client(&config);
    // The sandbox refuses the read-only token's writes as HubSpot does.
    let refused = reader
        .companies()
        .create(&std::collections::BTreeMap::from([(
            "name".to_owned(),
            "Nope".to_owned(),
        )]))
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(403), "{refused}");
    h.reconciler.reader = reader;

    // Drift to find (a name edited while the webhook was lost) and a company to create.
    let (customer, _) = h.create("Read Split").await;
    h.push_all().await;
    let company = h.linked(customer).await;
    h.ui.update(
        "companies",
        &company,
        serde_json::json!({"warp_status": "SUSPENDED"}),
    )
    .await;
    h.create("Never Pushed").await;
    h.lose_pending_pushes().await;
    let before = h.sandbox.stats();

    let report = h.reconciler.run(None, false, None).await.unwrap();
    assert_eq!(report.errors, 0, "{:?}", report.error_reasons);
    assert!(report.drift_found >= 2, "{report:?}");
    let after = h.sandbox.stats();
    let by = |stats: &hubspot_sandbox::Stats, token: &str| {
        stats
            .requests_by_token
            .get(token)
            .copied()
            .unwrap_or_default()
    };
    assert!(
        by(&after, "read") > by(&before, "read"),
        "reads used the read token"
    );
    // And no read went through the main credential during the run.
    let app_reads = |stats: &hubspot_sandbox::Stats| -> u64 {
        stats
            .requests_by_route_and_token
            .iter()
            .filter(|(route, _)| {
                route.starts_with("app ")
                    && route.contains("/crm/objects/")
                    && (route.starts_with("app GET")
                        || route.ends_with("/search")
                        || route.ends_with("/batch/read"))
            })
            .map(|(_, n)| *n)
            .sum()
    };
    assert_eq!(
        app_reads(&after),
        app_reads(&before),
        "{:?}",
        after.requests_by_route_and_token
    );
    // Nothing the read-only token sent was a write (each would have been a 403 and an error).
    let writes_by_reader: u64 = after
        .requests_by_route_and_token
        .iter()
        .filter(|(route, _)| {
            route.starts_with("read ")
                && !route.starts_with("read GET")
                && !route.ends_with("/search")
                && !route.ends_with("/batch/read")
        })
        .map(|(route, n)| {
            n - before
                .requests_by_route_and_token
                .get(route)
                .copied()
                .unwrap_or_default()
        })
        .sum();
    assert_eq!(
        writes_by_reader, 0,
        "{:?}",
        after.requests_by_route_and_token
    );
    h.push_all().await;
    assert_eq!(
        h.company(&company).await["warp_status"],
        "ACTIVE",
        "the repair was written"
    );
}
