#!/bin/sh
# The cluster's one ACME issuer (the acme-issuer job runs it; jobs/acme-issuer.nomad.hbs).
# Every CHECK_INTERVAL seconds it reads each certificate from its Nomad variable (certs/<name>);
# when there is none, its hostnames changed, or less than 1/$RENEWAL_DIVISOR of its lifetime is
# left (a third: the rule's one source is src/plan/tls.ts, which the job passes it from) or less
# than $RENEW_BEFORE seconds (the target's acme.renewBefore, when set), it
# takes a lock on the Nomad variable $LOCK_PATH (so that only one issuer works at a time even if
# Nomad ever runs two), looks again under the lock, and asks the ACME CA with lego for a new one. HTTP-01 answers are
# files in $WEBROOT, served by the group's challenge task, which Traefik on every worker routes
# /.well-known/acme-challenge/ to. New certificates go back into their variable, where every
# worker's Traefik reads them (the ingress job's template). The ACME account (lego's accounts
# folder, its key included) is kept in the Nomad variable $ACCOUNT_PATH once the CA knows it, and
# a new allocation starts from it: a reschedule does not register another account. Keys stay in
# the task's secrets folder and in Nomad; nothing here prints one.
#
# Environment: CERTIFICATES ("name=host1,host2 name2=host3"), ACME_DIRECTORY, ACME_EMAIL,
# ACME_CA_FILE (may be empty: the CA of the directory's own HTTPS), LOCK_PATH, ACCOUNT_PATH, WEBROOT,
# CHECK_INTERVAL, LEGO_TIMEOUT, RENEWAL_DIVISOR, RENEW_BEFORE, and Nomad's NOMAD_TOKEN and NOMAD_SECRETS_DIR (workload identity).
set -u

work="$NOMAD_SECRETS_DIR/acme"
socket="$NOMAD_SECRETS_DIR/api.sock"
mkdir -p "$work" "$WEBROOT"
chmod 700 "$work"
lock_id=""
# The lock's TTL, kept short and renewed every LOCK_RENEW_SECONDS while held (keep_lock): a lock
# left by an issuer that died holding it (its worker killed, its drain's SIGKILL during lego) is
# free again within 2 x TTL (Nomad doubles it) of its last renewal, or of the last change of
# leader, which restarts every lock's timer at its full doubled TTL (nomad/locks.go
# restoreLockTTLTimers). With a TTL as long as a lego run (150 s) that was 5 minutes after each
# manager restart: a reboot and an upgrade in a row kept one held past a renewal's whole window.
LOCK_TTL_SECONDS="${LOCK_TTL_SECONDS:-30}"
LOCK_RENEW_SECONDS="${LOCK_RENEW_SECONDS:-10}"
renewer=""

log() { printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }

# nomad METHOD PATH [curl args]: the Task API (the agent's socket, this task's identity). Prints
# the HTTP status; the body goes to $work/answer.json.
# NOMAD_ANSWER names another file for the body (the renewer's, beside the loop's own calls).
nomad() {
  method="$1" path="$2"
  shift 2
  curl -sS --max-time 20 --unix-socket "$socket" -H "Authorization: Bearer $NOMAD_TOKEN" \
    -X "$method" -o "${NOMAD_ANSWER:-$work/answer.json}" -w '%{http_code}' "http://localhost$path" "$@"
}

# keep_lock: in the background while the lock is held, renews it every LOCK_RENEW_SECONDS; a
# renewal that succeeds moves lock.at, from which release_lock judges an id expired. A refusal
# (the lock lost: it expired while Nomad did not answer) ends it: release_lock then forgets it.
keep_lock() {
  while sleep "$LOCK_RENEW_SECONDS"; do
    status="$(jq -n --arg path "$LOCK_PATH" --arg id "$lock_id" '{Path: $path, Lock: {ID: $id}}' |
      NOMAD_ANSWER="$work/renew.json" nomad PUT "/v1/var/$LOCK_PATH?lock-renew" --data-binary @- 2>/dev/null)"
    said="$(head -c 200 "$work/renew.json" 2>/dev/null | tr -d '\n')"
    case "$status" in
    2??) date +%s >"$work/lock.at" ;;
    # Refused (a client agent forwards the refusal as a 500): the lock is not ours any more.
    4??) log "renewing the lock $LOCK_PATH answered $status: $said"; return 0 ;;
    *) if echo "$said" | grep -Eq "doesn't hold a lock|attempting to modify locked variable"; then
      log "renewing the lock $LOCK_PATH answered $status: $said"
      return 0
    fi ;;
    esac
  done
}
stop_keeping_lock() {
  [ -n "$renewer" ] || return 0
  kill "$renewer" 2>/dev/null
  wait "$renewer" 2>/dev/null
  renewer=""
  rm -f "$work/renew.json"
}

