#!/bin/sh
# /toxiproxy in durabench images: accepts toxiproxy-server's flags and runs the embedded
# Toxiproxy-compatible server (python -m harness.net serve). Supported: -host, -port, -seed
# (as -flag=value or -flag value) and -version. Anything else is refused rather than silently
# ignored.
set -eu
host=localhost
port=8474
seed=""
while [ $# -gt 0 ]; do
  case "$1" in
    -host=*|--host=*) host=${1#*=} ;;
    -port=*|--port=*) port=${1#*=} ;;
    -seed=*|--seed=*) seed=${1#*=} ;;
    -version|--version)
      exec python -c 'from harness.net._api import VERSION; print(f"toxiproxy-server version {VERSION}")' ;;
    -host|--host|-port|--port|-seed|--seed)
      [ $# -ge 2 ] || { echo "toxiproxy: $1 needs a value" >&2; exit 2; }
      case "$1" in *host) host=$2 ;; *port) port=$2 ;; *seed) seed=$2 ;; esac
      shift ;;
    *)
      echo "toxiproxy (durabench embedded server): unsupported argument '$1';" \
           "supported: -host, -port, -seed, -version" >&2
      exit 2 ;;
  esac
  shift
done
[ "$host" = localhost ] && host=127.0.0.1
if [ -n "$seed" ]; then
  exec python -m harness.net serve --host "$host" --port "$port" --seed "$seed"
fi
exec python -m harness.net serve --host "$host" --port "$port"
