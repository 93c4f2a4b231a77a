# The two README commands. Everything else is Meson.
.PHONY: run user check build clean

build:
	tests/deps --run-only
	@[ -f build/build.ninja ] || meson setup build
	ninja -C build

# Builds and starts wsmd on http://127.0.0.1:$(PORT)/wsman (PORT=5985 by
# default) with the user file ~/.config/wsmd/users (or WSMD_USERS); says
# what to run when there is no user yet (tools/make-run).
PORT ?= 5985
run: build
	@PORT=$(PORT) tools/make-run

# make user NAME=alice: adds a user (the password is asked twice); as root
# also the local account and the group wsmd-admins (tools/make-user).
user: build
	@tools/make-user $(NAME)

check:
	tests/run

clean:
	rm -rf build build-asan build-fuzz
