# The dashboard's test fixture (source it after tests/lib.sh, with FS, FSS,
# WORK, S, ERRLOG set): a store with manager li and rep zhang (team north),
# manager chen and rep wang (team south), admin root; passwords for li, chen
# and root; serve started on a free port (PORT); zhang's laptop enrolled,
# with a customer and a visit synced.
LI_PW='li password 123'
CHEN_PW='chen password 123'
ROOT_PW='root password 123'

web_fixture() {
    local u code customer
    srv init --data "$S"
    for u in "li manager north" "zhang rep north" "chen manager south" "wang rep south" \
        "root admin hq"; do
        set -- $u
        srv user add --data "$S" --name "$1" --role "$2" --team "$3"
    done
    FIELDSYNC_USER_PASSWORD=$LI_PW srv user passwd --data "$S" --name li
    FIELDSYNC_USER_PASSWORD=$CHEN_PW srv user passwd --data "$S" --name chen
    FIELDSYNC_USER_PASSWORD=$ROOT_PW srv user passwd --data "$S" --name root
    expect "passwords set" 0
    start_server 0
    code=$("$FSS" enroll-code --data "$S" --user zhang | tail -n 1)
    runc "$FS" --home "$WORK/zhang" enroll --server "ws://127.0.0.1:$PORT" --code "$code"
    runc "$FS" --home "$WORK/zhang" whoami --set zhang
    customer=$("$FS" --home "$WORK/zhang" customer add --name "Secret Dashboard Customer 控制")
    runc "$FS" --home "$WORK/zhang" visit add --customer "$customer" \
        --time "$(date '+%Y-%m-%d %H:%M')" --place p --purpose p --notes "dashboard notes"
    local monday
    monday=$(date -d "$(($(date +%u) - 1)) days ago" +%Y-%m-%d)
    runc "$FS" --home "$WORK/zhang" plan add --from "$monday" \
        --to "$(date -d "$monday + 6 days" +%Y-%m-%d)" --goals "sign 2"
    PLAN_ID=$OUT
    runc "$FS" --home "$WORK/zhang" plan submit "$PLAN_ID"
    runc "$FS" --home "$WORK/zhang" sync
    expect "zhang syncs" 0
}
