//! Rate limits (rolling window, headers, 429 body, recovery), the separate search limit, and
//! injected faults (429, 5xx, timeouts) that never apply the write.

mod common;

use std::time::Duration;

use common::{APP_TOKEN, Api, USER_TOKEN, roomy, start};
use hubspot_sandbox::{Faults, SandboxConfig};
use reqwest::StatusCode;
use serde_json::json;

const COMPANIES: &str = "/crm/v3/objects/companies";

fn header(answer: &common::Answer, name: &str) -> String {
    answer
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("missing header {name}"))
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn burst_past_the_limit_gets_429_then_passes_after_the_interval() {
    let sandbox = start(SandboxConfig {
        rate_limit_max: 5,
        rate_limit_interval_ms: 500,
        ..SandboxConfig::default()
    })
    .await;
    let api = Api::new(&sandbox, APP_TOKEN);
    for expected_remaining in (0..5).rev() {
        let answer = api.get(COMPANIES).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(header(&answer, "x-hubspot-ratelimit-max"), "5");
        assert_eq!(
            header(&answer, "x-hubspot-ratelimit-remaining"),
            expected_remaining.to_string()
        );
        assert_eq!(
            header(&answer, "x-hubspot-ratelimit-interval-milliseconds"),
            "500"
        );
        assert_eq!(header(&answer, "x-hubspot-ratelimit-daily"), "250000");
    }
    let limited = api.get(COMPANIES).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.body["status"], "error");
    assert_eq!(limited.body["errorType"], "RATE_LIMIT");
    assert_eq!(limited.body["policyName"], "TEN_SECONDLY_ROLLING");
    assert!(limited.body["correlationId"].is_string());
    assert!(limited.body["requestId"].is_string());
    assert!(limited.body["message"].is_string());
    assert_eq!(header(&limited, "x-hubspot-ratelimit-remaining"), "0");
    assert_eq!(header(&limited, "retry-after"), "1");
    assert_eq!(
        header(&limited, "x-hubspot-ratelimit-daily-remaining"),
        "249995"
    );

    // The user token (a person in the UI) is not limited.
    assert_eq!(
        Api::new(&sandbox, USER_TOKEN).get(COMPANIES).await.status,
        StatusCode::OK
    );

    tokio::time::sleep(Duration::from_millis(550)).await;
    let again = api.get(COMPANIES).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(header(&again, "x-hubspot-ratelimit-remaining"), "4");
    let stats = sandbox.stats();
    assert_eq!(stats.rate_limited_real, 1);
    assert_eq!(stats.requests_by_token["app"], 7);
    assert_eq!(stats.requests_by_token["user"], 1);
}

#[tokio::test]
async fn daily_budget_is_enforced() {
    let sandbox = start(SandboxConfig {
        daily_limit: 3,
        ..roomy()
    })
    .await;
    let api = Api::new(&sandbox, APP_TOKEN);
    for _ in 0..3 {
        assert_eq!(api.get(COMPANIES).await.status, StatusCode::OK);
    }
    let limited = api.get(COMPANIES).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.body["policyName"], "DAILY");
    assert_eq!(header(&limited, "x-hubspot-ratelimit-daily-remaining"), "0");
}

