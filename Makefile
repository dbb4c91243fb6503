# Shortcuts for the scripts that do the work; each script also runs on its own with bash.
.PHONY: test lint unit molecule demo demo-clean venv testbed build

test:
	bash scripts/test.sh

lint:
	bash scripts/test.sh --only lint --only sanity

unit:
	bash scripts/test.sh --only pytest

molecule:
	bash scripts/test.sh --only molecule

demo:
	bash scripts/demo.sh

demo-clean:
	bash scripts/demo.sh clean

venv:
	bash scripts/venv.sh

testbed:
	bash scripts/testbed.sh

build:
	.venv/bin/ansible-galaxy collection build --force --output-path .build/dist
