//! `FileStore` on real database files: reopening, refusing files it must
//! not use, and surviving `kill -9` in the middle of appends.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use bytes::Bytes;
use common::{Client, Msg, STUCK, url};
use ui_flow::{ClientMessage, OpId};
use ui_flow_server::counter::{Counter, CounterAction};
use ui_flow_server::store::{
    Checkpoint, Durability, Entry, FORMAT_VERSION, FileStore, OpRecord, Outcome, Store, StoreError,
};
use ui_flow_server::{FlowServer, ServerConfig, UnverifiedUserToken};

/// Set to the database path in the writer process of the `kill_mid_*`
/// tests.
const CHILD_ENV: &str = "UI_FLOW_FILE_STORE_CHILD";
/// `1` when that child appends with `Durability::Eventual`.
const CHILD_EVENTUAL_ENV: &str = "UI_FLOW_FILE_STORE_CHILD_EVENTUAL";

fn entry(seq: u64) -> Entry {
    // About 100 bytes, different for every seq, so a torn or misplaced
    // entry cannot pass for the right one.
    Entry {
        seq,
        delta: Bytes::from(format!("delta {seq}: ").repeat(8)),
    }
}

fn checkpoint(epoch: u32, seq: u64) -> Checkpoint {
    Checkpoint {
        epoch,
        seq,
        state: Bytes::from(format!("state at {seq}")),
    }
}

fn op(seq: u64) -> OpRecord {
    OpRecord {
        user: "ann".into(),
        op_id: OpId::from_u128(u128::from(seq)),
        at_unix_ms: 1_000 + seq,
        outcome: Outcome::Answered(Bytes::from(format!("answer {seq}"))),
    }
}

fn open_refusal(path: &Path) -> String {
    match FileStore::open(path) {
        Ok(_) => panic!("{} was opened", path.display()),
        Err(e @ StoreError::Open { .. }) => {
            let StoreError::Open { path: named, .. } = &e else {
                unreachable!()
            };
            assert_eq!(named, path, "the error names the path");
            let text = e.to_string();
            assert!(text.contains(&path.display().to_string()), "{text}");
            text
        }
        Err(other) => panic!("not an Open error: {other:?}"),
    }
}

#[tokio::test]
async fn reopen_after_drop_keeps_everything() {
    for durability in [Durability::Immediate, Durability::Eventual] {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("flow.redb");
        {
            let store = FileStore::open(&path)
                .expect("open")
                .with_durability(durability);
            store.create("r", checkpoint(7, 0)).await.expect("create");
            for seq in 1..=5 {
                store
                    .append("r", vec![entry(seq)], vec![op(seq)])
                    .await
                    .expect("append");
            }
            store
                .checkpoint("r", checkpoint(7, 3), 2)
                .await
                .expect("checkpoint");
            store
                .append("r", vec![entry(6)], Vec::new())
                .await
                .expect("append");
        }
        let store = FileStore::open(&path).expect("reopen");
        let loaded = store.load("r").await.expect("load").expect("kept");
        assert_eq!(loaded.checkpoint, checkpoint(7, 3), "{durability:?}");
        assert_eq!(loaded.entries, (4..=6).map(entry).collect::<Vec<_>>());
        assert_eq!(loaded.head(), 6);
        assert_eq!(
            store.entries("r", 0, 100).await.expect("entries"),
            (2..=6).map(entry).collect::<Vec<_>>(),
            "history from keep_from on"
        );
        for seq in 1..=5 {
            assert_eq!(
                store
                    .outcome("r", "ann", op(seq).op_id)
                    .await
                    .expect("outcome"),
                Some(op(seq).outcome),
            );
        }
        // And it goes on where it stopped.
        store
            .append("r", vec![entry(7)], Vec::new())
            .await
            .expect("append after reopen");
        let refused = store.append("r", vec![entry(7)], Vec::new()).await;
        assert!(
            matches!(refused, Err(StoreError::Conflict { stored_head: 7, .. })),
            "{refused:?}"
        );
    }
}

