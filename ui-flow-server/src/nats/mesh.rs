//! The cross-node part of a cluster on NATS: merged presence, signals and
//! targeted notifications, and a health probe of the path through NATS.
//!
//! [`NatsMesh::join`] makes a [`FlowServer`] one node of several. Every
//! node publishes on core NATS (no JetStream: none of this is history, and
//! a node that was away resyncs from the next heartbeat):
//!
//! | subject | what | when |
//! |---|---|---|
//! | `{prefix}.mesh` | a change of this node's entry for one user in one resource | at once |
//! | `{prefix}.mesh` | a heartbeat: this node's full list for one resource | every [`heartbeat`](MeshConfig::heartbeat) (1 s), per resource with local users |
//! | `{prefix}.mesh` | a `Signal` frame for a user connected elsewhere | at once |
//! | `{prefix}.mesh` | a notification's typed event, unfiltered | at once |
//! | `{prefix}.probe.{node}` | a self-addressed probe | every [`probe_interval`](MeshConfig::probe_interval) (1 s) |
//!
//! **Presence.** Each node reports its own entries; each node shows its
//! clients the merge (one entry per user: active if active anywhere,
//! earliest `connected_at`, see [`Hub::enable_mesh`](crate::hub::Hub::enable_mesh)).
//! A node's entries for a resource expire on the others when no heartbeat
//! or change for it arrived within [`expire_after`](MeshConfig::expire_after)
//! (3 s): a node that dies, or loses NATS, takes its users out of everyone
//! else's presence within `expire_after` + `heartbeat` (4 s with the
//! defaults), and a heartbeat after a NATS outage puts them back. We chose
//! heartbeats over a JetStream KV bucket with per-node keys: per-key TTLs
//! need nats-server 2.11 (Debian ships 2.9), and a bucket-wide max age
//! expires keys without telling watchers, so a dead node's keys would
//! linger in the watchers' view (ghosts).
//!
//! **Signals** go to every node; a node relays one only to the target's
//! connections there. **Notifications** travel as the typed event (MessagePack)
//! and `filter_notification` runs on the receiving node for its own
//! connections. Both are at most once: a message published while NATS is
//! unreachable may be lost (the sender's own node still delivered locally).
//!
//! **Health.** Every node publishes a probe to its own subject and watches
//! it come back. When none came back for [`unhealthy_after`](MeshConfig::unhealthy_after)
//! (5 s) the broker reports unhealthy and `/healthz` answers `503 degraded:
//! ...`, at most `unhealthy_after` + `probe_interval` (6 s) after the path
//! stopped; the next probe that comes back makes it green.
//!
//! **Not here:** deltas, the seq line, snapshots and op dedup across nodes
//! (the JetStream store); [`Publication::Deltas`] and [`Publication::Notify`]
//! are ignored by this broker.
//!
//! **Trust.** Nodes believe whatever arrives on the prefix: keep NATS
//! private to the nodes, or give them credentials and permissions limited
//! to the prefix.
//!
//! **Sizing.** Every node receives every other node's presence traffic for
//! every resource (and keeps it, about 100 bytes per user and node), and
//! every signal and notification. A heartbeat message carries one
//! resource's local entries and must fit NATS's `max_payload` (1 MiB by
//! default: roughly 10 000 users of one resource on one node).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use ui_flow::{OpId, PresenceInfo, PresenceStatus};

use crate::broker::{Broker, Publication};
use crate::handler::FlowHandler;
use crate::hub::Now;
use crate::server::FlowServer;

/// Settings of a [`NatsMesh`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MeshConfig {
    /// The subject prefix; nodes of one cluster share it (default `uiflow`).
    pub prefix: String,
    /// How often a node sends its full presence, per resource (default 1 s).
    pub heartbeat: Duration,
    /// How long a node's entries for a resource stay without a heartbeat
    /// or change (default 3 s; keep it at least twice `heartbeat`).
    pub expire_after: Duration,
    /// How often the health probe is sent (default 1 s).
    pub probe_interval: Duration,
    /// Unhealthy when no probe came back for this long (default 5 s).
    pub unhealthy_after: Duration,
    /// Messages waiting to be handed to NATS; more are dropped, counted
    /// and logged (default 8192).
    pub queue: usize,
}

