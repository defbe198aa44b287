#!/usr/bin/env bash
# Cross-checks our exact order-1 Markov removal effects against
# ChannelAttribution's markov_model (a simulation, at nsim_start=1e7) on the
# fitting paths of generated traffic, and writes the comparison to
# docs/CROSSCHECK.md. Run on demand, not in CI: it installs
# ChannelAttribution (built from source, a few minutes) into a venv.
#
#   scripts/crosscheck_markov.sh [USERS]      # default 100000
#
# Environment: CROSSCHECK_VENV (default .cache/crosscheck-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
users=${1:-100000}
venv=${CROSSCHECK_VENV:-.cache/crosscheck-venv}
if ! "$venv/bin/python" -c 'import ChannelAttribution, matplotlib' 2>/dev/null; then
	python3 -m venv "$venv"
	# ChannelAttribution needs matplotlib at import but does not declare it.
	"$venv/bin/pip" install --quiet ChannelAttribution matplotlib pandas
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go run ./scripts/crosscheck -users "$users" -out "$work" 2>"$work/go.log"
cat "$work/go.log" >&2
report=$("$venv/bin/python" scripts/crosscheck/markov.py "$work" 2>/dev/null | grep -v '^\*\*\*\|^Version:') && status=0 || status=$?
{
	echo "# Cross-check: our exact Markov model against ChannelAttribution"
	echo
	echo "Written by \`scripts/crosscheck_markov.sh $users\` on $(date -u +%Y-%m-%d) ($(go version | cut -d' ' -f3), ChannelAttribution $("$venv/bin/pip" show ChannelAttribution 2>/dev/null | sed -n 's/^Version: //p'))."
	echo "Generated traffic (\`pipeline/generate\`, seed 15, $users users, 30 days), fitting"
	echo "paths over the whole span with the default windows (\`attribution.FitPathsBuilder\`),"
	echo "our order-1 \`attribution.FitMarkov\` against ChannelAttribution's \`markov_model\`"
	echo "on the same distinct paths. A share is a channel's removal effect over the sum of"
	echo "all channels'; the target is every share within 1% of ChannelAttribution's at"
	echo "\`nsim_start=1e7\`, whose own simulation error is of that order."
	echo
	echo "$report"
} > docs/CROSSCHECK.md
cat docs/CROSSCHECK.md
exit "$status"
