#!/usr/bin/python3
"""Every Python module and external program used by tests/, bench/, scripts/ (and python/)
comes from a Debian package that scripts/install-deps.sh installs.

A fresh Debian 12 machine once failed `make test` because python3-pil was missing: this test
reads the sources, not the machine, so it fails on a machine that happens to have the package.

  - Python: every `import X` / `from X import` (also inside code strings run with `python3 -c`);
    the standard library (sys.stdlib_module_names) and the repository's own modules are allowed,
    anything else must be in MODULES below and its package listed in install-deps.sh.
  - Programs: the commands of every shell script, the literal first element of
    subprocess.run([...]) and the shell strings given to bench's sh() helper in Python, the first word of
    each COMMAND in tests' CMakeLists.txt; shell builtins are allowed, anything else must be in
    PROGRAMS below and its package listed.
An import or program missing from the tables fails the test: add it with its package.
"""
import os
import re
import sys

SRC = os.environ.get("FL_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DIRS = ["tests", "bench", "scripts", "python"]

# module (top-level name) -> Debian package
MODULES = {
    "torch": "python3-torch",
    "numpy": "python3-numpy",
    "PIL": "python3-pil",
    "matplotlib": "python3-matplotlib",
}

# program -> Debian package (what `dpkg -S $(command -v prog)` says on Debian 12)
PROGRAMS = {
    "bash": "bash", "sh": "dash", "env": "coreutils",
    "cat": "coreutils", "cp": "coreutils", "cut": "coreutils", "mkdir": "coreutils", "mktemp": "coreutils",
    "rm": "coreutils", "nproc": "coreutils", "uname": "coreutils", "readlink": "coreutils",
    "dirname": "coreutils", "basename": "coreutils", "tr": "coreutils", "touch": "coreutils",
    "ls": "coreutils", "sleep": "coreutils", "head": "coreutils", "tail": "coreutils", "sort": "coreutils",
    "timeout": "coreutils", "id": "coreutils", "wc": "coreutils", "mv": "coreutils", "date": "coreutils",
    "grep": "grep", "sed": "sed", "awk": "mawk", "find": "findutils", "xargs": "findutils",
    "dpkg-query": "dpkg", "apt-get": "apt", "sudo": None,  # sudo: optional (install-deps uses it only if present)
    "git": "git",
    "python3": "python3", "/usr/bin/python3": "python3",  # pulled in by python3-torch (PULLED_IN)
    "cmake": "cmake", "ninja": "ninja-build", "ccache": "ccache",
    "clang": "clang", "clang++": "clang", "clang-format": "clang-format",
    "pdffonts": "poppler-utils", "pdftoppm": "poppler-utils", "pdfimages": "poppler-utils", "pdfinfo": "poppler-utils",
    "pdftotext": "poppler-utils",
    "Xvfb": "xvfb", "xvfb-run": "xvfb", "xauth": "xauth", "xdotool": "xdotool",
}
# clang-format is only named by `make format` (Makefile, not scanned); listed for completeness.

# Packages that a listed package depends on, so installing the list installs them.
PULLED_IN = {"python3": "python3-torch"}

SHELL_BUILTINS = set("""
. : [ [[ ]] alias bg break builtin case cd command continue declare do done echo elif else esac eval exec exit
export false fi for function getopts hash if in local printf pwd read readonly return set shift source test
then time trap true type typeset ulimit umask unset until wait while { } ! shopt
""".split())


def install_deps_packages():
    text = open(os.path.join(SRC, "scripts", "install-deps.sh")).read()
    text = "\n".join(line.split("#")[0] for line in text.splitlines())
    m = re.search(r"PACKAGES=\((.*?)\)", text, re.S)
    assert m, "scripts/install-deps.sh: no PACKAGES=( ... ) list"
    return set(m.group(1).split())


def source_files():
    for d in DIRS:
        root = os.path.join(SRC, d)
        for dirpath, dirnames, filenames in os.walk(root):
            # generated hostile inputs, not code
            dirnames[:] = [x for x in dirnames if not (dirpath.endswith("data") and x == "bad")]
            for f in sorted(filenames):
                yield os.path.join(dirpath, f)


IMPORT_RE = re.compile(r"(?:^|\\n|;|[\"'])[ \t]*import[ \t]+([A-Za-z_][\w.]*(?:[ \t]+as[ \t]+\w+)?(?:[ \t]*,[ \t]*[A-Za-z_][\w.]*(?:[ \t]+as[ \t]+\w+)?)*)", re.M)
FROM_RE = re.compile(r"(?:^|\\n|[\"'])[ \t]*from[ \t]+([A-Za-z_][\w.]*)[ \t]+import\b", re.M)


def python_imports(text):
    names = set()
    for m in IMPORT_RE.finditer(text):
        for part in m.group(1).split(","):
            names.add(part.strip().split()[0].split(".")[0])
    for m in FROM_RE.finditer(text):
        names.add(m.group(1).split(".")[0])
    return names


def shell_commands(text):
    """First words of the simple commands of a bash script (a small tokenizer, not a parser:
    enough for our scripts; single-quoted text is data, $( ) inside double quotes is code)."""
    out = set()
    # data, not commands: ${...} and $((...)) expansions, array assignments, [[ ... ]] tests,
    # the word lists of for loops
    text = re.sub(r"^\s*#.*$", "", text, flags=re.M)  # whole-line comments (also inside arrays)
    while True:  # innermost first: ${A[@]+"${A[@]}"}
        stripped = re.sub(r"\$\{[^{}]*\}", "_", text)
        if stripped == text:
            break
        text = stripped
    text = re.sub(r"\$\(\([^()]*\)\)", "_", text)
    text = re.sub(r"\b[A-Za-z_]\w*\+?=\((?:[^()'\"]|'[^']*'|\"[^\"]*\")*\)", "_=_", text, flags=re.S)
    text = re.sub(r"\[\[.*?\]\]", "true", text)
    text = re.sub(r"\bfor\s+\w+\s+in\b[^;\n]*", "true", text)
    functions = set(re.findall(r"^\s*(?:function\s+)?([\w-]+)\s*\(\)\s*\{", text, re.M))
    code = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "#" and (i == 0 or text[i - 1] in " \t\n;"):
            while i < n and text[i] != "\n":
                i += 1
            continue
        if c == "\\" and i + 1 < n:
            code.append(" ")
            i += 2
            continue
        if c == "'":
            j = text.find("'", i + 1)
            code.append(" _ ")
            i = j + 1 if j >= 0 else n
            continue
        if c == '"':
            # keep $( ... ) and `...` inside double quotes as separate commands
            j = i + 1
            chunks = []
            while j < n and text[j] != '"':
                if text[j] == "\\":
                    j += 2
                    continue
                if text.startswith("$(", j):
                    depth, k = 1, j + 2
                    while k < n and depth:
                        depth += {"(": 1, ")": -1}.get(text[k], 0)
                        k += 1
                    chunks.append("\n" + text[j + 2:k - 1] + "\n")
                    j = k
                    continue
                j += 1
            code.append(" _ " + "".join(chunks))
            i = j + 1
            continue
        code.append(c)
        i += 1
    flat = "".join(code)
    for seg in re.split(r"\n|;|&&|\|\||\||\$\(|`|\(|\)|\bthen\b|\bdo\b|\belse\b|\{|\}", flat):
        words = seg.split()
        while words and (re.match(r"^[A-Za-z_]\w*(\[[^]]*\])?\+?=", words[0]) or words[0] in
                         ("if", "elif", "while", "until", "!", "time", "exec", "command", "then", "do", "else")):
            words = words[1:]
        if not words:
            continue
        w = words[0]
        if w in ("case", "for", "select", "in", "esac", "done", "fi", ";;", "local", "export", "declare", "readonly", "function"):
            continue
        if w.startswith(("$", "_", '"', "-", "<", ">", "[", "./", "*")) or w.endswith(")") or w in functions:
            continue
        if "/" in w and not w.startswith("/usr/bin/"):
            continue  # a path inside the repository or build tree
        if w in SHELL_BUILTINS or re.match(r"^\d", w):
            continue
        out.add(w)
    return out


def python_programs(text):
    progs = set()
    for m in re.finditer(r"subprocess\.(?:run|Popen|call|check_call|check_output)\(\s*\[\s*[\"']([^\"']+)[\"']", text):
        progs.add(m.group(1))
    for m in re.finditer(r"shutil\.which\(\s*[\"']([^\"']+)[\"']", text):
        progs.add(m.group(1))
    for m in re.finditer(r"\bsh\(\s*\"([^\"]+)\"", text):
        progs |= shell_commands(m.group(1))
    return progs


def cmake_programs(text):
    progs = set()
    for m in re.finditer(r"\bCOMMAND\s+([^\s)]+)", text):
        w = m.group(1)
        if not w.startswith("$") and "/" not in w and not w.startswith("fl_"):
            progs.add(w)
    return progs


def main():
    packages = install_deps_packages()
    stdlib = set(sys.stdlib_module_names)
    # the repository's own Python modules (tests put each other's folders on sys.path)
    local = {os.path.splitext(os.path.basename(f))[0] for f in source_files() if f.endswith(".py")}
    problems = []
    seen_modules, seen_programs = {}, {}
    for path in source_files():
        rel = os.path.relpath(path, SRC)
        try:
            text = open(path, encoding="utf-8").read()
        except (UnicodeDecodeError, OSError):
            continue
        if path.endswith(".py") or text.startswith("#!/usr/bin/python3") or text.startswith("#!/usr/bin/env python3"):
            for name in python_imports(text):
                if name in stdlib or name in local or name == "__future__":
                    continue
                seen_modules.setdefault(name, rel)
            for prog in python_programs(text):
                seen_programs.setdefault(prog, rel)
        elif path.endswith(".sh") or text.startswith("#!/usr/bin/env bash") or text.startswith("#!/bin/bash"):
            for prog in shell_commands(text):
                seen_programs.setdefault(prog, rel)
            # python code run inline from a shell script (python3 -c '...')
            for name in python_imports("\n".join(re.findall(r"-c\s+'([^']*)'", text))):
                if name not in stdlib:
                    seen_modules.setdefault(name, rel)
        elif os.path.basename(path) == "CMakeLists.txt":
            for prog in cmake_programs(text):
                seen_programs.setdefault(prog, rel)
    for name, where in sorted(seen_modules.items()):
        pkg = MODULES.get(name)
        if pkg is None:
            problems.append(f"{where}: imports '{name}', which is not in tests/deps/deps_test.py's MODULES table "
                            f"(add it with its Debian package, and the package to scripts/install-deps.sh)")
        elif pkg not in packages:
            problems.append(f"{where}: imports '{name}' from Debian package {pkg}, which scripts/install-deps.sh does not install")
    for prog, where in sorted(seen_programs.items()):
        if prog not in PROGRAMS:
            problems.append(f"{where}: runs '{prog}', which is not in tests/deps/deps_test.py's PROGRAMS table "
                            f"(add it with its Debian package, and the package to scripts/install-deps.sh)")
            continue
        pkg = PROGRAMS[prog]
        essential = pkg in ("bash", "dash", "coreutils", "grep", "sed", "mawk", "findutils", "dpkg", "apt")
        if pkg is not None and not essential and pkg not in packages and PULLED_IN.get(pkg) not in packages:
            problems.append(f"{where}: runs '{prog}' from Debian package {pkg}, which scripts/install-deps.sh does not install")
    print(f"deps: {len(seen_modules)} third-party Python modules, {len(seen_programs)} programs checked "
          f"against {len(packages)} packages of scripts/install-deps.sh")
    print("  modules: " + ", ".join(f"{k} ({MODULES.get(k, '?')})" for k in sorted(seen_modules)))
    print("  programs: " + ", ".join(sorted(seen_programs)))
    for p in problems:
        print("FAIL: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--self-test":
        # The scanner itself: it must see what a script really uses.
        assert python_imports("import os\nfrom PIL import Image\nx = 'import torch, collections\\n'\n") >= {"os", "PIL", "torch", "collections"}
        got = shell_commands("set -e\nfoo=$(pdftoppm -v | cut -d' ' -f1)\necho \"$(xdotool key Escape) ${X:-y}\" # Xvfb\n"
                             "A=(a b)\nfor t in x y; do [[ $t != a ]] && Xvfb :1; done\n")
        assert got == {"pdftoppm", "cut", "xdotool", "Xvfb"}, got
        assert python_programs('subprocess.run(["pdffonts", out])\nsh("git rev-parse HEAD")') == {"pdffonts", "git"}
        print("deps self-test ok")
        sys.exit(0)
    sys.exit(main())
