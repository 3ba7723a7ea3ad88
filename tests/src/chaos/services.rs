//! Trunks and numbers in the chaos run (issue 22): while everything else runs, the API creates,
//! changes, moves and releases the customers' SIP trunks and phone numbers, and people in
//! HubSpot edit the `warp_trunk` / `warp_number` records WARP pushed (the home portal is
//! Enterprise: `SANDBOX_ENTERPRISE=true`). The service push runs in `warp dev` under the same
//! faults. At the end every trunk and number is one record in HubSpot (none lost, none
//! doubled, none stray) holding WARP's values, associated with its company and a number with
//! its trunk; the reconciliation's read-back (dry run) finds no drift.

use anyhow::{Context, ensure};
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;
use uuid::Uuid;
use warp_domain::phone_number::PhoneNumber;
use warp_domain::service_objects::{self as service, NUMBER_PROPERTIES, TRUNK_PROPERTIES};
use warp_domain::trunk::Trunk;
use warp_store::services::ServiceItem;

use super::{Customer, Run, USER_TOKEN, all_records};

/// API writers of trunks and numbers in flight at once.
const WRITERS: usize = 3;

#[derive(Default)]
pub struct ServiceCounters {
    pub trunks_created: AtomicUsize,
    pub numbers_added: AtomicUsize,
    pub updates: AtomicUsize,
    pub releases: AtomicUsize,
    /// Writes the API refused as the rules say (a number moved to a trunk released meanwhile,
    /// a trunk still routing numbers): 409 or 422.
    pub refused: AtomicUsize,
    /// Writes done (answered), whatever the answer: the HubSpot edits keep pace with them.
    pub writes_done: AtomicUsize,
    pub hubspot_edits: AtomicUsize,
}

/// What the service check found.
#[derive(Default)]
pub struct ServiceVerdict {
    pub trunks: usize,
    pub numbers: usize,
    pub associations_checked: usize,
    pub failures: Vec<String>,
}

/// What the writers know exists (the API is the truth; this only picks targets).
#[derive(Default)]
struct Picture {
    /// (customer, trunk) of trunks not released.
    trunks: Vec<(Uuid, Uuid)>,
    /// (customer, number, trunk) of numbers in service.
    numbers: Vec<(Uuid, Uuid, Option<Uuid>)>,
    next_number: u64,
}

