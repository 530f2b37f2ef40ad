.PHONY: demo test
# The two fresh-machine commands of the README. Each installs what it needs.
demo:
	bash scripts/demo.sh
test:
	bash scripts/test.sh
