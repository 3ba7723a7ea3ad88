//! A person working in HubSpot's UI, as the sandbox sees one: the user token, which is never
//! rate limited or faulted, and whose changes HubSpot announces by webhook like any person's.

use hubspot_sandbox::SandboxHandle;
use serde_json::{Value, json};

use crate::hubspot::USER_TOKEN;

/// HubSpot's UI over one sandbox.
#[derive(Clone)]
pub struct HubSpotUi {
    http: reqwest::Client,
    base_url: String,
}

impl HubSpotUi {
    pub fn new(sandbox: &SandboxHandle) -> Self {
        Self {
            http: reqwest::Client::new(),
            base_url: sandbox.base_url(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Sends a request as the person and answers the body of a success (`Null` when empty);
    /// panics with HubSpot's answer otherwise.
    async fn send(&self, request: reqwest::RequestBuilder, what: &str) -> Value {
        let response = request
            .bearer_auth(USER_TOKEN)
            .send()
            .await
            .unwrap_or_else(|error| panic!("{what}: {error}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "{what}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Creates a record of `object_type` (`companies`, `contacts`); answers its id.
    pub async fn create(&self, object_type: &str, properties: Value) -> String {
        let created = self
            .send(
                self.http
                    .post(self.url(&format!("/crm/v3/objects/{object_type}")))
                    .json(&json!({ "properties": properties })),
                "create",
            )
            .await;
        created["id"].as_str().expect("the new id").to_owned()
    }

    /// Edits a record's properties.
    pub async fn update(&self, object_type: &str, id: &str, properties: Value) {
        self.send(
            self.http
                .patch(self.url(&format!("/crm/v3/objects/{object_type}/{id}")))
                .json(&json!({ "properties": properties })),
            "update",
        )
        .await;
    }

    /// Deletes (archives) a record.
    pub async fn delete(&self, object_type: &str, id: &str) {
        self.send(
            self.http
                .delete(self.url(&format!("/crm/v3/objects/{object_type}/{id}"))),
            "delete",
        )
        .await;
    }

    /// Deletes a record for good on the person's privacy (GDPR) request: not even archived.
    pub async fn gdpr_delete(&self, object_type: &str, id: &str) {
        self.send(
            self.http
                .post(self.url(&format!("/crm/objects/2026-09/{object_type}/gdpr-delete")))
                .json(&json!({ "objectId": id })),
            "gdpr delete",
        )
        .await;
    }

    /// Restores an archived record from the recycle bin.
    pub async fn restore(&self, object_type: &str, id: &str) {
        self.send(
            self.http
                .post(self.url(&format!("/_sandbox/{object_type}/{id}/restore"))),
            "restore",
        )
        .await;
    }

    /// Merges `loser` into `primary`.
    pub async fn merge(&self, object_type: &str, primary: &str, loser: &str) {
        self.send(
            self.http
                .post(self.url(&format!("/crm/v3/objects/{object_type}/merge")))
                .json(&json!({"primaryObjectId": primary, "objectIdToMerge": loser})),
            "merge",
        )
        .await;
    }

    /// Associates a contact with a company (the default, unlabeled type).
    pub async fn associate(&self, contact: &str, company: &str) {
        self.send(
            self.http.put(self.url(&format!(
                "/crm/v4/objects/contacts/{contact}/associations/default/companies/{company}"
            ))),
            "associate",
        )
        .await;
    }

    /// Associates two records with one HubSpot-defined type (a deal's primary company: 5).
    pub async fn associate_as(
        &self,
        from_type: &str,
        from: &str,
        to_type: &str,
        to: &str,
        type_id: u32,
    ) {
        self.send(
            self.http
                .put(self.url(&format!(
                    "/crm/v4/objects/{from_type}/{from}/associations/{to_type}/{to}"
                )))
                .json(&json!([{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}])),
            "associate",
        )
        .await;
    }

    /// Removes every association between a contact and a company.
    pub async fn dissociate(&self, contact: &str, company: &str) {
        self.send(
            self.http.delete(self.url(&format!(
                "/crm/v4/objects/contacts/{contact}/associations/companies/{company}"
            ))),
            "dissociate",
        )
        .await;
    }

    /// A record as a read with `query` answers it (`properties`, `propertiesWithHistory`, …).
    pub async fn read(&self, object_type: &str, id: &str, query: &[(&str, &str)]) -> Value {
        self.send(
            self.http
                .get(self.url(&format!("/crm/v3/objects/{object_type}/{id}")))
                .query(query),
            "read",
        )
        .await
    }

    /// The `properties` of a record, with the ones named (comma-separated).
    pub async fn properties(&self, object_type: &str, id: &str, names: &str) -> Value {
        self.read(object_type, id, &[("properties", names)]).await["properties"].clone()
    }

    /// Changes a property's definition (its options, label, …).
    pub async fn update_property(&self, object_type: &str, name: &str, change: Value) {
        self.send(
            self.http
                .patch(self.url(&format!("/crm/v3/properties/{object_type}/{name}")))
                .json(&change),
            "update property",
        )
        .await;
    }

    /// The records of `to_type` a record is associated with, each with its type ids, sorted.
    pub async fn associations(
        &self,
        object_type: &str,
        id: &str,
        to_type: &str,
    ) -> Vec<(String, Vec<u64>)> {
        let page = self
            .send(
                self.http.get(self.url(&format!(
                    "/crm/v4/objects/{object_type}/{id}/associations/{to_type}"
                ))),
                "associations",
            )
            .await;
        page["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|to| {
                let mut types: Vec<u64> = to["associationTypes"]
                    .as_array()
                    .expect("associationTypes")
                    .iter()
                    .filter_map(|t| t["typeId"].as_u64())
                    .collect();
                types.sort_unstable();
                (
                    to["toObjectId"].to_string().trim_matches('"').to_owned(),
                    types,
                )
            })
            .collect()
    }

    /// The active records of `object_type` (the first 100) whose `property` is `value`, with
    /// the properties named (comma-separated, `property` among them).
    pub async fn with_property(
        &self,
        object_type: &str,
        property: &str,
        value: &str,
        names: &str,
    ) -> Vec<Value> {
        self.list(object_type, names)
            .await
            .into_iter()
            .filter(|record| record["properties"][property] == value)
            .collect()
    }

    /// The active records of `object_type` (the first 100), with the properties named.
    pub async fn list(&self, object_type: &str, names: &str) -> Vec<Value> {
        self.list_page(object_type, names).await["results"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The first list page of `object_type` as HubSpot answers it, for comparing states exactly.
    pub async fn list_page(&self, object_type: &str, names: &str) -> Value {
        self.page(object_type, names, None).await
    }

    /// Every active record of `object_type`, page after page, with the properties named.
    pub async fn list_all(&self, object_type: &str, names: &str) -> Vec<Value> {
        let mut records = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.page(object_type, names, after.as_deref()).await;
            records.extend(page["results"].as_array().cloned().unwrap_or_default());
            match page["paging"]["next"]["after"].as_str() {
                Some(next) => after = Some(next.to_owned()),
                None => return records,
            }
        }
    }

    async fn page(&self, object_type: &str, names: &str, after: Option<&str>) -> Value {
        let mut query = vec![("limit", "100"), ("properties", names)];
        query.extend(after.map(|after| ("after", after)));
        self.send(
            self.http
                .get(self.url(&format!("/crm/v3/objects/{object_type}")))
                .query(&query),
            "list",
        )
        .await
    }
}

/// What a person answers on HubSpot's consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    /// Approves for the account the page offers first (the sandbox's home portal).
    Approve,
    /// Approves for this account (portal id), as a person picking it on the page.
    ApproveIn(i64),
    Deny,
}

impl HubSpotUi {
    /// Opens `install_url` (HubSpot's consent page), answers it, and returns where HubSpot
    /// sends the browser back (the app's redirect URI with `code` or `error`, and `state`).
    pub async fn consent(&self, install_url: &url::Url, answer: Consent) -> url::Url {
        let page = self
            .http
            .get(install_url.clone())
            .send()
            .await
            .expect("the consent page");
        assert_eq!(page.status(), 200, "the consent page opens");
        assert!(
            page.text()
                .await
                .expect("a page")
                .contains("id=\"approve\""),
            "the consent page offers to connect"
        );
        let mut form: Vec<(String, String)> = install_url.query_pairs().into_owned().collect();
        let decision = match answer {
            Consent::Approve | Consent::ApproveIn(_) => "approve",
            Consent::Deny => "deny",
        };
        form.push(("decision".into(), decision.into()));
        if let Consent::ApproveIn(portal_id) = answer {
            form.push(("portal_id".into(), portal_id.to_string()));
        }
        let back = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client")
            .post(format!("{}/oauth/authorize", self.base_url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(&form).expect("a form"))
            .send()
            .await
            .expect("the consent answer");
        assert_eq!(back.status(), 303, "HubSpot sends the browser back");
        url::Url::parse(back.headers()["location"].to_str().expect("a location")).expect("a URL")
    }
}
