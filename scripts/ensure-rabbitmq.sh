#!/usr/bin/env bash
# Make sure a RabbitMQ broker answers: AMQP_URL if set; else 127.0.0.1:5672, starting the local
# rabbitmq-server, or installing Debian's package when running as root, if it is not up.
set -euo pipefail

say() { echo "ensure-rabbitmq: $*"; }
die() { echo "ensure-rabbitmq: $*" >&2; exit 1; }

reachable() {  # host port
  timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

wait_for_port() {  # host port seconds
  local deadline=$((SECONDS + $3))
  while [ $SECONDS -lt $deadline ]; do
    reachable "$1" "$2" && return 0
    sleep 1
  done
  return 1
}

if [ -n "${AMQP_URL:-}" ]; then
  masked=$(printf '%s' "$AMQP_URL" | sed -E 's#(//[^:/@]+:)[^@]*@#\1***@#')
  hostport=$(printf '%s' "$AMQP_URL" | sed -E 's#^amqps?://([^@/]*@)?([^/?]+).*#\2#')
  host=${hostport%:*}
  port=${hostport##*:}
  [ "$port" = "$hostport" ] && port=5672
  reachable "$host" "$port" || die "no broker answers at $masked (AMQP_URL); start it or fix the URL"
  say "broker at $masked answers"
  exit 0
fi

if reachable 127.0.0.1 5672; then
  say "RabbitMQ answers on 127.0.0.1:5672"
  exit 0
fi

server=$(command -v rabbitmq-server || true)
[ -z "$server" ] && [ -x /usr/sbin/rabbitmq-server ] && server=/usr/sbin/rabbitmq-server

if [ -z "$server" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "RabbitMQ is not installed; installing Debian's rabbitmq-server"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
    server=/usr/sbin/rabbitmq-server
    # The package may have started it already.
    if wait_for_port 127.0.0.1 5672 10; then
      say "RabbitMQ installed and running"
      exit 0
    fi
  else
    die "no RabbitMQ on 127.0.0.1:5672 and none installed. Install the rabbitmq-server package \
(sudo apt-get install rabbitmq-server), or run 'docker run -d -p 5672:5672 rabbitmq:3.13', \
or set AMQP_URL to a broker you have."
  fi
fi

say "starting $server -detached"
"$server" -detached >/dev/null 2>&1 || true
if command -v rabbitmqctl >/dev/null 2>&1; then
  timeout 90 rabbitmqctl await_startup >/dev/null 2>&1 || true
fi
wait_for_port 127.0.0.1 5672 60 || die "rabbitmq-server did not start listening on 5672 within 60 s \
(see /var/log/rabbitmq/)"
say "RabbitMQ started"
