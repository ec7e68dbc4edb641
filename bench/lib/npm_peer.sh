# Sourced by the benchmark scripts that measure a peer from npm.
#
# install_peer DIR CHECK PACKAGES...: the packages installed into the scratch
# folder DIR once (npm init there first); CHECK is a node -e script that
# exits non-zero when what is installed is missing or the wrong version,
# and the packages are installed again then.
install_peer() {
  local dir="$1" check="$2"
  shift 2
  if ! (cd "$dir" 2>/dev/null && node -e "$check" 2>/dev/null); then
    echo "installing $* into $dir"
    mkdir -p "$dir"
    (cd "$dir" && { [[ -f package.json ]] || npm init -y >/dev/null; } &&
       npm install --no-audit --no-fund "$@" >/dev/null)
  fi
}
