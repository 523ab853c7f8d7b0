//! Where objects come from: manifest files (file mode, `render`, `check`).
pub mod files;
pub mod manifest;