/// Makes `count` trunk and number writes through the API, [`WRITERS`] at a time.
pub fn spawn_service_writers(
    run: &Arc<Run>,
    customers: &Arc<Vec<Customer>>,
    count: usize,
    counters: &Arc<ServiceCounters>,
) -> Vec<tokio::task::JoinHandle<anyhow::Result<()>>> {
    let picture = Arc::new(Mutex::new(Picture::default()));
    let next = Arc::new(AtomicUsize::new(0));
    (0..WRITERS)
        .map(|_| {
            let (run, customers, counters, picture, next) = (
                run.clone(),
                customers.clone(),
                counters.clone(),
                picture.clone(),
                next.clone(),
            );
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < count {
                    run.left("writing trunks and numbers")?;
                    one_write(&run, &customers, &picture, &counters).await?;
                    counters.writes_done.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect()
}

async fn one_write(
    run: &Run,
    customers: &[Customer],
    picture: &Mutex<Picture>,
    counters: &ServiceCounters,
) -> anyhow::Result<()> {
    let (roll, customer) = {
        let mut rng = rand::rng();
        let customer = customers.choose(&mut rng).context("no customers")?.id;
        (rng.random_range(0..100), customer)
    };
    let (trunk, number, number_id) = {
        let mut picture = picture.lock().await;
        let mut rng = rand::rng();
        picture.next_number += 1;
        (
            picture.trunks.choose(&mut rng).copied(),
            picture.numbers.choose(&mut rng).copied(),
            picture.next_number,
        )
    };
    match (roll, trunk, number) {
        (0..20, _, _) | (_, None, _) => {
            let body = json!({"name": format!("Chaos trunk {}", short(&Uuid::new_v4())),
                              "ip_addresses": [format!("198.51.100.{}", roll + 1)],
                              "concurrent_calls": roll * 10 + 1});
            let path = format!("/v1/customers/{customer}/trunks");
            if let Some(created) = write(run, reqwest::Method::POST, &path, &body, counters).await?
            {
                let id = id_of(&created)?;
                picture.lock().await.trunks.push((customer, id));
                counters.trunks_created.fetch_add(1, Ordering::Relaxed);
            }
        }
        (20..50, Some((owner, trunk)), _) => {
            // Numbers of the run are unique: +1 303 9xx xxxx by a counter.
            let kind = ["local", "tollfree", "mobile"][roll as usize % 3];
            let body = json!({"number": format!("+1303{:07}", 9_000_000 + number_id),
                              "type": kind, "capabilities": ["voice", "sms"],
                              "monthly_cost": format!("{}.25", roll % 7),
                              "trunk_id": (roll % 5 != 0).then(|| trunk.to_string())});
            let path = format!("/v1/customers/{owner}/numbers");
            if let Some(created) = write(run, reqwest::Method::POST, &path, &body, counters).await?
            {
                let routed = created["trunk_id"].as_str().and_then(|t| t.parse().ok());
                picture
                    .lock()
                    .await
                    .numbers
                    .push((owner, id_of(&created)?, routed));
                counters.numbers_added.fetch_add(1, Ordering::Relaxed);
            }
        }
        (50..70, Some((owner, trunk)), _) => {
            let body = match roll % 3 {
                0 => json!({"name": format!("Renamed {}", short(&Uuid::new_v4()))}),
                1 => json!({"concurrent_calls": roll * 3}),
                _ => json!({"status": if roll % 2 == 0 { "suspended" } else { "active" }}),
            };
            let path = format!("/v1/customers/{owner}/trunks/{trunk}");
            if write(run, reqwest::Method::PATCH, &path, &body, counters)
                .await?
                .is_some()
            {
                counters.updates.fetch_add(1, Ordering::Relaxed);
            }
        }
        (70..88, _, Some((owner, number, _))) => {
            // Moved to another trunk of its customer (or none), or its caller name changed.
            let other = picture
                .lock()
                .await
                .trunks
                .iter()
                .filter(|(c, _)| *c == owner)
                .map(|(_, t)| *t)
                .collect::<Vec<_>>()
                .choose(&mut rand::rng())
                .copied();
            let body = if roll % 2 == 0 {
                json!({"trunk_id": other.map(|t| t.to_string())})
            } else {
                json!({"cnam": format!("CHAOS {}", roll)})
            };
            let path = format!("/v1/customers/{owner}/numbers/{number}");
            if let Some(patched) =
                write(run, reqwest::Method::PATCH, &path, &body, counters).await?
            {
                let routed = patched["trunk_id"].as_str().and_then(|t| t.parse().ok());
                let mut picture = picture.lock().await;
                if let Some(entry) = picture.numbers.iter_mut().find(|n| n.1 == number) {
                    entry.2 = routed;
                }
                counters.updates.fetch_add(1, Ordering::Relaxed);
            }
        }
        (88..95, _, Some((owner, number, _))) => {
            let path = format!("/v1/customers/{owner}/numbers/{number}/release");
            if write(run, reqwest::Method::POST, &path, &Value::Null, counters)
                .await?
                .is_some()
            {
                picture.lock().await.numbers.retain(|n| n.1 != number);
                counters.releases.fetch_add(1, Ordering::Relaxed);
            }
        }
        (_, Some((owner, trunk)), _) => {
            // Refused (409) while numbers route to it: counted, as the API's rule.
            let path = format!("/v1/customers/{owner}/trunks/{trunk}/release");
            if write(run, reqwest::Method::POST, &path, &Value::Null, counters)
                .await?
                .is_some()
            {
                picture.lock().await.trunks.retain(|t| t.1 != trunk);
                counters.releases.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Ok(())
}

/// One API write (If-Match `*`, an Idempotency-Key kept across retries); `None` when the API
/// refused it by its rules (409, 422), an error for anything else.
async fn write(
    run: &Run,
    method: reqwest::Method,
    path: &str,
    body: &Value,
    counters: &ServiceCounters,
) -> anyhow::Result<Option<Value>> {
    let key = Uuid::new_v4().to_string();
    let mut last = String::new();
    for attempt in 0..10u64 {
        run.left("writing a trunk or number")?;
        let mut request = run
            .api(method.clone(), path)
            .header("if-match", "*")
            .header("idempotency-key", &key);
        if !body.is_null() {
            request = request.json(body);
        }
        match request.send().await {
            Ok(answer) if answer.status().is_success() => return Ok(Some(answer.json().await?)),
            Ok(answer) if matches!(answer.status().as_u16(), 409 | 422) => {
                counters.refused.fetch_add(1, Ordering::Relaxed);
                return Ok(None);
            }
            Ok(answer) if answer.status().is_server_error() => {
                last = format!(
                    "{} {}",
                    answer.status(),
                    answer.text().await.unwrap_or_default()
                );
            }
            Ok(answer) => {
                let status = answer.status();
                anyhow::bail!(
                    "{method} {path} answered {status}: {}",
                    answer.text().await.unwrap_or_default()
                );
            }
            Err(error) => last = error.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100 * (attempt + 1))).await;
    }
    anyhow::bail!("{method} {path} kept failing: {last}")
}

/// People in HubSpot edit `count` pushed trunk and number records (never deleting one: a
/// record deleted there keeps its WARP id, and a person restores it), spread over the API's
/// `writes` so that many edits come after the last WARP change of their record: those only the
/// reconciliation's read-back puts back.
pub fn spawn_hubspot_editors(
    run: &Arc<Run>,
    count: usize,
    writes: usize,
    counters: &Arc<ServiceCounters>,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let (run, counters) = (run.clone(), counters.clone());
    tokio::spawn(async move {
        while counters.hubspot_edits.load(Ordering::Relaxed) < count {
            run.left("editing trunk and number records in HubSpot")?;
            let edit = counters.hubspot_edits.load(Ordering::Relaxed);
            if counters.writes_done.load(Ordering::Relaxed) < edit * writes / count {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            let Some((type_id, record, properties)) = pushed_record(&run).await? else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            let answer = run
                .http
                .patch(format!(
                    "{}/crm/v3/objects/{type_id}/{record}",
                    run.args.sandbox
                ))
                .bearer_auth(USER_TOKEN)
                .json(&json!({ "properties": properties }))
                .send()
                .await?;
            let status = answer.status();
            ensure!(
                status.is_success(),
                "HubSpot edit of {type_id} {record} answered {status}: {}",
                answer.text().await.unwrap_or_default()
            );
            counters.hubspot_edits.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    })
}

/// A random trunk or number record as WARP last pushed it (one kind or the other, evenly: a
/// person edits what HubSpot shows; a record with a push still to come would only be
/// overwritten by it), and an edit of it.
async fn pushed_record(run: &Run) -> anyhow::Result<Option<(String, String, Value)>> {
    let (trunk, suffix) = {
        let mut rng = rand::rng();
        (rng.random_bool(0.5), rng.random_range(0..1000))
    };
    let (type_column, table) = if trunk {
        ("trunk_type_id", "trunks")
    } else {
        ("number_type_id", "phone_numbers")
    };
    let client = run.database.client().await?;
    let row = client
        .query_opt(
            &format!(
                "SELECT s.{type_column}, r.hubspot_object_id FROM hubspot_service_objects s \
                 CROSS JOIN LATERAL (SELECT hubspot_object_id FROM {table} \
                   WHERE hubspot_object_id IS NOT NULL AND pushed_version = version \
                   ORDER BY random() LIMIT 1) r \
                 WHERE s.{type_column} IS NOT NULL"
            ),
            &[],
        )
        .await?;
    let edit = match (trunk, suffix % 2) {
        (true, 0) => json!({"warp_name": format!("Edited in HubSpot {suffix}")}),
        (true, _) => json!({"warp_concurrent_calls": suffix.to_string()}),
        (false, _) => json!({"warp_cnam": format!("EDITED {suffix}")}),
    };
    Ok(row.map(|row| (row.get(0), row.get(1), edit)))
}

/// Trunks and numbers not yet pushed at their version (and not refused): what `settle` waits
/// for.
pub async fn services_left(run: &Run) -> anyhow::Result<i64> {
    let mut left = 0;
    for table in ["trunks", "phone_numbers"] {
        left += run
            .scalar(&format!(
                "SELECT count(*) FROM {table} t JOIN customers c ON c.id = t.customer_id \
                   AND c.external_ids ? 'hubspot_company_id' \
                 WHERE t.pushed_version IS DISTINCT FROM t.version \
                   AND t.failed_version IS DISTINCT FROM t.version"
            ))
            .await?;
    }
    Ok(left)
}

/// Every trunk and number against HubSpot's records: one record each, WARP's values, the
/// company's association, a number's association with its trunk (and no other).
pub async fn verify_services(run: &Run) -> anyhow::Result<ServiceVerdict> {
    let mut verdict = ServiceVerdict::default();
    let client = run.database.client().await?;
    let Some(mode) = client
        .query_opt(
            "SELECT mode, trunk_type_id, number_type_id, detail FROM hubspot_service_objects",
            &[],
        )
        .await?
    else {
        verdict
            .failures
            .push("the service push never ran (no mode detected)".to_owned());
        return Ok(verdict);
    };
    let (trunk_type, number_type): (Option<String>, Option<String>) = (mode.get(1), mode.get(2));
    let (Some(trunk_type), Some(number_type)) = (trunk_type, number_type) else {
        let (kind, detail): (String, String) = (mode.get(0), mode.get(3));
        verdict.failures.push(format!(
            "the home portal shows trunks and numbers as {kind}, not custom objects: {detail}"
        ));
        return Ok(verdict);
    };
    for table in ["trunks", "phone_numbers"] {
        let refused = run
            .scalar(&format!(
                "SELECT count(*) FROM {table} WHERE failed_version = version"
            ))
            .await?;
        if refused > 0 {
            verdict
                .failures
                .push(format!("{refused} of the {table} refused by HubSpot"));
        }
    }
    let trunks = rows::<Trunk>(run).await?;
    let numbers = rows::<PhoneNumber>(run).await?;
    verdict.trunks = trunks.len();
    verdict.numbers = numbers.len();
    let trunk_records = compare(
        run,
        &trunk_type,
        "trunk",
        TRUNK_PROPERTIES,
        &trunks,
        |(trunk, ban, _)| service::trunk_values(trunk, ban),
        &mut verdict.failures,
    )
    .await?;
    let number_records = compare(
        run,
        &number_type,
        "number",
        NUMBER_PROPERTIES,
        &numbers,
        |(number, ban, _)| service::number_values(number, ban),
        &mut verdict.failures,
    )
    .await?;
    for (trunk, _, company) in &trunks {
        if let Some(record) = trunk_records.get(&trunk.id) {
            let companies = associated(run, &trunk_type, record, "companies").await?;
            verdict.associations_checked += 1;
            expect_associated(
                &mut verdict.failures,
                "trunk",
                trunk.id,
                "company",
                &companies,
                company,
            );
        }
    }
    for (number, _, company) in &numbers {
        let Some(record) = number_records.get(&number.id) else {
            continue;
        };
        let companies = associated(run, &number_type, record, "companies").await?;
        expect_associated(
            &mut verdict.failures,
            "number",
            number.id,
            "company",
            &companies,
            company,
        );
        let routed = associated(run, &number_type, record, &trunk_type).await?;
        verdict.associations_checked += 2;
        match number.trunk_id.and_then(|t| trunk_records.get(&t)) {
            Some(trunk_record) => expect_associated(
                &mut verdict.failures,
                "number",
                number.id,
                "trunk",
                &routed,
                trunk_record,
            ),
            None if !routed.is_empty() => verdict.failures.push(format!(
                "number {} has no trunk in WARP, {} trunk association(s) in HubSpot",
                number.id,
                routed.len()
            )),
            None => {}
        }
    }
    Ok(verdict)
}

fn expect_associated(
    failures: &mut Vec<String>,
    kind: &str,
    id: Uuid,
    to: &str,
    found: &[String],
    expected: &str,
) {
    if found != [expected] {
        failures.push(format!(
            "{kind} {id} is associated with {found:?} as its {to} in HubSpot (expected [{expected}])"
        ));
    }
}

/// Every row of `T` of a linked customer, with the customer's BAN and company.
async fn rows<T: ServiceItem>(run: &Run) -> anyhow::Result<Vec<(T, String, String)>> {
    let client = run.database.client().await?;
    let columns = T::COLUMNS
        .split(',')
        .map(|c| format!("t.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {columns}, c.ban, c.external_ids->>'hubspot_company_id' AS company_id \
         FROM {} t JOIN customers c ON c.id = t.customer_id \
           AND c.external_ids ? 'hubspot_company_id' ORDER BY t.id",
        T::TABLE
    );
    client
        .query(&sql, &[])
        .await?
        .iter()
        .map(|row| {
            Ok((
                T::from_row(row).map_err(|e| anyhow::anyhow!("{e}"))?,
                row.try_get("ban")?,
                row.try_get("company_id")?,
            ))
        })
        .collect()
}

/// Compares WARP's rows with the type's records: one record per row (none lost, none doubled,
/// none stray), WARP's values. Answers each row's record.
async fn compare<T: ServiceItem>(
    run: &Run,
    type_id: &str,
    kind: &str,
    properties: &[service::PropertySpec],
    rows: &[(T, String, String)],
    values_of: impl Fn(&(T, String, String)) -> service::Values,
    failures: &mut Vec<String>,
) -> anyhow::Result<HashMap<Uuid, String>> {
    let names: Vec<String> = properties.iter().map(|p| p.0.to_owned()).collect();
    let id_property = properties[0].0;
    let records = all_records(run, type_id, &names).await?;
    let mut by_warp_id: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (index, (_, props)) in records.iter().enumerate() {
        let warp_id = props
            .get(id_property)
            .cloned()
            .flatten()
            .unwrap_or_default();
        by_warp_id.entry(warp_id).or_default().push(index);
    }
    let mut found = HashMap::new();
    for row in rows {
        let id = row.0.id();
        let Some(indexes) = by_warp_id.remove(&id.to_string()) else {
            failures.push(format!("{kind} {id} has no record in HubSpot (lost)"));
            continue;
        };
        if indexes.len() > 1 {
            failures.push(format!(
                "{kind} {id} has {} records in HubSpot (duplicated)",
                indexes.len()
            ));
        }
        let (record, theirs) = &records[indexes[0]];
        let differing = service::differing(&values_of(row), theirs);
        if !differing.is_empty() {
            failures.push(format!(
                "{kind} {id} differs in HubSpot on {differing:?} (drift)"
            ));
        }
        found.insert(id, record.clone());
    }
    for (warp_id, indexes) in by_warp_id {
        failures.push(format!(
            "{} {kind} record(s) in HubSpot carry the WARP id {warp_id:?}, which WARP has not (stray)",
            indexes.len()
        ));
    }
    Ok(found)
}

/// The records `record` (of `from`) is associated with in `to`.
async fn associated(run: &Run, from: &str, record: &str, to: &str) -> anyhow::Result<Vec<String>> {
    let page: Value = run
        .http
        .get(format!(
            "{}/crm/v4/objects/{from}/{record}/associations/{to}?limit=500",
            run.args.sandbox
        ))
        .bearer_auth(USER_TOKEN)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let mut ids: Vec<String> = page["results"]
        .as_array()
        .map(|results| {
            results
                .iter()
                .filter_map(|r| r["toObjectId"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    Ok(ids)
}

fn id_of(body: &Value) -> anyhow::Result<Uuid> {
    body["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .context("a created trunk or number's id")
}

fn short(id: &Uuid) -> String {
    id.simple().to_string()[..8].to_owned()
}
