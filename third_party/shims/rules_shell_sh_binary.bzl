"""Offline @rules_shell//shell:sh_binary.bzl: the native rule under its rules_shell name."""

sh_binary = native.sh_binary
