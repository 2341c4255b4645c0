# The clock offset toybox `sntp` measured, as a JSON number of seconds, from its output line
#   2026-12-02 12:40:34.072077117 +0000 offset -0.001438119 secs
# (positive: the server is ahead). Prints nothing when no such line came. busybox awk.
match($0, / offset [-+]?[0-9]+(\.[0-9]+)? secs$/) {
  v = substr($0, RSTART + 8, RLENGTH - 13)
  found = 1
}
END {
  if (found) printf "%.9f\n", v + 0
}
