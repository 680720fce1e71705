#!/usr/bin/env bash
# fieldsync-server's commands in Chinese (issue 17 point 1, the server's
# side): under LANG=zh_CN.UTF-8 init, user add, user passwd, enroll-code,
# device revoke, audit verify, status, restore and the option and command
# errors say their results and refusals in Chinese, and the usage texts
# (--help of the server and of each command, the usage after a command
# error; issue 17.1) are Chinese too, with the same exit
# status as under LANG=C, where they are English. The untranslated-message
# check: no English word of four letters or more in the Chinese output but
# the commands, options and names typed as is (the list below). Works
# whether or not the zh_CN.UTF-8 locale is installed (srv_lang in
# server/team.c falls back to C.UTF-8 + LANGUAGE, as the client does).
#
#   bash tests/cli/test_srvlang.sh path/to/fieldsync-server
# (FS_SHOW=1 prints what each Chinese output showed.)
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FSS=${1:?usage: test_srvlang.sh path/to/fieldsync-server}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fieldsync-srvlang-XXXXXX")
ERRLOG=$WORK/all-stderr
S=$WORK/server
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
export FIELDSYNC_PASSPHRASE='srvlang test passphrase -- 5d1e'
unset LC_ALL LC_MESSAGES LANGUAGE
export LANG=C
zh() { LANG=zh_CN.UTF-8 runc "$FSS" "$@"; }
en() { LANG=C runc "$FSS" "$@"; }
show() { [ -n "${FS_SHOW-}" ] && printf -- '--- %s\n%s\n' "$1" "$2"; return 0; }

# Latin words a Chinese screen of the server's keeps: commands, options,
# placeholders, the users' names and the flags' values typed as is; in the
# usage texts also the settings' names, signals, file names, the words
# serve prints as is ("listening on") and the names SQLite and Argon2id.
ALLOWED='fieldsync server init user passwd enroll code device revoke audit verify show head
status restore backup serve team help data name role team ttl hours list json discard
unsent after push expect from listen lease enable disable move zhang north manager admin
rep wang TEAM NAME HOST PORT SEQ MAC UTF FIELDSYNC_PASSPHRASE FIELDSYNC_USER_PASSWORD flying
frobnicate colour nobody abcdef boss replica
COMMAND options BACKUP DATE DURATION FILE FINGERPRINT PREFIX MODE ZONE YYYY PENDING
FIELDSYNC_DATA _LISTEN _LEASE _TLS_CERT _TLS_KEY _INSECURE_HTTP tls cert insecure http
https config conf value control sock clear holiday holidays workday export open forbidden
sealed plaintext team_set version websocket listening SIGTERM SIGINT SIGHUP SQLite Argon
passphrase chars words compact keep days rotate retire
store migrate postgresql PostgreSQL USER PGPASSFILE every'
english_left() { # TEXT: the words of 4+ Latin letters not in ALLOWED
    local w
    for w in $(sed "s|$WORK|DIR|g" <<<"$1" | grep -oE '[A-Za-z_]{4,}' | sort -u); do
        grep -qwF -- "$w" <<<"$ALLOWED" || printf '%s ' "$w"
    done
}
ZH_ALL=
collect() { ZH_ALL+=$'\n'"$OUT"$'\n'"$ERR"; show "$1" "$OUT$ERR"; }

# ---- init ----
zh init --data "$S"
expect "init in Chinese" 0
contains "says the store is made, in Chinese" "$OUT" "已在 $S 中创建服务器存储库"
contains "and the key's fingerprint" "$OUT" "服务器密钥指纹："
OUT=$(sed '$d' <<<"$OUT") collect "init" # not the fingerprint
zh init --data "$S"
expect "init again: exit 2" 2 "--data：$S 中已有存储库"
collect "init again"
en init --data "$S"
expect "in English with LANG=C" 2 "--data: $S already holds a store"

zh device list --data "$S"
expect "device list of a new store" 0 ""
contains "says there are none, in Chinese" "$OUT" "没有已注册的设备"

