//! The field mapping as data, through the API, real Postgres, the outbound worker and the
//! HubSpot sandbox over HTTP: reading it, changes refused with the member at fault (checked
//! against HubSpot's own property list), and a stored change that the worker follows.

mod sync_api_support;

use serde_json::{Value, json};
use sync_api_support::*;
use warp_hubspot::{FieldType, PropertyType};
use warp_tests::*;

const COMPANIES: &str = "/v1/sync/mappings/companies";

fn field_path(field: &str) -> String {
    format!("{COMPANIES}/fields/{field}")
}

async fn put(app: &TestApp, path: &str, body: &Value, token: &str) -> reqwest::Response {
    app.client
        .put(app.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn mapping(app: &TestApp, path: &str) -> Value {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn field<'a>(mapping: &'a Value, name: &str) -> &'a Value {
    mapping["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["warp_field"] == name)
        .unwrap_or_else(|| panic!("{name} in {mapping}"))
}

fn change(property: &str, direction: &str, rule: &str) -> Value {
    json!({
        "hubspot_property": property,
        "direction": direction,
        "conflict_rule": rule,
        "enabled": true,
        "never_overwrite_with_empty": false,
    })
}

/// A refused change: 422 naming `member`, with `detail_part` in the member's message.
async fn refused(app: &TestApp, path: &str, body: &Value, member: &str, detail_part: &str) {
    let problem = expect_problem(put(app, path, body, &admin()).await, 422).await;
    assert_eq!(problem_fields(&problem), [member], "{problem}");
    let message = problem["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains(detail_part), "{message}");
}

#[tokio::test]
async fn the_mapping_is_read_from_the_table_and_bad_changes_are_refused_by_member() {
    let s = spawn_sync_app().await;
    let app = &s.app;
    let before = mapping(app, COMPANIES).await;
    assert_eq!(before["object_type"], "companies");
    assert_eq!(before["portal_id"], PORTAL);
    assert_eq!(before["fields"].as_array().unwrap().len(), 12);
    assert_eq!(field(&before, "company_name")["hubspot_property"], "name");
    assert_eq!(field(&before, "company_name")["source"], "default");
    let contacts = mapping(app, "/v1/sync/mappings/contacts").await;
    assert_eq!(field(&contacts, "email")["direction"], "WARP_TO_HUBSPOT");
    expect_problem(app.get("/v1/sync/mappings/widgets").await, 404).await;

    let domain = field_path("domain");
    let fine = change("domain", "BOTH", "HUBSPOT_WINS");
    expect_problem(put(app, &domain, &fine, &editor()).await, 403).await;

    let refusals = [
        (
            domain.clone(),
            change("no_such_property", "BOTH", "LATEST_WINS"),
            "hubspot_property",
            "HubSpot has no property",
        ),
        (
            domain.clone(),
            change("bad name!", "BOTH", "LATEST_WINS"),
            "hubspot_property",
            "not a HubSpot internal property name",
        ),
        (
            field_path("company_name"),
            change("createdate", "BOTH", "LATEST_WINS"),
            "hubspot_property",
            "cannot hold company_name",
        ),
        (
            field_path("credit_limit"),
            change("hs_object_id", "BOTH", "HUBSPOT_WINS"),
            "hubspot_property",
            "read-only",
        ),
        (
            field_path("customer_type"),
            change("type", "WARP_TO_HUBSPOT", "WARP_WINS"),
            "hubspot_property",
            "PREPAID",
        ),
        (
            domain.clone(),
            change("name", "BOTH", "LATEST_WINS"),
            "hubspot_property",
            "mapped to both",
        ),
        (
            domain.clone(),
            change("domain", "WARP_TO_HUBSPOT", "HUBSPOT_WINS"),
            "conflict_rule",
            "contradicts",
        ),
        (
            field_path("ban"),
            change("warp_ban", "BOTH", "WARP_WINS"),
            "warp_field",
            "key",
        ),
    ];
    for (path, body, member, detail_part) in &refusals {
        refused(app, path, body, member, detail_part).await;
    }
    let problem = expect_problem(
        put(
            app,
            &domain,
            &json!({"hubspot_property": "domain"}),
            &admin(),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(
        problem_fields(&problem),
        [
            "conflict_rule",
            "direction",
            "enabled",
            "never_overwrite_with_empty"
        ],
        "{problem}"
    );
    refused(app, &domain, &json!({"direction": "SIDEWAYS", "hubspot_property": "domain", "conflict_rule": "WARP_WINS", "enabled": true, "never_overwrite_with_empty": false}), "direction", "must be one of").await;
    let mut extra = fine.clone();
    extra["value"] = json!("x");
    refused(app, &domain, &extra, "value", "not a known member").await;
    // A WARP login email is never written from HubSpot.
    refused(
        app,
        "/v1/sync/mappings/contacts/fields/email",
        &change("email", "BOTH", "LATEST_WINS"),
        "direction",
        "WARP login",
    )
    .await;
    // A customer field is not a contact field, and the reverse.
    expect_problem(
        put(
            app,
            "/v1/sync/mappings/contacts/fields/domain",
            &fine,
            &admin(),
        )
        .await,
        404,
    )
    .await;
    expect_problem(
        put(app, &field_path("nickname"), &fine, &admin()).await,
        404,
    )
    .await;

    // Nothing refused was stored, and nothing was queued.
    assert_eq!(mapping(app, COMPANIES).await["fields"], before["fields"]);
    assert_eq!(
        app.scalar("SELECT count(*) FROM hubspot_sync_queue").await,
        0
    );
    assert_eq!(
        app.scalar("SELECT count(*) FROM hubspot_reconciliation_runs")
            .await,
        0
    );
}

#[tokio::test]
async fn a_changed_mapping_is_pushed_to_the_new_property_for_every_linked_customer() {
    let s = spawn_sync_app().await;
    let app = &s.app;
    s.create_company_property(
        "billing_contact_email",
        "Billing contact email",
        PropertyType::String,
        FieldType::Text,
    )
    .await;
    let worker = s.outbound_worker().await;
    let mut companies = Vec::new();
    for (n, email) in ["ap@acme.test", "billing@beta.test"]
        .into_iter()
        .enumerate()
    {
        let created = app
            .create(&json!({
                "company_name": format!("Mapped {n}"),
                "customer_type": "POSTPAID",
                "contact": {"email": email},
            }))
            .await;
        worker.process_due(10).await.unwrap();
        let linked = app.customer(created["id"].as_str().unwrap()).await;
        let company = linked["external_ids"]["hubspot_company_id"]
            .as_str()
            .expect("linked")
            .to_owned();
        companies.push((company, email));
    }
    // An unlinked, deleted customer is not resynced.
    let gone = app
        .create(&json!({"company_name": "Gone", "customer_type": "PREPAID"}))
        .await;
    app.execute(&format!(
        "UPDATE customers SET deleted_at = now() WHERE id = '{}'",
        gone["id"].as_str().unwrap()
    ))
    .await;
    app.execute("UPDATE hubspot_sync_queue SET status = 'DONE'")
        .await;

    let path = field_path("contact.email");
    let body = change("billing_contact_email", "WARP_TO_HUBSPOT", "WARP_WINS");
    // A dry run checks the change against HubSpot and counts what saving would queue, and
    // keeps nothing.
    let checked = put(
        app,
        &format!("{path}?dry_run=true"),
        &body,
        &token_for("ops-anna", &["admin"]),
    )
    .await;
    assert_eq!(checked.status(), 200);
    let checked: Value = checked.json().await.unwrap();
    assert_eq!(checked["dry_run"], true, "{checked}");
    assert_eq!(checked["changed"], true, "{checked}");
    assert_eq!(checked["resync_queued"], 2, "{checked}");
    assert_eq!(checked["reconciliation_needed"], false, "{checked}");
    assert_eq!(
        app.scalar("SELECT count(*) FROM hubspot_sync_queue WHERE status <> 'DONE'")
            .await,
        0
    );
    assert_eq!(
        app.scalar("SELECT count(*) FROM hubspot_sync_config WHERE portal_id <> 0")
            .await,
        0
    );
    let refused_dry = put(
        app,
        &format!("{path}?dry_run=true"),
        &change("no_such_property", "WARP_TO_HUBSPOT", "WARP_WINS"),
        &token_for("ops-anna", &["admin"]),
    )
    .await;
    let fields = problem_fields(&expect_problem(refused_dry, 422).await);
    assert_eq!(fields, ["hubspot_property"]);
    let answer = put(app, &path, &body, &token_for("ops-anna", &["admin"])).await;
    assert_eq!(answer.status(), 200);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(answer["changed"], true, "{answer}");
    assert_eq!(answer["resync_queued"], 2, "{answer}");
    assert_eq!(answer["dry_run"], false, "{answer}");
    assert!(answer["reconciliation_id"].is_null(), "{answer}");
    assert_eq!(answer["field"]["source"], "portal");
    assert_eq!(answer["field"]["updated_by"], "ops-anna");

    let report = worker.process_due(10).await.unwrap();
    assert_eq!(report.failed, [], "{report:?}");
    for (company, email) in &companies {
        let read =
            s.ui.read(
                "companies",
                company,
                &[("properties", "billing_contact_email")],
            )
            .await;
        assert_eq!(
            read["properties"]["billing_contact_email"], *email,
            "{read}"
        );
    }

    // The same change again changes and queues nothing.
    let again: Value = put(app, &path, &body, &admin()).await.json().await.unwrap();
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(again["resync_queued"], 0);
    assert_eq!(
        app.scalar("SELECT count(*) FROM hubspot_sync_queue WHERE status <> 'DONE'")
            .await,
        0
    );

    // Letting HubSpot write a field queues a reconciliation under the new rules.
    let inbound = change("warp_current_balance", "BOTH", "HUBSPOT_WINS");
    let answer: Value = put(app, &field_path("current_balance"), &inbound, &admin())
        .await
        .json()
        .await
        .unwrap();
    let run = answer["reconciliation_id"]
        .as_str()
        .expect("a run")
        .to_owned();
    let queued: Value = app
        .client
        .get(app.url(&format!("/v1/sync/reconciliations/{run}")))
        .bearer_auth(admin())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(queued["queued"], true, "{queued}");
    let now = mapping(app, COMPANIES).await;
    assert_eq!(field(&now, "current_balance")["direction"], "BOTH");
    assert_eq!(field(&now, "company_name")["source"], "default");
}

#[tokio::test]
async fn a_contact_mapping_change_is_checked_against_hubspots_contact_properties_and_resyncs_linked_users()
 {
    let s = spawn_sync_app().await;
    let app = &s.app;
    let customer = app.create(&acme()).await;
    let customer_id = customer["id"].as_str().unwrap();
    let response = app
        .client
        .post(app.url(&format!("/v1/customers/{customer_id}/users")))
        .bearer_auth(editor())
        .json(&json!({"email": "ada@acme.example", "job_title": "CTO", "role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let worker = s.outbound_worker().await;
    assert!(worker.process_due(100).await.unwrap().failed.is_empty());

    // `warp_role` is an option property: the job title's text does not fit it; a property
    // only companies have does not exist on contacts.
    let job_title = "/v1/sync/mappings/contacts/fields/job_title";
    refused(
        app,
        job_title,
        &change("warp_role", "WARP_TO_HUBSPOT", "WARP_WINS"),
        "hubspot_property",
        "warp_role",
    )
    .await;
    refused(
        app,
        job_title,
        &change("warp_ban", "WARP_TO_HUBSPOT", "WARP_WINS"),
        "hubspot_property",
        "no property",
    )
    .await;

    // One way now: stored, and the linked user's contact is queued for a full push.
    let response = put(
        app,
        job_title,
        &change("jobtitle", "WARP_TO_HUBSPOT", "WARP_WINS"),
        &admin(),
    )
    .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["field"]["direction"], "WARP_TO_HUBSPOT", "{body}");
    assert_eq!(body["resync_queued"], 1, "{body}");
    let contacts = mapping(app, "/v1/sync/mappings/contacts").await;
    assert_eq!(field(&contacts, "job_title")["conflict_rule"], "WARP_WINS");
    assert_eq!(
        app.scalar(
            "SELECT count(*) FROM hubspot_sync_queue WHERE object_type = 'contacts' \
             AND operation = 'RESYNC' AND status = 'PENDING'"
        )
        .await,
        1
    );
    let report = worker.process_due(100).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.succeeded.len(), 1);
}
