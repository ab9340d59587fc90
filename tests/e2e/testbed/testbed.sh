#!/bin/bash
# The repro engine test bed: Docker Engine (+ buildx), Podman, standalone BuildKit daemons (several
# pinned versions), local BuildKit images, a local Distribution registry, deterministic base images
# and a few real .deb files, all pinned, cached outside the work tree and started by pid.
#
#   testbed.sh up                      install/build what is missing, start daemons, print state JSON
#   testbed.sh status                  health of every part as JSON (no installs, no starts)
#   testbed.sh down                    stop what the test bed started (by recorded pid); keep caches
#   testbed.sh path                    print the state file's path
#   testbed.sh env                     print shell exports (BUILDKIT_HOST, REPRO_TESTBED_STATE, ...)
#   testbed.sh buildkitd-start [VER]   start a standalone buildkitd for VER (default: the default one)
#   testbed.sh buildkitd-stop [VER]
#   testbed.sh buildkitd-tls-start | buildkitd-tls-stop   buildkitd on tcp://127.0.0.1 with mutual TLS + a buildx remote builder
#   testbed.sh registry-start | registry-stop | dockerd-start | dockerd-stop
#   testbed.sh pkg-repos                (re)build only the local rpm and pacman repositories, print their state part
#   testbed.sh rootless                (re)make only the rootless podman user and its BuildKit image, print their state part
#   testbed.sh buildah                 (re)build only the pinned buildah, its own storage and base images, print its state part
#   testbed.sh actionlint              (re)build only actionlint (the workflow linter), print its state part
#   testbed.sh prune-go                remove the Go build and module caches (~5.5 GB; rebuilds then take longer)
#
# stdout carries only the JSON result; progress and logs go to stderr.
# Environment: REPRO_TESTBED_CACHE (/var/cache/repro-testbed), REPRO_TESTBED_LIB
# (/var/lib/repro-testbed), REPRO_TESTBED_RUN (/run/repro-testbed), REPRO_TESTBED_NO_APT=1 (never
# run apt-get), REPRO_TESTBED_ALL_BUILDKITD=1 (`up` starts every BuildKit version, not only the default).
set -eEuo pipefail
shopt -s nullglob

TB_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
. "$TB_SRC/versions.env"

TB_CACHE=${REPRO_TESTBED_CACHE:-/var/cache/repro-testbed}
TB_LIB=${REPRO_TESTBED_LIB:-/var/lib/repro-testbed}
TB_RUN=${REPRO_TESTBED_RUN:-/run/repro-testbed}
TB_STATE=$TB_LIB/state.json
TB_LOGS=$TB_LIB/logs
TB_PARTS=$TB_LIB/parts
DOCKER_SOCK=/var/run/docker.sock
RUNC=/usr/sbin/runc
DOCKER_CONFIG_DIR=${DOCKER_CONFIG:-$HOME/.docker}
PODMAN_DROPIN=/etc/containers/containers.conf.d/50-repro-testbed.conf
# a copy of these scripts outside the work tree: the state file points at it, so a later clone in
# another folder (CI) or a removed work tree still has a working `testbed.sh buildkitd-start VERSION`
TB_INSTALLED=$TB_LIB/testbed

export GOMODCACHE=$TB_CACHE/go/mod
export GOCACHE=$TB_CACHE/go/build
export GOTOOLCHAIN=local
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false"
export CGO_ENABLED=0
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin

T0=$(date +%s.%N)
declare -A STEP_TIMES=()
CURRENT_STEP=""

since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
log() { printf '[testbed %6ss] %s\n' "$(since "$T0")" "$*" >&2; }
die() {
  log "ERROR${CURRENT_STEP:+ in step '$CURRENT_STEP'}: $*"
  exit 1
}
on_err() {
  local rc=$? marker=/tmp/.repro-testbed-err.$$
  # report the innermost failure once (the trap also fires in each enclosing $(...))
  [[ -e $marker ]] && exit "$rc"
  : >"$marker"
  log "ERROR: step '${CURRENT_STEP:-?}' failed (exit $rc) at line ${BASH_LINENO[0]}: ${BASH_COMMAND}"
  log "logs: $TB_LOGS"
  exit "$rc"
}
trap on_err ERR
trap 'rm -f /tmp/.repro-testbed-err.$$' EXIT

# step NAME FUNCTION [ARGS...]: run one step with timing; a failing step stops `up` with its name.
step() {
  local name=$1
  shift
  local s
  CURRENT_STEP=$name
  s=$(date +%s.%N)
  log "step $name: start"
  "$@"
  STEP_TIMES[$name]=$(since "$s")
  log "step $name: done in ${STEP_TIMES[$name]}s"
  CURRENT_STEP=""
}

have() { command -v "$1" >/dev/null 2>&1; }
sha256() { sha256sum "$1" | cut -d' ' -f1; }
# sha256 of a big file, remembered in $TB_CACHE/sha256/ by path, size, mtime and inode (a warm `up` hashes nothing)
cached_sha256() {
  local f id rec dig
  f=$(readlink -f "$1")
  id=$(stat -c '%s %Y %i' "$f")
  rec=$TB_CACHE/sha256/$(printf '%s' "$f" | sha256sum | cut -c1-32)
  if [[ -f $rec ]] && [[ $(sed -n 1p "$rec") == "$f $id" ]]; then
    sed -n 2p "$rec"
    return 0
  fi
  mkdir -p "$TB_CACHE/sha256"
  dig=$(sha256 "$f")
  printf '%s\n%s\n' "$f $id" "$dig" >"$rec"
  echo "$dig"
}
# write_part NAME JSON: a fragment of the state file, merged by write_state
write_part() { mkdir -p "$TB_PARTS" && printf '%s\n' "$2" | jq . >"$TB_PARTS/$1.json.tmp" && mv -f "$TB_PARTS/$1.json.tmp" "$TB_PARTS/$1.json"; }

mkdirs() {
  mkdir -p "$TB_CACHE" "$TB_LIB" "$TB_RUN" "$TB_LOGS" "$TB_PARTS" "$TB_LIB/bin"
}

# ---------------------------------------------------------------------------------------------
# pids: every daemon is started with setsid, its pid recorded in $TB_RUN/NAME.pid, and only
# stopped when /proc/PID/exe is still the binary we started (pids get reused).