# ---- users ----
zh user add --data "$S" --name zhang --role rep --team north
expect "user add in Chinese" 0 ""
contains "says who was added, the role in words" "$OUT" "已添加用户 zhang（销售代表，团队 north）"
collect "user add"
zh user add --data "$S" --name zhang --role rep --team north
expect "the same user again: exit 2, in Chinese" 2 "--name：该用户已存在"
collect "user add again"
en user add --data "$S" --name zhang --role rep --team north
expect "and in English" 2 "--name: the user exists already"
zh user add --data "$S" --name li --role boss --team north
expect "a bad role: exit 2, in Chinese" 2 "--role：应为 rep、manager 或 admin"
collect "user add --role boss"
zh user add --data "$S" --name li --role manager --team north --colour red
expect "an unknown option: exit 2, in Chinese" 2 "未知选项 --colour（见 --help）"
collect "unknown option"
en user add --data "$S" --name li --role manager --team north --colour red
expect "and in English" 2 "unknown option --colour (see --help)"
zh user add --data "$S" --name li --role manager --team north
expect "a manager" 0
FIELDSYNC_USER_PASSWORD='flying pig forty two' zh user passwd --data "$S" --name li
expect "user passwd in Chinese" 0 ""
contains "says so" "$OUT" "已为 li 设置密码"
collect "user passwd"
FIELDSYNC_USER_PASSWORD='flying pig forty two' zh user passwd --data "$S" --name nobody
expect "no such user: exit 2, in Chinese" 2 "--name：没有这个用户"
collect "user passwd nobody"

# ---- enroll-code, device ----
zh enroll-code --data "$S" --user zhang
expect "enroll-code in Chinese" 0
contains "says for whom and how long" "$OUT" "zhang 的一次性注册码，"
code=$(tail -n 1 <<<"$OUT")
OUT=$(sed '$d' <<<"$OUT") collect "enroll-code" # not the code
en enroll-code --data "$S" --user zhang
contains "in English" "$OUT" "one-time enrollment code for zhang"
contains "the code is still the last line in Chinese" "$code" "FS1-"
zh enroll-code --data "$S" --user nobody
expect "an unknown user: exit 2, in Chinese" 2 "--user：没有这个用户（请用 'user add' 添加）"
collect "enroll-code nobody"
zh enroll-code --data "$S" --user zhang --ttl-hours 0
expect "a bad lifetime: exit 2, in Chinese" 2 "--ttl-hours：应为 1 到"
collect "enroll-code --ttl-hours 0"
zh device revoke --data "$S" --device zz
expect "a bad fingerprint: exit 2, in Chinese" 2 "--device：应为指纹的"
collect "device revoke zz"
zh device revoke --data "$S" --device abcdef
expect "no such device: exit 2, in Chinese" 2 "--device：没有指纹为 abcdef... 的设备"
collect "device revoke abcdef"
en device revoke --data "$S" --device abcdef
expect "and in English" 2 "--device: no device with fingerprint abcdef..."
zh device frobnicate --data "$S"
expect "a bad subcommand: exit 2, in Chinese" 2 "device：应为 'device list' 或 'device revoke'"
contains "the usage after it in Chinese" "$ERR" "用法：fieldsync-server device list"
collect "device frobnicate"

# ---- audit, status ----
zh audit verify --data "$S"
expect "audit verify in Chinese" 0
contains "says the chain is whole" "$OUT" "条，链完整；链头 "
collect "audit verify"
en audit verify --data "$S"
contains "in English" "$OUT" "entries, chain intact; head "
zh audit verify --data "$S" --expect-head nonsense
expect "a bad head: exit 2, in Chinese" 2 "--expect-head：应为 audit head 打印的 SEQ:MAC"
collect "audit verify --expect-head nonsense"
zh status --data "$S"
expect "status with no serve: exit 3" 3
contains "says it is not serving, in Chinese" "$OUT" "服务中：      否："
contains "counts the devices" "$OUT" "设备：        已注册 0 台，已吊销 0 台"
collect "status"
en status --data "$S"
expect "the same exit in English" 3
contains "in English" "$OUT" "serving:        NO: no serve answers on"
zh status --data "$S" --json
ZH_JSON=$OUT
en status --data "$S" --json
equal "status --json is the same in both" "$ZH_JSON" "$OUT"

# ---- restore, a wrong passphrase, an unknown command ----
zh restore --data "$S" --from "$WORK/x"
expect "restore from nothing: exit 2, in Chinese" 2 "--from：$WORK/x 中没有服务器存储库"
collect "restore --from nothing"
FIELDSYNC_PASSPHRASE='not the passphrase' zh audit verify --data "$S"
expect "a wrong passphrase: exit 1, in Chinese" 1 "口令错误（FIELDSYNC_PASSPHRASE 或终端）"
collect "wrong passphrase"
# no passphrase and no terminal (setsid: none to open), an empty one, and
# an empty dashboard password: the core's English reasons said in Chinese
ERR=$(LANG=zh_CN.UTF-8 setsid -w env -u FIELDSYNC_PASSPHRASE "$FSS" audit verify --data "$S" \
    </dev/null 2>&1 >/dev/null)
contains "no passphrase and no terminal, in Chinese" "$ERR" \
    "没有口令：请设置 FIELDSYNC_PASSPHRASE，或在终端中运行"
