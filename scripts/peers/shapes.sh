# Sourced by the bench scripts. `generate SHAPE`: the shape's logs in
# $WORK/SHAPE (made with $BIN's `generate` unless already there) and their
# figures in $WORK/SHAPE.json.
# - many: 4 accounts x 4 regions x 3 days, 7,550 events and 40 files a day:
#   48 partitions, ~1,940 files, ~490 MB of JSON;
# - hot:  one account-region-day of 985,000 events in 1,000 files (a day of
#   data events): one partition, ~1.33 GB of JSON;
# - tiny: 2 accounts x 4 regions x 1 day, 4 events a file: ~2,300 files.
generate() {
  local shape=$1 dir="$WORK/$1"
  [ -d "$dir/AWSLogs" ] && return
  case $shape in
    many) "$BIN" generate --out "$dir" --accounts 4 --regions 4 --days 3 --events-per-day 7550 --files-per-day 40 ;;
    hot) "$BIN" generate --out "$dir" --accounts 1 --regions 1 --days 1 --events-per-day 985000 --files-per-day 1000 ;;
    tiny) "$BIN" generate --out "$dir" --accounts 2 --regions 4 --days 1 --events-per-day 1152 ;;
    *) echo "unknown shape $shape (many, hot, tiny)" >&2; exit 2 ;;
  esac > "$WORK/$shape.json"
}