acquire_lock() {
  # A lock this task took and could not give back yet (Nomad did not answer): given back first.
  release_lock || return 1
  status="$(jq -n --arg path "$LOCK_PATH" --arg alloc "$NOMAD_ALLOC_ID" --arg ttl "$LOCK_TTL_SECONDS" \
    '{Path: $path, Items: {holder: $alloc}, Lock: {TTL: "\($ttl)s", LockDelay: "5s"}}' |
    nomad PUT "/v1/var/$LOCK_PATH?lock-acquire" --data-binary @-)"
  [ "$status" = 200 ] || return 1
  lock_id="$(jq -r '.Lock.ID' "$work/answer.json")"
  date +%s >"$work/lock.at"
  # Kept beside the work: an earlier run of this task (killed while it held the lock, e.g. its
  # host restarted) releases it when it starts again, instead of every issuer waiting out the TTL
  # (which Nomad doubles, and restarts at each change of leader).
  echo "$lock_id" >"$work/lock.id"
  keep_lock &
  renewer=$!
}

# release_lock: stops renewing the lock and gives it back. The id is forgotten only once Nomad
# took it back (2xx), or refused it (4xx: not held with this id, expired meanwhile): a release
# lost to a Nomad that did not answer or failed (a manager restarting) is tried again before the
# next acquire, not left held until its TTL.
release_lock() {
  [ -n "$lock_id" ] || return 0
  stop_keeping_lock
  status="$(jq -n --arg path "$LOCK_PATH" --arg id "$lock_id" '{Path: $path, Lock: {ID: $id}}' |
    nomad PUT "/v1/var/$LOCK_PATH?lock-release" --data-binary @- 2>/dev/null)"
  said="$(head -c 300 "$work/answer.json" 2>/dev/null | tr -d '\n')"
  rm -f "$work/answer.json"
  taken="$(cat "$work/lock.at" 2>/dev/null || echo 0)"
  case "$status" in
  2?? | 4??) ;;
  *)
    # Not ours any more, whatever the status (a Nomad client forwarding the refusal answers 500):
    # the lock expired, or its variable is gone.
    if echo "$said" | grep -Eq "doesn't hold a lock|variable doesn't exist|not found"; then
      log "giving the lock $LOCK_PATH back answered ${status}: $said: it is no longer held"
    # Held past twice its TTL (Nomad doubles it): expired by now; a lock still held after all (its
    # timer restarted by a new leader) only refuses the next acquire until it does expire.
    elif [ $(($(date +%s) - taken)) -gt $((2 * LOCK_TTL_SECONDS)) ]; then
      log "giving the lock $LOCK_PATH back answered ${status:-nothing}${said:+: $said}; taken $(($(date +%s) - taken)) s ago, it has expired by now"
    else
      log "giving the lock $LOCK_PATH back answered ${status:-nothing}${said:+: $said}: tried again later"
      return 1
    fi
    ;;
  esac
  lock_id=""
  rm -f "$work/lock.id" "$work/lock.at"
}
trap 'release_lock; exit 0' TERM INT
# SIGUSR1 (bring-up and deploy send it once DNS points every hostname at the load balancer and a
# certificate is still missing): drop the backoff and look at once, not after the sleep.
# The sleeper is killed too, so a signal that comes as the sleep begins is not lost in it.
trap 'rm -f "$work"/next-*; woken=1; [ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null' USR1
sleeper=""
woken=""

