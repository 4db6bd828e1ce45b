#!/usr/bin/env bash
# Offline-capable lab bootstrap for edgerelay.proxy.
#
# Idempotent: every step checks first and only acts when something is missing,
# so a second run takes seconds. Each step prints what it did and how long it took.
#
# Steps:
#   packages     apt packages the toolchain needs (python3-venv, debootstrap, make, ...)
#   docker       a Docker engine that answers (distribution docker.io + dockerd if none)
#   venv         project-local Python toolchain from requirements.txt
#   collections  community.docker + ansible.posix extracted from the `ansible` wheel (no Galaxy)
#   base-image   edgerelay/debian12-systemd (Dockerfile if a registry answers, else debootstrap)
#   lab-images   edgerelay/mtprotoproxy (the mtproxy role's image recipe), edgerelay/mtproxy-lab
#                (built on it) and edgerelay/peer-echo, built locally from the base image
#   xray         a real Xray binary for the tests (go install of the pinned version, cached)
#   promtools    promtool and amtool from Debian's prometheus packages (the versions the
#                monitoring role installs), unpacked into .cache/bin: no daemon on this machine
#   vagrant      (only when asked: make vagrant-test) Vagrant and the docker provider's image
#
# Usage: scripts/bootstrap.sh [step ...]      (no argument: all steps)
set -euo pipefail
shopt -s inherit_errexit

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="${VENV:-$ROOT/.venv}"
CACHE="${EDGERELAY_CACHE:-$ROOT/.cache}"
COLLECTIONS_DIR="$ROOT/.collections"
# The ansible wheel that bundles community.docker and ansible.posix (matches ansible-core 2.19).
ANSIBLE_BUNDLE_VERSION="${ANSIBLE_BUNDLE_VERSION:-12.3.0}"
# community.docker needs community.library_inventory_filtering_v1 for its inventory plugins.
BUNDLED_COLLECTIONS="community/docker community/library_inventory_filtering_v1 ansible/posix"
BASE_IMAGE="${BASE_IMAGE:-edgerelay/debian12-systemd:latest}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
export DEBIAN_FRONTEND=noninteractive

mkdir -p "$CACHE"

log() { printf '[bootstrap] %s\n' "$*"; }

# run_step NAME FUNCTION: runs FUNCTION, prints its outcome and duration.
now_ms() { echo $(($(date +%s%N) / 1000000)); }
fmt_secs() { printf '%d.%ds' $(($1 / 1000)) $((($1 % 1000) / 100)); }
TOTAL_START=$(now_ms)
run_step() {
  local name="$1" fn="$2" start outcome
  start=$(now_ms)
  outcome=$("$fn")
  printf '[bootstrap] %-12s %-66s %8s\n' "$name" "$outcome" "$(fmt_secs $(($(now_ms) - start)))"
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    apt-get update -qq >&2
    apt_updated=1
  fi
  apt-get install -y -qq --no-install-recommends "$@" >&2
}

step_packages() {
  local missing=() pkg
  # haproxy: the integration tests check the rendered haproxy.cfg with Debian's HAProxy 2.6.
  # zbar-tools: zbarimg, the QR decoder the tests read the users' QR codes back with (a
  # decoder independent of segno, which writes them).
  for pkg in python3 python3-venv python3-pip debootstrap make git iproute2 procps socat curl ca-certificates haproxy zbar-tools; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    echo "present, skipped"
  else
    apt_install "${missing[@]}"
    echo "installed: ${missing[*]}"
  fi
}

docker_answers() { docker info >/dev/null 2>&1; }

step_docker() {
  if docker_answers; then
    echo "engine answers ($(docker version -f '{{.Server.Version}}' 2>/dev/null)), skipped"
    return
  fi
  local did=""
  if ! command -v dockerd >/dev/null 2>&1; then
    apt_install docker.io
    did="installed docker.io; "
  fi
  if ! command -v docker >/dev/null 2>&1; then
    apt_install docker-cli 2>/dev/null || apt_install docker.io
  fi
  if [ "$(ps -p 1 -o comm= 2>/dev/null)" = "systemd" ]; then
    systemctl enable --now docker.service >&2
    did="${did}started docker.service"
  else
    # No systemd as PID 1 (containers, sandboxes): run dockerd directly. It outlives this
    # script, so it gets none of the caller's other descriptors (a lock held by a flock
    # around make, a pipe a runner waits on).
    (
      for fd in $(ls /proc/$BASHPID/fd); do
        if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi
      done
      exec nohup dockerd >/var/log/edgerelay-dockerd.log 2>&1 </dev/null
    ) &
    did="${did}started dockerd (pid $!)"
  fi
  local i
  for i in $(seq 1 60); do
    docker_answers && break
    sleep 1
  done
  docker_answers || { echo "dockerd did not answer; see /var/log/edgerelay-dockerd.log" >&2; exit 1; }
  echo "$did"
}

