#!/usr/bin/env python3
"""po/zh_TW.po from po/zh_CN.po (issue 17 point 1): the Traditional Chinese
catalog, Taiwan's words, made by OpenCC (s2twp.json) from the Simplified one.
Only the translations are converted (msgid, flags and references stay as
they are), each message on one line (OpenCC's phrases are found within a
line), in one run of the opencc command for the whole file (a run per
message, as msgfilter does, takes minutes). scripts/update-pot runs it and
scripts/check-po checks that the committed file is what it makes.

Usage: scripts/zh_tw.py ZH_CN.PO OUT.PO
"""
import subprocess
import sys

HEADER = """\
# Traditional Chinese messages of fieldsync (issue 17 point 1), made from
# zh_CN.po by scripts/update-pot with OpenCC (s2twp: Taiwan's characters
# and words). Do not edit: change zh_CN.po and run scripts/update-pot.
"""


# OpenCC's conversions read over and mended: (its output, the right words).
FIXES = [
    ("提交併經", "提交並經"),  # 并 as "and" is 並, not 併 (merge)
]


def main():
    src, out = sys.argv[1], sys.argv[2]
    # one line per message (phrases are converted within a line), wrapped
    # again by msgcat at the end as update-pot's msgmerge wraps zh_CN.po
    lines = subprocess.run(["msgcat", "--no-wrap", src], capture_output=True, text=True,
                           check=True).stdout.split("\n")
    conv = subprocess.run(["opencc", "-c", "s2twp.json"], input="\n".join(lines),
                          capture_output=True, text=True, check=True).stdout.split("\n")
    if len(conv) != len(lines):
        sys.exit("zh_tw.py: opencc changed the number of lines")
    res, in_str, started = [], False, False
    for orig, tw in zip(lines, conv):
        if orig.startswith("msgstr"):
            in_str = True
        elif not orig.startswith('"'):
            in_str = False
        if not started and orig.startswith("#"):
            continue  # zh_CN.po's own heading comment
        if not started:
            res.append(HEADER.rstrip("\n"))
            started = True
        if in_str and orig.startswith('"Language: zh_CN'):
            res.append(orig.replace("zh_CN", "zh_TW"))
        elif in_str and orig.startswith('"Language-Team:'):
            res.append('"Language-Team: Chinese (traditional)\\n"')
        else:
            if in_str:
                for wrong, right in FIXES:
                    tw = tw.replace(wrong, right)
            res.append(tw if in_str else orig)
    subprocess.run(["msgcat", "-o", out, "-"], input="\n".join(res), text=True, check=True)


if __name__ == "__main__":
    main()
