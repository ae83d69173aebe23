# Shared by the workflow scripts: run a waybill binary from PATH if installed
# (`cargo install --path .`), else build and run it from this checkout. The binaries
# read .env from the current directory themselves.
waybill_bin() {
    local name=$1; shift
    if command -v "$name" >/dev/null 2>&1; then
        exec "$name" "$@"
    fi
    local root
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    if [ ! -x "$root/target/release/$name" ]; then
        # The first build takes a few minutes: say so, and let cargo show its progress.
        echo "waybill: building $name (release) in $root; the first build takes a few minutes" >&2
        cargo build --release --manifest-path "$root/Cargo.toml" --bin "$name" >&2
    else
        cargo build --quiet --release --manifest-path "$root/Cargo.toml" --bin "$name" >&2
    fi
    exec "$root/target/release/$name" "$@"
}