step_venv() {
  local stamp="$VENV/.requirements.sha256" want
  want=$(sha256sum requirements.txt | cut -d' ' -f1)
  if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "requirements unchanged, skipped"
    return
  fi
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q --upgrade pip >&2
  "$VENV/bin/pip" install -q -r requirements.txt >&2
  echo "$want" >"$stamp"
  echo "installed requirements.txt into ${VENV#"$ROOT"/}"
}

# This checkout is itself the collection edgerelay.proxy: expose it on the collections path.
link_collection() {
  mkdir -p "$COLLECTIONS_DIR/ansible_collections/edgerelay"
  ln -sfn ../../.. "$COLLECTIONS_DIR/ansible_collections/edgerelay/proxy"
}

step_collections() {
  local stamp
  stamp="$COLLECTIONS_DIR/.bundle-$ANSIBLE_BUNDLE_VERSION-$(echo "$BUNDLED_COLLECTIONS" | sha256sum | cut -c1-12)"
  if [ -f "$stamp" ]; then
    link_collection
    echo "ansible $ANSIBLE_BUNDLE_VERSION bundle already extracted, skipped"
    return
  fi
  local wheel_dir="$CACHE/wheels"
  mkdir -p "$wheel_dir"
  local wheel
  wheel=$(ls "$wheel_dir"/ansible-"$ANSIBLE_BUNDLE_VERSION"-*.whl 2>/dev/null | head -1 || true)
  if [ -z "$wheel" ]; then
    "$VENV/bin/pip" download -q --no-deps "ansible==$ANSIBLE_BUNDLE_VERSION" -d "$wheel_dir" >&2
    wheel=$(ls "$wheel_dir"/ansible-"$ANSIBLE_BUNDLE_VERSION"-*.whl | head -1)
  fi
  rm -rf "$COLLECTIONS_DIR"
  mkdir -p "$COLLECTIONS_DIR/ansible_collections"
  "$VENV/bin/python" "$ROOT/scripts/extract_collections.py" "$wheel" \
    "$COLLECTIONS_DIR/ansible_collections" $BUNDLED_COLLECTIONS >&2
  touch "$stamp"
  link_collection
  echo "extracted $BUNDLED_COLLECTIONS from $(basename "$wheel")"
}

# recipe_hash DIR [FILE ...]: hash of an image recipe (its build context). Images carry it as
# the label edgerelay.recipe, so a cached image is reused until its recipe changes.
recipe_hash() {
  local dir="$1"
  shift
  (cd "$dir" && find . -type f -print0 | sort -z | xargs -0 sha256sum; [ "$#" -eq 0 ] || sha256sum "$@" | cut -d' ' -f1) |
    sha256sum | cut -c1-16
}

image_recipe() { docker image inspect -f '{{ index .Config.Labels "edgerelay.recipe" }}' "$1" 2>/dev/null || true; }

registry_reachable() {
  # A registry counts as reachable only when the base image can really be pulled.
  timeout 20 docker pull -q debian:12 >/dev/null 2>&1
}

step_base_image() {
  local recipe
  recipe=$(recipe_hash images/debian12-systemd)
  if [ "$(image_recipe "$BASE_IMAGE")" = "$recipe" ]; then
    echo "$BASE_IMAGE cached, skipped"
    return
  fi
  if [ "${EDGERELAY_FORCE_DEBOOTSTRAP:-0}" != 1 ] && registry_reachable; then
    docker build -q --label "edgerelay.recipe=$recipe" -t "$BASE_IMAGE" \
      -f images/debian12-systemd/Dockerfile images/debian12-systemd >&2
    echo "built $BASE_IMAGE from Dockerfile (registry reachable)"
    return
  fi
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
  local rootfs="$CACHE/rootfs-debian12"
  rm -rf "$rootfs"
  local include
  include=$(grep -v '^#' images/debian12-systemd/packages.txt | tr '\n' ',' | sed 's/,$//')
  debootstrap --variant=minbase --include="$include" bookworm "$rootfs" "$DEBIAN_MIRROR" >&2
  "$ROOT/images/debian12-systemd/prepare-rootfs.sh" "$rootfs" >&2
  tar -C "$rootfs" -c . | docker import - edgerelay/debian12-rootfs:latest >&2
  rm -rf "$rootfs"
  # docker import cannot set STOPSIGNAL: add the image metadata with a local build.
  printf 'FROM edgerelay/debian12-rootfs:latest\nENV container=docker\nSTOPSIGNAL SIGRTMIN+3\nCMD ["/lib/systemd/systemd"]\n' \
    | docker build -q --label "edgerelay.recipe=$recipe" -t "$BASE_IMAGE" - >&2
  docker rmi edgerelay/debian12-rootfs:latest >/dev/null
  echo "built $BASE_IMAGE with debootstrap + docker import (no registry)"
}

