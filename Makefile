# trailshare: every target installs what it needs into the project (.venv*,
# tests/iam-eval/node_modules); nothing is installed globally.
.PHONY: build test lint demo bench deploy clean fmt

# Unit tests, integration tests against the moto stand-in, the policy
# evaluator's self-test, then the demo as an end-to-end check.
test:
	scripts/test.sh

# The whole job locally: both functions as Lambda binaries, on the stand-in.
demo:
	scripts/demo.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	# The domain must build without the AWS SDK (no SDK calls in it).
	cargo check -p trailshare --no-default-features
	# No dependency a crate does not use (cargo-machete, pinned, installed
	# into cargo's bin directory on first use).
	command -v cargo-machete >/dev/null || cargo install cargo-machete --locked --version 0.9.2
	cargo machete
	scripts/lint-template.sh

# sam build (cargo-lambda, arm64), then the size of each bootstrap binary.
build:
	scripts/build.sh

bench:
	scripts/bench.sh

# Needs AWS credentials for the target account: not run here.
deploy: build
	.venv-lint/bin/sam deploy --guided

fmt:
	cargo fmt --all

clean:
	cargo clean
	rm -rf .aws-sam .moto demo-out
