#!/usr/bin/env python3
"""mangen: one text source per tool -> a troff man page and a C header.

    mangen.py SOURCE.txt VERSION OUT.N OUT.h

The header holds the tool's --help text (TOOL_HELP_TEXT, a string literal)
and, when the source has a HELP TOPICS section, the `winrm help TOPIC`
texts (TOOL_HELP_TOPICS, initializers {"name", "text"},...). Both are
macros so that a tool that uses only one of them compiles without an
unused-variable warning.

The source format (see man/README.md):
  %name winrm            the page's name          (required)
  %section 1             its section              (required)
  %title WinRM client    the NAME line's summary  (required)
  = SECTION [+help]      a section; +help puts it in --help after the usage
  == Subsection          a subsection (in HELP TOPICS: a topic, named by
                         its first word)
  blank line             ends a block
  a block whose first line starts in column 0 and whose next lines are
  indented is a tagged paragraph (the first line is the tag); all lines
  in column 0 make a paragraph; lines starting "| " are verbatim.
  `text` is bold; in tags and synopsis lines, ALLCAPS words are italic.
SYNOPSIS is special: each line is one usage form (continuation lines
indented), printed after "usage: " in --help. OPTIONS is always in --help.
"""
import re
import sys
import textwrap

SECTION_NAMES = {"1": "User Commands", "3": "Library Functions", "5": "File Formats",
                 "8": "System Administration"}
WIDTH = 79


class Source:
    def __init__(self, path):
        self.meta = {}
        self.sections = []  # [(title, flags, [lines])]
        with open(path, encoding="utf-8") as f:
            for n, raw in enumerate(f, 1):
                line = raw.rstrip("\n").rstrip()
                if "\t" in line:
                    sys.exit(f"{path}:{n}: tab characters are not allowed")
                if line.startswith("%") and not self.sections:
                    key, _, val = line[1:].partition(" ")
                    self.meta[key] = val.strip()
                elif line.startswith("= "):
                    words = line[2:].split()
                    flags = {w for w in words if w.startswith("+")}
                    title = " ".join(w for w in words if not w.startswith("+"))
                    self.sections.append((title, flags, []))
                elif line == "#" or line.startswith("# "):
                    continue  # a comment of the source (#include is text)
                elif self.sections:
                    self.sections[-1][2].append(line)
                elif line:
                    sys.exit(f"{path}:{n}: text before the first section")
        for k in ("name", "section", "title"):
            if k not in self.meta:
                sys.exit(f"{path}: %{k} missing")

    def section(self, title):
        for t, flags, lines in self.sections:
            if t == title:
                return lines
        return None


def blocks(lines):
    """Splits lines into (kind, payload): ("sub", title), ("verb", [lines]),
    ("tag", (tag, [lines])), ("para", [lines]), ("cont", [lines]). A block
    with indented lines under column-0 lines is a list of tags (one tag a
    column-0 line, its description the indented lines under it)."""
    out, cur = [], []

    def flush():
        if not cur:
            return
        indented = [l.startswith(" ") for l in cur]
        if all(l.startswith("| ") or l == "|" for l in cur):
            out.append(("verb", [l[2:] for l in cur]))
        elif all(indented):
            out.append(("cont", [l.strip() for l in cur]))
        elif not indented[0] and any(indented):
            for l in cur:
                if l.startswith(" "):
                    out[-1][1][1].append(l.strip())
                else:
                    out.append(("tag", (l, [])))
        else:
            out.append(("para", [l.strip() for l in cur]))
        cur.clear()

    for l in lines:
        if l.startswith("== "):
            flush()
            out.append(("sub", l[3:].strip()))
        elif not l:
            flush()
        else:
            cur.append(l)
    flush()
    return out


# ---- troff ----------------------------------------------------------------

def roff_escape(s):
    s = s.replace("\\", "\\e")
    # Option dashes: a minus sign, not a hyphen, where an option begins.
    s = re.sub(r"(^|(?<=[\s\[|(,{/]))-", r"\\-", s)
    return s


def roff_inline(s):
    parts = re.split(r"`([^`]*)`", s)
    out = []
    for i, p in enumerate(parts):
        p = roff_escape(p)
        out.append(f"\\fB{p}\\fR" if i % 2 else p)
    return "".join(out)


def roff_line(s):
    s = roff_inline(s)
    if s.startswith(".") or s.startswith("'"):
        s = "\\&" + s
    return s


def roff_tag(s):
    """A tag or synopsis line: bold, with ALLCAPS placeholders italic."""
    s = s.replace("`", "")
    out = []
    for tok in re.split(r"([A-Z][A-Z0-9_]+(?![a-z]))", s):
        if not tok:
            continue
        e = roff_escape(tok)
        if re.fullmatch(r"[A-Z][A-Z0-9_]+", tok) and len(tok) > 1:
            out.append(f"\\fI{e}\\fR")
        else:
            out.append(f"\\fB{e}\\fR")
    line = "".join(out)
    return "\\&" + line if line.startswith((".", "'")) else line


