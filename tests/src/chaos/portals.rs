//! Customer portals in the chaos run (issue #19): two customers connect their own HubSpot
//! through the API's OAuth flow (initiate, the sandbox's consent page for their account, the
//! callback); company rows for those portals are queued beside the home portal's traffic, under
//! the same faults; one portal removes the app mid-run (its installation needs reconnecting,
//! its rows wait) and is connected again. At the end each customer portal holds exactly the
//! companies queued for it, with WARP's latest values, nothing of another portal's, and the
//! home portal passes its own checks untouched.
//!
//! What queues the rows is this driver (SQL), standing in for the producers later issues add:
//! the engine, the budgets and the routing under test are the product's.

use anyhow::{Context, bail, ensure};
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;
use uuid::Uuid;
use warp_hubspot::{HubSpotClient, ListOptions, PostgresRateBudget};

use super::{Customer, Run};

/// The customer portals' HubSpot accounts (the sandbox makes them on consent).
pub const PORTALS: [i64; 2] = [7_101, 7_102];
/// The portal that removes the app mid-run and is reconnected.
pub const REVOKED: i64 = 7_102;

/// The portals, their owners and what was queued for each.
pub struct CustomerPortals {
    owners: BTreeMap<i64, Uuid>,
    queued: Mutex<BTreeMap<i64, BTreeSet<Uuid>>>,
    pub rows_queued: AtomicUsize,
    /// Rows of the revoked portal waiting when it was reconnected.
    pub waiting_at_reconnect: AtomicUsize,
}

/// What the customer-portal checks found.
#[derive(Default)]
pub struct PortalVerdict {
    pub companies_checked: usize,
    pub mismatches: usize,
    pub failures: Vec<String>,
}

/// Connects `portal` for `owner` the way a person does: the API's connect link, HubSpot's
/// consent page answered for that account, HubSpot's redirect to the callback.
async fn connect(run: &Run, owner: Uuid, portal: i64) -> anyhow::Result<Value> {
    let started: Value = run
        .api(
            reqwest::Method::GET,
            &format!("/v1/hubspot/oauth/initiate?customer_id={owner}"),
        )
        .send()
        .await?
        .error_for_status()
        .context("initiate")?
        .json()
        .await?;
    let authorize = url::Url::parse(started["authorize_url"].as_str().context("authorize_url")?)?;
    let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    form.push(("decision".into(), "approve".into()));
    form.push(("portal_id".into(), portal.to_string()));
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&form)
        .finish();
    let consent = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .post(format!("{}/oauth/authorize", run.args.sandbox))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await?;
    ensure!(
        consent.status() == 303,
        "the consent page answered {}",
        consent.status()
    );
    let back = consent
        .headers()
        .get("location")
        .context("the consent's redirect")?
        .to_str()?
        .to_owned();
    let back = url::Url::parse(&back)?;
    let answer = run
        .http
        .get(format!(
            "{}{}?{}",
            run.args.api,
            back.path(),
            back.query().unwrap_or_default()
        ))
        .send()
        .await?;
    let status = answer.status();
    let body: Value = answer.json().await?;
    ensure!(status == 200, "the callback answered {status}: {body}");
    Ok(body)
}

/// WARP's client for a customer portal, with that installation's OAuth tokens and budget (the
/// same Postgres budget row as the worker's), from the local configuration `warp dev` runs.
async fn portal_client(run: &Run, portal: i64) -> anyhow::Result<HubSpotClient> {
    let sandbox = run.args.sandbox.clone();
    let config = warp_runtime::Config::from_lookup(|name| {
        (name == "HUBSPOT_BASE_URL").then(|| sandbox.clone())
    })?;
    let secrets = warp_runtime::SecretsCache::values_only();
    let (app, keyring) = warp_sync::wiring::oauth_app(&config, &secrets)
        .await?
        .context("the local configuration has WARP's HubSpot app")?;
    let mut client_config = warp_hubspot::HubSpotClientConfig::from_runtime(
        &config,
        secrecy::SecretString::from(String::new()),
    )?;
    client_config.portal_id = portal;
    client_config.rate_limit.max_per_interval = config.hubspot.installed_rate_limit_max;
    let budget = PostgresRateBudget::new(
        run.database.pool().clone(),
        portal,
        &client_config.rate_limit,
    );
    Ok(
        HubSpotClient::new(&client_config, Arc::new(budget))?.with_credentials(Arc::new(
            warp_installations::InstallationCredentials::new(
                portal,
                run.database.clone(),
                keyring,
                app,
            ),
        )),
    )
}

