//! Users and contacts in the chaos run: API user writes beside the customer writes, contact
//! edits in HubSpot's UI beside the company edits, and the checks that every user ends as
//! exactly one contact, linked, with every mapped field equal on both sides and WARP's own
//! fields at the last value the API acknowledged.

use anyhow::{Context, ensure};
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use tokio::sync::Mutex;
use uuid::Uuid;
use warp_domain::sync::{
    ConflictRule, FieldMap, ObjectType, WarpField, canonical_opt, user_field_values,
};

use super::{
    Customer, Run, USER_TOKEN, WRITERS, Written, all_records, create, rule_name, send_write,
};

/// One user the run created, with what the API acknowledged for its WARP_WINS fields.
pub struct User {
    pub id: Uuid,
    written: Mutex<Written>,
    /// The version the API last answered (a PATCH that changes nothing keeps it).
    version: AtomicI64,
}

/// What the contact checks found.
#[derive(Default)]
pub struct ContactVerdict {
    pub one_contact: usize,
    pub fields_compared: usize,
    pub mismatches: usize,
    pub failures: Vec<String>,
}

fn person(rng: &mut impl Rng) -> String {
    (*[
        "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken",
    ]
    .choose(rng)
    .unwrap())
    .to_owned()
}

fn user_email(rng: &mut impl Rng) -> String {
    format!("u{}@users.chaos.example", rng.random_range(0..u64::MAX / 2))
}

fn role(rng: &mut impl Rng) -> &'static str {
    ["admin", "developer", "billing", "readonly"]
        .choose(rng)
        .unwrap()
}

/// Creates `count` users spread over the customers, `WRITERS` at a time.
pub async fn create_users(
    run: &Arc<Run>,
    customers: &Arc<Vec<Customer>>,
    count: usize,
) -> anyhow::Result<Vec<User>> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let (run, next, customers) = (run.clone(), next.clone(), customers.clone());
        tasks.push(tokio::spawn(async move {
            let mut made = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < count {
                run.left("creating users")?;
                let customer = customers.choose(&mut rand::rng()).context("no customer")?;
                made.push(create_user(&run, customer.id).await?);
            }
            anyhow::Ok(made)
        }));
    }
    let mut users = Vec::new();
    for task in tasks {
        users.extend(task.await??);
    }
    Ok(users)
}

async fn create_user(run: &Run, customer: Uuid) -> anyhow::Result<User> {
    let (body, written) = {
        let mut rng = rand::rng();
        let (email, role, two_factor) =
            (user_email(&mut rng), role(&mut rng), rng.random_bool(0.5));
        let body = json!({
            "email": email, "first_name": person(&mut rng), "last_name": person(&mut rng),
            "job_title": "Engineer", "role": role, "two_factor_enabled": two_factor,
            "phone": super::phone(&mut rng),
        });
        let mut written = Written::default();
        written.values.insert(WarpField::Email, Some(email));
        written
            .values
            .insert(WarpField::Role, Some(role.to_owned()));
        written
            .values
            .insert(WarpField::TwoFactorEnabled, Some(two_factor.to_string()));
        (body, written)
    };
    let created = create(run, &format!("/v1/customers/{customer}/users"), &body).await?;
    run.counters.user_creates.fetch_add(1, Ordering::Relaxed);
    Ok(User {
        id: created["id"].as_str().context("user id")?.parse()?,
        written: Mutex::new(written),
        version: AtomicI64::new(created["version"].as_i64().context("user version")?),
    })
}

/// `WRITERS` tasks patching their own share of the users (one writer per user, so the last
/// acknowledged value of each field is known).
pub fn spawn_user_patchers(
    run: &Arc<Run>,
    users: &Arc<Vec<User>>,
    patches: usize,
) -> Vec<tokio::task::JoinHandle<anyhow::Result<()>>> {
    (0..WRITERS)
        .map(|lane| {
            let (run, users) = (run.clone(), users.clone());
            tokio::spawn(async move {
                let mine: Vec<usize> = (lane..users.len()).step_by(WRITERS).collect();
                let count = patches / WRITERS + usize::from(lane < patches % WRITERS);
                if mine.is_empty() {
                    return Ok(());
                }
                for _ in 0..count {
                    run.left("sending user changes")?;
                    let index = *mine.choose(&mut rand::rng()).unwrap();
                    patch_user(&run, &users[index]).await?;
                }
                Ok(())
            })
        })
        .collect()
}

