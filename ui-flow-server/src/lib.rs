//! The server half of ui-flow (work in progress: see issue 3).