pid_of() { # NAME EXE -> prints pid if alive and ours
  local f=$TB_RUN/$1.pid pid exe
  [[ -f $f ]] || return 1
  pid=$(cat "$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  exe=${exe% (deleted)}
  [[ $exe == "$(readlink -f "$2")" ]] || return 1
  echo "$pid"
}

start_daemon() { # NAME EXE ARGS... (log in $TB_LOGS/NAME.log)
  local name=$1 exe=$2
  shift 2
  setsid "$exe" "$@" </dev/null >>"$TB_LOGS/$name.log" 2>&1 9>&- &
  local pid=$!
  echo "$pid" >"$TB_RUN/$name.pid"
  log "started $name (pid $pid): $exe $*"
}

stop_daemon() { # NAME EXE
  local name=$1 exe=$2 pid i
  if pid=$(pid_of "$name" "$exe"); then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      [[ -d /proc/$pid ]] || break
      sleep 0.2
    done
    if [[ -d /proc/$pid ]]; then
      log "$name (pid $pid) did not stop in 20s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
    fi
  fi
  rm -f "$TB_RUN/$name.pid"
}

wait_for() { # DESCRIPTION SECONDS COMMAND...
  local what=$1 secs=$2 i
  shift 2
  for ((i = 0; i < secs * 5; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  return 1
}

# ---------------------------------------------------------------------------------------------
# apt

wait_for_apt_lock() {
  local i
  for ((i = 0; i < 900; i++)); do
    if ! pgrep -x apt-get >/dev/null && ! pgrep -x dpkg >/dev/null && ! pgrep -x apt >/dev/null; then return 0; fi
    ((i % 30 == 0)) && log "waiting for another apt-get/dpkg to finish"
    sleep 2
  done
  die "another apt-get/dpkg is still running after 30 minutes"
}

apt_installed_version() { dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null | awk '$3 == "installed" {print $4}'; }
declare -A APT_INSTALLED=()
apt_scan() { # fills APT_INSTALLED[pkg]=version for the pinned packages, one dpkg-query call
  local pkg st1 st2 st3 ver
  APT_INSTALLED=()
  while read -r pkg st1 st2 st3 ver; do
    [[ $st3 == installed ]] && APT_INSTALLED[$pkg]=$ver
  done < <(dpkg-query -W -f='${Package} ${Status} ${Version}\n' $(for p in $TB_APT_PINS; do echo "${p%%=*}"; done) 2>/dev/null || true)
}

step_apt() {
  local pin pkg ver inst missing=() installs=() parts=''
  apt_scan
  for pin in $TB_APT_PINS; do
    pkg=${pin%%=*}
    [[ -n ${APT_INSTALLED[$pkg]:-} ]] || missing+=("$pin")
  done
  if ((${#missing[@]})); then
    [[ ${REPRO_TESTBED_NO_APT:-} == 1 ]] && die "missing Debian packages and REPRO_TESTBED_NO_APT=1: ${missing[*]}"
    wait_for_apt_lock
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update >>"$TB_LOGS/apt.log" 2>&1 || die "apt-get update failed (see $TB_LOGS/apt.log)"
    for pin in "${missing[@]}"; do
      pkg=${pin%%=*} ver=${pin#*=}
      if [[ -n $ver ]] && apt-cache madison "$pkg" | awk -F'|' '{gsub(/ /,"",$2); print $2}' | grep -xF "$ver" >/dev/null; then
        installs+=("$pkg=$ver")
      else
        [[ -n $ver ]] && log "pinned $pkg=$ver is no longer in the archive: installing the candidate"
        installs+=("$pkg")
      fi
    done
    apt-get -o DPkg::Lock::Timeout=600 install -y "${installs[@]}" >>"$TB_LOGS/apt.log" 2>&1 ||
      die "apt-get install ${installs[*]} failed (see $TB_LOGS/apt.log)"
    apt_scan
  fi
  for pin in $TB_APT_PINS; do
    pkg=${pin%%=*} ver=${pin#*=}
    inst=${APT_INSTALLED[$pkg]:-}
    [[ -n $inst ]] || die "package $pkg is not installed after apt-get install"
    [[ -n $ver && $inst != "$ver" ]] && log "warning: $pkg is $inst, pinned $ver"
    parts+="$pkg"$'\t'"$ver"$'\t'"$inst"$'\n'
  done
  write_part apt "$(jq -Rn '[inputs | split("\t") | {key: .[0], value: {pinned: (if .[1] == "" then null else .[1] end),
    installed: .[2], drift: (.[1] != "" and .[1] != .[2])}}] | from_entries | {apt: {packages: .}}' <<<"${parts%$'\n'}")"
}

# ---------------------------------------------------------------------------------------------
# Go-built tools

go_version() { go env GOVERSION; }

check_go() {
  have go || die "go is not installed (need >= $TB_GO_MIN)"
  local v
  v=$(go_version)
  if [[ $(printf '%s\n%s\n' "${TB_GO_MIN#go}" "${v#go}" | sort -V | sed -n 1p) != "${TB_GO_MIN#go}" ]]; then
    die "Go $v is older than $TB_GO_MIN"
  fi
}

# stamp file: what a cached output was made from; an output is reused only when it matches
stamp_ok() { [[ -f $1 ]] && [[ $(cat "$1") == "$2" ]]; }

# go_build NAME MODULE VERSION OUT_DIR LDFLAGS PKG...: build the module's packages (paths relative to
# the module root, e.g. ./cmd/buildctl) into OUT_DIR, CGO_ENABLED=0 and -trimpath (binaries do not
# depend on the cache paths). Tried in order, the first that works is recorded in OUT_DIR/.method:
#  1. go install MODULE/PKG@VERSION
#  2. the same with -ldflags=-checklinkname=0, when Go refuses an old go:linkname (BuildKit v0.13)
#  3. go build inside the module's own source (GOMODCACHE/MODULE@VERSION), when `go install pkg@version`
#     refuses the module: its go.mod has exclude/replace directives (BuildKit v0.19, v0.32), or the
#     proxy hides the module's version list (diffoci: "loading deprecation ... 403").
go_build() {
  local name=$1 mod=$2 v=$3 out=$4 ld=$5
  shift 5
  local pkgs=("$@") p targets=() blog=$TB_LOGS/build-$name-$v.log method="" moddir xl
  for p in "${pkgs[@]}"; do targets+=("$mod/${p#./}@$v"); done
  rm -rf "$out" && mkdir -p "$out"
  : >"$blog"
  for xl in "" " -checklinkname=0"; do
    log "$name $v: go install ${targets[*]}${xl:+ (ldflags$xl)} (log $blog)"
    if (cd /tmp && GOBIN=$out go install -trimpath ${TB_GO_TAGS:+-tags "$TB_GO_TAGS"} -ldflags "$ld$xl" "${targets[@]}") >>"$blog" 2>&1; then
      method="go install -trimpath${TB_GO_TAGS:+ -tags '$TB_GO_TAGS'} -ldflags '$ld$xl' ${targets[*]}"
      break
    fi
    grep -q 'linkname' "$blog" || break
  done
  if [[ -z $method ]] && grep -q -e 'exclude directives' -e 'replace directives' -e 'loading deprecation' -e 'contains one or' "$blog"; then
    moddir=$(cd /tmp && go mod download -json "$mod@$v" | jq -r .Dir) || die "go mod download $mod@$v failed"
    for xl in "" " -checklinkname=0"; do
      log "$name $v: go build inside the module source $moddir${xl:+ (ldflags$xl)}"
      # -mod=mod: some module zips keep a partial vendor/ dir (BuildKit v0.19) that would switch on -mod=vendor
      if (cd "$moddir" && go build -mod=mod -trimpath ${TB_GO_TAGS:+-tags "$TB_GO_TAGS"} -ldflags "$ld$xl" -o "$out/" "${pkgs[@]}") >>"$blog" 2>&1; then
        method="go mod download $mod@$v && cd \$GOMODCACHE/$mod@$v && go build -mod=mod -trimpath${TB_GO_TAGS:+ -tags '$TB_GO_TAGS'} -ldflags '$ld$xl' ${pkgs[*]}"
        break
      fi
      grep -q 'linkname' "$blog" || break
    done
  fi
  if [[ -z $method ]]; then
    grep -v '^go: downloading' "$blog" | tail -8 >"$out/.error"
    return 1
  fi
  printf '%s\n' "$method" >"$out/.method"
  return 0
}

# build_buildkit VERSION: buildkitd + buildctl into $TB_CACHE/bin/buildkit/VERSION
build_buildkit() {
  local v=$1 out=$TB_CACHE/bin/buildkit/$1 key res moddir
  key="buildkit $v $(go_version) cgo0 trimpath v2"
  if stamp_ok "$out/.stamp" "$key" && [[ -x $out/buildkitd && -x $out/buildctl ]]; then
    log "buildkit $v: cached ($out)"
  elif go_build buildkit github.com/moby/buildkit "$v" "$out" \
    "-X github.com/moby/buildkit/version.Version=$v -X github.com/moby/buildkit/version.Package=github.com/moby/buildkit" \
    ./cmd/buildkitd ./cmd/buildctl; then
    printf '%s' "$key" >"$out/.stamp"
  else
    log "buildkit $v: BUILD FAILED, carrying on without it: $(tr '\n' ' ' <"$out/.error")"
  fi
  if [[ -f $out/.stamp ]]; then
    if [[ ! -f $out/buildctl-daemonless.sh ]]; then
      moddir=$(cd /tmp && go mod download -json "github.com/moby/buildkit@$v" | jq -r .Dir)
      install -m 0755 "$moddir/examples/buildctl-daemonless/buildctl-daemonless.sh" "$out/buildctl-daemonless.sh"
    fi
    res=$(jq -n --arg v "$v" --arg d "$out/buildkitd" --arg c "$out/buildctl" --arg dl "$out/buildctl-daemonless.sh" \
      --arg m "$(cat "$out/.method")" --arg dv "$("$out/buildkitd" --version 2>/dev/null | sed -n 1p)" \
      --arg ds "$(cached_sha256 "$out/buildkitd")" --arg cs "$(cached_sha256 "$out/buildctl")" \
      '{buildkit: {versions: {($v): {built: true, buildkitd: $d, buildctl: $c, daemonless: $dl, buildMethod: $m,
        buildkitdVersion: $dv, buildkitdSha256: $ds, buildctlSha256: $cs, error: null}}}}')
  else
    res=$(jq -n --arg v "$v" --arg e "$(cat "$out/.error" 2>/dev/null)" \
      '{buildkit: {versions: {($v): {built: false, error: $e}}}}')
  fi
  write_part "buildkit-bin-$v" "$res"
}

step_buildkit_bins() {
  local v
  check_go
  # the default first: everything else needs it
  build_buildkit "$TB_BUILDKIT_DEFAULT"
  for v in $TB_BUILDKIT_VERSIONS; do [[ $v == "$TB_BUILDKIT_DEFAULT" ]] || build_buildkit "$v"; done
  [[ -x $TB_CACHE/bin/buildkit/$TB_BUILDKIT_DEFAULT/buildkitd ]] || die "the default BuildKit $TB_BUILDKIT_DEFAULT could not be built"
}

# go_tool NAME MODULE VERSION LDFLAGS PKG: one binary into $TB_CACHE/bin/NAME/VERSION/NAME
go_tool() {
  local name=$1 mod=$2 v=$3 ld=$4 pkg=$5 out=$TB_CACHE/bin/$1/$3 key
  key="$name $mod@$v $pkg $(go_version) cgo0 trimpath v2"
  if stamp_ok "$out/.stamp" "$key" && [[ -x $out/$name ]]; then
    log "$name $v: cached"
    return 0
  fi
  go_build "$name" "$mod" "$v" "$out" "$ld" "$pkg" || die "building $name $v failed: $(cat "$out/.error")"
  [[ -x $out/$(basename "$pkg") ]] || die "building $name $v gave no $(basename "$pkg")"
  [[ $(basename "$pkg") == "$name" ]] || mv -f "$out/$(basename "$pkg")" "$out/$name"
  printf '%s' "$key" >"$out/.stamp"
}

step_buildx() {
  check_go
  go_tool buildx github.com/docker/buildx "$TB_BUILDX_VERSION" \
    "-X github.com/docker/buildx/version.Version=$TB_BUILDX_VERSION -X github.com/docker/buildx/version.Package=github.com/docker/buildx" \
    ./cmd/buildx
  local src=$TB_CACHE/bin/buildx/$TB_BUILDX_VERSION/buildx dst=$DOCKER_CONFIG_DIR/cli-plugins/docker-buildx
  mkdir -p "$(dirname "$dst")"
  if ! cmp -s "$src" "$dst"; then
    cp -f "$src" "$dst.tmp" && chmod 0755 "$dst.tmp" && mv -f "$dst.tmp" "$dst"
    log "installed $dst"
  fi
  local ver
  ver=$(docker buildx version 2>&1 | sed -n 1p) || die "docker buildx version failed: $ver"
  write_part buildx "$(jq -n --arg p "$dst" --arg v "$ver" --arg pin "$TB_BUILDX_VERSION" --arg s "$(cached_sha256 "$dst")" \
    '{docker: {buildx: {path: $p, version: $v, pinned: $pin, sha256: $s}}}')"
}

step_diffoci() {
  check_go
  go_tool diffoci github.com/reproducible-containers/diffoci "$TB_DIFFOCI_VERSION" \
    "-X github.com/reproducible-containers/diffoci/cmd/diffoci/version.Version=$TB_DIFFOCI_VERSION" ./cmd/diffoci
  local p=$TB_CACHE/bin/diffoci/$TB_DIFFOCI_VERSION/diffoci
  write_part diffoci "$(jq -n --arg p "$p" --arg v "$("$p" --version 2>&1 | sed -n 1p)" --arg pin "$TB_DIFFOCI_VERSION" \
    '{tools: {diffoci: {path: $p, version: $v, pinned: $pin, env: {DOCKER: "/usr/bin/docker"},
      note: "for docker:// refs run it with DOCKER=/usr/bin/docker: with the 28.x client diffoci runs `docker save --platform`, which needs API 1.48 (dockerd 20.10 has 1.41)"}}}')"
}

# buildah for `repro build --runtime buildah` (see docs/buildah-spike.md): the pinned version built from the
# Go module proxy (CGO_ENABLED=0, build tags without C libraries), Debian's runc through the test bed's
# containers.conf drop-in (runtime runc, cgroupfs), its own storage (overlay) under $TB_LIB/buildah (never
# podman's /var/lib/containers), and the test bed's base images loaded into it from their OCI layouts under
# their names. Beware: buildah records the local name of a base image in the history and the
# org.opencontainers.image.base.name annotation, so a store that names the base gives another digest than
# one that does not (tests/e2e/buildah.e2e.test.ts shows it).
BUILDAH_DIR=$TB_LIB/buildah
BUILDAH_STORAGE_CONF=$BUILDAH_DIR/storage.conf