async fn patch_user(run: &Run, user: &User) -> anyhow::Result<()> {
    let mut written = user.written.lock().await;
    let (body, changed) = {
        let mut rng = rand::rng();
        let mut body = serde_json::Map::new();
        let mut changed: Vec<(WarpField, String)> = Vec::new();
        while body.is_empty() {
            if rng.random_bool(0.35) {
                body.insert("first_name".into(), json!(person(&mut rng)));
            }
            if rng.random_bool(0.25) {
                body.insert("last_name".into(), json!(person(&mut rng)));
            }
            if rng.random_bool(0.15) {
                body.insert(
                    "job_title".into(),
                    json!(format!("Role {}", rng.random_range(0..100))),
                );
            }
            if rng.random_bool(0.1) {
                body.insert("phone".into(), json!(super::phone(&mut rng)));
            }
            if rng.random_bool(0.15) {
                let role = role(&mut rng);
                changed.push((WarpField::Role, role.to_owned()));
                body.insert("role".into(), json!(role));
            }
            if rng.random_bool(0.1) {
                let email = user_email(&mut rng);
                changed.push((WarpField::Email, email.clone()));
                body.insert("email".into(), json!(email));
            }
            if rng.random_bool(0.1) {
                let flag = rng.random_bool(0.5);
                changed.push((WarpField::TwoFactorEnabled, flag.to_string()));
                body.insert("two_factor_enabled".into(), json!(flag));
            }
        }
        (Value::Object(body), changed)
    };
    let path = format!("/v1/users/{}", user.id);
    let Some(answer) = send_write(run, || {
        run.api(reqwest::Method::PATCH, &path)
            .header("if-match", "*")
            .json(&body)
    })
    .await?
    else {
        for (field, _) in changed {
            written.values.remove(&field);
        }
        return Ok(());
    };
    let status = answer.status();
    if status.is_success() {
        let answered: Value = answer.json().await?;
        let version = answered["version"].as_i64().context("user version")?;
        // Only a write that changed the user is a new version with an outbox row.
        if user.version.swap(version, Ordering::Relaxed) == version {
            run.counters
                .user_patches_unchanged
                .fetch_add(1, Ordering::Relaxed);
        } else {
            run.counters.user_patches.fetch_add(1, Ordering::Relaxed);
        }
        for (field, value) in changed {
            written.values.insert(field, Some(value));
        }
        return Ok(());
    }
    let problem = answer.text().await.unwrap_or_default();
    ensure!(
        status.is_client_error(),
        "user PATCH answered {status} (a server error is a bug): {problem}"
    );
    run.counters.api_rejected.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// `EDITORS` tasks editing linked users' contacts in HubSpot's UI (user token).
pub fn spawn_contact_editors(
    run: &Arc<Run>,
    edits: usize,
    editors: usize,
) -> Vec<tokio::task::JoinHandle<anyhow::Result<()>>> {
    let next = Arc::new(AtomicUsize::new(0));
    (0..editors)
        .map(|_| {
            let (run, next) = (run.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    if next.fetch_add(1, Ordering::Relaxed) >= edits {
                        return Ok(());
                    }
                    let contacts = linked_contacts(&run).await?;
                    let Some(contact) = contacts.choose(&mut rand::rng()).cloned() else {
                        next.fetch_sub(1, Ordering::Relaxed);
                        run.left("waiting for a first contact to edit in HubSpot")?;
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        continue;
                    };
                    edit_contact(&run, &contact).await?;
                }
            })
        })
        .collect()
}

