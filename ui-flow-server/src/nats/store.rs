//! [`JetStreamStore`]: resource logs in NATS JetStream, shared by every node.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer, stream};
use async_trait::async_trait;
use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;
use tokio::io::AsyncReadExt;
use ui_flow::OpId;

use super::{NatsConfig, subject_token};
use crate::store::{
    Appended, Checkpoint, Entry, Follow, Loaded, OpRecord, Outcome, Store, StoreError,
    check_follows,
};

const EPOCH: &str = "Uif-Epoch";
const FIRST: &str = "Uif-First";
const LAST: &str = "Uif-Last";
const AT: &str = "Uif-At";
const OPS: &str = "Uif-Ops";
const HEAD_VERSION: u8 = 1;

/// Keeps every resource's log in NATS JetStream, where every node that
/// connects with the same [`NatsConfig`] finds it: the store for several
/// nodes (see the [module docs](super) for the streams it uses).
///
/// - An append is one message on the resource's subject, published with
///   the expected last subject sequence: a node that is not at the head
///   gets [`StoreError::Conflict`] and nothing is written.
/// - [`follow`](Store::follow) feeds a node the commits any node makes.
/// - Op records are written right after their commit's message, which
///   also names its actions (`Uif-Ops`): a retry on another node finds the
///   action committed even when its node died between the two.
///
/// It does not cache state: each node's resource log holds the state.
pub struct JetStreamStore {
    js: jetstream::Context,
    log: stream::Stream,
    heads: stream::Stream,
    ops: stream::Stream,
    states: jetstream::object_store::ObjectStore,
    prefix: String,
    inline_state_bytes: usize,
    /// Per resource: the stream sequence of its last log message (0: none)
    /// and the seq it ends at, as this node last saw them.
    tails: Mutex<HashMap<String, Tail>>,
    /// Per resource: where recent commit messages are (the seq a message
    /// ends at → its stream sequence), so a node reads only what it missed.
    /// And the actions whose commits this node has seen (from the commit
    /// messages' `Uif-Ops` header), so a retry finds its action committed
    /// even when the committing node died before writing the op record.
    index: std::sync::Arc<Mutex<HashMap<String, Known>>>,
}

/// What a node knows of one resource's recent commit messages.
#[derive(Debug, Default)]
struct Known {
    positions: std::collections::BTreeMap<u64, u64>,
    ops: std::collections::HashSet<String>,
    op_order: std::collections::VecDeque<String>,
    /// The whole log was read once (so `ops` covers what it holds).
    scanned: bool,
}

/// Committed actions remembered per resource.
const OPS_PER_RESOURCE: usize = 65_536;

fn remember_ops(index: &Mutex<HashMap<String, Known>>, resource: &str, ops: &[String]) {
    if ops.is_empty() {
        return;
    }
    let mut index = index.lock().unwrap_or_else(PoisonError::into_inner);
    let known = index.entry(resource.to_owned()).or_default();
    for op in ops {
        if known.ops.insert(op.clone()) {
            known.op_order.push_back(op.clone());
        }
    }
    while known.op_order.len() > OPS_PER_RESOURCE {
        if let Some(old) = known.op_order.pop_front() {
            known.ops.remove(&old);
        }
    }
}

/// How an action is named in the `Uif-Ops` header.
fn op_name(user: &str, op_id: OpId) -> String {
    format!("{}.{op_id}", subject_token(user))
}

/// Commit positions remembered per resource.
const INDEX_PER_RESOURCE: usize = 4096;

fn remember(index: &Mutex<HashMap<String, Known>>, resource: &str, last: u64, stream_seq: u64) {
    let mut index = index.lock().unwrap_or_else(PoisonError::into_inner);
    let known = &mut index.entry(resource.to_owned()).or_default().positions;
    known.insert(last, stream_seq);
    while known.len() > INDEX_PER_RESOURCE {
        known.pop_first();
    }
}

impl std::fmt::Debug for JetStreamStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy)]
struct Tail {
    stream_seq: u64,
    head: u64,
    epoch: u32,
}

/// A checkpoint as stored in the heads stream.
struct Head {
    checkpoint: Checkpoint,
    /// Entries below this are forgotten.
    keep_from: u64,
    /// The object holding the state, when it is not inline.
    object: Option<String>,
}

fn io(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(format!("NATS JetStream: {what}: {e}"))
}

/// The settings every stream of the store starts from: stream
/// `{prefix}_{name}` over subjects `{prefix}.{subjects}`, on file storage,
/// with `replicas` copies. What a stream adds (one message per subject, an
/// age limit) goes on top.
fn file_stream(prefix: &str, name: &str, subjects: &str, replicas: usize) -> stream::Config {
    stream::Config {
        name: format!("{prefix}_{name}"),
        subjects: vec![format!("{prefix}.{subjects}")],
        num_replicas: replicas,
        storage: stream::StorageType::File,
        ..Default::default()
    }
}