/// Appends race on one file from many tasks: on different resources all
/// land; on one resource, of the appends that claim the same next seq
/// exactly one wins and the others get `Conflict` (the head is checked
/// inside the write transaction).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_keep_every_log_contiguous() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("flow.redb");
    let store = std::sync::Arc::new(FileStore::open(&path).expect("open"));
    let resources: Vec<String> = (0..8).map(|i| format!("r{i}")).collect();
    for r in &resources {
        store.create(r, checkpoint(1, 0)).await.expect("create");
    }
    let mut tasks = Vec::new();
    for r in resources.clone() {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for seq in 1..=25 {
                store
                    .append(&r, vec![entry(seq)], Vec::new())
                    .await
                    .expect("append");
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    // Four tasks race for each next seq of one resource.
    for seq in 26..=35 {
        let mut racers = Vec::new();
        for _ in 0..4 {
            let store = store.clone();
            racers.push(tokio::spawn(async move {
                store.append("r0", vec![entry(seq)], Vec::new()).await
            }));
        }
        let mut won = 0;
        for racer in racers {
            match racer.await.expect("task") {
                Ok(()) => won += 1,
                Err(StoreError::Conflict { stored_head, .. }) => assert_eq!(stored_head, seq),
                Err(other) => panic!("{other:?}"),
            }
        }
        assert_eq!(won, 1, "seq {seq}");
    }
    drop(store);
    let store = FileStore::open(&path).expect("reopen");
    for r in &resources {
        let head = if r == "r0" { 35 } else { 25 };
        let loaded = store.load(r).await.expect("load").expect("kept");
        assert_eq!(
            loaded.entries,
            (1..=head).map(entry).collect::<Vec<_>>(),
            "{r}"
        );
    }
}

#[tokio::test]
async fn a_thousand_entry_log_reopens_to_the_same_head() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("flow.redb");
    {
        let store = FileStore::open(&path).expect("open");
        store.create("r", checkpoint(3, 0)).await.expect("create");
        for batch in 0..100 {
            let entries = (1..=10).map(|i| entry(batch * 10 + i)).collect();
            store
                .append("r", entries, Vec::new())
                .await
                .expect("append");
        }
    }
    let bytes = std::fs::metadata(&path).expect("file").len();
    println!("1000 entries of ~100 bytes: {bytes} bytes on disk");
    let store = FileStore::open(&path).expect("reopen");
    let loaded = store.load("r").await.expect("load").expect("kept");
    assert_eq!((loaded.checkpoint.epoch, loaded.head()), (3, 1000));
    assert_eq!(loaded.entries, (1..=1000).map(entry).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_second_open_of_an_open_file_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("flow.redb");
    let first = FileStore::open(&path).expect("open");
    first.create("r", checkpoint(1, 0)).await.expect("create");
    let text = open_refusal(&path);
    assert!(text.contains("locked"), "{text}");
    // The first is unharmed, and once it is closed the file opens again.
    first
        .append("r", vec![entry(1)], Vec::new())
        .await
        .expect("append");
    drop(first);
    let again = FileStore::open(&path).expect("open after the first closed");
    assert_eq!(
        again.load("r").await.expect("load").expect("kept").head(),
        1
    );
}

#[test]
fn a_garbage_file_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, garbage) in [
        ("short.redb", b"not a database".to_vec()),
        (
            "long.redb",
            (0..64 * 1024).map(|i| (i * 7 % 251) as u8).collect(),
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &garbage).expect("write");
        let text = open_refusal(&path);
        assert!(text.contains("not a redb database"), "{text}");
        assert_eq!(
            std::fs::read(&path).expect("read"),
            garbage,
            "nothing truncated or rewritten"
        );
    }
}

#[test]
fn another_format_version_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("flow.redb");
    drop(FileStore::open(&path).expect("create"));
    {
        // What a later ui-flow with another table layout would leave.
        let db = redb::Database::open(&path).expect("redb open");
        let txn = db.begin_write().expect("txn");
        {
            let mut meta = txn
                .open_table(redb::TableDefinition::<&str, u64>::new("ui_flow_meta"))
                .expect("meta");
            meta.insert("format", FORMAT_VERSION + 1).expect("insert");
        }
        txn.commit().expect("commit");
    }
    let text = open_refusal(&path);
    assert!(
        text.contains(&format!("format {}", FORMAT_VERSION + 1)),
        "{text}"
    );
    // Refusing wrote nothing: the version is still the other one.
    let db = redb::Database::open(&path).expect("redb open");
    let txn = db.begin_read().expect("txn");
    let meta = txn
        .open_table(redb::TableDefinition::<&str, u64>::new("ui_flow_meta"))
        .expect("meta");
    let version = meta.get("format").expect("get").map(|v| v.value());
    assert_eq!(version, Some(FORMAT_VERSION + 1));
}

