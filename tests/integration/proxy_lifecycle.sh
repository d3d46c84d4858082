#!/usr/bin/env bash
# max_client_conn (SQLSTATE 53300), SIGHUP reload of the users file, SIGTERM
# drain (busy transaction finishes, idle clients told 57P01, new clients
# refused) and the shutdown timeout. Body: proxy_lifecycle.py.
exec /usr/bin/python3 "$(dirname "$0")/proxy_lifecycle.py"
