//! Kubernetes types: the metallb.io CRDs and the facade over core objects.
pub mod core;
pub mod crds;
