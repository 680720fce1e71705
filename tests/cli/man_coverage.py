"""Checks that a man page covers a program's --help (issue 22.3), for
tests/cli/test_man.sh:

    man_coverage.py HELP-FILE PAGE.roff

Prints "ok   ..." or "FAIL ..." per command, option and environment variable
of the help, and "N passed, M failed". A command is the first word of a help
line indented by two spaces, with its subcommand when one space follows
("customer add", "user disable|enable" as both); "A | B" lines give two.
"""
import re
import sys

help_text = open(sys.argv[1], encoding="utf-8").read()
roff = open(sys.argv[2], encoding="utf-8").read()

# The page as words: fonts, escapes, macro names and quotes dropped.
text = re.sub(r"\\f[BIRP]|\\f\(..|\\&", "", roff)
text = text.replace("\\-", "-").replace("\\e", "\\")
text = "\n".join(re.sub(r"^\.[A-Za-z]+\s?", "", line) for line in text.splitlines()
                 if not line.startswith(".\\\""))
text = " " + re.sub(r"\s+", " ", text.replace('"', "")) + " "

wanted = []
for line in help_text.splitlines():
    if not re.match(r"^  [a-z]", line):
        continue
    for part in line.strip().split(" | "):
        m = re.match(r"^([a-z][a-z-]*)(?: ([a-z][a-z|-]*))?(?:[ ,]|$)", part)
        if not m:
            continue
        subs = m.group(2).split("|") if m.group(2) else [None]
        for sub in subs:
            wanted.append(("command", m.group(1) + (" " + sub if sub else "")))
for opt in sorted(set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", help_text))):
    wanted.append(("option", opt))
for var in sorted(set(re.findall(r"\bFIELDSYNC_[A-Z_]+\b", help_text))):
    wanted.append(("environment variable", var))

passed = failed = 0
seen = set()
for kind, item in wanted:
    if (kind, item) in seen:
        continue
    seen.add((kind, item))
    # A word on its own: "lock" is not found inside "unlock".
    if re.search(r"(?<![\w-])" + re.escape(item) + r"(?![\w-])", text):
        passed += 1
    else:
        failed += 1
        print(f"FAIL the page has the {kind} '{item}' of --help")
print(f"ok   {passed} commands, options and variables of --help are in the page")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