# Third-party sources the lab images install, fetched on the controller (PyPI is reachable
# there even when containers cannot verify its TLS chain) and checked against pinned hashes.
MTPROTOPROXY_SDIST="mtprotoproxy-1.0.6.tar.gz"
MTPROTOPROXY_SHA256="a397f0aa6b3cba85ab8eece3c872f052927c8d62f870f8e2e3dc0a52690e661d"

fetch_sdist() {
  local dist="$CACHE/dist"
  mkdir -p "$dist"
  if ! echo "$MTPROTOPROXY_SHA256  $dist/$MTPROTOPROXY_SDIST" | sha256sum -c --quiet - >/dev/null 2>&1; then
    "$VENV/bin/pip" download -q --no-deps --no-binary :all: "mtprotoproxy==1.0.6" -d "$dist" >&2
    echo "$MTPROTOPROXY_SHA256  $dist/$MTPROTOPROXY_SDIST" | sha256sum -c --quiet - >&2
  fi
}

# lab_image TAG DIR [EXTRA ...]: builds TAG from DIR plus extra files (EXTRA: FILE, copied to
# the top of the build context, or FILE=PATH, copied to PATH in it) unless an image built from
# the same recipe exists. The recipe is DIR's and the extra files' hash followed by the recipe
# of the image built FROM: $FROM_IMAGE, passed as build argument $FROM_ARG (default:
# $BASE_IMAGE as BASE_IMAGE), so a change anywhere down the chain rebuilds. Prints "built" or
# "cached".
lab_image() {
  local tag="$1" dir="$2" ctx recipe extra from="${FROM_IMAGE:-$BASE_IMAGE}" srcs=()
  shift 2
  for extra in "$@"; do srcs+=("${extra%%=*}"); done
  recipe="$(recipe_hash "$dir" "${srcs[@]}")-$(image_recipe "$from")"
  if [ "$(image_recipe "$tag")" = "$recipe" ]; then
    echo cached
    return
  fi
  ctx="$CACHE/build/$(basename "$dir")"
  rm -rf "$ctx"
  mkdir -p "$ctx"
  cp -r "$dir"/. "$ctx"/
  for extra in "$@"; do
    if [ "${extra#*=}" != "$extra" ]; then
      mkdir -p "$(dirname "$ctx/${extra#*=}")"
      cp "${extra%%=*}" "$ctx/${extra#*=}"
    else
      cp "$extra" "$ctx"/
    fi
  done
  docker build -q --build-arg "${FROM_ARG:-BASE_IMAGE}=$from" --label "edgerelay.recipe=$recipe" \
    -t "$tag" "$ctx" >&2
  rm -rf "$ctx"
  echo built
}

# save_image TAG FILE: keeps FILE (a docker save archive) in step with the image.
# Prints "saved" or "current".
save_image() {
  local tag="$1" file="$2" id
  id=$(docker image inspect -f '{{.Id}}' "$tag")
  if [ -f "$file" ] && [ "$(cat "$file.id" 2>/dev/null)" = "$id" ]; then
    echo current
    return
  fi
  docker save "$tag" -o "$file.tmp"
  mv "$file.tmp" "$file"
  echo "$id" >"$file.id"
  echo saved
}

# The production image of the mtproxy role (its recipe ships in the collection) and the lab
# image built on it.
MTPROTOPROXY_IMAGE="edgerelay/mtprotoproxy:1.0.6-1"
MTPROTOPROXY_RECIPE="roles/mtproxy/files/images/mtprotoproxy"

step_lab_images() {
  local mtprotoproxy mtproxy peer saved=() pair
  mkdir -p "$CACHE/images"
  fetch_sdist
  # From the local base image (no registry here), with the checked sdist as dist/ (no PyPI).
  mtprotoproxy=$(lab_image "$MTPROTOPROXY_IMAGE" "$MTPROTOPROXY_RECIPE" \
    "$CACHE/dist/$MTPROTOPROXY_SDIST=dist/$MTPROTOPROXY_SDIST")
  mtproxy=$(FROM_IMAGE="$MTPROTOPROXY_IMAGE" FROM_ARG=MTPROTOPROXY_IMAGE \
    lab_image edgerelay/mtproxy-lab:latest images/mtproxy-lab)
  peer=$(lab_image edgerelay/peer-echo:latest images/peer-echo)
  # Archives for hosts without a registry (mtproxy_image_archive).
  for pair in "$MTPROTOPROXY_IMAGE=mtprotoproxy" edgerelay/mtproxy-lab:latest=mtproxy-lab \
    edgerelay/peer-echo:latest=peer-echo; do
    [ "$(save_image "${pair%%=*}" "$CACHE/images/${pair#*=}.tar")" = current ] || saved+=("${pair#*=}")
  done
  echo "mtprotoproxy $mtprotoproxy, mtproxy-lab $mtproxy, peer-echo $peer; archives saved: ${saved[*]:-none (current)}"
}

step_xray() {
  # Real Xray for the tests, built from the pinned module version (cached in .cache/bin).
  local out
  out=$("$ROOT/scripts/build_xray.sh" 2>&1 >/dev/null | tail -1 || true)
  "$ROOT/.cache/bin/xray" version >/dev/null 2>&1 || { echo "xray build failed: $out" >&2; exit 1; }
  echo "$("$ROOT/.cache/bin/xray" version | head -1 | cut -d' ' -f1-2) in .cache/bin"
}

step_promtools() {
  # The rule tests and config checks use the same promtool/amtool the lab hosts get from
  # Debian. The packages are unpacked, not installed: nothing starts on this machine.
  local bin="$CACHE/bin" debs="$CACHE/debs" pkg tool deb
  if "$bin/promtool" --version >/dev/null 2>&1 && "$bin/amtool" --version >/dev/null 2>&1; then
    echo "present ($("$bin/promtool" --version 2>&1 | head -1 | cut -d' ' -f1-3)), skipped"
    return
  fi
  mkdir -p "$bin" "$debs"
  if [ "$apt_updated" = 0 ]; then apt-get update -qq >&2; apt_updated=1; fi
  for pkg in prometheus:promtool prometheus-alertmanager:amtool; do
    tool="${pkg#*:}"
    pkg="${pkg%%:*}"
    (cd "$debs" && apt-get download -qq -o APT::Sandbox::User=root "$pkg" >&2)
    deb=$(ls -t "$debs/${pkg}"_*.deb | head -1)
    rm -rf "$debs/x" && mkdir -p "$debs/x"
    dpkg-deb -x "$deb" "$debs/x"
    install -m 0755 "$debs/x/usr/bin/$tool" "$bin/$tool"
  done
  rm -rf "$debs/x"
  echo "$("$bin/promtool" --version 2>&1 | head -1 | cut -d' ' -f1-3), amtool in .cache/bin"
}

step_vagrant() {
  # Vagrant from the distribution (2.3.4 on Debian 12) and the docker provider's image.
  local did=""
  if ! command -v vagrant >/dev/null 2>&1; then
    apt_install vagrant
    did="installed vagrant; "
  fi
  local pubkey
  pubkey=$(dpkg -L vagrant | grep '/keys/vagrant.pub$' | head -1)
  [ -n "$pubkey" ] || { echo "vagrant package has no keys/vagrant.pub" >&2; exit 1; }
  echo "${did}edgerelay/vagrant-debian12 $(lab_image edgerelay/vagrant-debian12:latest images/vagrant-systemd-ssh "$pubkey")"
}

ALL_STEPS="packages docker venv collections base-image lab-images xray promtools"
STEPS="${*:-$ALL_STEPS}"
for s in $STEPS; do
  case "$s" in
    packages) run_step packages step_packages ;;
    docker) run_step docker step_docker ;;
    venv) run_step venv step_venv ;;
    collections) run_step collections step_collections ;;
    base-image) run_step base-image step_base_image ;;
    lab-images) run_step lab-images step_lab_images ;;
    xray) run_step xray step_xray ;;
    promtools) run_step promtools step_promtools ;;
    vagrant) run_step vagrant step_vagrant ;;
    *) log "unknown step: $s (known: $ALL_STEPS)"; exit 2 ;;
  esac
done
printf '[bootstrap] %-12s %-66s %8s\n' "total" "" "$(fmt_secs $(($(now_ms) - TOTAL_START)))"
