//! Everything that speaks FRR: rendering the configuration (pure).
pub mod render;