impl Default for MeshConfig {
    fn default() -> Self {
        MeshConfig {
            prefix: "uiflow".to_owned(),
            heartbeat: Duration::from_secs(1),
            expire_after: Duration::from_secs(3),
            probe_interval: Duration::from_secs(1),
            unhealthy_after: Duration::from_secs(5),
            queue: 8192,
        }
    }
}

/// Why a node could not join the mesh.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MeshError {
    /// The first connection to NATS failed (later ones are retried forever).
    #[error("could not connect to NATS at {url}: {reason}")]
    Connect {
        /// The URL given.
        url: String,
        /// What the client said.
        reason: String,
    },
    /// A subscription was refused.
    #[error("could not subscribe to {subject}: {reason}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// What the client said.
        reason: String,
    },
}

/// One node's membership in a mesh on NATS. Dropping it leaves without a
/// goodbye (the others expire this node's presence); the server keeps
/// serving its own connections, and its `/healthz` says it is degraded
/// (no probe comes back any more).
pub struct NatsMesh {
    node: Arc<str>,
    health: Arc<Health>,
    tasks: Vec<JoinHandle<()>>,
}

impl fmt::Debug for NatsMesh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsMesh")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl Drop for NatsMesh {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl NatsMesh {
    /// Connects to NATS at `url` (reconnecting by itself after any later
    /// loss), and makes `server` one node of the mesh: call it before the
    /// server takes connections. The mesh becomes the server's broker and
    /// passes what it does not carry (deltas, `Notify` frames) on to the
    /// broker set before it, whose health it reports too.
    pub async fn join<H>(
        server: &FlowServer<H>,
        url: &str,
        config: MeshConfig,
    ) -> Result<NatsMesh, MeshError>
    where
        H: FlowHandler,
    {
        let node: Arc<str> = Arc::from(random_node_id().as_str());
        let client = async_nats::ConnectOptions::new()
            .name(format!("ui-flow {node}"))
            .connect(url)
            .await
            .map_err(|e| MeshError::Connect {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        let subjects = Subjects {
            mesh: format!("{}.mesh", config.prefix),
            probe: format!("{}.probe.{node}", config.prefix),
        };
        let subscribe = |subject: String| {
            let client = client.clone();
            async move {
                client
                    .subscribe(subject.clone())
                    .await
                    .map_err(|e| MeshError::Subscribe {
                        subject,
                        reason: e.to_string(),
                    })
            }
        };
        let mesh_sub = subscribe(subjects.mesh.clone()).await?;
        let probe_sub = subscribe(subjects.probe.clone()).await?;
        let health = Arc::new(Health {
            last_echo: Mutex::new(Instant::now()),
            unhealthy_after: config.unhealthy_after,
            client: client.clone(),
        });
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let outbox = Outbox {
            tx,
            dropped: AtomicU64::new(0),
        };
        let broker = Arc::new(MeshBroker {
            node: node.clone(),
            outbox,
            health: health.clone(),
        });
        server.inner.enable_mesh();
        let next = server.inner.broker();
        server.set_broker(SharedBroker {
            mesh: broker.clone(),
            next,
        });
        let tasks = vec![
            tokio::spawn(publisher(client, subjects, rx)),
            tokio::spawn(receiver(
                server.clone(),
                node.clone(),
                mesh_sub,
                probe_sub,
                health.clone(),
                config.clone(),
            )),
            tokio::spawn(ticker(server.clone(), broker, config)),
        ];
        Ok(NatsMesh {
            node,
            health,
            tasks,
        })
    }

    /// This node's id in the mesh (random per process).
    pub fn node_id(&self) -> &str {
        &self.node
    }

    /// `Err(reason)` while no probe has come back through NATS for
    /// [`MeshConfig::unhealthy_after`].
    pub fn health(&self) -> Result<(), String> {
        self.health.check()
    }
}

struct Subjects {
    mesh: String,
    probe: String,
}

/// What crosses NATS between nodes (MessagePack with named fields).
#[derive(Debug, Serialize, Deserialize)]
enum Wire {
    Presence {
        node: String,
        resource: String,
        user: String,
        entry: Option<Entry>,
    },
    Heartbeat {
        node: String,
        resource: String,
        entries: Vec<Entry>,
    },
    Signal {
        node: String,
        resource: String,
        target: String,
        frame: Bin,
    },
    Event {
        node: String,
        resource: String,
        user: Option<String>,
        domain: String,
        correlation_id: Option<String>,
        event: Bin,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    user: String,
    name: Option<String>,
    status: String,
    connected_at: u64,
}

impl From<&PresenceInfo> for Entry {
    fn from(info: &PresenceInfo) -> Self {
        Entry {
            user: info.user_id.clone(),
            name: info.name.clone(),
            status: info.status.as_str().to_owned(),
            connected_at: info.connected_at,
        }
    }
}

impl Entry {
    fn into_info(self) -> PresenceInfo {
        PresenceInfo {
            user_id: self.user,
            name: self.name,
            // A status from a newer node that this one does not know
            // counts as active rather than dropping the user.
            status: PresenceStatus::from_wire(&self.status).unwrap_or_default(),
            connected_at: self.connected_at,
        }
    }
}

/// Bytes as a MessagePack `bin`.
#[derive(Debug)]
struct Bin(Vec<u8>);

impl Serialize for Bin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bin {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Bin;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Bin, E> {
                Ok(Bin(v.to_vec()))
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Bin, E> {
                Ok(Bin(v))
            }
        }
        d.deserialize_bytes(Visit)
    }
}

/// A message for NATS.
enum Out {
    Mesh(Bytes),
    Probe,
}

/// The queue to the publisher task: never waits.
struct Outbox {
    tx: mpsc::Sender<Out>,
    dropped: AtomicU64,
}

impl Outbox {
    fn send(&self, out: Out) {
        if self.tx.try_send(out).is_err() {
            let before = self.dropped.fetch_add(1, Relaxed);
            // Log the first drop of every 1024, not each one.
            if before % 1024 == 0 {
                tracing::warn!(
                    dropped = before + 1,
                    "NATS mesh queue full or closed; dropping (presence resyncs on the next heartbeat)"
                );
            }
        }
    }

    fn send_wire(&self, wire: &Wire) {
        match rmp_serde::to_vec_named(wire) {
            Ok(bytes) => self.send(Out::Mesh(Bytes::from(bytes))),
            Err(e) => tracing::warn!(error = %e, "could not encode a mesh message"),
        }
    }
}

struct Health {
    last_echo: Mutex<Instant>,
    unhealthy_after: Duration,
    client: async_nats::Client,
}

impl Health {
    fn check(&self) -> Result<(), String> {
        let since = self
            .last_echo
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .elapsed();
        if since <= self.unhealthy_after {
            return Ok(());
        }
        let state = match self.client.connection_state() {
            async_nats::connection::State::Connected => "connected",
            async_nats::connection::State::Disconnected => "disconnected, reconnecting",
            async_nats::connection::State::Pending => "connecting",
        };
        Err(format!(
            "nats: no probe came back for {:.1} s (client {state})",
            since.as_secs_f64()
        ))
    }

    fn echoed(&self) {
        *self
            .last_echo
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }
}

struct MeshBroker {
    node: Arc<str>,
    outbox: Outbox,
    health: Arc<Health>,
}

impl MeshBroker {
    /// Sends what the mesh carries; hands back what it does not.
    fn publish<'a>(&self, publication: Publication<'a>) -> Option<Publication<'a>> {
        let node = self.node.to_string();
        let wire = match publication {
            Publication::Presence {
                resource,
                user,
                entry,
            } => Wire::Presence {
                node,
                resource: resource.to_owned(),
                user: user.to_owned(),
                entry: entry.map(Entry::from),
            },
            Publication::Signal {
                resource,
                target,
                frame,
            } => Wire::Signal {
                node,
                resource: resource.to_owned(),
                target: target.to_owned(),
                frame: Bin(frame.to_vec()),
            },
            Publication::Event {
                resource,
                user,
                domain,
                event,
                correlation_id,
            } => Wire::Event {
                node,
                resource: resource.to_owned(),
                user: user.map(str::to_owned),
                domain: domain.to_owned(),
                correlation_id: correlation_id.map(|id| id.to_string()),
                event: Bin(event.to_vec()),
            },
            // Deltas travel through the JetStream store; Notify frames are
            // replaced by the typed event here.
            other => return Some(other),
        };
        self.outbox.send_wire(&wire);
        None
    }
}

