# The two commands of the README, plus helpers. Every target does its own set-up (idempotent).
.PHONY: demo test setup lint kafka-start kafka-stop clean

demo: setup
	.venv/bin/lakepulse demo

test: setup
	.venv/bin/python -m pytest -q

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
