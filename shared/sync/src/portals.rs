//! Outbound work for every portal: the home portal's worker, and one per installed customer
//! portal, built when first needed, each with its own token source and its own request budget
//! (HubSpot allows an OAuth app 110 requests per 10 s per portal), so a slow, throttled or
//! disconnected portal never holds up another (DESIGN §7, guarantee 8).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use warp_hubspot::{HubSpotClient, HubSpotClientConfig, PostgresRateBudget};
use warp_installations::{InstallationCredentials, OAuthApp, TokenKeyring};
use warp_store::installations::{self, InstallationRole, InstallationStatus};
use warp_store::outbox;
use warp_store::sync_config::MappingSource;
use warp_store::{Database, StoreError};

use crate::outbound::{OutboundError, OutboundWorker, ProcessReport};

/// How long a process keeps a customer portal's worker before building it again, so a changed
/// request budget reaches every running process.
const WORKER_MAX_AGE: Duration = Duration::from_secs(300);

/// What a customer portal's worker is built from: WARP's HubSpot app and the home client's
/// settings (base URL, timeouts, retries); the token and the budget are the portal's own.
pub struct InstalledPortals {
    pub app: OAuthApp,
    pub keyring: Arc<TokenKeyring>,
    pub client_config: HubSpotClientConfig,
    /// Requests per 10 s for a portal whose installation names none.
    pub default_rate_limit_max: u32,
    pub mapping_max_age: Duration,
}

impl InstalledPortals {
    /// The HubSpot client of the customer portal `portal_id`: its installation's OAuth token
    /// and its own request budget (the installation's limit, else the default).
    pub async fn client(
        &self,
        database: &Database,
        portal_id: i64,
    ) -> Result<HubSpotClient, BuildError> {
        let installation = {
            let client = database.client().await.map_err(StoreError::from)?;
            installations::get(&**client, portal_id).await?
        };
        let installation = installation
            .filter(|i| matches!(i.role, InstallationRole::Customer(_)))
            .ok_or(BuildError::NotInstalled(portal_id))?;
        let mut config = self.client_config.clone();
        config.portal_id = portal_id;
        config.rate_limit.max_per_interval = installation
            .rate_limit_max
            .and_then(|max| u32::try_from(max).ok())
            .unwrap_or(self.default_rate_limit_max);
        let budget =
            PostgresRateBudget::new(database.pool().clone(), portal_id, &config.rate_limit);
        let credentials = InstallationCredentials::new(
            portal_id,
            database.clone(),
            Arc::clone(&self.keyring),
            self.app.clone(),
        );
        tracing::info!(
            portal_id,
            rate_limit_max = config.rate_limit.max_per_interval,
            "customer portal client ready"
        );
        Ok(HubSpotClient::new(&config, Arc::new(budget))?.with_credentials(Arc::new(credentials)))
    }
}

/// Pushes outbox rows, each by its portal's worker. Build it once per process.
pub struct PortalWorkers {
    home: Arc<OutboundWorker>,
    installed: Option<InstalledPortals>,
    workers: tokio::sync::Mutex<HashMap<i64, (Arc<OutboundWorker>, Instant)>>,
}

impl std::fmt::Debug for PortalWorkers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalWorkers")
            .field("home", &self.home)
            .field("customer_portals", &self.installed.is_some())
            .finish_non_exhaustive()
    }
}

