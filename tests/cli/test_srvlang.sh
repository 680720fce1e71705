#!/usr/bin/env bash
# fieldsync-server's commands in Chinese (issue 17 point 1, the server's
# side): under LANG=zh_CN.UTF-8 init, user add, user passwd, enroll-code,
# device revoke, audit verify, status, restore and the option and command
# errors say their results and refusals in Chinese, with the same exit
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
# placeholders, the users' names and the flags' values typed as is.
ALLOWED='fieldsync server init user passwd enroll code device revoke audit verify show head
status restore backup serve team help data name role team ttl hours list json discard
unsent after push expect from listen lease enable disable move zhang north manager admin
rep TEAM NAME HOST PORT SEQ MAC UTF FIELDSYNC_PASSPHRASE FIELDSYNC_USER_PASSWORD flying
frobnicate colour nobody abcdef boss replica'
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

# ---- users ----
zh user add --data "$S" --name zhang --role rep --team north
expect "user add in Chinese" 0 ""
contains "says who was added" "$OUT" "已添加用户 zhang（rep，团队 north）"
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
ERR=${ERR%%usage:*} collect "device frobnicate" # the usage text after it stays English

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
zh frobnicate --data "$S"
expect "an unknown command: exit 2, in Chinese" 2 "未知命令 'frobnicate'（见 help）"
ERR=${ERR%%usage:*} collect "unknown command"
en frobnicate --data "$S"
expect "and in English" 2 "unknown command 'frobnicate' (see help)"

# Traditional Chinese: po/zh_TW.po (zh_HK too)
LANG=zh_TW.UTF-8 runc "$FSS" user add --data "$S" --name li2 --role boss --team north
expect "a bad role under zh_TW.UTF-8: Traditional characters" 2 "--role：應為 rep、manager 或 admin"
LANG=zh_HK.UTF-8 runc "$FSS" user add --data "$S" --name zhang --role rep --team north
expect "zh_HK: Traditional too" 2 "--name：該使用者已存在"

left=$(english_left "$ZH_ALL")
equal "no English word left in the Chinese output" "$left" ""
finish
