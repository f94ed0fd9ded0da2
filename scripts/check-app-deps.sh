#!/usr/bin/env bash
# Fails when muster-app (or the domain or the store beneath it) depends on
# an HTTP server, a web framework or the template engine: the application
# layer must run without HTTP, so a chat adapter or a drill can call a use
# case without pulling in axum. Anything only the tests use
# (dev-dependencies) is fine.
#
# The HTTP *client* for webhooks (reqwest) is fine too, and it brings
# tower and tower-http (client middleware: timeouts, redirects) and
# hyper's client half with it. So: the web crates are refused anywhere in
# the tree, hyper's server half is refused anywhere, and tower, tower-http
# and hyper are refused as dependencies of our own crates.
set -euo pipefail
cd "$(dirname "$0")/.."

forbidden='^(axum|axum-core|askama|askama_derive|utoipa|utoipa-axum|utoipa-gen)$'
not_direct='^(tower|tower-http|hyper|hyper-util)$'
status=0
for crate in muster-domain muster-store muster-app; do
    # Normal dependencies only, every feature as the workspace builds them.
    deps=$(cargo tree -p "$crate" -e normal --prefix none --format '{p}' | awk '{print $1}' | sort -u)
    bad=$(grep -E "$forbidden" <<<"$deps" || true)
    if [ -n "$bad" ]; then
        echo "error: $crate depends on HTTP-server or web crates: $(tr '\n' ' ' <<<"$bad")" >&2
        status=1
    fi
    direct=$(cargo tree -p "$crate" -e normal --depth 1 --prefix none --format '{p}' | awk 'NR > 1 {print $1}' | sort -u)
    bad=$(grep -E "$not_direct" <<<"$direct" || true)
    if [ -n "$bad" ]; then
        echo "error: $crate itself depends on server building blocks: $(tr '\n' ' ' <<<"$bad")" >&2
        status=1
    fi
    # hyper is an HTTP client dependency of reqwest; its server half must stay off.
    # (Into a variable first: under `if`, a failing cargo tree would pass unnoticed.)
    if grep -qx hyper <<<"$deps"; then
        features=$(cargo tree -p "$crate" -e normal,features -i hyper)
        if grep -q 'hyper feature "server"' <<<"$features"; then
            echo "error: $crate pulls in hyper's server feature" >&2
            status=1
        fi
    fi
done
[ "$status" -eq 0 ] && echo "ok: muster-domain, muster-store and muster-app depend on no HTTP server"
exit "$status"
