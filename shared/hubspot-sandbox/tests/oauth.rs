//! The sandbox's OAuth server over HTTP, as HubSpot documents it: the dated token endpoint
//! takes its parameters in the form body only, the v1 endpoint answers HubSpot's own error
//! shape, tokens expire, and an expired token is a 401 the client can tell apart.

mod common;

use common::start;
use hubspot_sandbox::SandboxConfig;
use hubspot_sandbox::oauth::pkce_challenge;
use serde_json::Value;

const FORM: &str = "application/x-www-form-urlencoded";

async fn code_for(base: &str, challenge: Option<&str>) -> String {
    code_in(base, challenge, None).await
}

/// A code for the portal a person picks on the consent page (the home one when `None`).
async fn code_in(base: &str, challenge: Option<&str>, portal_id: Option<&str>) -> String {
    let mut form = vec![
        ("client_id", "sandbox-client-id"),
        ("redirect_uri", "http://127.0.0.1:9/cb"),
        ("scope", "oauth crm.objects.companies.read"),
        ("state", "s"),
        ("decision", "approve"),
    ];
    if let Some(challenge) = challenge {
        form.push(("code_challenge", challenge));
        form.push(("code_challenge_method", "S256"));
    }
    if let Some(portal_id) = portal_id {
        form.push(("portal_id", portal_id));
    }
    let answer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{base}/oauth/authorize"))
        .header("content-type", FORM)
        .body(serde_urlencoded::to_string(&form).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    let location = url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    location
        .query_pairs()
        .find(|(name, _)| name == "code")
        .unwrap()
        .1
        .into_owned()
}

async fn token(base: &str, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let answer = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("content-type", FORM)
        .body(serde_urlencoded::to_string(form).unwrap())
        .send()
        .await
        .unwrap();
    (answer.status().as_u16(), answer.json().await.unwrap())
}

fn exchange<'a>(code: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("client_id", "sandbox-client-id"),
        ("client_secret", "sandbox-client-secret"),
        ("redirect_uri", "http://127.0.0.1:9/cb"),
        ("code", code),
        ("code_verifier", verifier),
    ]
}

