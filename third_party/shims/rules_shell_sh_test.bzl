"""Offline @rules_shell//shell:sh_test.bzl: the native rule under its rules_shell name."""

sh_test = native.sh_test
