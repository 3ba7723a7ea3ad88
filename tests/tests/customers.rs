//! Every customer route and every error class, through real HTTP and a real database.

use serde_json::{Value, json};
use warp_tests::*;

#[tokio::test]
async fn create_then_read_by_id_and_ban() {
    let app = spawn_app().await;
    let response = app
        .post_customer(&json!({
            "company_name": "  Acme Telecom GmbH ",
            "customer_type": "RESELLER",
            "credit_limit": "1500",
            "domain": "Acme.Example",
            "contact": {"name": "Ann", "email": "ann@acme.example", "phone": "+4930123456"},
            "address": {"city": "Berlin", "country": "DE"},
            "services": {"voice": {"enabled": true, "plan": "gold"}}
        }))
        .await;
    assert_eq!(response.status(), 201);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(response.headers().contains_key("x-request-id"));
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(location, format!("/v1/customers/{id}"));
    assert_eq!(etag, "\"1\"");
    assert_eq!(created["company_name"], "Acme Telecom GmbH");
    assert_eq!(created["status"], "ACTIVE");
    assert_eq!(created["credit_limit"], "1500.00");
    assert_eq!(created["current_balance"], "0.00");
    assert_eq!(created["domain"], "acme.example");
    assert_eq!(created["contact"]["phone"], "+4930123456");
    assert_eq!(
        created["services"]["voice"],
        json!({"enabled": true, "plan": "gold"})
    );
    assert_eq!(created["services"]["data"], json!({"enabled": false}));
    assert_eq!(created["version"], 1);
    assert!(created["deleted_at"].is_null());
    let ban = created["ban"].as_str().unwrap();
    assert!(warp_domain::customer::Ban::parse(ban).is_ok());

    let by_id = app.get(&location).await;
    assert_eq!(by_id.status(), 200);
    assert_eq!(by_id.headers()["etag"], "\"1\"");
    assert_eq!(by_id.json::<Value>().await.unwrap(), created);

    let by_ban = app.get(&format!("/v1/customers/by-ban/{ban}")).await;
    assert_eq!(by_ban.status(), 200);
    assert_eq!(by_ban.json::<Value>().await.unwrap()["id"], id);

    // The write and its outbox row went in together.
    let outbox = app
        .scalar(&format!(
            "SELECT count(*) FROM hubspot_sync_queue WHERE local_id = '{id}' AND operation = 'CREATE' \
             AND direction = 'OUTBOUND' AND status = 'PENDING' AND local_version = 1 AND portal_id = {PORTAL_ID}"
        ))
        .await;
    assert_eq!(outbox, 1);
}

#[tokio::test]
async fn request_ids_are_echoed() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-123");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "ok"})
    );
}

#[tokio::test]
async fn invalid_values_name_every_field_at_fault() {
    let app = spawn_app().await;
    let response = app
        .post_customer(&json!({
            "company_name": "   ",
            "customer_type": "GOLD",
            "status": "DELETED",
            "credit_limit": -1,
            "contact": {"email": "not-an-email", "phone": "030 123456"},
            "favourite_colour": "red"
        }))
        .await;
    let problem = expect_problem(response, 422).await;
    assert_eq!(
        problem_fields(&problem),
        [
            "company_name",
            "contact.email",
            "contact.phone",
            "credit_limit",
            "customer_type",
            "favourite_colour",
            "status"
        ]
    );
    assert_eq!(app.scalar("SELECT count(*) FROM customers").await, 0);
}