step_buildah() {
  check_go
  local v=$TB_BUILDAH_VERSION out=$TB_CACHE/bin/buildah/$TB_BUILDAH_VERSION key t0 secs img name dir ref id images='{}'
  key="buildah $v tags=$TB_BUILDAH_TAGS $(go_version) cgo0 trimpath v1"
  if stamp_ok "$out/.stamp" "$key" && [[ -x $out/buildah ]]; then
    log "buildah $v: cached ($out)"
  else
    t0=$(date +%s.%N)
    # the module's go.mod has no replace directives, but the proxy hides its version list ("loading
    # deprecation ... 403"): go_build falls back to `go build` inside the module source
    TB_GO_TAGS=$TB_BUILDAH_TAGS go_build buildah github.com/containers/buildah "$v" "$out" \
      "-X main.buildInfo=0" ./cmd/buildah || die "building buildah $v failed: $(cat "$out/.error")"
    secs=$(since "$t0")
    printf '%s\n' "$secs" >"$out/.seconds"
    printf '%s' "$key" >"$out/.stamp"
    log "buildah $v: built in ${secs}s"
  fi
  # overlay: the same layers as vfs (same diff IDs, tested) and 3-6x faster on the Debian fixtures (vfs copies
  # the whole root filesystem for every layer); the first version of this step used vfs in $BUILDAH_DIR/storage
  rm -rf "$BUILDAH_DIR/storage"
  mkdir -p "$BUILDAH_DIR/storage-overlay" "$TB_RUN/buildah"
  printf '%s\n' '# written by the repro test bed: buildah'"'"'s own storage, apart from podman'"'"'s' '[storage]' 'driver = "overlay"' \
    "graphroot = \"$BUILDAH_DIR/storage-overlay\"" "runroot = \"$TB_RUN/buildah\"" >"$BUILDAH_STORAGE_CONF.tmp"
  mv -f "$BUILDAH_STORAGE_CONF.tmp" "$BUILDAH_STORAGE_CONF"
  # the base images, from the OCI layouts the image steps wrote (no registry): name:tag in the layout. Read
  # from the image steps' parts: during a first `up` the state file is written only at the end
  for img in busybox debian; do
    name=$(jq -r --arg i "$img" '.images[$i].name // empty' "$TB_PARTS/image-$img.json" 2>/dev/null)
    dir=$(jq -r --arg i "$img" '.images[$i].ociLayout // empty' "$TB_PARTS/image-$img.json" 2>/dev/null)
    ref=$(jq -r --arg i "$img" '.images[$i].ociRef // empty' "$TB_PARTS/image-$img.json" 2>/dev/null)
    [[ -n $name && -d $dir ]] || die "buildah: no $img image in $TB_PARTS/image-$img.json yet (run testbed.sh up)"
    CONTAINERS_STORAGE_CONF=$BUILDAH_STORAGE_CONF "$out/buildah" pull --quiet "oci:$dir:$ref" >"$BUILDAH_DIR/pull.out" 2>>"$TB_LOGS/buildah.log" ||
      die "buildah pull oci:$dir:$ref failed (see $TB_LOGS/buildah.log)"
    id=$(tail -1 "$BUILDAH_DIR/pull.out")
    CONTAINERS_STORAGE_CONF=$BUILDAH_STORAGE_CONF "$out/buildah" tag "$id" "$name" 2>>"$TB_LOGS/buildah.log" ||
      die "buildah tag $id $name failed (see $TB_LOGS/buildah.log)"
    images=$(jq --arg i "$img" --arg n "$name" --arg id "$id" '.[$i] = {name: $n, id: $id}' <<<"$images")
  done
  write_part buildah "$(jq -n --arg p "$out/buildah" --arg v "$("$out/buildah" --version 2>&1 | sed -n 1p)" --arg pin "$v" \
    --arg s "$(cached_sha256 "$out/buildah")" --arg m "$(cat "$out/.method")" --arg tags "$TB_BUILDAH_TAGS" \
    --arg secs "$(cat "$out/.seconds" 2>/dev/null)" --arg sc "$BUILDAH_STORAGE_CONF" --argjson images "$images" \
    '{tools: {buildah: {path: $p, version: $v, pinned: $pin, sha256: $s, buildMethod: $m, tags: $tags,
      buildSeconds: ($secs|tonumber? // null), storageConf: $sc, env: {CONTAINERS_STORAGE_CONF: $sc}, images: $images}}}')"
}

# actionlint: lints .github/workflows and the Actions (tests/e2e/actions.e2e.test.ts); it runs shellcheck
# (an apt pin) over every run script
step_actionlint() {
  check_go
  go_tool actionlint github.com/rhysd/actionlint "$TB_ACTIONLINT_VERSION" \
    "-X github.com/rhysd/actionlint.version=$TB_ACTIONLINT_VERSION" ./cmd/actionlint
  local p=$TB_CACHE/bin/actionlint/$TB_ACTIONLINT_VERSION/actionlint
  write_part actionlint "$(jq -n --arg p "$p" --arg v "$("$p" -version 2>&1 | sed -n 1p)" --arg pin "$TB_ACTIONLINT_VERSION" \
    '{tools: {actionlint: {path: $p, version: $v, pinned: $pin}}}')"
}

# ---------------------------------------------------------------------------------------------
# Docker Engine

DOCKERD_CONFIG=$TB_LIB/docker/daemon.json
RUNC_WRAPPER=$TB_LIB/bin/runc-capfix

install_runc_wrapper() {
  if ! cmp -s "$TB_SRC/runc-capfix.sh" "$RUNC_WRAPPER"; then
    cp -f "$TB_SRC/runc-capfix.sh" "$RUNC_WRAPPER.tmp" && chmod 0755 "$RUNC_WRAPPER.tmp" && mv -f "$RUNC_WRAPPER.tmp" "$RUNC_WRAPPER"
    log "installed runtime wrapper $RUNC_WRAPPER"
  fi
  mkdir -p "$(dirname "$DOCKERD_CONFIG")"
  local cfg
  cfg=$(jq -n --arg w "$RUNC_WRAPPER" '{
    "runtimes": {"repro-runc": {"path": $w}},
    "default-runtime": "repro-runc"
  }')
  if [[ ! -f $DOCKERD_CONFIG ]] || [[ $(cat "$DOCKERD_CONFIG") != "$cfg" ]]; then
    printf '%s\n' "$cfg" >"$DOCKERD_CONFIG"
    # a running dockerd of ours must be restarted to pick it up
    if [[ -f $TB_RUN/dockerd.pid ]]; then stop_daemon dockerd /usr/sbin/dockerd; fi
  fi
}

docker_ok() { DOCKER_HOST=unix://$DOCKER_SOCK docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

dockerd_start() {
  mkdirs
  install_runc_wrapper
  if pid_of dockerd /usr/sbin/dockerd >/dev/null && docker_ok; then
    log "dockerd: running (pid $(cat "$TB_RUN/dockerd.pid"))"
  elif docker_ok; then
    log "dockerd: a dockerd not started by the test bed answers on $DOCKER_SOCK: using it"
  else
    stop_daemon dockerd /usr/sbin/dockerd
    [[ -S $DOCKER_SOCK ]] && rm -f "$DOCKER_SOCK"
    start_daemon dockerd /usr/sbin/dockerd --config-file "$DOCKERD_CONFIG" -H "unix://$DOCKER_SOCK" \
      --pidfile "$TB_RUN/dockerd.self.pid"
    wait_for dockerd 60 docker_ok || die "dockerd did not answer on $DOCKER_SOCK within 60s: $(tail -5 "$TB_LOGS/dockerd.log")"
  fi
}

step_dockerd() {
  dockerd_start
  local j
  j=$(docker_json)
  [[ $(jq -r .docker.defaultRuntime <<<"$j") == repro-runc ]] ||
    log "warning: dockerd's default runtime is '$(jq -r .docker.defaultRuntime <<<"$j")', not repro-runc: privileged containers may fail (see ENGINES.md)"
  write_part docker "$j"
}

docker_json() {
  local pid="" ours=false sv="" ok=false vj rt=""
  if pid=$(pid_of dockerd /usr/sbin/dockerd); then ours=true; else pid=""; fi
  # one call for both versions; it exits non-zero (with the client part) when the daemon does not answer
  vj=$(DOCKER_HOST=unix://$DOCKER_SOCK docker version --format '{{json .}}' 2>/dev/null) || true
  [[ $vj == \{* ]] || vj='{}'
  sv=$(jq -r '.Server.Version // empty' <<<"$vj")
  if [[ -n $sv ]]; then
    ok=true
    rt=$(DOCKER_HOST=unix://$DOCKER_SOCK docker info --format '{{.DefaultRuntime}}' 2>/dev/null) || rt=""
  fi
  jq -n --argjson ok "$ok" --arg s "$DOCKER_SOCK" --arg pid "$pid" --argjson ours "$ours" --arg sv "$sv" \
    --arg cli "$(command -v docker)" --arg cv "$(jq -r '.Client.Version // empty' <<<"$vj")" \
    --arg dcv "$(/usr/bin/docker --version 2>/dev/null | sed -n 's/^Docker version \([^,]*\),.*/\1/p')" \
    --arg rt "$rt" --arg w "$RUNC_WRAPPER" --arg cfg "$DOCKERD_CONFIG" \
    --arg log "$TB_LOGS/dockerd.log" --arg pf "$TB_RUN/dockerd.pid" \
    '{docker: {ok: $ok, socket: $s, host: ("unix://" + $s), pid: (if $pid == "" then null else ($pid|tonumber) end),
      pidFile: $pf, startedByTestbed: $ours, serverVersion: $sv, defaultRuntime: $rt, runtimeWrapper: $w,
      daemonConfig: $cfg, log: $log, cli: {path: $cli, version: $cv}, debianCli: {path: "/usr/bin/docker", version: $dcv}}}'
}

# ---------------------------------------------------------------------------------------------
# Podman

PODMAN_NETWORK=""

step_podman() {
  mkdir -p "$(dirname "$PODMAN_DROPIN")"
  # Podman 4.3 reads containers.conf.d drop-ins after /usr/share/containers/containers.conf and
  # /etc/containers/containers.conf, so plain `podman` commands get these settings.
  local conf
  conf='# Installed by the repro test bed (tests/e2e/testbed/testbed.sh). See ENGINES.md.
[containers]
# the host hard limits: podman would otherwise ask for more and fail
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]

[engine]
# crun: "cgroups in hybrid mode not supported"
runtime = "runc"
# no systemd on these machines
cgroup_manager = "cgroupfs"
events_logger = "file"
'
  printf '%s' "$conf" >"$PODMAN_DROPIN.tmp"
  if cmp -s "$PODMAN_DROPIN.tmp" "$PODMAN_DROPIN"; then
    rm -f "$PODMAN_DROPIN.tmp"
  else
    mv -f "$PODMAN_DROPIN.tmp" "$PODMAN_DROPIN"
    log "wrote $PODMAN_DROPIN"
  fi
  local j
  j=$(podman_json)
  [[ $(jq -r .podman.ok <<<"$j") == true ]] || die "podman info failed: $(podman info 2>&1 >/dev/null | tail -3)"
  write_part podman "$j"
}

podman_json() {
  local ok=false info='{}'
  if info=$(podman info --format json 2>/dev/null); then ok=true; else info='{}'; fi
  jq -n --argjson ok "$ok" --argjson i "$info" --arg p "$(command -v podman)" --arg c "$PODMAN_DROPIN" \
    '{podman: {ok: $ok, path: $p, version: ($i.version.Version // null), configFile: $c,
      runtime: ($i.host.ociRuntime.name // null), runtimePath: ($i.host.ociRuntime.path // null),
      cgroupManager: ($i.host.cgroupManager // null), cgroupVersion: ($i.host.cgroupVersion // null),
      networkBackend: ($i.host.networkBackend // null), graphRoot: ($i.store.graphRoot // null),
      storageDriver: ($i.store.graphDriverName // null)}}'
}

# ---------------------------------------------------------------------------------------------
# Registry

REGISTRY_CONFIG=$TB_LIB/registry/config.yml
REGISTRY_STORAGE=$TB_CACHE/registry

registry_ok() { curl -fsS -o /dev/null "http://$TB_REGISTRY_ADDR/v2/" 2>/dev/null; }

registry_start() {
  mkdirs
  mkdir -p "$(dirname "$REGISTRY_CONFIG")" "$REGISTRY_STORAGE"
  cat >"$REGISTRY_CONFIG.tmp" <<EOF
# Written by the repro test bed: no auth, plain HTTP on loopback, storage in the test bed's cache.
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $REGISTRY_STORAGE
  delete:
    enabled: true
http:
  addr: $TB_REGISTRY_ADDR
EOF
  mv -f "$REGISTRY_CONFIG.tmp" "$REGISTRY_CONFIG"
  if pid_of registry /usr/bin/docker-registry >/dev/null && registry_ok; then
    log "registry: running (pid $(cat "$TB_RUN/registry.pid"))"
  elif registry_ok; then
    log "registry: something not started by the test bed answers on $TB_REGISTRY_ADDR: using it"
  else
    stop_daemon registry /usr/bin/docker-registry
    start_daemon registry /usr/bin/docker-registry serve "$REGISTRY_CONFIG"
    wait_for registry 30 registry_ok || die "registry did not answer on $TB_REGISTRY_ADDR within 30s: $(tail -5 "$TB_LOGS/registry.log")"
  fi
}

registry_json() {
  local ok=false pid=""
  registry_ok && ok=true
  pid=$(pid_of registry /usr/bin/docker-registry) || pid=""
  jq -n --argjson ok "$ok" --arg a "$TB_REGISTRY_ADDR" --arg pid "$pid" --arg c "$REGISTRY_CONFIG" --arg s "$REGISTRY_STORAGE" \
    --arg v "$(/usr/bin/docker-registry --version 2>/dev/null | sed -n 1p)" --arg log "$TB_LOGS/registry.log" \
    '{registry: {ok: $ok, address: $a, url: ("http://" + $a), insecure: true, pid: (if $pid == "" then null else ($pid|tonumber) end),
      config: $c, storage: $s, version: $v, log: $log}}'
}

step_registry() {
  registry_start
  write_part registry "$(registry_json)"
}

# ---------------------------------------------------------------------------------------------
# Standalone BuildKit daemons

bk_dir() { echo "$TB_LIB/buildkit/$1"; }
bk_sock() { echo "$TB_RUN/buildkitd-$1.sock"; }
bk_bin() { echo "$TB_CACHE/bin/buildkit/$1"; }
bk_ok() { "$(bk_bin "$1")/buildctl" --addr "unix://$(bk_sock "$1")" debug workers >/dev/null 2>&1; }

buildkitd_start() {
  local v=${1:-$TB_BUILDKIT_DEFAULT} dir bin
  mkdirs
  dir=$(bk_dir "$v") bin=$(bk_bin "$v")
  [[ -x $bin/buildkitd ]] || die "buildkitd $v is not built (run testbed.sh up; see $TB_LOGS/build-buildkit-$v.log)"
  mkdir -p "$dir/root"
  cat >"$dir/buildkitd.toml.tmp" <<EOF
# Written by the repro test bed for the standalone buildkitd $v.
root = "$dir/root"

[grpc]
  address = ["unix://$(bk_sock "$v")"]

[worker.oci]
  enabled = true
  binary = "$RUNC"
  gc = true
  gckeepstorage = 10000000000

[worker.containerd]
  enabled = false

[registry."$TB_REGISTRY_ADDR"]
  http = true
  insecure = true
EOF
  mv -f "$dir/buildkitd.toml.tmp" "$dir/buildkitd.toml"
  local pid
  if pid=$(pid_of "buildkitd-$v" "$bin/buildkitd") && [[ $(readlink "/proc/$pid/exe") != *" (deleted)" ]] && bk_ok "$v"; then
    log "buildkitd $v: running (pid $pid)"
  else
    stop_daemon "buildkitd-$v" "$bin/buildkitd"
    rm -f "$(bk_sock "$v")"
    start_daemon "buildkitd-$v" "$bin/buildkitd" --config "$dir/buildkitd.toml"
    wait_for "buildkitd $v" 60 bk_ok "$v" || die "buildkitd $v did not answer within 60s: $(tail -5 "$TB_LOGS/buildkitd-$v.log")"
  fi
  if [[ $v == "$TB_BUILDKIT_DEFAULT" ]]; then ln -sfn "$(bk_sock "$v")" "$TB_RUN/buildkitd.sock"; fi
}

buildkitd_stop() {
  local v=${1:-$TB_BUILDKIT_DEFAULT}
  stop_daemon "buildkitd-$v" "$(bk_bin "$v")/buildkitd"
  rm -f "$(bk_sock "$v")"
}

buildkitd_json() {
  local v=$1 running=false pid=""
  pid=$(pid_of "buildkitd-$v" "$(bk_bin "$v")/buildkitd") || pid=""
  [[ -x $(bk_bin "$v")/buildctl ]] && bk_ok "$v" && running=true
  jq -n --arg v "$v" --argjson r "$running" --arg pid "$pid" --arg s "$(bk_sock "$v")" --arg d "$(bk_dir "$v")" \
    --arg src "$TB_INSTALLED" --arg log "$TB_LOGS/buildkitd-$v.log" --arg pf "$TB_RUN/buildkitd-$v.pid" \
    '{buildkit: {versions: {($v): {running: $r, pid: (if $pid == "" then null else ($pid|tonumber) end), pidFile: $pf,
      socket: $s, host: ("unix://" + $s), root: ($d + "/root"), config: ($d + "/buildkitd.toml"), log: $log,
      start: ("bash " + $src + "/testbed.sh buildkitd-start " + $v)}}}}'
}

