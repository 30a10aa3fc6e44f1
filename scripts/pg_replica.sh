#!/usr/bin/env bash
# Makes the local PostgreSQL cluster (127.0.0.1:5432) the primary of a streaming replica on
# 127.0.0.1:5433 (a second cluster, "replica", of the same version), for the tests of reads from a
# replica. Safe to run again: a replica already following the primary is left as it is; a broken
# one is made again. Needs root (or sudo) and Debian's postgresql-common (pg_createcluster).
set -euo pipefail

PRIMARY_PORT=${CEIR_PG_PRIMARY_PORT:-5432}
REPLICA_PORT=${CEIR_PG_REPLICA_PORT:-5433}
NAME=replica

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() { as_root runuser -u postgres -- "$@"; }
fail() { echo "pg_replica: $*" >&2; exit 1; }

command -v pg_createcluster >/dev/null || fail "pg_createcluster not found (postgresql-common)"
pg_isready -q -h 127.0.0.1 -p "$PRIMARY_PORT" || fail "no primary on 127.0.0.1:$PRIMARY_PORT"

# The primary's version and its data directory's cluster (the one listening on PRIMARY_PORT).
read -r VERSION PRIMARY_NAME < <(pg_lsclusters -h | awk -v p="$PRIMARY_PORT" '$3 == p {print $1, $2; exit}')
[ -n "${VERSION:-}" ] || fail "no local cluster listens on port $PRIMARY_PORT"

in_recovery() {
    as_postgres psql -h 127.0.0.1 -p "$REPLICA_PORT" -d postgres -Atqc "SELECT pg_is_in_recovery()" 2>/dev/null
}
streaming() {  # the primary sees a walsender to our replica
    as_postgres psql -h 127.0.0.1 -p "$PRIMARY_PORT" -d postgres -Atqc \
        "SELECT count(*) FROM pg_stat_replication WHERE application_name = '$NAME' AND state = 'streaming'" 2>/dev/null
}

if pg_lsclusters -h | awk -v v="$VERSION" -v n="$NAME" '$1 == v && $2 == n {found=1} END {exit !found}'; then
    as_root install -o postgres -g postgres -m 0640 "$(as_postgres psql -h 127.0.0.1 -p "$PRIMARY_PORT" \
        -d postgres -Atqc "SHOW hba_file")" "/etc/postgresql/$VERSION/$NAME/pg_hba.conf"
    if pg_isready -q -h 127.0.0.1 -p "$REPLICA_PORT"; then
        as_root pg_ctlcluster --skip-systemctl-redirect "$VERSION" "$NAME" reload || true
    else
        as_root pg_ctlcluster --skip-systemctl-redirect "$VERSION" "$NAME" start || true
    fi
    for _ in $(seq 1 20); do
        if [ "$(in_recovery)" = t ] && [ "$(streaming)" = 1 ]; then
            echo "pg_replica: 127.0.0.1:$REPLICA_PORT follows 127.0.0.1:$PRIMARY_PORT"
            exit 0
        fi
        sleep 0.5
    done
    echo "pg_replica: the replica cluster exists but does not stream; making it again" >&2
    as_root pg_dropcluster --stop "$VERSION" "$NAME"
fi

# Replication connections from 127.0.0.1 without a password, as the primary's other local ones.
HBA=$(as_postgres psql -h 127.0.0.1 -p "$PRIMARY_PORT" -d postgres -Atqc "SHOW hba_file")
if ! as_root grep -qE '^host[[:space:]]+replication[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$HBA"; then
    echo "host replication all 127.0.0.1/32 trust  # ceir: local streaming replica (scripts/pg_replica.sh)" \
        | as_root tee -a "$HBA" >/dev/null
    as_postgres psql -h 127.0.0.1 -p "$PRIMARY_PORT" -d postgres -Atqc "SELECT pg_reload_conf()" >/dev/null
fi

as_root pg_createcluster "$VERSION" "$NAME" -p "$REPLICA_PORT" >/dev/null
DATA=$(pg_lsclusters -h | awk -v v="$VERSION" -v n="$NAME" '$1 == v && $2 == n {print $6}')
# The replica admits clients as the primary does (the tests connect as on the primary).
as_root install -o postgres -g postgres -m 0640 "$HBA" "/etc/postgresql/$VERSION/$NAME/pg_hba.conf"
as_root find "$DATA" -mindepth 1 -delete
# -R writes primary_conninfo and standby.signal; application_name names it in pg_stat_replication.
as_postgres pg_basebackup -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$DATA" -X stream -R -c fast --no-sync \
    -d "application_name=$NAME"
# The base backup copied the primary's settings that live in the data directory
# (postgresql.auto.conf); the port is the replica's own, from its /etc config.
as_root pg_ctlcluster --skip-systemctl-redirect "$VERSION" "$NAME" start
for _ in $(seq 1 40); do
    if [ "$(in_recovery)" = t ] && [ "$(streaming)" = 1 ]; then
        echo "pg_replica: made 127.0.0.1:$REPLICA_PORT a streaming replica of 127.0.0.1:$PRIMARY_PORT"
        exit 0
    fi
    sleep 0.5
done
fail "the replica started but does not stream (see /var/log/postgresql/postgresql-$VERSION-$NAME.log)"
