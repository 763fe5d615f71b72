#!/bin/sh
# Smoke test of the PyInstaller bundle: `make package-test` (or packaging/smoke_test.sh [EXE]).
#
# The bundled executable runs in an emptied environment (env -i: PATH=/usr/bin:/bin behind a
# trap that records any call to python, a temporary HOME, no VIRTUAL_ENV or PYTHONPATH, Qt
# offscreen), from a directory outside the checkout, and must:
#   1. print its version;
#   2. classify bundled samples with --json: the right digits, and "no digit" for a texture;
#   3. render the window with `gui IMAGE --screenshot PNG` and write a PNG;
#   4. open the bundled model through the Exec line of the installed .desktop file.
# The JSON is checked with the system python3 when there is one (never the bundle's business).
set -u

EXE=${1:-dist/probscope/probscope}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
case $EXE in /*) ;; *) EXE=$ROOT/$EXE ;; esac
TIMEOUT=${SMOKE_TIMEOUT:-300}

if [ ! -x "$EXE" ]; then
    echo "package-test: no bundle at $EXE (build it with 'make package')" >&2
    exit 1
fi
BUNDLE_DIR=$(dirname "$EXE")
SAMPLES=$BUNDLE_DIR/_internal/resources/digits/samples
MODEL=$BUNDLE_DIR/_internal/resources/digits/digits.keras

TMP=$(mktemp -d "${TMPDIR:-/tmp}/probscope-smoke.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM
mkdir -p "$TMP/home" "$TMP/trap" "$TMP/work"
mkdir -m 700 "$TMP/run"
# Any python found on PATH is a trap: the bundle must carry its own interpreter.
for name in python python3 python3.11; do
    printf '#!/bin/sh\necho "$0 $*" >> "%s/python-called"\nexit 97\n' "$TMP" > "$TMP/trap/$name"
    chmod +x "$TMP/trap/$name"
done

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok:   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }

# bundle ARGS... : run the executable in the emptied environment; stdout/stderr to $TMP/out, $TMP/err.
bundle() {
    (cd "$TMP/work" && timeout "$TIMEOUT" env -i \
        PATH="$TMP/trap:/usr/bin:/bin" HOME="$TMP/home" XDG_RUNTIME_DIR="$TMP/run" \
        QT_QPA_PLATFORM=offscreen "$@") >"$TMP/out" 2>"$TMP/err"
}
show_err() { sed 's/^/      | /' "$TMP/err" | tail -n 20 >&2; }

is_png() { [ -s "$1" ] && [ "$(head -c 8 "$1" | od -An -c | tr -d ' \n')" = '211PNG\r\n032\n' ]; }

# 0. The samples and the model are inside the bundle.
if [ -f "$MODEL" ] && [ -f "$SAMPLES/digit_7_printed.png" ]; then
    ok "the digit model and its samples are bundled"
else
    fail "bundle lacks $MODEL or its samples"
fi

# 1. --version
expected_version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/pyproject.toml")
if bundle "$EXE" --version && grep -qx "probscope $expected_version" "$TMP/out"; then
    ok "--version: $(cat "$TMP/out")"
else
    fail "--version printed '$(cat "$TMP/out")', expected 'probscope $expected_version'"; show_err
fi

# 2. classify --json
if bundle "$EXE" classify "$SAMPLES/digit_7_printed.png" "$SAMPLES/digit_3_handwritten.png" \
        "$SAMPLES/nodigit_texture.png" --json; then
    if [ -x /usr/bin/python3 ]; then
        check=$(/usr/bin/python3 - "$TMP/out" <<'EOF'
import json, os, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
problems = []
for row in rows:
    name = os.path.basename(row["path"])
    if row["error"] is not None:
        problems.append(f"{name}: error {row['error']}")
    elif name.startswith("digit_"):
        if row["label"] != name.split("_")[1] or not row["ood"]["in_distribution"]:
            problems.append(f"{name}: label {row['label']}, in_distribution {row['ood']['in_distribution']}")
    elif row["ood"]["in_distribution"]:
        problems.append(f"{name}: a non-digit was accepted as a digit")
if len(rows) != 3:
    problems.append(f"{len(rows)} JSON lines, expected 3")
print("; ".join(problems) or "labels " + ", ".join(
    f"{os.path.basename(r['path'])}={r['label'] if r['ood']['in_distribution'] else 'no digit'}"
    f" ({max(r['probabilities']):.3f})" for r in rows))
sys.exit(1 if problems else 0)
EOF
        ) && ok "classify --json: $check" || fail "classify --json: $check"
    elif grep -q '"label": "7"' "$TMP/out" && grep -q '"label": "3"' "$TMP/out" \
            && [ "$(grep -c '"error": null' "$TMP/out")" = 3 ]; then
        ok "classify --json: labels 7 and 3 (checked with grep: no /usr/bin/python3)"
    else
        fail "classify --json printed: $(cat "$TMP/out")"
    fi
else
    fail "classify --json exited non-zero"; show_err
fi

# 3. gui --screenshot, with an image so TensorFlow runs in the window too
if bundle "$EXE" gui "$SAMPLES/digit_7_printed.png" --screenshot "$TMP/window.png" \
        && is_png "$TMP/window.png"; then
    ok "gui --screenshot: $(wc -c < "$TMP/window.png") byte PNG"
else
    fail "gui --screenshot wrote no PNG"; show_err
fi

# 4. The .desktop Exec line, installed for this bundle, opens a model file (a double-click).
if make -s -C "$ROOT" install-desktop XDG_DATA="$TMP/share" PROBSCOPE_EXEC="$EXE" >"$TMP/install" 2>&1; then
    desktop=$TMP/share/applications/io.github.probscope.desktop
    exec_line=$(sed -n 's/^Exec=//p' "$desktop")
    # shellcheck disable=SC2086  # the Exec line is split into words, as a launcher does
    set -- $exec_line
    if [ "$1" != "$EXE" ]; then
        fail "installed Exec line is '$exec_line', expected it to start with $EXE"
    elif command -v desktop-file-validate >/dev/null 2>&1 \
            && desktop-file-validate "$desktop" | grep -E "(error|warning):" >&2; then
        fail "the installed .desktop file does not validate"
    else
        args=$(echo "$exec_line" | sed "s|%[fF]|$MODEL|")
        # shellcheck disable=SC2086
        if bundle $args --screenshot "$TMP/model.png" && is_png "$TMP/model.png"; then
            ok "desktop Exec line opens a .keras file: $exec_line"
        else
            fail "desktop Exec line '$exec_line' failed on $MODEL"; show_err
        fi
    fi
else
    fail "make install-desktop failed"; sed 's/^/      | /' "$TMP/install" >&2
fi

if [ -s "$TMP/python-called" ]; then
    fail "the bundle called a python from PATH: $(cat "$TMP/python-called")"
fi

echo "package-test: $passed passed, $failed failed"
[ "$failed" = 0 ]
