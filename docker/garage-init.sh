#!/bin/sh
# Provisions the single-node Garage of docker/compose.yaml through Garage's admin API (v2):
#   1. waits for the admin API to answer;
#   2. gives this node a role in the cluster layout (zone dc1) and applies it, unless it has one;
#   3. waits until the cluster is healthy;
#   4. creates the bucket GARAGE_BUCKET unless it exists;
#   5. imports the access key GARAGE_KEY_ID / GARAGE_SECRET unless it exists (and fails if a key
#      with that id exists with another secret);
#   6. allows the key to read and write the bucket.
# Every step checks first, so running it again (every `docker compose up`) changes nothing.
#
# POSIX sh with curl, sed, grep and tr only (runs in the curlimages/curl image: busybox, no jq).
#
# Environment:
#   GARAGE_ADMIN_URL     admin API base URL             (default http://garage:3903)
#   GARAGE_ADMIN_TOKEN   admin_token of Garage           (required)
#   GARAGE_KEY_ID        access key id to import         (required; Garage's own ids look like
#                        GK + 24 hex digits; Garage accepts 8+ characters of [A-Za-z0-9_.-])
#   GARAGE_SECRET        secret key                      (required; Garage's own are 64 hex
#                        digits; Garage accepts 16+ printable ASCII characters, no space)
#   GARAGE_BUCKET        bucket name                     (default tessera)
#   GARAGE_ZONE          zone of the node                (default dc1)
#   GARAGE_CAPACITY      capacity of the node, bytes     (default: size of Garage's data disk,
#                        as `garage server --single-node` does; 1 GB if Garage does not report it)
#   GARAGE_INIT_TIMEOUT  seconds to wait for the API and for cluster health (default 120)
set -eu

ADMIN_URL="${GARAGE_ADMIN_URL:-http://garage:3903}"
ADMIN_URL="${ADMIN_URL%/}"
BUCKET="${GARAGE_BUCKET:-tessera}"
ZONE="${GARAGE_ZONE:-dc1}"
CAPACITY="${GARAGE_CAPACITY:-}"
TIMEOUT="${GARAGE_INIT_TIMEOUT:-120}"
TOKEN="${GARAGE_ADMIN_TOKEN:-}"
KEY_ID="${GARAGE_KEY_ID:-}"
SECRET="${GARAGE_SECRET:-}"

log() { echo "garage-init: $*" >&2; }
die() {
    echo "garage-init: ERROR: $*" >&2
    exit 1
}

# ---- settings -------------------------------------------------------------------------------
[ -n "$TOKEN" ] || die "GARAGE_ADMIN_TOKEN is not set (the admin_token of Garage)"
[ -n "$KEY_ID" ] || die "GARAGE_KEY_ID is not set (the access key id to create, e.g. GK + 24 hex digits)"
[ -n "$SECRET" ] || die "GARAGE_SECRET is not set (the secret of that key, e.g. 64 hex digits)"
# The rules Garage's ImportKey applies (garage_model Key::import), checked here for a clear message.
[ "${#KEY_ID}" -ge 8 ] || die "GARAGE_KEY_ID must be at least 8 characters (Garage's own: GK + 24 hex digits)"
printf '%s' "$KEY_ID" | grep -q '^[A-Za-z0-9_.-]*$' \
    || die "GARAGE_KEY_ID may hold only ASCII letters, digits and - _ . (Garage's own: GK + 24 hex digits)"
[ "${#SECRET}" -ge 16 ] || die "GARAGE_SECRET must be at least 16 characters (Garage's own: 64 hex digits)"
printf '%s' "$SECRET" | grep -q '^[!-~]*$' \
    || die "GARAGE_SECRET may hold only printable ASCII characters without spaces (Garage's own: 64 hex digits)"
printf '%s' "$BUCKET" | grep -Eq '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$' \
    || die "GARAGE_BUCKET '$BUCKET' is not a valid S3 bucket name (3-63 of a-z 0-9 . -)"
