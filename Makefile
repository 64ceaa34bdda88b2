# Benchmarks (bench/README.md). Everything runs under `nice -n 10` on the local PostgreSQL and
# Redis database 9; results land in bench/results/<date>-<name>.{json,md}.
PYTHON ?= .venv/bin/python
RUN = TEST_REDIS_URL=redis://127.0.0.1:6379/9 nice -n 10 $(PYTHON) -m

.PHONY: bench bench-quick

## bench: every benchmark at full size, each comparison interleaved, median of 3 (~80 min on this machine)
bench:
	$(RUN) bench.progress --calls 5000 --repeats 3
	$(RUN) bench.throughput --tasks 5000 --repeats 3
	$(RUN) bench.priority --backlog 10000 --repeats 3 --samples 5
	$(RUN) bench.api --seconds 5 --repeats 3 --clients 1,16,64
	$(RUN) bench.relay_ab --seconds 5 --repeats 5 --clients 16,64
	$(RUN) bench.submit_cpu --relay process
	$(RUN) bench.submit_cpu --relay thread
	$(RUN) bench.scale --seconds 5 --repeats 3 --prune-rows 100000
	$(RUN) bench.scale --seconds 5 --repeats 3 --prune-rows 0 --baseline-rows 2000
	$(RUN) bench.memory --tasks 10000 --repeats 3
	$(RUN) bench.ws_latency --repeats 3
	$(RUN) bench.report

## bench-quick: the same set, smaller (~30 min); still interleaved, median of 3
bench-quick:
	$(RUN) bench.progress --calls 1000 --repeats 3
	$(RUN) bench.throughput --tasks 3000 --repeats 3
	$(RUN) bench.priority --backlog 10000 --repeats 3 --samples 2
	$(RUN) bench.api --seconds 1.5 --repeats 3 --clients 1,16,64
	$(RUN) bench.relay_ab --seconds 2 --repeats 3 --clients 16,64
	$(RUN) bench.scale --seconds 2 --repeats 3 --prune-rows 20000
	$(RUN) bench.scale --seconds 2 --repeats 3 --prune-rows 0 --baseline-rows 2000
	$(RUN) bench.memory --tasks 2000 --repeats 3
	$(RUN) bench.ws_latency --repeats 3 --events 40
	$(RUN) bench.report