# backoff_seconds FAILURES [LIFETIME]: how long a certificate waits before its next try after
# FAILURES failed issuances in a row: CHECK_INTERVAL, doubled for each failure after the first, at
# most an hour (Let's Encrypt allows 5 failed validations per account and hostname an hour), and
# at most a tenth of the current certificate's LIFETIME (seconds) when there is one, so that a
# renewal that failed for a while (DNS briefly wrong) is tried again well before the old one
# expires: the same hour for 90-day certificates, 30 s for a test CA's 5-minute ones.
backoff_seconds() { n="$1" s="$CHECK_INTERVAL" cap=3600; if [ -n "${2:-}" ] && [ $(($2 / 10)) -lt "$cap" ]; then cap=$(($2 / 10)); [ "$cap" -ge "$CHECK_INTERVAL" ] || cap="$CHECK_INTERVAL"; fi; while [ "$n" -gt 1 ] && [ "$s" -lt "$cap" ]; do s=$((s * 2)); n=$((n - 1)); done; [ "$s" -le "$cap" ] || s="$cap"; echo "$s"; }

# renewal_due LEFT LIFETIME (seconds): the renewal rule, true under 1/RENEWAL_DIVISOR left, or
# under RENEW_BEFORE seconds left when the target sets one (0: none).
renewal_due() { [ $(($1 * $RENEWAL_DIVISOR)) -lt "$2" ] || [ "$1" -lt "${RENEW_BEFORE:-0}" ]; }

date_seconds() { date -d "$(openssl x509 -in "$1" -noout "-$2" | cut -d= -f2)" +%s; }

# due NAME DOMAINS [quiet]: is a new certificate needed? Says why on the log unless quiet.
say() { [ -n "$quiet" ] || log "$@"; }
due() {
  quiet="${3:-}" lifetime=""
  status="$(nomad GET "/v1/var/certs/$1")"
  if [ "$status" = 404 ]; then say "$1: no certificate yet"; return 0; fi
  if [ "$status" != 200 ]; then say "$1: reading certs/$1 answered $status"; return 1; fi
  if [ "$(jq -r '.Items.domains' "$work/answer.json")" != "$2" ]; then
    say "$1: its hostnames changed to $2"
    return 0
  fi
  jq -r '.Items.cert' "$work/answer.json" >"$work/current.pem"
  rm -f "$work/answer.json"
  start="$(date_seconds "$work/current.pem" startdate)"
  end="$(date_seconds "$work/current.pem" enddate)"
  left=$((end - $(date +%s)))
  lifetime=$((end - start))
  if renewal_due "$left" "$lifetime"; then
    say "$1: $left s left of $lifetime s: renewing"
    return 0
  fi
  return 1
}

# restore_account: lego's accounts folder from $ACCOUNT_PATH, when an earlier allocation kept it.
restore_account() {
  status="$(nomad GET "/v1/var/$ACCOUNT_PATH")"
  if [ "$status" = 200 ]; then
    if jq -r '.Items.archive' "$work/answer.json" | base64 -d | tar -xzf - -C "$work/lego" 2>/dev/null; then
      touch "$work/account.kept"
      log "reusing the ACME account kept in $ACCOUNT_PATH"
    else
      log "the ACME account kept in $ACCOUNT_PATH could not be read: lego registers a new one"
    fi
  elif [ "$status" = 404 ]; then
    log "no ACME account kept yet: lego registers one at the first certificate"
  else
    log "reading $ACCOUNT_PATH answered $status: lego registers an account if it needs one"
  fi
  rm -f "$work/answer.json"
}

# keep_account: lego's accounts folder into $ACCOUNT_PATH, when it changed since it was kept.
keep_account() {
  [ -d "$work/lego/accounts" ] || return 0
  if [ -f "$work/account.kept" ] &&
    [ -z "$(find "$work/lego/accounts" -newer "$work/account.kept" -print | head -n 1)" ]; then
    return 0
  fi
  status="$(tar -czf - -C "$work/lego" accounts | base64 | tr -d '\n' |
    jq -Rn --arg path "$ACCOUNT_PATH" '{Path: $path, Items: {archive: input}}' |
    nomad PUT "/v1/var/$ACCOUNT_PATH" --data-binary @-)"
  rm -f "$work/answer.json"
  if [ "$status" = 200 ]; then
    touch "$work/account.kept"
    log "the ACME account is kept in $ACCOUNT_PATH"
  else
    log "keeping the ACME account in $ACCOUNT_PATH answered $status"
  fi
}

