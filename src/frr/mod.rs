//! Everything that speaks FRR: rendering the configuration (pure), comparing configurations
//! (pure), parsing FRR's session state (pure), and the driver that applies the difference over
//! FRR's vty sockets (I/O).
pub mod config;
pub mod diff;
pub mod driver;
pub mod render;
pub mod status;
pub mod vty;