#[tokio::test]
async fn malformed_json_is_400_and_wrong_content_type_415() {
    let app = spawn_app().await;
    let send = |body: &'static str, content_type: &'static str| {
        app.client
            .post(app.url("/v1/customers"))
            .bearer_auth(editor())
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let problem = expect_problem(
        send("{\"company_name\": ", "application/json")
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("line 1"));
    expect_problem(send("", "application/json").await.unwrap(), 400).await;
    expect_problem(
        send("{\"company_name\": \"x\"}", "text/plain")
            .await
            .unwrap(),
        415,
    )
    .await;
    let no_type = app
        .client
        .post(app.url("/v1/customers"))
        .bearer_auth(editor())
        .body("{}")
        .send()
        .await
        .unwrap();
    expect_problem(no_type, 415).await;
    // A JSON array is valid JSON but not a customer: 422 naming the body.
    let problem = expect_problem(send("[]", "application/json").await.unwrap(), 422).await;
    assert_eq!(problem_fields(&problem), ["body"]);
}

#[tokio::test]
async fn bodies_over_one_mebibyte_are_413() {
    let app = spawn_app().await;
    let big = format!(
        "{{\"company_name\": \"{}\", \"customer_type\": \"PREPAID\"}}",
        "x".repeat(1024 * 1024)
    );
    let response = app
        .client
        .post(app.url("/v1/customers"))
        .bearer_auth(editor())
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    expect_problem(response, 413).await;
    assert_eq!(app.scalar("SELECT count(*) FROM customers").await, 0);
}

#[tokio::test]
async fn unknown_ids_routes_and_methods() {
    let app = spawn_app().await;
    expect_problem(
        app.get(&format!("/v1/customers/{}", uuid::Uuid::now_v7()))
            .await,
        404,
    )
    .await;
    expect_problem(app.get("/v1/customers/not-a-uuid").await, 404).await;
    expect_problem(app.get("/v1/customers/by-ban/ZT-000000000").await, 404).await;
    expect_problem(app.get("/v1/customers/by-ban/nonsense").await, 404).await;
    expect_problem(app.get("/v1/nothing-here").await, 404).await;
    let response = app.client.post(app.url("/health")).send().await.unwrap();
    expect_problem(response, 405).await;
    let missing = app
        .patch(
            &uuid::Uuid::now_v7().to_string(),
            &json!({"status": "SUSPENDED"}),
            Some("*"),
        )
        .await;
    expect_problem(missing, 404).await;
}

#[tokio::test]
async fn money_is_exact() {
    let app = spawn_app().await;
    let big = app.create(&json!({"company_name": "Big", "customer_type": "PREPAID", "credit_limit": "12345678901.23"})).await;
    assert_eq!(big["credit_limit"], "12345678901.23");
    let number = app.create(&json!({"company_name": "Num", "customer_type": "PREPAID", "credit_limit": 1500.5, "current_balance": -0.1})).await;
    assert_eq!(number["credit_limit"], "1500.50");
    assert_eq!(number["current_balance"], "-0.10");
    let tenths = app.create(&json!({"company_name": "Tenths", "customer_type": "PREPAID", "credit_limit": 0.3, "current_balance": "0.30"})).await;
    assert_eq!(tenths["credit_limit"], "0.30");
    // Stored as numeric: 0.1 + 0.2 sums exactly to 0.3 in the database.
    let id = tenths["id"].as_str().unwrap();
    let exact = app
        .scalar(&format!("SELECT (credit_limit = 0.1 + 0.2 AND current_balance = 0.30)::int::bigint FROM customers WHERE id = '{id}'"))
        .await;
    assert_eq!(exact, 1);
    let read = app
        .get(&format!("/v1/customers/{}", big["id"].as_str().unwrap()))
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(read["credit_limit"], "12345678901.23");
    for bad in [
        json!("1.234"),
        json!("1e3"),
        json!(1_000_000_000_000i64),
        json!(true),
        json!("-5"),
    ] {
        let response = app
            .post_customer(
                &json!({"company_name": "Bad", "customer_type": "PREPAID", "credit_limit": bad}),
            )
            .await;
        let problem = expect_problem(response, 422).await;
        assert_eq!(problem_fields(&problem), ["credit_limit"]);
    }
}

#[tokio::test]
async fn sql_injection_shaped_strings_are_stored_verbatim() {
    let app = spawn_app().await;
    let name = "Robert'); DROP TABLE customers;-- 100% _x_ \\";
    let created = app
        .create(&json!({"company_name": name, "customer_type": "PREPAID", "address": {"line1": "' OR 1=1 --"}}))
        .await;
    assert_eq!(created["company_name"], name);
    assert_eq!(created["address"]["line1"], "' OR 1=1 --");
    let page: Value = app
        .client
        .get(app.url("/v1/customers"))
        .query(&[("q", "'); DROP TABLE")])
        .bearer_auth(viewer())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(app.scalar("SELECT count(*) FROM customers").await, 1);
}

#[tokio::test]
async fn list_filters_and_pages_with_a_stable_cursor() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let customer_type = if i % 2 == 0 { "PREPAID" } else { "POSTPAID" };
        let created = app
            .create(&json!({
                "company_name": format!("Alpha {i}"),
                "customer_type": customer_type,
                "contact": {"email": format!("billing{i}@alpha{i}.example")},
                "domain": format!("alpha{i}.example")
            }))
            .await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let percent = app
        .create(&json!({"company_name": "100% Beta_Corp", "customer_type": "RESELLER"}))
        .await;
    let list = |query: Vec<(&'static str, String)>| {
        let request = app
            .client
            .get(app.url("/v1/customers"))
            .query(&query)
            .bearer_auth(viewer());
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["company_name"].as_str().unwrap().to_owned())
            .collect()
    };

    // Paging: 2 + 2 + 2, in creation order, no duplicates, even with inserts in between.
    let first = list(vec![("limit", "2".into())]).await;
    assert_eq!(names(&first), ["Alpha 0", "Alpha 1"]);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    app.create(&json!({"company_name": "Gamma", "customer_type": "PREPAID"}))
        .await;
    let second = list(vec![("limit", "2".into()), ("cursor", cursor)]).await;
    assert_eq!(names(&second), ["Alpha 2", "Alpha 3"]);
    let third = list(vec![
        ("limit", "2".into()),
        ("cursor", second["next_cursor"].as_str().unwrap().into()),
    ])
    .await;
    assert_eq!(names(&third), ["Alpha 4", "100% Beta_Corp"]);
    let last = list(vec![
        ("limit", "2".into()),
        ("cursor", third["next_cursor"].as_str().unwrap().into()),
    ])
    .await;
    assert_eq!(names(&last), ["Gamma"]);
    assert!(last["next_cursor"].is_null());

    assert_eq!(
        names(&list(vec![("q", "ALPHA 3".into())]).await),
        ["Alpha 3"]
    );
    assert_eq!(
        names(&list(vec![("q", "billing4@".into())]).await),
        ["Alpha 4"]
    );
    assert_eq!(
        names(&list(vec![("q", "alpha2.exam".into())]).await),
        ["Alpha 2"]
    );
    // % and _ are literal characters, not wildcards.
    assert_eq!(
        names(&list(vec![("q", "0% b".into())]).await),
        ["100% Beta_Corp"]
    );
    assert_eq!(
        names(&list(vec![("q", "a_c".into())]).await),
        ["100% Beta_Corp"]
    );
    assert!(
        names(&list(vec![("q", "%".into()), ("customer_type", "PREPAID".into())]).await).is_empty()
    );
    let ban = percent["ban"].as_str().unwrap().to_lowercase();
    assert_eq!(names(&list(vec![("q", ban)]).await), ["100% Beta_Corp"]);
    assert_eq!(
        names(&list(vec![("customer_type", "POSTPAID".into())]).await),
        ["Alpha 1", "Alpha 3"]
    );

    // Deleted customers leave the default list but show under status=CLOSED.
    let delete = app
        .client
        .delete(app.url(&format!("/v1/customers/{}", ids[0])))
        .bearer_auth(editor())
        .header("if-match", "*")
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 204);
    assert!(!names(&list(vec![]).await).contains(&"Alpha 0".to_owned()));
    assert_eq!(
        names(&list(vec![("status", "CLOSED".into())]).await),
        ["Alpha 0"]
    );
    assert!(names(&list(vec![("status", "ACTIVE".into())]).await).len() == 6);

    let problem = expect_problem(
        app.client
            .get(app.url("/v1/customers"))
            .query(&[
                ("limit", "101"),
                ("status", "nope"),
                ("customer_type", "x"),
                ("cursor", "!!"),
            ])
            .bearer_auth(viewer())
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
    assert_eq!(
        problem_fields(&problem),
        ["cursor", "customer_type", "limit", "status"]
    );
}

