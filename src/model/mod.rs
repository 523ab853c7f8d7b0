//! Kubernetes types: the metallb.io and frrk8s.metallb.io CRDs and the facade over core objects.
pub mod core;
pub mod crds;
pub mod frrk8s;
