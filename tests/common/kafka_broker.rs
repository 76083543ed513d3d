//! A real Apache Kafka 4.1 broker for the integration tests (KRaft, combined broker and
//! controller, no ZooKeeper), from the Maven Central jars under `tests/peers/kafka`.
//!
//! Why a real broker: what the Kafka input and output must get right is Kafka's side of the
//! contract (delivery reports, idempotent retries across a broker restart, group rebalances,
//! committed offsets); a fake would only echo our reading of the protocol.
//!
//! How: the first test that needs a broker builds the peer with Maven into
//! `target/tmp/kafka-broker/build` (skipped when a build of the same sources exists; test
//! binaries serialise on a file lock), formats a storage directory with a random cluster id
//! (and a SCRAM user), and starts `kafka.Kafka` through `sluice.peer.KafkaBroker`, which halts
//! when its standard input closes: however the tests end, the broker goes with them. It
//! listens on four free loopback ports: PLAINTEXT, SASL_PLAINTEXT (users: PLAIN and
//! SCRAM-SHA-256 [`SASL_USER`] / [`SASL_PASSWORD`]), SSL (a self-signed certificate for
//! 127.0.0.1 made with the JDK's `keytool`, its PEM in [`KafkaBroker::tls_ca_file`]) and the
//! controller's. Ready means a
//! metadata request answers, about 20 s on a busy 2-core machine (~330 MB of RSS).
//!
//! [`kafka_broker`] is shared by every test of a test binary (each test uses its own topics
//! and groups); [`KafkaBroker::start_private`] gives a test its own broker, which it may stop
//! and restart on the same ports and data ([`KafkaBroker::stop`], [`KafkaBroker::restart`]).
//! Topics are not created automatically: tests create theirs ([`KafkaBroker::create_topic`]).

use super::search_node::{build_maven_peer, remove_abandoned_runs, tail};
use super::wait_until;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The user the SASL listener knows, with both PLAIN and SCRAM-SHA-256.
pub const SASL_USER: &str = "sluice";
pub const SASL_PASSWORD: &str = "kafka-test-secret-5f2c";

/// Password of the SSL listener's keystore (a test certificate).
const KEYSTORE_PASSWORD: &str = "kafka-test-keystore";

/// How long a broker may take from `java` to answering metadata requests.
const START_DEADLINE: Duration = Duration::from_secs(180);

/// A running broker.
pub struct KafkaBroker {
    plaintext_port: u16,
    sasl_port: u16,
    tls_port: u16,
    controller_port: u16,
    build: PathBuf,
    run: PathBuf,
    process: Mutex<Option<Process>>,
    _run_lock: File,
}

struct Process {
    child: Child,
    /// The JVM runs until this pipe closes.
    _stdin: ChildStdin,
}

/// The broker shared by the tests of this test binary, started on first use. Panics (failing
/// the test) with the reason when it cannot be built or started.
pub fn kafka_broker() -> &'static KafkaBroker {
    static BROKER: OnceLock<Result<KafkaBroker, String>> = OnceLock::new();
    match BROKER.get_or_init(KafkaBroker::start) {
        Ok(broker) => broker,
        Err(reason) => panic!("the test Kafka broker is not available: {reason}"),
    }
}

fn work_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("kafka-broker")
}

fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/kafka")
}

impl KafkaBroker {
    /// A broker of the calling test's own (stopped and removed when dropped).
    pub fn start_private() -> Self {
        Self::start().unwrap_or_else(|reason| panic!("cannot start a Kafka broker: {reason}"))
    }