#[test]
fn another_applications_database_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("theirs.redb");
    {
        let db = redb::Database::create(&path).expect("redb create");
        let txn = db.begin_write().expect("txn");
        {
            let mut table = txn
                .open_table(redb::TableDefinition::<u64, u64>::new("accounts"))
                .expect("table");
            table.insert(1, 2).expect("insert");
        }
        txn.commit().expect("commit");
    }
    let text = open_refusal(&path);
    assert!(text.contains("another application"), "{text}");
}

#[test]
fn a_missing_directory_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("no-such-dir").join("flow.redb");
    let text = open_refusal(&path);
    assert!(text.contains("directory does not exist"), "{text}");
    assert!(
        !path.parent().expect("parent").exists(),
        "no directory was made"
    );
}

/// Kills a writer with SIGKILL in the middle of its appends, ten times on
/// one file: every time the file reopens, keeps every append the writer
/// reported (each returned, so was fsynced), and holds intact entries with
/// no gap up to its head.
#[test]
fn kill_mid_append_keeps_a_prefix() {
    kill_rounds(Durability::Immediate);
}

/// The same with `Durability::Eventual`: the file still reopens to an
/// intact prefix, which lacks at most the 63 appends since the last durable
/// one.
#[test]
fn kill_mid_eventual_append_keeps_a_prefix() {
    kill_rounds(Durability::Eventual);
}