async fn linked_contacts(run: &Run) -> anyhow::Result<Vec<String>> {
    let client = run.database.client().await?;
    let rows = client
        .query(
            "SELECT hubspot_id FROM hubspot_links WHERE object_type = 'contacts' AND unlinked_at IS NULL",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

async fn edit_contact(run: &Run, contact_id: &str) -> anyhow::Result<()> {
    let (property, value) = {
        let mut rng = rand::rng();
        match rng.random_range(0..100) {
            0..35 => ("firstname", person(&mut rng)),
            35..55 => ("lastname", person(&mut rng)),
            55..70 => (
                "jobtitle",
                format!("HubSpot title {}", rng.random_range(0..100)),
            ),
            70..80 => ("phone", super::phone(&mut rng)),
            80..90 => ("email", user_email(&mut rng)),
            _ => ("warp_role", role(&mut rng).to_owned()),
        }
    };
    let answer = run
        .http
        .patch(format!(
            "{}/crm/v3/objects/contacts/{contact_id}",
            run.args.sandbox
        ))
        .bearer_auth(USER_TOKEN)
        .json(&json!({"properties": {property: value}}))
        .send()
        .await?;
    let status = answer.status();
    // A contact merged or deleted meanwhile is not an error of the run; none are here.
    ensure!(
        status.is_success(),
        "HubSpot edit of contact {contact_id} ({property}) answered {status}: {}",
        answer.text().await.unwrap_or_default()
    );
    run.counters.contact_edits.fetch_add(1, Ordering::Relaxed);
    let rule = FieldMap::default_for(ObjectType::Contacts)
        .iter()
        .find(|m| m.hubspot_property == property)
        .map_or("UNMAPPED", |m| rule_name(m.rule));
    *run.counters
        .edits_by_rule
        .lock()
        .await
        .entry(rule)
        .or_default() += 1;
    Ok(())
}

/// Every user is exactly one contact (by `warp_user_id`), linked to it, with every mapped
/// field equal on both sides, and its WARP_WINS fields at the last acknowledged API value.
pub async fn verify_contacts(run: &Run, users: &[User]) -> anyhow::Result<ContactVerdict> {
    let map = FieldMap::default_for(ObjectType::Contacts);
    let properties: Vec<String> = map.iter().map(|m| m.hubspot_property.clone()).collect();
    let contacts = all_records(run, "contacts", &properties).await?;
    let mut by_user: HashMap<String, Vec<usize>> = HashMap::new();
    for (index, (_, props)) in contacts.iter().enumerate() {
        let user = props
            .get("warp_user_id")
            .cloned()
            .flatten()
            .unwrap_or_default();
        by_user.entry(user).or_default().push(index);
    }
    let client = run.database.client().await?;
    let links: BTreeMap<Uuid, String> = client
        .query(
            "SELECT local_id, hubspot_id FROM hubspot_links WHERE object_type = 'contacts' AND unlinked_at IS NULL",
            &[],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let store = warp_store::users::UserStore::new(run.database.clone(), run.args.portal_id);
    let mut verdict = ContactVerdict::default();
    for user in users {
        let stored = store.get(user.id).await?;
        let found = by_user
            .get(&user.id.to_string())
            .map_or(&[][..], Vec::as_slice);
        let [index] = found else {
            verdict.failures.push(format!(
                "user {} has {} HubSpot contacts with its id (expected 1)",
                user.id,
                found.len()
            ));
            continue;
        };
        verdict.one_contact += 1;
        let (contact_id, props) = &contacts[*index];
        if links.get(&user.id) != Some(contact_id) {
            verdict.failures.push(format!(
                "user {} is linked to {:?}, its contact is {contact_id}",
                user.id,
                links.get(&user.id)
            ));
        }
        let warp = user_field_values(&stored);
        let written = user.written.lock().await;
        for mapping in map.iter().filter(|m| m.enabled) {
            verdict.fields_compared += 1;
            let field = mapping.field;
            let warp_value = warp.get(field).flatten().map(str::to_owned);
            let hubspot_value = canonical_opt(
                field,
                props
                    .get(&mapping.hubspot_property)
                    .cloned()
                    .flatten()
                    .as_deref(),
            );
            if warp_value != hubspot_value {
                verdict.mismatches += 1;
                verdict.failures.push(format!(
                    "user {} field {} ({}): WARP and HubSpot differ",
                    user.id,
                    field.as_str(),
                    rule_name(mapping.rule)
                ));
                continue;
            }
            if mapping.rule == ConflictRule::WarpWins
                && let Some(sent) = written.values.get(&field)
                && canonical_opt(field, sent.as_deref()) != warp_value
            {
                verdict.mismatches += 1;
                verdict.failures.push(format!(
                    "user {} field {} (WARP_WINS) is not the last value the API acknowledged",
                    user.id,
                    field.as_str()
                ));
            }
        }
    }
    let strays = contacts.len() - verdict.one_contact;
    if strays > 0 {
        verdict.failures.push(format!(
            "{strays} HubSpot contact(s) belong to no user of the run (duplicates or strays)"
        ));
    }
    Ok(verdict)
}