/// Creates the stream unless it exists (an existing one is used as it is,
/// whatever its settings); `open` makes the error that names it.
async fn open_stream(
    js: &jetstream::Context,
    config: stream::Config,
    open: &impl Fn(String) -> StoreError,
) -> Result<stream::Stream, StoreError> {
    let name = config.name.clone();
    js.get_or_create_stream(config)
        .await
        .map_err(|e| open(format!("stream {name}: {e}")))
}

impl JetStreamStore {
    /// Connects to NATS and creates the streams and the object store bucket
    /// if they do not exist yet (an existing one is used as it is).
    pub async fn connect(config: NatsConfig) -> Result<Self, StoreError> {
        if !config.valid_prefix() {
            return Err(StoreError::Open {
                path: config.url.clone().into(),
                reason: format!(
                    "the prefix {:?} must be letters, digits, - and _",
                    config.prefix
                ),
            });
        }
        let client = async_nats::ConnectOptions::new()
            .name("ui-flow")
            .retry_on_initial_connect()
            .request_timeout(Some(config.request_timeout))
            .connect(config.url.as_str())
            .await
            .map_err(|e| StoreError::Open {
                path: config.url.clone().into(),
                reason: e.to_string(),
            })?;
        Self::with_client(client, config).await
    }

    /// Like [`connect`](Self::connect), on a connection made elsewhere.
    pub(crate) async fn with_client(
        client: async_nats::Client,
        config: NatsConfig,
    ) -> Result<Self, StoreError> {
        let mut js = jetstream::new(client);
        js.set_timeout(config.request_timeout);
        let p = &config.prefix;
        let replicas = config.replicas;
        let open = |e: String| StoreError::Open {
            path: config.url.clone().into(),
            reason: e,
        };
        let log = open_stream(&js, file_stream(p, "log", "log.*", replicas), &open).await?;
        let heads = stream::Config {
            max_messages_per_subject: 1,
            ..file_stream(p, "heads", "head.*", replicas)
        };
        let heads = open_stream(&js, heads, &open).await?;
        let ops = stream::Config {
            max_messages_per_subject: 1,
            max_age: config.op_record_max_age,
            ..file_stream(p, "ops", "ops.>", replicas)
        };
        let ops = open_stream(&js, ops, &open).await?;
        let bucket = format!("{p}_states");
        let states = match js.get_object_store(&bucket).await {
            Ok(states) => states,
            Err(_) => js
                .create_object_store(jetstream::object_store::Config {
                    bucket: bucket.clone(),
                    num_replicas: replicas,
                    ..Default::default()
                })
                .await
                .map_err(|e| open(format!("object store {bucket}: {e}")))?,
        };
        Ok(JetStreamStore {
            js,
            log,
            heads,
            ops,
            states,
            prefix: config.prefix,
            inline_state_bytes: config.inline_state_bytes,
            tails: Mutex::default(),
            index: std::sync::Arc::default(),
        })
    }

    fn log_subject(&self, resource: &str) -> String {
        format!("{}.log.{}", self.prefix, subject_token(resource))
    }

    fn head_subject(&self, resource: &str) -> String {
        format!("{}.head.{}", self.prefix, subject_token(resource))
    }

    fn ops_subject(&self, resource: &str, user: &str, op_id: OpId) -> String {
        format!(
            "{}.ops.{}.{}.{op_id}",
            self.prefix,
            subject_token(resource),
            subject_token(user)
        )
    }

    fn tails(&self) -> std::sync::MutexGuard<'_, HashMap<String, Tail>> {
        self.tails.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The last message on `subject` of `stream`, if any.
    async fn last(
        stream: &stream::Stream,
        subject: &str,
    ) -> Result<Option<jetstream::message::StreamMessage>, StoreError> {
        match stream.get_last_raw_message_by_subject(subject).await {
            Ok(message) => Ok(Some(message)),
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(io("read the last message", e)),
        }
    }

    /// The resource's checkpoint record, without its state.
    async fn head(&self, resource: &str) -> Result<Option<(Head, Bytes)>, StoreError> {
        Ok(self.head_message(resource).await?.map(|(h, b, _)| (h, b)))
    }

    /// The checkpoint record and the stream sequence of its message.
    async fn head_message(&self, resource: &str) -> Result<Option<(Head, Bytes, u64)>, StoreError> {
        let Some(message) = Self::last(&self.heads, &self.head_subject(resource)).await? else {
            return Ok(None);
        };
        let (head, inline) = decode_head(resource, &message.payload)?;
        Ok(Some((head, inline, message.sequence)))
    }