step_buildkitd() {
  local v
  for v in $TB_BUILDKIT_VERSIONS; do
    if [[ $v == "$TB_BUILDKIT_DEFAULT" || ${REPRO_TESTBED_ALL_BUILDKITD:-} == 1 ]] && [[ -x $(bk_bin "$v")/buildkitd ]]; then
      buildkitd_start "$v"
    fi
    write_part "buildkitd-$v" "$(buildkitd_json "$v")"
  done
}

# ---------------------------------------------------------------------------------------------
# A BuildKit daemon (the default version) on tcp://127.0.0.1 with mutual TLS, its certificates made here
# with openssl, and a buildx `remote` builder pointing at it (repro build --buildkit-addr tcp:// --tls-*,
# repro build --builder). Another client certificate, signed by another CA, is for the failure test.

TB_TLS_PORT=${REPRO_TESTBED_TLS_PORT:-12376}
TB_REMOTE_BUILDER=${REPRO_TESTBED_REMOTE_BUILDER:-repro-testbed-remote}
tls_dir() { echo "$TB_LIB/buildkit-tls"; }
tls_addr() { echo "tcp://127.0.0.1:$TB_TLS_PORT"; }
tls_ok() {
  local c
  c=$(tls_dir)/pki/client
  "$(bk_bin "$TB_BUILDKIT_DEFAULT")/buildctl" --addr "$(tls_addr)" --tlscacert "$c/ca.pem" --tlscert "$c/cert.pem" \
    --tlskey "$c/key.pem" --tlsservername localhost debug workers >/dev/null 2>&1
}

# tls_cert DIR CN USAGE SAN CA_DIR: an EC P-256 key and a certificate signed by CA_DIR/{ca.pem,ca-key.pem}
tls_cert() {
  local d=$1 cn=$2 usage=$3 san=$4 ca=$5
  mkdir -p "$d"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
    -keyout "$d/key.pem" -out "$d/req.csr" 2>/dev/null
  {
    echo "extendedKeyUsage=$usage"
    if [[ -n $san ]]; then echo "subjectAltName=$san"; fi
  } >"$d/ext.cnf"
  openssl x509 -req -in "$d/req.csr" -CA "$ca/ca.pem" -CAkey "$ca/ca-key.pem" -CAcreateserial -days 3650 \
    -extfile "$d/ext.cnf" -out "$d/cert.pem" 2>/dev/null
  rm -f "$d/req.csr" "$d/ext.cnf"
  chmod 600 "$d/key.pem"
}

tls_certs() { # DIR: CA, server (127.0.0.1, localhost), client, and an untrusted client (another CA)
  local p=$1 ca
  [[ -f $p/.stamp ]] && return 0
  rm -rf "$p" && mkdir -p "$p"
  for ca in ca other-ca; do
    mkdir -p "$p/$ca"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 -subj "/CN=repro-testbed $ca" \
      -keyout "$p/$ca/ca-key.pem" -out "$p/$ca/ca.pem" 2>/dev/null
  done
  tls_cert "$p/server" localhost serverAuth "IP:127.0.0.1,DNS:localhost" "$p/ca"
  tls_cert "$p/client" repro-testbed-client clientAuth "" "$p/ca"
  tls_cert "$p/untrusted" repro-testbed-untrusted clientAuth "" "$p/other-ca"
  # buildctl's --tlsdir layout in each directory: ca.pem (the CA that signed the daemon), cert.pem, key.pem
  cp "$p/ca/ca.pem" "$p/server/ca.pem"
  cp "$p/ca/ca.pem" "$p/client/ca.pem"
  cp "$p/ca/ca.pem" "$p/untrusted/ca.pem"
  date -u +%FT%TZ >"$p/.stamp"
}

buildkitd_tls_start() {
  local v=$TB_BUILDKIT_DEFAULT dir bin pid
  mkdirs
  dir=$(tls_dir) bin=$(bk_bin "$v")
  [[ -x $bin/buildkitd ]] || die "buildkitd $v is not built (run testbed.sh up)"
  have openssl || die "openssl is not installed"
  tls_certs "$dir/pki"
  mkdir -p "$dir/root"
  cat >"$dir/buildkitd.toml.tmp" <<EOF
# Written by the repro test bed: buildkitd $v on $(tls_addr) with mutual TLS.
root = "$dir/root"

[grpc]
  address = ["$(tls_addr)"]

[grpc.tls]
  cert = "$dir/pki/server/cert.pem"
  key = "$dir/pki/server/key.pem"
  ca = "$dir/pki/server/ca.pem"

[worker.oci]
  enabled = true
  binary = "$RUNC"
  gc = true
  gckeepstorage = 10000000000

[worker.containerd]
  enabled = false
EOF
  mv -f "$dir/buildkitd.toml.tmp" "$dir/buildkitd.toml"
  if pid=$(pid_of buildkitd-tls "$bin/buildkitd") && tls_ok; then
    log "buildkitd-tls: running (pid $pid)"
  else
    stop_daemon buildkitd-tls "$bin/buildkitd"
    start_daemon buildkitd-tls "$bin/buildkitd" --config "$dir/buildkitd.toml"
    wait_for "buildkitd-tls" 60 tls_ok || die "buildkitd-tls did not answer within 60s: $(tail -5 "$TB_LOGS/buildkitd-tls.log")"
  fi
  remote_builder_create
}

# the buildx remote builder, made again each time (the port or the certificates may have changed)
remote_builder_create() {
  local c
  c=$(tls_dir)/pki/client
  DOCKER_HOST=unix://$DOCKER_SOCK docker buildx rm "$TB_REMOTE_BUILDER" >/dev/null 2>&1 || true
  DOCKER_HOST=unix://$DOCKER_SOCK docker buildx create --name "$TB_REMOTE_BUILDER" --driver remote \
    --driver-opt "cacert=$c/ca.pem,cert=$c/cert.pem,key=$c/key.pem,servername=localhost" "$(tls_addr)" >&2
  DOCKER_HOST=unix://$DOCKER_SOCK docker buildx inspect --bootstrap "$TB_REMOTE_BUILDER" >&2
}

buildkitd_tls_stop() {
  DOCKER_HOST=unix://$DOCKER_SOCK docker buildx rm "$TB_REMOTE_BUILDER" >/dev/null 2>&1 || true
  stop_daemon buildkitd-tls "$(bk_bin "$TB_BUILDKIT_DEFAULT")/buildkitd"
}

buildkitd_tls_json() {
  local running=false pid="" builder=false d p
  d=$(tls_dir) p=$(tls_dir)/pki
  pid=$(pid_of buildkitd-tls "$(bk_bin "$TB_BUILDKIT_DEFAULT")/buildkitd") || pid=""
  [[ -x $(bk_bin "$TB_BUILDKIT_DEFAULT")/buildctl ]] && tls_ok && running=true
  # the output is read whole before matching: `inspect | grep -q` under pipefail failed whenever grep quit before
  # docker finished writing (SIGPIPE, exit 141), and the builder was reported down at random
  local inspect
  inspect=$(DOCKER_HOST=unix://$DOCKER_SOCK timeout 60 docker buildx inspect --bootstrap "$TB_REMOTE_BUILDER" 2>/dev/null) || inspect=""
  grep -q '^Status: *running' <<<"$inspect" && builder=true
  jq -n --argjson r "$running" --arg pid "$pid" --arg host "$(tls_addr)" --arg port "$TB_TLS_PORT" --arg v "$TB_BUILDKIT_DEFAULT" \
    --arg d "$d" --arg p "$p" --arg log "$TB_LOGS/buildkitd-tls.log" --arg pf "$TB_RUN/buildkitd-tls.pid" \
    --arg src "$TB_INSTALLED" --arg b "$TB_REMOTE_BUILDER" --argjson bok "$builder" \
    '{buildkitTls: {running: $r, pid: (if $pid == "" then null else ($pid|tonumber) end), pidFile: $pf, version: $v,
      host: $host, port: ($port|tonumber), serverName: "localhost", root: ($d + "/root"), config: ($d + "/buildkitd.toml"),
      log: $log, start: ("bash " + $src + "/testbed.sh buildkitd-tls-start"),
      certs: {dir: $p, ca: ($p + "/ca/ca.pem"),
        client: {dir: ($p + "/client"), ca: ($p + "/client/ca.pem"), cert: ($p + "/client/cert.pem"), key: ($p + "/client/key.pem")},
        untrusted: {dir: ($p + "/untrusted"), ca: ($p + "/untrusted/ca.pem"), cert: ($p + "/untrusted/cert.pem"), key: ($p + "/untrusted/key.pem")}},
      remoteBuilder: {name: $b, driver: "remote", ok: $bok}}}'
}

step_buildkitd_tls() {
  if [[ -x $(bk_bin "$TB_BUILDKIT_DEFAULT")/buildkitd ]] && docker_ok; then buildkitd_tls_start; fi
  write_part buildkitd-tls "$(buildkitd_tls_json)"
}

# ---------------------------------------------------------------------------------------------
# Images

DEFAULT_BUILDCTL() { echo "$(bk_bin "$TB_BUILDKIT_DEFAULT")/buildctl"; }

# build_image KEY CONTEXT_DIR NAME OUT_DIR: build CONTEXT_DIR/Dockerfile with the default standalone
# buildkitd, SOURCE_DATE_EPOCH=$TB_IMAGE_EPOCH and rewrite-timestamp, into OUT_DIR/{oci.tar,docker.tar,oci/}.
# Skipped when OUT_DIR/.stamp says the same KEY was built before.
build_image() {
  local key=$1 ctx=$2 name=$3 out=$4
  if stamp_ok "$out/.stamp" "$key" && [[ -f $out/oci/index.json && -f $out/docker.tar ]]; then
    log "image $name: cached ($out)"
    return 0
  fi
  rm -rf "$out" && mkdir -p "$out"
  log "image $name: building with buildkitd $TB_BUILDKIT_DEFAULT"
  local common="name=$name,rewrite-timestamp=true,oci-mediatypes=true"
  "$(DEFAULT_BUILDCTL)" --addr "unix://$(bk_sock "$TB_BUILDKIT_DEFAULT")" build --progress=plain \
    --frontend dockerfile.v0 --local context="$ctx" --local dockerfile="$ctx" \
    --opt build-arg:SOURCE_DATE_EPOCH="$TB_IMAGE_EPOCH" --no-cache \
    --output "type=oci,dest=$out/oci.tar,$common" \
    --output "type=docker,dest=$out/docker.tar,$common" >>"$TB_LOGS/image-build.log" 2>&1 ||
    die "building image $name failed: $(tail -5 "$TB_LOGS/image-build.log")"
  mkdir -p "$out/oci"
  tar -xf "$out/oci.tar" -C "$out/oci"
  printf '%s' "$key" >"$out/.stamp"
}

# manifest digest, config digest and ref name of the single image in OUT_DIR/oci, remembered in
# OUT_DIR/.facts (one jq pass per build instead of several per `up`)
oci_facts() {
  local out=$1 m
  if [[ ! -f $out/.facts || $out/.facts -ot $out/oci/index.json ]]; then
    m=$(jq -r '.manifests[0].digest' "$out/oci/index.json")
    printf '%s %s %s\n' "$m" "$(jq -r '.config.digest' "$out/oci/blobs/sha256/${m#sha256:}")" \
      "$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"] // "latest"' "$out/oci/index.json")" >"$out/.facts"
  fi
  cat "$out/.facts"
}
oci_manifest_digest() { oci_facts "$1" | cut -d' ' -f1; }
oci_config_digest() { oci_facts "$1" | cut -d' ' -f2; }
oci_ref_name() { oci_facts "$1" | cut -d' ' -f3; }

# load_image NAME OUT_DIR: into docker (docker load) and podman (skopeo copy, keeps the manifest)
load_image() {
  local name=$1 out=$2 cfg mdig ref have_id have_dig
  cfg=$(oci_config_digest "$out") mdig=$(oci_manifest_digest "$out") ref=$(oci_ref_name "$out")
  have_id=$(docker image inspect --format '{{.Id}}' "$name" 2>/dev/null || true)
  if [[ $have_id != "$cfg" ]]; then
    docker load -i "$out/docker.tar" >&2 || die "docker load of $name failed"
    have_id=$(docker image inspect --format '{{.Id}}' "$name")
    [[ $have_id == "$cfg" ]] || die "docker has $name as $have_id, expected $cfg"
  fi
  have_dig=$(podman image inspect --format '{{.Digest}}' "$name" 2>/dev/null || true)
  if [[ $have_dig != "$mdig" ]]; then
    skopeo copy --quiet "oci:$out/oci:$ref" "containers-storage:$name" >&2 || die "skopeo copy of $name into podman's store failed"
    have_dig=$(podman image inspect --format '{{.Digest}}' "$name")
    [[ $have_dig == "$mdig" ]] || die "podman has $name as $have_dig, expected $mdig"
  fi
}