#[tokio::test]
async fn search_has_its_own_per_second_limit() {
    let sandbox = start(SandboxConfig {
        rate_limit_max: 1000,
        ..SandboxConfig::default()
    })
    .await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let answer = api.post(&format!("{COMPANIES}/search"), json!({})).await;
        assert!(
            answer
                .headers
                .get("x-hubspot-ratelimit-remaining")
                .is_none()
        );
        statuses.push(answer.status);
    }
    assert_eq!(statuses[..5], [StatusCode::OK; 5]);
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS);
    // The other endpoints are unaffected.
    assert_eq!(api.get(COMPANIES).await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1050)).await;
    assert_eq!(
        api.post(&format!("{COMPANIES}/search"), json!({}))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn injected_faults_look_real_and_never_apply_writes() {
    let sandbox = start(roomy()).await;
    let api = Api::new(&sandbox, APP_TOKEN);
    let control = Api {
        token: None,
        ..api.clone()
    };

    let set = control
        .post("/_sandbox/faults", json!({"rate_429": 1.0}))
        .await;
    assert_eq!(set.status, StatusCode::OK);
    assert_eq!(control.get("/_sandbox/faults").await.body["rate_429"], 1.0);
    let limited = api
        .post(COMPANIES, json!({"properties": {"name": "Never"}}))
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.body["errorType"], "RATE_LIMIT");
    assert_eq!(limited.body["policyName"], "TEN_SECONDLY_ROLLING");
    assert_eq!(header(&limited, "x-hubspot-ratelimit-remaining"), "0");
    assert_eq!(
        header(&limited, "retry-after"),
        "10",
        "the rest of the window"
    );
    control
        .post(
            "/_sandbox/faults",
            json!({"rate_429": 1.0, "retry_after_429_ms": 1000}),
        )
        .await;
    let asked_to_wait = api
        .post(COMPANIES, json!({"properties": {"name": "Never"}}))
        .await;
    assert_eq!(asked_to_wait.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&asked_to_wait, "retry-after"), "1");

    control
        .post("/_sandbox/faults", json!({"rate_5xx": 1.0}))
        .await;
    let failed = api
        .post(COMPANIES, json!({"properties": {"name": "Never"}}))
        .await;
    assert!(failed.status.is_server_error());
    assert_eq!(failed.body["status"], "error");

    control
        .post("/_sandbox/faults", json!({"rate_timeout": 1.0}))
        .await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let timed_out = impatient
        .post(format!("{}{COMPANIES}", sandbox.base_url()))
        .bearer_auth(APP_TOKEN)
        .json(&json!({"properties": {"name": "Never"}}))
        .send()
        .await;
    assert!(timed_out.unwrap_err().is_timeout());

    // `{}` resets every fault.
    control.post("/_sandbox/faults", json!({})).await;
    assert_eq!(
        control.get("/_sandbox/faults").await.body,
        json!(Faults::default())
    );
    let stats = sandbox.stats();
    assert_eq!(stats.companies, 0, "no faulted write may be applied");
    assert_eq!(stats.rate_limited_injected, 2);
    assert_eq!(stats.server_errors_injected, 1);
    assert_eq!(stats.timeouts_injected, 1);
    assert_eq!(
        api.post(COMPANIES, json!({"properties": {"name": "Now"}}))
            .await
            .status,
        StatusCode::CREATED
    );

    let out_of_range = control
        .post("/_sandbox/faults", json!({"rate_429": 2.0}))
        .await;
    assert_eq!(out_of_range.status, StatusCode::BAD_REQUEST);
    let stats_route = control.get("/_sandbox/stats").await;
    assert_eq!(stats_route.body["companies"], 1);
    assert_eq!(stats_route.body["rate_limited_injected"], 2);
}

#[tokio::test]
async fn partial_fault_rates_fail_some_requests_and_apply_the_rest() {
    let sandbox = start(roomy()).await;
    sandbox.set_faults(Faults {
        rate_5xx: 0.5,
        ..Faults::default()
    });
    let api = Api::new(&sandbox, APP_TOKEN);
    let mut created = 0;
    for n in 0..40 {
        let answer = api
            .post(COMPANIES, json!({"properties": {"name": format!("F{n}")}}))
            .await;
        if answer.status == StatusCode::CREATED {
            created += 1;
        } else {
            assert!(answer.status.is_server_error());
        }
    }
    let stats = sandbox.stats();
    assert_eq!(stats.companies, created);
    assert_eq!(stats.server_errors_injected, 40 - created);
    assert!(created > 0 && created < 40, "{created} of 40 created");
}
