# The two commands of the README, plus helpers. Every target does its own set-up (idempotent).
.PHONY: demo test setup lint kafka-start kafka-stop clean

demo: setup
	.venv/bin/lakepulse demo

# Two pytest workers, each with its own Spark session and broker: much of a test's time is waiting
# (JVM start, Delta commits, stream triggers), so two at once use the 2 cores better than one.
# A worker runs a whole module at a time (module fixtures are built once), modules in the order
# tests/conftest.py gives them (the slow ones first).
TEST_WORKERS ?= 2

test: setup
	.venv/bin/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

setup:
	./scripts/setup.sh

lint: setup
	.venv/bin/ruff check lib tests jobs benchmarks

kafka-start: setup
	.venv/bin/lakepulse kafka start

kafka-stop:
	.venv/bin/lakepulse kafka stop

clean:
	-.venv/bin/lakepulse kafka stop
	rm -rf .lakepulse/lakehouse .lakepulse/checkpoints .lakepulse/kafka
