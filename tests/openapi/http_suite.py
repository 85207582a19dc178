"""Every answer the C++ HTTP suite gets, checked against docs/openapi.yaml.

Runs the http_tests program with CHATBOTMGR_RECORD_RESPONSES=<temp file>, which makes its
test client (tests/http/http_client.cpp) append one JSON line per answer
{method, target, status, headers, body}; then checks each line with validate.py. Fails
when the suite fails, when it recorded too little to be the whole suite, when an answer
is not described, or when an operation of the description got no 2xx answer at all.

    http_suite.py --http-tests build/tests/http/http_tests --openapi docs/openapi.yaml
                  [--keep FILE] [-- catch2 arguments]
"""

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile

from validate import Mismatch, OpenApi

MIN_ANSWERS = 500  # the suite gets over a thousand; far fewer means the hook is broken


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--http-tests", required=True)
    ap.add_argument("--openapi", required=True)
    ap.add_argument("--keep", help="also copy the recording here")
    ap.add_argument("catch_args", nargs="*")
    args = ap.parse_args()
    api = OpenApi(args.openapi)

    with tempfile.TemporaryDirectory(prefix="chatbotmgr-openapi-") as tmp:
        recording = os.path.join(tmp, "answers.jsonl")
        env = dict(os.environ, CHATBOTMGR_RECORD_RESPONSES=recording)
        run = subprocess.run([args.http_tests, *args.catch_args], env=env, capture_output=True,
                             text=True, timeout=900)
        if run.returncode != 0:
            print(run.stdout[-5000:], run.stderr[-5000:], sep="\n")
            print("FAILED: %s exited %d while recording" % (args.http_tests, run.returncode))
            return 1
        if not os.path.exists(recording):
            print("FAILED: the suite recorded nothing (is CHATBOTMGR_RECORD_RESPONSES honoured?)")
            return 1
        with open(recording, encoding="utf-8") as f:
            lines = f.read().splitlines()
        if args.keep:
            with open(args.keep, "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")

    rules = collections.Counter()
    covered = collections.Counter()
    failures = []
    for n, line in enumerate(lines, 1):
        try:
            a = json.loads(line)
            rule, where = api.check(a["method"], a["target"], a["status"], a["headers"], a["body"])
        except (Mismatch, ValueError, KeyError) as e:
            failures.append("answer %d: %s" % (n, e))
            continue
        rules[rule] += 1
        covered[where] += 1

    # Every operation answered with success at least once: a check that the recording
    # holds the whole suite (and that the suite exercises the whole description).
    for method, template, op in api.operations():
        prefix = "%s %s " % (method.upper(), template)
        if not any(w and w.startswith(prefix + "2") for w in covered):
            failures.append("no 2xx answer of %s%s in the recording" % (prefix, op.get("operationId", "")))
    if len(lines) < MIN_ANSWERS:
        failures.append("only %d answers recorded (expected at least %d)" % (len(lines), MIN_ANSWERS))

    print("%d answers of %s checked against %s" % (len(lines), os.path.basename(args.http_tests),
                                                  args.openapi))
    print("by rule: " + ", ".join("%s %d" % kv for kv in sorted(rules.items())))
    print("documented answers seen: %d" % len(covered))
    for where, count in sorted(covered.items(), key=lambda kv: str(kv[0])):
        print("  %5d  %s" % (count, where))
    for f in failures[:30]:
        print("FAILED: " + f)
    if len(failures) > 30:
        print("... and %d more" % (len(failures) - 30))
    print("%d passed, %d failed" % (len(lines) - len([f for f in failures if f.startswith("answer")]),
                                    len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
