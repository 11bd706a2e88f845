#!/usr/bin/env bash
# Start the local PostgreSQL and RabbitMQ if they are not answering (development and CI machines).
set -uo pipefail
up() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
wait_up() {
  for _ in $(seq 1 60); do up "$1" && return 0; sleep 1; done
  echo "$2 did not come up on 127.0.0.1:$1" >&2; return 1
}
if ! up 5432; then
  echo "PostgreSQL is down; starting it..."
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  wait_up 5432 PostgreSQL || exit 1
fi
if ! up 5672; then
  echo "RabbitMQ is down; starting it..."
  rabbitmq-server -detached || true
  wait_up 5672 RabbitMQ || exit 1
fi
# The broker accepts TCP before it accepts logins; wait until it answers for real.
for _ in $(seq 1 60); do rabbitmqctl -q status >/dev/null 2>&1 && exit 0; sleep 1; done
echo "RabbitMQ is not answering rabbitmqctl" >&2
exit 1
