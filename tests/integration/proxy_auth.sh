#!/usr/bin/env bash
# Client-side auth (trust, MD5, SCRAM, TLS) and upstream auth (SCRAM, MD5,
# cleartext, TLS) through `tether proxy`. Body: proxy_auth.py.
exec /usr/bin/python3 "$(dirname "$0")/proxy_auth.py"