printf '%s' "$ZONE" | grep -q '^[A-Za-z0-9_.-][A-Za-z0-9_.-]*$' || die "GARAGE_ZONE '$ZONE' must be a plain word"
[ -z "$CAPACITY" ] || printf '%s' "$CAPACITY" | grep -q '^[1-9][0-9]*$' \
    || die "GARAGE_CAPACITY must be a number of bytes, got '$CAPACITY'"
printf '%s' "$TIMEOUT" | grep -q '^[0-9][0-9]*$' || die "GARAGE_INIT_TIMEOUT must be a number of seconds"
command -v curl >/dev/null 2>&1 || die "curl is not installed"

# ---- admin API ------------------------------------------------------------------------------
# api METHOD ENDPOINT [JSON]: sets STATUS (HTTP status; 000 if no answer, as curl's -w prints it
# then too) and BODY (the answer, or curl's error, flattened to one line without the whitespace
# around JSON punctuation, so the patterns below do not depend on how Garage indents).
STATUS=000
BODY=""
api() {
    _method="$1"
    _url="$ADMIN_URL/v2/$2"
    if [ $# -ge 3 ]; then
        _out="$(curl -sS --connect-timeout 5 --max-time 30 -X "$_method" \
            -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
            --data-binary "$3" -w '\n%{http_code}' "$_url" 2>&1)" || :
    else
        _out="$(curl -sS --connect-timeout 5 --max-time 30 -X "$_method" \
            -H "Authorization: Bearer $TOKEN" -w '\n%{http_code}' "$_url" 2>&1)" || :
    fi
    STATUS="${_out##*
}"
    BODY="$(printf '%s' "${_out%
*}" | tr -d '\n\r' | sed 's/":[[:space:]]*/":/g; s/[[:space:]]*\([],{}[]\)[[:space:]]*/\1/g')"
}

# Fails with the answer unless the last call returned 200.
expect_ok() {
    [ "$STATUS" = 200 ] || die "$1 failed: HTTP $STATUS from $ADMIN_URL: $BODY"
}

# json_escape STRING: the string as the inside of a JSON string literal.
json_escape() { printf '%s' "$1" | sed 's/[\\"]/\\&/g'; }

# ---- 1. wait for the admin API --------------------------------------------------------------
log "waiting for Garage's admin API at $ADMIN_URL (up to ${TIMEOUT}s)"
waited=0
while :; do
    api GET GetClusterStatus
    case "$STATUS" in
    200) break ;;
    401 | 403) die "Garage refused the admin token (HTTP $STATUS): GARAGE_ADMIN_TOKEN must be the admin_token Garage runs with: $BODY" ;;
    esac
    [ "$waited" -lt "$TIMEOUT" ] || die "no answer from Garage's admin API at $ADMIN_URL after ${TIMEOUT}s (last: HTTP $STATUS $BODY)"
    sleep 2
    waited=$((waited + 2))
done
log "admin API is up"

# ---- 2. layout ------------------------------------------------------------------------------
api GET 'GetNodeInfo?node=self'
expect_ok "GetNodeInfo"
NODE_ID="$(printf '%s' "$BODY" | sed -n 's/.*"nodeId":"\([0-9a-f]\{64\}\)".*/\1/p')"
[ -n "$NODE_ID" ] || die "could not read this node's id from GetNodeInfo: $BODY"
SHORT_ID="$(printf '%.16s' "$NODE_ID")"

api GET GetClusterLayout
expect_ok "GetClusterLayout"
LAYOUT_VERSION="$(printf '%s' "$BODY" | grep -o '"version":[0-9][0-9]*' | head -n 1 | sed 's/.*://')"
[ -n "$LAYOUT_VERSION" ] || die "could not read the layout version from GetClusterLayout: $BODY"
# The roles of the current layout come before its "parameters".
ROLES="$(printf '%s' "$BODY" | sed -n 's/.*"roles":\[\(.*\)\],"parameters":.*/\1/p')"
if printf '%s' "$ROLES" | grep -q "\"id\":\"$NODE_ID\""; then
    log "layout: node $SHORT_ID already has a role (layout version $LAYOUT_VERSION)"
