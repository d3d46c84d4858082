#!/usr/bin/env bash
# Lazy upstream connections (lazy_connect = on, the default) and the eager
# mode (off): idle clients cost no backend, the first query connects with the
# client's startup parameters, upstream login failures and cancels before the
# upstream exists. Body: proxy_lazy.py.
exec /usr/bin/python3 "$(dirname "$0")/proxy_lazy.py"
