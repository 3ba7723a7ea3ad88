//! The Lambda runtime protocol, locally: a function's real bootstrap (its release-shaped binary,
//! configured as in AWS) polls cargo-lambda's emulator (`cargo lambda watch
//! --only-lambda-apis`), which tests invoke by function name with real event JSON. "AWS" is
//! moto (Secrets Manager, SQS), the database is reached over verified TLS as through RDS Proxy,
//! and HubSpot is the sandbox.
//!
//! cargo-lambda comes from `$WARP_CARGO_LAMBDA` or the workspace's `.venv/bin/cargo-lambda`
//! (`make venv` installs it from PyPI).

use crate::hubspot::{APP_TOKEN, PORTAL};
use hubspot_sandbox::{SandboxConfig, SandboxHandle};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use warp_runtime::testing::MotoServer;
use warp_store::Database;

/// The HS256 secret the functions verify the API's tokens with (stored in moto).
pub const JWT_SECRET: &str = "lambda-runtime-test-secret";
/// The webhook secret (stored in moto); the sandbox signs with the same.
pub const WEBHOOK_SECRET: &str = "lambda-runtime-webhook-secret";
/// The Function URL the webhook is configured with (template.yaml's `WebhookPublicUrl`).
pub const WEBHOOK_HOST: &str = "q7lx2kd4c3mzbexample.lambda-url.eu-west-1.on.aws";
/// Debian's PostgreSQL serves the snakeoil certificate (CN localhost): the CA for verify-full.
const SNAKEOIL_CA: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

fn workspace_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
}

async fn wait_for_port(port: u16, what: &str) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not listen on 127.0.0.1:{port}");
}

/// A child process killed and reaped on drop.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// cargo-lambda's emulator of Lambda's Runtime API and Invoke API.
pub struct Emulator {
    _child: Reaped,
    port: u16,
}

impl Emulator {
    /// Starts the emulator; an invoke not answered within `invoke_timeout` is answered 408.
    pub async fn start(invoke_timeout: Duration) -> Emulator {
        let binary = std::env::var("WARP_CARGO_LAMBDA").unwrap_or_else(|_| {
            workspace_root()
                .join(".venv/bin/cargo-lambda")
                .display()
                .to_string()
        });
        let port = free_port();
        let child = Command::new(&binary)
            .args(["lambda", "watch", "--only-lambda-apis", "--ignore-changes"])
            .args(["-A", "127.0.0.1", "-P", &port.to_string()])
            .args(["--timeout", &invoke_timeout.as_secs().max(1).to_string()])
            // It reads the workspace's manifest, even when it builds nothing.
            .current_dir(workspace_root())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {binary} ({e}): run `make venv`, which installs cargo-lambda")
            });
        let emulator = Emulator {
            _child: Reaped(child),
            port,
        };
        wait_for_port(port, "cargo-lambda's emulator").await;
        emulator
    }

    /// `AWS_LAMBDA_RUNTIME_API` for `function`: the emulator serves each function's Runtime
    /// API under its name.
    pub fn runtime_api(&self, function: &str) -> String {
        format!("http://127.0.0.1:{}/.rt/{function}", self.port)
    }

    /// Invokes `function` with `event` (Lambda's Invoke API) and waits for its answer.
    pub async fn invoke(&self, function: &str, event: &Value) -> Invocation {
        let answer = reqwest::Client::new()
            .post(format!(
                "http://127.0.0.1:{}/2015-03-31/functions/{function}/invocations",
                self.port
            ))
            .json(event)
            .send()
            .await
            .expect("the emulator answers");
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap_or_default();
        Invocation {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }
}

/// What an invoke answered: 200 and the handler's result, 500 and Lambda's error document
/// (`errorType`, `errorMessage`), or 408 when it was not answered in time.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub status: u16,
    pub body: Value,
}

/// Everything the functions reach in AWS, locally, and the environment Lambda gives them.
pub struct Stage {
    pub emulator: Emulator,
    pub database: Database,
    pub sandbox: SandboxHandle,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    env: Vec<(String, String)>,
    logs: PathBuf,
    _moto: MotoServer,
}