else
    if [ -z "$CAPACITY" ]; then
        api GET 'GetNodeInfo?node=self'
        expect_ok "GetNodeInfo"
        CAPACITY="$(printf '%s' "$BODY" | sed -n 's/.*"dataPartition":{[^}]*"total":\([0-9][0-9]*\).*/\1/p')"
        [ -n "$CAPACITY" ] || CAPACITY=1000000000
    fi
    log "layout: assigning node $SHORT_ID zone $ZONE, capacity $CAPACITY bytes"
    api POST UpdateClusterLayout \
        "{\"roles\":[{\"id\":\"$NODE_ID\",\"zone\":\"$(json_escape "$ZONE")\",\"capacity\":$CAPACITY,\"tags\":[]}]}"
    expect_ok "UpdateClusterLayout"
    NEW_VERSION=$((LAYOUT_VERSION + 1))
    api POST ApplyClusterLayout "{\"version\":$NEW_VERSION}"
    expect_ok "ApplyClusterLayout (version $NEW_VERSION)"
    log "layout: version $NEW_VERSION applied"
fi

# ---- 3. wait for the cluster to be healthy --------------------------------------------------
waited=0
while :; do
    api GET GetClusterHealth
    if [ "$STATUS" = 200 ] && printf '%s' "$BODY" | grep -q '"status":"healthy"'; then
        break
    fi
    [ "$waited" -lt "$TIMEOUT" ] || die "the cluster is not healthy after ${TIMEOUT}s (last: HTTP $STATUS $BODY)"
    sleep 1
    waited=$((waited + 1))
done
log "cluster is healthy"

# ---- 4. bucket ------------------------------------------------------------------------------
bucket_id() { printf '%s' "$BODY" | sed -n 's/^{"id":"\([0-9a-f]\{64\}\)".*/\1/p'; }
api GET "GetBucketInfo?globalAlias=$BUCKET"
case "$STATUS" in
200) log "bucket $BUCKET exists" ;;
404)
    api POST CreateBucket "{\"globalAlias\":\"$BUCKET\"}"
    expect_ok "CreateBucket $BUCKET"
    log "bucket $BUCKET created"
    ;;
*) die "GetBucketInfo $BUCKET failed: HTTP $STATUS: $BODY" ;;
esac
BUCKET_ID="$(bucket_id)"
[ -n "$BUCKET_ID" ] || die "could not read the id of bucket $BUCKET from: $BODY"

# ---- 5. key ---------------------------------------------------------------------------------
api GET "GetKeyInfo?id=$KEY_ID&showSecretKey=true"
case "$STATUS" in
200)
    printf '%s' "$BODY" | grep -qF "\"secretAccessKey\":\"$(json_escape "$SECRET")\"" \
        || die "access key $KEY_ID already exists in Garage with another secret than GARAGE_SECRET: set GARAGE_SECRET back to the secret it was created with, or use a new GARAGE_KEY_ID"
    log "access key $KEY_ID exists"
    ;;
404)
    api POST ImportKey \
        "{\"accessKeyId\":\"$KEY_ID\",\"secretAccessKey\":\"$(json_escape "$SECRET")\",\"name\":\"tessera\"}"
    case "$STATUS" in
    200) log "access key $KEY_ID imported" ;;
    409) die "access key id $KEY_ID was used before and deleted; Garage does not take it back: use a new GARAGE_KEY_ID" ;;
    *) die "ImportKey $KEY_ID failed: HTTP $STATUS: $BODY" ;;
    esac
    ;;
*) die "GetKeyInfo $KEY_ID failed: HTTP $STATUS: $BODY" ;;
esac

# ---- 6. permissions -------------------------------------------------------------------------
api POST AllowBucketKey \
    "{\"bucketId\":\"$BUCKET_ID\",\"accessKeyId\":\"$KEY_ID\",\"permissions\":{\"read\":true,\"write\":true,\"owner\":false}}"
expect_ok "AllowBucketKey ($KEY_ID on $BUCKET)"
printf '%s' "$BODY" | grep -q "\"accessKeyId\":\"$KEY_ID\",[^}]*\"permissions\":{\"read\":true,\"write\":true" \
    || die "after AllowBucketKey, key $KEY_ID still lacks read/write on bucket $BUCKET: $BODY"
log "access key $KEY_ID may read and write bucket $BUCKET"
log "done: Garage is ready for Tessera"
