#!/usr/bin/env bash
# Server connection reuse ([proxy] server_idle_timeout > 0): a leaving
# client's idle upstream is reset with DISCARD ALL and given to the next lazy
# client with the same startup parameters; what is not reused and when pooled
# connections are closed. Body: proxy_reuse.py.
exec /usr/bin/python3 "$(dirname "$0")/proxy_reuse.py"