/// The broker as the server holds it: the mesh first, then the broker the
/// server had before.
struct SharedBroker {
    mesh: Arc<MeshBroker>,
    next: Arc<dyn Broker>,
}

impl Broker for SharedBroker {
    fn publish(&self, publication: Publication<'_>) {
        if let Some(other) = self.mesh.publish(publication) {
            self.next.publish(other);
        }
    }

    fn forwards_events(&self) -> bool {
        true
    }

    fn health(&self) -> Result<(), String> {
        self.mesh.health.check()?;
        self.next.health()
    }
}

/// Hands queued messages to NATS, in order.
async fn publisher(client: async_nats::Client, subjects: Subjects, mut rx: mpsc::Receiver<Out>) {
    while let Some(out) = rx.recv().await {
        let (subject, payload) = match out {
            Out::Mesh(bytes) => (subjects.mesh.clone(), bytes),
            Out::Probe => (subjects.probe.clone(), Bytes::new()),
        };
        if let Err(e) = client.publish(subject, payload).await {
            tracing::warn!(error = %e, "NATS publish failed");
        }
    }
}

/// Sends heartbeats and probes.
async fn ticker<H: FlowHandler>(
    server: FlowServer<H>,
    broker: Arc<MeshBroker>,
    config: MeshConfig,
) {
    let mut heartbeat = tokio::time::interval(config.heartbeat);
    let mut probe = tokio::time::interval(config.probe_interval);
    for timer in [&mut heartbeat, &mut probe] {
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        tokio::select! {
            _ = heartbeat.tick() => {
                // Each resource's under its own lock, so its heartbeat is
                // queued in order with the changes around it.
                for slot in server.inner.live_slots() {
                    server.inner.read_slot(&slot, |hub| {
                        for (resource, list) in hub.local_presence() {
                            broker.outbox.send_wire(&Wire::Heartbeat {
                                node: broker.node.to_string(),
                                resource: resource.to_string(),
                                entries: list.iter().map(Entry::from).collect(),
                            });
                        }
                    });
                }
            }
            _ = probe.tick() => broker.outbox.send(Out::Probe),
        }
    }
}

