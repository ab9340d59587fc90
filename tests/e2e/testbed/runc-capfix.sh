#!/bin/bash
# OCI runtime wrapper registered in dockerd's config as the default runtime by the repro test bed.
#
# Why: this VM's capability bounding set lacks some capabilities (CAP_SYS_RESOURCE), but dockerd
# 20.10 asks runc for every capability in privileged containers, so runc fails with
# "unable to apply caps: operation not permitted" (create, and again on `docker exec`).
# Podman computes privileged capabilities from the bounding set itself and needs none of this.
#
# What: remove from the bundle's config.json (`create|run --bundle DIR`) and from the process file
# of `runc exec --process FILE` every capability that is not in our bounding set, then exec runc.
# Everything else is passed through unchanged.
set -euo pipefail

RUNC="${REPRO_TESTBED_RUNC:-/usr/sbin/runc}"
JQ="${REPRO_TESTBED_JQ:-/usr/bin/jq}"

# Capability numbers (linux/capability.h) to names.
CAP_NAMES=(CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP
  LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE
  SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME
  SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG
  WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE)

missing_caps_json() {
  local hex bnd i names=()
  hex=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
  bnd=$((16#$hex))
  for i in "${!CAP_NAMES[@]}"; do
    if (((bnd >> i) & 1)); then :; else names+=("\"CAP_${CAP_NAMES[$i]}\""); fi
  done
  local IFS=,
  printf '[%s]' "${names[*]}"
}

# $1: file, $2: jq path of the capabilities object ('.process.capabilities' or '.capabilities')
strip_caps() {
  local file=$1 path=$2 missing tmp
  [[ -f $file ]] || return 0
  missing=$(missing_caps_json)
  [[ $missing == "[]" ]] && return 0
  tmp="$file.capfix.$$"
  "$JQ" --argjson missing "$missing" "
    if ($path | type) == \"object\" then
      $path |= with_entries(.value |= (if type == \"array\" then map(select(. as \$c | \$missing | index(\$c) | not)) else . end))
    else . end" "$file" >"$tmp"
  # keep the file's mode; runc reads it right after
  chmod --reference="$file" "$tmp"
  mv -f "$tmp" "$file"
}

args=("$@")
cmd=""
bundle=""
process=""
i=0
n=${#args[@]}
while ((i < n)); do
  a=${args[$i]}
  case "$a" in
  --bundle | -b) bundle=${args[$((i + 1))]:-}; i=$((i + 2)); continue ;;
  --bundle=*) bundle=${a#--bundle=} ;;
  --process | -p) process=${args[$((i + 1))]:-}; i=$((i + 2)); continue ;;
  --process=*) process=${a#--process=} ;;
  # global options that take a value
  --root | --log | --log-format | --criu | --rootless) i=$((i + 2)); continue ;;
  -*) ;;
  *) [[ -z $cmd ]] && cmd=$a ;;
  esac
  i=$((i + 1))
done

case "$cmd" in
create | run)
  [[ -n $bundle ]] || bundle=$PWD
  strip_caps "$bundle/config.json" .process.capabilities
  ;;
exec)
  [[ -n $process ]] && strip_caps "$process" .capabilities
  ;;
esac

exec "$RUNC" "$@"
