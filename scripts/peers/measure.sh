# Sourced by the bench scripts. `measure CMD...`: "wall_seconds peak_rss_kb
# cpu_seconds" (user + system) of one command, from GNU time; its stdout is
# dropped and its time log kept in $WORK/time.log.
measure() {
  local log="$WORK/time.log"
  /usr/bin/time -v "$@" > /dev/null 2> "$log" || { cat "$log" >&2; exit 1; }
  local rss wall cpu
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" |
    awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$log")
  echo "$wall $rss $cpu"
}