/// Applies what the other nodes say, expires quiet nodes, and watches the
/// probe come back.
async fn receiver<H>(
    server: FlowServer<H>,
    node: Arc<str>,
    mut mesh: async_nats::Subscriber,
    mut probe: async_nats::Subscriber,
    health: Arc<Health>,
    config: MeshConfig,
) where
    H: FlowHandler,
{
    // (node, resource) → when it was last heard of.
    let mut heard: HashMap<(String, String), Instant> = HashMap::new();
    let mut sweep = tokio::time::interval(config.heartbeat);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = mesh.next() => {
                let Some(message) = message else { return };
                match rmp_serde::from_slice::<Wire>(&message.payload) {
                    Ok(wire) => apply(&server, &node, &mut heard, wire),
                    Err(e) => tracing::warn!(error = %e, "undecodable mesh message ignored"),
                }
            }
            echo = probe.next() => {
                if echo.is_none() {
                    return;
                }
                health.echoed();
            }
            _ = sweep.tick() => {
                let now = Instant::now();
                let quiet: Vec<(String, String)> = heard
                    .iter()
                    .filter(|(_, at)| now.duration_since(**at) > config.expire_after)
                    .map(|(key, _)| key.clone())
                    .collect();
                for key in quiet {
                    heard.remove(&key);
                    let (other, resource) = &key;
                    tracing::debug!(node = %other, resource = %resource, "mesh node quiet; its presence expires");
                    server.inner.run_existing(resource, |hub| {
                        hub.replace_remote_presence(Now::system(), resource, other, Vec::new());
                    });
                }
            }
        }
    }
}

