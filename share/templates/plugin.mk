# Makefile — builds vitemplate.so, a vihost plugin, against the installed
# vihost SDK, found through pkg-config (vihost.pc).  Written by `vihost
# new`; edit freely.
#
#   make           build vitemplate.so
#   make check     vihost check: conformance, gradients, leaks, threads
#   make run       fit vitemplate.yaml
#   make install   copy vitemplate.so into vihost's plugin folder
#   make clean     remove what make built
#
# When pkg-config cannot find vihost (installed under another prefix):
#   PKG_CONFIG_PATH=/opt/vihost/lib/pkgconfig make

PKG_CONFIG ?= pkg-config
VIHOST ?= vihost

ifeq ($(shell $(PKG_CONFIG) --exists vihost && echo yes),)
$(error pkg-config finds no vihost.pc: set PKG_CONFIG_PATH to the folder that holds it, PREFIX/lib/pkgconfig)
endif
VIHOST_CFLAGS := $(shell $(PKG_CONFIG) --cflags vihost)
VIHOST_LIBS := $(shell $(PKG_CONFIG) --libs vihost)
PLUGINDIR := $(shell $(PKG_CONFIG) --variable=plugindir vihost)

CFLAGS ?= -O2 -g
# -fPIC -shared: a shared object; -fvisibility=hidden: every symbol but
# the one marked VI_EXPORT (vi_plugin_entry) stays inside it.
PLUGIN_CFLAGS = -std=c11 -Wall -Wextra -fPIC -fvisibility=hidden

vitemplate.so: vitemplate.c
	$(CC) $(PLUGIN_CFLAGS) $(VIHOST_CFLAGS) $(CPPFLAGS) $(CFLAGS) -shared -o $@ vitemplate.c $(LDFLAGS) $(VIHOST_LIBS)

check: vitemplate.so
	$(VIHOST) check ./vitemplate.so

run: vitemplate.so
	$(VIHOST) run vitemplate.yaml

install: vitemplate.so
	install -d $(DESTDIR)$(PLUGINDIR)
	install -m 644 vitemplate.so $(DESTDIR)$(PLUGINDIR)/

clean:
	rm -f vitemplate.so

.PHONY: check run install clean
