//! Everything that speaks FRR: rendering the configuration (pure), comparing configurations
//! (pure), and the driver that applies the difference over FRR's vty sockets (I/O).
pub mod config;
pub mod diff;
pub mod driver;
pub mod render;
pub mod vty;
