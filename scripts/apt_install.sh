# Sourced by the setup scripts (browser, pdf tools, bench, chaos): install Debian packages that a
# script found missing. apt_install "WHAT THEY ARE FOR" PACKAGE... returns 0 once apt-get installed
# them, else prints the reason on stderr and returns 1. Needs root, or sudo without a password.
apt_install() {
  local purpose="$1"; shift
  local sudo=""
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "missing $* and no apt-get to install it" >&2; return 1
  fi
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo="sudo -n"
    else
      echo "missing $*, and installing it needs root (apt-get install -y $*)" >&2; return 1
    fi
  fi
  echo "== installing $* for $purpose (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  # The package lists may be fresh already: try without an update first.
  if $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; then
    return 0
  fi
  $sudo apt-get update -qq >/dev/null 2>&1 || { echo "apt-get update failed" >&2; return 1; }
  $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 || {
    echo "apt-get install $* failed" >&2; return 1; }
}
