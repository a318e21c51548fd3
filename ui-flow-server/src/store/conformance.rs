//! What every [`Store`] must do, run against each implementation.

use bytes::Bytes;
use ui_flow::OpId;

use super::{Checkpoint, Entry, OpRecord, Outcome, Store, StoreError};

fn entry(seq: u64) -> Entry {
    Entry {
        seq,
        delta: Bytes::from(format!("delta {seq}")),
    }
}

fn checkpoint(epoch: u32, seq: u64) -> Checkpoint {
    Checkpoint {
        epoch,
        seq,
        state: Bytes::from(format!("state at {seq}")),
    }
}

/// Runs every check on an empty store.
pub(crate) async fn run(store: &dyn Store) {
    assert_eq!(store.load("r").await.expect("load"), None, "empty at first");

    store.create("r", checkpoint(7, 0)).await.expect("create");
    let loaded = store.load("r").await.expect("load").expect("created");
    assert_eq!(loaded.checkpoint, checkpoint(7, 0));
    assert!(loaded.entries.is_empty());

    // Appends continue the seq line, all or nothing.
    store
        .append("r", (1..=3).map(entry).collect(), Vec::new())
        .await
        .expect("append 1..=3");
    let refused = store.append("r", vec![entry(5)], Vec::new()).await;
    assert!(
        matches!(refused, Err(StoreError::Conflict { stored_head: 3, first: 5, .. })),
        "a gap is refused: {refused:?}"
    );
    let refused = store.append("r", vec![entry(3)], Vec::new()).await;
    assert!(matches!(refused, Err(StoreError::Conflict { .. })), "a repeat is refused");
    let refused = store
        .append("r", vec![entry(4), entry(6)], Vec::new())
        .await;
    assert!(matches!(refused, Err(StoreError::Conflict { .. })));
    assert_eq!(store.load("r").await.expect("load").expect("some").head(), 3, "nothing of a refused append is kept");

    // Op records arrive with entries or alone.
    let op = OpRecord {
        user: "ann".into(),
        op_id: OpId::from_u128(1),
        at_unix_ms: 1_000,
        outcome: Outcome::Committed,
    };
    store
        .append("r", vec![entry(4)], vec![op.clone()])
        .await
        .expect("append with an op");
    assert_eq!(
        store.outcome("r", "ann", OpId::from_u128(1)).await.expect("outcome"),
        Some(Outcome::Committed)
    );
    assert_eq!(store.outcome("r", "bob", OpId::from_u128(1)).await.expect("outcome"), None, "ops are per user");
    assert_eq!(store.outcome("other", "ann", OpId::from_u128(1)).await.expect("outcome"), None, "and per resource");
    let answered = OpRecord {
        outcome: Outcome::Answered(Bytes::from_static(b"ok frame")),
        at_unix_ms: 2_000,
        ..op.clone()
    };
    store.append("r", Vec::new(), vec![answered]).await.expect("record");
    assert_eq!(
        store.outcome("r", "ann", OpId::from_u128(1)).await.expect("outcome"),
        Some(Outcome::Answered(Bytes::from_static(b"ok frame")))
    );
    let old = OpRecord {
        op_id: OpId::from_u128(2),
        at_unix_ms: 500,
        ..op.clone()
    };
    store.append("r", Vec::new(), vec![old]).await.expect("record");
    store.forget_ops("r", 1_000).await.expect("forget");
    assert_eq!(store.outcome("r", "ann", OpId::from_u128(2)).await.expect("outcome"), None, "old records go");
    assert!(store.outcome("r", "ann", OpId::from_u128(1)).await.expect("outcome").is_some(), "newer ones stay");

    // Reads from any point; fewer when the store no longer has them.
    store
        .append("r", (5..=10).map(entry).collect(), Vec::new())
        .await
        .expect("append 5..=10");
    let read = store.entries("r", 2, 100).await.expect("entries");
    assert_eq!(read, (3..=10).map(entry).collect::<Vec<_>>());
    assert_eq!(store.entries("r", 2, 2).await.expect("entries"), vec![entry(3), entry(4)]);
    assert!(store.entries("r", 10, 5).await.expect("entries").is_empty());
    assert!(store.entries("missing", 0, 5).await.expect("entries").is_empty());

    // A checkpoint replaces the replay start and drops entries below keep_from.
    store
        .checkpoint("r", checkpoint(7, 8), 6)
        .await
        .expect("checkpoint");
    let loaded = store.load("r").await.expect("load").expect("some");
    assert_eq!(loaded.checkpoint, checkpoint(7, 8));
    assert_eq!(loaded.entries, vec![entry(9), entry(10)], "load replays from the checkpoint");
    assert_eq!(loaded.head(), 10);
    let read = store.entries("r", 0, 100).await.expect("entries");
    assert_eq!(read.first().map(|e| e.seq), Some(6), "history below keep_from is gone");
    store.append("r", vec![entry(11)], Vec::new()).await.expect("appends go on");

    // keep_from never drops entries above the checkpoint.
    store
        .checkpoint("r", checkpoint(7, 9), 100)
        .await
        .expect("checkpoint");
    let loaded = store.load("r").await.expect("load").expect("some");
    assert_eq!(loaded.entries, vec![entry(10), entry(11)]);

    // Creating again starts over.
    store.create("r", checkpoint(8, 0)).await.expect("create again");
    let loaded = store.load("r").await.expect("load").expect("some");
    assert_eq!((loaded.checkpoint.epoch, loaded.head()), (8, 0));
    store.append("r", vec![entry(1)], Vec::new()).await.expect("append after restart");

    // Resources are independent.
    store.create("s", checkpoint(1, 41)).await.expect("create s");
    store.append("s", vec![entry(42)], Vec::new()).await.expect("append s");
    assert_eq!(store.load("s").await.expect("load").expect("some").head(), 42);
    assert_eq!(store.load("r").await.expect("load").expect("some").head(), 1);
}
