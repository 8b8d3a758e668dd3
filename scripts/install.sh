#!/usr/bin/env bash
# Installs everything Berth and its tests need on Debian 12, then builds TypeScript and native/.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential   # the C helpers (static, libc only)
  busybox-static    # test images and bundles
  runc              # the peer runtime, for comparisons and the conformance run
  crun              # the other peer runtime, for the runtime benchmarks
  podman            # berth-runtime under conmon (podman --runtime), and the pull benchmark's peer
  tini              # a reaping init for the test suite (this sandbox's PID 1 does not reap)
  iproute2 nftables
  python3           # a test receives a pty over a unix socket (SCM_RIGHTS), which Node cannot
  hyperfine iperf3  # benchmarks
  docker-registry   # a real registry (distribution v2) for the image tests
  apache2-utils     # htpasswd, for the registry's basic auth
  openssl           # the registry tests' token server; tests check the cluster CA's certificates with it
  etcd-server       # swarm mode's store: the embedded member a manager runs (util-linux's setpriv ties it to the daemon)
  skopeo umoci      # OCI layout interoperability tests and the pull benchmark
  zstd              # zstd-compressed layers (Node.js has no zstd)
  debootstrap       # the pull benchmark's Debian image (built once into /var/cache/berth-bench)
  docker.io         # dockerd, the peer for save/load interop tests and the benchmarks
  docker-compose    # the docker-compose 1.29 compatibility test
  buildah           # the build benchmark's third peer (buildah bud)
  chromium          # the web console's browser tests (driven by playwright-core, no browser download)
)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi
npm ci --no-audit --no-fund
npm link --no-audit --no-fund >/dev/null
