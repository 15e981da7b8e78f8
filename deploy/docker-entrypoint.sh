#!/bin/sh
# Container entry point: `dashboard` (default), `demo` (build the demo, then the dashboard),
# or `job NAME [ARGS...]` to run one job (e.g. `job drift --model breast-cancer`).
set -e
serve() {
  exec streamlit run /app/asgi_app.py --server.port=8501 --server.address=0.0.0.0 --server.headless=true
}
case "${1:-dashboard}" in
  dashboard) serve ;;
  demo) export VIGIL_DEMO=true; python -m jobs.demo && serve ;;
  job) shift; name="$1"; shift; exec python -m "jobs.${name}" "$@" ;;
  *) exec "$@" ;;
esac
