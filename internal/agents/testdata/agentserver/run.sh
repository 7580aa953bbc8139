#!/usr/bin/env bash
# Starts a real LangGraph JS Agent Server (in-memory dev server) serving the
# scripted deepagents agent on 127.0.0.1:<port>, with no browser, no LangSmith
# tracing and no API key. Usage: ./run.sh [port]   (default 2024)
set -euo pipefail
cd "$(dirname "$0")"
port="${1:-2024}"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  npm ci --no-audit --no-fund
fi
export LANGSMITH_TRACING=false LANGCHAIN_TRACING_V2=false LANGSMITH_API_KEY= LANGGRAPH_NO_TELEMETRY=1
echo "Agent Server URL: http://127.0.0.1:${port}  (graph / assistant_id: agent)"
exec npx --no-install langgraphjs dev --host 127.0.0.1 --port "$port" --no-browser