OUT= collect "no passphrase"
FIELDSYNC_PASSPHRASE= zh audit verify --data "$S"
expect "an empty passphrase: refused in Chinese" 2 "已设置 FIELDSYNC_PASSPHRASE，但其值为空"
collect "empty passphrase"
FIELDSYNC_USER_PASSWORD= zh user passwd --data "$S" --name li
expect "an empty password: refused in Chinese" 2 "已设置 FIELDSYNC_USER_PASSWORD，但其值为空"
collect "empty password"
zh frobnicate --data "$S"
expect "an unknown command: exit 2, in Chinese" 2 "未知命令 'frobnicate'（见 help）"
contains "the usage after it in Chinese" "$ERR" "用法：fieldsync-server 命令"
collect "unknown command"
en frobnicate --data "$S"
expect "and in English" 2 "unknown command 'frobnicate' (see help)"

# ---- the usage texts (--help): Chinese under zh_CN, English under C ----
# Each: the arguments, a line of its Chinese text, a line of its English.
usage_case() {
    local what=$1 zh_line=$2 en_line=$3
    shift 3
    zh "$@"
    local zrc=$RC zout=$OUT
    expect "$what in Chinese: exit 0" 0 ""
    contains "$what: says how, in Chinese" "$OUT" "$zh_line"
    collect "$what"
    en "$@"
    expect "$what in English: the same exit" "$zrc" ""
    contains "$what: in English" "$OUT" "$en_line"
    equal "$what: the same number of usage lines in both" \
        "$(grep -c 'fieldsync-server' <<<"$zout")" "$(grep -c 'fieldsync-server' <<<"$OUT")"
}
usage_case "fieldsync-server --help" "init --data DIR                       创建服务器存储库" \
    "init --data DIR                       create the server store" --help
usage_case "fieldsync-server help" "退出码：0 完成，1 运行时错误，2 命令行有误。" \
    "Exit status: 0 done, 1 runtime error, 2 bad command line." help
usage_case "user --help" "停用的用户（已离职者）不能登录" \
    "A disabled user (one who left) cannot log in" user --help
usage_case "user add --help" "用法：fieldsync-server user add --data DIR" \
    "usage: fieldsync-server user add --data DIR" user add --help
usage_case "team --help" "团队的时区、工作时间（周一至周五）" \
    "The team's time zone, working hours (Monday to Friday)" team --help
usage_case "team set --help" "用法：fieldsync-server team set --data DIR" \
    "usage: fieldsync-server team set --data DIR" team set --data "$S" --help
usage_case "restore --help" "放回数据目录的备份" "Puts back a backup of the data directory" \
    restore --help
usage_case "backup --help" "用 restore 放回。" "Put it back with restore." backup --help
usage_case "export --help" "export-key 生成公司的导出密钥（仅一次）" \
    "export-key makes the company's export key (once)" export --help
usage_case "export-key --help" "用法：fieldsync-server export-key --data DIR" \
    "usage: fieldsync-server export-key --data DIR" export-key --help
usage_case "init --help" "并在最后一行打印服务器密钥指纹" \
    "prints the server key fingerprint on the last line" init --help
usage_case "enroll-code --help" "一次性注册码" "one-time enrollment code" enroll-code --help
usage_case "device --help" "只有加上以下之一才会吊销" "is revoked only with one of" device --help
usage_case "audit --help" "以 SEQ:MAC 形式打印链头" "audit head prints the chain's head" \
    audit --help
usage_case "status --help" "服务器的状况" "How the server is doing" status --help
# serve keeps the C locale for its log, but its --help is the operator's
usage_case "serve --help" "直到 SIGTERM 或 SIGINT" "until SIGTERM or SIGINT" serve --help
# a usage error: the usage after the refusal in Chinese, the same exit
zh user frobnicate --data "$S"
expect "a bad user subcommand: exit 2, in Chinese" 2 "用法：fieldsync-server user add"
collect "user frobnicate"
en user frobnicate --data "$S"
expect "and in English" 2 "usage: fieldsync-server user add"
zh
expect "no command at all: exit 2, the usage in Chinese" 2 "用法：fieldsync-server 命令"
collect "no command"
en
expect "and in English" 2 "usage: fieldsync-server COMMAND"

# Traditional Chinese: po/zh_TW.po (zh_HK too)
LANG=zh_TW.UTF-8 runc "$FSS" user add --data "$S" --name li2 --role boss --team north
expect "a bad role under zh_TW.UTF-8: Traditional characters" 2 "--role：應為 rep、manager 或 admin"
LANG=zh_HK.UTF-8 runc "$FSS" user add --data "$S" --name zhang --role rep --team north
expect "zh_HK: Traditional too" 2 "--name：該使用者已存在"
LANG=zh_TW.UTF-8 runc "$FSS" --help
expect "--help under zh_TW.UTF-8: exit 0" 0 ""
contains "the usage in Traditional characters" "$OUT" "init --data DIR                       建立伺服器儲存庫"

