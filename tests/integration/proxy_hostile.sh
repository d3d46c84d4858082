#!/usr/bin/env bash
# Malformed and hostile clients (bad lengths, truncated startup, oversize and
# unknown messages, slowloris, bytes smuggled after SSLRequest) each lose only
# their own connection while a well-behaved client keeps working.
# Body: proxy_hostile.py.
exec /usr/bin/python3 "$(dirname "$0")/proxy_hostile.py"