impl Stage {
    /// A fresh database, the sandbox, moto with the secrets and the queue, the emulator.
    pub async fn new(invoke_timeout: Duration) -> Stage {
        let database = crate::fresh_database().await;
        let sandbox = crate::hubspot::sandbox(SandboxConfig {
            webhook_secret: WEBHOOK_SECRET.to_owned(),
            ..SandboxConfig::default()
        })
        .await;
        // What a deploy's `warp hubspot-setup` does once: WARP's properties exist.
        crate::hubspot::client_with_warp_properties(
            &sandbox,
            crate::hubspot::settings(100, 10_000),
        )
        .await;
        let moto = MotoServer::start().await;
        let aws = warp_runtime::aws::sdk_config_for_endpoint(moto.url(), "us-east-1").await;
        let secrets = aws_sdk_secretsmanager::Client::new(&aws);
        let mut arns = Vec::new();
        for (name, value) in [
            ("warp/hubspot-token", APP_TOKEN.to_owned()),
            ("warp/hubspot-webhook", WEBHOOK_SECRET.to_owned()),
            ("warp/jwt", JWT_SECRET.to_owned()),
            (
                "warp/database",
                r#"{"username":"postgres","password":"trust-auth-ignores-it"}"#.to_owned(),
            ),
        ] {
            let created = secrets
                .create_secret()
                .name(name)
                .secret_string(value)
                .send()
                .await
                .expect("moto stores the secret");
            arns.push(created.arn().expect("an ARN").to_owned());
        }
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let queue_url = sqs
            .create_queue()
            .queue_name("warp-sync")
            .send()
            .await
            .expect("moto makes the queue")
            .queue_url()
            .expect("a queue URL")
            .to_owned();
        let database_name = database
            .url()
            .rsplit('/')
            .next()
            .expect("a database name")
            .to_owned();
        let env = [
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512".to_owned()),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "runtime-protocol".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_ENDPOINT_URL", moto.url().to_owned()),
            (
                "DATABASE_URL",
                format!(
                    "postgres://postgres@localhost:5432/{database_name}?sslmode=verify-full&sslrootcert={SNAKEOIL_CA}"
                ),
            ),
            ("DATABASE_SECRET_ARN", arns[3].clone()),
            ("HUBSPOT_TOKEN_SECRET_ARN", arns[0].clone()),
            ("HUBSPOT_WEBHOOK_SECRET_ARN", arns[1].clone()),
            ("JWT_HS256_SECRET_ARN", arns[2].clone()),
            ("HUBSPOT_BASE_URL", sandbox.base_url()),
            ("HUBSPOT_PORTAL_ID", PORTAL.to_string()),
            ("SQS_QUEUE_URL", queue_url.clone()),
            ("WEBHOOK_PUBLIC_URL", format!("https://{WEBHOOK_HOST}")),
            ("RUST_LOG", "info".to_owned()),
            ("LOG_FORMAT", "json".to_owned()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        let logs = std::env::temp_dir().join(format!("warp-lambda-{database_name}"));
        std::fs::create_dir_all(&logs).expect("a directory for the functions' logs");
        Stage {
            emulator: Emulator::start(invoke_timeout).await,
            database,
            sandbox,
            sqs,
            queue_url,
            env,
            logs,
            _moto: moto,
        }
    }

    /// Starts `binary` as Lambda starts a function's bootstrap (a cold start): with Lambda's
    /// environment and `extra` on top, polling the emulator as `function`.
    pub fn start(&self, binary: &str, function: &str, extra: &[(&str, &str)]) -> Bootstrap {
        let log = self
            .logs
            .join(format!("{function}-{}.log", uuid::Uuid::now_v7()));
        let file = std::fs::File::create(&log).expect("a log file");
        let stderr = file.try_clone().expect("the log file twice");
        let child = Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(n, v)| (n.as_str(), v.as_str())))
            .env("AWS_LAMBDA_FUNCTION_NAME", function)
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{function}"),
            )
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                self.emulator.runtime_api(function),
            )
            .envs(extra.iter().copied())
            .stdout(file)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        Bootstrap {
            child: Some(Reaped(child)),
            log,
        }
    }

    pub async fn invoke(&self, function: &str, event: &Value) -> Invocation {
        self.emulator.invoke(function, event).await
    }
}

/// A function's bootstrap process; its log lines (JSON) are kept for assertions.
pub struct Bootstrap {
    child: Option<Reaped>,
    log: PathBuf,
}

impl Bootstrap {
    /// Every JSON log line so far.
    pub fn log_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// The log's text, for failure messages.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The `cold_start` field of each invocation's first log line, in order.
    pub fn cold_starts(&self) -> Vec<bool> {
        self.log_lines()
            .iter()
            .filter_map(|line| line.get("cold_start").and_then(Value::as_bool))
            .collect()
    }

    /// Kills the process, as Lambda does to an invocation that ran out of time.
    pub fn kill(&mut self) {
        self.child.take();
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.0.try_wait(), Ok(None)))
    }
}