#[tokio::test]
async fn the_dated_token_endpoint_takes_the_body_only_and_checks_pkce() {
    let sandbox = start(SandboxConfig::default()).await;
    let base = sandbox.base_url();
    let code = code_for(&base, Some(&pkce_challenge("verifier-123"))).await;

    // Parameters in the query are refused (and the code is not used up).
    let answer = reqwest::Client::new()
        .post(format!(
            "{base}/oauth/2026-09/token?grant_type=authorization_code&code={code}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);

    let (status, body) = token(
        &base,
        "/oauth/2026-09/token",
        &exchange(&code, "verifier-123"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 1800);
    assert_eq!(body["hub_id"], 62515);
    let access = body["access_token"].as_str().unwrap().to_owned();

    // The token works on the CRM API, and its info names the portal and scopes.
    let list = reqwest::Client::new()
        .get(format!("{base}/crm/objects/2026-09/companies"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    let info: Value = reqwest::get(format!("{base}/oauth/v1/access-tokens/{access}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["hub_id"], 62515);
    assert_eq!(
        info["scopes"],
        serde_json::json!(["oauth", "crm.objects.companies.read"])
    );

    // A code with a wrong verifier is refused with OAuth's error on the dated endpoint.
    let code = code_for(&base, Some(&pkce_challenge("right"))).await;
    let (status, body) = token(&base, "/oauth/2026-09/token", &exchange(&code, "wrong")).await;
    assert_eq!(status, 400);
    assert_eq!(body["status"], "BAD_AUTH_CODE");
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn an_expired_token_is_a_401_and_a_refused_refresh_speaks_hubspots_v1_shape() {
    let sandbox = start(SandboxConfig {
        oauth_access_token_ttl_ms: 200,
        ..SandboxConfig::default()
    })
    .await;
    let base = sandbox.base_url();
    let code = code_for(&base, None).await;
    let (_, grant) = token(&base, "/oauth/v1/token", &exchange(&code, "")).await;
    let access = grant["access_token"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let expired = reqwest::Client::new()
        .get(format!("{base}/crm/v3/objects/companies"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), 401);
    let body: Value = expired.json().await.unwrap();
    assert_eq!(body["category"], "EXPIRED_AUTHENTICATION");

    let refresh = grant["refresh_token"].as_str().unwrap();
    let refresh_form = [
        ("grant_type", "refresh_token"),
        ("client_id", "sandbox-client-id"),
        ("client_secret", "sandbox-client-secret"),
        ("refresh_token", refresh),
    ];
    let (status, renewed) = token(&base, "/oauth/v1/token", &refresh_form).await;
    assert_eq!(status, 200);
    assert_eq!(renewed["refresh_token"], refresh);

    // Revoked (v1 DELETE): the refresh is refused, v1 without OAuth's `error` member.
    let revoke = reqwest::Client::new()
        .delete(format!("{base}/oauth/v1/refresh-tokens/{refresh}"))
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 204);
    let (status, refused) = token(&base, "/oauth/v1/token", &refresh_form).await;
    assert_eq!(status, 400);
    assert_eq!(refused["status"], "BAD_REFRESH_TOKEN");
    assert!(refused.get("error").is_none());
    let (_, dated) = token(&base, "/oauth/2026-09/token", &refresh_form).await;
    assert_eq!(dated["error"], "invalid_grant");

    let counters: Value = reqwest::get(format!("{base}/_sandbox/oauth"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counters["counters"]["refreshes"], 1);
    assert_eq!(counters["counters"]["refreshes_refused"], 2);
    assert_eq!(counters["counters"]["revocations"], 1);
}

#[tokio::test]
async fn a_wrong_install_link_gets_an_error_page_not_a_consent_form() {
    let sandbox = start(SandboxConfig::default()).await;
    let base = sandbox.base_url();
    for query in [
        "client_id=unknown&redirect_uri=http://x/cb&scope=oauth",
        "client_id=sandbox-client-id&redirect_uri=nota-url&scope=oauth",
        "client_id=sandbox-client-id&redirect_uri=http://x/cb&scope=",
        "client_id=sandbox-client-id&redirect_uri=http://x/cb&scope=oauth&code_challenge=a&code_challenge_method=plain",
    ] {
        let page = reqwest::get(format!("{base}/oauth/authorize?{query}"))
            .await
            .unwrap();
        assert_eq!(page.status(), 400, "{query}");
        let text = page.text().await.unwrap();
        assert!(!text.contains("id=\"approve\""), "{query}");
    }
    let page = reqwest::get(format!(
        "{base}/oauth/authorize?client_id=sandbox-client-id&redirect_uri=http://x/cb&scope=oauth&state=%22%3E%3Cscript%3E"
    ))
    .await
    .unwrap();
    let text = page.text().await.unwrap();
    assert!(
        text.contains("&quot;&gt;&lt;script&gt;"),
        "the state is escaped"
    );
    assert!(!text.contains("\"><script>"));
}

#[tokio::test]
async fn each_portal_has_its_own_records_budget_and_grants() {
    let sandbox = start(SandboxConfig {
        rate_limit_max: 3,
        installed_rate_limit_max: 5,
        ..SandboxConfig::default()
    })
    .await;
    let base = sandbox.base_url();
    let install = |portal: &'static str| {
        let base = base.clone();
        async move {
            let code = code_in(&base, None, Some(portal)).await;
            let (status, body) = token(
                &base,
                "/oauth/2026-09/token",
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", "sandbox-client-id"),
                    ("client_secret", "sandbox-client-secret"),
                    ("redirect_uri", "http://127.0.0.1:9/cb"),
                    ("code", &code),
                ],
            )
            .await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["hub_id"], portal.parse::<u64>().unwrap());
            body["access_token"].as_str().unwrap().to_owned()
        }
    };
    let (first, second) = (install("7001").await, install("7002").await);
    let http = reqwest::Client::new();
    let call = |token: String, method: reqwest::Method, path: &str, body: Option<Value>| {
        let request = http
            .request(method, format!("{base}{path}"))
            .bearer_auth(token);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        async move {
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            let max = answer
                .headers()
                .get("x-hubspot-ratelimit-max")
                .map(|v| v.to_str().unwrap().to_owned());
            (
                status,
                max,
                answer.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let companies = "/crm/objects/2026-09/companies";
    let (status, max, created) = call(
        first.clone(),
        reqwest::Method::POST,
        companies,
        Some(serde_json::json!({"properties": {"name": "Only in 7001"}})),
    )
    .await;
    assert_eq!((status, max.as_deref()), (201, Some("5")), "{created}");
    let id = created["id"].as_str().unwrap();

    // The other portal and the home portal do not have it.
    let path = format!("{companies}/{id}");
    let (status, _, _) = call(second.clone(), reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 404);
    let (status, max, _) = call(
        "sandbox-app-token".into(),
        reqwest::Method::GET,
        &path,
        None,
    )
    .await;
    assert_eq!((status, max.as_deref()), (404, Some("3")));

    // Spending the home budget leaves the installed portals' budgets alone.
    for _ in 0..3 {
        call(
            "sandbox-app-token".into(),
            reqwest::Method::GET,
            companies,
            None,
        )
        .await;
    }
    let (status, _, _) = call(
        "sandbox-app-token".into(),
        reqwest::Method::GET,
        companies,
        None,
    )
    .await;
    assert_eq!(status, 429);
    let (status, _, listed) = call(first.clone(), reqwest::Method::GET, companies, None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["results"].as_array().unwrap().len(), 1);

    let stats: Value = http
        .get(format!("{base}/_sandbox/stats?portal_id=7001"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["companies"], 1);
    assert_eq!(stats["requests_by_portal"]["7001"], 2);
    assert_eq!(stats["rate_limited_real_by_portal"]["62515"], 2);
    assert!(stats["rate_limited_real_by_portal"].get("7001").is_none());

    // Uninstalling from one portal ends that portal's grant only.
    let answer = http
        .post(format!("{base}/_sandbox/oauth/uninstall"))
        .json(&serde_json::json!({"portal_id": 7001}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 204);
    let (status, _, _) = call(first, reqwest::Method::GET, companies, None).await;
    assert_eq!(status, 401);
    let (status, _, _) = call(second, reqwest::Method::GET, companies, None).await;
    assert_eq!(status, 200);
    let portals: Value = http
        .get(format!("{base}/_sandbox/portals"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<u64> = portals
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["portal_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [7001, 7002, 62515]);
}
