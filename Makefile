.PHONY: demo test lint fmt typecheck
# The two fresh-machine commands of the README. Each installs what it needs.
demo:
	bash scripts/demo.sh
test:
	bash scripts/test.sh

# Developer targets: they use the tools in .venv (made by `make test`); BIN=... points elsewhere.
BIN ?= .venv/bin
CODE := src tests benchmarks scripts

lint:
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports
fmt:
	$(BIN)/ruff check --fix --select I $(CODE)
	$(BIN)/ruff format $(CODE)
typecheck:
	$(BIN)/mypy
