# frr-speaker: the two commands a newcomer runs are `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
# Go builds the test control plane (kube-apiserver + etcd) from their published modules.
export PATH := $(PATH):/usr/local/go/bin:$(HOME)/go/bin
# Debian packages the tests and the demo need. FRR comes from Debian (8.4 on bookworm).
APT_PACKAGES := frr frr-pythontools iproute2 procps openssl curl faketime jq mmdebstrap \
	buildah containerd runc containernetworking-plugins busybox-static

.PHONY: all build test deps lint crds golden bench soak fuzz controlplane frr10 demo demo-down clean images \
	cluster-test cluster-up cluster-down

all: build

## deps: install the system packages (FRR, iproute2) if any is missing. Needs root.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@command -v vtysh >/dev/null || { echo "vtysh still missing after installing FRR" >&2; exit 1; }

build:
	$(CARGO) build --release --locked

## lint: formatting and clippy, warnings are errors.
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

## test: everything. The fast tier (`cargo test`, no root, FRR or Go: unit, golden, properties,
## CLI, CRD compatibility, code shape), then the system tests (tests/system, `cargo test --test
## system`): FRR's own parser on the golden configs, the driver against a real FRR, the
## namespace lab (root), the CRDs against a real kube-apiserver (built once and cached: 10-25
## minutes the first time), and the speaker pod run by real kubelets (cluster-test).
## Then the FRR version matrix: every system test that runs FRR again with the nodes' FRR 10 from
## a Debian trixie root (built once with mmdebstrap and cached), the pods with the trixie FRR image.
## One test at a time: the lab tests measure BFD timing. FRR_VERSIONS="8" or "10" runs one only.
FRR_VERSIONS ?= 8 10
# The system tests that run FRR (the second half of the matrix runs these only): module filters.
FRR_TESTS := golden_frr:: frr_apply:: frrk8s:: lab:: faults:: images:: kube_mode:: metallb_client:: migration:: cluster::
test: deps lint
	@echo "== control plane, node binaries, MetalLB's binaries and images (cached after the first build)"
	@e2e/controlplane/build.sh node >/dev/null && e2e/images/build.sh
	@dir=$$(e2e/controlplane/build.sh | tail -n 1) && ml=$$(e2e/peers/build.sh metallb | tail -n 1) && \
	for v in $(FRR_VERSIONS); do \
		case $$v in \
		8) echo "== every test, nodes on the host's FRR ($$(/usr/lib/frr/bgpd -v | head -n 1))"; \
		   $(CARGO) test --locked || exit 1; \
		   FRR_SPEAKER_CONTROLPLANE=$$dir FRR_SPEAKER_METALLB=$$ml $(CARGO) test --locked --test system \
			-- --test-threads=1 || exit 1 ;; \
		10) root=$$(e2e/frr10/root.sh | tail -n 1) || exit 1; \
		   echo "== the FRR tests again, nodes on FRR 10 from $$root"; \
		   FRR_SPEAKER_CONTROLPLANE=$$dir FRR_SPEAKER_METALLB=$$ml FRR_SPEAKER_FRR_ROOT=$$root \
			$(CARGO) test --locked --test system -- --test-threads=1 $(FRR_TESTS) \
			|| exit 1 ;; \
		*) echo "FRR_VERSIONS: unknown version $$v (8 or 10)" >&2; exit 2 ;; \
		esac; \
	done

## images: the speaker's two images from docker/*.Dockerfile with buildah (Debian's package) on local
## Debian base images (mmdebstrap; nothing is pulled), saved as OCI archives; prints their sizes.
images: deps
	e2e/images/build.sh

## cluster-test: a two-node cluster of real parts in the namespace lab (etcd, kube-apiserver,
## kube-controller-manager, kube-scheduler; per node containerd, kubelet, kube-proxy) runs deploy/
## with the images: tests/system/cluster.rs, with the FRR 8.4 image then the FRR 10 one.
cluster-test: deps lint frr10
	@e2e/controlplane/build.sh node >/dev/null && e2e/images/build.sh
	$(CARGO) test --locked --test system -- --nocapture cluster::
	FRR_SPEAKER_FRR_ROOT=$$(e2e/frr10/root.sh | tail -n 1) \
		$(CARGO) test --locked --test system -- --nocapture cluster::

## cluster-up: the same cluster to try by hand (FRR_IMAGE=trixie or bookworm), then
## `kubectl apply -k e2e/cluster/frr10` through `e2e/cluster/cluster.sh kubectl lab -- ...`.
FRR_IMAGE ?= trixie
cluster-up: deps
	e2e/cluster/cluster.sh up lab $(FRR_IMAGE)

## cluster-down: stop it and remove everything it started.
cluster-down:
	e2e/cluster/cluster.sh down lab

## frr10: build (once, cached in ~/.cache/frr-speaker-testbin) the Debian trixie root with FRR 10.
frr10: deps
	e2e/frr10/root.sh

## crds: regenerate deploy/crds.yaml and deploy/frrk8s/crds.yaml from the Rust types.
crds:
	$(CARGO) run --quiet --locked -- crds > deploy/crds.yaml
	$(CARGO) run --quiet --locked -- crds --api frrk8s > deploy/frrk8s/crds.yaml

## golden: accept the current output as the expected output of every golden case (review the diff!).
golden:
	UPDATE_GOLDEN=1 $(CARGO) test --locked --test golden

## soak: SOAK_CHANGES (10,000) random changes against one agent + FRR; RSS, fds, zombies, convergence.
soak: deps
	$(CARGO) bench --locked --bench soak

## fuzz: cargo fuzz (nightly) on manifests, desired state + rendering, FRRConfigurations (conversion,
## merge, rendering), FRR's JSON and config text;
## each target runs FUZZ_SECONDS (default 600), two at a time.
fuzz:
	cargo install --locked cargo-fuzz --version 0.13.2 >/dev/null 2>&1 || true
	fuzz/run.sh

## bench: the agent's own work per change at 10,000 and 100,000 Services (pipeline), render/load 10,000
## prefixes, then the agent in the namespace lab (root; several minutes);
## lab_apply measures the node on FRR 8.4 and on FRR 10 side by side; kube_scale: Kubernetes mode with
## 10,000 Services in the test apiserver (controlplane); frrk8s_side_by_side: frr-k8s v0.0.25's own
## daemon and reloader (built from its Go module, e2e/peers/build.sh frrk8s) against frr-speaker.
bench: deps frr10 controlplane
	$(CARGO) bench --locked --bench pipeline
	$(CARGO) bench --locked --bench render_load
	$(CARGO) bench --locked --bench alloc
	$(CARGO) bench --locked --bench lab_apply
	$(CARGO) bench --locked --bench kube_scale
	$(CARGO) bench --locked --bench flows
	$(CARGO) bench --locked --bench frrk8s_side_by_side

## controlplane: build (once, cached in ~/.cache/frr-speaker-testbin) a real kube-apiserver and etcd
## from their Go modules, for the Kubernetes-mode tests. 10-25 minutes the first time.
controlplane:
	e2e/controlplane/build.sh

## demo: router + 2 nodes in network namespaces with FRR, an agent per node on e2e/examples/two-nodes.
demo: deps build
	e2e/demo/demo.sh

## demo-down: remove everything the demo started.
demo-down:
	e2e/demo/down.sh

clean:
	$(CARGO) clean
