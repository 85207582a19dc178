#!/usr/bin/env python3
"""Prepares a chatbotmgr-server for bench/http/run.sh: logs in and creates chatbots.

Reads BENCH_BASE_URL, BENCH_EMAIL and BENCH_PASSWORD from the environment (the password
never goes on a command line) and prints shell assignments for the wrk scripts:
BENCH_TOKEN, BENCH_IDS (every chatbot), BENCH_KEY (the API key of the first, which the
capture scenario uses) and BENCH_ROTATE_IDS (the others, which the rotate scenario uses).
With BENCH_CREATE_EMAIL and BENCH_CREATE_PASSWORD also BENCH_CREATE_TOKEN: a session in a
second organization, where the create scenario adds its chatbots (so that the list
scenario keeps listing 20, however often the scenarios run).

usage: setup.py CHATBOTS
"""
import json
import os
import sys
import urllib.request


def call(method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(os.environ["BENCH_BASE_URL"] + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=30) as res:
        return json.load(res)


def login(email, password):
    return call("POST", "/api/v1/auth/login", {"email": email, "password": password})["token"]


def main():
    count = int(sys.argv[1])
    token = login(os.environ["BENCH_EMAIL"], os.environ["BENCH_PASSWORD"])
    bots = [call("POST", "/api/v1/chatbots",
                 {"name": f"Bench bot {i}", "settings": {"onboarded": True, "theme": {"color": "blue"}}},
                 token) for i in range(count)]
    ids = [b["chatbot"]["id"] for b in bots]
    # Everything printed is [0-9a-z_,-]: safe to eval in the shell.
    print(f"BENCH_TOKEN={token}")
    print(f"BENCH_IDS={','.join(ids)}")
    print(f"BENCH_KEY={bots[0]['apiKey']}")
    print(f"BENCH_ROTATE_IDS={','.join(ids[1:] or ids)}")
    if os.environ.get("BENCH_CREATE_EMAIL"):
        print("BENCH_CREATE_TOKEN=" +
              login(os.environ["BENCH_CREATE_EMAIL"], os.environ["BENCH_CREATE_PASSWORD"]))


if __name__ == "__main__":
    main()