#[tokio::test]
async fn patch_merges_and_put_replaces() {
    let app = spawn_app().await;
    let created = app
        .create(&json!({
            "company_name": "Acme",
            "customer_type": "POSTPAID",
            "domain": "acme.example",
            "contact": {"name": "Ann", "email": "ann@acme.example"},
            "services": {"voice": {"enabled": true, "plan": "gold"}}
        }))
        .await;
    let id = created["id"].as_str().unwrap();
    // Linked as the admin link route would (writes cannot set the link themselves).
    app.execute(&format!(
        "UPDATE customers SET external_ids = '{{\"hubspot_company_id\":\"123\"}}' WHERE id = '{id}'"
    ))
    .await;
    let response = app
        .patch(id, &json!({"domain": null, "contact": {"email": null, "phone": "+4930123456"}, "services": {"voice": {"plan": null}}, "credit_limit": "99.9"}), Some("\"1\""))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"2\"");
    let patched: Value = response.json().await.unwrap();
    assert!(patched["domain"].is_null());
    assert_eq!(
        patched["contact"],
        json!({"name": "Ann", "email": null, "phone": "+4930123456"})
    );
    assert_eq!(patched["services"]["voice"], json!({"enabled": true}));
    assert_eq!(patched["credit_limit"], "99.90");
    assert_eq!(patched["version"], 2);

    let problem = expect_problem(
        app.patch(
            id,
            &json!({"company_name": null, "ban": "XX-000000000"}),
            Some("*"),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(problem_fields(&problem), ["ban", "company_name"]);

    let put = app
        .client
        .put(app.url(&format!("/v1/customers/{id}")))
        .bearer_auth(editor())
        .header("if-match", "W/\"2\"")
        .json(&json!({"company_name": "Acme Two", "customer_type": "PREPAID"}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let replaced: Value = put.json().await.unwrap();
    assert_eq!(replaced["company_name"], "Acme Two");
    assert_eq!(
        replaced["contact"],
        json!({"name": null, "email": null, "phone": null})
    );
    assert_eq!(replaced["credit_limit"], "0.00");
    // The HubSpot link survives a PUT that does not mention it.
    assert_eq!(replaced["external_ids"]["hubspot_company_id"], "123");
    assert_eq!(replaced["ban"], created["ban"]);
    assert_eq!(replaced["version"], 3);
    let updates = app
        .scalar(&format!("SELECT count(*) FROM hubspot_sync_queue WHERE local_id = '{id}' AND operation = 'UPDATE'"))
        .await;
    assert_eq!(updates, 2);
}

#[tokio::test]
async fn stale_if_match_is_412_and_changes_nothing() {
    let app = spawn_app().await;
    let created = app.create(&acme()).await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        app.patch(id, &json!({"status": "SUSPENDED"}), Some("\"1\""))
            .await
            .status(),
        200
    );
    expect_problem(
        app.patch(id, &json!({"status": "ACTIVE"}), Some("\"1\""))
            .await,
        412,
    )
    .await;
    // Not an ETag at all: a malformed request, naming the header.
    let malformed = expect_problem(
        app.patch(id, &json!({"status": "ACTIVE"}), Some("garbage"))
            .await,
        400,
    )
    .await;
    assert_eq!(problem_fields(&malformed), ["If-Match"]);
    let delete = app
        .client
        .delete(app.url(&format!("/v1/customers/{id}")))
        .bearer_auth(editor())
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    expect_problem(delete, 412).await;
    let current: Value = app
        .get(&format!("/v1/customers/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(current["status"], "SUSPENDED");
    assert_eq!(current["version"], 2);
}

#[tokio::test]
async fn delete_is_soft_and_idempotent() {
    let app = spawn_app().await;
    let created = app.create(&acme()).await;
    let id = created["id"].as_str().unwrap();
    let delete = || {
        app.client
            .delete(app.url(&format!("/v1/customers/{id}")))
            .bearer_auth(editor())
            .header("if-match", "\"1\"")
            .send()
    };
    assert_eq!(delete().await.unwrap().status(), 204);
    let deleted: Value = app
        .get(&format!("/v1/customers/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(deleted["status"], "CLOSED");
    assert!(deleted["deleted_at"].is_string());
    assert_eq!(deleted["version"], 2);
    // Deleting again with the old ETag is a stale precondition; with `*` it is a no-op.
    expect_problem(delete().await.unwrap(), 412).await;
    let again = app
        .client
        .delete(app.url(&format!("/v1/customers/{id}")))
        .bearer_auth(editor())
        .header("if-match", "*")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 204);
    expect_problem(
        app.patch(id, &json!({"status": "ACTIVE"}), Some("*")).await,
        409,
    )
    .await;
    let outbox = app
        .scalar(&format!("SELECT count(*) FROM hubspot_sync_queue WHERE local_id = '{id}' AND operation = 'DELETE' AND local_version = 2"))
        .await;
    assert_eq!(outbox, 1);
    assert_eq!(
        app.scalar("SELECT count(*) FROM hubspot_sync_queue").await,
        2
    );
}

#[tokio::test]
async fn idempotent_retries_replay_the_first_answer() {
    let app = spawn_app().await;
    let send = |body: Value, key: &'static str| {
        app.client
            .post(app.url("/v1/customers"))
            .bearer_auth(editor())
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let first = send(acme(), "key-1").await.unwrap();
    assert_eq!(first.status(), 201);
    let first_location = first.headers()["location"].clone();
    let first_body = first.bytes().await.unwrap();
    let second = send(acme(), "key-1").await.unwrap();
    assert_eq!(second.status(), 201);
    assert_eq!(second.headers()["location"], first_location);
    assert_eq!(second.headers()["etag"], "\"1\"");
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(second.bytes().await.unwrap(), first_body);
    assert_eq!(app.scalar("SELECT count(*) FROM customers").await, 1);

    let other = send(
        json!({"company_name": "Other", "customer_type": "PREPAID"}),
        "key-1",
    )
    .await
    .unwrap();
    let problem = expect_problem(other, 422).await;
    assert_eq!(problem_fields(&problem), ["Idempotency-Key"]);
    assert_eq!(app.scalar("SELECT count(*) FROM customers").await, 1);

    // Another key is another request.
    assert_eq!(send(acme(), "key-2").await.unwrap().status(), 201);
    assert_eq!(app.scalar("SELECT count(*) FROM customers").await, 2);
    assert_eq!(
        app.scalar("SELECT count(*) FROM hubspot_sync_queue").await,
        2
    );
}

#[tokio::test]
async fn a_failing_outbox_insert_leaves_no_customer() {
    let app = spawn_app().await;
    app.execute(
        "CREATE FUNCTION refuse_outbox() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'outbox down'; END $$;
         CREATE TRIGGER refuse_outbox BEFORE INSERT ON hubspot_sync_queue FOR EACH ROW EXECUTE FUNCTION refuse_outbox();",
    )
    .await;
    let response = app
        .client
        .post(app.url("/v1/customers"))
        .bearer_auth(editor())
        .header("idempotency-key", "k")
        .json(&acme())
        .send()
        .await
        .unwrap();
    expect_problem(response, 500).await;
    assert_eq!(app.scalar("SELECT count(*) FROM customers").await, 0);
    assert_eq!(app.scalar("SELECT count(*) FROM idempotency_keys").await, 0);
    app.execute("DROP TRIGGER refuse_outbox ON hubspot_sync_queue")
        .await;
    let created = app.create(&acme()).await;
    let id = created["id"].as_str().unwrap();
    app.execute(
        "CREATE TRIGGER refuse_outbox BEFORE INSERT ON hubspot_sync_queue FOR EACH ROW EXECUTE FUNCTION refuse_outbox();",
    )
    .await;
    expect_problem(
        app.patch(id, &json!({"company_name": "Changed"}), Some("*"))
            .await,
        500,
    )
    .await;
    let current: Value = app
        .get(&format!("/v1/customers/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(current["company_name"], "Acme Telecom");
    assert_eq!(current["version"], 1);
}

#[tokio::test]
async fn health_answers_503_when_the_database_is_gone() {
    let database =
        warp_store::Database::connect("postgres://postgres@127.0.0.1:1/none", 2).unwrap();
    let state = warp_api::ApiState::new(
        database,
        warp_api::AuthConfig::hs256(secrecy::SecretString::from(TEST_SECRET)),
        PORTAL_ID,
    );
    let address = serve(warp_api::router(state)).await;
    let client = reqwest::Client::new();
    expect_problem(
        client
            .get(format!("{address}/health"))
            .send()
            .await
            .unwrap(),
        503,
    )
    .await;
    let response = client
        .get(format!("{address}/v1/customers"))
        .bearer_auth(viewer())
        .send()
        .await
        .unwrap();
    expect_problem(response, 503).await;
    let response = client
        .post(format!("{address}/v1/customers"))
        .bearer_auth(editor())
        .json(&acme())
        .send()
        .await
        .unwrap();
    expect_problem(response, 503).await;
}

#[tokio::test]
async fn openapi_documents_every_route() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let paths = document["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/v1/customers", &["get", "post"][..]),
        ("/v1/customers/{id}", &["get", "patch", "put", "delete"][..]),
        ("/v1/customers/by-ban/{ban}", &["get"][..]),
        ("/health", &["get"][..]),
    ] {
        for method in methods {
            assert!(
                paths[path][*method].is_object(),
                "{method} {path} undocumented"
            );
        }
    }
    let post = &paths["/v1/customers"]["post"]["responses"];
    for status in ["201", "400", "401", "403", "413", "415", "422", "503"] {
        assert!(post[status].is_object(), "POST lacks {status}");
    }
    assert!(post["422"]["content"]["application/problem+json"].is_object());
    let schemes = &document["components"]["securitySchemes"]["bearer_jwt"];
    assert_eq!(schemes["scheme"], "bearer");
    assert_eq!(schemes["bearerFormat"], "JWT");
    let customer = &document["components"]["schemas"]["CustomerResponse"]["properties"];
    assert_eq!(customer["credit_limit"]["type"], "string");
    // The conditional and idempotency headers say which values the API accepts.
    let header = |path: &str, method: &str, name: &str| {
        paths[path][method]["parameters"]
            .as_array()
            .and_then(|params| {
                params
                    .iter()
                    .find(|p| p["name"] == name && p["in"] == "header")
            })
            .map(|p| {
                p["schema"]["pattern"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
    };
    for method in ["put", "patch", "delete"] {
        let pattern = header("/v1/customers/{id}", method, "If-Match");
        assert!(
            pattern.as_deref().is_some_and(|p| p.contains("W/")),
            "{method} If-Match: {pattern:?}"
        );
    }
    let pattern = header("/v1/customers", "post", "Idempotency-Key");
    assert!(
        pattern.as_deref().is_some_and(|p| p.contains("255")),
        "{pattern:?}"
    );
}

#[tokio::test]
async fn values_the_database_cannot_store_are_422_not_500() {
    let app = spawn_app().await;
    let response = app
        .post_customer(&json!({
            "company_name": "Nul",
            "customer_type": "PREPAID",
            "services": {"data": {"enabled": true, "note": "a\u{0}b"}}
        }))
        .await;
    expect_problem(response, 422).await;
    let response = app
        .post_customer(&json!({"company_name": "a\u{0}b", "customer_type": "PREPAID"}))
        .await;
    let problem = expect_problem(response, 422).await;
    assert_eq!(problem_fields(&problem), ["company_name"]);
    let list = app
        .client
        .get(app.url("/v1/customers"))
        .query(&[("q", "a\u{0}b")])
        .bearer_auth(viewer())
        .send()
        .await
        .unwrap();
    expect_problem(list, 422).await;
    assert_eq!(app.scalar("SELECT count(*) FROM customers").await, 0);
}

#[tokio::test]
async fn extreme_numbers_in_services_read_back_exactly() {
    // Postgres keeps JSON numbers as exact decimals: f64::MAX comes back as a 309-digit
    // integer and 1e-300 as 300 decimal places; both must read back as the same f64.
    let app = spawn_app().await;
    let services = json!({"data": {"enabled": true, "limits": [f64::MAX, -f64::MAX, 1e-300, 1.0466878449461658e57, 9525530194u64, -6.66871435299571e-178]}});
    let response = app
        .post_customer(
            &json!({"company_name": "Extreme", "customer_type": "PREPAID", "services": services}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["services"]["data"], services["data"]);
    let id = created["id"].as_str().unwrap();
    let read: Value = app
        .get(&format!("/v1/customers/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["services"]["data"], services["data"]);
}

#[tokio::test]
async fn a_key_whose_first_request_is_unfinished_is_409() {
    use sha2::Digest;
    let app = spawn_app().await;
    // What the API hashes: the route and the parsed body.
    let body = acme();
    let mut hasher = sha2::Sha256::new();
    hasher.update(b"POST /v1/customers\n");
    hasher.update(serde_json::to_vec(&body).unwrap());
    let hash: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    app.execute(&format!(
        "INSERT INTO idempotency_keys (principal, idempotency_key, request_hash) VALUES ('test-user', 'stuck', '{hash}')"
    ))
    .await;
    let response = app
        .client
        .post(app.url("/v1/customers"))
        .bearer_auth(editor())
        .header("idempotency-key", "stuck")
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_problem(response, 409).await;
    assert_eq!(app.scalar("SELECT count(*) FROM customers").await, 0);
    let bad_key = app
        .client
        .post(app.url("/v1/customers"))
        .bearer_auth(editor())
        .header("idempotency-key", "has space")
        .json(&body)
        .send()
        .await
        .unwrap();
    let problem = expect_problem(bad_key, 400).await;
    assert_eq!(problem_fields(&problem), ["Idempotency-Key"]);
}
