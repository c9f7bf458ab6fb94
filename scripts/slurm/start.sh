#!/usr/bin/env bash
# Start a real one-node Slurm cluster on this machine (root, no systemd), for the tests and for trying
# cluster configs locally. Idempotent: what already runs is left alone.
# munge + MariaDB + slurmdbd (so sacct works) + slurmctld + slurmd; partition `debug` = this host.
# SLURM_CI_DIR: state, logs and DB (default /tmp/local-slurm). SLURM_ACCOUNTING=0 skips the DB.
# Installs Debian's packages when missing (apt). Stop with scripts/slurm/stop.sh [--purge].
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "$0: must run as root (it starts system daemons)" >&2; exit 1; }
BASE=${SLURM_CI_DIR:-/tmp/local-slurm}; ACCT=${SLURM_ACCOUNTING:-1}; H=$(hostname -s)
mkdir -p "$BASE"/{state,spool,log,run}
wait_for() { for _ in $(seq 120); do eval "$1" >/dev/null 2>&1 && return 0; sleep 0.25; done; echo "timeout: $1" >&2; return 1; }
alive() { [ -s "$1" ] && [ "$(ps -o comm= -p "$(cat "$1")" 2>/dev/null)" = "$2" ]; }

# 1. packages (policy-rc.d keeps apt from starting the services itself)
PKGS="munge slurmctld slurmd slurm-client"; [ "$ACCT" = 1 ] && PKGS="$PKGS slurmdbd mariadb-server"
MISSING=$(for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -n "$MISSING" ]; then
  [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $MISSING >/dev/null
fi

# 2. munge (key is created by the package's postinst; make one if absent)
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  [ -s /etc/munge/munge.key ] || mungekey --create
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
  install -d -o munge -g munge -m 755 /run/munge
  runuser -u munge -- munged
  wait_for 'munge -n | unmunge'; cp /run/munge/munged.pid "$BASE/run/munged.pid"
fi

# 3. slurm.conf
MEM=$(( $(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p') - 1024 ))
if [ "$ACCT" = 1 ]; then ACC="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/linux"; else ACC="AccountingStorageType=accounting_storage/none"; fi
# The node's CPUs as the machine has them: nproc alone honours OMP_NUM_THREADS, which a test
# process may set to its share of the cores.
cat >/etc/slurm/slurm.conf <<EOF
ClusterName=ci
SlurmctldHost=$H(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
AuthInfo=cred_expire=10
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
$ACC
JobCompType=jobcomp/none
EnforcePartLimits=ALL
ReturnToService=2
KillWait=5
SchedulerParameters=sched_interval=5
MailProg=/bin/true
StateSaveLocation=$BASE/state
SlurmdSpoolDir=$BASE/spool
SlurmctldPidFile=$BASE/run/slurmctld.pid
SlurmdPidFile=$BASE/run/slurmd.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
NodeName=$H NodeAddr=127.0.0.1 CPUs=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc) RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

# 4. accounting: MariaDB (unix socket only, data under $BASE) + slurmdbd
if [ "$ACCT" = 1 ]; then
  if ! mariadb-admin ping >/dev/null 2>&1; then
    if [ ! -d "$BASE/mysql/mysql" ]; then
      install -d -o mysql -g mysql "$BASE/mysql"
      mariadb-install-db --user=mysql --datadir="$BASE/mysql" --auth-root-authentication-method=socket \
        --skip-test-db >"$BASE/log/mariadb-install.log" 2>&1
    fi
    install -d -o mysql -g root -m 755 /run/mysqld
    setsid mariadbd --user=mysql --datadir="$BASE/mysql" --skip-networking --innodb-buffer-pool-size=64M \
      --pid-file="$BASE/mysql/mariadb.pid" --log-error="$BASE/mysql/mariadb.err" </dev/null >/dev/null 2>&1 &
    wait_for 'mariadb-admin ping'
  fi
  mariadb -e "CREATE USER IF NOT EXISTS slurm@localhost IDENTIFIED BY 'slurm';
              GRANT ALL ON slurm_acct_db.* TO slurm@localhost;"
  install -m 600 /dev/stdin /etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
LogFile=$BASE/log/slurmdbd.log
PidFile=$BASE/run/slurmdbd.pid
EOF
  alive "$BASE/run/slurmdbd.pid" slurmdbd || slurmdbd
  wait_for 'sacctmgr -n list cluster'
fi

# 5. slurmctld + slurmd (they daemonize and write their pid files)
alive "$BASE/run/slurmctld.pid" slurmctld || slurmctld
wait_for 'scontrol ping | grep -q UP'
alive "$BASE/run/slurmd.pid" slurmd || slurmd
wait_for "sinfo -h -n $H -o %T | grep -Eq '^(idle|mixed|allocated)'" || {
  scontrol update nodename="$H" state=resume; wait_for "sinfo -h -n $H -o %T | grep -qx idle"; }
sinfo