# push_image NAME OUT_DIR REPO:TAG: into the local registry, digest kept
push_image() {
  local out=$2 dest=$TB_REGISTRY_ADDR/$3 mdig have
  mdig=$(oci_manifest_digest "$out")
  # the registry names the manifest's digest in a header: curl is much cheaper than skopeo here
  have=$(curl -fsS -o /dev/null -D - -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$TB_REGISTRY_ADDR/v2/${3%:*}/manifests/${3##*:}" 2>/dev/null | tr -d '\r' | awk 'tolower($1) == "docker-content-digest:" {print $2}') || true
  have=${have#sha256:}
  if [[ sha256:$have != "$mdig" ]]; then
    skopeo copy --quiet --dest-tls-verify=false "oci:$out/oci:$(oci_ref_name "$out")" "docker://$dest" >&2 ||
      die "skopeo copy $1 to $dest failed"
    have=$(skopeo inspect --tls-verify=false --raw "docker://$dest" | sha256sum | cut -d' ' -f1)
    [[ sha256:$have == "$mdig" ]] || die "registry has $dest as sha256:$have, expected $mdig"
  fi
}

image_json() { # KEY NAME OUT_DIR [extra json]
  local key=$1 name=$2 out=$3 extra=${4:-'{}'}
  jq -n --arg k "$key" --arg n "$name" --arg o "$out" --arg m "$(oci_manifest_digest "$out")" \
    --arg c "$(oci_config_digest "$out")" --arg r "$(oci_ref_name "$out")" \
    --arg ds "$(cached_sha256 "$out/docker.tar")" --argjson x "$extra" \
    '{images: {($k): ({name: $n, manifestDigest: $m, configDigest: $c, dockerImageId: $c,
      ociLayout: ($o + "/oci"), ociRef: $r, ociLayoutRef: ($o + "/oci:" + $r), ociArchive: ($o + "/oci.tar"),
      dockerArchive: ($o + "/docker.tar"), dockerArchiveSha256: $ds} + $x)}}'
}

# deterministic tar of a directory: sorted, uid/gid 0, fixed mtime, no atime/ctime
det_tar() { # DIR OUT.tar EPOCH
  tar --sort=name --format=posix --pax-option='exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime' \
    --mtime="@$3" --owner=0 --group=0 --numeric-owner -C "$1" -cf "$2.tmp" . && mv -f "$2.tmp" "$2"
}

busybox_rootfs() { # DIR
  local d=$1 a
  rm -rf "$d" && mkdir -p "$d"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,var,proc,sys,dev}
  chmod 1777 "$d/tmp"
  chmod 0700 "$d/root"
  cp /bin/busybox "$d/bin/busybox"
  chmod 0755 "$d/bin/busybox"
  for a in $(/bin/busybox --list-full); do
    [[ $a == bin/busybox ]] && continue
    mkdir -p "$d/$(dirname "$a")"
    # relative links: the rootfs is self-contained
    # (-s: not through the host's own /bin -> usr/bin link)
    ln -sf "$(realpath -s -m --relative-to="/$(dirname "$a")" /bin/busybox)" "$d/$a"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$d/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$d/etc/group"
  chmod 0644 "$d/etc/passwd" "$d/etc/group"
}

step_image_busybox() {
  local work=$TB_CACHE/images/busybox-src out=$TB_CACHE/images/busybox-$TB_BUSYBOX_TAG name=$TB_IMAGE_PREFIX/busybox:$TB_BUSYBOX_TAG key tsha
  mkdir -p "$work/ctx"
  local rkey
  rkey="busybox-rootfs v3 $(cached_sha256 /bin/busybox) recipe=$(declare -f busybox_rootfs det_tar | sha256sum | cut -c1-64)"
  if ! stamp_ok "$work/.rootfs-stamp" "$rkey" || [[ ! -f $work/ctx/rootfs.tar ]]; then
    busybox_rootfs "$work/rootfs"
    det_tar "$work/rootfs" "$work/ctx/rootfs.tar" 0
    rm -rf "$work/rootfs"
    printf '%s' "$rkey" >"$work/.rootfs-stamp"
  fi
  tsha=$(cached_sha256 "$work/ctx/rootfs.tar")
  printf 'FROM scratch\nADD rootfs.tar /\nCMD ["/bin/sh"]\n' >"$work/ctx/Dockerfile"
  key="busybox rootfs=$tsha df=$(sha256 "$work/ctx/Dockerfile") builder=$(cached_sha256 "$(bk_bin "$TB_BUILDKIT_DEFAULT")/buildkitd")"
  build_image "$key" "$work/ctx" "$name" "$out"
  load_image "$name" "$out"
  push_image "$name" "$out" "repro-testbed/busybox:$TB_BUSYBOX_TAG"
  write_part image-busybox "$(image_json busybox "$name" "$out" "$(jq -n --arg t "$work/ctx/rootfs.tar" --arg s "$tsha" \
    --arg r "$TB_REGISTRY_ADDR/repro-testbed/busybox:$TB_BUSYBOX_TAG" --arg bv "${APT_INSTALLED[busybox-static]:-$(apt_installed_version busybox-static)}" \
    '{rootfsTar: $t, rootfsTarSha256: $s, registryRef: $r, busyboxVersion: $bv}')")"
}

debian_mirror() {
  # the machine's own Debian mirror, from apt's configuration (deb822 or one-line)
  local f u
  for f in /etc/apt/sources.list.d/*.sources; do
    u=$(awk 'BEGIN{RS=""} /Suites:[^\n]*bookworm( |$|\n)/ && /debian-archive-keyring|URIs:[^\n]*\/debian\/?(\n|$)/ {
      if (match($0, /URIs: *[^ \n]+/)) { s = substr($0, RSTART, RLENGTH); sub(/URIs: */, "", s); print s; exit } }' "$f")
    [[ -n $u && $u != *security* ]] && { echo "$u"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    u=$(awk '$1 == "deb" && $0 ~ / bookworm / && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' "$f")
    [[ -n $u ]] && { echo "$u"; return; }
  done
  return 1
}

