/work/main/target-old/wasm32-wasip1/wasm-release/deps/equivalent-40935de0669b65b5.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/equivalent-1.0.3/src/lib.rs

/work/main/target-old/wasm32-wasip1/wasm-release/deps/libequivalent-40935de0669b65b5.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/equivalent-1.0.3/src/lib.rs

/work/main/target-old/wasm32-wasip1/wasm-release/deps/libequivalent-40935de0669b65b5.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/equivalent-1.0.3/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/equivalent-1.0.3/src/lib.rs:
