# Shell pieces the bench scripts share (sourced, not run): define say
# first; $dir is the run's scratch directory and pids the processes it
# started, both removed or stopped on exit.

# need CMD HOW: fail with how to install CMD when it is missing.
need() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || { say "$1 not found; run make deps ($2)"; exit 1; }; }

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$dir"
}

free_port() { perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(LocalAddr=>"127.0.0.1",LocalPort=>0,Listen=>1)->sockport'; }
wait_for() { # wait_for WHAT COMMAND…: poll for 20 s
	local what=$1; shift
	for _ in $(seq 1 400); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
	say "$what did not come up; logs in $dir:"; tail -n 20 "$dir"/*.log >&2; exit 1
}
