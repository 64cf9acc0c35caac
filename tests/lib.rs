//! End-to-end tests live in `e2e/`; they run the real `rapport` binary (build it first: `cargo build -p rapport-cli`, which `cargo nextest run --workspace` does).
