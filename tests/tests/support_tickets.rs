//! Automatic support tickets in (issue 21) through the router and real Postgres: an alert
//! opens a ticket or joins the open one of its trigger, customer and trunk; faults are named;
//! who may raise and read; a customer's own token reads its own tickets only.

use serde_json::{Value, json};
use warp_tests::*;

fn ingest() -> String {
    token_for("monitoring", &["ingest"])
}

async fn raise(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/v1/support/tickets"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn accepted(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 202, "{body}");
    body
}

fn seed_example(customer_id: &str) -> Value {
    json!({"trigger": "asr_below_threshold", "customer_id": customer_id,
           "data": {"trunk_id": "trunk_456", "current_asr": 0.35, "threshold": 0.50,
                    "period": "last_hour"}})
}

async fn get_as(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_alert_opens_a_ticket_and_its_repeats_join_it_until_it_closes() {
    let app = spawn_app().await;
    let customer = app.create(&acme()).await;
    let customer_id = customer["id"].as_str().unwrap();

    let opened = accepted(raise(&app, &ingest(), &seed_example(customer_id)).await).await;
    assert_eq!(opened["outcome"], "opened");
    let ticket = &opened["ticket"];
    assert_eq!(ticket["trigger"], "asr_below_threshold");
    assert_eq!(ticket["trunk_id"], "trunk_456");
    assert_eq!(ticket["severity"], "high", "the known trigger's default");
    assert_eq!(ticket["issue_type"], "voice");
    assert_eq!(ticket["subject"], "Low ASR · trunk trunk_456");
    assert_eq!(ticket["state"], "open");
    assert_eq!(ticket["alerts"], 1);
    assert_eq!(ticket["alerts_pending"], 1);
    assert_eq!(ticket["hubspot"], Value::Null, "not in HubSpot yet");
    let opened_at: chrono::DateTime<chrono::Utc> =
        ticket["opened_at"].as_str().unwrap().parse().unwrap();
    let breach: chrono::DateTime<chrono::Utc> =
        ticket["sla_breach_at"].as_str().unwrap().parse().unwrap();
    assert_eq!((breach - opened_at).num_hours(), 4, "high: four hours");

    // A person raises the same problem, worse: it joins the open ticket and escalates it.
    let mut worse = seed_example(customer_id);
    worse["severity"] = json!("critical");
    let noted = accepted(raise(&app, &editor(), &worse).await).await;
    assert_eq!(noted["outcome"], "noted");
    assert_eq!(noted["ticket"]["id"], ticket["id"]);
    assert_eq!(noted["ticket"]["alerts"], 2);
    assert_eq!(noted["ticket"]["severity"], "critical");
    let breach_now: chrono::DateTime<chrono::Utc> = noted["ticket"]["sla_breach_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(breach_now < breach, "the SLA breach came closer");

    // Another trunk, or no trunk, is another ticket.
    let mut other = seed_example(customer_id);
    other["data"]["trunk_id"] = json!("trunk_789");
    assert_eq!(
        accepted(raise(&app, &ingest(), &other).await).await["outcome"],
        "opened"
    );
    let no_trunk = json!({"trigger": "payment_failed", "customer_id": customer_id});
    let billing = accepted(raise(&app, &ingest(), &no_trunk).await).await;
    assert_eq!(billing["ticket"]["trunk_id"], Value::Null);
    assert_eq!(billing["ticket"]["issue_type"], "billing");

    // Closed in HubSpot (as the desk records it): the next alert opens a new ticket.
    app.execute(&format!(
        "UPDATE support_tickets SET state = 'closed', closed_at = now() WHERE id = '{}'",
        ticket["id"].as_str().unwrap()
    ))
    .await;
    let reopened = accepted(raise(&app, &ingest(), &seed_example(customer_id)).await).await;
    assert_eq!(reopened["outcome"], "opened");
    assert_ne!(reopened["ticket"]["id"], ticket["id"]);

    let list: Value = get_as(
        &app,
        &viewer(),
        &format!("/v1/support/tickets?customer_id={customer_id}&state=open"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(list["total"], 3, "{list}");
    let closed: Value = get_as(&app, &viewer(), "/v1/support/tickets?state=closed")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(closed["total"], 1);
    assert_eq!(closed["items"][0]["id"], ticket["id"]);
    let by_trigger: Value = get_as(
        &app,
        &ingest(),
        "/v1/support/tickets?trigger=payment_failed",
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(by_trigger["total"], 1);
    let one = get_as(
        &app,
        &viewer(),
        &format!("/v1/support/tickets/{}", ticket["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(one.status(), 200);
    let one: Value = one.json().await.unwrap();
    assert_eq!(
        (one["state"].clone(), one["alerts"].clone()),
        (json!("closed"), json!(2))
    );
}

#[tokio::test]
async fn every_fault_is_named_and_nothing_is_stored() {
    let app = spawn_app().await;
    let customer = app.create(&acme()).await;
    let customer_id = customer["id"].as_str().unwrap();
    let bad = json!({"trigger": "Low ASR", "customer_id": customer_id, "severity": "urgent",
                     "trunk_id": "t-1", "data": {"trunk_id": "t-2"}, "extra": true});
    let problem = expect_problem(raise(&app, &ingest(), &bad).await, 422).await;
    let mut fields = problem_fields(&problem);
    fields.sort();
    assert_eq!(fields, ["data.trunk_id", "extra", "severity", "trigger"]);
    let unknown_trigger = json!({"trigger": "carrier_blocked", "customer_id": customer_id});
    let problem = expect_problem(raise(&app, &ingest(), &unknown_trigger).await, 422).await;
    assert_eq!(problem_fields(&problem), ["issue_type"]);
    let nobody = seed_example("0192f0c4-1d2e-7a3b-8c4d-5e6f708192a3");
    let problem = expect_problem(raise(&app, &ingest(), &nobody).await, 422).await;
    assert_eq!(problem_fields(&problem), ["customer_id"]);
    expect_problem(
        app.client
            .post(app.url("/v1/support/tickets"))
            .bearer_auth(ingest())
            .header("content-type", "application/json")
            .body("{\"trigger\":")
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    let problem = expect_problem(
        get_as(&app, &viewer(), "/v1/support/tickets?state=pending&limit=0").await,
        422,
    )
    .await;
    let mut fields = problem_fields(&problem);
    fields.sort();
    assert_eq!(fields, ["limit", "state"]);
    assert_eq!(app.scalar("SELECT count(*) FROM support_tickets").await, 0);
    assert_eq!(app.scalar("SELECT count(*) FROM ticket_alerts").await, 0);
}

#[tokio::test]
async fn viewers_read_but_cannot_raise_and_a_customer_reads_its_own_tickets_only() {
    let app = spawn_app().await;
    let acme_id = app.create(&acme()).await["id"].as_str().unwrap().to_owned();
    let globex_id = app
        .create(&json!({"company_name": "Globex", "customer_type": "PREPAID"}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    expect_problem(raise(&app, &viewer(), &seed_example(&acme_id)).await, 403).await;
    let acme_ticket = accepted(raise(&app, &ingest(), &seed_example(&acme_id)).await).await;
    let globex_ticket = accepted(raise(&app, &ingest(), &seed_example(&globex_id)).await).await;
    let own = scoped_token(&acme_id, &["viewer"]);
    expect_problem(raise(&app, &own, &seed_example(&acme_id)).await, 403).await;

    let mine: Value = get_as(&app, &own, "/v1/support/tickets")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["total"], 1);
    assert_eq!(mine["items"][0]["id"], acme_ticket["ticket"]["id"]);
    expect_problem(
        get_as(
            &app,
            &own,
            &format!("/v1/support/tickets?customer_id={globex_id}"),
        )
        .await,
        403,
    )
    .await;
    expect_problem(
        get_as(
            &app,
            &own,
            &format!(
                "/v1/support/tickets/{}",
                globex_ticket["ticket"]["id"].as_str().unwrap()
            ),
        )
        .await,
        404,
    )
    .await;
    let read = get_as(
        &app,
        &own,
        &format!(
            "/v1/support/tickets/{}",
            acme_ticket["ticket"]["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(read.status(), 200);
    expect_problem(app.get("/v1/support/tickets/not-a-ticket").await, 404).await;
    let nobody = app
        .client
        .get(app.url("/v1/support/tickets"))
        .send()
        .await
        .unwrap();
    assert_eq!(nobody.status(), 401);
}
