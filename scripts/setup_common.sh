# Shared by scripts/train.sh and scripts/test.sh (sourced, not run): package installs and the
# CUDA compiler lookup of the README's two commands.

# apt-get install the given Debian packages (through sudo when not root).
apt_install() {
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "== installing: $*"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@"
}

# Puts nvcc on PATH (from /usr/local/cuda/bin when it is not there yet), or exits with a message;
# $1 says what it is needed for.
require_nvcc() {
  command -v nvcc >/dev/null && return 0
  if [ -x /usr/local/cuda/bin/nvcc ]; then
    export PATH=/usr/local/cuda/bin:$PATH
    return 0
  fi
  echo "error: the CUDA Toolkit (nvcc) is needed $1; install it" >&2
  echo "       (https://developer.nvidia.com/cuda-downloads) or put its bin/ folder on PATH" >&2
  exit 1
}