step_image_debian() {
  local suite=$TB_DEBIAN_SUITE work=$TB_CACHE/images/debian-src out=$TB_CACHE/images/debian-$TB_DEBIAN_SUITE
  local name=$TB_IMAGE_PREFIX/debian:$suite key tsha mirror
  mkdir -p "$work/ctx"
  # mmdebstrap is slow-ish (~1 min): keep its tar unless the recipe changed
  local rkey="mmdebstrap ${APT_INSTALLED[mmdebstrap]:-$(apt_installed_version mmdebstrap)} $suite $TB_DEBIAN_VARIANT epoch=$TB_DEBIAN_EPOCH v2"
  if ! stamp_ok "$work/.rootfs-stamp" "$rkey" || [[ ! -f $work/ctx/rootfs.tar ]] || [[ ! -d $work/indexes ]]; then
    mirror=$(debian_mirror) || die "no Debian $suite mirror found in /etc/apt/sources.list*"
    rm -rf "$work/rootfs" "$work/indexes"
    log "mmdebstrap --variant=$TB_DEBIAN_VARIANT $suite (log $TB_LOGS/mmdebstrap.log)"
    # Only the suite itself (no -updates/-security): they change more often than point releases.
    # The image carries no apt sources: tests install local .debs, and no mirror host is recorded.
    # The InRelease and Packages it was built from are kept in $work/indexes (repro hash verify --indexes).
    SOURCE_DATE_EPOCH=$TB_DEBIAN_EPOCH mmdebstrap --mode=root --variant="$TB_DEBIAN_VARIANT" \
      --aptopt='Acquire::Check-Valid-Until "false"' \
      --customize-hook='rm -f "$1"/etc/apt/sources.list "$1"/etc/apt/sources.list.d/*' \
      --customize-hook="mkdir -p '$work/indexes' && cp -p \"\$1\"/var/lib/apt/lists/*_InRelease \"\$1\"/var/lib/apt/lists/*_Packages* '$work/indexes/'" \
      --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/apt/* "$1"/var/cache/ldconfig/aux-cache' \
      --customize-hook=': > "$1"/etc/machine-id; rm -f "$1"/etc/hostname "$1"/etc/resolv.conf' \
      "$suite" "$work/rootfs" "deb $mirror $suite main" >"$TB_LOGS/mmdebstrap.log" 2>&1 ||
      die "mmdebstrap failed: $(tail -5 "$TB_LOGS/mmdebstrap.log")"
    det_tar "$work/rootfs" "$work/ctx/rootfs.tar" "$TB_DEBIAN_EPOCH"
    rm -rf "$work/rootfs"
    printf '%s' "$rkey" >"$work/.rootfs-stamp"
  fi
  tsha=$(cached_sha256 "$work/ctx/rootfs.tar")
  printf 'FROM scratch\nADD rootfs.tar /\nCMD ["/bin/bash"]\n' >"$work/ctx/Dockerfile"
  key="debian rootfs=$tsha df=$(sha256 "$work/ctx/Dockerfile") builder=$(cached_sha256 "$(bk_bin "$TB_BUILDKIT_DEFAULT")/buildkitd")"
  build_image "$key" "$work/ctx" "$name" "$out"
  load_image "$name" "$out"
  push_image "$name" "$out" "repro-testbed/debian:$suite"
  write_part image-debian "$(image_json debian "$name" "$out" "$(jq -n --arg t "$work/ctx/rootfs.tar" --arg s "$tsha" \
    --arg r "$TB_REGISTRY_ADDR/repro-testbed/debian:$suite" --arg suite "$suite" --arg var "$TB_DEBIAN_VARIANT" --arg e "$TB_DEBIAN_EPOCH" \
    --arg ix "$work/indexes" \
    '{rootfsTar: $t, rootfsTarSha256: $s, registryRef: $r, suite: $suite, variant: $var, rootfsEpoch: ($e|tonumber), indexes: $ix}')")"
}

# BuildKit image equivalent to moby/buildkit:VERSION, from our own binaries
buildkit_rootfs() { # VERSION DIR
  local v=$1 d=$2 bin lib
  bin=$(bk_bin "$v")
  busybox_rootfs "$d"
  mkdir -p "$d/usr/bin" "$d/var/lib/buildkit" "$d/etc/buildkit" "$d/run"
  cp "$bin/buildkitd" "$bin/buildctl" "$bin/buildctl-daemonless.sh" "$d/usr/bin/"
  cp "$RUNC" "$d/usr/bin/runc"
  # Debian's runc is dynamically linked: bring the libraries ldd lists, at the same paths
  for lib in $(ldd "$RUNC" | grep -o '/[^ ]*'); do
    mkdir -p "$d$(dirname "$lib")"
    cp -L "$lib" "$d$lib"
  done
  chmod 0755 "$d"/usr/bin/{buildkitd,buildctl,buildctl-daemonless.sh,runc}
}

step_image_buildkit() {
  local v work out name key
  for v in $TB_BUILDKIT_VERSIONS; do
    [[ -x $(bk_bin "$v")/buildkitd ]] || {
      log "image buildkit $v: skipped, $v was not built"
      continue
    }
    work=$TB_CACHE/images/buildkit-$v-src out=$TB_CACHE/images/buildkit-$v name=$TB_IMAGE_PREFIX/buildkit:$v
    mkdir -p "$work"
    cat >"$work/Dockerfile" <<'EOF'
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
VOLUME /var/lib/buildkit
ENTRYPOINT ["buildkitd"]
EOF
    # the key names every input, so a warm `up` decides without assembling the root filesystem
    key="buildkit-image v3 $v df=$(sha256 "$work/Dockerfile") recipe=$(declare -f buildkit_rootfs busybox_rootfs | sha256sum | cut -c1-64)"
    key="$key buildkitd=$(cached_sha256 "$(bk_bin "$v")/buildkitd") buildctl=$(cached_sha256 "$(bk_bin "$v")/buildctl")"
    key="$key daemonless=$(sha256 "$(bk_bin "$v")/buildctl-daemonless.sh") runc=$(cached_sha256 "$RUNC") busybox=$(cached_sha256 /bin/busybox)"
    key="$key libs=$(for lib in $(ldd "$RUNC" | grep -o '/[^ ]*'); do cached_sha256 "$lib"; done | sha256sum | cut -c1-64)"
    key="$key builder=$(cached_sha256 "$(bk_bin "$TB_BUILDKIT_DEFAULT")/buildkitd")"
    if ! stamp_ok "$out/.stamp" "$key"; then
      rm -rf "$work/rootfs"
      buildkit_rootfs "$v" "$work/rootfs"
    fi
    build_image "$key" "$work" "$name" "$out"
    rm -rf "$work/rootfs"
    load_image "$name" "$out"
    push_image "$name" "$out" "repro-testbed/buildkit:$v"
    write_part "image-buildkit-$v" "$(jq -n --arg v "$v" --argjson i "$(image_json x "$name" "$out" "$(jq -n \
      --arg r "$TB_REGISTRY_ADDR/repro-testbed/buildkit:$v" --arg rv "${APT_INSTALLED[runc]:-$(apt_installed_version runc)}" '{registryRef: $r, runcVersion: $rv}')")" \
      '{buildkit: {versions: {($v): {image: $i.images.x}}}}')"
  done
}

# ---------------------------------------------------------------------------------------------
# Rootless podman: an unprivileged user with subordinate ids and its own podman storage, and a rootless
# BuildKit image (BuildKit + rootlesskit, user 1000) in that user's storage. What it took on this
# machine (kernel 6.18, cgroups v1, /dev/fuse and /dev/net/tun root-only) is in README "Rootless Podman".

rootless_home() { getent passwd "$TB_ROOTLESS_USER" | cut -d: -f6; }
# rootless_run CMD...: CMD as the rootless user, with its runtime directory (no login session, no systemd)
rootless_run() {
  local uid
  uid=$(id -u "$TB_ROOTLESS_USER")
  (cd / && runuser -u "$TB_ROOTLESS_USER" -- env -i HOME="$(rootless_home)" USER="$TB_ROOTLESS_USER" \
    XDG_RUNTIME_DIR="/run/user/$uid" PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin "$@")
}

rootless_user() {
  local u=$TB_ROOTLESS_USER uid home start conf f
  if ! id -u "$u" >/dev/null 2>&1; then
    log "rootless: creating user $u"
    useradd --create-home --shell /bin/bash --comment 'repro test bed: rootless podman' "$u"
  fi
  uid=$(id -u "$u") home=$(rootless_home)
  # useradd gives 65536 subordinate ids when login.defs says so (Debian's does); add them when it did not
  for f in subuid subgid; do
    if ! grep -q "^$u:" "/etc/$f" 2>/dev/null; then
      start=$(awk -F: '{ e = $2 + $3; if (e > m) m = e } END { print (m < 100000 ? 100000 : m) }' "/etc/$f" 2>/dev/null || echo 100000)
      usermod "--add-${f}s" "$start-$((start + 65535))" "$u"
    fi
  done
  install -d -m 0700 -o "$u" -g "$u" "/run/user/$uid"
  install -d -m 0755 -o "$u" -g "$u" "$home/.config" "$home/.config/containers"
  # storage: the kernel's own overlayfs when an unprivileged user namespace may mount it (Linux >= 5.11);
  # fuse-overlayfs needs /dev/fuse, which is root-only (0600) here; vfs (a full copy per layer) otherwise
  local driver=vfs
  # shellcheck disable=SC2016
  if rootless_run sh -c 'd=$(mktemp -d) && mkdir $d/l $d/u $d/w $d/m &&
    unshare --user --map-root-user --mount mount -t overlay overlay -o lowerdir=$d/l,upperdir=$d/u,workdir=$d/w $d/m; r=$?; rm -rf $d; exit $r' 2>/dev/null; then
    driver=overlay
  fi
  conf="# written by the repro test bed (testbed.sh rootless_user)
[storage]
driver = \"$driver\""
  if [[ $(cat "$home/.config/containers/storage.conf" 2>/dev/null) != "$conf" ]]; then
    # a store made with another driver cannot be reused
    [[ -f $home/.config/containers/storage.conf ]] && rootless_run podman system reset --force >&2
    printf '%s\n' "$conf" >"$home/.config/containers/storage.conf"
  fi
  # network: slirp4netns opens /dev/net/tun, which is root-only (0600) here ("open("/dev/net/tun"):
  # Permission denied"): containers share the host's network namespace instead. cgroups v1 + no systemd:
  # the system drop-in (cgroupfs, runc, file events) applies to this user as well.
  conf="# written by the repro test bed (testbed.sh rootless_user)"
  if ! rootless_run test -r /dev/net/tun -a -w /dev/net/tun; then
    conf="$conf
[containers]
netns = \"host\""
  fi
  printf '%s\n' "$conf" >"$home/.config/containers/containers.conf"
  chown "$u:$u" "$home/.config/containers/storage.conf" "$home/.config/containers/containers.conf"
  ROOTLESS_DRIVER=$driver
}

# rootless BuildKit image root filesystem: the rootful one plus rootlesskit, newuidmap/newgidmap with file
# capabilities (rootlesskit maps the subordinate ids with them) and user 1000
buildkit_rootless_rootfs() { # VERSION DIR
  local v=$1 d=$2 lib
  buildkit_rootfs "$v" "$d/rootfs"
  cp "$TB_CACHE/bin/rootlesskit/$TB_ROOTLESSKIT_VERSION/rootlesskit" "$d/rootfs/usr/bin/rootlesskit"
  cp /usr/bin/newuidmap /usr/bin/newgidmap "$d/rootfs/usr/bin/"
  for lib in $(ldd /usr/bin/newuidmap | grep -o '/[^ ]*'); do
    mkdir -p "$d/rootfs$(dirname "$lib")"
    cp -L "$lib" "$d/rootfs$lib"
  done
  chmod 0755 "$d/rootfs/usr/bin/rootlesskit" "$d/rootfs/usr/bin/newuidmap" "$d/rootfs/usr/bin/newgidmap"
  # file capabilities, not setuid root: Debian's setuid newuidmap opens /proc/PID/uid_map as euid 0, which
  # then needs CAP_SYS_ADMIN ("write to uid_map failed: Operation not permitted" in a rootless podman
  # container without --cap-add SYS_ADMIN); with cap_setuid=ep it opens the map as the user, which works
  setcap cap_setuid=ep "$d/rootfs/usr/bin/newuidmap"
  setcap cap_setgid=ep "$d/rootfs/usr/bin/newgidmap"
  printf 'user:x:1000:1000:user:/home/user:/bin/sh\n' >>"$d/rootfs/etc/passwd"
  printf 'user:x:1000:\n' >>"$d/rootfs/etc/group"
  # inside a rootless podman container only ids 0-65536 exist: the nested range must fit in them
  printf 'user:%s\n' "$ROOTLESS_SUBIDS" | tee "$d/rootfs/etc/subuid" >"$d/rootfs/etc/subgid"
  chmod 0644 "$d/rootfs/etc/subuid" "$d/rootfs/etc/subgid"
  # a tar with the capability xattrs (a COPY from the build context drops them), deterministic like det_tar
  tar --sort=name --format=posix --xattrs --xattrs-include=security.capability \
    --pax-option='exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime' --mtime=@0 --owner=0 --group=0 \
    --numeric-owner -C "$d/rootfs" -cf "$d/rootfs.tar" .
  rm -rf "$d/rootfs"
  rm -rf "$d/user" && mkdir -p "$d/user/home/user/.local/tmp" "$d/user/home/user/.local/share/buildkit" "$d/user/run/user/1000"
  chmod 0700 "$d/user/run/user/1000"
}

# rootless_load NAME OUT_DIR: the image of OUT_DIR/oci.tar into the rootless user's storage, manifest digest kept
rootless_load() {
  local name=$1 out=$2 mdig have
  mdig=$(oci_manifest_digest "$out")
  have=$(rootless_run podman image inspect --format '{{.Digest}}' "$name" 2>/dev/null || true)
  [[ $have == "$mdig" ]] && return 0
  rootless_run skopeo copy --quiet "oci-archive:$out/oci.tar" "containers-storage:$name" >&2 ||
    die "rootless: skopeo copy of $name into $TB_ROOTLESS_USER's store failed"
  have=$(rootless_run podman image inspect --format '{{.Digest}}' "$name")
  [[ $have == "$mdig" ]] || die "rootless: $TB_ROOTLESS_USER's podman has $name as $have, expected $mdig"
}

step_rootless() {
  local v=$TB_BUILDKIT_DEFAULT work out name key
  ROOTLESS_SUBIDS="1001:64535"
  rootless_user
  go_tool rootlesskit github.com/rootless-containers/rootlesskit/v3 "$TB_ROOTLESSKIT_VERSION" "" ./cmd/rootlesskit
  [[ -x $(bk_bin "$v")/buildkitd ]] || die "rootless: BuildKit $v was not built"
  work=$TB_CACHE/images/buildkit-$v-rootless-src out=$TB_CACHE/images/buildkit-$v-rootless name=$TB_IMAGE_PREFIX/buildkit:$v-rootless
  mkdir -p "$work"
  cat >"$work/Dockerfile" <<'DOCKERFILE'
FROM scratch
ADD rootfs.tar /
COPY --chown=1000:1000 user/ /
USER 1000:1000
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/home/user USER=user \
    XDG_RUNTIME_DIR=/run/user/1000 TMPDIR=/home/user/.local/tmp BUILDKIT_HOST=unix:///run/user/1000/buildkit/buildkitd.sock
VOLUME /home/user/.local/share/buildkit
ENTRYPOINT ["rootlesskit", "buildkitd"]
DOCKERFILE
  key="buildkit-rootless-image v3 $v df=$(sha256 "$work/Dockerfile") subids=$ROOTLESS_SUBIDS"
  key="$key recipe=$(declare -f buildkit_rootless_rootfs buildkit_rootfs busybox_rootfs | sha256sum | cut -c1-64)"
  key="$key rootlesskit=$(cached_sha256 "$TB_CACHE/bin/rootlesskit/$TB_ROOTLESSKIT_VERSION/rootlesskit") newuidmap=$(cached_sha256 /usr/bin/newuidmap)"
  key="$key buildkitd=$(cached_sha256 "$(bk_bin "$v")/buildkitd") buildctl=$(cached_sha256 "$(bk_bin "$v")/buildctl")"
  key="$key daemonless=$(sha256 "$(bk_bin "$v")/buildctl-daemonless.sh") runc=$(cached_sha256 "$RUNC") busybox=$(cached_sha256 /bin/busybox)"
  key="$key libs=$(for lib in $({ ldd "$RUNC" && ldd /usr/bin/newuidmap; } | grep -o '/[^ ]*' | sort -u); do cached_sha256 "$lib"; done | sha256sum | cut -c1-64)"
  key="$key builder=$(cached_sha256 "$(bk_bin "$TB_BUILDKIT_DEFAULT")/buildkitd")"
  if ! stamp_ok "$out/.stamp" "$key"; then buildkit_rootless_rootfs "$v" "$work"; fi
  build_image "$key" "$work" "$name" "$out"
  rm -rf "$work/rootfs.tar" "$work/user"
  # into the rootless user's storage only (root's podman and docker are left alone): the rootless image, the
  # rootful one (rootless podman runs it with --privileged inside the user's namespace) and the busybox base
  rootless_load "$name" "$out"
  rootless_load "$TB_IMAGE_PREFIX/buildkit:$v" "$TB_CACHE/images/buildkit-$v"
  rootless_load "$TB_IMAGE_PREFIX/busybox:$TB_BUSYBOX_TAG" "$TB_CACHE/images/busybox-$TB_BUSYBOX_TAG"
  # the proof that a rootless container runs here at all
  rootless_run podman run --rm "$TB_IMAGE_PREFIX/busybox:$TB_BUSYBOX_TAG" true >&2 || die "rootless: podman run as $TB_ROOTLESS_USER failed"
  write_part rootless "$(jq -n --arg u "$TB_ROOTLESS_USER" --arg uid "$(id -u "$TB_ROOTLESS_USER")" --arg h "$(rootless_home)" \
    --arg d "$ROOTLESS_DRIVER" --arg net "$(rootless_run podman info --format '{{.Host.NetworkBackend}}' 2>/dev/null)" \
    --arg netns "$(grep -q 'netns = "host"' "$(rootless_home)/.config/containers/containers.conf" && echo host || echo slirp4netns)" \
    --arg sub "$(grep "^$TB_ROOTLESS_USER:" /etc/subuid | head -1)" --arg rk "$TB_ROOTLESSKIT_VERSION" --arg v "$v" \
    --argjson i "$(image_json x "$name" "$out")" --arg rf "$TB_IMAGE_PREFIX/buildkit:$v" \
    '{rootless: {ok: true, user: $u, uid: ($uid|tonumber), home: $h, runtimeDir: ("/run/user/" + $uid), subuid: $sub,
      storageDriver: $d, network: $netns, networkBackend: $net, rootlesskitVersion: $rk, buildkitVersion: $v,
      run: ("runuser -u " + $u + " -- env XDG_RUNTIME_DIR=/run/user/" + $uid + " HOME=" + $h + " podman ..."),
      image: $i.images.x, rootfulImage: $rf}}')"
}

# ---------------------------------------------------------------------------------------------
# .deb files

step_debs() {
  local dir=$TB_CACHE/debs pin pkg ver info fn sum size arch pkgs='[]' sums="" key
  mkdir -p "$dir"
  key="debs v1 $(echo $TB_DEBS)"
  if stamp_ok "$dir/.stamp" "$key" && [[ -f $dir/packages.json && -f $dir/SHA256SUMS ]] &&
    (cd "$dir" && sha256sum --quiet -c SHA256SUMS >/dev/null 2>&1); then
    log "debs: cached ($dir)"
    write_part debs "$(jq -n --arg d "$dir" --argjson p "$(cat "$dir/packages.json")" '{debs: {dir: $d, sha256sums: ($d + "/SHA256SUMS"), packages: $p}}')"
    return 0
  fi
  for pin in $TB_DEBS; do
    pkg=${pin%%=*} ver=${pin#*=}
    info=$(apt-cache show "$pkg=$ver" 2>/dev/null | awk 'BEGIN{RS=""} NR==1')
    if [[ -z $info ]]; then
      [[ ${REPRO_TESTBED_NO_APT:-} == 1 ]] || { apt-get update >>"$TB_LOGS/apt.log" 2>&1 || true; }
      info=$(apt-cache show "$pkg=$ver" 2>/dev/null | awk 'BEGIN{RS=""} NR==1')
    fi
    [[ -n $info ]] || die "apt-cache show $pkg=$ver: no such version in the archive (update the pin in versions.env)"
    fn=$(awk '/^Filename:/ {print $2}' <<<"$info")
    sum=$(awk '/^SHA256:/ {print $2}' <<<"$info")
    size=$(awk '/^Size:/ {print $2}' <<<"$info")
    arch=$(awk '/^Architecture:/ {print $2}' <<<"$info")
    if [[ ! -f $dir/$fn ]] || [[ $(sha256 "$dir/$fn") != "$sum" ]]; then
      mkdir -p "$dir/$(dirname "$fn")"
      local tmp
      tmp=$(mktemp -d)
      (cd "$tmp" && apt-get download "$pkg=$ver" >>"$TB_LOGS/apt.log" 2>&1) || die "apt-get download $pkg=$ver failed"
      local got=("$tmp"/*.deb)
      [[ ${#got[@]} == 1 ]] || die "apt-get download $pkg=$ver gave ${#got[@]} files"
      [[ $(sha256 "${got[0]}") == "$sum" ]] || die "$pkg=$ver: sha256 $(sha256 "${got[0]}") != $sum from apt-cache show"
      mv -f "${got[0]}" "$dir/$fn"
      rm -rf "$tmp"
      log "downloaded $fn"
    fi
    sums+="$sum  $fn"$'\n'
    pkgs=$(jq --arg n "$pkg" --arg v "$ver" --arg a "$arch" --arg f "$fn" --arg s "$sum" --arg z "$size" --arg p "$dir/$fn" \
      '. + [{name: $n, version: $v, architecture: $a, filename: $f, sha256: $s, size: ($z|tonumber), path: $p}]' <<<"$pkgs")
  done
  printf '%s' "$sums" >"$dir/SHA256SUMS"
  (cd "$dir" && sha256sum --quiet -c SHA256SUMS) || die "sha256sum -c $dir/SHA256SUMS failed"
  printf '%s\n' "$pkgs" >"$dir/packages.json"
  printf '%s' "$key" >"$dir/.stamp"
  write_part debs "$(jq -n --arg d "$dir" --argjson p "$pkgs" '{debs: {dir: $d, sha256sums: ($d + "/SHA256SUMS"), packages: $p}}')"
}

# ---------------------------------------------------------------------------------------------
# rpm and pacman packages, built here (no Fedora/Arch mirror needed): two small packages per format,
# one depending on the other, signed with a test key, in a createrepo_c repository and a repo-add database.
# Deterministic: SOURCE_DATE_EPOCH=$TB_PKG_EPOCH for rpmbuild and makepkg, signatures made with gpg's
# --faked-system-time (ed25519 signatures are deterministic), so only the key itself is random; everything
# is rebuilt (with a new key) only when the recipe or a tool version changes.

# the two packages of each format: NAME EPOCH VERSION RELEASE (the app needs the base)
TB_PKG_BASE="repro-base 0 1.0 1"
TB_PKG_APP="repro-app 1 2.1 3"

pkg_rpm_spec() { # NAME EPOCH VERSION RELEASE -> spec on stdout
  local name=$1 epoch=$2 ver=$3 rel=$4
  printf 'Name: %s\nVersion: %s\nRelease: %s\n' "$name" "$ver" "$rel"
  [[ $epoch != 0 ]] && printf 'Epoch: %s\n' "$epoch"
  printf 'Summary: repro test bed package %s\nLicense: MIT\nBuildArch: noarch\nAutoReqProv: no\n' "$name"
  # no automatic /bin/sh requirement: the packages install into an empty root
  [[ $name == repro-app ]] && printf 'Requires: repro-base = 1.0-1\n'
  printf '\n%%description\nA tiny package for repro'"'"'s rpm install tests.\n\n%%install\n'
  if [[ $name == repro-base ]]; then
    printf 'mkdir -p %%{buildroot}/usr/share/repro-base %%{buildroot}/etc\n'
    printf "printf 'base 1.0\\\\n' > %%{buildroot}/usr/share/repro-base/VERSION\n"
    printf "printf 'greeting=hello\\\\n' > %%{buildroot}/etc/repro-base.conf\n"
    printf '\n%%files\n/usr/share/repro-base/VERSION\n%%config(noreplace) /etc/repro-base.conf\n'
  else
    printf 'mkdir -p %%{buildroot}/usr/bin\n'
    printf "printf '#!/bin/sh\\\\ncat /usr/share/repro-base/VERSION\\\\n' > %%{buildroot}/usr/bin/repro-app\n"
    printf 'chmod 0755 %%{buildroot}/usr/bin/repro-app\n'
    printf '\n%%files\n/usr/bin/repro-app\n'
  fi
  printf '\n%%changelog\n* Mon Jan 01 2024 repro test bed <testbed@repro.invalid> - %s-%s\n- test package\n' "$ver" "$rel"
}

pkg_pkgbuild() { # NAME EPOCH VERSION RELEASE -> PKGBUILD on stdout
  local name=$1 epoch=$2 ver=$3 rel=$4
  printf 'pkgname=%s\npkgver=%s\npkgrel=%s\n' "$name" "$ver" "$rel"
  [[ $epoch != 0 ]] && printf 'epoch=%s\n' "$epoch"
  printf "pkgdesc='repro test bed package %s'\narch=(any)\nlicense=(MIT)\n" "$name"
  if [[ $name == repro-base ]]; then
    printf 'backup=(etc/repro-base.conf)\npackage() {\n'
    printf '  mkdir -p "$pkgdir/usr/share/repro-base" "$pkgdir/etc"\n'
    printf "  printf 'base 1.0\\\\n' >\"\$pkgdir/usr/share/repro-base/VERSION\"\n"
    printf "  printf 'greeting=hello\\\\n' >\"\$pkgdir/etc/repro-base.conf\"\n}\n"
  else
    printf "depends=('repro-base=1.0-1')\npackage() {\n"
    printf '  mkdir -p "$pkgdir/usr/bin"\n'
    printf "  printf '#!/bin/sh\\\\ncat /usr/share/repro-base/VERSION\\\\n' >\"\$pkgdir/usr/bin/repro-app\"\n"
    printf '  chmod 0755 "$pkgdir/usr/bin/repro-app"\n}\n'
  fi
}

pkg_repos_build() { # OUT_DIR
  local out=$1 tmp gh fpr p f
  tmp=$(mktemp -d /tmp/repro-testbed-pkgs.XXXXXX)
  chmod 0755 "$tmp"
  gh=$tmp/gnupg
  mkdir -m 0700 "$gh"
  # whatever happens (die exits): stop this homedir's gpg-agent, remove the work dir
  trap 'gpgconf --homedir "'"$gh"'" --kill all 2>/dev/null || true; rm -rf "'"$tmp"'" /tmp/repro-testbed-makepkg; rm -f /tmp/.repro-testbed-err.$$' EXIT
  local gpg=(gpg --homedir "$gh" --batch --no-tty --quiet --no-autostart --pinentry-mode loopback --passphrase '')
  # an agent is needed to make and use the secret key: started here, stopped below (by gpgconf, for this homedir only)
  gpg --homedir "$gh" --batch --quiet --pinentry-mode loopback --passphrase '' --faked-system-time '20240101T000000!' \
    --quick-gen-key 'repro test bed <testbed@repro.invalid>' ed25519 sign never >>"$TB_LOGS/pkg-repos.log" 2>&1
  fpr=$("${gpg[@]}" --with-colons --list-keys | awk -F: '$1 == "fpr" {print $10; exit}')
  mkdir -p "$out/rpm" "$out/pacman" "$out/keys"
  "${gpg[@]}" --armor --export "$fpr" >"$out/keys/repro-testbed.asc"
  # a second key that signed nothing: tests import it to show that a signature by an unknown key is refused
  gpg --homedir "$gh" --batch --quiet --pinentry-mode loopback --passphrase '' --faked-system-time '20240101T000000!' \
    --quick-gen-key 'repro test bed other <other@repro.invalid>' ed25519 sign never >>"$TB_LOGS/pkg-repos.log" 2>&1
  "${gpg[@]}" --armor --export 'other@repro.invalid' >"$out/keys/other.asc"

  # rpm: rpmbuild with the reproducible-build macros, rpmsign, createrepo_c
  local top=$tmp/rpmbuild
  mkdir -p "$top/SPECS"
  for p in "$TB_PKG_BASE" "$TB_PKG_APP"; do
    # shellcheck disable=SC2086
    pkg_rpm_spec $p >"$top/SPECS/${p%% *}.spec"
    SOURCE_DATE_EPOCH=$TB_PKG_EPOCH rpmbuild -bb --quiet --define "_topdir $top" --define '_buildhost repro-testbed' \
      --define 'source_date_epoch_from_changelog 1' --define 'clamp_mtime_to_source_date_epoch 1' \
      --define 'use_source_date_epoch_as_buildtime 1' "$top/SPECS/${p%% *}.spec" >>"$TB_LOGS/pkg-repos.log" 2>&1 ||
      die "rpmbuild ${p%% *} failed (see $TB_LOGS/pkg-repos.log)"
  done
  cp "$top"/RPMS/noarch/*.rpm "$out/rpm/"
  cp "$out/rpm/repro-base-1.0-1.noarch.rpm" "$tmp/unsigned.rpm"
  GNUPGHOME=$gh rpmsign --addsign --define '__gpg /usr/bin/gpg' --define "_gpg_name $fpr" \
    --define '_gpg_sign_cmd_extra_args --faked-system-time 20240101T000000!' "$out"/rpm/*.rpm >>"$TB_LOGS/pkg-repos.log" 2>&1 ||
    die "rpmsign failed (see $TB_LOGS/pkg-repos.log)"
  # an unsigned copy, outside the repository, for the "unsigned package is refused" test
  mkdir -p "$out/unsigned"
  mv "$tmp/unsigned.rpm" "$out/unsigned/repro-base-1.0-1.noarch.rpm"
  createrepo_c --quiet --no-database --simple-md-filenames --revision 1 --set-timestamp-to-revision \
    --distro 'repro-testbed' "$out/rpm" >>"$TB_LOGS/pkg-repos.log" 2>&1 || die "createrepo_c failed (see $TB_LOGS/pkg-repos.log)"

  # pacman: makepkg refuses root, so it runs as nobody in a directory nobody owns. The directory is fixed:
  # makepkg writes builddir and startdir into each package's .BUILDINFO
  local mk=/tmp/repro-testbed-makepkg
  rm -rf "$mk"
  mkdir -p "$mk/out"
  sed -e "s/^PKGEXT=.*/PKGEXT='.pkg.tar.zst'/" -e 's/^OPTIONS=.*/OPTIONS=(!strip !docs !libtool !staticlibs emptydirs !zipman !purge !debug !lto)/' \
    /etc/makepkg.conf >"$mk/makepkg.conf"
  for p in "$TB_PKG_BASE" "$TB_PKG_APP"; do
    mkdir -p "$mk/${p%% *}"
    # shellcheck disable=SC2086
    pkg_pkgbuild $p >"$mk/${p%% *}/PKGBUILD"
  done
  chown -R nobody:nogroup "$mk"
  for p in "$TB_PKG_BASE" "$TB_PKG_APP"; do
    (cd "$mk/${p%% *}" && runuser -u nobody -- env -i PATH=/usr/bin:/bin HOME=/tmp LC_ALL=C.UTF-8 SOURCE_DATE_EPOCH="$TB_PKG_EPOCH" \
      PKGDEST="$mk/out" BUILDDIR="$mk/build" SRCDEST="$mk/src" makepkg --config "$mk/makepkg.conf" --nodeps --noconfirm \
      >>"$TB_LOGS/pkg-repos.log" 2>&1) || die "makepkg ${p%% *} failed (see $TB_LOGS/pkg-repos.log)"
  done
  cp "$mk"/out/*.pkg.tar.zst "$out/pacman/"
  for f in "$out"/pacman/*.pkg.tar.zst; do
    "${gpg[@]}" --faked-system-time '20240101T000000!' --detach-sign --no-armor -u "$fpr" -o "$f.sig" "$f" 2>>"$TB_LOGS/pkg-repos.log"
  done
  # repo-add puts each package's .sig into the database as %PGPSIG%
  (cd "$out/pacman" && repo-add --quiet repro.db.tar.gz ./*.pkg.tar.zst >>"$TB_LOGS/pkg-repos.log" 2>&1) ||
    die "repo-add failed (see $TB_LOGS/pkg-repos.log)"
  gpgconf --homedir "$gh" --kill all 2>/dev/null || true
  rm -rf "$tmp" "$mk"
  trap 'rm -f /tmp/.repro-testbed-err.$$' EXIT
  (cd "$out" && find rpm pacman keys unsigned -type f | LC_ALL=C sort | xargs sha256sum >SHA256SUMS)
  printf '%s' "$fpr" >"$out/keys/fingerprint"
}

step_pkg_repos() {
  local dir=$TB_CACHE/pkg-repos key v
  key="pkg-repos v1 epoch=$TB_PKG_EPOCH base=$TB_PKG_BASE app=$TB_PKG_APP"
  for v in rpm createrepo-c pacman-package-manager makepkg gpg libarchive-tools fakeroot; do key+=" $v=$(apt_installed_version "$v")"; done
  key+=" recipe=$(declare -f pkg_repos_build pkg_rpm_spec pkg_pkgbuild | sha256sum | cut -c1-64)"
  if stamp_ok "$dir/.stamp" "$key" && [[ -f $dir/SHA256SUMS ]] && (cd "$dir" && sha256sum --quiet -c SHA256SUMS >/dev/null 2>&1); then
    log "pkg-repos: cached ($dir)"
  else
    rm -rf "$dir" && mkdir -p "$dir"
    pkg_repos_build "$dir"
    printf '%s' "$key" >"$dir/.stamp"
  fi
  write_part pkg-repos "$(jq -n --arg d "$dir" --arg f "$(cat "$dir/keys/fingerprint")" --arg e "$TB_PKG_EPOCH" \
    --arg rv "$(rpm --version | awk '{print $3}')" --arg pv "$(apt_installed_version pacman-package-manager)" \
    '{pkgRepos: {dir: $d, epoch: ($e|tonumber), rpm: {repo: ($d + "/rpm"), unsigned: ($d + "/unsigned"), version: $rv},
      pacman: {repo: ($d + "/pacman"), db: ($d + "/pacman/repro.db.tar.gz"), version: $pv},
      keys: {signer: ($d + "/keys/repro-testbed.asc"), other: ($d + "/keys/other.asc"), fingerprint: $f},
      packages: ["repro-base", "repro-app"]}}')"
}

# ---------------------------------------------------------------------------------------------
# reference tools and host facts

step_tools() {
  local missing="" hex bnd i
  hex=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
  bnd=$((16#$hex))
  local names=(CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE
    NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE
    SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL
    SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE)
  for i in "${!names[@]}"; do (((bnd >> i) & 1)) || missing+="CAP_${names[$i]} "; done
  write_part tools "$(jq -n \
    --arg sk "$(command -v skopeo)" --arg skv "$(skopeo --version 2>/dev/null)" \
    --arg rc "$RUNC" --arg rcv "$("$RUNC" --version 2>/dev/null | sed -n 1p)" \
    --arg mm "$(command -v mmdebstrap)" --arg mmv "$(mmdebstrap --version 2>/dev/null | sed -n 1p)" \
    --arg bb /bin/busybox --arg bbv "$(/bin/busybox 2>/dev/null | sed -n 1p)" \
    --arg go "$(command -v go)" --arg gov "$(go_version)" \
    --arg k "$(uname -r)" --arg deb "$(cat /etc/debian_version)" --arg miss "$missing" \
    --arg cg "$(stat -fc %T /sys/fs/cgroup)" \
    '{tools: {skopeo: {path: $sk, version: $skv}, runc: {path: $rc, version: $rcv}, mmdebstrap: {path: $mm, version: $mmv},
      busybox: {path: $bb, version: $bbv}, go: {path: $go, version: $gov}},
      host: {kernel: $k, debianVersion: $deb, cgroupFs: $cg, capBndMissing: ($miss | split(" ") | map(select(. != "")))}}')"
}

# ---------------------------------------------------------------------------------------------
# state

write_state() { # MODE (up|status)
  local times='{}' k total
  for k in "${!STEP_TIMES[@]}"; do times=$(jq --arg k "$k" --arg v "${STEP_TIMES[$k]}" '.[$k] = ($v|tonumber)' <<<"$times"); done
  total=$(since "$T0")
  local parts=("$TB_PARTS"/*.json)
  local merged
  merged=$(jq -s 'reduce .[] as $x ({}; . * $x)' "${parts[@]}")
  merged=$(jq --arg mode "$1" --argjson t "$times" --arg total "$total" --arg now "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --arg st "$TB_STATE" --arg c "$TB_CACHE" --arg l "$TB_LIB" --arg r "$TB_RUN" --arg logs "$TB_LOGS" --arg src "$TB_INSTALLED" --arg from "$TB_SRC" \
    --arg dflt "$TB_BUILDKIT_DEFAULT" --arg vers "$TB_BUILDKIT_VERSIONS" --arg cs "$([[ $1 == status ]] && du -sbx "$TB_CACHE" 2>/dev/null | cut -f1)" '
    . + {schema: 1, generatedAt: $now, mode: $mode, stateFile: $st, testbed: ($src + "/testbed.sh"), testbedSource: $from,
         dirs: {cache: $c, lib: $l, run: $r, logs: $logs}, cacheBytes: ($cs|tonumber? // null),
         timings: {totalSeconds: ($total|tonumber), steps: $t}}
    | .buildkit.default = $dflt
    | .buildkit.versionList = ($vers | split(" ") | map(select(. != "")))
    | .buildkit.defaultHost = (.buildkit.versions[$dflt].host // null)
    | .ok = ((.docker.ok // false) and (.podman.ok // false) and (.registry.ok // false)
             and (.buildkit.versions[$dflt].running // false) and (.images.busybox != null) and (.images.debian != null)
             and (.debs != null) and (.buildkit.versions[$dflt].image != null))' <<<"$merged")
  printf '%s\n' "$merged" >"$TB_STATE.tmp"
  mv -f "$TB_STATE.tmp" "$TB_STATE"
  printf '%s\n' "$merged"
}

refresh_health() {
  write_part docker "$(docker_json)"
  write_part registry "$(registry_json)"
  local v
  for v in $TB_BUILDKIT_VERSIONS; do write_part "buildkitd-$v" "$(buildkitd_json "$v")"; done
  write_part buildkitd-tls "$(buildkitd_tls_json)"
  have podman && write_part podman "$(podman_json)"
  true
}

with_lock() {
  mkdirs
  exec 9>"$TB_RUN/testbed.lock"
  if ! flock -n 9; then
    log "another testbed.sh holds $TB_RUN/testbed.lock: waiting"
    flock 9
  fi
}

cmd_up() {
  with_lock
  log "up: cache $TB_CACHE, state $TB_STATE"
  step self step_self
  step apt step_apt
  step tools step_tools
  step buildkit-binaries step_buildkit_bins
  step buildx step_buildx
  step diffoci step_diffoci
  step actionlint step_actionlint
  step dockerd step_dockerd
  step podman step_podman
  step registry step_registry
  step buildkitd step_buildkitd
  step buildkitd-tls step_buildkitd_tls
  step image-busybox step_image_busybox
  step image-debian step_image_debian
  step image-buildkit step_image_buildkit
  step debs step_debs
  step pkg-repos step_pkg_repos
  step rootless step_rootless
  step buildah step_buildah
  local out
  out=$(write_state up)
  printf '%s\n' "$out"
  log "up: done in $(jq -r .timings.totalSeconds <<<"$out")s, ok=$(jq -r .ok <<<"$out"), state $TB_STATE"
  [[ $(jq -r .ok <<<"$out") == true ]] || die "some part is not healthy: see the JSON above"
}

cmd_status() {
  mkdirs
  have jq || die "jq is not installed: run testbed.sh up"
  refresh_health
  local out
  out=$(write_state status)
  printf '%s\n' "$out"
  [[ $(jq -r .ok <<<"$out") == true ]] || {
    log "status: some part is not healthy (ok=false): run testbed.sh up"
    exit 1
  }
}

step_self() {
  mkdir -p "$TB_INSTALLED"
  local f
  for f in testbed.sh versions.env runc-capfix.sh; do
    cmp -s "$TB_SRC/$f" "$TB_INSTALLED/$f" || { cp -f "$TB_SRC/$f" "$TB_INSTALLED/$f.tmp" && mv -f "$TB_INSTALLED/$f.tmp" "$TB_INSTALLED/$f"; }
  done
}

# the Go caches are only needed to rebuild after a pin changes (then they save ~15 min of compiling)
cmd_prune_go() {
  with_lock
  log "removing $GOCACHE and $GOMODCACHE ($(du -sh "$TB_CACHE/go" 2>/dev/null | cut -f1))"
  go clean -cache 2>/dev/null || true
  go clean -modcache 2>/dev/null || true
  rm -rf "$GOCACHE" "$GOMODCACHE"
}

cmd_down() {
  with_lock
  local v
  for v in $TB_BUILDKIT_VERSIONS; do buildkitd_stop "$v"; done
  rm -f "$TB_RUN/buildkitd.sock"
  buildkitd_tls_stop
  stop_daemon registry /usr/bin/docker-registry
  if [[ -f $TB_RUN/dockerd.pid ]]; then stop_daemon dockerd /usr/sbin/dockerd; fi
  if have jq && [[ -d $TB_PARTS ]]; then refresh_health && write_state down >/dev/null; fi
  log "down: stopped what the test bed started; caches kept in $TB_CACHE"
}

cmd_env() {
  local v
  echo "export REPRO_TESTBED_STATE=$TB_STATE"
  echo "export BUILDKIT_HOST=unix://$(bk_sock "$TB_BUILDKIT_DEFAULT")"
  for v in $TB_BUILDKIT_VERSIONS; do
    printf 'export BUILDKIT_HOST_%s=unix://%s\n' "$(tr '.' '_' <<<"${v#v}")" "$(bk_sock "$v")"
  done
  echo "export DOCKER_HOST=unix://$DOCKER_SOCK"
}

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2; }

main() {
  local cmd=${1:-}
  shift || true
  case "$cmd" in
  up) cmd_up ;;
  status) cmd_status ;;
  down) cmd_down ;;
  path) echo "$TB_STATE" ;;
  prune-go) cmd_prune_go ;;
  env) cmd_env ;;
  pkg-repos) with_lock && step pkg-repos step_pkg_repos && jq . "$TB_PARTS/pkg-repos.json" ;;
  rootless) with_lock && step rootless step_rootless && write_state status >/dev/null && jq . "$TB_PARTS/rootless.json" ;;
  buildah) with_lock && step buildah step_buildah && write_state status >/dev/null && jq . "$TB_PARTS/buildah.json" ;;
  actionlint) with_lock && step actionlint step_actionlint && write_state status >/dev/null && jq . "$TB_PARTS/actionlint.json" ;;
  buildkitd-start)
    with_lock
    buildkitd_start "${1:-$TB_BUILDKIT_DEFAULT}"
    write_part "buildkitd-${1:-$TB_BUILDKIT_DEFAULT}" "$(buildkitd_json "${1:-$TB_BUILDKIT_DEFAULT}")"
    write_state status >/dev/null
    echo "unix://$(bk_sock "${1:-$TB_BUILDKIT_DEFAULT}")"
    ;;
  buildkitd-stop)
    with_lock
    buildkitd_stop "${1:-$TB_BUILDKIT_DEFAULT}"
    write_part "buildkitd-${1:-$TB_BUILDKIT_DEFAULT}" "$(buildkitd_json "${1:-$TB_BUILDKIT_DEFAULT}")"
    write_state status >/dev/null
    ;;
  buildkitd-tls-start) with_lock && buildkitd_tls_start && write_part buildkitd-tls "$(buildkitd_tls_json)" && jq . "$TB_PARTS/buildkitd-tls.json" ;;
  buildkitd-tls-stop) with_lock && buildkitd_tls_stop && write_part buildkitd-tls "$(buildkitd_tls_json)" ;;
  registry-start) with_lock && registry_start && write_part registry "$(registry_json)" ;;
  registry-stop) with_lock && stop_daemon registry /usr/bin/docker-registry && write_part registry "$(registry_json)" ;;
  dockerd-start) with_lock && dockerd_start && write_part docker "$(docker_json)" ;;
  dockerd-stop) with_lock && stop_daemon dockerd /usr/sbin/dockerd && write_part docker "$(docker_json)" ;;
  "" | -h | --help | help) usage ;;
  *)
    log "unknown command: $cmd"
    usage
    exit 2
    ;;
  esac
}

main "$@"