# ---- forwarded to a running serve (DATA/control.sock): the request carries
# the operator's language and serve runs that command in it, on its thread
# alone; serve's log stays English. Chinese needs the zh_CN locale where
# serve runs (uselocale); without it the answer is English, as documented.
if locale -a 2>/dev/null | grep -qiE '^zh_CN\.utf-?8$'; then fwd_zh=1; else fwd_zh=0; fi
start_server 0
zh_or() { if [ "$fwd_zh" = 1 ]; then printf '%s' "$1"; else printf '%s' "$2"; fi; }
zh user add --data "$S" --name wang --role rep --team north
expect "forwarded user add: exit 0" 0 ""
contains "says who was added, in the operator's language" "$OUT" \
    "$(zh_or '已添加用户 wang（销售代表，团队 north）' 'added user wang (rep, team north)')"
collect "forwarded user add"
zh user add --data "$S" --name wang --role rep --team north
expect "forwarded, the same user again: exit 2" 2 "$(zh_or '--name：该用户已存在' '--name: the user exists already')"
collect "forwarded user add again"
en user add --data "$S" --name wang --role rep --team north
expect "and under LANG=C: English, the same exit" 2 "--name: the user exists already"
zh enroll-code --data "$S" --user nobody
expect "forwarded, an unknown user: exit 2" 2 \
    "$(zh_or "--user：没有这个用户（请用 'user add' 添加）" '--user: no such user')"
collect "forwarded enroll-code nobody"
en enroll-code --data "$S" --user nobody
expect "and under LANG=C: English, the same exit" 2 "--user: no such user"
zh device list --data "$S"
expect "forwarded device list (no devices yet): exit 0" 0 ""
contains "says so, through serve, in the operator's language" "$OUT" \
    "$(zh_or '没有已注册的设备' 'no devices enrolled')"
en device list --data "$S"
expect "and under LANG=C: the same exit" 0 ""
contains "in English" "$OUT" "no devices enrolled"
zh device revoke --data "$S" --device abcdef
expect "forwarded device revoke, no such device: exit 2" 2 \
    "$(zh_or '--device：没有指纹为 abcdef... 的设备' '--device: no device with fingerprint abcdef...')"
collect "forwarded device revoke abcdef"
en device revoke --data "$S" --device abcdef
expect "and under LANG=C: English, the same exit" 2 "--device: no device with fingerprint abcdef..."
zh team show --data "$S" --team north
zh_team_rc=$RC zh_team=$OUT
en team show --data "$S" --team north
equal "forwarded team show: the same exit in both" "$zh_team_rc" "$RC"
[ "$fwd_zh" = 1 ] && [ "$zh_team" = "$OUT" ] &&
    fail "forwarded team show differs in Chinese" "$zh_team"
OUT=$zh_team collect "forwarded team show"
FIELDSYNC_PASSPHRASE='not the passphrase' zh device list --data "$S"
expect "forwarded with a wrong passphrase: exit 1" 1 \
    "$(zh_or '口令错误（FIELDSYNC_PASSPHRASE 或终端）' 'wrong passphrase (FIELDSYNC_PASSPHRASE or the terminal)')"
collect "forwarded wrong passphrase"
FIELDSYNC_PASSPHRASE='not the passphrase' en device list --data "$S"
expect "and under LANG=C: English, the same exit" 1 "wrong passphrase (FIELDSYNC_PASSPHRASE or the terminal)"
# zh_TW travels too: Traditional where serve's machine has a zh_TW locale,
# else the documented fallback, English, with the same exit
LANG=zh_TW.UTF-8 runc "$FSS" user add --data "$S" --name wang --role rep --team north
if locale -a 2>/dev/null | grep -qiE '^zh_TW\.utf-?8$'; then
    expect "forwarded under zh_TW.UTF-8: Traditional" 2 "--name：該使用者已存在"
else
    expect "forwarded under zh_TW.UTF-8, no zh_TW locale here: English, the same exit" 2 \
        "--name: the user exists already"
fi
# a request in Chinese then one in English: the language does not stay
en user add --data "$S" --name wang --role rep --team north
expect "English right after Chinese" 2 "--name: the user exists already"
stop_server
contains "serve logged the forwarded commands" "$(cat "$WORK/serve.log")" "control: user done (ok)"
equal "serve's log stays English (no Chinese in it)" \
    "$(LC_ALL=C.UTF-8 grep -cP '[\x{4e00}-\x{9fff}]' "$WORK/serve.log")" 0

left=$(english_left "$ZH_ALL")
equal "no English word left in the Chinese output" "$left" ""
finish