/// Why a portal's client or worker could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("reading the installation: {0}")]
    Store(#[from] StoreError),
    #[error("building the HubSpot client: {0}")]
    Client(#[from] warp_hubspot::HubSpotError),
    #[error("reading the field mapping: {0}")]
    Mapping(#[from] warp_store::sync_config::SyncConfigError),
    #[error("portal {0} has no customer installation")]
    NotInstalled(i64),
}

impl PortalWorkers {
    /// The home portal only (no HubSpot app configured): every row is the home portal's.
    pub fn home_only(home: OutboundWorker) -> Self {
        Self {
            home: Arc::new(home),
            installed: None,
            workers: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The home portal and every customer portal installed through `installed`'s app.
    pub fn new(home: OutboundWorker, installed: InstalledPortals) -> Self {
        Self {
            installed: Some(installed),
            ..Self::home_only(home)
        }
    }

    pub fn home(&self) -> &OutboundWorker {
        &self.home
    }

    /// The worker of `portal_id`, built (or rebuilt when old) from its installation.
    async fn worker(&self, portal_id: i64) -> Result<Arc<OutboundWorker>, BuildError> {
        if portal_id == self.home.portal_id() {
            return Ok(Arc::clone(&self.home));
        }
        let Some(installed) = &self.installed else {
            return Err(BuildError::NotInstalled(portal_id));
        };
        let mut workers = self.workers.lock().await;
        if let Some((worker, built)) = workers.get(&portal_id)
            && built.elapsed() < WORKER_MAX_AGE
        {
            return Ok(Arc::clone(worker));
        }
        let worker = Arc::new(self.build(installed, portal_id).await?);
        workers.insert(portal_id, (Arc::clone(&worker), Instant::now()));
        Ok(worker)
    }

    async fn build(
        &self,
        installed: &InstalledPortals,
        portal_id: i64,
    ) -> Result<OutboundWorker, BuildError> {
        let database = self.home.database();
        let hubspot = installed.client(database, portal_id).await?;
        let mapping =
            MappingSource::load(database.clone(), portal_id, installed.mapping_max_age).await?;
        tracing::info!(portal_id, "customer portal worker ready");
        Ok(self.home.for_portal(hubspot, portal_id, mapping))
    }

    /// Processes these outbox rows, each portal's by its worker, the portals at once. Rows of a
    /// portal without a worker are reported failed (the queue retries them; they wait).
    pub async fn process(&self, outbox_ids: &[i64]) -> ProcessReport {
        if self.installed.is_none() {
            return self.home.process(outbox_ids).await;
        }
        let owners = match outbox::portals_of(self.home.database(), outbox_ids).await {
            Ok(owners) => owners.into_iter().collect::<HashMap<i64, i64>>(),
            Err(error) => {
                return ProcessReport::fail_all(
                    outbox_ids.iter().copied(),
                    &format!("could not read the rows' portals: {error}"),
                );
            }
        };
        let mut by_portal: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for id in outbox_ids {
            // A row that does not exist goes to the home worker, which says so.
            let portal = owners.get(id).copied().unwrap_or(self.home.portal_id());
            by_portal.entry(portal).or_default().push(*id);
        }
        let passes = by_portal.into_iter().map(|(portal_id, ids)| async move {
            match self.worker(portal_id).await {
                Ok(worker) => worker.process(&ids).await,
                Err(error) => {
                    tracing::warn!(portal_id, %error, rows = ids.len(), "no worker for the portal");
                    ProcessReport::fail_all(ids, &error.to_string())
                }
            }
        });
        let mut report = ProcessReport::default();
        for pass in join_all(passes).await {
            report.absorb(pass);
        }
        report.sorted()
    }

    /// The portals whose rows are sent now: the home portal and every active customer portal
    /// (a portal that needs reconnecting or was disconnected keeps its rows waiting).
    pub async fn active_portals(&self) -> Result<Vec<i64>, StoreError> {
        let mut portals = vec![self.home.portal_id()];
        if self.installed.is_some() {
            let client = self.home.database().client().await?;
            portals.extend(
                installations::list(&**client)
                    .await?
                    .into_iter()
                    .filter(|i| {
                        matches!(i.role, InstallationRole::Customer(_))
                            && i.status == InstallationStatus::Active
                    })
                    .map(|i| i.portal_id),
            );
        }
        Ok(portals)
    }

    /// Claims and processes due rows of every active portal once, the portals at once (a
    /// single pass, for callers that drive passes themselves, like the benchmarks). The local
    /// system runs [`run_portal_loops`] instead, where no portal waits for another's pass.
    pub async fn process_due(&self, limit: usize) -> Result<ProcessReport, OutboundError> {
        let passes = self
            .active_portals()
            .await?
            .into_iter()
            .map(|portal_id| async move {
                match self.worker(portal_id).await {
                    Ok(worker) => worker.process_due(limit).await,
                    Err(error) => {
                        tracing::warn!(portal_id, %error, "no worker for the portal");
                        Ok(ProcessReport::default())
                    }
                }
            });
        let mut report = ProcessReport::default();
        for pass in join_all(passes).await {
            report.absorb(pass?);
        }
        Ok(report.sorted())
    }
}

/// How often the loops' supervisor looks for portals connected or disconnected.
const PORTALS_RECHECK: Duration = Duration::from_secs(5);

/// One portal's passes: each pass takes the portal's current worker, so a rebuilt worker (a
/// changed budget) is used from the next pass on, and no pass is ever cut short to swap it.
struct PortalPasses {
    workers: Arc<PortalWorkers>,
    portal_id: i64,
}

impl PortalPasses {
    /// The portal's current worker; `None` (logged) when none can be built now.
    async fn current(&self) -> Option<Arc<OutboundWorker>> {
        self.workers
            .worker(self.portal_id)
            .await
            .inspect_err(|error| {
                tracing::warn!(portal_id = self.portal_id, %error, "no worker for the portal");
            })
            .ok()
    }
}

impl crate::outbound::DueRows for PortalPasses {
    async fn process_due(&self, limit: usize) -> Result<ProcessReport, OutboundError> {
        match self.current().await {
            Some(worker) => worker.process_due(limit).await,
            None => Ok(ProcessReport::default()),
        }
    }

    /// The portal's current worker drains (a rebuilt one is taken at the next drain).
    async fn drain_due(&self, limit: usize) -> Result<ProcessReport, OutboundError> {
        match self.current().await {
            Some(worker) => worker.drain_due(limit).await,
            None => Ok(ProcessReport::default()),
        }
    }
}

/// The local outbox loops (`warp dev`, `warp worker`): one [`run_outbox_loop`] per active
/// portal, each at its own pace, so a slow or throttled portal never holds up another; a
/// portal connected later gets its loop within seconds and a disconnected one loses it. Runs
/// until `shutdown` completes.
pub async fn run_portal_loops(
    workers: Arc<PortalWorkers>,
    interval: Duration,
    shutdown: impl Future<Output = ()>,
) {
    struct Running {
        stop: tokio::sync::watch::Sender<bool>,
        task: tokio::task::JoinHandle<()>,
    }
    let start = |portal_id: i64| {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let passes = PortalPasses {
            workers: Arc::clone(&workers),
            portal_id,
        };
        let task = tokio::spawn(crate::outbound::run_outbox_loop(
            Arc::new(passes),
            interval,
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            },
        ));
        Running { stop, task }
    };
    async fn end(running: Running) {
        running.stop.send_replace(true);
        let _ = running.task.await;
    }

    tokio::pin!(shutdown);
    let mut running: HashMap<i64, Running> = HashMap::new();
    loop {
        match workers.active_portals().await {
            Ok(active) => {
                for portal_id in &active {
                    if running
                        .get(portal_id)
                        .is_some_and(|r| !r.task.is_finished())
                    {
                        continue;
                    }
                    running.insert(*portal_id, start(*portal_id));
                }
                let gone: Vec<i64> = running
                    .keys()
                    .filter(|portal| !active.contains(portal))
                    .copied()
                    .collect();
                for portal_id in gone {
                    if let Some(old) = running.remove(&portal_id) {
                        tracing::info!(portal_id, "portal not active: its outbox loop stops");
                        end(old).await;
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "listing the active portals failed"),
        }
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(PORTALS_RECHECK) => {}
        }
    }
    for (_, old) in running.drain() {
        end(old).await;
    }
}

impl crate::outbound::DueRows for PortalWorkers {
    fn process_due(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<ProcessReport, OutboundError>> + Send {
        PortalWorkers::process_due(self, limit)
    }
}

impl crate::queue::ProcessOutbox for PortalWorkers {
    fn process(&self, outbox_ids: &[i64]) -> impl Future<Output = ProcessReport> + Send {
        PortalWorkers::process(self, outbox_ids)
    }
}
