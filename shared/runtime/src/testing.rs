//! Test support (feature `testing`): moto's server, so tests reach SQS and Secrets Manager
//! through the real AWS SDK. The binary comes from `$WARP_MOTO_SERVER` or the workspace's
//! `.venv/bin/moto_server` (`make venv` installs it).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A moto server on a free loopback port, killed and reaped on drop.
pub struct MotoServer {
    child: Child,
    url: String,
}

impl MotoServer {
    /// Starts moto and waits until it accepts connections. Panics with what to do when moto
    /// is missing: this is for tests only.
    pub async fn start() -> MotoServer {
        let binary = std::env::var("WARP_MOTO_SERVER").unwrap_or_else(|_| {
            format!("{}/../../.venv/bin/moto_server", env!("CARGO_MANIFEST_DIR"))
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .unwrap_or_else(|e| panic!("no free loopback port: {e}"));
        // Owned by the guard at once, so the child is killed and reaped on every path.
        let moto = MotoServer {
            child: Command::new(&binary)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot start {binary} ({e}): run `make venv`, which installs moto")
                }),
            url: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return moto;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto did not start on {}", moto.url);
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
