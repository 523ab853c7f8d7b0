//! The grammar of the metallb.io objects, shared by the speaker's validation (`desired`) and the
//! allocator (`alloc`), so that both read an object the same way. Pure.
//!
//! - `values`: every user value that can reach frr.conf (names, passwords, communities, timers);
//! - `selector`: Kubernetes label selectors as MetalLB matches them;
//! - `range`: address ranges (CIDR or a-b);
//! - `pool`: the one validation of an IPAddressPool.
pub mod pool;
pub mod range;
pub mod selector;
pub mod values;
