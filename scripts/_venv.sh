# Sourced by scripts/demo and scripts/test: creates .venv from the pinned requirements, once.
# Usage: ensure_venv requirements.txt|requirements-dev.txt
ensure_venv() {
    local requirements="$1"
    local python="${PYTHON:-python3}"
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "ceir needs Python 3.11 or newer as '$python' (set PYTHON=...)" >&2
        exit 1
    fi
    [ -x .venv/bin/python ] || "$python" -m venv .venv
    # Reinstall only when the pins or the project metadata changed.
    local stamp=".venv/.installed-$(cat "$requirements" requirements.txt pyproject.toml | sha256sum | cut -c1-16)"
    if [ ! -e "$stamp" ]; then
        echo "Installing pinned dependencies from $requirements into .venv ..."
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
        rm -f .venv/.installed-* && touch "$stamp"
    fi
}
