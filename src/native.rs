//! Native adapter: model discovery and file loading (not compiled for wasm).