    /// The state a checkpoint record points to.
    async fn state_of(&self, head: &Head, inline: Bytes) -> Result<Bytes, StoreError> {
        let Some(name) = &head.object else {
            return Ok(inline);
        };
        let mut object = self
            .states
            .get(name)
            .await
            .map_err(|e| io("read a checkpoint object", e))?;
        let mut state = Vec::new();
        object
            .read_to_end(&mut state)
            .await
            .map_err(|e| io("read a checkpoint object", e))?;
        Ok(Bytes::from(state))
    }

    /// The resource's tail as JetStream has it now.
    async fn fetch_tail(&self, resource: &str) -> Result<Tail, StoreError> {
        let tail = match Self::last(&self.log, &self.log_subject(resource)).await? {
            Some(message) => {
                let (epoch, _, last, _) = commit_headers(resource, &message.headers)?;
                remember(&self.index, resource, last, message.sequence);
                Tail {
                    stream_seq: message.sequence,
                    head: last,
                    epoch,
                }
            }
            None => match self.head(resource).await? {
                Some((head, _)) => Tail {
                    stream_seq: 0,
                    head: head.checkpoint.seq,
                    epoch: head.checkpoint.epoch,
                },
                None => {
                    return Err(StoreError::Corrupt {
                        resource: resource.to_owned(),
                        reason: "the log was never created".to_owned(),
                    });
                }
            },
        };
        self.tails().insert(resource.to_owned(), tail);
        Ok(tail)
    }

    /// Every commit message of `resource`, oldest first, up to the one at
    /// the tail when the read starts.
    async fn commits(&self, resource: &str) -> Result<Vec<Commit>, StoreError> {
        let subject = self.log_subject(resource);
        let Some(last) = Self::last(&self.log, &subject).await? else {
            return Ok(Vec::new());
        };
        let mut reading = Reading::start(&self.log, subject, "read the log").await?;
        let mut commits = Vec::new();
        while let Some(Read {
            message,
            stream_seq,
            ..
        }) = reading.next().await?
        {
            let headers = message.headers.clone().unwrap_or_default();
            let commit = Commit::decode(resource, stream_seq, &headers, &message.payload)?;
            if let Some(last) = commit.entries.last() {
                remember(&self.index, resource, last.seq, stream_seq);
            }
            remember_ops(&self.index, resource, &commit.ops);
            commits.push(commit);
            if stream_seq >= last.sequence {
                break;
            }
        }
        self.index
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(resource.to_owned())
            .or_default()
            .scanned = true;
        Ok(commits)
    }

    fn forget_index(&self, resource: &str) {
        self.index
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(resource);
    }

    /// Entries after `after` read message by message from the commit that
    /// ends at `after`, when this node knows where that one is (the common
    /// case: catching up a few commits). `None`: not known, scan instead.
    async fn entries_after_known(
        &self,
        resource: &str,
        after: u64,
        limit: usize,
        epoch: u32,
    ) -> Result<Option<Vec<Entry>>, StoreError> {
        let known = self
            .index
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(resource)
            .and_then(|known| known.positions.get(&after).copied());
        let Some(mut at) = known else {
            return Ok(None);
        };
        let subject = self.log_subject(resource);
        let mut out = Vec::new();
        while out.len() < limit {
            let message = match self
                .log
                .get_first_raw_message_by_subject(&subject, at + 1)
                .await
            {
                Ok(message) => message,
                Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => break,
                Err(e) => return Err(io("read the log", e)),
            };
            let commit = Commit::decode(
                resource,
                message.sequence,
                &message.headers,
                &message.payload,
            )?;
            at = message.sequence;
            if commit.epoch != epoch {
                continue;
            }
            if let Some(last) = commit.entries.last() {
                remember(&self.index, resource, last.seq, message.sequence);
            }
            remember_ops(&self.index, resource, &commit.ops);
            out.extend(commit.entries.into_iter().filter(|e| e.seq > after));
        }
        out.truncate(limit);
        Ok(Some(out))
    }

    async fn put_ops(&self, resource: &str, ops: Vec<OpRecord>) -> Result<(), StoreError> {
        for op in ops {
            let mut payload = BytesMut::new();
            payload.put_u64(op.at_unix_ms);
            match &op.outcome {
                Outcome::Committed => payload.put_u8(0),
                Outcome::Answered(frame) => {
                    payload.put_u8(1);
                    payload.put_slice(frame);
                }
            }
            self.js
                .publish(
                    self.ops_subject(resource, &op.user, op.op_id),
                    payload.freeze(),
                )
                .await
                .map_err(|e| io("record an op", e))?
                .await
                .map_err(|e| io("record an op", e))?;
        }
        Ok(())
    }

