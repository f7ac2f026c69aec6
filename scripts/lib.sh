# Shared steps of scripts/edge and scripts/test. Source it from the repository root.
# As root it installs Debian packages and starts dockerd; as a user it only says what is missing.

VENV=.venv
RUN_DIR=.run
mkdir -p "$RUN_DIR"

# Never fails: clean-up must go on when stderr is a pipe whose reader is gone (`| tee`, Ctrl-C).
say() { printf '==> %s\n' "$*" >&2 2>/dev/null || true; }

# For an EXIT trap: from here on a failed command or a write to a dead pipe does not end the
# script before the rest of its clean-up has run.
begin_cleanup() {
  set +e
  trap '' PIPE
}

is_root() { [ "$(id -u)" -eq 0 ]; }

install_debian_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! is_root; then
    say "missing Debian packages (run as root to install them): ${missing[*]}"
    return 0
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${missing[@]}" >"$RUN_DIR/apt.log" 2>&1 || {
    apt-get update -qq >>"$RUN_DIR/apt.log" 2>&1
    apt-get install -y -qq "${missing[@]}" >>"$RUN_DIR/apt.log" 2>&1 || { cat "$RUN_DIR/apt.log" >&2; return 1; }
  }
}

# A virtualenv holding the project (editable) and, with "test", its test tools.
ensure_venv() {
  local extras="${1:-}"
  local spec="."
  [ -n "$extras" ] && spec=".[$extras]"
  local stamp
  stamp="$VENV/.installed-$(cat setup.cfg pyproject.toml | sha1sum | cut -c1-12)-${extras:-base}"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  if [ ! -f "$stamp" ]; then
    say "installing Python packages into $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -e "$spec" >"$RUN_DIR/pip.log" 2>&1 || { cat "$RUN_DIR/pip.log" >&2; return 1; }
    touch "$stamp"
  fi
}

docker_is_up() { timeout 10 docker info >/dev/null 2>&1; }

# Starts dockerd when none answers (root only). Sets DOCKERD_STARTED=1 when it did.
DOCKERD_STARTED=0
start_dockerd_if_needed() {
  docker_is_up && return 0
  if ! is_root; then
    say "no Docker Engine answers and only root can start one (Docker tests are skipped; pods cannot run)"
    return 0
  fi
  for driver in overlay2 vfs; do
    say "starting dockerd (storage driver $driver)"
    # Its own session: a Ctrl-C to the terminal's process group reaches the edge only, and
    # dockerd is stopped after it (stop_dockerd_if_started).
    setsid dockerd --storage-driver "$driver" --pidfile "$RUN_DIR/dockerd.pid" >"$RUN_DIR/dockerd.log" 2>&1 &
    for _ in $(seq 1 60); do
      if docker_is_up; then DOCKERD_STARTED=1; return 0; fi
      kill -0 $! 2>/dev/null || break
      sleep 0.5
    done
    kill $! 2>/dev/null; wait $! 2>/dev/null
  done
  say "dockerd did not start; see $RUN_DIR/dockerd.log"
  return 1
}

stop_dockerd_if_started() {
  [ "$DOCKERD_STARTED" = 1 ] || return 0
  local pid
  pid=$(cat "$RUN_DIR/dockerd.pid" 2>/dev/null) || return 0
  say "stopping the dockerd this script started"
  kill "$pid" 2>/dev/null || return 0
  # dockerd gives each running container 10 s to stop before it exits itself.
  for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true
}

# Debian's kubectl (package kubernetes-client, 1.20 on Debian 12) beside the newest one on the
# machine: the kubectl tests run both. Unpacked into .cache/kubectl-debian/ (root only: apt),
# never installed, so /usr/bin/kubectl stays what it is.
DEBIAN_KUBECTL_DIR=.cache/kubectl-debian
fetch_debian_kubectl() {
  [ -x "$DEBIAN_KUBECTL_DIR/usr/bin/kubectl" ] && return 0
  if ! is_root; then
    say "Debian's kubectl is missing and only root can fetch it (its kubectl tests fail)"
    return 0
  fi
  say "fetching Debian's kubectl (kubernetes-client) into $DEBIAN_KUBECTL_DIR"
  local debs="$DEBIAN_KUBECTL_DIR/debs"
  rm -rf "$debs" && mkdir -p "$debs"
  (cd "$debs" && apt-get download kubernetes-client) >"$RUN_DIR/apt-kubectl.log" 2>&1 || {
    apt-get update -qq >>"$RUN_DIR/apt-kubectl.log" 2>&1
    (cd "$debs" && apt-get download kubernetes-client) >>"$RUN_DIR/apt-kubectl.log" 2>&1 || { cat "$RUN_DIR/apt-kubectl.log" >&2; return 1; }
  }
  dpkg -x "$debs"/kubernetes-client_*.deb "$DEBIAN_KUBECTL_DIR"
}
