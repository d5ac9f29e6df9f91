#!/bin/sh
echo "corepy: coverage tools are not available in this offline build" >&2
exit 1
