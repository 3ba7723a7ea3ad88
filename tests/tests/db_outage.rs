//! Database outage under load: a private PostgreSQL cluster (initdb'd for this test, so
//! stopping it disturbs no other test) serves the real API while writers create customers; the
//! cluster is stopped the hard way (`pg_ctl stop -m immediate`, no checkpoint, clients cut) and
//! started again. The API must answer 503 problem+json while it is down (never a 500, never a
//! hang), recover by itself once it is back, and every write it acknowledged must be there, with
//! its outbox row.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use tokio::sync::Mutex;
use warp_api::{ApiState, AuthConfig};
use warp_store::Database;
use warp_tests::{PORTAL_ID, TEST_SECRET, editor, serve, viewer};

/// A throwaway cluster on a free loopback port, removed on drop.
struct PrivateCluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl PrivateCluster {
    fn create() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries under /usr/lib/postgresql")
            .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
            .find(|bin| bin.join("initdb").exists())
            .expect("an initdb under /usr/lib/postgresql/*/bin");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("warp-outage-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("cluster directory");
        let cluster = PrivateCluster { bin, dir, port };
        if is_root() {
            // initdb refuses to run as root: the cluster belongs to the postgres user.
            run(Command::new("chown")
                .arg("postgres:postgres")
                .arg(&cluster.dir));
        }
        run(cluster
            .command("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(cluster.data()));
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        run(self
            .command("pg_ctl")
            .args(["-w", "-t", "60", "-D"])
            .arg(self.data())
            .args(["-l"])
            .arg(self.dir.join("server.log"))
            .args(["-o", &options, "start"]));
    }

    /// Stops the server at once: active transactions are cut, nothing is checkpointed.
    fn stop_immediately(&self) {
        run(self
            .command("pg_ctl")
            .args(["-w", "-D"])
            .arg(self.data())
            .args(["-m", "immediate", "stop"]));
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D"])
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

fn run(command: &mut Command) {
    let output = command.output().expect("the command starts");
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[derive(Default)]
struct Tally {
    /// Customer ids the API acknowledged with 201, and when.
    acknowledged: Vec<(String, Instant)>,
    unavailable: usize,
    /// Anything else: (status, content type).
    unexpected: Vec<(u16, String)>,
}

async fn writer(
    client: reqwest::Client,
    base: String,
    token: String,
    running: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    worker: usize,
) {
    let mut n = 0;
    while running.load(Ordering::Relaxed) {
        n += 1;
        let body = serde_json::json!({
            "company_name": format!("Outage Writer {worker} #{n}"),
            "customer_type": "PREPAID",
        });
        let answer = client
            .post(format!("{base}/v1/customers"))
            .bearer_auth(&token)
            .json(&body)
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .expect("the API answers (it must not hang or drop the connection)");
        let status = answer.status().as_u16();
        let content_type = answer
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let value: serde_json::Value = answer.json().await.unwrap_or_default();
        let mut tally = tally.lock().await;
        match status {
            201 => {
                let id = value["id"].as_str().expect("a created customer has an id");
                tally.acknowledged.push((id.to_owned(), Instant::now()));
            }
            503 if content_type.starts_with("application/problem+json") => {
                tally.unavailable += 1;
                drop(tally);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            _ => tally.unexpected.push((status, content_type)),
        }
    }
}

async fn outbox_rows(url: &str, ids: &[uuid::Uuid]) -> i64 {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect after the restart");
    tokio::spawn(connection);
    client
        .query_one(
            "SELECT count(DISTINCT local_id) FROM hubspot_sync_queue WHERE local_id = ANY($1)",
            &[&ids],
        )
        .await
        .expect("count outbox rows")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_answers_503_while_postgres_is_down_recovers_and_loses_no_acknowledged_write() {
    let cluster = PrivateCluster::create();
    cluster.start();
    let url = cluster.url("warp_outage");
    let database = Database::prepare(&url, 8)
        .await
        .expect("create and migrate");
    let state = ApiState::new(
        database,
        AuthConfig::hs256(SecretString::from(TEST_SECRET)),
        PORTAL_ID,
    );
    let base = serve(warp_api::router(state)).await;

    let running = Arc::new(AtomicBool::new(true));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let client = reqwest::Client::new();
    let writers: Vec<_> = (0..6)
        .map(|worker| {
            tokio::spawn(writer(
                client.clone(),
                base.clone(),
                editor(),
                running.clone(),
                tally.clone(),
                worker,
            ))
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before_outage = tally.lock().await.acknowledged.len();
    cluster.stop_immediately();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during_outage = tally.lock().await.unavailable;
    let restarted_at = Instant::now();
    cluster.start();
    // Recovery is by itself: no restart of the API, no operator step. Bounded wait.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let recovered = tally
            .lock()
            .await
            .acknowledged
            .iter()
            .filter(|(_, at)| *at > restarted_at)
            .count();
        if recovered >= 20 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the API did not recover within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    running.store(false, Ordering::Relaxed);
    for writer in writers {
        writer.await.expect("writer task");
    }

    let tally = Arc::try_unwrap(tally)
        .ok()
        .expect("writers done")
        .into_inner();
    assert!(before_outage > 0, "writes succeeded before the outage");
    assert!(during_outage > 0, "the outage was seen as 503 problem+json");
    assert!(
        tally.unexpected.is_empty(),
        "only 201 or 503 problem+json, got {:?}",
        tally.unexpected
    );
    // Every acknowledged write survived the immediate stop, with its outbox row.
    let ids: Vec<uuid::Uuid> = tally
        .acknowledged
        .iter()
        .map(|(id, _)| id.parse().expect("uuid"))
        .collect();
    for id in &ids {
        let answer = client
            .get(format!("{base}/v1/customers/{id}"))
            .bearer_auth(viewer())
            .send()
            .await
            .expect("read back");
        assert_eq!(
            answer.status(),
            200,
            "acknowledged customer {id} is missing"
        );
    }
    assert_eq!(outbox_rows(&url, &ids).await, ids.len() as i64);
    eprintln!(
        "outage: {} acknowledged ({} before the stop), {} answered 503 while down",
        ids.len(),
        before_outage,
        tally.unavailable
    );
}