impl CustomerPortals {
    /// Connects each portal for its own customer and makes WARP's properties there.
    pub async fn connect_all(run: &Run, customers: &[Customer]) -> anyhow::Result<Self> {
        ensure!(customers.len() >= PORTALS.len(), "too few customers");
        let mut owners = BTreeMap::new();
        for (portal, owner) in PORTALS.iter().zip(customers) {
            let installed = connect(run, owner.id, *portal).await?;
            ensure!(
                installed["status"] == "active" && installed["portal_id"] == *portal,
                "connecting {portal}: {installed}"
            );
            warp_hubspot::ensure_warp_properties(&portal_client(run, *portal).await?)
                .await
                .with_context(|| format!("WARP's properties in portal {portal}"))?;
            owners.insert(*portal, owner.id);
        }
        Ok(Self {
            owners,
            queued: Mutex::new(BTreeMap::new()),
            rows_queued: AtomicUsize::new(0),
            waiting_at_reconnect: AtomicUsize::new(0),
        })
    }

    async fn queue(&self, run: &Run, portal: i64, customer: Uuid) -> anyhow::Result<()> {
        let client = run.database.client().await?;
        client
            .execute(
                "INSERT INTO hubspot_sync_queue (portal_id, object_type, local_id, operation, local_version) \
                 SELECT $1, 'companies', id, 'RESYNC', version FROM customers WHERE id = $2",
                &[&portal, &customer],
            )
            .await?;
        self.queued
            .lock()
            .await
            .entry(portal)
            .or_default()
            .insert(customer);
        self.rows_queued.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Queues `rows` company rows for random customers and portals while the home traffic
    /// runs; a third of the way in, `REVOKED` removes the app, and it is connected again once
    /// WARP has marked it.
    pub fn spawn_queuer(
        self: &Arc<Self>,
        run: &Arc<Run>,
        customers: &Arc<Vec<Customer>>,
        rows: usize,
    ) -> tokio::task::JoinHandle<anyhow::Result<()>> {
        let (portals, run, customers) = (Arc::clone(self), Arc::clone(run), Arc::clone(customers));
        tokio::spawn(async move {
            for n in 0..rows {
                run.left("queuing customer-portal rows")?;
                let (portal, customer) = {
                    let mut rng = rand::rng();
                    let portal = *PORTALS.choose(&mut rng).context("a portal")?;
                    let customer = customers.choose(&mut rng).context("a customer")?.id;
                    (portal, customer)
                };
                portals.queue(&run, portal, customer).await?;
                if n == rows / 3 {
                    portals.revoke_and_reconnect(&run).await?;
                }
                let pause = rand::rng().random_range(5..25);
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            Ok(())
        })
    }

    async fn installation_status(&self, run: &Run, portal: i64) -> anyhow::Result<String> {
        let installation: Value = run
            .api(
                reqwest::Method::GET,
                &format!("/v1/hubspot/installations/{portal}"),
            )
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(installation["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    async fn revoke_and_reconnect(&self, run: &Run) -> anyhow::Result<()> {
        let answer = run
            .http
            .post(format!("{}/_sandbox/oauth/uninstall", run.args.sandbox))
            .json(&json!({"portal_id": REVOKED}))
            .send()
            .await?;
        ensure!(answer.status() == 204, "uninstall: {}", answer.status());
        // Rows keep coming for it; the worker's next call finds the grant gone.
        let owner = self.owners[&REVOKED];
        loop {
            run.left("waiting for the uninstalled portal to need reconnecting")?;
            if self.installation_status(run, REVOKED).await? == "needs_reconnect" {
                break;
            }
            self.queue(run, REVOKED, owner).await?;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let waiting = run
            .scalar(&format!(
                "SELECT count(*) FROM hubspot_sync_queue WHERE portal_id = {REVOKED} \
                 AND status IN ('PENDING', 'IN_FLIGHT')"
            ))
            .await?;
        self.waiting_at_reconnect
            .store(usize::try_from(waiting).unwrap_or(0), Ordering::Relaxed);
        let again = connect(run, owner, REVOKED).await?;
        ensure!(again["status"] == "active", "reconnecting: {again}");
        Ok(())
    }

    /// One last row per queued (portal, customer), once the run has settled, so each portal
    /// ends with the customer's latest values (as a producer queues one on every change).
    pub async fn queue_latest(&self, run: &Run) -> anyhow::Result<()> {
        let queued = self.queued.lock().await.clone();
        for (portal, customers) in queued {
            for customer in customers {
                self.queue(run, portal, customer).await?;
            }
        }
        Ok(())
    }

    /// Each portal holds exactly the companies queued for it, each with the customer's BAN,
    /// name and domain as WARP has them now; its links are its own; both are active.
    pub async fn verify(&self, run: &Run) -> anyhow::Result<PortalVerdict> {
        let mut verdict = PortalVerdict::default();
        let queued = self.queued.lock().await.clone();
        for (portal, customers) in &queued {
            let status = self.installation_status(run, *portal).await?;
            if status != "active" {
                verdict
                    .failures
                    .push(format!("portal {portal} ended {status}, not active"));
            }
            let expected: BTreeMap<String, (String, Option<String>)> = {
                let client = run.database.client().await?;
                let ids: Vec<Uuid> = customers.iter().copied().collect();
                client
                    .query(
                        "SELECT ban, company_name, domain FROM customers WHERE id = ANY($1)",
                        &[&ids],
                    )
                    .await?
                    .iter()
                    .map(|row| (row.get(0), (row.get(1), row.get(2))))
                    .collect()
            };
            let client = portal_client(run, *portal).await?;
            let options = ListOptions {
                properties: vec!["warp_ban".into(), "name".into(), "domain".into()],
                ..ListOptions::default()
            };
            let mut after: Option<String> = None;
            let mut seen = BTreeSet::new();
            loop {
                run.left(&format!("listing portal {portal}'s companies"))?;
                let page = client
                    .companies()
                    .list_page(&options, after.as_deref())
                    .await?;
                for company in &page.results {
                    let property = |name: &str| company.properties.get(name).cloned().flatten();
                    let Some(ban) = property("warp_ban") else {
                        verdict.failures.push(format!(
                            "portal {portal}: company {} has no warp_ban",
                            company.id.as_str()
                        ));
                        continue;
                    };
                    verdict.companies_checked += 1;
                    if !seen.insert(ban.clone()) {
                        verdict
                            .failures
                            .push(format!("portal {portal}: {ban} has two companies"));
                    }
                    match expected.get(&ban) {
                        None => verdict.failures.push(format!(
                            "portal {portal}: {ban} was never queued for it (crossed portals)"
                        )),
                        Some((name, domain)) => {
                            if property("name").as_deref() != Some(name.as_str())
                                || property("domain") != *domain
                            {
                                verdict.mismatches += 1;
                                verdict.failures.push(format!(
                                    "portal {portal}: {ban} holds {:?}/{:?}, WARP {name:?}/{domain:?}",
                                    property("name"),
                                    property("domain")
                                ));
                            }
                        }
                    }
                }
                match page.next_after {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            for ban in expected.keys().filter(|ban| !seen.contains(*ban)) {
                verdict.failures.push(format!(
                    "portal {portal}: {ban} was queued but is missing (lost)"
                ));
            }
            let links = run
                .scalar(&format!(
                    "SELECT count(*) FROM hubspot_links WHERE portal_id = {portal} \
                     AND object_type = 'companies' AND unlinked_at IS NULL"
                ))
                .await?;
            if links != i64::try_from(customers.len())? {
                verdict.failures.push(format!(
                    "portal {portal}: {links} links for {} customers",
                    customers.len()
                ));
            }
        }
        if queued.len() != PORTALS.len() {
            bail!("rows were queued for {} portals only", queued.len());
        }
        Ok(verdict)
    }
}
