//! A scan of everything logged during a realistic flow (DESIGN §4.7): customers written,
//! searched, refused, linked to a HubSpot company, pushed to HubSpot by the outbound worker,
//! a conflict resolved, HubSpot failing, bad tokens. The logs are production's JSON format at
//! TRACE for every crate but the sandbox (it stands in for HubSpot and is not ours), and must
//! name no customer value, token or secret.

mod sync_api_support;

use serde_json::{Value, json};
use std::io::Write;
use std::sync::{Arc, Mutex};
use sync_api_support::*;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;
use warp_tests::*;

/// Collects everything logged.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

const NAME: &str = "Quillfeather Marmalade Logistics";
const RENAMED: &str = "Vexborough Tangerine Freight";
const EMAIL: &str = "ledger@quillfeather-marmalade.example";
const PHONE: &str = "+14155550173";
const PERSON: &str = "Ottoline Brackenridge";
const STREET: &str = "17 Juniper Wharf Lane";
const DOMAIN: &str = "quillfeather-marmalade.example";
const CONFLICT_VALUE: &str = "Halcyon Persimmon Traders";

// A current-thread runtime: the server's, the client's and the worker's tasks all run on this
// thread, under this subscriber.
#[tokio::test(flavor = "current_thread")]
async fn a_realistic_flow_logs_no_customer_values_tokens_or_secrets() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new(
            "trace,hubspot_sandbox=off",
        ))
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_writer(captured.clone()),
        );
    let _guard = tracing::subscriber::set_default(subscriber);

    let s = spawn_sync_app().await;
    let app = &s.app;
    let (admin, editor) = (admin(), editor());
    let body = json!({
        "company_name": NAME,
        "customer_type": "RESELLER",
        "domain": DOMAIN,
        "contact": {"name": PERSON, "email": EMAIL, "phone": PHONE},
        "address": {"line1": STREET, "city": "Lisbon", "country": "PT"},
    });
    let created = app
        .client
        .post(app.url("/v1/customers"))
        .bearer_auth(&editor)
        .header("x-request-id", "log-scan-create")
        .header("idempotency-key", "log-scan-key-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let ban = created["ban"].as_str().unwrap().to_owned();

    // Reads, a search by name, a rename, refusals that quote nothing back.
    assert_eq!(app.get(&format!("/v1/customers/{id}")).await.status(), 200);
    assert_eq!(
        app.get(&format!("/v1/customers/by-ban/{ban}"))
            .await
            .status(),
        200
    );
    let listed = app
        .client
        .get(app.url("/v1/customers"))
        .bearer_auth(viewer())
        .query(&[("q", NAME)])
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    assert_eq!(
        app.patch(&id, &json!({"company_name": RENAMED}), Some("*"))
            .await
            .status(),
        200
    );
    let refused = app
        .post_customer(&json!({"company_name": NAME, "customer_type": "PREPAID",
                               "contact": {"email": format!("not an email {EMAIL}")}}))
        .await;
    assert_eq!(refused.status(), 422);

    // HubSpot: search, link (the BAN is stamped), the worker's full push.
    let company = s
        .create_company(json!({"name": NAME, "domain": DOMAIN}))
        .await;
    let searched = app
        .client
        .get(app.url("/v1/sync/hubspot/companies/search"))
        .bearer_auth(&editor)
        .query(&[("q", NAME)])
        .send()
        .await
        .unwrap();
    assert_eq!(searched.status(), 200);
    let linked: Value = app
        .client
        .post(app.url(&format!("/v1/customers/{id}/hubspot-link")))
        .bearer_auth(&admin)
        .json(&json!({"hubspot_company_id": company}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(linked["linked_now"], true, "{linked}");
    let worker = s.outbound_worker().await;
    let report = worker.process_due(100).await.unwrap();
    assert!(!report.succeeded.is_empty(), "{report:?}");
    assert_eq!(
        s.company(&company).await["properties"]["warp_ban"],
        ban.as_str()
    );

    // A conflict resolved with a chosen value, then the operator's views.
    open_conflict(
        app,
        "00000000-0000-7000-8000-0000000001a5",
        &id,
        RENAMED,
        NAME,
    )
    .await;
    let resolved = app
        .client
        .post(app.url("/v1/sync/conflicts/00000000-0000-7000-8000-0000000001a5/resolve"))
        .bearer_auth(&admin)
        .json(&json!({"value": CONFLICT_VALUE}))
        .send()
        .await
        .unwrap();
    assert_eq!(resolved.status(), 200);
    for path in ["/v1/sync/status", "/v1/sync/logs", "/v1/sync/conflicts"] {
        let response = app
            .client
            .get(app.url(path))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }

    // HubSpot failing, and tokens that are refused.
    s.sandbox.set_faults(hubspot_sandbox::Faults {
        rate_5xx: 1.0,
        ..Default::default()
    });
    let failed = app
        .client
        .get(app.url("/v1/sync/hubspot/companies/search"))
        .bearer_auth(&editor)
        .query(&[("q", RENAMED)])
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 502);
    let forged = format!("{}x", &admin[..admin.len() - 1]);
    for token in [forged.as_str(), "Zm9yZ2VkLXRva2VuLXF1aWxsZmVhdGhlcg"] {
        let response = app
            .client
            .get(app.url("/v1/customers"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    assert_eq!(
        app.client
            .get(app.url("/v1/sync/logs"))
            .bearer_auth(&editor)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = logs.lines().collect();
    assert!(lines.len() > 50, "too little was logged to mean anything");
    for line in &lines {
        serde_json::from_str::<Value>(line)
            .unwrap_or_else(|_| panic!("not a JSON log line: {line}"));
    }
    // The logs do say what happened: ids, field names, outcomes.
    for expected in [
        "log-scan-create",
        id.as_str(),
        company.as_str(),
        "contact.email",
        "customer linked to a HubSpot company",
        "outbound batch pushed",
        "HubSpot call failed",
        // Requests are logged by route template: paths carry BANs.
        "/v1/customers/by-ban/{ban}",
    ] {
        assert!(
            logs.contains(expected),
            "{expected:?} is missing from the logs"
        );
    }
    let lowered = logs.to_lowercase();
    for secret in [
        NAME,
        RENAMED,
        EMAIL,
        PHONE,
        PERSON,
        STREET,
        DOMAIN,
        CONFLICT_VALUE,
        "quillfeather",
        "4155550173",
        admin.as_str(),
        editor.as_str(),
        forged.as_str(),
        "Zm9yZ2VkLXRva2VuLXF1aWxsZmVhdGhlcg",
        TEST_SECRET,
        APP_TOKEN,
        USER_TOKEN,
        "sandbox-webhook-secret",
        ban.as_str(),
    ] {
        assert!(
            !lowered.contains(&secret.to_lowercase()),
            "{secret:?} reached the logs: {}",
            lines
                .iter()
                .find(|l| l.to_lowercase().contains(&secret.to_lowercase()))
                .unwrap()
        );
    }
    // A JWT's signature part alone is as secret as the whole token.
    for token in [&admin, &editor] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(
            !logs.contains(signature),
            "a token signature reached the logs"
        );
    }
}
