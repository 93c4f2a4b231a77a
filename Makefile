# The two README commands. Everything else is Meson.
.PHONY: run check build clean

build:
	tests/deps --run-only
	@[ -f build/build.ninja ] || meson setup build
	ninja -C build

# Builds and starts wsmd on its embedded default: http://127.0.0.1:5985/wsman
# with the user file ~/.config/wsmd/users (or WSMD_USERS).
run: build
	@mkdir -p $${HOME}/.config/wsmd
	@users=$${WSMD_USERS:-$${HOME}/.config/wsmd/users}; \
	if [ ! -s "$$users" ] && [ "$$(id -u)" = 0 ]; then \
	  echo "No users yet. As root, wsmd runs commands as the local account of each user"; \
	  echo "and gives all rights to the group wsmd-admins (root itself needs AllowRoot):"; \
	  echo "  useradd -m -G wsmd-admins alice"; \
	  echo "  build/wsmd user add alice --users $$users      # password on stdin"; \
	  echo "  build/winrs -r:http://127.0.0.1:5985 -u:alice -p:PASSWORD uname -a"; \
	elif [ ! -s "$$users" ]; then \
	  echo "No users yet. Create one (password on stdin), then connect with it:"; \
	  echo "  build/wsmd user add $$(id -un) --users $$users"; \
	  echo "  build/winrm id -r:http://127.0.0.1:5985/wsman -u:$$(id -un) -p:PASSWORD"; \
	fi; \
	exec build/wsmd --listen http://127.0.0.1:5985 --users "$$users"

check:
	tests/run

clean:
	rm -rf build build-asan build-fuzz
