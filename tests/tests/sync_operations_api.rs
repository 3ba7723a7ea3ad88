//! The sync operations API through real Postgres and the HubSpot sandbox over HTTP: the status
//! dashboard, the sync log, the company search and linking an existing company.

mod sync_api_support;

use serde_json::{Value, json};
use std::collections::BTreeSet;
use sync_api_support::*;
use warp_tests::*;

async fn get_as(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn ok_json(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

async fn link(app: &TestApp, customer: &str, body: Value, token: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/customers/{customer}/hubspot-link")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn status_reports_the_outbox_webhooks_reconciliation_and_429s() {
    let app = spawn_app().await;
    let empty = ok_json(get_as(&app, "/v1/sync/status", &admin()).await).await;
    assert_eq!(
        empty["outbox"],
        json!({"pending": 0, "in_flight": 0, "done": 0, "failed": 0})
    );
    assert_eq!(empty["oldest_pending_age_seconds"], Value::Null);
    assert_eq!(empty["dlq_depth"], Value::Null);
    assert_eq!(empty["last_webhook_received_at"], Value::Null);
    assert_eq!(empty["last_reconciliation"], Value::Null);
    assert_eq!(empty["rate_limited_last_hour"], 0);

    // Four customer writes leave four PENDING rows; move them into every other state.
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(app.create(&acme()).await["id"].as_str().unwrap().to_owned());
    }
    app.execute(&format!(
        "UPDATE hubspot_sync_queue SET status = 'DONE' WHERE local_id = '{}';
         UPDATE hubspot_sync_queue SET status = 'FAILED' WHERE local_id = '{}';
         UPDATE hubspot_sync_queue SET status = 'IN_FLIGHT', created_at = now() - interval '90 seconds'
           WHERE local_id = '{}';
         UPDATE hubspot_sync_queue SET created_at = now() - interval '30 seconds' WHERE local_id = '{}';
         INSERT INTO hubspot_webhook_events (portal_id, event_id, subscription_type, object_id,
           occurred_at_ms, raw, received_at)
           VALUES (1, 1, 'company.creation', 7, 1, '{{}}', '2026-01-02T03:04:05Z'),
                  (1, 2, 'company.creation', 8, 1, '{{}}', '2026-01-01T00:00:00Z');
         INSERT INTO hubspot_reconciliation_runs (id, portal_id, status, dry_run, started_at, finished_at,
             customers_checked, companies_checked, drift_found, drift_fixed, errors, duration_ms)
           VALUES ('00000000-0000-7000-8000-000000000001', 1, 'succeeded', false,
                   now() - interval '2 days', now() - interval '2 days', 5, 5, 1, 1, 0, 10),
                  ('00000000-0000-7000-8000-000000000002', 1, 'failed', true,
                   now() - interval '1 hour', now() - interval '50 minutes', 12, 11, 3, 0, 2, 600000),
                  ('00000000-0000-7000-8000-000000000003', 1, 'running', false,
                   now() - interval '1 minute', NULL, 0, 0, 0, 0, 0, NULL);
         INSERT INTO hubspot_rate_limit_events (portal_id, bucket, policy_name, occurred_at)
           VALUES (1, 'default', 'TEN_SECONDLY_ROLLING', now() - interval '5 minutes'),
                  (1, 'search', NULL, now() - interval '59 minutes'),
                  (1, 'default', 'DAILY', now() - interval '2 hours');",
        ids[0], ids[1], ids[2], ids[3]
    ))
    .await;

    let status = ok_json(get_as(&app, "/v1/sync/status", &admin()).await).await;
    assert_eq!(
        status["outbox"],
        json!({"pending": 1, "in_flight": 1, "done": 1, "failed": 1})
    );
    // Every row here is a company's; contacts are counted apart.
    assert_eq!(
        status["outbox_by_object_type"],
        json!({
            "companies": {"pending": 1, "in_flight": 1, "done": 1, "failed": 1},
            "contacts": {"pending": 0, "in_flight": 0, "done": 0, "failed": 0},
        })
    );
    let age = status["oldest_pending_age_seconds"].as_i64().unwrap();
    assert!(
        (90..120).contains(&age),
        "the IN_FLIGHT row is oldest: {age}"
    );
    assert_eq!(status["dlq_depth"], Value::Null, "no DLQ configured");
    // The newest by id, not the newest time: received_at of the last stored event.
    assert_eq!(
        status["last_webhook_received_at"], "2026-01-01T00:00:00Z",
        "{status}"
    );
    let run = &status["last_reconciliation"];
    assert_eq!(run["id"], "00000000-0000-7000-8000-000000000002", "{run}");
    assert_eq!(run["status"], "failed");
    assert_eq!(run["dry_run"], true);
    assert_eq!(run["drift_found"], 3);
    assert_eq!(run["drift_fixed"], 0);
    assert_eq!(run["customers_checked"], 12);
    assert_eq!(run["errors"], 2);
    assert_eq!(status["rate_limited_last_hour"], 2);

    // Counts, never values: every role reads them; a customer's own token does not.
    for token in [editor(), viewer()] {
        let seen = ok_json(get_as(&app, "/v1/sync/status", &token).await).await;
        assert_eq!(seen["outbox"], status["outbox"]);
    }
    let scoped = scoped_token(&uuid::Uuid::nil().to_string(), &["admin"]);
    expect_problem(get_as(&app, "/v1/sync/status", &scoped).await, 403).await;
}

#[tokio::test]
async fn the_dlq_depth_comes_from_sqs_and_a_dead_sqs_only_blanks_it() {
    let moto = warp_runtime::testing::MotoServer::start().await;
    let sdk = warp_runtime::aws::sdk_config_for_endpoint(moto.url(), "us-east-1").await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue_url = sqs
        .create_queue()
        .queue_name("warp-outbox-dlq")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    for n in 0..3 {
        sqs.send_message()
            .queue_url(&queue_url)
            .message_body(n.to_string())
            .send()
            .await
            .unwrap();
    }
    let database = warp_testkit::fresh_database().await;
    let spawn = |queue: warp_api::sync_status::DeadLetterQueue| {
        let state = warp_api::ApiState::new(
            database.clone(),
            warp_api::AuthConfig::hs256(secrecy::SecretString::from(TEST_SECRET)),
            PORTAL,
        )
        .with_dead_letter_queue(queue);
        serve(warp_api::router(state))
    };
    let app = TestApp {
        address: spawn(warp_api::sync_status::DeadLetterQueue::new(
            sqs.clone(),
            queue_url.clone(),
        ))
        .await,
        client: reqwest::Client::new(),
        database: database.clone(),
    };
    let status = ok_json(get_as(&app, "/v1/sync/status", &admin()).await).await;
    assert_eq!(status["dlq_depth"], 3, "{status}");

    let dead_sdk =
        warp_runtime::aws::sdk_config_for_endpoint("http://127.0.0.1:1", "us-east-1").await;
    let dead = TestApp {
        address: spawn(warp_api::sync_status::DeadLetterQueue::new(
            aws_sdk_sqs::Client::new(&dead_sdk),
            queue_url,
        ))
        .await,
        client: reqwest::Client::new(),
        database,
    };
    let started = std::time::Instant::now();
    let status = ok_json(get_as(&dead, "/v1/sync/status", &admin()).await).await;
    assert_eq!(status["dlq_depth"], Value::Null);
    assert_eq!(status["outbox"]["pending"], 0);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn the_sync_log_filters_and_pages_newest_first() {
    let app = spawn_app().await;
    let first = app.create(&acme()).await["id"].as_str().unwrap().to_owned();
    let second = app.create(&acme()).await["id"].as_str().unwrap().to_owned();
    // 7 rows: (customer, direction, status), in insertion (id) order.
    let rows = [
        (&first, "OUTBOUND", "SUCCESS"),
        (&first, "INBOUND", "OVERRIDDEN"),
        (&second, "OUTBOUND", "FAILED"),
        (&first, "OUTBOUND", "FAILED"),
        (&second, "INBOUND", "SUCCESS"),
        (&second, "OUTBOUND", "SKIPPED"),
        (&first, "INBOUND", "CONFLICT"),
    ];
    for (customer, direction, status) in rows {
        app.execute(&format!(
            "INSERT INTO hubspot_sync_log (portal_id, object_type, local_id, direction, operation, status, \
               fields_synced, hubspot_id, error, completed_at) \
             VALUES ({PORTAL}, 'companies', '{customer}', '{direction}', 'UPDATE', '{status}', \
               '{{company_name,domain}}', '42', NULL, now())"
        ))
        .await;
    }

    async fn all_pages(app: &TestApp, filter: &str, limit: usize) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..20 {
            let mut path = format!("/v1/sync/logs?limit={limit}{filter}");
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let page = ok_json(get_as(app, &path, &admin()).await).await;
            let got = page["items"].as_array().unwrap();
            assert!(got.len() <= limit);
            items.extend(got.iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return items,
            }
        }
        panic!("paging did not end");
    }

    let everything = all_pages(&app, "", 2).await;
    let ids: Vec<i64> = everything
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 7);
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    assert_eq!(everything[0]["status"], "CONFLICT");
    assert_eq!(everything[0]["fields"], json!(["company_name", "domain"]));
    assert_eq!(everything[0]["hubspot_company_id"], "42");
    assert_eq!(everything[0]["customer_id"], first.as_str());

    let failed = all_pages(&app, "&status=failed", 1).await;
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().all(|e| e["status"] == "FAILED"));
    let inbound_first =
        all_pages(&app, &format!("&direction=INBOUND&customer_id={first}"), 5).await;
    let statuses: BTreeSet<&str> = inbound_first
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, BTreeSet::from(["CONFLICT", "OVERRIDDEN"]));
    let second_outbound = all_pages(
        &app,
        &format!("&direction=OUTBOUND&customer_id={second}&status=SKIPPED"),
        50,
    )
    .await;
    assert_eq!(second_outbound.len(), 1);

    // Every bad parameter is named, all at once.
    let problem = expect_problem(
        get_as(
            &app,
            "/v1/sync/logs?status=DONE&direction=UP&customer_id=nope&limit=201&cursor=%27%3B--",
            &admin(),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(
        problem_fields(&problem),
        ["cursor", "customer_id", "direction", "limit", "status"]
    );
    for path in ["/v1/sync/logs?limit=0", "/v1/sync/logs?limit=abc"] {
        let problem = expect_problem(get_as(&app, path, &admin()).await, 422).await;
        assert_eq!(problem_fields(&problem), ["limit"]);
    }
    expect_problem(get_as(&app, "/v1/sync/logs", &editor()).await, 403).await;
}

#[tokio::test]
async fn the_company_search_finds_by_text_and_ban_and_shows_links() {
    let s = spawn_sync_app().await;
    let customer = s.app.create(&acme()).await;
    let customer_id = customer["id"].as_str().unwrap().to_owned();
    let ban = customer["ban"].as_str().unwrap().to_owned();
    let globex = s
        .create_company(json!({"name": "Globex Corporation", "domain": "globex.example"}))
        .await;
    let initech = s
        .create_company(
            json!({"name": "Initech", "domain": "initech.example", "warp_ban": "QX-000000042"}),
        )
        .await;
    s.create_company(json!({"name": "Unrelated Ltd"})).await;

    let found = ok_json(
        get_as(
            &s.app,
            "/v1/sync/hubspot/companies/search?q=globex",
            &editor(),
        )
        .await,
    )
    .await;
    let items = found["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{found}");
    assert_eq!(items[0]["id"], globex.as_str());
    assert_eq!(items[0]["name"], "Globex Corporation");
    assert_eq!(items[0]["domain"], "globex.example");
    assert_eq!(items[0]["warp_ban"], Value::Null);
    assert_eq!(items[0]["linked_customer_id"], Value::Null);

    // A BAN (any case) matches warp_ban exactly, which HubSpot's text search does not cover.
    let by_ban = ok_json(
        get_as(
            &s.app,
            "/v1/sync/hubspot/companies/search?q=qx-000000042",
            &editor(),
        )
        .await,
    )
    .await;
    assert_eq!(by_ban["items"].as_array().unwrap().len(), 1, "{by_ban}");
    assert_eq!(by_ban["items"][0]["id"], initech.as_str());
    assert_eq!(by_ban["items"][0]["warp_ban"], "QX-000000042");

    let linked = link(
        &s.app,
        &customer_id,
        json!({"hubspot_company_id": globex}),
        &admin(),
    )
    .await;
    assert_eq!(linked.status(), 200);
    let found = ok_json(
        get_as(
            &s.app,
            "/v1/sync/hubspot/companies/search?q=globex.example",
            &editor(),
        )
        .await,
    )
    .await;
    assert_eq!(
        found["items"][0]["linked_customer_id"],
        customer_id.as_str()
    );
    assert_ne!(ban, "QX-000000042");

    let nothing = ok_json(
        get_as(
            &s.app,
            "/v1/sync/hubspot/companies/search?q=zzzz-nothing",
            &admin(),
        )
        .await,
    )
    .await;
    assert_eq!(nothing["items"], json!([]));
    assert_eq!(nothing["total"], 0);

    for (path, field) in [
        ("/v1/sync/hubspot/companies/search", "q"),
        ("/v1/sync/hubspot/companies/search?q=%20", "q"),
        ("/v1/sync/hubspot/companies/search?q=a&limit=51", "limit"),
    ] {
        let problem = expect_problem(get_as(&s.app, path, &editor()).await, 422).await;
        assert_eq!(problem_fields(&problem), [field], "{path}");
    }
    expect_problem(
        get_as(
            &s.app,
            "/v1/sync/hubspot/companies/search?q=globex",
            &viewer(),
        )
        .await,
        403,
    )
    .await;

    // HubSpot failing is a 502 problem, not a 500.
    s.sandbox.set_faults(hubspot_sandbox::Faults {
        rate_5xx: 1.0,
        ..Default::default()
    });
    let problem = expect_problem(
        get_as(
            &s.app,
            "/v1/sync/hubspot/companies/search?q=globex",
            &editor(),
        )
        .await,
        502,
    )
    .await;
    assert!(!problem["detail"].as_str().unwrap().contains("globex"));
}

#[tokio::test]
async fn without_hubspot_search_and_link_answer_503() {
    let app = spawn_app().await;
    let id = app.create(&acme()).await["id"].as_str().unwrap().to_owned();
    expect_problem(
        get_as(&app, "/v1/sync/hubspot/companies/search?q=acme", &editor()).await,
        503,
    )
    .await;
    expect_problem(
        link(&app, &id, json!({"hubspot_company_id": "1"}), &admin()).await,
        503,
    )
    .await;
    assert_eq!(app.scalar("SELECT count(*) FROM hubspot_sync_log").await, 0);
}

#[tokio::test]
async fn linking_checks_hubspot_refuses_clashes_and_pushes_the_ban() {
    let s = spawn_sync_app().await;
    let app = &s.app;
    let first = app.create(&acme()).await;
    let first_id = first["id"].as_str().unwrap().to_owned();
    let first_ban = first["ban"].as_str().unwrap().to_owned();
    let second_id = app.create(&acme()).await["id"].as_str().unwrap().to_owned();
    let company = s.create_company(json!({"name": "Acme in HubSpot"})).await;
    let other_company = s.create_company(json!({"name": "Another"})).await;

    let response = link(
        app,
        &first_id,
        json!({"hubspot_company_id": company}),
        &admin(),
    )
    .await;
    let linked = ok_json(response).await;
    assert_eq!(linked["customer_id"], first_id.as_str());
    assert_eq!(linked["ban"], first_ban.as_str());
    assert_eq!(linked["hubspot_company_id"], company.as_str());
    assert_eq!(linked["linked_now"], true);
    assert_eq!(linked["version"], 2);
    assert_eq!(
        app.scalar(&format!(
            "SELECT count(*) FROM audit_log WHERE action = 'link' AND entity_id = '{first_id}' \
             AND changes->'hubspot_company_id'->>'new' = '{company}'"
        ))
        .await,
        1,
        "the link is audited"
    );
    let outbox_id = linked["outbox_id"].as_i64().unwrap();

    let customer: Value = app
        .get(&format!("/v1/customers/{first_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        customer["external_ids"]["hubspot_company_id"],
        company.as_str()
    );
    assert_eq!(
        app.scalar(&format!(
            "SELECT count(*) FROM hubspot_sync_queue WHERE id = {outbox_id} AND operation = 'RESYNC' \
             AND status = 'PENDING' AND local_id = '{first_id}' AND portal_id = {PORTAL}"
        ))
        .await,
        1
    );
    assert_eq!(
        app.scalar(&format!(
            "SELECT count(*) FROM hubspot_sync_log WHERE queue_id = {outbox_id} AND operation = 'LINK' \
             AND direction = 'INBOUND' AND status = 'SUCCESS' AND hubspot_id = '{company}'"
        ))
        .await,
        1
    );
    let logs = ok_json(
        get_as(
            app,
            &format!("/v1/sync/logs?customer_id={first_id}"),
            &admin(),
        )
        .await,
    )
    .await;
    assert_eq!(logs["items"][0]["operation"], "LINK");

    // The queued full push gives the linked company WARP's BAN and values.
    let worker = s.outbound_worker().await;
    let report = worker.process(&[outbox_id]).await;
    assert_eq!(report.succeeded, [outbox_id], "{report:?}");
    let in_hubspot = s.company(&company).await;
    assert_eq!(
        in_hubspot["properties"]["warp_ban"],
        first_ban.as_str(),
        "{in_hubspot}"
    );
    assert_eq!(in_hubspot["properties"]["name"], "Acme Telecom");
    assert_eq!(in_hubspot["properties"]["warp_customer_type"], "POSTPAID");
    // The push updated the linked company rather than creating a second one.
    let linked_after: Value = app
        .get(&format!("/v1/customers/{first_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        linked_after["external_ids"]["hubspot_company_id"],
        company.as_str()
    );
    assert_eq!(s.sandbox.stats().companies, 2, "no company was added");

    // Linking again to the same company changes nothing and queues nothing.
    let rows_before = app.scalar("SELECT count(*) FROM hubspot_sync_queue").await;
    let again = ok_json(
        link(
            app,
            &first_id,
            json!({"hubspot_company_id": company}),
            &admin(),
        )
        .await,
    )
    .await;
    assert_eq!(again["linked_now"], false);
    assert_eq!(again["outbox_id"], Value::Null);
    assert_eq!(again["version"], 2);
    assert_eq!(
        app.scalar("SELECT count(*) FROM hubspot_sync_queue").await,
        rows_before
    );

    // The company is taken; the customer is taken.
    let taken = expect_problem(
        link(
            app,
            &second_id,
            json!({"hubspot_company_id": company}),
            &admin(),
        )
        .await,
        409,
    )
    .await;
    assert!(
        taken["detail"].as_str().unwrap().contains(&first_id),
        "{taken}"
    );
    expect_problem(
        link(
            app,
            &first_id,
            json!({"hubspot_company_id": other_company}),
            &admin(),
        )
        .await,
        409,
    )
    .await;
    // A company carrying another customer's BAN is refused (its warp_ban would be overwritten).
    let foreign = s
        .create_company(json!({"name": "Foreign", "warp_ban": "QQ-123456789"}))
        .await;
    expect_problem(
        link(
            app,
            &second_id,
            json!({"hubspot_company_id": foreign}),
            &admin(),
        )
        .await,
        409,
    )
    .await;
    // No such company in HubSpot.
    let missing = expect_problem(
        link(
            app,
            &second_id,
            json!({"hubspot_company_id": "987654321"}),
            &admin(),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(problem_fields(&missing), ["hubspot_company_id"]);
    // Bad bodies and ids.
    for body in [
        json!({}),
        json!({"hubspot_company_id": "x1"}),
        json!({"hubspot_company_id": 5}),
        json!({"hubspot_company_id": "1", "extra": true}),
    ] {
        expect_problem(link(app, &second_id, body.clone(), &admin()).await, 422).await;
    }
    let not_json = app
        .client
        .post(app.url(&format!("/v1/customers/{second_id}/hubspot-link")))
        .bearer_auth(admin())
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_problem(not_json, 400).await;
    expect_problem(
        link(
            app,
            "00000000-0000-7000-8000-00000000abcd",
            json!({"hubspot_company_id": other_company}),
            &admin(),
        )
        .await,
        404,
    )
    .await;
    expect_problem(
        link(
            app,
            "not-a-uuid",
            json!({"hubspot_company_id": other_company}),
            &admin(),
        )
        .await,
        404,
    )
    .await;
    expect_problem(
        link(
            app,
            &second_id,
            json!({"hubspot_company_id": other_company}),
            &editor(),
        )
        .await,
        403,
    )
    .await;
    // A deleted customer cannot be linked.
    let deleted = app
        .client
        .delete(app.url(&format!("/v1/customers/{second_id}")))
        .bearer_auth(editor())
        .header("if-match", "*")
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());
    expect_problem(
        link(
            app,
            &second_id,
            json!({"hubspot_company_id": other_company}),
            &admin(),
        )
        .await,
        409,
    )
    .await;
    // None of the refusals linked anything.
    assert_eq!(
        app.scalar("SELECT count(*) FROM customers WHERE external_ids ? 'hubspot_company_id'")
            .await,
        1
    );
    assert_eq!(
        app.scalar("SELECT count(*) FROM hubspot_sync_log WHERE operation = 'LINK'")
            .await,
        1
    );
}
