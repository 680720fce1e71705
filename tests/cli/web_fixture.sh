# The dashboard's test fixture (source it after tests/lib.sh, with FS, FSS,
# WORK, S, ERRLOG set): a store with manager li and rep zhang (team north),
# manager chen and rep wang (team south), admin root; passwords for li, chen
# and root; serve started on a free port (PORT); zhang's laptop enrolled,
# with a customer (CUSTOMER_ID, a contact), a visit with a commitment
# (VISIT_ID) and a submitted weekly plan with a task (PLAN_ID) synced.
LI_PW='li password 123'
CHEN_PW='chen password 123'
ROOT_PW='root password 123'

web_fixture() {
    local u code
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
    CUSTOMER_ID=$("$FS" --home "$WORK/zhang" customer add --name "Secret Dashboard Customer 控制")
    runc "$FS" --home "$WORK/zhang" contact add --customer "$CUSTOMER_ID" --name "王芳" \
        --position "采购经理" --phone "+86 10 6552 1234"
    runc "$FS" --home "$WORK/zhang" visit add --customer "$CUSTOMER_ID" \
        --time "$(date '+%Y-%m-%d %H:%M')" --place p --purpose p --notes "dashboard notes 谈了报价" \
        --commit "发送报价单|$(date -d tomorrow +%Y-%m-%d)"
    VISIT_ID=$OUT
    local monday
    monday=$(date -d "$(($(date +%u) - 1)) days ago" +%Y-%m-%d)
    runc "$FS" --home "$WORK/zhang" plan add --from "$monday" \
        --to "$(date -d "$monday + 6 days" +%Y-%m-%d)" --goals "sign 2" \
        --task "$monday|拜访华信，演示新版本|15:00-16:00"
    PLAN_ID=$OUT
    runc "$FS" --home "$WORK/zhang" plan submit "$PLAN_ID"
    runc "$FS" --home "$WORK/zhang" sync
    expect "zhang syncs" 0
}
