#!/usr/bin/env python3
"""Doxygen input filter: turns the headers' plain // comments into documentation.

The public headers are written in the project's style -- plain // comments above a
declaration, a short // after a member -- so they read well as text. Doxygen only takes
///, so this filter rewrites comments on the fly (the headers stay as they are):

  * the comment block that opens a file becomes that file's documentation (@file);
  * a // line of its own becomes ///, documenting the declaration that follows;
  * "code;  // text" and "enumerator,  // text" become ///< (documenting that member);
  * an indented run after an empty // line is an example: it is wrapped in @code;
  * in prose, characters Doxygen would read as markup (<, >, &, \\, @, #, %) are escaped
    (outside double quotes, which Doxygen takes literally), so <store name> is text, not
    an unknown HTML tag.

Doxygen calls it with the path of one input file and reads the result from stdout.
"""
import re
import sys

OWN_LINE = re.compile(r"^(\s*)//(?!/)(.*)$")
TRAILING = re.compile(r"^(.*?[;,])(\s+)//(?!/)\s?(.*)$")
CODE_START = re.compile(r"^   \S")  # three spaces after //, not a list item
ESCAPES = {c: "\\" + c for c in "<>&\\@#%"}


def escape(text):
    # Doxygen takes text between double quotes literally: escape only outside of them.
    out = []
    quoted = False
    for c in text:
        if c == '"':
            quoted = not quoted
        out.append(c if quoted else ESCAPES.get(c, c))
    return "".join(out)


def strip_one_space(text):
    return text[1:] if text.startswith(" ") else text


def convert(lines):
    out = []
    in_header = True  # the comment block at the top of the file
    in_code = False
    previous_blank = False
    for i, line in enumerate(lines):
        m = OWN_LINE.match(line)
        if m:
            indent, text = m.group(1), m.group(2)
            if in_code and not (text.startswith("   ") or text.strip() == ""):
                out.append(indent + "/// @endcode")
                in_code = False
            if not in_code and previous_blank and CODE_START.match(text):
                out.append(indent + "/// @code")
                in_code = True
            if in_header and i == 0:
                out.append("/// @file")
            previous_blank = text.strip() == ""
            body = text[3:] if in_code else escape(strip_one_space(text))
            out.append(indent + "/// " + body if body else indent + "///")
            continue
        if in_code:
            # The example ran to the end of its comment block.
            indent = re.match(r"^\s*", out[-1]).group(0)
            out.append(indent + "/// @endcode")
            in_code = False
        if in_header and line.strip() != "" and i > 0:
            in_header = False
        previous_blank = False
        t = TRAILING.match(line)
        if t and not line.lstrip().startswith("#"):
            code, gap, text = t.groups()
            out.append(code + gap + "///< " + escape(text))
            continue
        out.append(line)
    if in_code:
        out.append("/// @endcode")
    return out


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        lines = f.read().split("\n")
    sys.stdout.write("\n".join(convert(lines)))


if __name__ == "__main__":
    main()