# issue NAME DOMAINS: a new certificate from the CA, stored in certs/NAME.
issue() {
  first="${2%%,*}"
  set -- "$1" "$2" --server "$ACME_DIRECTORY" --accept-tos --path "$work/lego" \
    --http --http.webroot "$WEBROOT"
  set -- "$@" --email "$ACME_EMAIL"
  for domain in $(echo "$2" | tr ',' ' '); do set -- "$@" --domains "$domain"; done
  name="$1" domains="$2"
  shift 2
  if ! LEGO_CA_CERTIFICATES="$ACME_CA_FILE" timeout "$LEGO_TIMEOUT" lego "$@" run >"$work/lego.out" 2>&1; then
    cat "$work/lego.out"
    log "$name: the CA did not issue a certificate (lego failed)"
    # A kept account the CA does not know (a test CA restarted): the next try registers anew.
    if grep -q 'accountDoesNotExist' "$work/lego.out"; then
      rm -rf "$work/lego/accounts" "$work/account.kept"
      log "$name: the CA does not know the kept ACME account: the next try registers a new one"
    fi
    rm -f "$work/lego.out"
    keep_account
    return 1
  fi
  cat "$work/lego.out"
  rm -f "$work/lego.out"
  keep_account
  status="$(jq -n --arg path "certs/$name" --arg domains "$domains" \
    --rawfile cert "$work/lego/certificates/$first.crt" \
    --rawfile key "$work/lego/certificates/$first.key" \
    '{Path: $path, Items: {cert: $cert, key: $key, domains: $domains}}' |
    nomad PUT "/v1/var/certs/$name" --data-binary @-)"
  rm -f "$work/answer.json"
  if [ "$status" != 200 ]; then
    log "$name: storing certs/$name answered $status"
    return 1
  fi
  serial="$(openssl x509 -in "$work/lego/certificates/$first.crt" -noout -serial | cut -d= -f2)"
  until="$(openssl x509 -in "$work/lego/certificates/$first.crt" -noout -enddate | cut -d= -f2)"
  log "$name: certificate $serial for $domains stored in certs/$name (valid until $until)"
}

log "issuer for $CERTIFICATES from $ACME_DIRECTORY, every $CHECK_INTERVAL s"
mkdir -p "$work/lego"
if [ -s "$work/lock.id" ]; then
  lock_id="$(cat "$work/lock.id")"
  release_lock && log "released the lock $LOCK_PATH an earlier run of this task held"
fi
restore_account
while :; do
  for spec in $CERTIFICATES; do
    name="${spec%%=*}" domains="${spec#*=}"
    # After failures, the next try waits (backoff_seconds): a broken DNS costs few validations.
    if [ -f "$work/next-$name" ] && [ "$(date +%s)" -lt "$(cat "$work/next-$name")" ]; then
      continue
    fi
    due "$name" "$domains" || continue
    if ! acquire_lock; then
      log "the lock $LOCK_PATH is held by another issuer (or Nomad did not answer): waiting"
      continue
    fi
    # Under the lock, again: another issuer may have just stored one.
    if due "$name" "$domains" quiet; then
      if issue "$name" "$domains"; then
        rm -f "$work/failures-$name" "$work/next-$name"
      else
        failures=$(($(cat "$work/failures-$name" 2>/dev/null || echo 0) + 1))
        wait_s="$(backoff_seconds "$failures" "$lifetime")"
        echo "$failures" >"$work/failures-$name"
        echo $(($(date +%s) + wait_s)) >"$work/next-$name"
        log "$name: $failures failed tries in a row: the next in $wait_s s"
      fi
    fi
    release_lock
  done
  if [ -z "$woken" ]; then
    sleep "$CHECK_INTERVAL" &
    sleeper=$!
    # woken between the check above and here: no wait at all
    [ -n "$woken" ] || wait "$sleeper"
    kill "$sleeper" 2>/dev/null
    sleeper=""
  fi
  [ -z "$woken" ] || log "woken: looking at the certificates now"
  woken=""
done
