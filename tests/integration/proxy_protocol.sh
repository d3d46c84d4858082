#!/usr/bin/env bash
# Simple/extended query, pipelining, COPY, LISTEN/NOTIFY, errors and notices
# with every field, ParameterStatus, cancel, server-side disconnect through
# `tether proxy`. Body: proxy_protocol.py.
exec /usr/bin/python3 "$(dirname "$0")/proxy_protocol.py"