fn apply<H>(
    server: &FlowServer<H>,
    me: &str,
    heard: &mut HashMap<(String, String), Instant>,
    wire: Wire,
) where
    H: FlowHandler,
{
    match wire {
        Wire::Presence {
            node,
            resource,
            user,
            entry,
        } if node != me => {
            server.inner.run(&resource, |hub| {
                let entry = entry.map(Entry::into_info);
                hub.handle_remote_presence(Now::system(), &resource, &node, &user, entry);
            });
            heard.insert((node, resource), Instant::now());
        }
        Wire::Heartbeat {
            node,
            resource,
            entries,
        } if node != me => {
            server.inner.run(&resource, |hub| {
                let entries = entries.into_iter().map(Entry::into_info).collect();
                hub.replace_remote_presence(Now::system(), &resource, &node, entries);
            });
            heard.insert((node, resource), Instant::now());
        }
        Wire::Signal {
            node,
            resource,
            target,
            frame,
        } if node != me => {
            server.inner.run_existing(&resource, |hub| {
                hub.deliver_signal(&resource, &target, Bytes::from(frame.0))
            });
        }
        Wire::Event {
            node,
            resource,
            user,
            domain,
            correlation_id,
            event,
        } if node != me => {
            let event = match rmp_serde::from_slice::<ui_flow::model::EventOf<H::Model>>(&event.0) {
                Ok(event) => event,
                Err(e) => {
                    tracing::warn!(error = %e, "undecodable event from another node ignored");
                    return;
                }
            };
            let correlation_id = correlation_id.and_then(|id| id.parse::<OpId>().ok());
            let session = server.session(&resource);
            if let Err(e) = session.notify(user.as_deref(), &domain, &event, correlation_id) {
                tracing::warn!(error = %e, "could not encode an event from another node");
            }
        }
        // This node's own messages come back too.
        _ => {}
    }
}

/// A random node id (hex), from the standard library's per-process hash
/// keys and the clock.
fn random_node_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_messages_round_trip_with_binary_frames() {
        let wire = Wire::Signal {
            node: "n1".into(),
            resource: "room".into(),
            target: "bob".into(),
            frame: Bin(vec![0, 1, 255]),
        };
        let bytes = rmp_serde::to_vec_named(&wire).expect("encode");
        match rmp_serde::from_slice::<Wire>(&bytes).expect("decode") {
            Wire::Signal { frame, target, .. } => {
                assert_eq!(frame.0, [0, 1, 255]);
                assert_eq!(target, "bob");
            }
            other => panic!("expected a signal, got {other:?}"),
        }
    }

    #[test]
    fn an_unknown_status_from_another_node_counts_as_active() {
        let entry = Entry {
            user: "ann".into(),
            name: None,
            status: "dancing".into(),
            connected_at: 5,
        };
        assert_eq!(entry.into_info().status, PresenceStatus::Active);
    }
}
