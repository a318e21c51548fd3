//! What durability costs: appends per second to one resource's log, one
//! ~100-byte entry and one op record per append (what one action's commit
//! writes), for `MemoryStore` and `FileStore` with each `Durability`, one
//! after the other in one run, and the file's size afterwards; then the same
//! spread over 8 resources appended to at once.
//!
//! ```text
//! cargo run --release -p ui-flow-server --example store_appends -- [APPENDS] [DIR]
//! ```
//!
//! APPENDS defaults to 2000 (per store); DIR (default: a fresh temporary
//! folder, removed afterwards) is where the database files go: pass a
//! folder on the disk you mean to measure. Figures go in BENCHMARKS.md with
//! this command; nothing here is a pass/fail threshold.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use ui_flow::OpId;
use ui_flow_server::store::{
    Checkpoint, Durability, Entry, FileStore, MemoryStore, OpRecord, Outcome, Store, StoreError,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let appends: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(2000);
    let temp = tempfile::tempdir()?;
    let dir = args
        .next()
        .map_or_else(|| temp.path().to_path_buf(), PathBuf::from);

    println!("{appends} appends of one ~100-byte entry + one op record, one resource");
    let rate = run(&MemoryStore::new(), appends).await?;
    println!("memory               {rate:>9.0} appends/s");
    for (name, durability) in [
        ("file, Immediate", Durability::Immediate),
        ("file, Eventual", Durability::Eventual),
    ] {
        let path = dir.join(format!("{}.redb", name.replace([',', ' '], "")));
        let store = FileStore::open(&path)?.with_durability(durability);
        let rate = run(&store, appends).await?;
        drop(store);
        let size = std::fs::metadata(&path)?.len();
        println!(
            "{name:<20} {rate:>9.0} appends/s, file {} KiB after {appends} entries",
            size / 1024
        );
    }
    println!("the same, {WRITERS} resources appended to at once (one task each)");
    let rate = run_parallel(Arc::new(MemoryStore::new()), appends).await?;
    println!("memory               {rate:>9.0} appends/s");
    for (name, durability) in [
        ("file, Immediate", Durability::Immediate),
        ("file, Eventual", Durability::Eventual),
    ] {
        let path = dir.join(format!("{}-parallel.redb", name.replace([',', ' '], "")));
        let store = FileStore::open(&path)?.with_durability(durability);
        let rate = run_parallel(Arc::new(store), appends).await?;
        println!("{name:<20} {rate:>9.0} appends/s");
    }
    Ok(())
}

/// Resources written at once by `run_parallel`.
const WRITERS: usize = 8;

/// `appends` appends in all, spread over [`WRITERS`] resources, each
/// resource's appended by its own task; returns appends per second.
async fn run_parallel(
    store: Arc<dyn Store>,
    appends: u64,
) -> Result<f64, Box<dyn std::error::Error>> {
    let each = appends / WRITERS as u64;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            run_on(&*store, &format!("r{writer}"), each)
                .await
                .map_err(|e| e.to_string())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok((each * WRITERS as u64) as f64 / started.elapsed().as_secs_f64())
}

/// Appends `appends` entries one at a time; returns appends per second.
async fn run(store: &dyn Store, appends: u64) -> Result<f64, Box<dyn std::error::Error>> {
    let started = Instant::now();
    run_on(store, "r", appends).await?;
    Ok(appends as f64 / started.elapsed().as_secs_f64())
}

/// Creates `resource` and appends `appends` entries to it one at a time.
async fn run_on(store: &dyn Store, resource: &str, appends: u64) -> Result<(), StoreError> {
    store
        .create(
            resource,
            Checkpoint {
                epoch: 1,
                seq: 0,
                state: Bytes::from_static(b"state"),
            },
        )
        .await?;
    for seq in 1..=appends {
        let entry = Entry {
            seq,
            delta: Bytes::from(format!("delta {seq}: ").repeat(8)),
        };
        let op = OpRecord {
            user: "ann".into(),
            op_id: OpId::from_u128(u128::from(seq)),
            at_unix_ms: seq,
            outcome: Outcome::Committed,
        };
        store.append(resource, vec![entry], vec![op]).await?;
    }
    Ok(())
}