    /// Publishes a checkpoint record; with `replaces`, only if the record
    /// at that stream sequence is still the latest (false otherwise).
    async fn put_head(
        &self,
        resource: &str,
        head: &Head,
        inline: &[u8],
        replaces: Option<u64>,
    ) -> Result<bool, StoreError> {
        let payload = encode_head(head, inline);
        let mut headers = HeaderMap::new();
        if let Some(seq) = replaces {
            headers.insert(
                "Nats-Expected-Last-Subject-Sequence",
                seq.to_string().as_str(),
            );
        }
        let ack = self
            .js
            .publish_with_headers(self.head_subject(resource), headers, payload)
            .await
            .map_err(|e| io("save a checkpoint", e))?
            .await;
        match ack {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == jetstream::context::PublishErrorKind::WrongLastSequence => {
                Ok(false)
            }
            Err(e) => Err(io("save a checkpoint", e)),
        }
    }

    /// A checkpoint record for `checkpoint`, its state put in the object
    /// store when it is too big to go inline.
    async fn stage_checkpoint(
        &self,
        resource: &str,
        checkpoint: Checkpoint,
        keep_from: u64,
    ) -> Result<(Head, Bytes), StoreError> {
        if checkpoint.state.len() <= self.inline_state_bytes {
            let state = checkpoint.state.clone();
            return Ok((
                Head {
                    checkpoint,
                    keep_from,
                    object: None,
                },
                state,
            ));
        }
        let name = format!(
            "{}-{}-{}",
            subject_token(resource),
            checkpoint.epoch,
            checkpoint.seq
        );
        self.states
            .put(name.as_str(), &mut &checkpoint.state[..])
            .await
            .map_err(|e| io("save a checkpoint object", e))?;
        Ok((
            Head {
                checkpoint,
                keep_from,
                object: Some(name),
            },
            Bytes::new(),
        ))
    }

    async fn drop_object(&self, old: Option<Head>, new: Option<&Head>) {
        let Some(name) = old.and_then(|h| h.object) else {
            return;
        };
        if new.and_then(|h| h.object.as_ref()) == Some(&name) {
            return;
        }
        if let Err(e) = self.states.delete(&name).await {
            tracing::warn!(object = %name, error = %e, "could not delete an old checkpoint object");
        }
    }
}

/// One commit message: entries `first..=last`.
struct Commit {
    stream_seq: u64,
    epoch: u32,
    at_unix_ms: u64,
    entries: Vec<Entry>,
    /// The actions it is the effect of (`Uif-Ops`).
    ops: Vec<String>,
}