fn kill_rounds(durability: Durability) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("flow.redb");
    let exe = std::env::current_exe().expect("test binary");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let may_lose = match durability {
        Durability::Immediate => 0,
        _ => 63,
    };
    let mut head = 0;
    for round in 0..10u64 {
        let target = head + 20 + round * 9;
        let mut child = Command::new(&exe)
            .args([
                "append_until_killed",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .env(CHILD_EVENTUAL_ENV, if may_lose > 0 { "1" } else { "0" })
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the writer");
        // Kept open until the kill: a closed pipe would end the writer
        // between appends instead.
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut reported = 0;
        for line in lines.by_ref() {
            let line = line.expect("read");
            if let Some(n) = line.strip_prefix("appended ") {
                reported = n.parse().expect("a seq");
                if reported >= target {
                    break;
                }
            }
        }
        assert!(
            reported >= target,
            "round {round}: the writer stopped at {reported}"
        );
        child.kill().expect("kill -9");
        child.wait().expect("reap");
        drop(lines);

        head = runtime.block_on(async {
            let store = FileStore::open(&path).expect("the file reopens after kill -9");
            let loaded = store.load("r").await.expect("load").expect("kept");
            let head = loaded.head();
            assert!(
                head + may_lose >= reported,
                "round {round}: head {head}, reported {reported}, {durability:?}"
            );
            assert_eq!(
                loaded.checkpoint.state,
                checkpoint(1, loaded.checkpoint.seq).state
            );
            let all = store.entries("r", 0, usize::MAX).await.expect("entries");
            assert_eq!(
                all,
                (1..=head).map(entry).collect::<Vec<_>>(),
                "round {round}"
            );
            // (With Eventual, a round may end with nothing durable yet.)
            for seq in [1, head].into_iter().filter(|_| head > 0) {
                assert_eq!(
                    store
                        .outcome("r", "ann", op(seq).op_id)
                        .await
                        .expect("outcome"),
                    Some(op(seq).outcome),
                    "round {round}: op of seq {seq}"
                );
            }
            println!("{durability:?} round {round}: reported {reported}, reopened at {head}");
            head
        });
    }
}

/// The writer half of `kill_rounds`: appends one entry
/// with one op record at a time to the file named by `CHILD_ENV` and prints
/// each seq after its append returned, until killed. Saves a checkpoint
/// every 25 entries, so kills also land in checkpoints.
#[tokio::test]
#[ignore = "run by the kill_mid_* tests as a child process"]
async fn append_until_killed() {
    use std::io::Write;

    let path = std::env::var(CHILD_ENV).expect("run by kill_rounds");
    let durability = match std::env::var(CHILD_EVENTUAL_ENV).as_deref() {
        Ok("1") => Durability::Eventual,
        _ => Durability::Immediate,
    };
    let store = FileStore::open(&path)
        .expect("open")
        .with_durability(durability);
    let mut head = match store.load("r").await.expect("load") {
        Some(loaded) => loaded.head(),
        None => {
            store.create("r", checkpoint(1, 0)).await.expect("create");
            0
        }
    };
    loop {
        head += 1;
        store
            .append("r", vec![entry(head)], vec![op(head)])
            .await
            .expect("append");
        let mut out = std::io::stdout();
        writeln!(out, "appended {head}").expect("stdout");
        out.flush().expect("stdout");
        if head % 25 == 0 {
            store
                .checkpoint("r", checkpoint(1, head), 1)
                .await
                .expect("checkpoint");
        }
    }
}

/// A server on 127.0.0.1:0 keeping its logs in the file at `path`.
async fn serve_file(path: &Path) -> (FlowServer<Counter>, std::net::SocketAddr) {
    let store = FileStore::open(path).expect("open");
    let server =
        FlowServer::with_store(Counter, UnverifiedUserToken, ServerConfig::default(), store);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = server.router();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (server, addr)
}

async fn act(client: &mut Client, op_id: OpId, amount: i64) {
    client
        .send(&ClientMessage::Action {
            op_id,
            action: CounterAction::Add { amount },
        })
        .await;
    let done = tokio::time::timeout(
        STUCK,
        client.recv_until(|m| matches!(m, Msg::ActionOk { op_id: o, .. } if *o == op_id)),
    )
    .await;
    assert!(done.is_ok(), "no ActionOk for {op_id}");
}

/// A server restarted on the file its predecessor left (a copy taken after
/// the last `ActionOk`, which is what a crash at that moment leaves on
/// disk): the resource keeps its epoch and seq line, a client resumes with
/// `Deltas`, and a retried action is answered without running again.
#[tokio::test]
async fn a_restarted_server_continues_the_log_from_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (first_path, second_path) = (dir.path().join("a.redb"), dir.path().join("b.redb"));
    let (first, addr) = serve_file(&first_path).await;
    let (mut alice, joined) = Client::join(addr, "room", "alice").await;
    let (x, y) = (OpId::from_u128(10), OpId::from_u128(11));
    act(&mut alice, x, 5).await;
    act(&mut alice, y, 2).await;
    assert_eq!(
        first.session("room").position().await.expect("log"),
        (joined.epoch, 2)
    );
    std::fs::copy(&first_path, &second_path).expect("copy");

    let (second, addr) = serve_file(&second_path).await;
    let resume = format!(
        "{}&last_seq=1&epoch={}",
        url(addr, "room", "alice"),
        joined.epoch
    );
    let mut again = Client::connect_url(&resume).await;
    let resumed = again.read_join().await;
    match &resumed.sync {
        Msg::Deltas {
            deltas, seq, epoch, ..
        } => {
            assert_eq!((*seq, *epoch, deltas.len()), (2, Some(joined.epoch), 1));
            assert_eq!(deltas[0]["add"].as_i64(), Some(2));
        }
        other => panic!("expected Deltas after the restart, got {other:?}"),
    }
    // The retry of x is answered from the file, not run again.
    act(&mut again, x, 5).await;
    let session = second.session("room");
    assert_eq!(session.position().await.expect("log"), (joined.epoch, 2));
    assert_eq!(
        session.read(|state, _| state.value).await.expect("state"),
        7
    );
    // A new action continues the seq line.
    act(&mut again, OpId::from_u128(12), 1).await;
    assert_eq!(session.position().await.expect("log"), (joined.epoch, 3));
}
