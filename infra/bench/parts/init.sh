#!/usr/bin/env bash
# Local init time of each Lambda function: from process start to its first poll of the Runtime
# API (GET /2018-06-01/runtime/invocation/next), i.e. everything main() does before it can take
# an invocation: configuration, Secrets Manager reads (moto), the first Postgres connection over
# verified TLS, SDK clients. Host-built (x86_64, perf profile) binaries against a minimal Runtime
# API stub on 127.0.0.1; median of INIT_RUNS (11) starts each. Not Lambda's own figures (no
# Firecracker, no network to AWS), but it shows what our code adds and catches regressions.
# The baseline, timed the same way in the same run: a hello-world lambda_runtime bootstrap that
# opens one verified-TLS Postgres connection (functions/sync-worker/examples/hello_bootstrap.rs);
# startup_ratio_to_baseline_max is the slowest function over it (goal: <= 1.5).
# usage: init.sh RESULTS_DIR   (writes RESULTS_DIR/init.json: <function>_init_ms)
set -euo pipefail
cd "$(dirname "$0")/../../.."
out="${1:?usage: init.sh RESULTS_DIR}"
functions=(customer-api sync-worker hubspot-webhook reconciler)
server="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
ca=/etc/ssl/certs/ssl-cert-snakeoil.pem

[ -x .venv/bin/moto_server ] || infra/scripts/ensure-venv.sh .venv 'moto[server]==5.2.*'
[ -r "$ca" ] || { echo "init.sh needs the local PostgreSQL's snakeoil certificate ($ca)" >&2; exit 1; }

cargo build --quiet --profile perf $(printf -- '-p %s ' "${functions[@]}") -p warp-cli --bin warp \
  $(printf -- '--bin %s ' "${functions[@]}")
cargo build --quiet --profile perf -p sync-worker --example hello_bootstrap

# The functions connect as in AWS: verify-full TLS, to a migrated database of their own.
db_url="postgres://postgres@localhost:${PGPORT_OVERRIDE:-5432}/warp_init_bench?sslmode=verify-full&sslrootcert=$ca"
psql "$server" -qc "DROP DATABASE IF EXISTS warp_init_bench WITH (FORCE)" >/dev/null
DATABASE_URL="$db_url" target/perf/warp migrate >/dev/null

exec .venv/bin/python - "$out/init.json" "$db_url" "${INIT_RUNS:-11}" "${functions[@]}" hello_bootstrap <<'PY'
"""Runs each function binary against a Runtime API stub and times its first poll."""
import http.server, json, os, socket, statistics, subprocess, sys, threading, time

out, db_url, runs, functions = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


moto_port = free_port()
moto = subprocess.Popen([".venv/bin/moto_server", "-H", "127.0.0.1", "-p", str(moto_port)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    import boto3
    endpoint = f"http://127.0.0.1:{moto_port}"
    aws = dict(region_name="us-east-1", endpoint_url=endpoint,
               aws_access_key_id="testing", aws_secret_access_key="testing")
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", moto_port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.1)
    sm = boto3.client("secretsmanager", **aws)
    arns = {name: sm.create_secret(Name=name, SecretString=value)["ARN"] for name, value in [
        ("warp/hubspot-token", "pat-init-bench"),
        ("warp/hubspot-webhook", "webhook-init-bench"),
        ("warp/database", json.dumps({"username": "postgres", "password": "trust-auth-ignores-it"})),
    ]}
    sqs = boto3.client("sqs", **aws)
    queue_url = sqs.create_queue(QueueName="warp-init-bench")["QueueUrl"]
    dlq_url = sqs.create_queue(QueueName="warp-init-bench-dlq")["QueueUrl"]

    first_poll = {}
    seen = threading.Event()

    class RuntimeApi(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/2018-06-01/runtime/invocation/next" and not seen.is_set():
                first_poll["at"] = time.monotonic()
                seen.set()
            # No invocation is ever handed out: the function is stopped after its first poll.
            self.send_response(500)
            self.end_headers()

        def log_message(self, *args):
            pass

    stub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    stub_addr = f"127.0.0.1:{stub.server_address[1]}"

    results = {}
    for function in functions:
        env = dict(os.environ,
                   AWS_LAMBDA_RUNTIME_API=stub_addr,
                   AWS_LAMBDA_FUNCTION_NAME=function,
                   AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
                   AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512",
                   AWS_LAMBDA_LOG_GROUP_NAME=f"/aws/lambda/{function}",
                   AWS_LAMBDA_LOG_STREAM_NAME="init-bench",
                   AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                   AWS_ENDPOINT_URL=endpoint,
                   DATABASE_URL=db_url,
                   DATABASE_SECRET_ARN=arns["warp/database"],
                   HUBSPOT_TOKEN_SECRET_ARN=arns["warp/hubspot-token"],
                   HUBSPOT_WEBHOOK_SECRET_ARN=arns["warp/hubspot-webhook"],
                   HUBSPOT_BASE_URL=f"http://{stub_addr}",
                   JWT_JWKS_URL=f"http://{stub_addr}/jwks.json",
                   JWT_ISSUER="init-bench",
                   SQS_QUEUE_URL=queue_url, SQS_DLQ_URL=dlq_url,
                   # template.yaml's WebhookPublicUrl: required in Lambda mode.
                   WEBHOOK_PUBLIC_URL="https://init-bench.lambda-url.us-east-1.on.aws",
                   RUST_LOG="warn", LOG_FORMAT="json")
        times = []
        for _ in range(runs):
            seen.clear()
            start = time.monotonic()
            binary = f"target/perf/examples/{function}" if function == "hello_bootstrap" else f"target/perf/{function}"
            proc = subprocess.Popen([binary], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            polled = seen.wait(timeout=30)
            proc.kill()
            err, _ = proc.communicate()
            if not polled:
                sys.stderr.write(f"{function} never polled the Runtime API:\n{err.decode()[-2000:]}\n")
                sys.exit(1)
            if function != "hello_bootstrap" and b"no database connection during init" in err:
                sys.stderr.write(f"{function} did not connect to Postgres during init:\n{err.decode()[-2000:]}\n")
                sys.exit(1)
            times.append((first_poll["at"] - start) * 1000)
        results[f"{function.replace('-', '_')}_init_ms"] = round(statistics.median(times), 1)
        print(f"   {function}: median {statistics.median(times):.1f} ms of {[round(t, 1) for t in times]}")
    stub.shutdown()
    baseline = results.pop("hello_bootstrap_init_ms")
    results["startup_baseline_hello_tls_ms"] = baseline
    results["startup_ratio_to_baseline_max"] = round(max(results[k] for k in results if k.endswith("_init_ms")) / baseline, 2)
    with open(out, "w") as f:
        f.write(json.dumps(results) + "\n")
finally:
    moto.kill()
    moto.wait()
PY