    fn start() -> Result<Self, String> {
        let work = work_dir();
        std::fs::create_dir_all(&work)
            .map_err(|e| format!("cannot create {}: {e}", work.display()))?;
        let lock_path = work.join("build.lock");
        let lock = File::create(&lock_path)
            .map_err(|e| format!("cannot create {}: {e}", lock_path.display()))?;
        lock.lock()
            .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
        let build = build_maven_peer(&peer_dir(), &work, "test Kafka broker")?;
        remove_abandoned_runs(&work);
        static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let run = work.join(format!(
            "run-{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let run_lock_path = run.with_extension("lock");
        let run_lock = File::create(&run_lock_path)
            .map_err(|e| format!("cannot create {}: {e}", run_lock_path.display()))?;
        run_lock
            .lock()
            .map_err(|e| format!("cannot lock {}: {e}", run_lock_path.display()))?;
        drop(lock);
        let _ = std::fs::remove_dir_all(&run);
        std::fs::create_dir_all(&run)
            .map_err(|e| format!("cannot create {}: {e}", run.display()))?;

        let ports = free_ports(4)?;
        let broker = KafkaBroker {
            plaintext_port: ports[0],
            sasl_port: ports[1],
            controller_port: ports[2],
            tls_port: ports[3],
            build,
            run,
            process: Mutex::new(None),
            _run_lock: run_lock,
        };
        broker.make_certificate()?;
        broker.write_properties()?;
        broker.format()?;
        broker.launch()?;
        Ok(broker)
    }

    /// `127.0.0.1:<port>` of the PLAINTEXT listener.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.plaintext_port)
    }

    /// `127.0.0.1:<port>` of the SASL_PLAINTEXT listener.
    pub fn sasl_bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.sasl_port)
    }

    /// `127.0.0.1:<port>` of the SSL listener.
    pub fn tls_bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.tls_port)
    }

    /// The SSL listener's self-signed certificate (PEM): the CA a client must trust.
    pub fn tls_ca_file(&self) -> PathBuf {
        self.run.join("broker-ca.pem")
    }

    fn keystore_path(&self) -> PathBuf {
        self.run.join("broker.p12")
    }

    /// A key and self-signed certificate for 127.0.0.1 (PKCS#12, for the broker) and the
    /// certificate alone as PEM (for the clients), with the JDK's `keytool`.
    fn make_certificate(&self) -> Result<(), String> {
        let keystore = self.keystore_path();
        let keytool = |args: &[&str]| -> Result<(), String> {
            let output = Command::new("keytool")
                .args(args)
                .args(["-keystore", &keystore.to_string_lossy()])
                .args(["-storetype", "PKCS12", "-storepass", KEYSTORE_PASSWORD])
                .output()
                .map_err(|e| format!("cannot run keytool ({e}): the JDK must be installed"))?;
            if output.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "keytool {args:?} failed:\n{}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ))
            }
        };
        keytool(&[
            "-genkeypair",
            "-alias",
            "broker",
            "-keyalg",
            "RSA",
            "-keysize",
            "2048",
            "-validity",
            "30",
            "-dname",
            "CN=127.0.0.1",
            "-ext",
            "SAN=ip:127.0.0.1,dns:localhost",
            "-keypass",
            KEYSTORE_PASSWORD,
        ])?;
        keytool(&[
            "-exportcert",
            "-rfc",
            "-alias",
            "broker",
            "-file",
            &self.tls_ca_file().to_string_lossy(),
        ])
    }

    fn properties_path(&self) -> PathBuf {
        self.run.join("server.properties")
    }

    fn log_path(&self) -> PathBuf {
        self.run.join("broker.log")
    }

    /// The broker's own log (warnings and errors), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn classpath(&self) -> String {
        format!(
            "{}:{}",
            self.build.join("classes").display(),
            self.build.join("lib/*").display()
        )
    }

    fn write_properties(&self) -> Result<(), String> {
        let (plain, sasl, controller) = (self.plaintext_port, self.sasl_port, self.controller_port);
        let tls = self.tls_port;
        let properties = format!(
            "process.roles=broker,controller\n\
             node.id=1\n\
             controller.quorum.voters=1@127.0.0.1:{controller}\n\
             listeners=PLAINTEXT://127.0.0.1:{plain},SASL_PLAINTEXT://127.0.0.1:{sasl},SSL://127.0.0.1:{tls},CONTROLLER://127.0.0.1:{controller}\n\
             advertised.listeners=PLAINTEXT://127.0.0.1:{plain},SASL_PLAINTEXT://127.0.0.1:{sasl},SSL://127.0.0.1:{tls}\n\
             controller.listener.names=CONTROLLER\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT\n\
             ssl.keystore.type=PKCS12\n\
             ssl.keystore.location={keystore}\n\
             ssl.keystore.password={KEYSTORE_PASSWORD}\n\
             ssl.key.password={KEYSTORE_PASSWORD}\n\
             inter.broker.listener.name=PLAINTEXT\n\
             sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256\n\
             listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_{SASL_USER}=\"{SASL_PASSWORD}\";\n\
             listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;\n\
             log.dirs={data}\n\
             num.partitions=1\n\
             auto.create.topics.enable=false\n\
             offsets.topic.replication.factor=1\n\
             offsets.topic.num.partitions=4\n\
             transaction.state.log.replication.factor=1\n\
             transaction.state.log.min.isr=1\n\
             group.initial.rebalance.delay.ms=0\n\
             log.flush.interval.messages=1\n",
            data = self.run.join("data").display(),
            keystore = self.keystore_path().display(),
        );
        std::fs::write(self.properties_path(), properties)
            .map_err(|e| format!("cannot write server.properties: {e}"))
    }

    /// Formats the storage with a random cluster id and the SCRAM user.
    fn format(&self) -> Result<(), String> {
        use base64::Engine;
        let id: Vec<u8> = (0..16).map(|_| fastrand::u8(..)).collect();
        let cluster_id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id);
        let output = Command::new("java")
            .args(["-XX:TieredStopAtLevel=1", "-cp", &self.classpath()])
            .args([
                "kafka.tools.StorageTool",
                "format",
                "--cluster-id",
                &cluster_id,
            ])
            .arg("-c")
            .arg(self.properties_path())
            .arg("--add-scram")
            .arg(format!(
                "SCRAM-SHA-256=[name={SASL_USER},password={SASL_PASSWORD}]"
            ))
            .output()
            .map_err(|e| {
                format!("cannot run java ({e}): Java 17 must be installed to run the Kafka tests")
            })?;
        if !output.status.success() {
            return Err(format!(
                "formatting the broker storage failed:\n{}\n{}",
                tail(&String::from_utf8_lossy(&output.stdout), 4000),
                tail(&String::from_utf8_lossy(&output.stderr), 4000)
            ));
        }
        Ok(())
    }

    /// Starts the JVM and waits until the broker answers a metadata request.
    fn launch(&self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| format!("cannot open the broker log: {e}"))?;
        let started = Instant::now();
        let mut child = Command::new("java")
            // C1 only: starts with half the CPU on a busy machine; the tests move little data.
            .args(["-Xms256m", "-Xmx512m", "-XX:TieredStopAtLevel=1"])
            .args(["-XX:ActiveProcessorCount=2", "-cp", &self.classpath()])
            .arg("sluice.peer.KafkaBroker")
            .arg(self.properties_path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run java ({e}): Java 17 must be installed"))?;
        let stdin = child.stdin.take().ok_or("java has no stdin pipe")?;
        let mut process = Process {
            child,
            _stdin: stdin,
        };
        let ready = wait_until(START_DEADLINE, || {
            matches!(process.child.try_wait(), Ok(Some(_))) || self.answers_metadata()
        });
        if !ready || matches!(process.child.try_wait(), Ok(Some(_))) {
            let _ = process.child.kill();
            let _ = process.child.wait();
            return Err(format!(
                "the broker did not become ready within {} s; log {}:\n{}",
                START_DEADLINE.as_secs(),
                self.log_path().display(),
                tail(&self.log(), 6000)
            ));
        }
        eprintln!(
            "kafka broker: {} ready after {:.1} s",
            self.bootstrap(),
            started.elapsed().as_secs_f64()
        );
        *self.process.lock().unwrap_or_else(|e| e.into_inner()) = Some(process);
        Ok(())
    }

    fn answers_metadata(&self) -> bool {
        let Ok(consumer) = self.client_config().create::<BaseConsumer>() else {
            return false;
        };
        consumer
            .fetch_metadata(None, Duration::from_secs(2))
            .is_ok_and(|metadata| !metadata.brokers().is_empty())
    }

    /// Stops the broker (SIGTERM: a controlled shutdown) and waits for it to exit.
    pub fn stop(&self) {
        let mut slot = self.process.lock().unwrap_or_else(|e| e.into_inner());
        let Some(mut process) = slot.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &process.child.id().to_string()])
            .status();
        let exited = wait_until(Duration::from_secs(60), || {
            matches!(process.child.try_wait(), Ok(Some(_)))
        });
        if !exited {
            let _ = process.child.kill();
        }
        let _ = process.child.wait();
    }

    /// Starts the stopped broker again, on the same ports and data.
    pub fn restart(&self) {
        self.launch()
            .unwrap_or_else(|reason| panic!("cannot restart the Kafka broker: {reason}"));
    }

    /// A librdkafka configuration for the PLAINTEXT listener.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", self.bootstrap());
        config
    }

    /// Creates `topic` with `partitions` partitions (an existing one is left as it is).
    pub fn create_topic(&self, topic: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = self
            .client_config()
            .create()
            .expect("create a Kafka admin client");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("build a runtime");
        let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
        let results = runtime
            .block_on(admin.create_topics([&new_topic], &AdminOptions::new()))
            .expect("create topics");
        for result in results {
            if let Err((name, code)) = result {
                assert_eq!(
                    code,
                    rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists,
                    "cannot create topic {name}"
                );
            }
        }
        // The topic is usable once its partitions have leaders.
        let consumer: BaseConsumer = self.client_config().create().expect("create a consumer");
        let ready = wait_until(Duration::from_secs(30), || {
            consumer
                .fetch_metadata(Some(topic), Duration::from_secs(2))
                .is_ok_and(|m| {
                    m.topics().iter().any(|t| {
                        t.name() == topic
                            && t.error().is_none()
                            && t.partitions().len() == partitions as usize
                            && t.partitions().iter().all(|p| p.leader() >= 0)
                    })
                })
        });
        assert!(ready, "topic {topic} has no leaders after 30 s");
    }

    /// Writes `payloads` to `topic` (round-robin over partitions) and waits until the broker
    /// has them all.
    pub fn produce(&self, topic: &str, payloads: &[&[u8]]) {
        let producer: BaseProducer = self
            .client_config()
            .set("enable.idempotence", "true")
            .create()
            .expect("create a producer");
        for payload in payloads {
            producer
                .send(BaseRecord::<(), [u8]>::to(topic).payload(payload))
                .map_err(|(e, _)| e)
                .expect("queue a message");
        }
        producer
            .flush(Duration::from_secs(30))
            .expect("the broker takes every message");
    }

    /// Every message of `topic` from the beginning, read until `expected` were seen or
    /// `timeout` passed (payloads; a tombstone is an empty one).
    pub fn read_topic(&self, topic: &str, expected: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let consumer: BaseConsumer = self
            .client_config()
            .set("group.id", format!("test-reader-{}", fastrand::u64(..)))
            .set("enable.auto.commit", "false")
            .create()
            .expect("create a consumer");
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .expect("topic metadata");
        let mut assignment = TopicPartitionList::new();
        for t in metadata.topics() {
            for p in t.partitions() {
                assignment
                    .add_partition_offset(topic, p.id(), Offset::Beginning)
                    .expect("assign a partition");
            }
        }
        consumer.assign(&assignment).expect("assign partitions");
        let mut payloads = Vec::new();
        let deadline = Instant::now() + timeout;
        while payloads.len() < expected && Instant::now() < deadline {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
                payloads.push(message.payload().unwrap_or_default().to_vec());
            }
        }
        payloads
    }

    /// The offsets `group` committed for `topic`'s partitions (partition -> next offset).
    pub fn committed(&self, group: &str, topic: &str, partitions: i32) -> Vec<(i32, i64)> {
        let consumer: BaseConsumer = self
            .client_config()
            .set("group.id", group)
            .create()
            .expect("create a consumer");
        let mut list = TopicPartitionList::new();
        for partition in 0..partitions {
            list.add_partition(topic, partition);
        }
        let committed = consumer
            .committed_offsets(list, Duration::from_secs(10))
            .expect("committed offsets");
        committed
            .elements()
            .iter()
            .map(|e| {
                let offset = match e.offset() {
                    Offset::Offset(offset) => offset,
                    _ => -1,
                };
                (e.partition(), offset)
            })
            .collect()
    }
}

impl Drop for KafkaBroker {
    fn drop(&mut self) {
        let process = self
            .process
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut process) = process {
            let _ = process.child.kill();
            let _ = process.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.run);
    }
}

/// `count` distinct free loopback ports (bound together, then released for the broker).
fn free_ports(count: usize) -> Result<Vec<u16>, String> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot find a free port: {e}"))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot read a port: {e}"))
}