def to_roff(src, version):
    m = src.meta
    name, sec = m["name"], m["section"]
    o = [f'.\\" Generated by man/mangen.py from man/{name}.txt: edit that file.',
         f'.TH {name.upper()} {sec} "" "wsmd {version}" "{SECTION_NAMES.get(sec, "")}"',
         ".nh", ".ad l", ".SH NAME", f"{roff_escape(name)} \\- {roff_inline(m['title'])}"]
    for title, _flags, lines in src.sections:
        o.append(f'.SH "{title}"' if " " in title else f".SH {title}")
        if title == "SYNOPSIS":
            # One usage form a line, continuations indented, as written.
            o.append(".nf")
            for l in lines:
                if l:
                    ind = len(l) - len(l.lstrip())
                    o.append("\\&" + " " * ind + roff_tag(l.strip()) if ind else roff_tag(l))
            o.append(".fi")
            continue
        for kind, p in blocks(lines):
            if kind == "sub" and title == "HELP TOPICS":
                key, _, rest = p.partition(" ")
                o.append(f'.SS "{name} help {key}: {rest}"')
            elif kind == "sub":
                o.append(f'.SS "{p}"')
            elif kind == "verb":
                o += [".PP", ".RS 4", ".nf"] + [roff_line(l) if l else "" for l in p] + [".fi", ".RE"]
            elif kind == "tag":
                o += [".TP", roff_tag(p[0])] + [roff_line(l) for l in p[1]]
            elif kind == "cont":
                o += [".IP"] + [roff_line(l) for l in p]
            else:
                o += [".PP"] + [roff_line(l) for l in p]
    # No blank lines: troff reads one as a paragraph break (and lint warns).
    return "\n".join(l if l else ".sp" for l in o) + "\n"


# ---- plain text (--help, help topics) --------------------------------------

def plain(s):
    return s.replace("`", "")


def wrap(text, indent, first=None):
    first = indent if first is None else first
    return textwrap.fill(plain(text), WIDTH, initial_indent=first, subsequent_indent=indent,
                         break_on_hyphens=False, break_long_words=False)


def text_body(lines, indent="  "):
    out, prev = [], None
    for kind, p in blocks(lines):
        if prev is not None and not (kind == "tag" and prev == "tag") and prev != "sub":
            out.append("")
        prev = kind
        if kind == "sub":
            out.append(f"{p}:")
        elif kind == "verb":
            out += [(indent + "  " + plain(l)).rstrip() for l in p]
        elif kind == "tag":
            out.append(indent + plain(p[0]))
            if p[1]:
                out.append(wrap(" ".join(p[1]), indent + "      "))
        elif kind == "cont":
            out.append(wrap(" ".join(p), indent + "      "))
        else:
            out.append(wrap(" ".join(p), indent))
    return out


def help_text(src):
    name = src.meta["name"]
    out = []
    syn = src.section("SYNOPSIS") or []
    first = True
    for l in syn:
        if not l:
            continue
        prefix = "usage: " if first else "       "
        if l.startswith(" "):
            out.append("       " + "  " + plain(l.strip()))
        else:
            out.append(prefix + plain(l))
            first = False
    out.append("")
    out.append(f"{name}: {plain(src.meta['title'])}")
    for title, flags, lines in src.sections:
        if title == "OPTIONS" or "+help" in flags:
            out.append("")
            out.append(title.capitalize() + ":")
            out += text_body(lines)
    out.append("")
    out.append(f"See {name}({src.meta['section']}) for more.")
    return "\n".join(out) + "\n"


def topics(src):
    lines = src.section("HELP TOPICS")
    if lines is None:
        return []
    out, cur = [], None
    for l in lines:
        if l.startswith("== "):
            cur = [l[3:].strip(), []]
            out.append(cur)
        elif cur is not None:
            cur[1].append(l)
    res = []
    for title, body in out:
        key = title.split()[0]
        text = [title.split(" ", 1)[1] if " " in title else title, ""] + text_body(body, "")
        while text and not text[-1]:
            text.pop()
        res.append((key, "\n".join(text) + "\n"))
    return res


def c_string(s):
    out = []
    for line in s.splitlines(True):
        e = line.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        e = e.replace("??", '?""?')  # no trigraphs
        out.append(f'    "{e}"')
    return " \\\n".join(out) if out else '""'


def to_header(src):
    ident = re.sub(r"[^A-Za-z0-9]", "_", src.meta["name"]).upper()
    o = [f"/* Generated by man/mangen.py from man/{src.meta['name']}.txt: edit that file. */",
         f"#define {ident}_HELP_TEXT \\", c_string(help_text(src)), ""]
    t = topics(src)
    if t:
        o.append(f"#define {ident}_HELP_TOPICS \\")
        o.append(", \\\n".join(f'    {{"{k}", \\\n{c_string(v)}}}' for k, v in t))
        o.append("")
    return "\n".join(o) + "\n"


def main(argv):
    if len(argv) != 5:
        sys.exit("usage: mangen.py SOURCE.txt VERSION OUT.N OUT.h")
    src = Source(argv[1])
    with open(argv[3], "w", encoding="utf-8") as f:
        f.write(to_roff(src, argv[2]))
    with open(argv[4], "w", encoding="utf-8") as f:
        f.write(to_header(src))


if __name__ == "__main__":
    main(sys.argv)
