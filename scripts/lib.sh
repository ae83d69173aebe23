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
    exec cargo run --quiet --release --manifest-path "$root/Cargo.toml" --bin "$name" -- "$@"
}