impl Commit {
    fn decode(
        resource: &str,
        stream_seq: u64,
        headers: &HeaderMap,
        payload: &[u8],
    ) -> Result<Self, StoreError> {
        let (epoch, first, last, at_unix_ms) = commit_headers(resource, headers)?;
        let corrupt = |reason: &str| StoreError::Corrupt {
            resource: resource.to_owned(),
            reason: format!("commit message {stream_seq}: {reason}"),
        };
        let mut entries = Vec::new();
        let mut rest = payload;
        while !rest.is_empty() {
            let Some((len, tail)) = rest.split_first_chunk::<4>() else {
                return Err(corrupt("truncated length"));
            };
            let len = u32::from_be_bytes(*len) as usize;
            if tail.len() < len {
                return Err(corrupt("truncated delta"));
            }
            entries.push(Entry {
                seq: first + entries.len() as u64,
                delta: Bytes::copy_from_slice(&tail[..len]),
            });
            rest = &tail[len..];
        }
        if entries.is_empty() || first + entries.len() as u64 - 1 != last {
            return Err(corrupt("its deltas do not match its seqs"));
        }
        let ops = headers
            .get(OPS)
            .map(|v| {
                v.as_str()
                    .split(',')
                    .filter(|o| !o.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Commit {
            stream_seq,
            epoch,
            at_unix_ms,
            entries,
            ops,
        })
    }
}

/// The messages on one subject filter of a stream, oldest first, read
/// through an ordered consumer (which recreates itself after a hiccup).
/// The reader never ends by itself: the caller stops when it has read far
/// enough (a sequence it noted first, or nothing pending).
struct Reading {
    messages: consumer::pull::Ordered,
    /// What the reading is for, in its errors.
    what: &'static str,
}

/// One message read, with where it stands in its stream.
struct Read {
    message: jetstream::Message,
    stream_seq: u64,
    /// How many messages on the filter follow this one, when it was sent.
    pending: u64,
}

impl Reading {
    async fn start(
        stream: &stream::Stream,
        filter_subject: String,
        what: &'static str,
    ) -> Result<Self, StoreError> {
        let consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject,
                deliver_policy: consumer::DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .map_err(|e| io(what, e))?;
        let messages = consumer.messages().await.map_err(|e| io(what, e))?;
        Ok(Reading { messages, what })
    }

    async fn next(&mut self) -> Result<Option<Read>, StoreError> {
        let Some(message) = self.messages.next().await else {
            return Ok(None);
        };
        let message = message.map_err(|e| io(self.what, e))?;
        let info = message.info().map_err(|e| io(self.what, e))?;
        let (stream_seq, pending) = (info.stream_sequence, info.pending);
        Ok(Some(Read {
            message,
            stream_seq,
            pending,
        }))
    }
}

fn commit_headers(resource: &str, headers: &HeaderMap) -> Result<(u32, u64, u64, u64), StoreError> {
    let number = |name: &str| -> Result<u64, StoreError> {
        headers
            .get(name)
            .and_then(|v| v.as_str().parse().ok())
            .ok_or_else(|| StoreError::Corrupt {
                resource: resource.to_owned(),
                reason: format!("a commit message lacks {name}"),
            })
    };
    let epoch = u32::try_from(number(EPOCH)?).map_err(|_| StoreError::Corrupt {
        resource: resource.to_owned(),
        reason: "epoch out of range".to_owned(),
    })?;
    Ok((epoch, number(FIRST)?, number(LAST)?, number(AT)?))
}

fn encode_head(head: &Head, inline: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    out.put_u8(HEAD_VERSION);
    out.put_u32(head.checkpoint.epoch);
    out.put_u64(head.checkpoint.seq);
    out.put_u64(head.keep_from);
    match &head.object {
        None => {
            out.put_u8(0);
            out.put_slice(inline);
        }
        Some(name) => {
            out.put_u8(1);
            out.put_slice(name.as_bytes());
        }
    }
    out.freeze()
}

fn decode_head(resource: &str, payload: &Bytes) -> Result<(Head, Bytes), StoreError> {
    let corrupt = |reason: &str| StoreError::Corrupt {
        resource: resource.to_owned(),
        reason: format!("checkpoint record: {reason}"),
    };
    if payload.len() < 22 {
        return Err(corrupt("too short"));
    }
    if payload[0] != HEAD_VERSION {
        return Err(corrupt("written by another version"));
    }
    let epoch = u32::from_be_bytes(payload[1..5].try_into().unwrap_or_default());
    let seq = u64::from_be_bytes(payload[5..13].try_into().unwrap_or_default());
    let keep_from = u64::from_be_bytes(payload[13..21].try_into().unwrap_or_default());
    let rest = payload.slice(22..);
    let (object, inline) = match payload[21] {
        0 => (None, rest),
        1 => (
            Some(String::from_utf8(rest.to_vec()).map_err(|_| corrupt("bad object name"))?),
            Bytes::new(),
        ),
        _ => return Err(corrupt("unknown kind")),
    };
    Ok((
        Head {
            checkpoint: Checkpoint {
                epoch,
                seq,
                state: Bytes::new(),
            },
            keep_from,
            object,
        },
        inline,
    ))
}

#[async_trait]
impl Store for JetStreamStore {
    async fn load(&self, resource: &str) -> Result<Option<Loaded>, StoreError> {
        let Some((head, inline)) = self.head(resource).await? else {
            return Ok(None);
        };
        let state = self.state_of(&head, inline).await?;
        let mut checkpoint = head.checkpoint;
        checkpoint.state = state;
        let commits = self.commits(resource).await?;
        let tail = commits.last().map_or(
            Tail {
                stream_seq: 0,
                head: checkpoint.seq,
                epoch: checkpoint.epoch,
            },
            |c| Tail {
                stream_seq: c.stream_seq,
                head: c.entries.last().map_or(0, |e| e.seq),
                epoch: c.epoch,
            },
        );
        let entries: Vec<Entry> = commits
            .into_iter()
            .filter(|c| c.epoch == checkpoint.epoch)
            .flat_map(|c| c.entries)
            .filter(|e| e.seq > checkpoint.seq)
            .collect();
        self.tails().insert(resource.to_owned(), tail);
        Ok(Some(Loaded {
            checkpoint,
            entries,
        }))
    }

    async fn create(&self, resource: &str, checkpoint: Checkpoint) -> Result<(), StoreError> {
        let old = self.head(resource).await?.map(|(h, _)| h);
        self.log
            .purge()
            .filter(self.log_subject(resource))
            .await
            .map_err(|e| io("start a log over", e))?;
        let (seq, epoch) = (checkpoint.seq, checkpoint.epoch);
        let (head, inline) = self.stage_checkpoint(resource, checkpoint, seq + 1).await?;
        self.put_head(resource, &head, &inline, None).await?;
        self.drop_object(old, Some(&head)).await;
        self.forget_index(resource);
        self.tails().insert(
            resource.to_owned(),
            Tail {
                stream_seq: 0,
                head: seq,
                epoch,
            },
        );
        Ok(())
    }

    async fn create_new(
        &self,
        resource: &str,
        checkpoint: Checkpoint,
    ) -> Result<Option<Loaded>, StoreError> {
        let (seq, epoch) = (checkpoint.seq, checkpoint.epoch);
        let (head, inline) = self.stage_checkpoint(resource, checkpoint, seq + 1).await?;
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Expected-Last-Subject-Sequence", "0");
        let ack = self
            .js
            .publish_with_headers(
                self.head_subject(resource),
                headers,
                encode_head(&head, &inline),
            )
            .await
            .map_err(|e| io("create a log", e))?
            .await;
        match ack {
            Ok(_) => {
                self.tails().insert(
                    resource.to_owned(),
                    Tail {
                        stream_seq: 0,
                        head: seq,
                        epoch,
                    },
                );
                Ok(None)
            }
            Err(e) if e.kind() == jetstream::context::PublishErrorKind::WrongLastSequence => {
                // Another node created it first: use theirs.
                self.drop_object(Some(head), None).await;
                match self.load(resource).await? {
                    Some(loaded) => Ok(Some(loaded)),
                    None => Err(StoreError::Io(
                        "the log was created and removed at once; try again".to_owned(),
                    )),
                }
            }
            Err(e) => Err(io("create a log", e)),
        }
    }

    async fn append(
        &self,
        resource: &str,
        entries: Vec<Entry>,
        ops: Vec<OpRecord>,
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return self.put_ops(resource, ops).await;
        }
        let cached = self.tails().get(resource).copied();
        let tail = match cached {
            Some(tail) => tail,
            None => self.fetch_tail(resource).await?,
        };
        if let Err(conflict) = check_follows(resource, tail.head, &entries) {
            // Maybe only this node's view is old: look again before refusing.
            let fresh = self.fetch_tail(resource).await?;
            if cached.is_none() || fresh.head == tail.head {
                return Err(conflict);
            }
            check_follows(resource, fresh.head, &entries)?;
            return Box::pin(self.append(resource, entries, ops)).await;
        }
        let first = entries[0].seq;
        let last = first + entries.len() as u64 - 1;
        let epoch = tail.epoch;
        let mut payload = BytesMut::with_capacity(entries.iter().map(|e| e.delta.len() + 4).sum());
        for entry in &entries {
            let len =
                u32::try_from(entry.delta.len()).map_err(|_| io("append", "a delta over 4 GiB"))?;
            payload.put_u32(len);
            payload.put_slice(&entry.delta);
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            "Nats-Expected-Last-Subject-Sequence",
            tail.stream_seq.to_string().as_str(),
        );
        headers.insert(EPOCH, epoch.to_string().as_str());
        headers.insert(FIRST, first.to_string().as_str());
        headers.insert(LAST, last.to_string().as_str());
        headers.insert(AT, now_unix_ms().to_string().as_str());
        let committed: Vec<String> = ops
            .iter()
            .filter(|op| op.outcome == Outcome::Committed)
            .map(|op| op_name(&op.user, op.op_id))
            .collect();
        if !committed.is_empty() {
            headers.insert(OPS, committed.join(",").as_str());
        }
        let ack = self
            .js
            .publish_with_headers(self.log_subject(resource), headers, payload.freeze())
            .await
            .map_err(|e| io("append", e))?
            .await;
        match ack {
            Ok(ack) => {
                remember(&self.index, resource, last, ack.sequence);
                remember_ops(&self.index, resource, &committed);
                self.tails().insert(
                    resource.to_owned(),
                    Tail {
                        stream_seq: ack.sequence,
                        head: last,
                        epoch,
                    },
                );
            }
            Err(e) if e.kind() == jetstream::context::PublishErrorKind::WrongLastSequence => {
                let fresh = self.fetch_tail(resource).await?;
                return Err(StoreError::Conflict {
                    resource: resource.to_owned(),
                    stored_head: fresh.head,
                    first,
                });
            }
            Err(e) => {
                // The commit may or may not be in the stream: look again next time.
                self.tails().remove(resource);
                return Err(io("append", e));
            }
        }
        self.put_ops(resource, ops).await
    }

    async fn entries(
        &self,
        resource: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let Some((head, _)) = self.head(resource).await? else {
            return Ok(Vec::new());
        };
        let epoch = head.checkpoint.epoch;
        let low = head.keep_from.min(head.checkpoint.seq + 1);
        if let Some(read) = self
            .entries_after_known(resource, after, limit, epoch)
            .await?
        {
            return Ok(read.into_iter().filter(|e| e.seq >= low).collect());
        }
        Ok(self
            .commits(resource)
            .await?
            .into_iter()
            .filter(|c| c.epoch == epoch && c.entries.last().is_some_and(|e| e.seq > after))
            .flat_map(|c| c.entries)
            .filter(|e| e.seq > after && e.seq >= head.keep_from.min(head.checkpoint.seq + 1))
            .take(limit)
            .collect())
    }

    async fn checkpoint(
        &self,
        resource: &str,
        checkpoint: Checkpoint,
        keep_from: u64,
    ) -> Result<(), StoreError> {
        let Some((old, _, old_seq)) = self.head_message(resource).await? else {
            return Err(StoreError::Corrupt {
                resource: resource.to_owned(),
                reason: "the log was never created".to_owned(),
            });
        };
        if old.checkpoint.epoch == checkpoint.epoch && old.checkpoint.seq >= checkpoint.seq {
            // Another node saved a later one: keep it.
            return Ok(());
        }
        let keep_from = keep_from.min(checkpoint.seq + 1);
        let (head, inline) = self
            .stage_checkpoint(resource, checkpoint, keep_from)
            .await?;
        if !self
            .put_head(resource, &head, &inline, Some(old_seq))
            .await?
        {
            // Another node saved one meanwhile: keep theirs.
            self.drop_object(Some(head), None).await;
            return Ok(());
        }
        self.drop_object(Some(old), Some(&head)).await;
        // Drop commit messages wholly below keep_from, but never the last
        // one: appends are checked against it.
        let commits = self.commits(resource).await?;
        let last = commits.last().map(|c| c.stream_seq);
        let keep = commits
            .iter()
            .find(|c| c.entries.last().is_some_and(|e| e.seq >= keep_from))
            .map(|c| c.stream_seq)
            .or(last);
        if let Some(keep) = keep {
            self.log
                .purge()
                .filter(self.log_subject(resource))
                .sequence(keep)
                .await
                .map_err(|e| io("drop old commits", e))?;
        }
        Ok(())
    }

    async fn outcome(
        &self,
        resource: &str,
        user: &str,
        op_id: OpId,
    ) -> Result<Option<Outcome>, StoreError> {
        let Some(message) = Self::last(&self.ops, &self.ops_subject(resource, user, op_id)).await?
        else {
            // Its node may have died between the commit and the op record:
            // the commit message names the action. Read the log once if
            // this node has not yet (a retry can come before the log opens).
            let name = op_name(user, op_id);
            let check = || {
                let index = self.index.lock().unwrap_or_else(PoisonError::into_inner);
                let known = index.get(resource);
                (
                    known.is_some_and(|k| k.ops.contains(&name)),
                    known.is_some_and(|k| k.scanned),
                )
            };
            let (mut seen, scanned) = check();
            if !seen && !scanned {
                self.commits(resource).await?;
                seen = check().0;
            }
            return Ok(seen.then_some(Outcome::Committed));
        };
        let corrupt = || StoreError::Corrupt {
            resource: resource.to_owned(),
            reason: "an op record does not decode".to_owned(),
        };
        match message.payload.get(8) {
            Some(0) => Ok(Some(Outcome::Committed)),
            Some(1) => Ok(Some(Outcome::Answered(message.payload.slice(9..)))),
            _ => Err(corrupt()),
        }
    }

    async fn forget_ops(&self, resource: &str, before_unix_ms: u64) -> Result<(), StoreError> {
        let filter = format!("{}.ops.{}.>", self.prefix, subject_token(resource));
        let ops = self.ops.clone();
        let pending = {
            let info = ops
                .info_with_subjects(&filter)
                .await
                .map_err(|e| io("list op records", e))?;
            let mut subjects = info;
            let mut count = 0u64;
            while let Some(next) = subjects.next().await {
                let (_, n) = next.map_err(|e| io("list op records", e))?;
                count += n as u64;
            }
            count
        };
        if pending == 0 {
            return Ok(());
        }
        let mut reading = Reading::start(&self.ops, filter, "read op records").await?;
        let mut old = Vec::new();
        while let Some(Read {
            message,
            stream_seq,
            pending,
        }) = reading.next().await?
        {
            let at = message
                .payload
                .first_chunk::<8>()
                .map_or(0, |b| u64::from_be_bytes(*b));
            if at < before_unix_ms {
                old.push(stream_seq);
            }
            if pending == 0 {
                break;
            }
        }
        for seq in old {
            self.ops
                .delete_message(seq)
                .await
                .map_err(|e| io("forget an op record", e))?;
        }
        Ok(())
    }

    async fn remove(&self, resource: &str) -> Result<(), StoreError> {
        let old = self.head(resource).await?.map(|(h, _)| h);
        self.log
            .purge()
            .filter(self.log_subject(resource))
            .await
            .map_err(|e| io("remove a log", e))?;
        self.heads
            .purge()
            .filter(self.head_subject(resource))
            .await
            .map_err(|e| io("remove a log", e))?;
        self.ops
            .purge()
            .filter(format!("{}.ops.{}.>", self.prefix, subject_token(resource)))
            .await
            .map_err(|e| io("remove a log", e))?;
        self.drop_object(old, None).await;
        self.tails().remove(resource);
        self.forget_index(resource);
        Ok(())
    }

    async fn follow(&self, resource: &str) -> Result<Option<Follow>, StoreError> {
        let consumer = self
            .log
            .create_consumer(consumer::push::OrderedConfig {
                deliver_subject: self.js.client().new_inbox(),
                filter_subject: self.log_subject(resource),
                deliver_policy: consumer::DeliverPolicy::LastPerSubject,
                ..Default::default()
            })
            .await
            .map_err(|e| io("follow a log", e))?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| io("follow a log", e))?;
        let (sender, follow) = Follow::channel(64);
        let resource = resource.to_owned();
        let index = self.index.clone();
        tokio::spawn(async move {
            while let Some(message) = messages.next().await {
                let item = match message {
                    Ok(message) => {
                        let stream_seq = message.info().map_or(0, |i| i.stream_sequence);
                        let headers = message.headers.clone().unwrap_or_default();
                        Commit::decode(&resource, stream_seq, &headers, &message.payload).map(|c| {
                            if let Some(last) = c.entries.last() {
                                remember(&index, &resource, last.seq, c.stream_seq);
                            }
                            remember_ops(&index, &resource, &c.ops);
                            Appended {
                                epoch: c.epoch,
                                at_unix_ms: c.at_unix_ms,
                                entries: c.entries,
                            }
                        })
                    }
                    // The ordered consumer recreates itself after errors.
                    Err(e) => {
                        tracing::debug!(resource = %resource, error = %e, "following the log: a hiccup");
                        // Do not spin while NATS is away.
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if !sender.send(item).await {
                    break;
                }
            }
        });
        Ok(Some(follow))
    }
}

fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store(nats: &ui_flow_nats_harness::NatsServer, prefix: &str) -> JetStreamStore {
        JetStreamStore::connect(NatsConfig::new(nats.url()).prefix(prefix))
            .await
            .expect("connect")
    }

    #[tokio::test]
    async fn jetstream_store_conformance() {
        let nats = ui_flow_nats_harness::NatsServer::start().expect("nats-server");
        crate::store::conformance::run(&store(&nats, "conf").await).await;
    }

    #[tokio::test]
    async fn jetstream_store_conformance_with_states_in_the_object_store() {
        let nats = ui_flow_nats_harness::NatsServer::start().expect("nats-server");
        let store = JetStreamStore::connect(
            NatsConfig::new(nats.url())
                .prefix("big")
                .inline_state_bytes(0),
        )
        .await
        .expect("connect");
        crate::store::conformance::run(&store).await;
    }

    /// Two stores (two nodes) on one NATS: one wins each seq, the other
    /// gets a conflict naming the head, and both see one line.
    #[tokio::test]
    async fn two_nodes_append_in_one_order() {
        let nats = ui_flow_nats_harness::NatsServer::start().expect("nats-server");
        let a = store(&nats, "two").await;
        let b = store(&nats, "two").await;
        let start = Checkpoint {
            epoch: 3,
            seq: 0,
            state: Bytes::from_static(b"s"),
        };
        assert!(
            a.create_new("r", start.clone())
                .await
                .expect("create")
                .is_none()
        );
        let theirs = b
            .create_new("r", start)
            .await
            .expect("create")
            .expect("a's");
        assert_eq!(theirs.checkpoint.epoch, 3);
        let entry = |seq: u64| Entry {
            seq,
            delta: Bytes::from(format!("d{seq}")),
        };
        b.load("r").await.expect("load");
        a.append("r", vec![entry(1)], Vec::new())
            .await
            .expect("a appends 1");
        let lost = b.append("r", vec![entry(1)], Vec::new()).await;
        assert!(
            matches!(
                lost,
                Err(StoreError::Conflict {
                    stored_head: 1,
                    first: 1,
                    ..
                })
            ),
            "{lost:?}"
        );
        b.append("r", vec![entry(2)], Vec::new())
            .await
            .expect("b appends 2 after catching up");
        let stale = a.append("r", vec![entry(2)], Vec::new()).await;
        assert!(
            matches!(stale, Err(StoreError::Conflict { stored_head: 2, .. })),
            "{stale:?}"
        );
        assert_eq!(
            a.entries("r", 0, 10).await.expect("entries"),
            vec![entry(1), entry(2)]
        );
    }
}
