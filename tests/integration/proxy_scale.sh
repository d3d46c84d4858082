#!/usr/bin/env bash
# One proxy process holding 2000 connections mid-login while 20 real clients
# run queries concurrently; memory per connection stays small.
# Body: proxy_scale.py.
exec /usr/bin/python3 "$(dirname "$0")/proxy_scale.py"
